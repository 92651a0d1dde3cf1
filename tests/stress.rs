//! Multi-thread stress tests.
//!
//! - counters: every metrics counter equals the sum of what the threads saw, and
//!   `total == successful + failed + ignored + rejected`, while a clock thread moves time;
//! - half-open: never more than `half_open_max_calls` probes held at once, no slot leaked;
//! - transitions: the listener log is legal and balanced (see `check_log`);
//! - `retry_after` never exceeds `timeout` while the open period churns;
//! - successive `metrics()` snapshots taken under traffic never go backwards.
//!
//! The quick ones run in `cargo test`; the heavy ones are `#[ignore]`d and meant for release
//! builds in CI:
//!
//! ```text
//! cargo test --release --test stress -- --ignored
//! ```
//!
//! `BREAKERBOX_STRESS_CALLS` sets the calls per thread of the heavy tests (default 1 000 000).
//! Time comes from a shared `quanta` mock clock that a separate thread advances; nothing
//! sleeps and nothing is timed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use breakerbox::quanta::{Clock, Mock};
use breakerbox::{CircuitBreaker, Config, Error, Metrics, Outcome, Rejected, State};
use futures::FutureExt;

// ---------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------

/// A small deterministic PRNG (xorshift64*), one per thread.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        (self.next() >> 32) % n
    }
}

/// What one thread saw: every attempt, and how each ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    attempts: u64,
    success: u64,
    failure: u64,
    ignored: u64,
    rejected: u64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.attempts += other.attempts;
        self.success += other.success;
        self.failure += other.failure;
        self.ignored += other.ignored;
        self.rejected += other.rejected;
    }

    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Success => self.success += 1,
            Outcome::Failure => self.failure += 1,
            Outcome::Ignored => self.ignored += 1,
        }
    }
}

/// Checks a rejection's details against the contract.
fn check_rejected(r: &Rejected, name: &str, timeout: Duration) {
    assert_eq!(r.name(), name);
    match r.state() {
        State::Open => {
            let left = r
                .retry_after()
                .expect("an Open rejection says how long is left");
            assert!(
                left > Duration::ZERO && left <= timeout,
                "retry_after {left:?} outside (0, {timeout:?}]"
            );
        }
        State::HalfOpen => assert_eq!(r.retry_after(), None),
        State::Closed => panic!("a closed breaker rejected a call: {r:?}"),
    }
}

/// Runs one random call through one of the breaker's entry points, tallying what happened.
fn random_call(cb: &Arc<CircuitBreaker>, rng: &mut Rng, tally: &mut Tally, timeout: Duration) {
    // 45% success, 40% failure, 15% ignored.
    let roll = rng.below(100);
    let outcome = if roll < 45 {
        Outcome::Success
    } else if roll < 85 {
        Outcome::Failure
    } else {
        Outcome::Ignored
    };
    tally.attempts += 1;
    let name = cb.name().to_owned();
    let rejected = |r: &Rejected, tally: &mut Tally| {
        check_rejected(r, &name, timeout);
        tally.rejected += 1;
        if r.state() == State::Open {
            // Back off as a client would: let the clock thread run, so that the calls
            // spend their time in Closed and HalfOpen rather than spinning on Open.
            thread::yield_now();
        }
    };
    match rng.below(5) {
        // The guard API, recording explicitly (Ignored by dropping the permit).
        0 => match cb.try_acquire() {
            Ok(p) => {
                match outcome {
                    Outcome::Success => p.success(),
                    Outcome::Failure => p.failure(),
                    Outcome::Ignored => drop(p),
                }
                tally.count(outcome);
            }
            Err(r) => rejected(&r, tally),
        },
        // The owned guard, through record_outcome.
        1 => match cb.try_acquire_owned() {
            Ok(p) => {
                p.record_outcome(outcome);
                tally.count(outcome);
            }
            Err(r) => rejected(&r, tally),
        },
        // `call` / `call_with`: no Ignored there, so Ignored becomes a polled-once future.
        2 | 3 => {
            let result = match outcome {
                Outcome::Success if rng.below(2) == 0 => cb.call(|| Ok::<u8, u8>(1)),
                // An error that is not a failure: the service answered.
                Outcome::Success => cb.call_with(|_| false, || Err::<u8, u8>(2)),
                Outcome::Failure => cb.call(|| Err::<u8, u8>(3)),
                Outcome::Ignored => {
                    match cb
                        .call_future(futures::future::pending::<Result<u8, u8>>())
                        .now_or_never()
                    {
                        // Admitted, still pending, dropped: Ignored.
                        None => Ok(0),
                        Some(r) => r,
                    }
                }
            };
            match result {
                Err(Error::Rejected(r)) => rejected(&r, tally),
                Ok(_) | Err(Error::Inner(_)) => tally.count(outcome),
            }
        }
        // `call_future` of a ready future.
        _ => {
            let fut = cb.call_future(async move {
                match outcome {
                    Outcome::Failure => Err::<u8, u8>(3),
                    _ => Ok::<u8, u8>(1),
                }
            });
            let outcome = if outcome == Outcome::Ignored {
                Outcome::Success
            } else {
                outcome
            };
            match futures::executor::block_on(fut) {
                Err(Error::Rejected(r)) => rejected(&r, tally),
                Ok(_) | Err(Error::Inner(_)) => tally.count(outcome),
            }
        }
    }
}

