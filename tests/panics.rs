//! Panics (API.md, Semantics 6 and 8, and the drop rule of `Permit`): a panic inside
//! `call` / `call_with` records a failure and keeps unwinding, nothing is poisoned, a
//! permit dropped during unwinding is a failure, and a panicking listener is caught.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use breakerbox::{Error, State};

mod common;
use common::{assert_balanced, config, recorder, shared_breaker, TIMEOUT};

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        String::from("<non-string payload>")
    }
}

#[test]
fn a_panic_in_call_records_a_failure_and_resumes_unwinding() {
    let (b, _mock) = shared_breaker(config(3, 1, 1));
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        let _ = b.call(|| -> Result<(), ()> { panic!("boom in call") });
    }));
    let payload = caught.expect_err("the panic must reach the caller");
    assert_eq!(panic_message(&*payload), "boom in call");
    let m = b.metrics();
    assert_eq!(m.total_calls, 1);
    assert_eq!(m.failed_calls, 1);
    assert_eq!(m.consecutive_failures, 1);
    assert!(m.last_failure_time.is_some());
    assert_balanced(&m);
}

#[test]
fn a_panic_in_call_with_records_a_failure_whatever_the_predicate() {
    let (b, _mock) = shared_breaker(config(3, 1, 1));
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        let _ = b.call_with(|_: &()| false, || -> Result<(), ()> { panic!("boom") });
    }));
    assert!(caught.is_err());
    let m = b.metrics();
    assert_eq!(m.failed_calls, 1);
    assert_eq!(m.successful_calls, 0);
    assert_eq!(m.consecutive_failures, 1);
    assert_balanced(&m);
}

#[test]
fn panics_open_the_breaker_and_it_stays_usable() {
    let (b, mock) = shared_breaker(config(2, 1, 1));
    for _ in 0..2 {
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            let _ = b.call(|| -> Result<(), ()> { panic!("boom") });
        }));
        assert!(caught.is_err());
    }
    assert_eq!(b.state(), State::Open);
    match b.call(|| Ok::<_, ()>(())) {
        Err(Error::Rejected(r)) => assert_eq!(r.retry_after(), Some(TIMEOUT)),
        other => panic!("expected a rejection, got {other:?}"),
    }
    mock.increment(TIMEOUT);
    assert_eq!(b.call(|| Ok::<_, ()>(7)).ok(), Some(7));
    assert_eq!(b.state(), State::Closed);
    b.reset();
    b.force_open();
    b.reset();
    b.on_state_change(|_| {});
    assert_eq!(b.call(|| Ok::<_, ()>(8)).ok(), Some(8));
    let m = b.metrics();
    assert_eq!(m.failed_calls, 2);
    assert_eq!(m.successful_calls, 2);
    assert_eq!(m.rejected_calls, 1);
    assert_balanced(&m);
}

#[test]
fn a_panicking_probe_reopens_and_frees_its_slot() {
    let (b, mock) = shared_breaker(config(1, 1, 1));
    b.force_open();
    mock.increment(TIMEOUT);
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        let _ = b.call(|| -> Result<(), ()> { panic!("probe panics") });
    }));
    assert!(caught.is_err());
    assert_eq!(b.state(), State::Open);
    mock.increment(TIMEOUT);
    assert!(b.is_available());
    assert_eq!(b.call(|| Ok::<_, ()>(())).ok(), Some(()));
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_panic_on_another_thread_poisons_nothing() {
    let (b, _mock) = shared_breaker(config(5, 1, 1));
    let b2 = Arc::clone(&b);
    let joined = std::thread::spawn(move || {
        let _ = b2.call(|| -> Result<(), ()> { panic!("worker panics") });
    })
    .join();
    assert!(joined.is_err());
    let m = b.metrics();
    assert_eq!(m.failed_calls, 1);
    assert_eq!(b.call(|| Ok::<_, ()>(())).ok(), Some(()));
    assert_eq!(b.metrics().consecutive_failures, 0);
}

#[test]
fn a_permit_dropped_while_panicking_is_a_failure() {
    let (b, _mock) = shared_breaker(config(3, 1, 1));
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        let _permit = b.try_acquire().expect("closed");
        panic!("boom while holding a permit");
    }));
    assert!(caught.is_err());
    let m = b.metrics();
    assert_eq!(m.failed_calls, 1);
    assert_eq!(m.ignored_calls, 0);
    assert_eq!(m.consecutive_failures, 1);
    assert_balanced(&m);
}

#[test]
fn an_owned_permit_dropped_while_panicking_is_a_failure() {
    let (b, _mock) = shared_breaker(config(1, 1, 1));
    let permit = b.try_acquire_owned().expect("closed");
    let joined = std::thread::spawn(move || {
        let _permit = permit;
        panic!("boom on another thread");
    })
    .join();
    assert!(joined.is_err());
    assert_eq!(b.state(), State::Open);
    let m = b.metrics();
    assert_eq!(m.failed_calls, 1);
    assert_balanced(&m);
}

#[test]
fn a_permit_dropped_after_a_caught_panic_is_ignored() {
    // The drop rule looks at the thread's state at drop time, not at earlier panics.
    let (b, _mock) = shared_breaker(config(3, 1, 1));
    let permit = b.try_acquire().expect("closed");
    let caught = panic::catch_unwind(|| panic!("unrelated"));
    assert!(caught.is_err());
    drop(permit);
    let m = b.metrics();
    assert_eq!(m.ignored_calls, 1);
    assert_eq!(m.failed_calls, 0);
}

#[test]
fn a_panicking_listener_is_caught_and_later_listeners_run() {
    let (b, mock) = shared_breaker(config(1, 1, 1));
    b.on_state_change(|_| panic!("listener panics"));
    let seen = recorder(&b);

    // The transition to Open happens inside `call`; the caller sees only its own error.
    let r = b.call(|| Err::<(), _>("down"));
    assert!(matches!(r, Err(Error::Inner("down"))));
    assert_eq!(b.state(), State::Open);

    mock.increment(TIMEOUT);
    b.try_acquire().expect("probe").success();
    assert_eq!(b.state(), State::Closed);
    b.force_open();
    b.reset();

    let seen = seen.lock().unwrap();
    let pairs: Vec<(State, State)> = seen.iter().map(|c| (c.from, c.to)).collect();
    assert_eq!(
        pairs,
        [
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed),
            (State::Closed, State::Open),
            (State::Open, State::Closed),
        ]
    );
    assert!(seen.iter().all(|c| c.name == "test"));
    let m = b.metrics();
    assert_eq!(m.state_transitions, 5);
    assert_balanced(&m);
}

#[test]
fn a_panicking_listener_does_not_poison_the_breaker() {
    let (b, _mock) = shared_breaker(config(1, 1, 1));
    let calls = Arc::new(Mutex::new(0u32));
    b.on_state_change(|c| {
        if c.to == State::Open {
            panic!("only on open");
        }
    });
    let count = Arc::clone(&calls);
    b.on_state_change(move |_| *count.lock().unwrap() += 1);
    for _ in 0..3 {
        b.try_acquire().expect("closed").failure();
        assert_eq!(b.state(), State::Open);
        b.reset();
        assert_eq!(b.state(), State::Closed);
    }
    assert_eq!(*calls.lock().unwrap(), 6);
    // Registration still works after listener panics.
    let late = Arc::new(Mutex::new(0u32));
    let count = Arc::clone(&late);
    b.on_state_change(move |_| *count.lock().unwrap() += 1);
    b.force_open();
    assert_eq!(*late.lock().unwrap(), 1);
    assert_eq!(*calls.lock().unwrap(), 7);
}
