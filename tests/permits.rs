//! The guard API: `Permit` / `OwnedPermit` (`record_outcome`, `success`, `failure`, drop =
//! Ignored), an `OwnedPermit` moved to another thread, and how `call` / `call_with`
//! classify results.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use breakerbox::{Error, Outcome, OwnedPermit, State};

mod common;
use common::{config, counts, shared_breaker, TIMEOUT};

fn assert_owned_permit_is_send_sync_static<T: Send + Sync + 'static>() {}

#[test]
fn owned_permit_is_send_sync_and_static() {
    assert_owned_permit_is_send_sync_static::<OwnedPermit>();
}

#[test]
fn permit_outcomes_are_counted() {
    let (b, _mock) = shared_breaker(config(10, 1, 1));
    b.try_acquire().unwrap().record_outcome(Outcome::Success);
    assert_eq!(counts(&b.metrics()), (1, 1, 0, 0, 0));
    b.try_acquire().unwrap().record_outcome(Outcome::Failure);
    assert_eq!(counts(&b.metrics()), (2, 1, 1, 0, 0));
    b.try_acquire().unwrap().record_outcome(Outcome::Ignored);
    assert_eq!(counts(&b.metrics()), (3, 1, 1, 1, 0));
    b.try_acquire().unwrap().success();
    assert_eq!(counts(&b.metrics()), (4, 2, 1, 1, 0));
    b.try_acquire().unwrap().failure();
    assert_eq!(counts(&b.metrics()), (5, 2, 2, 1, 0));
    drop(b.try_acquire().unwrap());
    assert_eq!(counts(&b.metrics()), (6, 2, 2, 2, 0));
    assert_eq!(b.metrics().consecutive_failures, 1);
}

#[test]
fn owned_permit_outcomes_are_counted() {
    let (b, _mock) = shared_breaker(config(10, 1, 1));
    b.try_acquire_owned()
        .unwrap()
        .record_outcome(Outcome::Success);
    b.try_acquire_owned()
        .unwrap()
        .record_outcome(Outcome::Failure);
    b.try_acquire_owned()
        .unwrap()
        .record_outcome(Outcome::Ignored);
    b.try_acquire_owned().unwrap().success();
    b.try_acquire_owned().unwrap().failure();
    drop(b.try_acquire_owned().unwrap());
    assert_eq!(counts(&b.metrics()), (6, 2, 2, 2, 0));
}

#[test]
fn success_and_failure_drive_transitions_like_record_outcome() {
    let (b, mock) = shared_breaker(config(2, 2, 2));
    b.try_acquire().unwrap().failure();
    b.try_acquire_owned()
        .unwrap()
        .record_outcome(Outcome::Failure);
    assert_eq!(b.state(), State::Open);
    mock.increment(TIMEOUT);
    b.try_acquire_owned().unwrap().success();
    assert_eq!(b.state(), State::HalfOpen);
    b.try_acquire().unwrap().record_outcome(Outcome::Success);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn an_owned_permit_moves_to_another_thread() {
    let (b, mock) = shared_breaker(config(1, 1, 1));
    let permit = b.try_acquire_owned().expect("closed");
    thread::spawn(move || permit.failure())
        .join()
        .expect("worker");
    assert_eq!(b.state(), State::Open);

    mock.increment(TIMEOUT);
    let probe = b.try_acquire_owned().expect("probe");
    assert!(b.try_acquire_owned().is_err());
    thread::spawn(move || probe.success())
        .join()
        .expect("worker");
    assert_eq!(b.state(), State::Closed);
    assert_eq!(counts(&b.metrics()), (3, 1, 1, 0, 1));
}

#[test]
fn an_owned_permit_dropped_on_another_thread_is_ignored_and_frees_its_slot() {
    let (b, mock) = shared_breaker(config(1, 1, 1));
    b.force_open();
    mock.increment(TIMEOUT);
    let probe = b.try_acquire_owned().expect("probe");
    assert!(!b.is_available());
    thread::spawn(move || drop(probe)).join().expect("worker");
    assert!(b.is_available());
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.metrics().ignored_calls, 1);
}

#[test]
fn an_owned_permit_keeps_the_breaker_alive() {
    let (b, _mock) = shared_breaker(config(1, 1, 1));
    let permit = b.try_acquire_owned().expect("closed");
    assert!(Arc::ptr_eq(permit.breaker(), &b));
    assert_eq!(Arc::strong_count(&b), 2);
    let weak = Arc::downgrade(&b);
    drop(b);
    let b = weak.upgrade().expect("the permit holds the breaker");
    permit.failure();
    assert_eq!(b.state(), State::Open);
    drop(b);
    assert!(
        weak.upgrade().is_none(),
        "the recorded permit released the breaker"
    );
}

