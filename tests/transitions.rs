//! The single breaker's state machine: Closed → Open → HalfOpen → Closed / Open, driven
//! by outcomes, by the first admitted call after the open timeout, and by `reset` /
//! `force_open` (API.md, Semantics 1–3 and 7). Time comes from quanta's mock clock.

use std::time::Duration;

use breakerbox::{CircuitBreaker, Outcome, Registry, State};

mod common;
use common::{assert_balanced, breaker, config, fail, rejected, succeed, trip, NS, TIMEOUT, US};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn public_types_are_send_and_sync() {
    assert_send_sync::<CircuitBreaker>();
    assert_send_sync::<Registry>();
    assert_send_sync::<breakerbox::Metrics>();
    assert_send_sync::<breakerbox::OwnedPermit>();
}

#[test]
fn state_text() {
    assert_eq!(State::Closed.as_str(), "closed");
    assert_eq!(State::Open.as_str(), "open");
    assert_eq!(State::HalfOpen.as_str(), "half_open");
    for s in [State::Closed, State::Open, State::HalfOpen] {
        assert_eq!(s.to_string(), s.as_str());
    }
}

#[test]
fn new_breaker_is_closed_and_available() {
    let (b, _mock) = breaker(config(3, 2, 2));
    assert_eq!(b.name(), "test");
    assert_eq!(b.state(), State::Closed);
    assert!(b.is_available());
    assert_eq!(b.config().failure_threshold(), 3);
    let m = b.metrics();
    assert_eq!(m.state, State::Closed);
    assert_eq!(m.state_transitions, 0);
}

#[test]
fn consecutive_failures_open_exactly_at_threshold() {
    let (b, _mock) = breaker(config(3, 2, 2));
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Closed);
    assert!(b.is_available());
    assert_eq!(b.metrics().consecutive_failures, 2);
    assert_eq!(b.metrics().state_transitions, 0);

    fail(&b);
    assert_eq!(b.state(), State::Open);
    assert!(!b.is_available());
    let m = b.metrics();
    assert_eq!(m.state, State::Open);
    assert_eq!(m.state_transitions, 1);
    assert_eq!(m.failed_calls, 3);
    assert_eq!(m.consecutive_failures, 0);

    let r = rejected(&b);
    assert_eq!(r.state(), State::Open);
    assert_eq!(r.name(), "test");
    assert_eq!(r.retry_after(), Some(TIMEOUT));
}

#[test]
fn a_success_clears_the_streak() {
    let (b, _mock) = breaker(config(3, 2, 2));
    fail(&b);
    fail(&b);
    succeed(&b);
    assert_eq!(b.metrics().consecutive_failures, 0);
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().consecutive_failures, 2);
    fail(&b);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn an_ignored_outcome_changes_nothing_in_closed() {
    let (b, _mock) = breaker(config(3, 2, 2));
    fail(&b);
    fail(&b);
    b.try_acquire()
        .expect("closed")
        .record_outcome(Outcome::Ignored);
    drop(b.try_acquire().expect("closed")); // drop without an outcome: Ignored too
    assert_eq!(b.metrics().consecutive_failures, 2);
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    let m = b.metrics();
    assert_eq!(m.ignored_calls, 2);
    assert_balanced(&m);
}

#[test]
fn closed_admits_any_number_of_concurrent_permits() {
    let (b, _mock) = breaker(config(3, 1, 1));
    let permits: Vec<_> = (0..50).map(|_| b.try_acquire().expect("closed")).collect();
    assert_eq!(b.state(), State::Closed);
    for p in permits {
        p.success();
    }
    assert_eq!(b.metrics().successful_calls, 50);
}

#[test]
fn open_rejects_with_exact_retry_after_until_the_timeout() {
    let (b, mock) = breaker(config(1, 1, 1));
    trip(&b, 1);
    assert_eq!(rejected(&b).retry_after(), Some(TIMEOUT));

    mock.increment(Duration::from_secs(3));
    let r = rejected(&b);
    assert_eq!(r.state(), State::Open);
    assert_eq!(r.retry_after(), Some(Duration::from_secs(7)));

    // retry_after is exact to the microsecond (the breaker's time resolution).
    mock.increment(Duration::from_secs(7) - US);
    assert_eq!(b.state(), State::Open);
    assert!(!b.is_available());
    assert_eq!(rejected(&b).retry_after(), Some(US));
    // Never early, at any resolution: 1 ns before the deadline it is still open.
    mock.increment(US - NS);
    assert_eq!(b.state(), State::Open);
    assert!(!b.is_available());
    let left = rejected(&b).retry_after().expect("open");
    assert!(
        left >= NS && left <= US,
        "retry_after {left:?} for 1 ns left"
    );

    let m = b.metrics();
    assert_eq!(m.rejected_calls, 4);
    assert_eq!(m.total_calls, 5);
    assert_eq!(m.state_transitions, 1);
    assert_balanced(&m);

    mock.increment(NS);
    assert_eq!(b.state(), State::HalfOpen);
    assert!(b.is_available());
}

