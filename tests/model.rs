//! Reference-model test: a plain, sequential model of the semantics in `API.md` driven side
//! by side with the real [`CircuitBreaker`] by proptest.
//!
//! The model below has no atomics and no cleverness: one field per piece of state the
//! contract talks about, and one `match` per operation. Every random sequence of operations
//! (acquire, record an outcome on a held permit, drop a held permit, `call*`, advance the
//! mock clock, `reset`, `force_open`) is applied to both; after every step the effective
//! state, `is_available`, the details of every rejection, every non-time field of
//! [`Metrics`] and the listener notifications must agree.
//!
//! Runs 2000 cases by default; set `BREAKERBOX_MODEL_CASES=100000` for a long run.
//! Failing cases are persisted in `tests/model.proptest-regressions` and replayed first.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, Once, Weak};
use std::time::Duration;

use breakerbox::quanta::Clock;
use breakerbox::{
    CircuitBreaker, Config, Error, Metrics, Outcome, OwnedPermit, Permit, Rejected, State,
};
use futures::FutureExt;
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, RngAlgorithm, TestCaseError};

const NAME: &str = "model";

/// The breaker's time resolution in nanoseconds (see `Config`'s timeout docs): it reads the
/// clock in whole microseconds, rounded down, and rounds durations up to whole microseconds.
/// The model keeps the mock clock in nanoseconds and does its timing arithmetic in these
/// units, so `retry_after` is compared exactly.
const TICK_NS: u64 = 1_000;

/// A duration in ticks, rounded up.
fn ticks(ns: u64) -> u64 {
    ns.div_ceil(TICK_NS)
}

// ---------------------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------------------

/// The configuration as the test chose it: durations in nanoseconds.
#[derive(Clone, Copy, Debug)]
struct ModelConfig {
    failure_threshold: u32,
    success_threshold: u32,
    half_open_max_calls: u32,
    timeout: u64,
    half_open_timeout: u64,
}

/// A permit held by the test, as the model sees it.
#[derive(Clone, Copy, Debug)]
struct ModelPermit {
    /// The model's generation when the permit was admitted.
    generation: u64,
    /// Whether it took a probe slot of a half-open period.
    probe: bool,
}

/// Why the model rejected a call: `Rejected::state()` and `Rejected::retry_after()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ModelRejection {
    state: State,
    retry_after: Option<Duration>,
}

/// The sequential reference model of `API.md` "Semantics".
#[derive(Debug)]
struct Model {
    cfg: ModelConfig,
    /// Mock time in nanoseconds since the breaker was created.
    now_ns: u64,
    /// The stored state: changed only by transitions.
    stored: State,
    /// The current streak of failures while Closed.
    consecutive_failures: u32,
    /// Successes counted in the current half-open period.
    half_open_successes: u32,
    /// Probe slots of the current half-open period that are taken.
    probes: u32,
    /// Bumped by every transition, `reset` and `force_open`.
    generation: u64,
    /// When the breaker last moved to Open (start of the open timeout), in ticks.
    opened_at: u64,
    /// When the current half-open period started, in ticks.
    half_open_since: u64,
    total_calls: u64,
    successful_calls: u64,
    failed_calls: u64,
    ignored_calls: u64,
    rejected_calls: u64,
    state_transitions: u64,
    /// Every notification a listener should have seen, in order.
    changes: Vec<(State, State)>,
}

impl Model {
    fn new(cfg: ModelConfig) -> Self {
        Model {
            cfg,
            now_ns: 0,
            stored: State::Closed,
            consecutive_failures: 0,
            half_open_successes: 0,
            probes: 0,
            generation: 0,
            opened_at: 0,
            half_open_since: 0,
            total_calls: 0,
            successful_calls: 0,
            failed_calls: 0,
            ignored_calls: 0,
            rejected_calls: 0,
            state_transitions: 0,
            changes: Vec::new(),
        }
    }

    /// The time now, in ticks since the breaker was created (rounded down).
    fn now(&self) -> u64 {
        self.now_ns / TICK_NS
    }

    /// The end of the current open period, in ticks.
    fn open_deadline(&self) -> u64 {
        self.opened_at + ticks(self.cfg.timeout)
    }

