//! Preemption windows, made deterministic: a thread is parked at a failpoint between two
//! atomic steps of the protocol while other threads make thousands of transitions, then
//! released; the breaker must behave exactly as the contract says afterwards.
//!
//! These are the reproductions of issue 8 (stamp ABA after 4095 transitions, a stalled
//! winner stretching the open period, the 32-bit generation wrapping), kept as tests, plus
//! a sweep over every failpoint × every kind of operation.
//!
//! Needs `--features failpoints` (`.ci/run` runs it); without the feature this file is empty.
#![cfg(feature = "failpoints")]

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use breakerbox::failpoints::{self, POINTS};
use breakerbox::quanta::Mock;
use breakerbox::{CircuitBreaker, Outcome, State};

mod common;
use common::{
    assert_balanced, config, recorder, rejected, shared_breaker, Log, HALF_OPEN_TIMEOUT, TIMEOUT,
    US,
};

/// Transitions made while a thread is parked: more than a 12-bit tag's worth.
const CHURN: usize = 4095;

/// How long a test waits for a thread to reach a point or finish before failing.
const PATIENCE: Duration = Duration::from_secs(30);

enum Event {
    Parked,
    Finished,
}

/// A thread that runs `op` on `b` with `point` armed to park it there.
struct Parked {
    events: Receiver<Event>,
    release: Sender<()>,
    handle: JoinHandle<()>,
}

impl Parked {
    fn spawn(
        b: &Arc<CircuitBreaker>,
        point: &'static str,
        op: impl FnOnce(&CircuitBreaker) + Send + 'static,
    ) -> Parked {
        let (events_tx, events) = channel();
        let (release, release_rx) = channel::<()>();
        let b = Arc::clone(b);
        let handle = thread::spawn(move || {
            let parked_tx = events_tx.clone();
            failpoints::arm(point, move || {
                parked_tx.send(Event::Parked).unwrap();
                release_rx.recv_timeout(PATIENCE).expect("released in time");
            });
            op(&b);
            failpoints::disarm_all();
            events_tx.send(Event::Finished).unwrap();
        });
        Parked {
            events,
            release,
            handle,
        }
    }

    /// Waits until the thread parks (`true`) or finishes without reaching the point.
    fn parked(&self) -> bool {
        match self
            .events
            .recv_timeout(PATIENCE)
            .expect("parked or finished")
        {
            Event::Parked => true,
            Event::Finished => false,
        }
    }

    /// Releases the parked thread and waits for it to finish.
    fn finish(self) {
        self.release.send(()).unwrap();
        assert!(matches!(
            self.events.recv_timeout(PATIENCE).expect("finished"),
            Event::Finished
        ));
        self.handle.join().unwrap();
    }

    fn join(self) {
        self.handle.join().unwrap();
    }
}

/// The log holds one entry per counted transition and, the breaker being Closed again,
/// enters each state as often as it leaves it. (Not "each entry continues the previous
/// one": listeners run on the thread that made the transition, after it, so a thread
/// parked between its CAS and its listeners reports late — by design.)
fn assert_log_balanced(b: &CircuitBreaker, log: &Log) {
    assert_eq!(b.state(), State::Closed);
    let log = log.lock().unwrap();
    assert_eq!(log.len() as u64, b.metrics().state_transitions);
    for s in [State::Closed, State::Open, State::HalfOpen] {
        let entered = log.iter().filter(|c| c.to == s).count();
        let left = log.iter().filter(|c| c.from == s).count();
        assert_eq!(entered, left, "{s:?}: {log:?}");
    }
}

/// After whatever happened, a trip must open the breaker for exactly `TIMEOUT` from now,
/// and a probe after it must close it again.
fn assert_behaves(b: &CircuitBreaker, mock: &Mock) {
    b.reset();
    b.try_acquire().expect("closed").failure();
    assert_eq!(b.state(), State::Open);
    assert_eq!(rejected(b).retry_after(), Some(TIMEOUT));
    mock.increment(TIMEOUT - US);
    assert_eq!(b.state(), State::Open, "opened early");
    mock.increment(US);
    assert_eq!(b.state(), State::HalfOpen);
    b.try_acquire().expect("probe").success();
    assert_eq!(b.state(), State::Closed);
}

