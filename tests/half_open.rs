//! Half-open: the probe limit (`half_open_max_calls`), slots freed by outcomes, and the
//! `half_open_timeout` that sends a stuck half-open breaker back to open (API.md,
//! Semantics 3 and 4).

use std::sync::Arc;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Outcome, State};

mod common;
use common::{
    assert_balanced, config, half_open, rejected, succeed, HALF_OPEN_TIMEOUT, NS, TIMEOUT, US,
};

fn assert_full(b: &CircuitBreaker) {
    assert_eq!(b.state(), State::HalfOpen);
    assert!(!b.is_available());
    let r = rejected(b);
    assert_eq!(r.state(), State::HalfOpen);
    assert_eq!(r.retry_after(), None);
    assert_eq!(r.name(), "test");
}

#[test]
fn at_most_max_calls_permits_are_outstanding() {
    let (b, _mock) = half_open(config(1, 3, 2));
    let p1 = b.try_acquire().expect("probe 1");
    assert!(b.is_available());
    let p2 = b.try_acquire().expect("probe 2");
    assert_full(&b);
    assert_full(&b);
    let m = b.metrics();
    assert_eq!(m.rejected_calls, 2);
    assert_eq!(m.state, State::HalfOpen);
    // Rejections for full slots are not transitions.
    assert_eq!(m.state_transitions, 2);

    p1.success();
    assert!(b.is_available());
    let p3 = b.try_acquire().expect("slot freed by a success");
    assert_full(&b);
    p2.success();
    assert_eq!(b.state(), State::HalfOpen);
    p3.success();
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    assert_eq!(m.successful_calls, 3);
    assert_balanced(&m);
}

#[test]
fn one_slot_with_a_higher_success_threshold_probes_one_at_a_time() {
    let (b, _mock) = half_open(config(1, 3, 1));
    for i in 0..3 {
        let p = b.try_acquire().expect("probe");
        assert_full(&b);
        p.success();
        let expected = if i < 2 {
            State::HalfOpen
        } else {
            State::Closed
        };
        assert_eq!(b.state(), expected);
    }
}

#[test]
fn an_ignored_outcome_frees_its_slot_and_counts_for_nothing() {
    let (b, _mock) = half_open(config(1, 2, 1));
    let p = b.try_acquire().expect("probe");
    assert_full(&b);
    p.record_outcome(Outcome::Ignored);
    assert!(b.is_available());
    let p = b.try_acquire().expect("slot freed by Ignored");
    drop(p); // drop without an outcome: Ignored as well
    assert!(b.is_available());
    succeed(&b);
    // Two Ignored and one success: still one short of the threshold.
    assert_eq!(b.state(), State::HalfOpen);
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    assert_eq!(m.ignored_calls, 2);
    assert_eq!(m.successful_calls, 2);
    assert_balanced(&m);
}

#[test]
fn a_failure_with_other_probes_outstanding_reopens() {
    let (b, _mock) = half_open(config(1, 2, 3));
    let p1 = b.try_acquire().expect("probe 1");
    let p2 = b.try_acquire().expect("probe 2");
    p1.failure();
    assert_eq!(b.state(), State::Open);
    assert_eq!(rejected(&b).retry_after(), Some(TIMEOUT));
    p2.success();
    assert_eq!(b.state(), State::Open);
}