    /// The end of the current half-open period, in ticks.
    fn half_open_deadline(&self) -> u64 {
        self.half_open_since + ticks(self.cfg.half_open_timeout)
    }

    /// Whether the open timeout has run out (only meaningful while stored Open).
    fn open_timed_out(&self) -> bool {
        self.now() >= self.open_deadline()
    }

    /// Whether the half-open period has run out (only meaningful while stored HalfOpen).
    fn half_open_timed_out(&self) -> bool {
        self.now() >= self.half_open_deadline()
    }

    /// Revised Semantics 4: an expired half-open period is an open period that started at
    /// the moment it expired; its end, in ticks.
    fn expired_open_deadline(&self) -> u64 {
        self.half_open_deadline() + ticks(self.cfg.timeout)
    }

    /// Semantics 2–4: the state that queries report now.
    fn effective_state(&self) -> State {
        match self.stored {
            State::Closed => State::Closed,
            State::Open if self.open_timed_out() => State::HalfOpen,
            State::Open => State::Open,
            State::HalfOpen if self.half_open_timed_out() => {
                if self.now() >= self.expired_open_deadline() {
                    State::HalfOpen
                } else {
                    State::Open
                }
            }
            State::HalfOpen => State::HalfOpen,
        }
    }

    /// Would `try_acquire` admit a call now?
    fn is_available(&self) -> bool {
        match self.stored {
            State::Closed => true,
            State::Open => self.open_timed_out(),
            State::HalfOpen if self.half_open_timed_out() => {
                self.now() >= self.expired_open_deadline()
            }
            State::HalfOpen => self.probes < self.cfg.half_open_max_calls,
        }
    }

    /// Records an expired half-open period (HalfOpen -> Open at its expiry), if any.
    fn record_expiry(&mut self) {
        if self.stored == State::HalfOpen && self.half_open_timed_out() {
            let expired_at = self.half_open_deadline();
            self.transition(State::Open);
            self.opened_at = expired_at;
        }
    }

    /// Moves the stored state to `to`: a new generation, counted, notified when the state
    /// changes; the per-state counters start afresh.
    ///
    /// "Changes" compares *stored* states (API.md leaves this open for `reset` and
    /// `force_open`): `reset` on an open breaker whose timeout has passed (effective
    /// HalfOpen) is Open → Closed, and `force_open` on a half-open breaker whose half-open
    /// timeout has passed (effective Open) is a counted HalfOpen → Open. This keeps every
    /// notification's `from` equal to the previous one's `to`.
    fn transition(&mut self, to: State) {
        let from = self.stored;
        self.generation += 1;
        self.consecutive_failures = 0;
        self.half_open_successes = 0;
        self.probes = 0;
        match to {
            State::Open => self.opened_at = self.now(),
            State::HalfOpen => self.half_open_since = self.now(),
            State::Closed => {}
        }
        if from != to {
            self.stored = to;
            self.state_transitions += 1;
            self.changes.push((from, to));
        }
    }

    fn try_acquire(&mut self) -> Result<ModelPermit, ModelRejection> {
        self.total_calls += 1;
        self.record_expiry();
        match self.stored {
            State::Closed => Ok(ModelPermit {
                generation: self.generation,
                probe: false,
            }),
            State::Open if self.open_timed_out() => {
                // The first admitted call opens the half-open period and is its first probe.
                self.transition(State::HalfOpen);
                self.probes = 1;
                Ok(ModelPermit {
                    generation: self.generation,
                    probe: true,
                })
            }
            State::Open => {
                self.rejected_calls += 1;
                Err(ModelRejection {
                    state: State::Open,
                    retry_after: Some(Duration::from_nanos(
                        (self.open_deadline() - self.now()) * TICK_NS,
                    )),
                })
            }
            State::HalfOpen if self.probes < self.cfg.half_open_max_calls => {
                self.probes += 1;
                Ok(ModelPermit {
                    generation: self.generation,
                    probe: true,
                })
            }
            State::HalfOpen => {
                self.rejected_calls += 1;
                Err(ModelRejection {
                    state: State::HalfOpen,
                    retry_after: None,
                })
            }
        }
    }

