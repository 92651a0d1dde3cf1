//! Fixtures shared by the integration tests, pulled in with `mod common;` (Cargo builds
//! no test target of its own from `tests/common/mod.rs`).
//!
//! Every breaker here runs on quanta's mock clock, so time only moves when a test calls
//! `mock.increment(..)`; nothing sleeps.

// Each test binary compiles its own copy of this module and uses only some of it.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use breakerbox::quanta::{Clock, Mock};
use breakerbox::{CircuitBreaker, Config, Metrics, Outcome, Rejected, State, StateChange};
use futures::task::noop_waker;

/// The open timeout of [`config`].
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The half-open timeout of [`config`].
pub const HALF_OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// One microsecond, for stepping the mock clock around a deadline.
pub const US: Duration = Duration::from_micros(1);
/// One nanosecond, the mock clock's smallest step.
pub const NS: Duration = Duration::from_nanos(1);
/// The name of the breakers built by [`breaker`] and [`shared_breaker`].
pub const NAME: &str = "test";

/// A valid config with the given thresholds, [`TIMEOUT`] and [`HALF_OPEN_TIMEOUT`].
pub fn config(failures: u32, successes: u32, max_calls: u32) -> Config {
    Config::builder()
        .failure_threshold(failures)
        .success_threshold(successes)
        .timeout(TIMEOUT)
        .half_open_timeout(HALF_OPEN_TIMEOUT)
        .half_open_max_calls(max_calls)
        .build()
        .expect("valid test config")
}

/// A breaker called `name` on a fresh mock clock, and the handle that moves that clock.
pub fn breaker_named(name: &str, config: Config) -> (CircuitBreaker, Arc<Mock>) {
    let (clock, mock) = Clock::mock();
    (CircuitBreaker::with_clock(name, config, clock), mock)
}

/// A breaker called [`NAME`] on a fresh mock clock, and the handle that moves that clock.
pub fn breaker(config: Config) -> (CircuitBreaker, Arc<Mock>) {
    breaker_named(NAME, config)
}

/// [`breaker_named`] behind an `Arc`, for owned permits, threads and listeners.
pub fn shared_breaker_named(name: &str, config: Config) -> (Arc<CircuitBreaker>, Arc<Mock>) {
    let (b, mock) = breaker_named(name, config);
    (Arc::new(b), mock)
}

/// [`breaker`] behind an `Arc`, for owned permits, threads and listeners.
pub fn shared_breaker(config: Config) -> (Arc<CircuitBreaker>, Arc<Mock>) {
    shared_breaker_named(NAME, config)
}

/// Records a failure through an admitted permit; panics if `b` rejects.
pub fn fail(b: &CircuitBreaker) {
    match b.try_acquire() {
        Ok(p) => p.failure(),
        Err(r) => panic!("expected admission, rejected: {r:?}"),
    }
}

/// Records a success through an admitted permit; panics if `b` rejects.
pub fn succeed(b: &CircuitBreaker) {
    match b.try_acquire() {
        Ok(p) => p.success(),
        Err(r) => panic!("expected admission, rejected: {r:?}"),
    }
}

/// The rejection `b` answers with now; panics (after recording the unexpected permit as
/// Ignored) if `b` admits.
pub fn rejected(b: &CircuitBreaker) -> Rejected {
    match b.try_acquire() {
        Ok(p) => {
            p.record_outcome(Outcome::Ignored);
            panic!("expected a rejection in state {:?}", b.state());
        }
        Err(r) => r,
    }
}

/// Opens `b` (failure threshold `n`) with `n` failures.
pub fn trip(b: &CircuitBreaker, n: u32) {
    for _ in 0..n {
        fail(b);
    }
    assert_eq!(b.state(), State::Open);
}

/// A breaker (failure threshold 1) that has been open for exactly [`TIMEOUT`]: effective
/// state HalfOpen, no probe admitted yet.
pub fn half_open(config: Config) -> (CircuitBreaker, Arc<Mock>) {
    let (b, mock) = breaker(config);
    b.try_acquire().expect("closed").failure();
    assert_eq!(b.state(), State::Open);
    mock.increment(TIMEOUT);
    assert_eq!(b.state(), State::HalfOpen);
    (b, mock)
}

/// Checks the counting invariant `total == successful + failed + ignored + rejected`
/// (holds whenever no permit is outstanding).
pub fn assert_balanced(m: &Metrics) {
    assert_eq!(
        m.total_calls,
        m.successful_calls + m.failed_calls + m.ignored_calls + m.rejected_calls,
        "invariant broken: {m:?}"
    );
}

/// The state changes a [`recorder`] has seen, in order.
pub type Log = Arc<Mutex<Vec<StateChange>>>;

/// Registers a listener on `b` that only records each change (the breaker catches
/// listener panics, so asserts belong on the test's side) and returns its log.
pub fn recorder(b: &CircuitBreaker) -> Log {
    let log: Log = Arc::default();
    let sink = Arc::clone(&log);
    b.on_state_change(move |c: &StateChange| sink.lock().unwrap().push(c.clone()));
    log
}

/// Polls `fut` once with a waker that does nothing.
pub fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    fut.poll(&mut cx)
}

/// The five call counters of a snapshot, in `Metrics` field order: total, successful,
/// failed, ignored, rejected.
pub fn counts(m: &Metrics) -> (u64, u64, u64, u64, u64) {
    (
        m.total_calls,
        m.successful_calls,
        m.failed_calls,
        m.ignored_calls,
        m.rejected_calls,
    )
}