/// Issue 8, finding 1, as reported: the winner of Closed -> Open is parked before it
/// publishes; 4095 resets pass; then the breaker opens again. It must be Open, for a full
/// timeout, rejecting calls.
#[test]
fn a_stalled_publisher_cannot_plant_its_stamp_on_a_later_generation() {
    for point in ["drive.after_cas", "publish.before_cas"] {
        for churn_with_force_open in [false, true] {
            let (b, mock) = shared_breaker(config(1, 1, 1));
            mock.increment(Duration::from_secs(1));
            let a = Parked::spawn(&b, point, |b| b.try_acquire().unwrap().failure());
            assert!(a.parked(), "{point}");
            mock.increment(Duration::from_secs(3600));
            for _ in 0..CHURN {
                if churn_with_force_open {
                    b.force_open();
                }
                b.reset();
            }
            a.finish();
            b.try_acquire().unwrap().failure();
            assert_eq!(b.state(), State::Open, "{point}");
            let r = rejected(&b);
            assert_eq!(r.retry_after(), Some(TIMEOUT), "{point}");
            assert!(b.try_acquire().is_err(), "admitted right after opening");
            // The same with force_open as the second opener.
            b.reset();
            b.force_open();
            assert_eq!(rejected(&b).retry_after(), Some(TIMEOUT));
        }
    }
}

/// Issue 8, finding 2: the breaker opens at t = 1 s (timeout 10 s) and its winner stalls
/// 5 s before publishing. Calls during the stall are rejected and publish nothing; the
/// period counts from the winner's time, so at t = 11 s the breaker is half-open.
#[test]
fn a_stalled_winner_does_not_stretch_the_open_period() {
    let (b, mock) = shared_breaker(config(1, 1, 1));
    mock.increment(Duration::from_secs(1));
    let a = Parked::spawn(&b, "drive.after_cas", |b| {
        b.try_acquire().unwrap().failure()
    });
    assert!(a.parked());
    mock.increment(Duration::from_secs(5));
    // Unpublished: the period counts as just started for the rejection, the state is Open,
    // and no probe is let through.
    let r = rejected(&b);
    assert_eq!(r.state(), State::Open);
    assert_eq!(b.state(), State::Open);
    assert!(!b.is_available());
    a.finish();
    // Published now, from the winner's time (t = 1 s): 5 s left at t = 6 s.
    assert_eq!(rejected(&b).retry_after(), Some(Duration::from_secs(5)));
    mock.increment(Duration::from_secs(5) - US);
    assert_eq!(b.state(), State::Open);
    mock.increment(US);
    assert_eq!(
        b.state(),
        State::HalfOpen,
        "t = 11 s: the open period is over"
    );
    b.try_acquire().expect("probe").success();
    assert_eq!(b.state(), State::Closed);
}

/// The same for the half-open period: its winner (the first probe) stalls before
/// publishing; other callers are refused a probe slot meanwhile, and the period's end
/// counts from the winner's time.
#[test]
fn a_stalled_half_open_winner_keeps_the_period_from_its_own_time() {
    let (b, mock) = shared_breaker(config(1, 1, 3));
    b.force_open();
    mock.increment(TIMEOUT);
    let (permit_tx, permit_rx) = channel();
    let a = Parked::spawn(&b, "drive.after_cas", move |b| {
        let p = b.try_acquire().expect("first probe");
        permit_tx.send(()).unwrap();
        std::mem::forget(p); // a probe that never reports
    });
    assert!(a.parked());
    mock.increment(Duration::from_secs(2));
    assert_eq!(b.state(), State::HalfOpen);
    let r = rejected(&b);
    assert_eq!((r.state(), r.retry_after()), (State::HalfOpen, None));
    a.finish();
    permit_rx.recv().unwrap();
    // Two more slots now that the period is published.
    let p2 = b.try_acquire().expect("probe 2");
    let p3 = b.try_acquire().expect("probe 3");
    // The half-open period ends HALF_OPEN_TIMEOUT after the winner's time.
    mock.increment(HALF_OPEN_TIMEOUT - Duration::from_secs(2) - US);
    assert_eq!(b.state(), State::HalfOpen);
    mock.increment(US);
    assert_eq!(b.state(), State::Open);
    p2.success();
    p3.success();
    assert_eq!(b.state(), State::Open, "late successes count for nothing");
}