    fn record(&mut self, permit: ModelPermit, outcome: Outcome) {
        match outcome {
            Outcome::Success => self.successful_calls += 1,
            Outcome::Failure => self.failed_calls += 1,
            Outcome::Ignored => self.ignored_calls += 1,
        }
        if permit.generation != self.generation {
            // Semantics 5: a stale outcome only updates the metrics counters.
            return;
        }
        match self.stored {
            State::Closed => match outcome {
                Outcome::Success => self.consecutive_failures = 0,
                Outcome::Failure => {
                    self.consecutive_failures += 1;
                    if self.consecutive_failures >= self.cfg.failure_threshold {
                        self.transition(State::Open);
                    }
                }
                Outcome::Ignored => {}
            },
            State::HalfOpen => {
                assert!(
                    permit.probe,
                    "a current half-open permit holds a probe slot"
                );
                if self.half_open_timed_out() {
                    // Semantics 4: after the half-open timeout outcomes neither close nor
                    // reopen the breaker.
                    return;
                }
                self.probes -= 1;
                match outcome {
                    Outcome::Success => {
                        self.half_open_successes += 1;
                        if self.half_open_successes >= self.cfg.success_threshold {
                            self.transition(State::Closed);
                        }
                    }
                    Outcome::Failure => self.transition(State::Open),
                    Outcome::Ignored => {}
                }
            }
            State::Open => unreachable!("no permit is admitted in a generation that is Open"),
        }
    }

    fn reset(&mut self) {
        self.record_expiry();
        self.transition(State::Closed);
    }

    fn force_open(&mut self) {
        self.record_expiry();
        self.transition(State::Open);
    }

    fn advance(&mut self, nanos: u64) {
        self.now_ns += nanos;
    }
}

// ---------------------------------------------------------------------------------------
// Operations.
// ---------------------------------------------------------------------------------------

/// How far to move the mock clock.
#[derive(Clone, Copy, Debug)]
enum Advance {
    /// A fixed number of nanoseconds (0 included).
    Nanos(u64),
    /// To the end of the open timeout, plus `delta` ns (one of [`DEADLINE_DELTAS`]); no
    /// move if not Open or if that instant has passed.
    OpenDeadline(i16),
    /// To the end of the half-open timeout, plus `delta` ns; no move if not HalfOpen or if
    /// that instant has passed.
    HalfOpenDeadline(i16),
}

/// How a `call*` operation behaves.
#[derive(Clone, Copy, Debug)]
enum CallKind {
    /// `call(|| Ok(..))`: Success.
    Ok,
    /// `call(|| Err(..))`: Failure.
    Err,
    /// `call_with(|_| false, || Err(..))`: the service answered, a Success.
    ErrNotFailure,
    /// `call_with(|_| true, || Err(..))`: Failure.
    ErrFailure,
    /// `call_future` of a ready future that returns `Ok`: Success.
    FutureOk,
    /// `call_future` of a ready future that returns `Err`: Failure.
    FutureErr,
    /// `call_future` of a never-ready future, polled once and dropped: Ignored.
    FutureDropped,
    /// `call(|| panic!())`: Failure, and the panic reaches the caller.
    Panic,
    /// `call_future` of a future that panics when polled: Failure.
    FuturePanic,
    /// `call_future_with(|_| false, ..)` of a future that returns `Err`: Success.
    FutureErrNotFailure,
}

/// One step of a test sequence.
#[derive(Clone, Debug)]
enum Op {
    /// `try_acquire` (or `try_acquire_owned`) and keep the permit.
    Acquire { owned: bool },
    /// Record an outcome on held permit number `which % held` (nothing if none is held).
    Record { which: usize, outcome: Outcome },
    /// Drop held permit number `which % held` without an outcome: Ignored.
    Drop { which: usize },
    /// Drop held permit number `which % held` while the thread panics: Failure.
    DropPanicking { which: usize },
    /// Run one protected call.
    Call(CallKind),
    /// Create a `call_future` future and drop it unpolled: nothing happens at all.
    FutureNeverPolled,
    /// Move the mock clock.
    Advance(Advance),
    /// `reset()`.
    Reset,
    /// `force_open()`.
    ForceOpen,
}

fn outcome_strategy() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        2 => Just(Outcome::Success),
        3 => Just(Outcome::Failure),
        1 => Just(Outcome::Ignored),
    ]
}