#[test]
fn the_half_open_period_starts_at_the_first_admitted_call() {
    let (b, mock) = half_open(config(1, 2, 2));
    // Effective half-open for a long time, without any call: no period has started.
    mock.increment(HALF_OPEN_TIMEOUT * 10);
    assert_eq!(b.state(), State::HalfOpen);
    assert!(b.is_available());
    succeed(&b);
    mock.increment(HALF_OPEN_TIMEOUT - NS);
    assert_eq!(b.state(), State::HalfOpen);
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn half_open_timeout_makes_the_effective_state_open() {
    let (b, mock) = half_open(config(1, 2, 2));
    succeed(&b);
    let before = b.metrics();
    assert_eq!(before.state_transitions, 2);

    mock.increment(HALF_OPEN_TIMEOUT - NS);
    assert_eq!(b.state(), State::HalfOpen);
    assert!(b.is_available());

    mock.increment(NS);
    assert_eq!(b.state(), State::Open);
    assert!(!b.is_available());
    let m = b.metrics();
    assert_eq!(m.state, State::Open);
    assert_eq!(m.consecutive_failures, 0);
    // A query is not a transition.
    assert_eq!(m.state_transitions, 2);
    assert_eq!(m.last_state_change, before.last_state_change);

    // The open period started when the half-open period expired (API.md Semantics 4,
    // revised): the next call, 3 s later, records the move and is rejected with 7 s left.
    mock.increment(Duration::from_secs(3));
    let r = rejected(&b);
    assert_eq!(r.state(), State::Open);
    assert_eq!(r.retry_after(), Some(TIMEOUT - Duration::from_secs(3)));
    let m = b.metrics();
    assert_eq!(m.state_transitions, 3);
    assert_eq!(m.rejected_calls, 1);
    assert_balanced(&m);

    mock.increment(TIMEOUT - Duration::from_secs(3) - US);
    assert_eq!(b.state(), State::Open);
    assert_eq!(rejected(&b).retry_after(), Some(US));
    mock.increment(US - NS);
    assert_eq!(b.state(), State::Open);
    mock.increment(NS);
    assert_eq!(b.state(), State::HalfOpen);

    // A new half-open period: success counts start from zero.
    succeed(&b);
    assert_eq!(b.state(), State::HalfOpen);
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
    // Closed→Open, Open→HalfOpen, HalfOpen→Open, Open→HalfOpen, HalfOpen→Closed.
    assert_eq!(b.metrics().state_transitions, 5);
}

#[test]
fn half_open_timeout_applies_with_no_outcome_recorded_yet() {
    let (b, mock) = half_open(config(1, 1, 1));
    let p = b.try_acquire().expect("probe");
    mock.increment(HALF_OPEN_TIMEOUT);
    assert_eq!(b.state(), State::Open);
    // The late success neither closes the breaker nor counts as a transition.
    p.success();
    assert_eq!(b.state(), State::Open);
    let m = b.metrics();
    assert_eq!(m.successful_calls, 1);
    assert_eq!(m.state_transitions, 2);
    let r = rejected(&b);
    assert_eq!(r.state(), State::Open);
    assert_eq!(r.retry_after(), Some(TIMEOUT));
}

#[test]
fn outcomes_after_the_half_open_timeout_neither_close_nor_reopen() {
    let (b, mock) = half_open(config(1, 1, 3));
    let p1 = b.try_acquire().expect("probe 1");
    let p2 = b.try_acquire().expect("probe 2");
    let p3 = b.try_acquire().expect("probe 3");
    mock.increment(HALF_OPEN_TIMEOUT);

    p1.success(); // would close (threshold 1) if it counted
    assert_eq!(b.state(), State::Open);
    p2.failure(); // would reopen with a fresh timeout if it counted
    p3.record_outcome(Outcome::Ignored);
    let m = b.metrics();
    assert_eq!(m.state, State::Open);
    assert_eq!(m.state_transitions, 2);
    assert_eq!(m.successful_calls, 1);
    assert_eq!(m.failed_calls, 2); // the tripping failure and p2
    assert_eq!(m.ignored_calls, 1);
    assert_eq!(m.consecutive_failures, 0);
    assert_balanced(&m);

    // The open period started at the expiry (revised Semantics 4), so 4 s are gone from
    // it; the move is recorded (once) by the next call, not by p2.
    mock.increment(Duration::from_secs(4));
    let r = rejected(&b);
    assert_eq!(r.retry_after(), Some(TIMEOUT - Duration::from_secs(4)));
    assert_eq!(b.metrics().state_transitions, 3);
}

#[test]
fn a_client_gating_on_is_available_is_never_locked_out() {
    // The trap of the old Semantics 4: after an expired half-open period nothing but a call
    // could start the next open period, and a client that only calls when
    // `is_available()` never made one.
    let (b, mock) = half_open(config(1, 1, 1));
    let stuck = b.try_acquire().expect("probe that never reports");
    mock.increment(HALF_OPEN_TIMEOUT);
    assert!(!b.is_available());
    assert_eq!(b.retry_after(), Some(TIMEOUT));
    mock.increment(TIMEOUT - US);
    assert!(!b.is_available());
    mock.increment(US);
    // No call was made since the expiry, yet the open period has ended.
    assert!(b.is_available());
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(
        b.metrics().state_transitions,
        2,
        "queries make no transition"
    );
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
    // Closed→Open, Open→HalfOpen, HalfOpen→Open (expired), Open→HalfOpen, HalfOpen→Closed.
    assert_eq!(b.metrics().state_transitions, 5);
    drop(stuck);
}

#[test]
fn outcomes_after_the_move_to_open_do_not_free_new_slots() {
    let (b, mock) = half_open(config(1, 2, 1));
    let stuck = b.try_acquire().expect("probe");
    mock.increment(HALF_OPEN_TIMEOUT);
    let _ = rejected(&b); // moves to Open
    mock.increment(TIMEOUT);
    let p = b.try_acquire().expect("first probe of the next period");
    assert_full(&b);
    stuck.success();
    assert_full(&b);
    assert_eq!(b.state(), State::HalfOpen);
    p.success();
    // One success of this period: still below the threshold of 2.
    assert_eq!(b.state(), State::HalfOpen);
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_closed_breaker_ignores_the_half_open_timeout() {
    let (b, mock) = half_open(config(1, 1, 1));
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
    mock.increment(HALF_OPEN_TIMEOUT * 3);
    assert_eq!(b.state(), State::Closed);
    succeed(&b);
    assert_eq!(b.metrics().state_transitions, 3);
}

#[test]
fn max_calls_above_the_success_threshold() {
    let (b, _mock) = half_open(config(1, 1, 4));
    let permits: Vec<_> = (0..4).map(|_| b.try_acquire().expect("probe")).collect();
    assert_full(&b);
    let mut permits = permits.into_iter();
    permits.next().expect("4 permits").success();
    assert_eq!(b.state(), State::Closed);
    // The rest belong to the closed period's predecessor: their failures are stale.
    for p in permits {
        p.failure();
    }
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    assert_eq!(m.consecutive_failures, 0);
    assert_eq!(m.failed_calls, 4);
    assert_balanced(&m);
}

#[test]
fn racing_threads_get_exactly_max_calls_probes() {
    use std::sync::{Barrier, Mutex};

    const THREADS: usize = 8;
    let (b, _mock) = half_open(config(1, 5, 3));
    let b = Arc::new(b);
    let events: Arc<Mutex<Vec<(State, State)>>> = Arc::default();
    let sink = Arc::clone(&events);
    b.on_state_change(move |c| sink.lock().unwrap().push((c.from, c.to)));
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (b, barrier) = (Arc::clone(&b), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                b.try_acquire_owned()
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("worker"))
        .collect();
    let admitted = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(admitted, 3);
    for r in &results {
        if let Err(rej) = r {
            assert_eq!(rej.state(), State::HalfOpen);
            assert_eq!(rej.retry_after(), None);
        }
    }
    assert_eq!(*events.lock().unwrap(), [(State::Open, State::HalfOpen)]);
    let m = b.metrics();
    assert_eq!(m.state_transitions, 2);
    assert_eq!(m.rejected_calls, (THREADS - 3) as u64);
    drop(results);
    assert_balanced(&b.metrics());
    assert_eq!(b.state(), State::HalfOpen);
}
