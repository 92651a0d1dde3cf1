//! Reference-model test: a plain, sequential model of the semantics in `API.md` (part 1
//! and part 2) driven side by side with the real [`CircuitBreaker`] by proptest.
//!
//! The model below has no atomics and no cleverness: one field per piece of state the
//! contract talks about, and one `match` per operation. Every random sequence of operations
//! (acquire, record an outcome on a held permit, drop a held permit, `call*` that may take
//! time on the mock clock, advance the mock clock, `reset`, `force_open`, `isolate`,
//! `disable`) is applied to both, on random configurations that mix the part 2 policies
//! (sliding windows, failure-rate and slow-call-rate rules, slow calls, exponential backoff
//! with seeded jitter, dry run). After every step the effective state, `is_available`,
//! `retry_after`, `mode`, the details of every rejection, every non-time field of
//! [`Metrics`] (rates included) and every listener notification (with its `cause` and the
//! state a listener reads inside it) must agree.
//!
//! Runs 2000 cases by default; set `BREAKERBOX_MODEL_CASES=20000` for a long run.
//! Failing cases are persisted in `tests/model.proptest-regressions` and replayed first.
//!
//! # Time windows (API.md P4)
//!
//! `Window::Time(d)` keeps its outcomes in `B >= 10` buckets, so an outcome leaves it at
//! some point between `d - d/B` and `d` after it entered: an implementation may choose
//! anywhere in that band. The model does not guess: it never lets the mock clock stop at
//! an instant where an outcome of the current window is inside the band (widened for
//! rounding, see [`Model::window_fate`] and [`Model::safe_advance`]). A move that would stop there is
//! stretched to the instant that outcome has surely left, and so on for the next one.
//! Every rate the model computes (for a trip or for `Metrics`) is therefore one that every
//! implementation allowed by P4 must report, bucketed or exact.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, Once, Weak};
use std::task::Poll;
use std::time::Duration;

use breakerbox::quanta::{Clock, Mock};
use breakerbox::{
    Backoff, Cause, CircuitBreaker, Config, Error, Metrics, Mode, Outcome, OwnedPermit, Permit,
    Rejected, State, Window,
};
use futures::FutureExt;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{
    FileFailurePersistence, RngAlgorithm, TestCaseError, TestRng, TestRunner,
};

const NAME: &str = "model";

/// The breaker's time resolution in nanoseconds (see `Config`'s timeout docs): it reads the
/// clock in whole microseconds, rounded down, and rounds durations up to whole microseconds.
/// The model keeps the mock clock in nanoseconds and does its timing arithmetic in these
/// units, so `retry_after` and slow-call decisions are compared exactly.
const TICK_NS: u64 = 1_000;

/// A duration in ticks, rounded up.
fn ticks(ns: u64) -> u64 {
    ns.div_ceil(TICK_NS)
}

// ---------------------------------------------------------------------------------------
// The injected random source (API.md P7, P10).
// ---------------------------------------------------------------------------------------

/// The jitter draw of the open period decided in `generation`, for `ConfigBuilder::
/// jitter_seed(seed)`: SplitMix64 of `seed ^ generation`, its 53 high bits as a fraction
/// in `[0, 1)`. This is the crate's documented random source (`src/backoff.rs`), written
/// out again here as the specification the model holds the breaker to.
fn unit(seed: u64, generation: u64) -> f64 {
    let mut z = (seed ^ generation).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

// ---------------------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------------------

/// A sliding window as the test chose it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ModelWindow {
    /// `Window::Calls(n)`.
    Calls(u32),
    /// `Window::Time(d)`, `d` in nanoseconds.
    Time(u64),
}

/// The backoff as the test chose it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct ModelBackoff {
    /// `None`: `Backoff::constant()`; else `Backoff::exponential(multiplier, max ns)`.
    exponential: Option<(f64, u64)>,
    /// `jitter(fraction)`; 0 when not set.
    jitter: f64,
}

/// The configuration as the test chose it: durations in nanoseconds, percentages in tenths
/// of a percent (12.5 % is 125: every rate the test picks is exact in binary, so the real
/// breaker's `f64` threshold is the same number); `None` leaves the builder's default.
#[derive(Clone, Copy, Debug)]
struct ModelConfig {
    failure_threshold: u32,
    /// Whether `failure_threshold` is set on the builder (P1: with a window the consecutive
    /// rule applies only then). Without a window it is always set.
    failure_threshold_set: bool,
    success_threshold: u32,
    half_open_max_calls: u32,
    timeout: u64,
    half_open_timeout: u64,
    window: Option<ModelWindow>,
    failure_rate: Option<u32>,
    minimum_calls: Option<u32>,
    slow_call_duration: Option<u64>,
    slow_call_rate: Option<u32>,
    backoff: ModelBackoff,
    jitter_seed: u64,
    dry_run: bool,
}

impl ModelConfig {
    /// A part 1 configuration: consecutive failures only, constant backoff.
    fn basic(
        failure_threshold: u32,
        success_threshold: u32,
        half_open_max_calls: u32,
        timeout: u64,
        half_open_timeout: u64,
    ) -> Self {
        ModelConfig {
            failure_threshold,
            failure_threshold_set: true,
            success_threshold,
            half_open_max_calls,
            timeout,
            half_open_timeout,
            window: None,
            failure_rate: None,
            minimum_calls: None,
            slow_call_duration: None,
            slow_call_rate: None,
            backoff: ModelBackoff {
                exponential: None,
                jitter: 0.0,
            },
            jitter_seed: 0,
            dry_run: false,
        }
    }

    /// P1: whether consecutive failures trip the breaker.
    fn consecutive(&self) -> bool {
        self.window.is_none() || self.failure_threshold_set
    }

    /// P3: how many outcomes the window must hold before its rates count.
    fn minimum(&self) -> u32 {
        let m = self.minimum_calls.unwrap_or(100);
        match self.window {
            Some(ModelWindow::Calls(n)) => m.min(n),
            _ => m,
        }
    }

    /// In tenths of a percent.
    fn failure_rate(&self) -> u64 {
        self.failure_rate.map_or(500, u64::from)
    }

    /// In tenths of a percent.
    fn slow_call_rate(&self) -> u64 {
        self.slow_call_rate.map_or(1000, u64::from)
    }

    /// `slow_call_duration` in ticks.
    fn slow_ticks(&self) -> Option<u64> {
        self.slow_call_duration.map(ticks)
    }

    /// P7: the length of open period `k` of a streak (1-based) decided in `generation`, in
    /// ticks: `min(max, timeout * multiplier^(k-1))`, then times `1 - f + 2 f u` for jitter
    /// `f` and the draw `u` of that generation; rounded up to a tick like every duration.
    fn period(&self, k: u32, generation: u64) -> u64 {
        let timeout = ticks(self.timeout);
        let base = match self.backoff.exponential {
            Some((m, max)) if k > 1 => {
                let max = ticks(max).max(timeout);
                let grown = (timeout as f64 * m.powi(k as i32 - 1)).ceil();
                if grown >= max as f64 {
                    max
                } else {
                    grown as u64
                }
            }
            _ => timeout,
        };
        let f = self.backoff.jitter;
        if f == 0.0 {
            return base;
        }
        let factor = 1.0 - f + 2.0 * f * unit(self.jitter_seed, generation);
        ((base as f64 * factor).ceil() as u64).max(1)
    }