/// Offsets around a deadline, in ns: a tick before, a nanosecond before, exactly, a
/// nanosecond after, the end of the deadline's tick, a tick after.
const DEADLINE_DELTAS: [i16; 6] = [-1_000, -1, 0, 1, 999, 1_000];

fn advance_strategy() -> impl Strategy<Value = Advance> {
    prop_oneof![
        1 => Just(Advance::Nanos(0)),
        1 => (1u64..=2_000).prop_map(Advance::Nanos),
        2 => (1u64..=6_000_000_000).prop_map(Advance::Nanos),
        3 => proptest::sample::select(&DEADLINE_DELTAS[..]).prop_map(Advance::OpenDeadline),
        3 => proptest::sample::select(&DEADLINE_DELTAS[..]).prop_map(Advance::HalfOpenDeadline),
    ]
}

fn call_strategy() -> impl Strategy<Value = CallKind> {
    prop_oneof![
        Just(CallKind::Ok),
        Just(CallKind::Err),
        Just(CallKind::ErrNotFailure),
        Just(CallKind::ErrFailure),
        Just(CallKind::FutureOk),
        Just(CallKind::FutureErr),
        Just(CallKind::FutureDropped),
        Just(CallKind::Panic),
        Just(CallKind::FuturePanic),
        Just(CallKind::FutureErrNotFailure),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => any::<bool>().prop_map(|owned| Op::Acquire { owned }),
        5 => (0usize..8, outcome_strategy())
            .prop_map(|(which, outcome)| Op::Record { which, outcome }),
        1 => (0usize..8).prop_map(|which| Op::Drop { which }),
        1 => (0usize..8).prop_map(|which| Op::DropPanicking { which }),
        4 => call_strategy().prop_map(Op::Call),
        1 => Just(Op::FutureNeverPolled),
        4 => advance_strategy().prop_map(Op::Advance),
        1 => Just(Op::Reset),
        1 => Just(Op::ForceOpen),
    ]
}

/// A duration of a few milliseconds to a few seconds, in nanoseconds; sometimes a round
/// number of milliseconds, sometimes an arbitrary count of nanoseconds.
fn duration_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![
        (1u64..=50).prop_map(|ms| ms * 1_000_000),
        1_000_000u64..=5_000_000_000,
    ]
}

/// The random configuration: (config for the model, whether `half_open_max_calls` is left
/// to its default).
fn config_strategy() -> impl Strategy<Value = (ModelConfig, bool)> {
    (
        1u32..=6,
        1u32..=6,
        proptest::option::of(1u32..=4),
        duration_strategy(),
        duration_strategy(),
    )
        .prop_map(|(ft, st, max, timeout, hot)| {
            (
                ModelConfig {
                    failure_threshold: ft,
                    success_threshold: st,
                    half_open_max_calls: max.unwrap_or(st),
                    timeout,
                    half_open_timeout: hot,
                },
                max.is_none(),
            )
        })
}

// ---------------------------------------------------------------------------------------
// Driving the real breaker.
// ---------------------------------------------------------------------------------------

/// The payload of the test's deliberate panics.
const PANIC: &str = "model: deliberate panic";

/// Installs (once) a panic hook that keeps the deliberate panics quiet and passes every
/// other panic to the previous hook.
fn quiet_deliberate_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&PANIC) {
                previous(info);
            }
        }));
    });
}

/// A protected function that panics.
fn boom() -> Result<u32, &'static str> {
    panic::panic_any(PANIC)
}

/// Runs `f`; a deliberate panic becomes `Err(Error::Inner("panicked"))`.
fn caught(
    f: impl FnOnce() -> Result<u32, Error<&'static str>>,
) -> Result<u32, Error<&'static str>> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            assert_eq!(payload.downcast_ref::<&str>(), Some(&PANIC));
            Err(Error::Inner("panicked"))
        }
    }
}

/// A permit of the real breaker, either kind.
enum Held<'a> {
    Borrowed(Permit<'a>),
    Owned(OwnedPermit),
}

impl Held<'_> {
    fn record(self, outcome: Outcome) {
        match self {
            Held::Borrowed(p) => p.record_outcome(outcome),
            Held::Owned(p) => p.record_outcome(outcome),
        }
    }
}

/// One notification as a listener saw it, with the effective state it read inside.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    name: String,
    from: State,
    to: State,
    state_inside: Option<State>,
}