#[test]
fn owned_permit_rejections_carry_state_and_retry_after() {
    let (b, mock) = shared_breaker(config(1, 1, 1));
    b.force_open();
    mock.increment(Duration::from_secs(1));
    let Err(r) = b.try_acquire_owned() else {
        panic!("expected a rejection while open");
    };
    assert_eq!(r.state(), State::Open);
    assert_eq!(r.retry_after(), Some(Duration::from_secs(9)));
    assert_eq!(r.name(), "test");
    assert_eq!(b.metrics().rejected_calls, 1);
}

#[test]
fn many_owned_permits_across_threads() {
    let (b, _mock) = shared_breaker(config(1000, 1, 1));
    let permits: Vec<OwnedPermit> = (0..64).map(|_| b.try_acquire_owned().unwrap()).collect();
    let handles: Vec<_> = permits
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            thread::spawn(move || match i % 3 {
                0 => p.success(),
                1 => p.failure(),
                _ => drop(p),
            })
        })
        .collect();
    for h in handles {
        h.join().expect("worker");
    }
    let succ = (0..64).filter(|i| i % 3 == 0).count() as u64;
    let fail = (0..64).filter(|i| i % 3 == 1).count() as u64;
    let ign = 64 - succ - fail;
    assert_eq!(counts(&b.metrics()), (64, succ, fail, ign, 0));
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn call_counts_every_err_as_a_failure() {
    let (b, _mock) = shared_breaker(config(3, 1, 1));
    assert_eq!(b.call(|| Ok::<_, String>(1)).unwrap(), 1);
    match b.call(|| Err::<(), _>(String::from("not found"))) {
        Err(Error::Inner(e)) => assert_eq!(e, "not found"),
        other => panic!("expected the inner error, got {other:?}"),
    }
    let m = b.metrics();
    assert_eq!(counts(&m), (2, 1, 1, 0, 0));
    assert_eq!(m.consecutive_failures, 1);
}

#[test]
fn call_with_counts_a_non_failure_err_as_a_success() {
    let (b, _mock) = shared_breaker(config(2, 1, 1));
    let is_failure = |e: &u16| *e >= 500;
    b.call_with(is_failure, || Err::<(), u16>(503)).unwrap_err();
    assert_eq!(b.metrics().consecutive_failures, 1);
    match b.call_with(is_failure, || Err::<(), u16>(404)) {
        Err(Error::Inner(404)) => {}
        other => panic!("expected the inner 404, got {other:?}"),
    }
    let m = b.metrics();
    assert_eq!(counts(&m), (2, 1, 1, 0, 0));
    // The 404 counted as a success: it cleared the streak.
    assert_eq!(m.consecutive_failures, 0);
    b.call_with(is_failure, || Err::<(), u16>(500)).unwrap_err();
    assert_eq!(b.state(), State::Closed);
    b.call_with(is_failure, || Err::<(), u16>(502)).unwrap_err();
    assert_eq!(b.state(), State::Open);
}

#[test]
fn call_with_does_not_consult_the_predicate_on_ok() {
    let (b, _mock) = shared_breaker(config(2, 1, 1));
    let mut consulted = false;
    let r = b.call_with(
        |_: &()| {
            consulted = true;
            true
        },
        || Ok(9),
    );
    assert_eq!(r.unwrap(), 9);
    assert!(!consulted);
    assert_eq!(b.metrics().successful_calls, 1);
}

#[test]
fn call_with_non_failure_errors_close_a_half_open_breaker() {
    let (b, mock) = shared_breaker(config(1, 2, 2));
    b.force_open();
    mock.increment(TIMEOUT);
    let is_failure = |e: &&str| *e == "down";
    assert!(b
        .call_with(is_failure, || Err::<(), _>("bad request"))
        .is_err());
    assert_eq!(b.state(), State::HalfOpen);
    assert!(b
        .call_with(is_failure, || Err::<(), _>("bad request"))
        .is_err());
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().successful_calls, 2);
}

#[test]
fn call_with_rejection_skips_both_closures() {
    let (b, _mock) = shared_breaker(config(1, 1, 1));
    b.force_open();
    let (mut ran, mut consulted) = (false, false);
    let r = b.call_with(
        |_: &()| {
            consulted = true;
            true
        },
        || {
            ran = true;
            Err::<(), ()>(())
        },
    );
    assert!(matches!(r, Err(Error::Rejected(_))));
    assert!(!ran && !consulted);
    assert_eq!(counts(&b.metrics()), (1, 0, 0, 0, 1));
}
