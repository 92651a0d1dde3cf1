//! `call_future`: admission on the first poll (not on creation), the outcome on
//! completion, Ignored when dropped before completion (freeing a half-open slot) and
//! Failure when the inner future panics. Polls are driven by hand with a no-op waker, or
//! by `futures::executor::block_on`.

use std::cell::Cell;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use breakerbox::{Error, State};
use futures::executor::block_on;
use futures::future::poll_fn;

mod common;
use common::{assert_balanced, breaker, config, poll_once, TIMEOUT};

/// A future that is pending `pendings` times (waking itself each time), then yields
/// `out`; `polls` counts how often it was polled.
fn pending_then<T>(pendings: usize, out: T, polls: Rc<Cell<usize>>) -> impl Future<Output = T> {
    let mut left = pendings;
    let mut out = Some(out);
    poll_fn(move |cx| {
        polls.set(polls.get() + 1);
        if left == 0 {
            Poll::Ready(out.take().expect("polled after completion"))
        } else {
            left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}

#[test]
fn admission_happens_on_the_first_poll_not_on_creation() {
    let (b, _mock) = breaker(config(3, 1, 1));
    let polls = Rc::new(Cell::new(0));
    let fut = b.call_future(pending_then(1, Ok::<_, ()>(5), Rc::clone(&polls)));
    assert_eq!(b.metrics().total_calls, 0);
    let mut fut = Box::pin(fut);
    assert!(poll_once(fut.as_mut()).is_pending());
    assert_eq!(polls.get(), 1);
    let m = b.metrics();
    assert_eq!(m.total_calls, 1);
    assert_eq!(m.successful_calls, 0);
    match poll_once(fut.as_mut()) {
        Poll::Ready(Ok(5)) => {}
        other => panic!("expected Ready(Ok(5)), got {other:?}"),
    }
    let m = b.metrics();
    assert_eq!(m.total_calls, 1);
    assert_eq!(m.successful_calls, 1);
    assert_balanced(&m);
}

#[test]
fn a_future_created_while_closed_is_rejected_if_open_when_polled() {
    let (b, mock) = breaker(config(3, 1, 1));
    let polls = Rc::new(Cell::new(0));
    let fut = b.call_future(pending_then(0, Ok::<_, ()>(()), Rc::clone(&polls)));
    b.force_open();
    mock.increment(Duration::from_secs(4));
    match block_on(fut) {
        Err(Error::Rejected(r)) => {
            assert_eq!(r.state(), State::Open);
            assert_eq!(r.retry_after(), Some(Duration::from_secs(6)));
            assert_eq!(r.name(), "test");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(
        polls.get(),
        0,
        "a rejected call must not poll the inner future"
    );
    let m = b.metrics();
    assert_eq!(m.rejected_calls, 1);
    assert_eq!(m.total_calls, 1);
}

#[test]
fn a_future_created_while_open_is_admitted_if_closed_when_polled() {
    let (b, _mock) = breaker(config(3, 1, 1));
    b.force_open();
    let fut = b.call_future(async { Ok::<_, ()>(1) });
    b.reset();
    assert_eq!(block_on(fut).ok(), Some(1));
    assert_eq!(b.metrics().successful_calls, 1);
}

#[test]
fn the_outcome_is_recorded_on_completion() {
    let (b, _mock) = breaker(config(2, 1, 1));
    let polls = Rc::new(Cell::new(0));
    let mut fut = Box::pin(b.call_future(pending_then(3, Err::<(), _>("down"), Rc::clone(&polls))));
    for _ in 0..3 {
        assert!(poll_once(fut.as_mut()).is_pending());
        let m = b.metrics();
        assert_eq!((m.total_calls, m.failed_calls), (1, 0));
    }
    match poll_once(fut.as_mut()) {
        Poll::Ready(Err(Error::Inner("down"))) => {}
        other => panic!("expected the inner error, got {other:?}"),
    }
    drop(fut);
    assert_eq!(polls.get(), 4);
    let m = b.metrics();
    assert_eq!(m.failed_calls, 1);
    assert_eq!(m.ignored_calls, 0);
    assert_eq!(m.consecutive_failures, 1);
    assert_balanced(&m);

    assert!(block_on(b.call_future(async { Err::<(), _>("down") })).is_err());
    assert_eq!(b.state(), State::Open);
}

#[test]
fn block_on_returns_the_value() {
    let (b, _mock) = breaker(config(2, 1, 1));
    let polls = Rc::new(Cell::new(0));
    let out = block_on(b.call_future(pending_then(5, Ok::<_, ()>("v"), Rc::clone(&polls))));
    assert_eq!(out.ok(), Some("v"));
    assert_eq!(polls.get(), 6);
    assert_eq!(b.metrics().successful_calls, 1);
}

#[test]
fn a_pending_probe_holds_its_half_open_slot() {
    let (b, mock) = breaker(config(1, 1, 1));
    b.force_open();
    mock.increment(TIMEOUT);
    let polls = Rc::new(Cell::new(0));
    let mut fut = Box::pin(b.call_future(pending_then(1, Ok::<_, ()>(()), Rc::clone(&polls))));
    assert!(b.is_available());
    assert!(poll_once(fut.as_mut()).is_pending());
    assert_eq!(b.state(), State::HalfOpen);
    assert!(!b.is_available());
    match b.try_acquire() {
        Err(r) => {
            assert_eq!(r.state(), State::HalfOpen);
            assert_eq!(r.retry_after(), None);
        }
        Ok(_) => panic!("the pending probe must hold the only slot"),
    }
    assert!(poll_once(fut.as_mut()).is_ready());
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn dropped_before_completion_is_ignored_and_frees_the_slot() {
    let (b, mock) = breaker(config(1, 1, 1));
    b.force_open();
    mock.increment(TIMEOUT);
    let polls = Rc::new(Cell::new(0));
    let mut fut = Box::pin(b.call_future(pending_then(2, Ok::<_, ()>(()), Rc::clone(&polls))));
    assert!(poll_once(fut.as_mut()).is_pending());
    assert!(!b.is_available());
    drop(fut);
    let m = b.metrics();
    assert_eq!(m.ignored_calls, 1);
    assert_eq!(m.successful_calls, 0);
    assert_balanced(&m);
    // Ignored: the slot is free and nothing was counted towards closing.
    assert_eq!(b.state(), State::HalfOpen);
    assert!(b.is_available());
    assert_eq!(
        block_on(b.call_future(async { Ok::<_, ()>(()) })).ok(),
        Some(())
    );
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn dropped_at_every_await_point() {
    const PENDINGS: usize = 4;
    for polled in 0..=PENDINGS + 1 {
        let (b, _mock) = breaker(config(3, 1, 1));
        let polls = Rc::new(Cell::new(0));
        let mut fut =
            Box::pin(b.call_future(pending_then(PENDINGS, Ok::<_, ()>(()), Rc::clone(&polls))));
        let mut done = false;
        for _ in 0..polled {
            done = poll_once(fut.as_mut()).is_ready();
        }
        drop(fut);
        assert_eq!(polls.get(), polled);
        let m = b.metrics();
        assert_balanced(&m);
        match polled {
            0 => {
                assert_eq!(m.total_calls, 0, "never polled: never admitted");
            }
            n if n <= PENDINGS => {
                assert!(!done);
                assert_eq!(
                    (m.total_calls, m.ignored_calls, m.successful_calls),
                    (1, 1, 0)
                );
            }
            _ => {
                assert!(done);
                assert_eq!(
                    (m.total_calls, m.ignored_calls, m.successful_calls),
                    (1, 0, 1)
                );
            }
        }
    }
}

#[test]
fn an_async_block_dropped_at_each_await() {
    // The same with real `.await`s inside an async block.
    for stop_after in 1..=3usize {
        let (b, _mock) = breaker(config(3, 1, 1));
        let polls = Rc::new(Cell::new(0));
        let inner = {
            let polls = Rc::clone(&polls);
            async move {
                pending_then(1, (), Rc::clone(&polls)).await;
                pending_then(1, (), Rc::clone(&polls)).await;
                pending_then(1, (), Rc::clone(&polls)).await;
                Ok::<_, ()>(())
            }
        };
        let mut fut = Box::pin(b.call_future(inner));
        for _ in 0..stop_after {
            assert!(poll_once(fut.as_mut()).is_pending());
        }
        drop(fut);
        let m = b.metrics();
        assert_eq!(m.ignored_calls, 1, "dropped at await {stop_after}");
        assert_eq!(m.successful_calls, 0);
        assert_balanced(&m);
    }
}

#[test]
fn a_panic_inside_poll_is_a_failure() {
    let (b, _mock) = breaker(config(1, 1, 1));
    let polls = Rc::new(Cell::new(0));
    let inner = {
        let polls = Rc::clone(&polls);
        async move {
            pending_then(1, (), Rc::clone(&polls)).await;
            if polls.get() > 0 {
                panic!("inner future panics");
            }
            Ok::<(), ()>(())
        }
    };
    let caught = panic::catch_unwind(AssertUnwindSafe(|| block_on(b.call_future(inner))));
    assert!(caught.is_err());
    assert_eq!(polls.get(), 2);
    let m = b.metrics();
    assert_eq!(m.failed_calls, 1);
    assert_eq!(m.ignored_calls, 0);
    assert_balanced(&m);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn a_panic_on_the_first_poll_is_a_failure() {
    let (b, _mock) = breaker(config(2, 1, 1));
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        block_on(b.call_future(poll_fn(|_| -> Poll<Result<(), ()>> {
            panic!("first poll panics")
        })))
    }));
    assert!(caught.is_err());
    let m = b.metrics();
    assert_eq!((m.total_calls, m.failed_calls), (1, 1));
    assert_eq!(m.consecutive_failures, 1);
}

#[test]
fn futures_of_a_shared_breaker_run_on_other_threads() {
    let (b, _mock) = breaker(config(3, 1, 1));
    let b = Arc::new(b);
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let b = Arc::clone(&b);
            std::thread::spawn(move || block_on(b.call_future(async move { Ok::<_, ()>(i) })))
        })
        .collect();
    let mut got: Vec<i32> = handles
        .into_iter()
        .map(|h| h.join().expect("worker").expect("admitted"))
        .collect();
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2]);
    assert_eq!(b.metrics().successful_calls, 3);
}

#[test]
fn call_future_with_classifies_like_call_with() {
    let (b, _mock) = breaker(config(2, 1, 1));
    let is_failure = |e: &u16| *e >= 500;
    let polls = Rc::new(Cell::new(0));
    let mut fut = Box::pin(b.call_future_with(
        is_failure,
        pending_then(1, Err::<(), u16>(404), Rc::clone(&polls)),
    ));
    assert_eq!(
        b.metrics().total_calls,
        0,
        "not admitted before the first poll"
    );
    assert!(poll_once(fut.as_mut()).is_pending());
    match poll_once(fut.as_mut()) {
        Poll::Ready(Err(Error::Inner(404))) => {}
        other => panic!("expected the inner 404, got {other:?}"),
    }
    drop(fut);
    let m = b.metrics();
    assert_eq!((m.successful_calls, m.failed_calls), (1, 0));
    assert!(block_on(b.call_future_with(is_failure, async { Err::<(), u16>(503) })).is_err());
    assert!(block_on(b.call_future_with(is_failure, async { Err::<(), u16>(502) })).is_err());
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.metrics().failed_calls, 2);
}

#[test]
fn a_panic_in_the_inner_poll_is_a_failure_even_when_dropped_later() {
    // What tokio does: it catches the panic of a task's poll and drops the future afterwards,
    // when the thread is no longer panicking.
    let (b, _mock) = breaker(config(1, 1, 1));
    let mut fut = Box::pin(b.call_future(async {
        panic!("inner poll");
        #[allow(unreachable_code)]
        Ok::<(), ()>(())
    }));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = poll_once(fut.as_mut());
    }));
    assert!(caught.is_err());
    drop(fut);
    let m = b.metrics();
    assert_eq!((m.failed_calls, m.ignored_calls), (1, 0));
    assert_eq!(b.state(), State::Open);
}