#[test]
fn after_the_timeout_half_open_is_only_effective_until_a_call() {
    let (b, mock) = breaker(config(1, 1, 1));
    trip(&b, 1);
    let before = b.metrics();
    mock.increment(TIMEOUT);
    for _ in 0..5 {
        assert_eq!(b.state(), State::HalfOpen);
        assert!(b.is_available());
    }
    let m = b.metrics();
    assert_eq!(m.state, State::HalfOpen);
    // Queries made no transition.
    assert_eq!(m.state_transitions, 1);
    assert_eq!(m.last_state_change, before.last_state_change);
    assert_eq!(m.total_calls, before.total_calls);

    let p = b.try_acquire().expect("first probe");
    let m = b.metrics();
    assert_eq!(m.state, State::HalfOpen);
    assert_eq!(m.state_transitions, 2);
    p.success();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().state_transitions, 3);
}

#[test]
fn the_first_admitted_call_is_the_first_probe() {
    // One slot: the call that moves the breaker to HalfOpen must occupy it.
    let (b, mock) = breaker(config(1, 1, 1));
    trip(&b, 1);
    mock.increment(TIMEOUT);
    let probe = b.try_acquire().expect("first probe");
    let r = rejected(&b);
    assert_eq!(r.state(), State::HalfOpen);
    assert_eq!(r.retry_after(), None);
    probe.success();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn success_threshold_successes_close() {
    let (b, mock) = breaker(config(2, 3, 3));
    trip(&b, 2);
    mock.increment(TIMEOUT);
    succeed(&b);
    assert_eq!(b.state(), State::HalfOpen);
    succeed(&b);
    assert_eq!(b.state(), State::HalfOpen);
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    assert_eq!(m.state_transitions, 3);
    assert_eq!(m.consecutive_failures, 0);
    assert_eq!(m.successful_calls, 3);
    assert_balanced(&m);
}

#[test]
fn a_failure_in_half_open_reopens_with_a_fresh_timeout() {
    let (b, mock) = breaker(config(2, 3, 3));
    trip(&b, 2);
    mock.increment(TIMEOUT + Duration::from_secs(100));
    succeed(&b);
    succeed(&b);
    mock.increment(Duration::from_secs(2));
    fail(&b);
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.metrics().state_transitions, 3);
    let r = rejected(&b);
    assert_eq!(r.state(), State::Open);
    assert_eq!(r.retry_after(), Some(TIMEOUT));

    mock.increment(TIMEOUT - US);
    assert_eq!(b.state(), State::Open);
    assert_eq!(rejected(&b).retry_after(), Some(US));
    mock.increment(US - NS);
    assert_eq!(b.state(), State::Open);
    mock.increment(NS);
    assert_eq!(b.state(), State::HalfOpen);
}

#[test]
fn success_counts_start_from_zero_in_each_half_open_period() {
    let (b, mock) = breaker(config(1, 3, 3));
    trip(&b, 1);
    mock.increment(TIMEOUT);
    succeed(&b);
    succeed(&b);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    mock.increment(TIMEOUT);
    succeed(&b);
    // Carrying the two earlier successes over would have closed it here.
    assert_eq!(b.state(), State::HalfOpen);
    succeed(&b);
    assert_eq!(b.state(), State::HalfOpen);
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn closing_starts_a_fresh_failure_streak() {
    let (b, mock) = breaker(config(3, 1, 1));
    trip(&b, 3);
    mock.increment(TIMEOUT);
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().consecutive_failures, 0);
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.metrics().state_transitions, 4);
}

#[test]
fn many_full_cycles_count_every_transition() {
    let (b, mock) = breaker(config(2, 2, 2));
    for cycle in 1..=20u64 {
        trip(&b, 2);
        mock.increment(TIMEOUT);
        succeed(&b);
        succeed(&b);
        assert_eq!(b.state(), State::Closed);
        assert_eq!(b.metrics().state_transitions, 3 * cycle);
    }
    let m = b.metrics();
    assert_eq!(m.failed_calls, 40);
    assert_eq!(m.successful_calls, 40);
    assert_balanced(&m);
}