    /// The real configuration.
    fn build(&self, default_max: bool) -> Config {
        let mut b = Config::builder()
            .success_threshold(self.success_threshold)
            .timeout(Duration::from_nanos(self.timeout))
            .half_open_timeout(Duration::from_nanos(self.half_open_timeout))
            .jitter_seed(self.jitter_seed)
            .dry_run(self.dry_run);
        if self.failure_threshold_set {
            b = b.failure_threshold(self.failure_threshold);
        }
        if !default_max {
            b = b.half_open_max_calls(self.half_open_max_calls);
        }
        match self.window {
            Some(ModelWindow::Calls(n)) => b = b.sliding_window(Window::Calls(n)),
            Some(ModelWindow::Time(d)) => {
                b = b.sliding_window(Window::Time(Duration::from_nanos(d)))
            }
            None => {}
        }
        if let Some(r) = self.failure_rate {
            b = b.failure_rate_threshold(f64::from(r) / 10.0);
        }
        if let Some(n) = self.minimum_calls {
            b = b.minimum_calls(n);
        }
        if let Some(d) = self.slow_call_duration {
            b = b.slow_call_duration(Duration::from_nanos(d));
        }
        if let Some(r) = self.slow_call_rate {
            b = b.slow_call_rate_threshold(f64::from(r) / 10.0);
        }
        let mut backoff = match self.backoff.exponential {
            Some((m, max)) => Backoff::exponential(m, Duration::from_nanos(max)),
            None => Backoff::constant(),
        };
        if self.backoff.jitter != 0.0 {
            backoff = backoff.jitter(self.backoff.jitter);
        }
        b.backoff(backoff).build().expect("a valid config")
    }
}

/// What an admitted permit is, as the model sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Admitted while Closed.
    Closed,
    /// Holds a probe slot of a half-open period.
    Probe,
    /// Dry run: admitted although the breaker would have rejected it (P8).
    Shadow,
}

/// A permit held by the test, as the model sees it.
#[derive(Clone, Copy, Debug)]
struct ModelPermit {
    /// The model's generation when the permit was admitted.
    generation: u64,
    role: Role,
    /// Admission time, in ticks (P2: a permit times itself from its admission).
    start: u64,
}

/// Why the model rejected a call: `Rejected::state()` and `Rejected::retry_after()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ModelRejection {
    state: State,
    retry_after: Option<Duration>,
}

/// One notification the listeners should see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ModelChange {
    from: State,
    to: State,
    cause: Cause,
    /// The effective state a listener reads inside the notification: the state once the
    /// step that made it is published (a step may make two transitions: both listeners
    /// then see where the step ended).
    inside: State,
}

/// One outcome in the sliding window.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// When it entered, in ticks.
    at: u64,
    failure: bool,
    slow: bool,
}

/// The sequential reference model of `API.md` "Semantics" and "Part 2".
#[derive(Debug)]
struct Model {
    cfg: ModelConfig,
    /// Mock time in nanoseconds since the breaker was created.
    now_ns: u64,
    /// The stored state: changed only by transitions. An isolated breaker is stored Open.
    stored: State,
    /// The operator override in force.
    mode: Mode,
    /// The current streak of failures while Closed (tracked even when the consecutive rule
    /// is off, P10; never while disabled).
    consecutive_failures: u32,
    /// Successes counted in the current half-open period.
    half_open_successes: u32,
    /// Probe slots of the current half-open period that are taken.
    probes: u32,
    /// Bumped by every transition, including every operator call but `force_open` on an
    /// isolated breaker. Generation 0 is the initial Closed.
    generation: u64,
    /// P7: open periods since the breaker was last Closed.
    streak: u32,
    /// The longest streak so far (for the generator's coverage check).
    longest_streak: u32,
    /// When the breaker last moved to Open (start of the open period), in ticks.
    opened_at: u64,
    /// The length of the current open period, in ticks (decided when it started).
    open_len: u64,
    /// When the current half-open period started, in ticks.
    half_open_since: u64,
    /// The current Closed generation's window, oldest first.
    window: VecDeque<Entry>,
    total_calls: u64,
    successful_calls: u64,
    failed_calls: u64,
    ignored_calls: u64,
    rejected_calls: u64,
    slow_calls: u64,
    would_reject_calls: u64,
    state_transitions: u64,
    /// Every notification a listener should have seen, in order.
    changes: Vec<ModelChange>,
}

impl Model {
    fn new(cfg: ModelConfig) -> Self {
        Model {
            cfg,
            now_ns: 0,
            stored: State::Closed,
            mode: Mode::Normal,
            consecutive_failures: 0,
            half_open_successes: 0,
            probes: 0,
            generation: 0,
            streak: 0,
            longest_streak: 0,
            opened_at: 0,
            open_len: 0,
            half_open_since: 0,
            window: VecDeque::new(),
            total_calls: 0,
            successful_calls: 0,
            failed_calls: 0,
            ignored_calls: 0,
            rejected_calls: 0,
            slow_calls: 0,
            would_reject_calls: 0,
            state_transitions: 0,
            changes: Vec::new(),
        }
    }

    /// The time now, in ticks since the breaker was created (rounded down).
    fn now(&self) -> u64 {
        self.now_ns / TICK_NS
    }

    fn isolated(&self) -> bool {
        self.mode == Mode::Isolated
    }

    /// The end of the current open period, in ticks.
    fn open_deadline(&self) -> u64 {
        self.opened_at + self.open_len
    }

    /// The end of the current half-open period, in ticks.
    fn half_open_deadline(&self) -> u64 {
        self.half_open_since + ticks(self.cfg.half_open_timeout)
    }

    /// Whether the open period has run out (only meaningful while stored Open, not isolated).
    fn open_timed_out(&self) -> bool {
        self.now() >= self.open_deadline()
    }

    /// Whether the half-open period has run out (only meaningful while stored HalfOpen).
    fn half_open_timed_out(&self) -> bool {
        self.now() >= self.half_open_deadline()
    }

    /// Revised Semantics 4 and P10: an expired half-open period is an open period that
    /// started at the moment it expired, one more in the streak, its length decided (and
    /// its jitter drawn) for the generation that follows the half-open one; its end.
    fn expired_open_deadline(&self) -> u64 {
        self.half_open_deadline() + self.cfg.period(self.streak + 1, self.generation + 1)
    }