fn check_rejection(
    step: usize,
    op: &Op,
    real: &Rejected,
    model: ModelRejection,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(real.name(), NAME, "step {} {:?}: Rejected::name", step, op);
    prop_assert_eq!(
        real.state(),
        model.state,
        "step {} {:?}: Rejected::state",
        step,
        op
    );
    prop_assert_eq!(
        real.retry_after(),
        model.retry_after,
        "step {} {:?}: Rejected::retry_after",
        step,
        op
    );
    Ok(())
}

/// Compares everything observable after a step.
fn check_agreement(
    step: usize,
    op: &Op,
    cb: &CircuitBreaker,
    model: &Model,
    seen: &Mutex<Vec<Seen>>,
) -> Result<(), TestCaseError> {
    let state = model.effective_state();
    prop_assert_eq!(cb.state(), state, "step {} {:?}: state()", step, op);
    prop_assert_eq!(
        cb.is_available(),
        model.is_available(),
        "step {} {:?}: is_available() in {:?}",
        step,
        op,
        model
    );
    let m: Metrics = cb.metrics();
    let expected = (
        state,
        model.total_calls,
        model.successful_calls,
        model.failed_calls,
        model.ignored_calls,
        model.rejected_calls,
        if state == State::Closed {
            model.consecutive_failures
        } else {
            0
        },
        model.state_transitions,
    );
    let actual = (
        m.state,
        m.total_calls,
        m.successful_calls,
        m.failed_calls,
        m.ignored_calls,
        m.rejected_calls,
        m.consecutive_failures,
        m.state_transitions,
    );
    prop_assert_eq!(
        actual,
        expected,
        "step {} {:?}: metrics (state, total, ok, failed, ignored, rejected, streak, \
         transitions); model {:?}",
        step,
        op,
        model
    );
    prop_assert_eq!(
        m.last_failure_time.is_some(),
        model.failed_calls > 0,
        "step {} {:?}: last_failure_time is set once a failure was recorded",
        step,
        op
    );
    prop_assert_eq!(
        m.last_state_change.is_some(),
        model.state_transitions > 0,
        "step {} {:?}: last_state_change is set once the state changed",
        step,
        op
    );
    // Notifications: a step makes at most one transition, so comparing the count and the
    // last entry after every step compares the whole sequence.
    let seen = seen.lock().unwrap();
    prop_assert_eq!(
        seen.len(),
        model.changes.len(),
        "step {} {:?}: notification count; seen {:?}, model {:?}",
        step,
        op,
        &*seen,
        &model.changes
    );
    if let Some(last) = seen.last() {
        let &(from, to) = model.changes.last().unwrap();
        let expected = Seen {
            name: NAME.to_owned(),
            from,
            to,
            state_inside: Some(to),
        };
        prop_assert_eq!(last, &expected, "step {} {:?}: last notification", step, op);
    }
    Ok(())
}

