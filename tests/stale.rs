//! Stale outcomes (API.md, Semantics 5): a permit acquired before a transition (including
//! `reset` / `force_open`, even when the state does not change) only updates the metrics
//! counters when its outcome arrives; it never drives the state machine and never frees or
//! takes a slot of the current half-open period.

use std::sync::Arc;
use std::time::Duration;

use breakerbox::{Outcome, State};

mod common;
use common::{
    assert_balanced, breaker, config, fail, rejected, succeed, HALF_OPEN_TIMEOUT, TIMEOUT,
};

#[test]
fn closed_permits_recorded_while_open_only_count() {
    let (b, mock) = breaker(config(2, 1, 1));
    let late_success = b.try_acquire().expect("closed");
    let late_failure = b.try_acquire().expect("closed");
    let late_ignored = b.try_acquire().expect("closed");
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    mock.increment(Duration::from_secs(4));

    late_success.success();
    late_failure.failure();
    late_ignored.record_outcome(Outcome::Ignored);

    assert_eq!(b.state(), State::Open);
    let m = b.metrics();
    assert_eq!(m.state_transitions, 1);
    assert_eq!(m.successful_calls, 1);
    assert_eq!(m.failed_calls, 3);
    assert_eq!(m.ignored_calls, 1);
    assert_eq!(m.consecutive_failures, 0);
    assert_balanced(&m);
    // The stale failure did not restart the open timeout.
    assert_eq!(rejected(&b).retry_after(), Some(Duration::from_secs(6)));
}

#[test]
fn closed_permits_recorded_in_half_open_neither_count_nor_free_slots() {
    let (b, mock) = breaker(config(1, 1, 1));
    let old_a = b.try_acquire().expect("closed");
    let old_b = b.try_acquire().expect("closed");
    let old_c = b.try_acquire().expect("closed");
    fail(&b);
    mock.increment(TIMEOUT);
    let probe = b.try_acquire().expect("probe");
    assert!(!b.is_available());

    old_a.success(); // success threshold 1: would close if it counted
    assert_eq!(b.state(), State::HalfOpen);
    assert!(!b.is_available(), "a stale success freed a slot");
    old_b.record_outcome(Outcome::Ignored);
    assert!(!b.is_available(), "a stale Ignored freed a slot");
    let r = rejected(&b);
    assert_eq!(r.state(), State::HalfOpen);
    old_c.failure(); // would reopen if it counted
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.metrics().state_transitions, 2);

    probe.success();
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    assert_eq!(m.state_transitions, 3);
    assert_eq!(m.successful_calls, 2);
    assert_eq!(m.failed_calls, 2);
    assert_eq!(m.ignored_calls, 1);
    assert_eq!(m.rejected_calls, 1);
    assert_balanced(&m);
}

#[test]
fn probes_of_an_earlier_half_open_period_are_stale() {
    let (b, mock) = breaker(config(1, 2, 2));
    fail(&b);
    mock.increment(TIMEOUT);
    let old = b.try_acquire().expect("probe of period 1");
    fail(&b); // reopens
    mock.increment(TIMEOUT);

    let p1 = b.try_acquire().expect("probe 1 of period 2");
    let p2 = b.try_acquire().expect("probe 2 of period 2");
    assert!(!b.is_available());
    old.success();
    // Neither freed a slot of period 2 nor counted towards its threshold.
    assert!(!b.is_available());
    assert_eq!(rejected(&b).state(), State::HalfOpen);
    p1.success();
    assert_eq!(b.state(), State::HalfOpen);
    p2.success();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_stale_failure_does_not_reopen_a_later_half_open_period() {
    let (b, mock) = breaker(config(1, 1, 1));
    fail(&b);
    mock.increment(TIMEOUT);
    let p1 = b.try_acquire().expect("probe of period 1");
    mock.increment(HALF_OPEN_TIMEOUT);
    let _ = rejected(&b); // period 1 expired: moved to Open
    mock.increment(TIMEOUT);
    let p2 = b.try_acquire().expect("probe of period 2");
    p1.failure();
    assert_eq!(b.state(), State::HalfOpen);
    p2.success();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn reset_on_a_closed_breaker_starts_a_new_generation() {
    let (b, _mock) = breaker(config(2, 1, 1));
    let old = b.try_acquire().expect("closed");
    b.reset();
    assert_eq!(b.metrics().state_transitions, 0);
    old.failure();
    let m = b.metrics();
    assert_eq!(m.consecutive_failures, 0);
    assert_eq!(m.failed_calls, 1);
    fail(&b);
    // Counting the stale failure would have opened it (threshold 2).
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().consecutive_failures, 1);
}

#[test]
fn a_stale_success_does_not_clear_the_current_streak() {
    let (b, _mock) = breaker(config(3, 1, 1));
    let old = b.try_acquire().expect("closed");
    b.reset();
    fail(&b);
    fail(&b);
    old.success();
    assert_eq!(b.metrics().consecutive_failures, 2);
    fail(&b);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn reset_from_half_open_makes_its_probes_stale() {
    let (b, mock) = breaker(config(1, 2, 2));
    fail(&b);
    mock.increment(TIMEOUT);
    let probe = b.try_acquire().expect("probe");
    b.reset();
    assert_eq!(b.state(), State::Closed);
    probe.failure(); // failure threshold 1: would open if it counted
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().consecutive_failures, 0);
}

#[test]
fn force_open_makes_outstanding_permits_stale() {
    let (b, mock) = breaker(config(1, 1, 1));
    let old = b.try_acquire().expect("closed");
    b.force_open();
    mock.increment(TIMEOUT);
    let probe = b.try_acquire().expect("probe");
    old.success();
    assert_eq!(b.state(), State::HalfOpen);
    assert!(!b.is_available());
    probe.failure();
    assert_eq!(b.state(), State::Open);
}

#[test]
fn force_open_from_half_open_makes_its_probes_stale() {
    let (b, mock) = breaker(config(1, 1, 1));
    fail(&b);
    mock.increment(TIMEOUT);
    let old = b.try_acquire().expect("probe of period 1");
    b.force_open();
    mock.increment(TIMEOUT);
    let probe = b.try_acquire().expect("probe of period 2");
    old.success();
    assert_eq!(b.state(), State::HalfOpen);
    assert!(!b.is_available());
    probe.success();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn permits_from_before_a_whole_cycle_are_stale_in_the_new_closed_period() {
    let (b, mock) = breaker(config(2, 1, 1));
    let old_1 = b.try_acquire().expect("closed");
    let old_2 = b.try_acquire().expect("closed");
    fail(&b);
    fail(&b);
    mock.increment(TIMEOUT);
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
    old_1.failure();
    old_2.failure();
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    assert_eq!(m.consecutive_failures, 0);
    assert_eq!(m.failed_calls, 4);
    assert_eq!(m.state_transitions, 3);
    assert_balanced(&m);
}

#[test]
fn stale_owned_permits_behave_the_same() {
    let (b, mock) = breaker(config(1, 1, 1));
    let b = Arc::new(b);
    let old = b.try_acquire_owned().expect("closed");
    fail(&b);
    mock.increment(TIMEOUT);
    let probe = b.try_acquire_owned().expect("probe");
    drop(old); // Ignored, stale: must not free the probe's slot
    assert!(!b.is_available());
    probe.success();
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    assert_eq!(m.ignored_calls, 1);
    assert_balanced(&m);
}