    /// Semantics 2–4: the state that queries report now.
    fn effective_state(&self) -> State {
        match self.stored {
            _ if self.isolated() => State::Open,
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

    /// Would `try_acquire` admit a call now? (P10: in dry run, yes unless isolated.)
    fn is_available(&self) -> bool {
        if self.isolated() {
            return false;
        }
        if self.cfg.dry_run {
            return true;
        }
        match self.stored {
            State::Closed => true,
            State::Open => self.open_timed_out(),
            State::HalfOpen if self.half_open_timed_out() => {
                self.now() >= self.expired_open_deadline()
            }
            State::HalfOpen => self.probes < self.cfg.half_open_max_calls,
        }
    }

    /// Time until the effective open period ends; `None` unless effectively Open with a
    /// deadline (an isolated breaker has none).
    fn retry_after(&self) -> Option<Duration> {
        let end = match self.stored {
            _ if self.isolated() => return None,
            State::Open => self.open_deadline(),
            State::HalfOpen if self.half_open_timed_out() => self.expired_open_deadline(),
            _ => return None,
        };
        let now = self.now();
        (now < end).then(|| Duration::from_nanos((end - now) * TICK_NS))
    }

    /// The current window's outcomes that are surely inside it now: (outcomes, failures,
    /// slow). Panics if one is in the band where implementations may differ (P4): the
    /// driver never stops the clock there.
    fn window_totals(&self) -> (u64, u64, u64) {
        let now = self.now();
        let mut totals = (0, 0, 0);
        for e in &self.window {
            match self.window_fate(e, now) {
                Fate::In => {
                    totals.0 += 1;
                    totals.1 += u64::from(e.failure);
                    totals.2 += u64::from(e.slow);
                }
                Fate::Out => {}
                Fate::Either => panic!("model: {e:?} is in the ambiguous band at {now}"),
            }
        }
        totals
    }

    /// Whether entry `e` is in the window at tick `now` (P4).
    fn window_fate(&self, e: &Entry, now: u64) -> Fate {
        match self.cfg.window {
            Some(ModelWindow::Time(d)) => {
                let d = ticks(d);
                let age = now - e.at;
                // It leaves between d - d/B and d after it entered, B >= 10. Below the
                // band, slack of 2 ticks + d/1000 for bucket widths rounded down (B - 1
                // ticks at most, for any B up to a thousand); above it, 1 tick: P4 says
                // "and d", so a window that keeps an outcome longer is wrong.
                if age + 2 + d / 1_000 < d - d / 10 {
                    Fate::In
                } else if age > d + 1 {
                    Fate::Out
                } else {
                    Fate::Either
                }
            }
            // The Calls window is trimmed when entries are added.
            _ => Fate::In,
        }
    }

    /// `nanos`, stretched so that the clock does not stop where an outcome of the current
    /// time window may or may not have left it (see the module docs).
    fn safe_advance(&self, nanos: u64) -> u64 {
        let mut to = self.now_ns + nanos;
        if let Some(ModelWindow::Time(d)) = self.cfg.window {
            let d = ticks(d);
            while let Some(e) = self
                .window
                .iter()
                .find(|e| self.window_fate(e, to / TICK_NS) == Fate::Either)
            {
                // The first tick at which it has surely left.
                to = to.max((e.at + d + 2) * TICK_NS);
            }
        }
        to - self.now_ns
    }

    /// P3 / P6: the rates `metrics()` reports: `None` without a window, outside Closed,
    /// while disabled, or below the minimum.
    fn rates(&self) -> (Option<f64>, Option<f64>) {
        if self.cfg.window.is_none() || self.stored != State::Closed || self.mode != Mode::Normal {
            return (None, None);
        }
        let (n, failures, slow) = self.window_totals();
        if n == 0 || n < u64::from(self.cfg.minimum()) {
            return (None, None);
        }
        let pct = |x: u64| x as f64 * 100.0 / n as f64;
        (
            Some(pct(failures)),
            self.cfg.slow_call_duration.map(|_| pct(slow)),
        )
    }

    /// P2–P4: enters an outcome of the current Closed generation into the window; the rate
    /// rule that fires, if any (failure rate first).
    fn enter_window(&mut self, failure: bool, slow: bool) -> Option<Cause> {
        let window = self.cfg.window?;
        self.window.push_back(Entry {
            at: self.now(),
            failure,
            slow,
        });
        if let ModelWindow::Calls(n) = window {
            while self.window.len() > n as usize {
                self.window.pop_front();
            }
        }
        let (n, failures, slow) = self.window_totals();
        if n < u64::from(self.cfg.minimum()) {
            return None;
        }
        // P3, an exact integer comparison (rates in tenths of a percent).
        if failures * 1000 >= self.cfg.failure_rate() * n {
            Some(Cause::FailureRate)
        } else if self.cfg.slow_call_duration.is_some()
            && slow * 1000 >= self.cfg.slow_call_rate() * n
        {
            Some(Cause::SlowCallRate)
        } else {
            None
        }
    }

    /// Records an expired half-open period (HalfOpen -> Open at its expiry), if any.
    fn record_expiry(&mut self) {
        if self.stored == State::HalfOpen && self.half_open_timed_out() {
            let expired_at = self.half_open_deadline();
            self.streak += 1;
            self.transition(State::Open, Cause::HalfOpenExpired);
            self.opened_at = expired_at;
            self.open_len = self.cfg.period(self.streak, self.generation);
        }
    }

    /// Moves the stored state to `to`: a new generation (and an empty window), counted and
    /// notified when the state changes; the per-state counters start afresh; normal mode.
    ///
    /// "Changes" compares *stored* states (API.md leaves this open for `reset` and
    /// `force_open`): `reset` on an open breaker whose timeout has passed (effective
    /// HalfOpen) is Open → Closed, and `force_open` on a half-open breaker whose half-open
    /// timeout has passed records the expiry first (P10). This keeps every notification's
    /// `from` equal to the previous one's `to`.
    fn transition(&mut self, to: State, cause: Cause) {
        let from = self.stored;
        self.generation += 1;
        self.consecutive_failures = 0;
        self.half_open_successes = 0;
        self.probes = 0;
        self.window.clear();
        self.mode = Mode::Normal;
        self.longest_streak = self.longest_streak.max(self.streak);
        match to {
            State::Open => self.opened_at = self.now(),
            State::HalfOpen => self.half_open_since = self.now(),
            State::Closed => {}
        }
        if from != to {
            self.stored = to;
            self.state_transitions += 1;
            self.changes.push(ModelChange {
                from,
                to,
                cause,
                inside: to,
            });
        }
    }

    /// A trip from Closed: open period 1 of a new streak.
    fn trip(&mut self, cause: Cause) {
        self.streak = 1;
        self.transition(State::Open, cause);
        self.open_len = self.cfg.period(1, self.generation);
    }

    /// Runs one public operation and fills in what listeners read inside its notifications.
    fn step<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        let before = self.changes.len();
        let r = f(self);
        let inside = self.effective_state();
        for c in &mut self.changes[before..] {
            c.inside = inside;
        }
        r
    }

    fn try_acquire(&mut self) -> Result<ModelPermit, ModelRejection> {
        self.step(Self::acquire_inner)
    }

    fn acquire_inner(&mut self) -> Result<ModelPermit, ModelRejection> {
        self.total_calls += 1;
        self.record_expiry();
        let start = self.now();
        let refusal = match self.stored {
            // O1 / P10: an isolated breaker rejects every call, dry run or not.
            _ if self.isolated() => {
                self.rejected_calls += 1;
                return Err(ModelRejection {
                    state: State::Open,
                    retry_after: None,
                });
            }
            State::Closed => {
                return Ok(ModelPermit {
                    generation: self.generation,
                    role: Role::Closed,
                    start,
                })
            }
            State::Open if self.open_timed_out() => {
                // The first admitted call opens the half-open period and is its first probe.
                self.transition(State::HalfOpen, Cause::OpenPeriodEnded);
                self.probes = 1;
                return Ok(ModelPermit {
                    generation: self.generation,
                    role: Role::Probe,
                    start,
                });
            }
            State::Open => ModelRejection {
                state: State::Open,
                retry_after: Some(Duration::from_nanos(
                    (self.open_deadline() - self.now()) * TICK_NS,
                )),
            },
            State::HalfOpen if self.probes < self.cfg.half_open_max_calls => {
                self.probes += 1;
                return Ok(ModelPermit {
                    generation: self.generation,
                    role: Role::Probe,
                    start,
                });
            }
            State::HalfOpen => ModelRejection {
                state: State::HalfOpen,
                retry_after: None,
            },
        };
        if self.cfg.dry_run {
            // P8: admitted, counted as a call it would have rejected.
            self.would_reject_calls += 1;
            Ok(ModelPermit {
                generation: self.generation,
                role: Role::Shadow,
                start,
            })
        } else {
            self.rejected_calls += 1;
            Err(refusal)
        }
    }

    /// P2: whether an outcome recorded now on `permit` is slow.
    fn is_slow(&self, permit: ModelPermit, outcome: Outcome) -> bool {
        outcome != Outcome::Ignored
            && self
                .cfg
                .slow_ticks()
                .is_some_and(|d| self.now() - permit.start > d)
    }

    /// What dropping `permit` unrecorded (not panicking) records now: Ignored, or a slow
    /// Failure if it had run longer than `slow_call_duration` (P9).
    fn drop_outcome(&self, permit: ModelPermit) -> Outcome {
        if self.is_slow(permit, Outcome::Failure) {
            Outcome::Failure
        } else {
            Outcome::Ignored
        }
    }

    fn record(&mut self, permit: ModelPermit, outcome: Outcome) {
        self.step(|m| m.record_inner(permit, outcome))
    }

    fn record_inner(&mut self, permit: ModelPermit, outcome: Outcome) {
        let slow = self.is_slow(permit, outcome);
        match outcome {
            Outcome::Success => self.successful_calls += 1,
            Outcome::Failure => self.failed_calls += 1,
            Outcome::Ignored => self.ignored_calls += 1,
        }
        self.slow_calls += u64::from(slow);
        if permit.generation != self.generation || permit.role == Role::Shadow {
            // Semantics 5, P8: a stale or shadow outcome only updates the metrics counters.
            return;
        }
        match self.stored {
            State::Closed => {
                // P10: while disabled, outcomes enter no window and no streak.
                if self.mode == Mode::Disabled || outcome == Outcome::Ignored {
                    return;
                }
                let failure = outcome == Outcome::Failure;
                let verdict = self.enter_window(failure, slow);
                if failure {
                    self.consecutive_failures += 1;
                    // P1 / P10: the consecutive rule, when on, names the cause first.
                    if self.cfg.consecutive()
                        && self.consecutive_failures >= self.cfg.failure_threshold
                    {
                        return self.trip(Cause::ConsecutiveFailures);
                    }
                } else {
                    self.consecutive_failures = 0;
                }
                if let Some(cause) = verdict {
                    self.trip(cause);
                }
            }
            State::HalfOpen => {
                assert_eq!(
                    permit.role,
                    Role::Probe,
                    "a current half-open permit holds a probe slot"
                );
                if self.half_open_timed_out() {
                    // Semantics 4: after the half-open timeout outcomes neither close nor
                    // reopen the breaker.
                    return;
                }
                self.probes -= 1;
                match outcome {
                    // P6: a slow success is a failed probe.
                    Outcome::Failure | Outcome::Success if failure_or_slow(outcome, slow) => {
                        self.streak += 1;
                        self.transition(State::Open, Cause::ProbeFailed);
                        self.open_len = self.cfg.period(self.streak, self.generation);
                    }
                    Outcome::Success => {
                        self.half_open_successes += 1;
                        if self.half_open_successes >= self.cfg.success_threshold {
                            self.streak = 0;
                            self.transition(State::Closed, Cause::ProbesSucceeded);
                        }
                    }
                    Outcome::Failure | Outcome::Ignored => {}
                }
            }
            State::Open => unreachable!("no permit is admitted in a generation that is Open"),
        }
    }

    fn reset(&mut self) {
        self.step(|m| {
            m.record_expiry();
            m.streak = 0;
            m.transition(State::Closed, Cause::Reset);
        })
    }

    fn force_open(&mut self) {
        self.step(|m| {
            // O1: an isolated breaker stays isolated (no new generation either).
            if m.isolated() {
                return;
            }
            m.record_expiry();
            // P7: the (jittered) timeout; the streak is kept.
            m.transition(State::Open, Cause::ForceOpen);
            m.open_len = m.cfg.period(1, m.generation);
        })
    }

    fn isolate(&mut self) {
        self.step(|m| {
            m.record_expiry();
            m.transition(State::Open, Cause::Isolate);
            m.mode = Mode::Isolated;
        })
    }

    fn disable(&mut self) {
        self.step(|m| {
            m.record_expiry();
            m.streak = 0;
            m.transition(State::Closed, Cause::Disable);
            m.mode = Mode::Disabled;
        })
    }

    fn advance(&mut self, nanos: u64) {
        self.now_ns += nanos;
    }
}

/// Whether a probe's outcome fails it (P6).
fn failure_or_slow(outcome: Outcome, slow: bool) -> bool {
    outcome == Outcome::Failure || outcome == Outcome::Success && slow
}

/// Where a time window's outcome is at some instant (P4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    In,
    Out,
    /// In the band where an implementation may count it or not.
    Either,
}