/// Runs `ops` on a fresh breaker and a fresh model and compares them after every step;
/// returns the model's final state (every held permit released).
fn run(cfg: ModelConfig, default_max: bool, ops: &[Op]) -> Result<Model, TestCaseError> {
    let mut builder = Config::builder()
        .failure_threshold(cfg.failure_threshold)
        .success_threshold(cfg.success_threshold)
        .timeout(Duration::from_nanos(cfg.timeout))
        .half_open_timeout(Duration::from_nanos(cfg.half_open_timeout));
    if !default_max {
        builder = builder.half_open_max_calls(cfg.half_open_max_calls);
    }
    let config = builder.build().expect("a valid config");
    prop_assert_eq!(config.half_open_max_calls(), cfg.half_open_max_calls);

    let (clock, mock) = Clock::mock();
    let cb = Arc::new(CircuitBreaker::with_clock(NAME, config, clock));
    let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
    // Semantics 8: a panicking listener is caught and later listeners still run.
    quiet_deliberate_panics();
    cb.on_state_change(|_| panic::panic_any(PANIC));
    {
        let seen = Arc::clone(&seen);
        let weak: Weak<CircuitBreaker> = Arc::downgrade(&cb);
        cb.on_state_change(move |change| {
            // Semantics 8: a listener runs after the transition is published and may call
            // back into the breaker.
            let state_inside = weak.upgrade().map(|cb| cb.state());
            seen.lock().unwrap().push(Seen {
                name: change.name.clone(),
                from: change.from,
                to: change.to,
                state_inside,
            });
        });
    }
    let mut model = Model::new(cfg);
    let mut held: Vec<(Held<'_>, ModelPermit)> = Vec::new();

    check_agreement(0, &Op::Reset, &cb, &model, &seen)?;
    for (step, op) in ops.iter().enumerate() {
        let step = step + 1;
        match *op {
            Op::Acquire { owned } => {
                let real = if owned {
                    cb.try_acquire_owned().map(Held::Owned)
                } else {
                    cb.try_acquire().map(Held::Borrowed)
                };
                match (real, model.try_acquire()) {
                    (Ok(p), Ok(mp)) => held.push((p, mp)),
                    (Err(r), Err(mr)) => check_rejection(step, op, &r, mr)?,
                    (Ok(_), Err(mr)) => {
                        prop_assert!(false, "step {} {:?}: admitted, model {:?}", step, op, mr)
                    }
                    (Err(r), Ok(_)) => {
                        prop_assert!(false, "step {} {:?}: rejected {:?}", step, op, r)
                    }
                }
            }
            Op::Record { which, outcome } => {
                if !held.is_empty() {
                    let (p, mp) = held.swap_remove(which % held.len());
                    p.record(outcome);
                    model.record(mp, outcome);
                }
            }
            Op::Drop { which } => {
                if !held.is_empty() {
                    let (p, mp) = held.swap_remove(which % held.len());
                    drop(p);
                    model.record(mp, Outcome::Ignored);
                }
            }
            Op::DropPanicking { which } => {
                if !held.is_empty() {
                    let (p, mp) = held.swap_remove(which % held.len());
                    let unwound = panic::catch_unwind(AssertUnwindSafe(move || {
                        let _permit = p;
                        panic::panic_any(PANIC)
                    }));
                    prop_assert!(unwound.is_err());
                    model.record(mp, Outcome::Failure);
                }
            }
            Op::Call(kind) => {
                let expected = model.try_acquire();
                // The outcome the real call records, if admitted.
                let (real, outcome): (Result<u32, Error<&str>>, Outcome) = match kind {
                    CallKind::Ok => (cb.call(|| Ok::<u32, &str>(7)), Outcome::Success),
                    CallKind::Err => (cb.call(|| Err::<u32, &str>("down")), Outcome::Failure),
                    CallKind::ErrNotFailure => (
                        cb.call_with(|_| false, || Err::<u32, &str>("not found")),
                        Outcome::Success,
                    ),
                    CallKind::ErrFailure => (
                        cb.call_with(|_| true, || Err::<u32, &str>("down")),
                        Outcome::Failure,
                    ),
                    CallKind::FutureOk => (
                        futures::executor::block_on(cb.call_future(async { Ok(7) })),
                        Outcome::Success,
                    ),
                    CallKind::FutureErr => (
                        futures::executor::block_on(cb.call_future(async { Err("down") })),
                        Outcome::Failure,
                    ),
                    CallKind::FutureDropped => {
                        let polled = cb
                            .call_future(futures::future::pending::<Result<u32, &str>>())
                            .now_or_never();
                        match polled {
                            // Pending after admission, then dropped: Ignored.
                            None => (Err(Error::Inner("dropped")), Outcome::Ignored),
                            Some(r) => (r, Outcome::Ignored),
                        }
                    }
                    CallKind::Panic => (caught(|| cb.call(boom)), Outcome::Failure),
                    CallKind::FuturePanic => (
                        caught(|| futures::executor::block_on(cb.call_future(async { boom() }))),
                        Outcome::Failure,
                    ),
                    CallKind::FutureErrNotFailure => (
                        futures::executor::block_on(
                            cb.call_future_with(|_| false, async { Err("not found") }),
                        ),
                        Outcome::Success,
                    ),
                };
                match (real, expected) {
                    (Err(Error::Rejected(r)), Err(mr)) => check_rejection(step, op, &r, mr)?,
                    (Err(Error::Rejected(r)), Ok(_)) => {
                        prop_assert!(false, "step {} {:?}: rejected {:?}", step, op, r)
                    }
                    (real, Ok(mp)) => {
                        let want: Result<u32, &str> = match kind {
                            CallKind::Ok | CallKind::FutureOk => Ok(7),
                            CallKind::ErrNotFailure | CallKind::FutureErrNotFailure => {
                                Err("not found")
                            }
                            CallKind::FutureDropped => Err("dropped"),
                            CallKind::Panic | CallKind::FuturePanic => Err("panicked"),
                            _ => Err("down"),
                        };
                        let got = real.map_err(|e| e.into_inner().expect("not a rejection"));
                        prop_assert_eq!(got, want, "step {} {:?}: call result", step, op);
                        model.record(mp, outcome);
                    }
                    (real, Err(mr)) => prop_assert!(
                        false,
                        "step {} {:?}: admitted ({:?}), model {:?}",
                        step,
                        op,
                        real.is_ok(),
                        mr
                    ),
                }
            }
            Op::FutureNeverPolled => {
                // Admission happens when the future is first polled.
                drop(cb.call_future(async { Ok::<u32, &str>(7) }));
            }
            Op::Advance(adv) => {
                // The instant `delta` ns from a deadline (in ticks), as a move from now.
                let to = |deadline: u64, delta: i16| {
                    (deadline * TICK_NS)
                        .saturating_add_signed(i64::from(delta))
                        .saturating_sub(model.now_ns)
                };
                let nanos = match adv {
                    Advance::Nanos(n) => n,
                    Advance::OpenDeadline(d) if model.stored == State::Open => {
                        to(model.open_deadline(), d)
                    }
                    Advance::HalfOpenDeadline(d) if model.stored == State::HalfOpen => {
                        to(model.half_open_deadline(), d)
                    }
                    Advance::OpenDeadline(_) | Advance::HalfOpenDeadline(_) => 0,
                };
                mock.increment(nanos);
                model.advance(nanos);
            }
            Op::Reset => {
                cb.reset();
                model.reset();
            }
            Op::ForceOpen => {
                cb.force_open();
                model.force_open();
            }
        }
        check_agreement(step, op, &cb, &model, &seen)?;
    }

    // Release whatever is still held: each is Ignored.
    let end = ops.len() + 1;
    while let Some((p, mp)) = held.pop() {
        drop(p);
        model.record(mp, Outcome::Ignored);
        check_agreement(end, &Op::Drop { which: 0 }, &cb, &model, &seen)?;
    }
    let m = cb.metrics();
    prop_assert_eq!(
        m.total_calls,
        m.successful_calls + m.failed_calls + m.ignored_calls + m.rejected_calls,
        "metrics invariant with no permit outstanding: {:?}",
        m
    );
    Ok(model)
}

fn cases() -> u32 {
    std::env::var("BREAKERBOX_MODEL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        // ChaCha, the default, dominates the run time in unoptimized builds; XorShift is
        // plenty for test generation.
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    })]

    /// The breaker agrees with the reference model on every step of random sequences.
    #[test]
    fn breaker_matches_model(
        (cfg, default_max) in config_strategy(),
        ops in proptest::collection::vec(op_strategy(), 1..160),
    ) {
        run(cfg, default_max, &ops)?;
    }
}