#[test]
fn reset_closes_an_open_breaker_and_clears_state_counters() {
    let (b, _mock) = breaker(config(2, 1, 1));
    trip(&b, 2);
    let _ = rejected(&b);
    b.reset();
    assert_eq!(b.state(), State::Closed);
    assert!(b.is_available());
    let m = b.metrics();
    assert_eq!(m.state_transitions, 2);
    // Metrics are kept.
    assert_eq!(m.failed_calls, 2);
    assert_eq!(m.rejected_calls, 1);
    assert_eq!(m.consecutive_failures, 0);
    fail(&b);
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn reset_on_a_closed_breaker_clears_the_streak_without_a_transition() {
    let (b, _mock) = breaker(config(3, 1, 1));
    fail(&b);
    fail(&b);
    b.reset();
    let m = b.metrics();
    assert_eq!(m.state, State::Closed);
    assert_eq!(m.consecutive_failures, 0);
    assert_eq!(m.state_transitions, 0);
    assert_eq!(m.last_state_change, None);
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn reset_closes_a_half_open_breaker() {
    let (b, mock) = breaker(config(1, 2, 2));
    trip(&b, 1);
    mock.increment(TIMEOUT);
    succeed(&b);
    assert_eq!(b.state(), State::HalfOpen);
    b.reset();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().state_transitions, 3);
}

#[test]
fn reset_after_the_open_timeout_closes() {
    let (b, mock) = breaker(config(1, 1, 1));
    trip(&b, 1);
    mock.increment(TIMEOUT);
    assert_eq!(b.state(), State::HalfOpen);
    b.reset();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().state_transitions, 2);
    fail(&b);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn force_open_opens_a_closed_breaker_with_a_fresh_timeout() {
    let (b, mock) = breaker(config(5, 1, 1));
    fail(&b);
    b.force_open();
    assert_eq!(b.state(), State::Open);
    let m = b.metrics();
    assert_eq!(m.state_transitions, 1);
    assert_eq!(m.consecutive_failures, 0);
    assert_eq!(rejected(&b).retry_after(), Some(TIMEOUT));
    mock.increment(TIMEOUT);
    assert_eq!(b.state(), State::HalfOpen);
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn force_open_on_an_open_breaker_restarts_the_timeout_only() {
    let (b, mock) = breaker(config(1, 1, 1));
    trip(&b, 1);
    mock.increment(Duration::from_secs(6));
    assert_eq!(rejected(&b).retry_after(), Some(Duration::from_secs(4)));
    b.force_open();
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.metrics().state_transitions, 1);
    assert_eq!(rejected(&b).retry_after(), Some(TIMEOUT));
    mock.increment(Duration::from_secs(4));
    assert_eq!(b.state(), State::Open);
    assert_eq!(rejected(&b).retry_after(), Some(Duration::from_secs(6)));
    mock.increment(Duration::from_secs(6));
    assert_eq!(b.state(), State::HalfOpen);
}

#[test]
fn force_open_after_the_open_timeout_restarts_it() {
    let (b, mock) = breaker(config(1, 1, 1));
    trip(&b, 1);
    mock.increment(TIMEOUT + Duration::from_secs(1));
    assert_eq!(b.state(), State::HalfOpen);
    b.force_open();
    assert_eq!(b.state(), State::Open);
    assert_eq!(rejected(&b).retry_after(), Some(TIMEOUT));
}

#[test]
fn force_open_reopens_a_half_open_breaker() {
    let (b, mock) = breaker(config(1, 2, 2));
    trip(&b, 1);
    mock.increment(TIMEOUT);
    succeed(&b);
    b.force_open();
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.metrics().state_transitions, 3);
    let r = rejected(&b);
    assert_eq!(r.state(), State::Open);
    assert_eq!(r.retry_after(), Some(TIMEOUT));
}

#[test]
fn call_drives_the_same_state_machine() {
    let (b, mock) = breaker(config(2, 1, 1));
    assert_eq!(b.call(|| Ok::<_, ()>(1)).ok(), Some(1));
    assert!(b.call(|| Err::<(), _>("e1")).is_err());
    assert!(b.call(|| Err::<(), _>("e2")).is_err());
    assert_eq!(b.state(), State::Open);
    let mut ran = false;
    let r = b.call(|| {
        ran = true;
        Ok::<_, ()>(())
    });
    assert!(!ran, "f must not run when rejected");
    match r {
        Err(breakerbox::Error::Rejected(r)) => {
            assert_eq!(r.state(), State::Open);
            assert_eq!(r.retry_after(), Some(TIMEOUT));
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    mock.increment(TIMEOUT);
    assert_eq!(b.call(|| Ok::<_, ()>(2)).ok(), Some(2));
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    assert_eq!(m.total_calls, 5);
    assert_eq!(m.successful_calls, 2);
    assert_eq!(m.failed_calls, 2);
    assert_eq!(m.rejected_calls, 1);
    assert_eq!(m.state_transitions, 3);
}

#[test]
fn default_breaker_uses_default_config() {
    let b = CircuitBreaker::new("plain");
    assert_eq!(b.name(), "plain");
    assert_eq!(b.config().failure_threshold(), 5);
    assert_eq!(b.config().timeout(), Duration::from_secs(60));
    for _ in 0..4 {
        fail(&b);
    }
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    let r = rejected(&b);
    assert_eq!(r.name(), "plain");
    assert_eq!(r.state(), State::Open);
}