// ---------------------------------------------------------------------------------------
// Operations.
// ---------------------------------------------------------------------------------------

/// How far to move the mock clock.
#[derive(Clone, Copy, Debug)]
enum Advance {
    /// A fixed number of nanoseconds (0 included).
    Nanos(u64),
    /// `slow_call_duration` (3 ms when unset), plus `delta` ns: makes held permits slow,
    /// or just not.
    Slow(i16),
    /// To the end of the open period, plus `delta` ns (one of [`DEADLINE_DELTAS`]); no
    /// move if not Open or if that instant has passed.
    OpenDeadline(i16),
    /// To the end of the half-open timeout, plus `delta` ns; no move if not HalfOpen or if
    /// that instant has passed.
    HalfOpenDeadline(i16),
    /// To the end of the open period that an expired half-open period starts (Semantics 4,
    /// P7, P10), plus `delta` ns; no move if not HalfOpen or if that instant has passed.
    ExpiredOpenDeadline(i16),
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
    /// `call_future` of a future that returns `Ok`: Success.
    FutureOk,
    /// `call_future` of a future that returns `Err`: Failure.
    FutureErr,
    /// `call_future` of a never-ready future, polled once and dropped: Ignored, or a slow
    /// Failure if it ran longer than `slow_call_duration` (P9).
    FutureDropped,
    /// `call(|| panic!())`: Failure, and the panic reaches the caller.
    Panic,
    /// `call_future` of a future that panics when polled: Failure.
    FuturePanic,
    /// `call_future_with(|_| false, ..)` of a future that returns `Err`: Success.
    FutureErrNotFailure,
    /// `call_classified` of an `Ok` classified as a Failure.
    ClassifiedOkFailure,
    /// `call_classified` of an `Err` classified as Ignored.
    ClassifiedErrIgnored,
    /// `call_future_classified` of an `Ok` classified as a Failure.
    FutureClassifiedOkFailure,
    /// `call_future_classified` of an `Err` classified as Ignored.
    FutureClassifiedErrIgnored,
    /// `call_future_owned` of a future that returns `Err`: Failure.
    FutureOwnedErr,
}