/// Asserts the exact metrics invariant and that every counter equals the threads' tallies.
fn check_counters(m: &Metrics, total: &Tally) {
    assert_eq!(
        m.total_calls,
        m.successful_calls + m.failed_calls + m.ignored_calls + m.rejected_calls,
        "metrics invariant: {m:?}"
    );
    assert_eq!(m.total_calls, total.attempts, "{m:?} vs {total:?}");
    assert_eq!(m.successful_calls, total.success, "{m:?} vs {total:?}");
    assert_eq!(m.failed_calls, total.failure, "{m:?} vs {total:?}");
    assert_eq!(m.ignored_calls, total.ignored, "{m:?} vs {total:?}");
    assert_eq!(m.rejected_calls, total.rejected, "{m:?} vs {total:?}");
}

/// Every counter of a later snapshot is at least that of an earlier one from the same
/// thread (each is a sum of cells that only grow, read in a fixed order).
fn check_monotonic(earlier: &Metrics, later: &Metrics) {
    let fields = |m: &Metrics| {
        [
            m.total_calls,
            m.successful_calls,
            m.failed_calls,
            m.ignored_calls,
            m.rejected_calls,
            m.state_transitions,
        ]
    };
    let (a, b) = (fields(earlier), fields(later));
    assert!(
        a.iter().zip(&b).all(|(x, y)| x <= y),
        "metrics went backwards: {earlier:?} then {later:?}"
    );
}

/// A listener log: every `(from, to)` notification, in the order the listeners pushed them.
type Log = Arc<Mutex<Vec<(State, State)>>>;

fn attach_log(cb: &CircuitBreaker) -> Log {
    let log: Log = Arc::default();
    let sink = Arc::clone(&log);
    cb.on_state_change(move |change| sink.lock().unwrap().push((change.from, change.to)));
    log
}

/// Checks a transition log for legality without relying on the order in which listeners
/// of concurrent transitions pushed their entries.
///
/// Listeners run on the thread that made the transition, after it is published, so two
/// transitions made in quick succession by different threads may be logged in either
/// order: the log is a multiset of edges, not a chain. What must hold regardless of order:
/// every edge is one of `legal`; no edge is a self-loop; the log has exactly
/// `state_transitions` entries; and the edges form a walk from `Closed`, i.e. for every
/// state `entries - exits` is 0, except -1 for `Closed` and +1 for the final stored state
/// when that is not `Closed`. The final stored state must agree with `final_state` (the
/// effective state at the end, which may be one step of time ahead of the stored one).
///
/// Returns the count of each edge.
fn check_log(
    log: &[(State, State)],
    legal: &[(State, State)],
    state_transitions: u64,
    final_state: State,
) -> HashMap<(State, State), u64> {
    assert_eq!(
        log.len() as u64,
        state_transitions,
        "one notification per transition"
    );
    let mut edges: HashMap<(State, State), u64> = HashMap::new();
    let mut balance: HashMap<State, i64> = HashMap::new();
    for &(from, to) in log {
        assert_ne!(from, to, "a notification without a state change");
        assert!(
            legal.contains(&(from, to)),
            "illegal transition {from} -> {to}"
        );
        *edges.entry((from, to)).or_default() += 1;
        *balance.entry(to).or_default() += 1;
        *balance.entry(from).or_default() -= 1;
    }
    let b = |s: State| balance.get(&s).copied().unwrap_or(0);
    let stored = [State::Open, State::HalfOpen]
        .into_iter()
        .find(|&s| b(s) == 1)
        .unwrap_or(State::Closed);
    for s in [State::Closed, State::Open, State::HalfOpen] {
        let expected = i64::from(s == stored) - i64::from(s == State::Closed);
        assert_eq!(b(s), expected, "entries - exits of {s}: {balance:?}");
    }
    let consistent = match stored {
        State::Closed => final_state == State::Closed,
        State::Open | State::HalfOpen => final_state != State::Closed,
    };
    assert!(
        consistent,
        "log ends in {stored} but the breaker reports {final_state}"
    );
    edges
}

