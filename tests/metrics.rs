//! `CircuitBreaker::metrics`: every field, the counting invariant
//! `total_calls == successful + failed + ignored + rejected` whenever no permit is
//! outstanding, `state_transitions`, `consecutive_failures` and the two timestamps.

use std::sync::Arc;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Metrics, Outcome, State};

mod common;
use common::{assert_balanced, breaker, config, counts, rejected, HALF_OPEN_TIMEOUT, TIMEOUT};

fn record(b: &CircuitBreaker, outcome: Outcome) {
    match b.try_acquire() {
        Ok(p) => p.record_outcome(outcome),
        Err(r) => panic!("expected admission, rejected: {r:?}"),
    }
}

fn sum(m: &Metrics) -> u64 {
    m.successful_calls + m.failed_calls + m.ignored_calls + m.rejected_calls
}

#[test]
fn a_new_breaker_has_empty_metrics() {
    let (b, _mock) = breaker(config(3, 1, 1));
    let m = b.metrics();
    // `Metrics` is #[non_exhaustive]: read every field, build none.
    assert_eq!(m.state, State::Closed);
    assert_eq!(
        (
            m.total_calls,
            m.successful_calls,
            m.failed_calls,
            m.ignored_calls
        ),
        (0, 0, 0, 0)
    );
    assert_eq!((m.rejected_calls, m.state_transitions), (0, 0));
    assert_eq!((m.slow_calls, m.would_reject_calls), (0, 0));
    assert_eq!(m.consecutive_failures, 0);
    assert_eq!((m.last_failure_time, m.last_state_change), (None, None));
    assert_eq!((m.failure_rate, m.slow_call_rate), (None, None));
}

#[test]
fn every_counter_counts_exactly() {
    let (b, mock) = breaker(config(3, 1, 1));
    record(&b, Outcome::Success);
    record(&b, Outcome::Success);
    record(&b, Outcome::Ignored);
    record(&b, Outcome::Failure);
    let m = b.metrics();
    assert_eq!(counts(&m), (4, 2, 1, 1, 0));
    assert_eq!(m.consecutive_failures, 1);

    record(&b, Outcome::Failure);
    record(&b, Outcome::Failure);
    rejected(&b);
    rejected(&b);
    rejected(&b);
    let m = b.metrics();
    assert_eq!(counts(&m), (9, 2, 3, 1, 3));
    assert_eq!(m.state, State::Open);
    assert_eq!(m.consecutive_failures, 0);
    assert_eq!(m.state_transitions, 1);
    assert_balanced(&m);

    mock.increment(TIMEOUT);
    let p = b.try_acquire().expect("probe");
    rejected(&b); // the slot is taken
    p.success();
    let m = b.metrics();
    assert_eq!(counts(&m), (11, 3, 3, 1, 4));
    assert_eq!(m.state, State::Closed);
    assert_eq!(m.state_transitions, 3);
    assert_balanced(&m);
}

#[test]
fn an_outstanding_permit_is_counted_in_total_only() {
    let (b, _mock) = breaker(config(3, 1, 1));
    let p1 = b.try_acquire().expect("closed");
    let p2 = b.try_acquire().expect("closed");
    let m = b.metrics();
    assert_eq!(m.total_calls, 2);
    assert_eq!(sum(&m), 0);
    p1.success();
    assert_eq!(b.metrics().total_calls, sum(&b.metrics()) + 1);
    drop(p2);
    assert_balanced(&b.metrics());
}

#[test]
fn call_and_call_with_are_counted() {
    let (b, _mock) = breaker(config(3, 1, 1));
    let _ = b.call(|| Ok::<_, &str>(()));
    let _ = b.call(|| Err::<(), _>("down"));
    let _ = b.call_with(|_: &&str| false, || Err::<(), _>("not found"));
    let _ = b.call_with(|_: &&str| true, || Err::<(), _>("down"));
    let m = b.metrics();
    assert_eq!(m.total_calls, 4);
    assert_eq!(m.successful_calls, 2);
    assert_eq!(m.failed_calls, 2);
    assert_eq!(m.consecutive_failures, 1);
    assert_balanced(&m);
    b.force_open();
    let _ = b.call(|| Ok::<_, &str>(()));
    let m = b.metrics();
    assert_eq!(m.rejected_calls, 1);
    assert_eq!(m.total_calls, 5);
    assert_balanced(&m);
}