impl CallKind {
    /// The outcome the call records when admitted and it completes (for FutureDropped: when
    /// dropped, before P9).
    fn outcome(self) -> Outcome {
        use CallKind::*;
        match self {
            Ok | ErrNotFailure | FutureOk | FutureErrNotFailure => Outcome::Success,
            Err | ErrFailure | FutureErr | FutureOwnedErr | Panic | FuturePanic => Outcome::Failure,
            ClassifiedOkFailure | FutureClassifiedOkFailure => Outcome::Failure,
            FutureDropped | ClassifiedErrIgnored | FutureClassifiedErrIgnored => Outcome::Ignored,
        }
    }

    /// What the caller gets back when admitted.
    fn answer(self) -> Result<u32, &'static str> {
        use CallKind::*;
        match self {
            Ok | FutureOk | ClassifiedOkFailure | FutureClassifiedOkFailure => Result::Ok(7),
            ErrNotFailure
            | FutureErrNotFailure
            | ClassifiedErrIgnored
            | FutureClassifiedErrIgnored => Result::Err("not found"),
            FutureDropped => Result::Err("dropped"),
            Panic | FuturePanic => Result::Err("panicked"),
            Err | ErrFailure | FutureErr | FutureOwnedErr => Result::Err("down"),
        }
    }
}

/// How long a call takes on the mock clock (the closure or future moves it).
#[derive(Clone, Copy, Debug)]
enum Took {
    Nanos(u64),
    /// `slow_call_duration` (3 ms when unset), plus `delta` ns.
    AroundSlow(i16),
}