// ---------------------------------------------------------------------------------------
// Hand-written sequences at the boundaries, through the same driver.
// ---------------------------------------------------------------------------------------

fn small_config() -> ModelConfig {
    ModelConfig {
        failure_threshold: 2,
        success_threshold: 2,
        half_open_max_calls: 2,
        timeout: 10_000_000,
        half_open_timeout: 5_000_000,
    }
}

#[test]
fn open_timeout_boundary_exactly() {
    use Op::*;
    let ops = [
        Call(CallKind::Err),
        Call(CallKind::Err),
        Advance(self::Advance::OpenDeadline(-1)),
        Acquire { owned: false },
        Advance(self::Advance::Nanos(1)),
        Acquire { owned: false },
        Acquire { owned: true },
        Acquire { owned: false },
        Record {
            which: 0,
            outcome: Outcome::Success,
        },
        Record {
            which: 0,
            outcome: Outcome::Success,
        },
    ];
    let end = run(small_config(), false, &ops).unwrap();
    // Rejected 1 ns before the deadline and as the third probe; admitted at the deadline.
    assert_eq!(end.rejected_calls, 2);
    let edges = [
        (State::Closed, State::Open),
        (State::Open, State::HalfOpen),
        (State::HalfOpen, State::Closed),
    ];
    assert_eq!(end.changes, edges);
}