/// The transitions the state machine makes on its own.
const MACHINE_EDGES: [(State, State); 4] = [
    (State::Closed, State::Open),
    (State::Open, State::HalfOpen),
    (State::HalfOpen, State::Closed),
    (State::HalfOpen, State::Open),
];

/// Runs `threads` workers of `calls` random calls each on `cb`, while a clock thread
/// advances `mock` by `step(i, state)` on its i-th turn (`state` is the effective state it
/// just read) and, if `chaos` is set, also calls `force_open` / `reset` now and then, and a
/// reader thread checks that successive `metrics()` snapshots never go backwards.
/// Returns the summed tallies.
fn hammer(
    cb: &Arc<CircuitBreaker>,
    mock: &Mock,
    threads: u64,
    calls: u64,
    step: impl Fn(u64, State) -> Duration + Sync,
    chaos: bool,
) -> Tally {
    let timeout = cb.config().timeout();
    let done = AtomicBool::new(false);
    let mut total = Tally::default();
    thread::scope(|s| {
        s.spawn(|| {
            let mut i = 0u64;
            // Relaxed: a stop flag; the join at the end of the scope orders everything else.
            while !done.load(Ordering::Relaxed) {
                mock.increment(step(i, cb.state()));
                if chaos && i % 997 == 0 {
                    if i % 2 == 0 {
                        cb.force_open();
                    } else {
                        cb.reset();
                    }
                }
                i += 1;
                thread::yield_now();
            }
        });
        s.spawn(|| {
            let mut prev = cb.metrics();
            // Relaxed: as above.
            while !done.load(Ordering::Relaxed) {
                let m = cb.metrics();
                check_monotonic(&prev, &m);
                // The other queries under traffic: they must return, whatever they say.
                let _ = (cb.state(), cb.is_available());
                prev = m;
                thread::yield_now();
            }
        });
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let cb = Arc::clone(cb);
                s.spawn(move || {
                    let mut rng = Rng::new(t + 1);
                    let mut tally = Tally::default();
                    for _ in 0..calls {
                        random_call(&cb, &mut rng, &mut tally, timeout);
                    }
                    tally
                })
            })
            .collect();
        let results: Vec<_> = workers.into_iter().map(|w| w.join()).collect();
        // Relaxed: see the load above.
        done.store(true, Ordering::Relaxed);
        for r in results {
            match r {
                Ok(t) => total.add(&t),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    total
}

fn config(ft: u32, st: u32, max: u32, timeout: Duration, hot: Duration) -> Config {
    Config::builder()
        .failure_threshold(ft)
        .success_threshold(st)
        .half_open_max_calls(max)
        .timeout(timeout)
        .half_open_timeout(hot)
        .build()
        .expect("a valid config")
}

fn heavy_calls() -> u64 {
    std::env::var("BREAKERBOX_STRESS_CALLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

// ---------------------------------------------------------------------------------------
// (a) Counters balance under contention.
// ---------------------------------------------------------------------------------------

#[test]
fn counters_balance_under_contention() {
    let (clock, mock) = Clock::mock();
    let cfg = config(3, 2, 2, Duration::from_millis(1), Duration::from_millis(2));
    let cb = Arc::new(CircuitBreaker::with_clock("stress", cfg, clock));
    let log = attach_log(&cb);
    // Open periods end after two turns of the clock thread; otherwise time creeps, so the
    // calls, not the clock, drive most transitions.
    let step = |_, state| match state {
        State::Open => Duration::from_micros(500),
        State::Closed | State::HalfOpen => Duration::from_micros(50),
    };
    let total = hammer(&cb, &mock, 4, 25_000, step, false);
    let m = cb.metrics();
    check_counters(&m, &total);
    let log = log.lock().unwrap().clone();
    let edges = check_log(&log, &MACHINE_EDGES, m.state_transitions, cb.state());
    eprintln!("{m:?}\n  edges {edges:?}");
}

/// Owned permits taken on some threads and settled on others: the counters still balance
/// exactly and the transition log stays legal.
#[test]
fn permits_settled_on_other_threads_balance() {
    let (clock, mock) = Clock::mock();
    let cfg = config(3, 2, 2, Duration::from_millis(1), Duration::from_millis(2));
    let cb = Arc::new(CircuitBreaker::with_clock("handoff", cfg, clock));
    let log = attach_log(&cb);
    let done = AtomicBool::new(false);
    // A short queue: producers wait for the consumers, so acquisitions and settlements
    // interleave instead of running as two separate phases.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(breakerbox::OwnedPermit, Outcome)>(4);
    let rx = Mutex::new(rx);
    let mut total = Tally::default();
    thread::scope(|s| {
        s.spawn(|| {
            // Relaxed: a stop flag; the scope's join orders everything else.
            while !done.load(Ordering::Relaxed) {
                let step = match cb.state() {
                    State::Open => Duration::from_micros(500),
                    State::Closed | State::HalfOpen => Duration::from_micros(50),
                };
                mock.increment(step);
                thread::yield_now();
            }
        });
        // Consumers: settle whatever permits arrive, until every producer is gone.
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let rx = &rx;
                s.spawn(move || {
                    let mut tally = Tally::default();
                    loop {
                        let next = rx.lock().unwrap().recv();
                        let Ok((permit, outcome)) = next else { break };
                        match outcome {
                            Outcome::Ignored => drop(permit),
                            _ => permit.record_outcome(outcome),
                        }
                        tally.count(outcome);
                    }
                    tally
                })
            })
            .collect();
        let producers: Vec<_> = (0..3u64)
            .map(|t| {
                let (cb, tx) = (Arc::clone(&cb), tx.clone());
                s.spawn(move || {
                    let mut rng = Rng::new(t + 50);
                    let mut tally = Tally::default();
                    for _ in 0..20_000 {
                        tally.attempts += 1;
                        match cb.try_acquire_owned() {
                            Ok(p) => {
                                let outcome = match rng.below(20) {
                                    0..=8 => Outcome::Success,
                                    9..=16 => Outcome::Failure,
                                    _ => Outcome::Ignored,
                                };
                                tx.send((p, outcome)).expect("consumers outlive producers");
                            }
                            Err(r) => {
                                check_rejected(&r, "handoff", Duration::from_millis(1));
                                tally.rejected += 1;
                                thread::yield_now();
                            }
                        }
                    }
                    tally
                })
            })
            .collect();
        drop(tx);
        let results: Vec<_> = producers
            .into_iter()
            .chain(consumers)
            .map(|h| h.join())
            .collect();
        // Relaxed: see the load above.
        done.store(true, Ordering::Relaxed);
        for r in results {
            match r {
                Ok(t) => total.add(&t),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    let m = cb.metrics();
    check_counters(&m, &total);
    let log = log.lock().unwrap().clone();
    let edges = check_log(&log, &MACHINE_EDGES, m.state_transitions, cb.state());
    eprintln!("{m:?}\n  edges {edges:?}");
}

// ---------------------------------------------------------------------------------------
// (b) Half-open admits at most `half_open_max_calls` probes at once.
// ---------------------------------------------------------------------------------------

/// Many threads acquire, hold and release probes of one half-open period; the number held
/// at once never exceeds `k`, and no slot leaks.
fn half_open_limit(k: u32, threads: usize, iterations: usize) {
    let (clock, mock) = Clock::mock();
    let timeout = Duration::from_millis(10);
    // Success threshold at its maximum and a half-open timeout that never runs out: the
    // period lasts the whole test (fewer than MAX_THRESHOLD successes are recorded).
    let cfg = config(1, Config::MAX_THRESHOLD, k, timeout, Config::MAX_DURATION);
    let cb = CircuitBreaker::with_clock("half-open", cfg, clock);
    cb.force_open();
    mock.increment(timeout);
    assert_eq!(cb.state(), State::HalfOpen);

    let held = AtomicUsize::new(0);
    let max_held = AtomicUsize::new(0);
    let successes_per_thread = (Config::MAX_THRESHOLD as usize - 1) / threads;
    let mut total = Tally::default();
    thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (cb, held, max_held) = (&cb, &held, &max_held);
                s.spawn(move || {
                    let mut rng = Rng::new(t as u64 + 100);
                    let mut tally = Tally::default();
                    let mut successes = 0;
                    for _ in 0..iterations {
                        tally.attempts += 1;
                        match cb.try_acquire() {
                            Ok(p) => {
                                // SeqCst: one total order over all increments and
                                // decrements, so the running count is the true number of
                                // tracked holders at that point of the order.
                                let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                                // Relaxed: a maximum, read after the joins.
                                max_held.fetch_max(now, Ordering::Relaxed);
                                for _ in 0..rng.below(4) {
                                    thread::yield_now();
                                }
                                // SeqCst: see the increment; the decrement comes before
                                // the slot is freed, so the count never exceeds the slots.
                                held.fetch_sub(1, Ordering::SeqCst);
                                let outcome =
                                    if successes < successes_per_thread && rng.below(8) == 0 {
                                        successes += 1;
                                        Outcome::Success
                                    } else {
                                        Outcome::Ignored
                                    };
                                p.record_outcome(outcome);
                                tally.count(outcome);
                            }
                            Err(r) => {
                                assert_eq!(r.state(), State::HalfOpen, "{r:?}");
                                assert_eq!(r.retry_after(), None, "{r:?}");
                                tally.rejected += 1;
                            }
                        }
                    }
                    tally
                })
            })
            .collect();
        for w in workers {
            total.add(&w.join().unwrap());
        }
    });

    // Relaxed: the threads were joined.
    let max = max_held.load(Ordering::Relaxed);
    assert!(max >= 1, "no probe was ever admitted");
    assert!(max <= k as usize, "{max} probes held at once, limit {k}");
    assert_eq!(
        cb.state(),
        State::HalfOpen,
        "still in the same half-open period"
    );
    check_counters(&cb.metrics(), &total);

    // No slot leaked: exactly k probes can be taken now, the next is rejected.
    let probes: Vec<_> = (0..k)
        .map(|i| {
            cb.try_acquire()
                .unwrap_or_else(|r| panic!("probe {i} of {k} rejected: {r:?}"))
        })
        .collect();
    match cb.try_acquire() {
        Ok(_) => panic!("probe {} admitted over the limit {k}", k + 1),
        Err(extra) => assert_eq!(extra.state(), State::HalfOpen),
    }
    drop(probes);
    assert!(cb.is_available());
}

#[test]
fn half_open_never_exceeds_max_calls() {
    for k in [1, 2, 3, 5] {
        half_open_limit(k, 6, 4_000);
    }
}

// ---------------------------------------------------------------------------------------
// (c) Heavy versions: run with `cargo test --release --test stress -- --ignored`.
// ---------------------------------------------------------------------------------------

/// The clock steps for the heavy tests (timeouts of 1–2 ms): an open period ends at the
/// next turn, exactly at its deadline or later; otherwise time creeps, with a jump past
/// both timeouts now and then, so the calls drive most transitions and the breaker cycles
/// through every state many times.
fn cycling_step(i: u64, state: State) -> Duration {
    match state {
        _ if i % 64 == 63 => Duration::from_millis(3),
        State::Open => Duration::from_millis(1),
        State::Closed | State::HalfOpen => Duration::from_micros(20),
    }
}

#[test]
#[ignore = "heavy: run in release with --ignored"]
fn heavy_machine_transitions_are_legal() {
    for threads in [4, 8] {
        let (clock, mock) = Clock::mock();
        let cfg = config(3, 2, 2, Duration::from_millis(1), Duration::from_millis(1));
        let cb = Arc::new(CircuitBreaker::with_clock("heavy", cfg, clock));
        let log = attach_log(&cb);
        let total = hammer(&cb, &mock, threads, heavy_calls(), cycling_step, false);
        let m = cb.metrics();
        check_counters(&m, &total);
        let log = log.lock().unwrap().clone();
        let edges = check_log(&log, &MACHINE_EDGES, m.state_transitions, cb.state());
        for edge in MACHINE_EDGES {
            assert!(
                edges.get(&edge).copied().unwrap_or(0) > 0,
                "{threads} threads: {} -> {} never happened: {edges:?}",
                edge.0,
                edge.1
            );
        }
        eprintln!("{threads} threads: {m:?}\n  edges {edges:?}");
    }
}

#[test]
#[ignore = "heavy: run in release with --ignored"]
fn heavy_with_reset_and_force_open() {
    // reset() adds X -> Closed for any X, force_open() adds Closed/HalfOpen -> Open.
    let legal = [
        (State::Closed, State::Open),
        (State::Open, State::HalfOpen),
        (State::HalfOpen, State::Closed),
        (State::HalfOpen, State::Open),
        (State::Open, State::Closed),
    ];
    let (clock, mock) = Clock::mock();
    let cfg = config(4, 3, 3, Duration::from_millis(1), Duration::from_millis(2));
    let cb = Arc::new(CircuitBreaker::with_clock("heavy-chaos", cfg, clock));
    let log = attach_log(&cb);
    let total = hammer(&cb, &mock, 6, heavy_calls(), cycling_step, true);
    let m = cb.metrics();
    check_counters(&m, &total);
    let log = log.lock().unwrap().clone();
    let edges = check_log(&log, &legal, m.state_transitions, cb.state());
    eprintln!("chaos: {m:?}\n  edges {edges:?}");
}

#[test]
#[ignore = "heavy: run in release with --ignored"]
fn heavy_half_open_never_exceeds_max_calls() {
    let iterations = (heavy_calls() / 4) as usize;
    for k in [1, 2, 4, 7] {
        half_open_limit(k, 8, iterations);
    }
}

// ---------------------------------------------------------------------------------------
// (d) Rejections under a churning open period.
// ---------------------------------------------------------------------------------------

/// `Rejected::retry_after` is the time left in the open period, so it never exceeds
/// `timeout`, even while another thread restarts the open period and the clock moves: every
/// clock step ends the current period, so admissions race `force_open` for the next one.
fn retry_after_bounded_under_churn(workers: usize, calls: u64) {
    let (clock, mock) = Clock::mock();
    let timeout = Duration::from_millis(1);
    let cfg = config(1, 1, 1, timeout, Duration::from_millis(1));
    let cb = CircuitBreaker::with_clock("churn", cfg, clock);
    cb.force_open();
    let done = AtomicBool::new(false);
    let mut worst = Duration::ZERO;
    let mut total = Tally::default();
    thread::scope(|s| {
        s.spawn(|| {
            // Relaxed: a stop flag; the scope's join orders everything else.
            while !done.load(Ordering::Relaxed) {
                mock.increment(timeout);
                thread::yield_now();
            }
        });
        s.spawn(|| {
            // Relaxed: as above.
            while !done.load(Ordering::Relaxed) {
                cb.force_open();
                thread::yield_now();
            }
        });
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut worst = Duration::ZERO;
                    let mut tally = Tally::default();
                    for i in 0..calls {
                        tally.attempts += 1;
                        match cb.try_acquire() {
                            Ok(p) => {
                                p.record_outcome(Outcome::Ignored);
                                tally.ignored += 1;
                            }
                            Err(r) => {
                                tally.rejected += 1;
                                if let Some(left) = r.retry_after() {
                                    worst = worst.max(left);
                                }
                            }
                        }
                        if i % 8 == 0 {
                            thread::yield_now();
                        }
                    }
                    (worst, tally)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        // Relaxed: as above.
        done.store(true, Ordering::Relaxed);
        for r in results {
            match r {
                Ok((w, t)) => {
                    worst = worst.max(w);
                    total.add(&t);
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    assert!(
        worst <= timeout,
        "a rejection said to retry after {worst:?}; timeout is {timeout:?}"
    );
    check_counters(&cb.metrics(), &total);
}

#[test]
fn retry_after_never_exceeds_timeout_under_churn() {
    retry_after_bounded_under_churn(4, 20_000);
}

#[test]
#[ignore = "heavy: run in release with --ignored"]
fn heavy_retry_after_never_exceeds_timeout_under_churn() {
    retry_after_bounded_under_churn(8, heavy_calls());
}

// ---------------------------------------------------------------------------------------
// (f) Rate windows under contention.
// ---------------------------------------------------------------------------------------

/// A rate-only breaker (50 %, minimum 20) with `window`, on a mock clock.
fn rate_breaker(window: breakerbox::Window) -> (Arc<CircuitBreaker>, Arc<Mock>) {
    let (clock, mock) = Clock::mock();
    let cfg = Config::builder()
        .sliding_window(window)
        .failure_rate_threshold(50.0)
        .minimum_calls(20)
        .timeout(Duration::from_secs(3600))
        .build()
        .expect("valid");
    (
        Arc::new(CircuitBreaker::with_clock("window", cfg, clock)),
        mock,
    )
}

/// Four threads each make `calls` calls, call `i` failing when `fails(i)`; thread 0 moves
/// the clock 1 ms every 50 of its calls.
fn window_traffic(cb: &Arc<CircuitBreaker>, mock: &Arc<Mock>, calls: u64, fails: fn(u64) -> bool) {
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (cb, mock) = (cb.clone(), mock.clone());
            thread::spawn(move || {
                for i in 0..calls {
                    if t == 0 && i % 50 == 49 {
                        mock.increment(Duration::from_millis(1));
                    }
                    let _ = cb.call(|| if fails(i) { Err(()) } else { Ok(()) });
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

fn windows() -> [breakerbox::Window; 2] {
    [
        breakerbox::Window::Calls(100),
        breakerbox::Window::Time(Duration::from_secs(1)),
    ]
}

/// With one failure in ten, well below the 50 % threshold, no window trips under contention
/// (plain successes skip the sum; failures judge it), and the rate stays low.
#[test]
fn a_window_below_its_rate_never_trips_under_contention() {
    for window in windows() {
        let (cb, mock) = rate_breaker(window);
        window_traffic(&cb, &mock, 20_000, |i| i % 10 == 0);
        let m = cb.metrics();
        assert_eq!(m.state, State::Closed, "{window:?}: {m:?}");
        assert_eq!(m.state_transitions, 0, "{window:?}");
        let rate = m.failure_rate.expect("the window holds its minimum");
        assert!(rate < 50.0, "{window:?}: {rate}");
    }
}

/// With four failures in five, every window trips, once.
#[test]
fn a_window_above_its_rate_trips_under_contention() {
    for window in windows() {
        let (cb, mock) = rate_breaker(window);
        window_traffic(&cb, &mock, 2_000, |i| i % 5 != 0);
        let m = cb.metrics();
        assert_eq!(m.state, State::Open, "{window:?}: {m:?}");
        assert_eq!(m.state_transitions, 1, "{window:?}");
    }
}

/// A time window whose successes leave it trips on the next success, whichever thread makes
/// it: four threads fill it with successes (their sums skipped once the minimum is held),
/// then with fewer failures half a window later; once the successes have left, every
/// thread's next plain success is in a new epoch, is judged, and the breaker opens.
#[test]
fn a_time_window_trips_on_a_success_once_successes_left_under_contention() {
    let (cb, mock) = rate_breaker(breakerbox::Window::Time(Duration::from_secs(1)));
    let run = |outcome: fn(u64) -> bool, calls: u64| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let cb = cb.clone();
                thread::spawn(move || {
                    for i in 0..calls {
                        let _ = cb.call(|| if outcome(i) { Err(()) } else { Ok(()) });
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    };
    run(|_| false, 5_000);
    mock.increment(Duration::from_millis(500));
    run(|_| true, 100);
    assert_eq!(cb.state(), State::Closed, "400 failures of 20 400");
    mock.increment(Duration::from_millis(500));
    run(|_| false, 1);
    assert_eq!(
        cb.state(),
        State::Open,
        "the successes of 0 s have left the window"
    );
    assert_eq!(cb.metrics().state_transitions, 1);
}