#[test]
fn the_invariant_holds_through_every_state_and_stale_outcome() {
    let (b, mock) = breaker(config(2, 2, 2));
    let mut stale = Vec::new();
    for round in 0..10u32 {
        stale.push(b.try_acquire().expect("closed"));
        record(&b, Outcome::Success);
        record(&b, Outcome::Failure);
        record(&b, Outcome::Failure);
        assert_eq!(b.state(), State::Open);
        rejected(&b);
        mock.increment(TIMEOUT);
        let p = b.try_acquire().expect("probe");
        if round % 2 == 0 {
            record(&b, Outcome::Success);
            p.success();
            assert_eq!(b.state(), State::Closed);
        } else {
            p.record_outcome(Outcome::Ignored);
            mock.increment(HALF_OPEN_TIMEOUT);
            rejected(&b);
            mock.increment(TIMEOUT);
            b.reset();
        }
        let m = b.metrics();
        assert_eq!(m.total_calls, sum(&m) + stale.len() as u64);
    }
    for (i, p) in stale.into_iter().enumerate() {
        let outcome = [Outcome::Success, Outcome::Failure, Outcome::Ignored][i % 3];
        p.record_outcome(outcome);
    }
    let m = b.metrics();
    assert_balanced(&m);
    assert_eq!(m.total_calls, 10 * 6 + 5 * 2);
    // Even rounds: 3 successes; odd rounds: 1; stale permits 0, 3, 6, 9 succeed.
    assert_eq!(m.successful_calls, 5 * 3 + 5 + 4);
    assert_eq!(m.failed_calls, 10 * 2 + 3);
    assert_eq!(m.ignored_calls, 5 + 3);
    assert_eq!(m.rejected_calls, 10 + 5);
    assert_eq!(m.state, State::Closed);
    // Even rounds: 3 transitions; odd rounds: Closed→Open→HalfOpen→Open→Closed.
    assert_eq!(m.state_transitions, 5 * 3 + 5 * 4);
}

#[test]
fn state_is_the_effective_state() {
    let (b, mock) = breaker(config(1, 1, 1));
    record(&b, Outcome::Failure);
    assert_eq!(b.metrics().state, State::Open);
    mock.increment(TIMEOUT);
    assert_eq!(b.metrics().state, State::HalfOpen);
    let p = b.try_acquire().expect("probe");
    assert_eq!(b.metrics().state, State::HalfOpen);
    mock.increment(HALF_OPEN_TIMEOUT);
    assert_eq!(b.metrics().state, State::Open);
    drop(p);
    assert_eq!(b.metrics().state, State::Open);
}

#[test]
fn queries_never_change_the_metrics() {
    let (b, mock) = breaker(config(1, 1, 1));
    record(&b, Outcome::Failure);
    mock.increment(TIMEOUT);
    let first = b.metrics();
    for _ in 0..10 {
        let _ = b.state();
        let _ = b.is_available();
        assert_eq!(b.metrics(), first);
    }
    let p = b.try_acquire().expect("probe");
    mock.increment(HALF_OPEN_TIMEOUT * 2);
    let second = b.metrics();
    for _ in 0..10 {
        let _ = b.state();
        let _ = b.is_available();
        assert_eq!(b.metrics(), second);
    }
    p.success();
}

#[test]
fn state_transitions_counts_each_kind_of_transition_once() {
    let (b, mock) = breaker(config(1, 1, 1));
    let t = |b: &CircuitBreaker| b.metrics().state_transitions;
    record(&b, Outcome::Failure); // Closed → Open
    assert_eq!(t(&b), 1);
    mock.increment(TIMEOUT);
    assert_eq!(t(&b), 1);
    let p = b.try_acquire().expect("probe"); // Open → HalfOpen
    assert_eq!(t(&b), 2);
    mock.increment(HALF_OPEN_TIMEOUT);
    assert_eq!(t(&b), 2);
    rejected(&b); // HalfOpen → Open
    assert_eq!(t(&b), 3);
    rejected(&b);
    p.failure(); // stale
    assert_eq!(t(&b), 3);
    b.force_open(); // Open → Open: no transition
    assert_eq!(t(&b), 3);
    b.reset(); // Open → Closed
    assert_eq!(t(&b), 4);
    b.reset(); // Closed → Closed: none
    assert_eq!(t(&b), 4);
    b.force_open(); // Closed → Open
    assert_eq!(t(&b), 5);
    mock.increment(TIMEOUT);
    record(&b, Outcome::Success); // Open → HalfOpen → Closed
    assert_eq!(t(&b), 7);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn consecutive_failures_is_zero_outside_closed() {
    let (b, mock) = breaker(config(3, 2, 2));
    record(&b, Outcome::Failure);
    record(&b, Outcome::Failure);
    assert_eq!(b.metrics().consecutive_failures, 2);
    b.force_open();
    assert_eq!(b.metrics().consecutive_failures, 0);
    mock.increment(TIMEOUT);
    assert_eq!(b.metrics().consecutive_failures, 0); // effective half-open
    let p = b.try_acquire().expect("probe");
    assert_eq!(b.metrics().consecutive_failures, 0); // stored half-open
    record(&b, Outcome::Success);
    p.success();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().consecutive_failures, 0);
    record(&b, Outcome::Failure);
    assert_eq!(b.metrics().consecutive_failures, 1);
    record(&b, Outcome::Ignored);
    assert_eq!(b.metrics().consecutive_failures, 1);
    record(&b, Outcome::Success);
    assert_eq!(b.metrics().consecutive_failures, 0);
}