/// Issue 8, finding 3: a permit taken before 2^32 (and 2^40) transitions must stay stale.
#[test]
fn the_generation_does_not_wrap_where_a_32_bit_one_did() {
    for skip in [1u64 << 32, 1 << 40, (1 << 32) * 3] {
        let (b, _mock) = shared_breaker(config(1, 1, 1));
        let permit = b.try_acquire().expect("closed");
        failpoints::skip_generations(&b, skip);
        permit.failure();
        assert_eq!(
            b.state(),
            State::Closed,
            "a stale failure opened it after {skip}"
        );
        let m = b.metrics();
        assert_eq!((m.failed_calls, m.consecutive_failures), (1, 0));
        // A current failure still trips it.
        b.try_acquire().unwrap().failure();
        assert_eq!(b.state(), State::Open);
    }
}

/// Sweep: park each kind of operation at each failpoint it reaches, churn 4095
/// transitions of each operator kind, release, and check the breaker's accounting and
/// behaviour afterwards.
#[test]
fn every_failpoint_survives_thousands_of_transitions() {
    type Setup = fn(&CircuitBreaker, &Mock);
    type Op = fn(&CircuitBreaker);
    let scenarios: [(&str, Setup, Op); 7] = [
        // After the churn the breaker may be in any state: every op tolerates a rejection.
        (
            "trip",
            |_, _| {},
            |b| {
                if let Ok(p) = b.try_acquire() {
                    p.failure()
                }
            },
        ),
        (
            "success",
            |_, _| {},
            |b| {
                if let Ok(p) = b.try_acquire() {
                    p.success()
                }
            },
        ),
        (
            "first probe",
            |b, m| {
                b.force_open();
                m.increment(TIMEOUT);
            },
            |b| {
                if let Ok(p) = b.try_acquire() {
                    p.record_outcome(Outcome::Ignored)
                }
            },
        ),
        (
            "probe success",
            |b, m| {
                b.force_open();
                m.increment(TIMEOUT);
            },
            |b| {
                if let Ok(p) = b.try_acquire() {
                    p.success()
                }
            },
        ),
        (
            "probe failure",
            |b, m| {
                b.force_open();
                m.increment(TIMEOUT);
            },
            |b| {
                if let Ok(p) = b.try_acquire() {
                    p.failure()
                }
            },
        ),
        ("reset", |b, _| b.force_open(), |b| b.reset()),
        ("force_open", |_, _| {}, |b| b.force_open()),
    ];
    let mut parked_somewhere = 0;
    for &point in POINTS {
        for (name, setup, op) in scenarios {
            for churn in ["reset", "force_open", "trip"] {
                let (b, mock) = shared_breaker(config(1, 1, 1));
                let log = recorder(&b);
                setup(&b, &mock);
                let a = Parked::spawn(&b, point, op);
                if !a.parked() {
                    a.join();
                    continue;
                }
                parked_somewhere += 1;
                mock.increment(Duration::from_secs(3600));
                for _ in 0..CHURN {
                    match churn {
                        "reset" => b.reset(),
                        "force_open" => b.force_open(),
                        _ => {
                            b.reset();
                            if let Ok(p) = b.try_acquire() {
                                p.failure();
                            }
                        }
                    }
                }
                a.finish();
                let m = b.metrics();
                assert_balanced(&m);
                assert_eq!(
                    log.lock().unwrap().len() as u64,
                    m.state_transitions,
                    "{name} at {point}"
                );
                assert_behaves(&b, &mock);
                assert_log_balanced(&b, &log);
            }
        }
    }
    // Every point is on some scenario's path (and parks it there) for each churn kind.
    assert!(parked_somewhere >= POINTS.len() * 3, "{parked_somewhere}");
}