#[test]
fn half_open_timeout_reopens_on_next_call_and_ignores_late_outcomes() {
    use Op::*;
    let ops = [
        ForceOpen,
        Advance(self::Advance::OpenDeadline(0)),
        Acquire { owned: false },
        Advance(self::Advance::HalfOpenDeadline(0)),
        Record {
            which: 0,
            outcome: Outcome::Failure,
        },
        Acquire { owned: false },
        Advance(self::Advance::OpenDeadline(0)),
        Call(CallKind::Ok),
        Call(CallKind::Ok),
    ];
    let end = run(small_config(), false, &ops).unwrap();
    // The late failure changed nothing; the next call reopened the breaker.
    let edges = [
        (State::Closed, State::Open),
        (State::Open, State::HalfOpen),
        (State::HalfOpen, State::Open),
        (State::Open, State::HalfOpen),
        (State::HalfOpen, State::Closed),
    ];
    assert_eq!(end.changes, edges);
}

#[test]
fn stale_permits_do_not_drive_or_free_slots() {
    use Op::*;
    let ops = [
        Acquire { owned: false },
        Acquire { owned: false },
        Reset,
        Record {
            which: 0,
            outcome: Outcome::Failure,
        },
        Record {
            which: 0,
            outcome: Outcome::Failure,
        },
        ForceOpen,
        Advance(self::Advance::OpenDeadline(0)),
        Acquire { owned: true },
        Acquire { owned: true },
        Acquire { owned: false },
        Reset,
        ForceOpen,
        Advance(self::Advance::OpenDeadline(0)),
        Acquire { owned: false },
        Drop { which: 0 },
        Acquire { owned: false },
    ];
    run(small_config(), false, &ops).unwrap();
}

/// The largest accepted thresholds and durations: the packed counters reach their limits
/// without spilling, and deadlines a year away are exact to the tick.
#[test]
fn largest_thresholds_and_durations() {
    use Op::*;
    let max = Config::MAX_THRESHOLD as usize;
    let year = u64::try_from(Config::MAX_DURATION.as_nanos()).unwrap();
    let cfg = ModelConfig {
        failure_threshold: Config::MAX_THRESHOLD,
        success_threshold: Config::MAX_THRESHOLD,
        half_open_max_calls: Config::MAX_THRESHOLD,
        timeout: year,
        half_open_timeout: year,
    };
    let mut ops = Vec::new();
    // A streak one short of the threshold, broken by a success, then the full streak.
    ops.extend(std::iter::repeat(Call(CallKind::Err)).take(max - 1));
    ops.push(Call(CallKind::Ok));
    ops.extend(std::iter::repeat(Call(CallKind::Err)).take(max));
    // Open for a year, to the nanosecond.
    ops.push(Advance(self::Advance::OpenDeadline(-1)));
    ops.push(Call(CallKind::Ok));
    ops.push(Advance(self::Advance::OpenDeadline(0)));
    // Every probe slot taken, one more rejected.
    ops.extend(std::iter::repeat(Acquire { owned: true }).take(max + 1));
    // One short of the success threshold, a freed slot reused, then the last success.
    let success = Record {
        which: 0,
        outcome: Outcome::Success,
    };
    ops.extend(std::iter::repeat(success).take(max - 1));
    ops.push(Acquire { owned: false });
    ops.push(Advance(self::Advance::HalfOpenDeadline(-1)));
    ops.push(Record {
        which: 0,
        outcome: Outcome::Success,
    });
    ops.push(Call(CallKind::Ok));
    let end = run(cfg, false, &ops).unwrap();
    // The sequence went where it says: opened, probed, closed; two rejections (open, full).
    let edges = [
        (State::Closed, State::Open),
        (State::Open, State::HalfOpen),
        (State::HalfOpen, State::Closed),
    ];
    assert_eq!(end.changes, edges);
    assert_eq!(end.rejected_calls, 2);
    assert_eq!(end.successful_calls, 1 + 1000 + 1);
}
