//! State-change listeners (API.md, Semantics 2, 7 and 8): once per transition, in
//! registration order, after the transition is published, on the thread that made it,
//! holding no lock of the breaker; `reset` / `force_open` notify only on a real change.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::Duration;

use breakerbox::{CircuitBreaker, State};

mod common;
use common::{config, recorder, shared_breaker_named, Log, HALF_OPEN_TIMEOUT, TIMEOUT};

/// Only a guard against a deadlock hanging the test run; never a timing assertion.
const DEADLOCK_GUARD: Duration = Duration::from_secs(60);

fn events(log: &Log) -> Vec<(State, State)> {
    let log = log.lock().unwrap();
    assert!(log.iter().all(|c| c.name == "svc"), "wrong name in {log:?}");
    log.iter().map(|c| (c.from, c.to)).collect()
}

/// Runs `f` on its own thread and fails the test if it has not finished within a
/// generous guard period (a deadlock would otherwise hang the whole run).
fn without_deadlock(f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(DEADLOCK_GUARD) {
        Ok(()) => worker.join().expect("worker"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            worker.join().expect("worker panicked");
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("deadlock: a listener call never returned"),
    }
}

use State::{Closed, HalfOpen, Open};

#[test]
fn once_per_transition_through_a_full_cycle() {
    let (b, mock) = shared_breaker_named("svc", config(2, 2, 2));
    let log = recorder(&b);
    b.try_acquire().unwrap().failure();
    assert_eq!(events(&log), []);
    b.try_acquire().unwrap().failure();
    assert_eq!(events(&log), [(Closed, Open)]);
    let _ = b.try_acquire().map(|p| p.success());
    mock.increment(TIMEOUT);
    // Queries are not transitions: no notification for the effective half-open.
    assert_eq!(b.state(), HalfOpen);
    assert!(b.is_available());
    let _ = b.metrics();
    assert_eq!(events(&log), [(Closed, Open)]);
    let p1 = b.try_acquire().unwrap();
    assert_eq!(events(&log), [(Closed, Open), (Open, HalfOpen)]);
    let p2 = b.try_acquire().unwrap();
    p1.success();
    assert_eq!(events(&log).len(), 2);
    p2.success();
    assert_eq!(
        events(&log),
        [(Closed, Open), (Open, HalfOpen), (HalfOpen, Closed)]
    );
    assert_eq!(b.metrics().state_transitions, 3);
}

#[test]
fn half_open_timeout_notifies_at_the_next_call() {
    let (b, mock) = shared_breaker_named("svc", config(1, 1, 1));
    let log = recorder(&b);
    b.try_acquire().unwrap().failure();
    mock.increment(TIMEOUT);
    let probe = b.try_acquire().unwrap();
    mock.increment(HALF_OPEN_TIMEOUT);
    assert_eq!(b.state(), Open);
    assert_eq!(events(&log), [(Closed, Open), (Open, HalfOpen)]);
    assert!(b.try_acquire().is_err());
    assert_eq!(
        events(&log),
        [(Closed, Open), (Open, HalfOpen), (HalfOpen, Open)]
    );
    probe.success(); // stale: no notification
    assert!(b.try_acquire().is_err());
    assert_eq!(events(&log).len(), 3);
}

#[test]
fn a_failure_in_half_open_notifies_once() {
    let (b, mock) = shared_breaker_named("svc", config(1, 2, 2));
    let log = recorder(&b);
    b.try_acquire().unwrap().failure();
    mock.increment(TIMEOUT);
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    p1.failure();
    p2.failure(); // stale after the reopen
    assert_eq!(
        events(&log),
        [(Closed, Open), (Open, HalfOpen), (HalfOpen, Open)]
    );
}

#[test]
fn listeners_run_in_registration_order() {
    let (b, _mock) = shared_breaker_named("svc", config(1, 1, 1));
    let order: Arc<Mutex<Vec<usize>>> = Arc::default();
    for i in 0..5 {
        let order = Arc::clone(&order);
        b.on_state_change(move |_| order.lock().unwrap().push(i));
    }
    b.force_open();
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
    b.reset();
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
}

#[test]
fn a_listener_sees_the_new_state_and_counts() {
    let (b, mock) = shared_breaker_named("svc", config(1, 1, 1));
    /// (the event's `to`, `state()` inside, `metrics().state` inside, transitions inside)
    type Seen = (State, State, State, u64);
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let weak: Weak<CircuitBreaker> = Arc::downgrade(&b);
    let sink = Arc::clone(&seen);
    b.on_state_change(move |c| {
        let b = weak.upgrade().expect("breaker alive");
        let m = b.metrics();
        sink.lock()
            .unwrap()
            .push((c.to, b.state(), m.state, m.state_transitions));
    });
    b.try_acquire().unwrap().failure();
    mock.increment(TIMEOUT);
    let probe = b.try_acquire().unwrap();
    mock.increment(HALF_OPEN_TIMEOUT);
    assert!(b.try_acquire().is_err());
    mock.increment(TIMEOUT);
    b.try_acquire().unwrap().success();
    b.force_open();
    b.reset();
    drop(probe);
    let seen = seen.lock().unwrap();
    let expected = [Open, HalfOpen, Open, HalfOpen, Closed, Open, Closed];
    assert_eq!(seen.len(), expected.len());
    for (i, ((to, state, metrics_state, transitions), want)) in
        seen.iter().zip(expected).enumerate()
    {
        assert_eq!(*to, want, "event {i}");
        assert_eq!(*state, want, "state() inside listener for event {i}");
        assert_eq!(
            *metrics_state, want,
            "metrics().state inside listener for event {i}"
        );
        assert_eq!(
            *transitions,
            i as u64 + 1,
            "state_transitions inside event {i}"
        );
    }
}

#[test]
fn a_listener_may_call_back_into_the_breaker() {
    let (b, _mock) = shared_breaker_named("svc", config(1, 1, 1));
    let log = recorder(&b);
    let weak = Arc::downgrade(&b);
    b.on_state_change(move |c| {
        let b = weak.upgrade().expect("breaker alive");
        let _ = b.metrics();
        let _ = b.is_available();
        if c.to == Open {
            // Rejected (counted below): it is open now.
            if let Ok(p) = b.try_acquire() {
                p.success();
            }
            b.reset(); // a nested transition from inside a listener
        }
    });
    let b2 = Arc::clone(&b);
    without_deadlock(move || b2.try_acquire().unwrap().failure());
    assert_eq!(b.state(), Closed);
    assert_eq!(events(&log), [(Closed, Open), (Open, Closed)]);
    let m = b.metrics();
    assert_eq!(m.state_transitions, 2);
    assert_eq!(m.rejected_calls, 1);
}

#[test]
fn a_listener_may_register_another_listener() {
    let (b, _mock) = shared_breaker_named("svc", config(1, 1, 1));
    let late = Arc::new(Mutex::new(0u32));
    let weak = Arc::downgrade(&b);
    let count = Arc::clone(&late);
    b.on_state_change(move |c| {
        if c.to == Open {
            let b = weak.upgrade().expect("breaker alive");
            let count = Arc::clone(&count);
            b.on_state_change(move |_| *count.lock().unwrap() += 1);
        }
    });
    let b2 = Arc::clone(&b);
    without_deadlock(move || b2.force_open());
    let before = *late.lock().unwrap();
    b.reset();
    // The listener registered during the first transition hears the next one.
    assert_eq!(*late.lock().unwrap(), before + 1);
}

#[test]
fn reset_and_force_open_notify_only_on_a_change() {
    let (b, mock) = shared_breaker_named("svc", config(3, 1, 1));
    let log = recorder(&b);
    b.reset();
    assert_eq!(events(&log), []);
    b.force_open();
    assert_eq!(events(&log), [(Closed, Open)]);
    b.force_open();
    assert_eq!(events(&log), [(Closed, Open)]);
    b.reset();
    b.reset();
    assert_eq!(events(&log), [(Closed, Open), (Open, Closed)]);
    b.force_open();
    mock.increment(TIMEOUT);
    let _probe = b.try_acquire().unwrap();
    b.force_open();
    b.reset();
    assert_eq!(
        events(&log),
        [
            (Closed, Open),
            (Open, Closed),
            (Closed, Open),
            (Open, HalfOpen),
            (HalfOpen, Open),
            (Open, Closed),
        ]
    );
}

#[test]
fn listeners_run_on_the_thread_that_made_the_transition() {
    let (b, _mock) = shared_breaker_named("svc", config(1, 1, 1));
    let threads: Arc<Mutex<Vec<thread::ThreadId>>> = Arc::default();
    let sink = Arc::clone(&threads);
    b.on_state_change(move |_| sink.lock().unwrap().push(thread::current().id()));
    let permit = b.try_acquire_owned().unwrap();
    let worker = thread::spawn(move || {
        permit.failure();
        thread::current().id()
    });
    let worker_id = worker.join().expect("worker");
    b.reset();
    assert_eq!(
        *threads.lock().unwrap(),
        [worker_id, thread::current().id()]
    );
}

#[test]
fn racing_threads_notify_each_transition_once() {
    let (b, _mock) = shared_breaker_named("svc", config(1, 1, 1));
    let log = recorder(&b);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let b = Arc::clone(&b);
            thread::spawn(move || {
                for _ in 0..100 {
                    if let Ok(p) = b.try_acquire() {
                        p.failure();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("worker");
    }
    assert_eq!(b.state(), Open);
    assert_eq!(events(&log), [(Closed, Open)]);
    assert_eq!(b.metrics().state_transitions, 1);
}

#[test]
fn a_listener_that_keeps_transitioning_does_not_overflow_the_stack() {
    // Each notification makes another transition from inside the listener: with nested
    // notifications delivered recursively this would need 200,000 stack frames.
    let b = Arc::new(CircuitBreaker::new("ping-pong"));
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (weak, seen) = (Arc::downgrade(&b), Arc::clone(&count));
    b.on_state_change(move |c: &breakerbox::StateChange| {
        let n = seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n < 200_000 {
            if let Some(b) = weak.upgrade() {
                match c.to {
                    State::Open => b.reset(),
                    _ => b.force_open(),
                }
            }
        }
    });
    b.force_open();
    assert_eq!(count.load(std::sync::atomic::Ordering::Relaxed), 200_001);
    assert_eq!(b.metrics().state_transitions, 200_001);
}

#[test]
fn nested_notifications_come_after_the_listener_returns_in_order() {
    let (b, _mock) = shared_breaker_named("nested", config(1, 1, 1));
    let log = Arc::new(Mutex::new(Vec::new()));
    let (weak, sink) = (Arc::downgrade(&b), Arc::clone(&log));
    b.on_state_change(move |c: &breakerbox::StateChange| {
        sink.lock().unwrap().push(format!("start {}", c.to));
        if c.to == State::Open {
            if let Some(b) = weak.upgrade() {
                b.reset();
                // The nested transition is made (state() sees it) but notified later.
                assert_eq!(b.state(), State::Closed);
            }
        }
        sink.lock().unwrap().push(format!("end {}", c.to));
    });
    b.force_open();
    assert_eq!(
        *log.lock().unwrap(),
        ["start open", "end open", "start closed", "end closed"]
    );
}