/// One step of a test sequence.
#[derive(Clone, Debug)]
enum Op {
    /// `try_acquire` (or `try_acquire_owned`) and keep the permit.
    Acquire { owned: bool },
    /// Record an outcome on held permit number `which % held` (nothing if none is held).
    Record { which: usize, outcome: Outcome },
    /// Drop held permit number `which % held` without an outcome: Ignored (or P9).
    Drop { which: usize },
    /// Drop held permit number `which % held` while the thread panics: Failure.
    DropPanicking { which: usize },
    /// Run one protected call that takes no time.
    Call(CallKind),
    /// Run one protected call that takes time.
    CallTaking(CallKind, Took),
    /// Create a `call_future` future and drop it unpolled: nothing happens at all.
    FutureNeverPolled,
    /// Move the mock clock.
    Advance(Advance),
    /// `reset()`.
    Reset,
    /// `force_open()`.
    ForceOpen,
    /// `isolate()`.
    Isolate,
    /// `disable()`.
    Disable,
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

/// Offsets around `slow_call_duration`, in ns: a call is slow when it took longer (in
/// whole ticks of the clock) than the duration rounded up to a tick.
const SLOW_DELTAS: [i16; 7] = [-1_000, -1, 0, 1, 999, 1_000, 1_001];

fn advance_strategy() -> impl Strategy<Value = Advance> {
    prop_oneof![
        1 => Just(Advance::Nanos(0)),
        1 => (1u64..=2_000).prop_map(Advance::Nanos),
        2 => (1u64..=6_000_000_000).prop_map(Advance::Nanos),
        1 => (1_000_000u64..=12_000_000).prop_map(Advance::Nanos),
        1 => proptest::sample::select(&SLOW_DELTAS[..]).prop_map(Advance::Slow),
        3 => proptest::sample::select(&DEADLINE_DELTAS[..]).prop_map(Advance::OpenDeadline),
        3 => proptest::sample::select(&DEADLINE_DELTAS[..]).prop_map(Advance::HalfOpenDeadline),
        2 => proptest::sample::select(&DEADLINE_DELTAS[..])
            .prop_map(Advance::ExpiredOpenDeadline),
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
        Just(CallKind::ClassifiedOkFailure),
        Just(CallKind::ClassifiedErrIgnored),
        Just(CallKind::FutureClassifiedOkFailure),
        Just(CallKind::FutureClassifiedErrIgnored),
        Just(CallKind::FutureOwnedErr),
    ]
}

fn took_strategy() -> impl Strategy<Value = Took> {
    prop_oneof![
        (1u64..=12_000_000).prop_map(Took::Nanos),
        proptest::sample::select(&SLOW_DELTAS[..]).prop_map(Took::AroundSlow),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => any::<bool>().prop_map(|owned| Op::Acquire { owned }),
        10 => (0usize..8, outcome_strategy())
            .prop_map(|(which, outcome)| Op::Record { which, outcome }),
        2 => (0usize..8).prop_map(|which| Op::Drop { which }),
        2 => (0usize..8).prop_map(|which| Op::DropPanicking { which }),
        8 => call_strategy().prop_map(Op::Call),
        6 => (call_strategy(), took_strategy()).prop_map(|(k, t)| Op::CallTaking(k, t)),
        1 => Just(Op::FutureNeverPolled),
        10 => advance_strategy().prop_map(Op::Advance),
        1 => Just(Op::Reset),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::Isolate),
        1 => Just(Op::Disable),
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

fn window_strategy() -> impl Strategy<Value = Option<ModelWindow>> {
    prop_oneof![
        2 => Just(None),
        2 => (1u32..=6).prop_map(|n| Some(ModelWindow::Calls(n))),
        1 => (1u64..=3).prop_map(|s| Some(ModelWindow::Time(s * 1_000_000_000))),
        1 => (1_000_000_000u64..=3_000_000_000).prop_map(|d| Some(ModelWindow::Time(d))),
    ]
}

/// A rate threshold in tenths of a percent (12.5, 25, 50 or 100 %), or the default.
fn percent_strategy() -> impl Strategy<Value = Option<u32>> {
    proptest::option::of(proptest::sample::select(&[125u32, 250, 500, 1000][..]))
}

fn backoff_strategy() -> impl Strategy<Value = (Option<(f64, u64)>, f64)> {
    (
        proptest::option::of((proptest::sample::select(&[1.5f64, 2.0][..]), 1u64..=4)),
        proptest::sample::select(&[0.0f64, 0.3][..]),
    )
}

/// The random configuration: (config for the model, whether `half_open_max_calls` is left
/// to its default).
fn config_strategy() -> impl Strategy<Value = (ModelConfig, bool)> {
    let part1 = (
        1u32..=6,
        // Small success thresholds mostly, so that half-open periods close often enough.
        prop_oneof![3 => 1u32..=2, 1 => 1u32..=6],
        proptest::option::of(1u32..=4),
        duration_strategy(),
        duration_strategy(),
    );
    let rules = (
        window_strategy(),
        any::<bool>(),
        percent_strategy(),
        proptest::option::weighted(0.8, 1u32..=6),
        proptest::option::of(prop_oneof![
            (1u64..=5).prop_map(|ms| ms * 1_000_000),
            1_000_000u64..=5_000_000,
        ]),
        percent_strategy(),
    );
    (
        part1,
        rules,
        backoff_strategy(),
        any::<u64>(),
        proptest::bool::weighted(0.2),
    )
        .prop_map(
            |(
                (ft, st, max, timeout, hot),
                (window, ft_set, rate, minimum, slow, slow_rate),
                (exponential, jitter),
                seed,
                dry_run,
            )| {
                let cfg = ModelConfig {
                    // The builder's default when it is not set.
                    failure_threshold: if ft_set || window.is_none() { ft } else { 5 },
                    failure_threshold_set: ft_set || window.is_none(),
                    half_open_max_calls: max.unwrap_or(st),
                    window,
                    failure_rate: rate,
                    minimum_calls: minimum,
                    slow_call_duration: slow,
                    slow_call_rate: slow_rate,
                    backoff: ModelBackoff {
                        exponential: exponential.map(|(m, f)| (m, timeout * f)),
                        jitter,
                    },
                    jitter_seed: seed,
                    dry_run,
                    ..ModelConfig::basic(ft, st, 1, timeout, hot)
                };
                (cfg, max.is_none())
            },
        )
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
    cause: Cause,
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
        (real.state(), real.retry_after()),
        (model.state, model.retry_after),
        "step {} {:?}: Rejected::state, retry_after",
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
    prop_assert_eq!(
        cb.retry_after(),
        model.retry_after(),
        "step {} {:?}: retry_after() in {:?}",
        step,
        op,
        model
    );
    prop_assert_eq!(cb.mode(), model.mode, "step {} {:?}: mode()", step, op);
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
        model.slow_calls,
        model.would_reject_calls,
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
        m.slow_calls,
        m.would_reject_calls,
    );
    prop_assert_eq!(
        actual,
        expected,
        "step {} {:?}: metrics (state, total, ok, failed, ignored, rejected, streak, \
         transitions, slow, would_reject); model {:?}",
        step,
        op,
        model
    );
    prop_assert_eq!(
        (m.failure_rate, m.slow_call_rate),
        model.rates(),
        "step {} {:?}: metrics (failure_rate, slow_call_rate); model {:?}",
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
    // Notifications: the whole sequence, with causes and what each listener read inside.
    let seen = seen.lock().unwrap();
    let expected: Vec<Seen> = model
        .changes
        .iter()
        .map(|c| Seen {
            name: NAME.to_owned(),
            from: c.from,
            to: c.to,
            cause: c.cause,
            state_inside: Some(c.inside),
        })
        .collect();
    prop_assert_eq!(&*seen, &expected, "step {} {:?}: notifications", step, op);
    Ok(())
}

/// Runs one protected call of `kind` that moves the mock clock by `nanos` while it runs;
/// returns what the caller got.
fn real_call(
    cb: &Arc<CircuitBreaker>,
    mock: &Arc<Mock>,
    kind: CallKind,
    nanos: u64,
) -> Result<u32, Error<&'static str>> {
    let took = || mock.increment(nanos);
    // A future that takes `nanos` on its first poll, then returns `r`.
    let fut = |r: Result<u32, &'static str>| async move {
        took();
        r
    };
    let ok_is_failure = |r: &Result<u32, &str>| match r {
        Ok(_) => Outcome::Failure,
        Err(_) => Outcome::Success,
    };
    let err_is_ignored = |r: &Result<u32, &str>| match r {
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Ignored,
    };
    match kind {
        CallKind::Ok => cb.call(|| {
            took();
            Ok::<u32, &str>(7)
        }),
        CallKind::Err => cb.call(|| {
            took();
            Err::<u32, &str>("down")
        }),
        CallKind::ErrNotFailure => cb.call_with(
            |_| false,
            || {
                took();
                Err::<u32, &str>("not found")
            },
        ),
        CallKind::ErrFailure => cb.call_with(
            |_| true,
            || {
                took();
                Err::<u32, &str>("down")
            },
        ),
        CallKind::FutureOk => futures::executor::block_on(cb.call_future(fut(Ok(7)))),
        CallKind::FutureErr => futures::executor::block_on(cb.call_future(fut(Err("down")))),
        CallKind::FutureDropped => {
            let pending = futures::future::poll_fn(|_| {
                took();
                Poll::<Result<u32, &str>>::Pending
            });
            match cb.call_future(pending).now_or_never() {
                // Pending after admission, then dropped.
                None => Err(Error::Inner("dropped")),
                Some(r) => r,
            }
        }
        CallKind::Panic => caught(|| {
            cb.call(|| {
                took();
                boom()
            })
        }),
        CallKind::FuturePanic => caught(|| {
            futures::executor::block_on(cb.call_future(async {
                took();
                boom()
            }))
        }),
        CallKind::FutureErrNotFailure => {
            futures::executor::block_on(cb.call_future_with(|_| false, fut(Err("not found"))))
        }
        CallKind::ClassifiedOkFailure => cb.call_classified(ok_is_failure, || {
            took();
            Ok(7)
        }),
        CallKind::ClassifiedErrIgnored => cb.call_classified(err_is_ignored, || {
            took();
            Err("not found")
        }),
        CallKind::FutureClassifiedOkFailure => {
            futures::executor::block_on(cb.call_future_classified(ok_is_failure, fut(Ok(7))))
        }
        CallKind::FutureClassifiedErrIgnored => futures::executor::block_on(
            cb.call_future_classified(err_is_ignored, fut(Err("not found"))),
        ),
        CallKind::FutureOwnedErr => {
            let mock = Arc::clone(mock);
            let owned = cb.call_future_owned(async move {
                mock.increment(nanos);
                Err::<u32, &str>("down")
            });
            futures::executor::block_on(owned)
        }
    }
}

/// `slow_call_duration` (3 ms when unset) plus `delta` ns, in ns.
fn around_slow(cfg: &ModelConfig, delta: i16) -> u64 {
    let slow = cfg.slow_ticks().map_or(3_000_000, |t| t * TICK_NS);
    slow.saturating_add_signed(i64::from(delta))
}