#[test]
fn last_failure_time_is_set_by_failures_only() {
    let (b, mock) = breaker(config(2, 1, 1));
    record(&b, Outcome::Success);
    record(&b, Outcome::Ignored);
    assert_eq!(b.metrics().last_failure_time, None);
    mock.increment(Duration::from_secs(1));
    record(&b, Outcome::Failure);
    let first = b.metrics().last_failure_time;
    assert!(first.is_some());
    // Later events happen at a later (mock) time, so a wrongly updated timestamp would
    // show.
    mock.increment(Duration::from_secs(1));
    record(&b, Outcome::Success);
    assert_eq!(b.metrics().last_failure_time, first);
    b.force_open();
    mock.increment(Duration::from_secs(1));
    rejected(&b);
    assert_eq!(b.metrics().last_failure_time, first);
    b.reset();
    // reset keeps the metrics.
    assert_eq!(b.metrics().last_failure_time, first);
}

#[test]
fn last_state_change_is_set_by_transitions_only() {
    let (b, mock) = breaker(config(1, 1, 1));
    record(&b, Outcome::Success);
    b.reset();
    assert_eq!(b.metrics().last_state_change, None);
    record(&b, Outcome::Failure);
    let opened = b.metrics().last_state_change;
    assert!(opened.is_some());
    mock.increment(Duration::from_secs(1));
    rejected(&b);
    b.force_open(); // already open: not a state change
    mock.increment(TIMEOUT);
    let _ = b.state();
    assert_eq!(b.metrics().last_state_change, opened);
    record(&b, Outcome::Success); // Open → HalfOpen → Closed, 11 s of mock time later
    let closed = b.metrics().last_state_change;
    assert!(closed.is_some());
    assert_ne!(closed, opened);
}

#[test]
fn metrics_are_kept_across_reset() {
    let (b, _mock) = breaker(config(2, 1, 1));
    record(&b, Outcome::Success);
    record(&b, Outcome::Ignored);
    record(&b, Outcome::Failure);
    record(&b, Outcome::Failure);
    rejected(&b);
    let before = b.metrics();
    b.reset();
    let after = b.metrics();
    assert_eq!(after.total_calls, before.total_calls);
    assert_eq!(after.successful_calls, before.successful_calls);
    assert_eq!(after.failed_calls, before.failed_calls);
    assert_eq!(after.ignored_calls, before.ignored_calls);
    assert_eq!(after.rejected_calls, before.rejected_calls);
    assert_eq!(after.last_failure_time, before.last_failure_time);
    assert_eq!(after.state_transitions, before.state_transitions + 1);
    assert_eq!(after.state, State::Closed);
}

#[test]
fn metrics_from_many_threads_add_up() {
    let (b, _mock) = breaker(config(1000, 1, 1));
    let b = Arc::new(b);
    settle_from_threads(&b, 4, 250, |i, j| (i + j) % 3 == 1);
    let m = b.metrics();
    assert_eq!(m.total_calls, 1000);
    assert_eq!(m.failed_calls, 0);
    assert_eq!(m.successful_calls + m.ignored_calls, 1000);
    let ignored: u64 = (0..4u64)
        .map(|i| (0..250u64).filter(|j| (i + j) % 3 == 1).count() as u64)
        .sum();
    assert_eq!(m.ignored_calls, ignored);
    assert_balanced(&m);
}

#[test]
fn counts_stay_exact_across_many_short_lived_threads() {
    // Threads come and go (their counter stripes are handed to later threads): no count
    // may be lost or doubled.
    let (b, _mock) = breaker(config(1000, 1, 1));
    let b = Arc::new(b);
    for _batch in 0..10 {
        settle_from_threads(&b, 20, 50, |_, j| j % 5 == 0);
    }
    let m = b.metrics();
    assert_eq!(m.total_calls, 10 * 20 * 50);
    assert_eq!(m.ignored_calls, 10 * 20 * 10);
    assert_eq!(m.successful_calls, 10 * 20 * 40);
    assert_balanced(&m);
}

/// Runs `threads` threads that each take `calls` permits of `b` and record `Ignored` where
/// `ignore(thread, call)` holds, `Success` elsewhere; returns when all have finished.
fn settle_from_threads(
    b: &Arc<CircuitBreaker>,
    threads: u64,
    calls: u64,
    ignore: fn(u64, u64) -> bool,
) {
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let b = Arc::clone(b);
            std::thread::spawn(move || {
                for j in 0..calls {
                    let p = b.try_acquire().expect("closed");
                    if ignore(i, j) {
                        p.record_outcome(Outcome::Ignored);
                    } else {
                        p.success();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("worker");
    }
}