/// Runs `ops` on a fresh breaker and a fresh model and compares them after every step;
/// returns the model's final state (every held permit released).
fn run(cfg: ModelConfig, default_max: bool, ops: &[Op]) -> Result<Model, TestCaseError> {
    let config = cfg.build(default_max);
    prop_assert_eq!(config.half_open_max_calls(), cfg.half_open_max_calls);
    prop_assert_eq!(config.failure_threshold(), cfg.failure_threshold);
    prop_assert_eq!(
        config.trips_on_consecutive_failures(),
        cfg.consecutive(),
        "P1"
    );

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
                cause: change.cause,
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
                    let outcome = model.drop_outcome(mp);
                    model.record(mp, outcome);
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
            Op::Call(kind) | Op::CallTaking(kind, _) => {
                let nanos = match *op {
                    Op::CallTaking(_, Took::Nanos(n)) => n,
                    Op::CallTaking(_, Took::AroundSlow(d)) => around_slow(&cfg, d),
                    _ => 0,
                };
                let nanos = model.safe_advance(nanos);
                let expected = model.try_acquire();
                let real = real_call(&cb, &mock, kind, nanos);
                match (real, expected) {
                    (Err(Error::Rejected(r)), Err(mr)) => check_rejection(step, op, &r, mr)?,
                    (Err(Error::Rejected(r)), Ok(_)) => {
                        prop_assert!(false, "step {} {:?}: rejected {:?}", step, op, r)
                    }
                    (real, Ok(mp)) => {
                        let got = real.map_err(|e| e.into_inner().expect("not a rejection"));
                        prop_assert_eq!(got, kind.answer(), "step {} {:?}: call result", step, op);
                        model.advance(nanos);
                        let outcome = match kind {
                            CallKind::FutureDropped => model.drop_outcome(mp),
                            _ => kind.outcome(),
                        };
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
                let normal = model.mode == Mode::Normal;
                let nanos = match adv {
                    Advance::Nanos(n) => n,
                    Advance::Slow(d) => around_slow(&cfg, d),
                    Advance::OpenDeadline(d) if model.stored == State::Open && normal => {
                        to(model.open_deadline(), d)
                    }
                    Advance::HalfOpenDeadline(d) if model.stored == State::HalfOpen => {
                        to(model.half_open_deadline(), d)
                    }
                    Advance::ExpiredOpenDeadline(d) if model.stored == State::HalfOpen => {
                        to(model.expired_open_deadline(), d)
                    }
                    Advance::OpenDeadline(_)
                    | Advance::HalfOpenDeadline(_)
                    | Advance::ExpiredOpenDeadline(_) => 0,
                };
                let nanos = model.safe_advance(nanos);
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
            Op::Isolate => {
                cb.isolate();
                model.isolate();
            }
            Op::Disable => {
                cb.disable();
                model.disable();
            }
        }
        check_agreement(step, op, &cb, &model, &seen)?;
    }

    // Release whatever is still held: each is Ignored (or a slow Failure, P9).
    let end = ops.len() + 1;
    while let Some((p, mp)) = held.pop() {
        drop(p);
        let outcome = model.drop_outcome(mp);
        model.record(mp, outcome);
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

    /// A time window with the rate rule only, fed bursts of successes and a few failures
    /// while time moves by fractions of the window: the states in which a plain success
    /// trips the window (once older successes have left it, or by reaching the minimum)
    /// although the successes before it skipped the sum (window.rs, "Skipping the sum").
    #[test]
    fn time_window_rate_matches_model(
        cfg in rate_window_config(),
        ops in proptest::collection::vec(rate_window_op(), 1..200),
    ) {
        run(cfg, true, &ops)?;
    }
}

/// A time window of 1 to 3 s, the rate rule only (no consecutive rule, no slow calls).
fn rate_window_config() -> impl Strategy<Value = ModelConfig> {
    (
        1u64..=3,
        1u32..=6,
        proptest::sample::select(&[125u32, 250, 500, 750, 1000][..]),
    )
        .prop_map(|(seconds, minimum, rate)| ModelConfig {
            failure_threshold: 5,
            failure_threshold_set: false,
            window: Some(ModelWindow::Time(seconds * 1_000_000_000)),
            failure_rate: Some(rate),
            minimum_calls: Some(minimum),
            ..ModelConfig::basic(5, 1, 1, 1_000_000_000, 1_000_000_000)
        })
}

/// Mostly successes, some failures, and moves of the clock by up to half a 1 s window.
fn rate_window_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => Just(Op::Call(CallKind::Ok)),
        3 => Just(Op::Call(CallKind::Err)),
        2 => (1u64..=500_000_000).prop_map(|ns| Op::Advance(Advance::Nanos(ns))),
    ]
}
// ---------------------------------------------------------------------------------------
// Hand-written sequences at the boundaries, through the same driver.
// ---------------------------------------------------------------------------------------

fn small_config() -> ModelConfig {
    ModelConfig::basic(2, 2, 2, 10_000_000, 5_000_000)
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
    assert_eq!(edges_of(&end), edges);
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
    assert_eq!(edges_of(&end), edges);
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
    let cfg = ModelConfig::basic(
        Config::MAX_THRESHOLD,
        Config::MAX_THRESHOLD,
        Config::MAX_THRESHOLD,
        year,
        year,
    );
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
    assert_eq!(edges_of(&end), edges);
    assert_eq!(end.rejected_calls, 2);
    assert_eq!(end.successful_calls, 1 + 1000 + 1);
}

/// The (from, to) pairs of the notifications the model expects.
fn edges_of(m: &Model) -> Vec<(State, State)> {
    m.changes.iter().map(|c| (c.from, c.to)).collect()
}

/// The causes of the notifications the model expects.
fn causes_of(m: &Model) -> Vec<Cause> {
    m.changes.iter().map(|c| c.cause).collect()
}

const MS: u64 = 1_000_000;

/// P1, P3, P5: a count window trips on the rate once it holds its minimum, the consecutive
/// rule being off; after closing again the window starts empty.
#[test]
fn failure_rate_over_a_count_window() {
    use Op::*;
    let cfg = ModelConfig {
        failure_threshold: 5,
        failure_threshold_set: false,
        window: Some(ModelWindow::Calls(4)),
        failure_rate: Some(500),
        minimum_calls: Some(10), // min(10, 4) = 4
        ..ModelConfig::basic(5, 1, 1, 10 * MS, 5 * MS)
    };
    let ops = [
        Call(CallKind::Err),
        Call(CallKind::Err),
        Call(CallKind::Err), // 3 of 3 failed, below the minimum
        Call(CallKind::Ok),  // 3 of 4: trips on a success
        Advance(self::Advance::OpenDeadline(0)),
        Call(CallKind::Ok), // probe: closes
        Call(CallKind::Err),
        Call(CallKind::Err),
        Call(CallKind::Ok), // an empty window again: 2 of 3, below the minimum
        Call(CallKind::Ok), // 2 of 4: 50 % trips
    ];
    let end = run(cfg, false, &ops).unwrap();
    assert_eq!(
        causes_of(&end),
        [
            Cause::FailureRate,
            Cause::OpenPeriodEnded,
            Cause::ProbesSucceeded,
            Cause::FailureRate
        ]
    );
}

/// P2, P3, P6, P9: slow calls fill the slow-call rate; a slow probe success reopens; a
/// call future abandoned after running too long is a slow failure.
#[test]
fn slow_calls_trip_and_fail_probes() {
    use Op::*;
    let cfg = ModelConfig {
        failure_threshold: 3,
        window: Some(ModelWindow::Time(1_000 * MS)),
        minimum_calls: Some(2),
        slow_call_duration: Some(2 * MS),
        slow_call_rate: Some(1000),
        ..ModelConfig::basic(3, 1, 1, 10 * MS, 5 * MS)
    };
    let ops = [
        CallTaking(CallKind::Ok, Took::AroundSlow(0)), // exactly the duration: not slow
        CallTaking(CallKind::Ok, Took::AroundSlow(1_000)),
        CallTaking(CallKind::Ok, Took::AroundSlow(1_000)), // 2 of 3 slow: below 100 %
        Advance(self::Advance::Nanos(2_000 * MS)),         // all three have left
        CallTaking(CallKind::ErrNotFailure, Took::AroundSlow(1_000)),
        CallTaking(CallKind::Ok, Took::Nanos(3 * MS)), // 2 of 2 slow: trips
        Advance(self::Advance::OpenDeadline(0)),
        CallTaking(CallKind::Ok, Took::Nanos(3 * MS)), // a slow probe success reopens
        Advance(self::Advance::OpenDeadline(0)),
        CallTaking(CallKind::FutureDropped, Took::Nanos(3 * MS)), // P9: a failed probe
        Advance(self::Advance::OpenDeadline(0)),
        Call(CallKind::Ok),
    ];
    let end = run(cfg, false, &ops).unwrap();
    assert_eq!(
        causes_of(&end),
        [
            Cause::SlowCallRate,
            Cause::OpenPeriodEnded,
            Cause::ProbeFailed,
            Cause::OpenPeriodEnded,
            Cause::ProbeFailed,
            Cause::OpenPeriodEnded,
            Cause::ProbesSucceeded,
        ]
    );
    assert_eq!(end.slow_calls, 6);
}

/// P7, P10: exponential backoff with jitter over failed and expired half-open periods;
/// `force_open` keeps the streak; closing starts it over.
#[test]
fn backoff_grows_with_the_streak() {
    use Op::*;
    let cfg = ModelConfig {
        backoff: ModelBackoff {
            exponential: Some((2.0, 35 * MS)),
            jitter: 0.3,
        },
        jitter_seed: 0xB0FF,
        ..ModelConfig::basic(1, 1, 1, 10 * MS, 5 * MS)
    };
    let ops = [
        Call(CallKind::Err), // period 1
        Advance(self::Advance::OpenDeadline(0)),
        Call(CallKind::Err), // period 2
        Advance(self::Advance::OpenDeadline(0)),
        Acquire { owned: false },
        Advance(self::Advance::ExpiredOpenDeadline(-1)), // expired: period 3, not over
        Call(CallKind::Ok),                              // rejected: both transitions first
        ForceOpen,                                       // the timeout, streak kept
        Advance(self::Advance::OpenDeadline(0)),
        Call(CallKind::Err), // period 4, capped
        Advance(self::Advance::OpenDeadline(0)),
        Call(CallKind::Ok), // closes
        Call(CallKind::Err),
    ];
    let end = run(cfg, false, &ops).unwrap();
    assert_eq!(end.streak, 1);
    assert_eq!(end.open_len, cfg.period(1, end.generation));
    assert!(cfg.period(4, 1) <= 35_000 * 13 / 10 + 1);
}

/// P8, P10, O1: dry run admits what it would reject and counts it; isolation still
/// rejects; operator calls on an expired half-open period record the expiry first.
#[test]
fn dry_run_and_overrides() {
    use Op::*;
    let cfg = ModelConfig {
        dry_run: true,
        ..ModelConfig::basic(1, 2, 1, 10 * MS, 5 * MS)
    };
    let ops = [
        Call(CallKind::Err),
        Call(CallKind::Err), // shadow
        Advance(self::Advance::OpenDeadline(0)),
        Acquire { owned: false },
        Call(CallKind::Err), // shadow: the probe slot is taken
        Advance(self::Advance::HalfOpenDeadline(0)),
        Disable, // records the expiry first
        Call(CallKind::Err),
        ForceOpen, // ends the override
        Isolate,
        Call(CallKind::Ok), // rejected, dry run or not
        ForceOpen,          // still isolated
        Advance(self::Advance::Nanos(60_000 * MS)),
        Reset,
    ];
    let end = run(cfg, false, &ops).unwrap();
    assert_eq!(end.would_reject_calls, 2);
    assert_eq!(end.rejected_calls, 1);
    assert_eq!(
        causes_of(&end),
        [
            Cause::ConsecutiveFailures,
            Cause::OpenPeriodEnded,
            Cause::HalfOpenExpired,
            Cause::Disable,
            Cause::ForceOpen,
            Cause::Reset
        ]
    );
}

/// The random generator reaches every part of the contract the model covers: every cause,
/// both kinds of window tripping on each rate, slow calls, dry-run admissions and long
/// backoff streaks. A fixed RNG seed makes it deterministic; it guards against a change to
/// the strategies that silently stops exercising something.
#[test]
fn the_generator_reaches_every_policy() {
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig::default(),
        TestRng::deterministic_rng(RngAlgorithm::XorShift),
    );
    let strategy = (
        config_strategy(),
        proptest::collection::vec(op_strategy(), 1..160),
    );
    let mut causes: Vec<(Cause, Option<bool>)> = Vec::new();
    let (mut slow, mut shadows, mut longest) = (0, 0, 0);
    for _ in 0..300 {
        let ((cfg, default_max), ops) = strategy.new_tree(&mut runner).unwrap().current();
        let end = run(cfg, default_max, &ops).expect("the breaker agrees with the model");
        let time_window = cfg.window.map(|w| matches!(w, ModelWindow::Time(_)));
        for c in &end.changes {
            if !causes.contains(&(c.cause, time_window)) {
                causes.push((c.cause, time_window));
            }
        }
        slow += end.slow_calls;
        shadows += end.would_reject_calls;
        longest = longest.max(end.longest_streak);
    }
    let every = [
        Cause::ConsecutiveFailures,
        Cause::ProbeFailed,
        Cause::HalfOpenExpired,
        Cause::OpenPeriodEnded,
        Cause::ProbesSucceeded,
        Cause::Reset,
        Cause::ForceOpen,
        Cause::Isolate,
        Cause::Disable,
    ];
    for cause in every {
        assert!(causes.iter().any(|&(c, _)| c == cause), "{cause:?}");
    }
    for cause in [Cause::FailureRate, Cause::SlowCallRate] {
        for time in [false, true] {
            assert!(
                causes.contains(&(cause, Some(time))),
                "{cause:?}, time window: {time}"
            );
        }
    }
    assert!(
        slow > 0 && shadows > 0,
        "slow {slow}, would reject {shadows}"
    );
    assert!(longest >= 4, "longest open streak {longest}");
}

/// The driver's clock moves skip P4's ambiguous band of a time window: a move that would
/// stop where an outcome may or may not have left is stretched until it surely has, and
/// outcomes well inside the window or well past it are not in the way.
#[test]
fn time_window_moves_skip_the_ambiguous_band() {
    let cfg = ModelConfig {
        window: Some(ModelWindow::Time(1_000 * MS)),
        ..ModelConfig::basic(5, 1, 1, 10 * MS, 5 * MS)
    };
    let mut m = Model::new(cfg);
    m.enter_window(true, false);
    m.advance(100 * MS);
    m.enter_window(false, false);
    assert_eq!(m.safe_advance(500 * MS), 500 * MS, "both surely inside");
    // 950 ms after the first outcome is inside its band: stretched past 1 s, which puts
    // the second at 900 ms, inside its own band: stretched again.
    let to = m.now_ns + m.safe_advance(850 * MS);
    assert_eq!(to, (1_100_000 + 2) * TICK_NS);
    m.advance(m.safe_advance(850 * MS));
    assert_eq!(m.window_totals(), (0, 0, 0));
    assert_eq!(m.safe_advance(1), 1, "nothing left in the way");
}
