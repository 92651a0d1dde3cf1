#![cfg(loom)]
//! Loom models of generations: stale permits, and `reset` / `force_open` racing outcomes.

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::sync::Arc;

use breakerbox::{Outcome, State};
use breakerbox_loom_tests::{check, config, sorted, Fixture, Reached, PAST_TIMEOUT, TIMEOUT};
use loom::thread;

/// Model 6a. Two permits taken while Closed are recorded (a success, then a failure) on one
/// thread while another probes the half-open breaker that a `force_open` and the timeout
/// made of it. The stale outcomes are counted in the metrics but never close or reopen the
/// breaker, never free the probe's slot and never count as a half-open success.
#[test]
fn stale_outcomes_do_not_drive_a_half_open_breaker() {
    // Whether the stale outcomes were recorded before the probe was admitted, while it was
    // held, or after it was released: all three must be explored.
    let allowed = [0_usize, 1, 2];
    let reached = Reached::new();
    let seen = reached.clone();
    check(
        "stale/stale_outcomes_do_not_drive_a_half_open_breaker",
        None,
        move || {
            let fx = Fixture::new(
                config()
                    .success_threshold(2)
                    .half_open_max_calls(1)
                    .build()
                    .unwrap(),
            );
            let cb = &fx.breaker;
            let stale_success = cb.try_acquire_owned().expect("closed");
            let stale_failure = cb.try_acquire_owned().expect("closed");
            cb.force_open();
            fx.mock.increment(PAST_TIMEOUT);
            // Test-side clock of the probe's progress: 0 before admission, 1 while held,
            // 2 after release. Plain std: it only labels the interleaving.
            let phase = Arc::new(StdAtomicUsize::new(0));

            let breaker = fx.breaker.clone();
            let progress = phase.clone();
            let prober = thread::spawn(move || {
                let probe = breaker
                    .try_acquire()
                    .expect("the only caller gets the slot");
                // Relaxed: single OS thread under loom; a label, not a synchronisation.
                progress.store(1, StdOrdering::Relaxed);
                let over = breaker
                    .try_acquire()
                    .expect_err("the slot is held: stale outcomes neither free it nor close");
                assert_eq!(over.state(), State::HalfOpen);
                assert_eq!(over.retry_after(), None);
                probe.record_outcome(Outcome::Ignored);
                // Relaxed: as above.
                progress.store(2, StdOrdering::Relaxed);
            });
            let recorder = thread::spawn(move || {
                stale_success.success();
                stale_failure.failure();
                // Relaxed: as above.
                phase.load(StdOrdering::Relaxed)
            });
            prober.join().unwrap();
            let recorded_in_phase = recorder.join().unwrap();

            assert_eq!(cb.state(), State::HalfOpen);
            assert!(cb.is_available());
            let m = cb.metrics();
            assert_eq!(m.state, State::HalfOpen);
            assert_eq!(m.state_transitions, 2);
            assert_eq!(
                fx.transitions.sorted(),
                sorted(&[(State::Closed, State::Open), (State::Open, State::HalfOpen)])
            );
            assert_eq!(m.total_calls, 4);
            assert_eq!(m.successful_calls, 1);
            assert_eq!(m.failed_calls, 1);
            assert_eq!(m.ignored_calls, 1);
            assert_eq!(m.rejected_calls, 1);

            // The period has no success yet: one probe success does not close it, two do.
            cb.try_acquire().expect("slot free").success();
            assert_eq!(
                cb.state(),
                State::HalfOpen,
                "the stale success was not counted"
            );
            cb.try_acquire().expect("slot free").success();
            assert_eq!(cb.state(), State::Closed);
            seen.insert(recorded_in_phase, &allowed);
        },
    );
    reached.assert_all(&allowed);
}

/// Model 6b. With `failure_threshold = 2` and a streak of 1, a permit taken while Closed
/// records a failure on one thread while another calls `force_open` then `reset`.
/// Sequentially:
/// - before `force_open`: the failure opens the breaker (streak 2, the recorder's thread
///   makes Closed → Open); `force_open` only restarts the timeout; `reset` closes it;
/// - between them: stale, nothing; `reset` closes it;
/// - after `reset`: stale (two generations old), so it must not count in the new streak.
///
/// Every order ends Closed with a streak of 0 and two transitions (Closed → Open, Open →
/// Closed); both threads are seen making the Closed → Open one.
#[test]
fn a_stale_failure_does_not_count_in_a_new_closed_streak() {
    // Whether the recorder's failure opened the breaker (else `force_open` did).
    let allowed = [false, true];
    let reached = Reached::new();
    let seen = reached.clone();
    check(
        "stale/a_stale_failure_does_not_count_in_a_new_closed_streak",
        None,
        move || {
            let fx = Fixture::new(config().failure_threshold(2).build().unwrap());
            let cb = &fx.breaker;
            let stale = cb.try_acquire_owned().expect("closed");
            cb.try_acquire().expect("closed").failure();
            assert_eq!(cb.metrics().consecutive_failures, 1);

            let breaker = fx.breaker.clone();
            let admin = thread::spawn(move || {
                breaker.force_open();
                breaker.reset();
            });
            let recorder = thread::spawn(move || {
                stale.failure();
                thread::current().id()
            });
            admin.join().unwrap();
            let recorder = recorder.join().unwrap();

            assert_eq!(cb.state(), State::Closed);
            let m = cb.metrics();
            assert_eq!(m.state, State::Closed);
            assert_eq!(m.consecutive_failures, 0);
            assert_eq!(m.state_transitions, 2);
            assert_eq!(
                fx.transitions.sorted(),
                sorted(&[(State::Closed, State::Open), (State::Open, State::Closed)])
            );
            assert_eq!(m.total_calls, 2);
            assert_eq!(m.failed_calls, 2);
            assert_eq!(m.successful_calls + m.ignored_calls + m.rejected_calls, 0);
            let opened_by_recorder = fx
                .transitions
                .all()
                .iter()
                .any(|s| s.to == State::Open && s.thread == recorder);

            // The streak really is fresh: it takes two more failures to open.
            cb.try_acquire().expect("closed").failure();
            assert_eq!(cb.state(), State::Closed);
            cb.try_acquire().expect("closed").failure();
            assert_eq!(cb.state(), State::Open);
            seen.insert(opened_by_recorder, &allowed);
        },
    );
    reached.assert_all(&allowed);
}

/// What the racing admin thread of model 7 does.
#[derive(Clone, Copy, Debug)]
enum Admin {
    Reset,
    ForceOpen,
}

/// Model 7. `failure_threshold = 1`; thread A acquires and fails, thread B acquires and
/// succeeds, thread C calls `reset` or `force_open`. Returns (state, state_transitions,
/// A admitted, B admitted, listener calls) for one execution.
fn admin_race(
    admin: Admin,
) -> (
    &'static str,
    u64,
    bool,
    bool,
    Vec<(&'static str, &'static str)>,
) {
    let fx = Fixture::new(config().build().unwrap());

    let cb = fx.breaker.clone();
    let a = thread::spawn(move || {
        cb.try_acquire()
            .map(|permit| permit.failure())
            .map_err(|rejected| {
                assert_eq!(rejected.state(), State::Open);
                assert_eq!(rejected.retry_after(), Some(TIMEOUT));
            })
            .is_ok()
    });
    let cb = fx.breaker.clone();
    let b = thread::spawn(move || {
        cb.try_acquire()
            .map(|permit| permit.success())
            .map_err(|rejected| {
                assert_eq!(rejected.state(), State::Open);
                assert_eq!(rejected.retry_after(), Some(TIMEOUT));
            })
            .is_ok()
    });
    let cb = fx.breaker.clone();
    let c = thread::spawn(move || match admin {
        Admin::Reset => cb.reset(),
        Admin::ForceOpen => cb.force_open(),
    });
    let a_admitted = a.join().unwrap();
    let b_admitted = b.join().unwrap();
    c.join().unwrap();

    let m = fx.breaker.metrics();
    assert_eq!(m.state, fx.breaker.state());
    assert_eq!(m.total_calls, 2);
    assert_eq!(m.failed_calls, u64::from(a_admitted));
    assert_eq!(m.successful_calls, u64::from(b_admitted));
    assert_eq!(
        m.rejected_calls,
        u64::from(!a_admitted) + u64::from(!b_admitted)
    );
    assert_eq!(m.ignored_calls, 0);
    assert_eq!(m.consecutive_failures, 0);
    (
        m.state.as_str(),
        m.state_transitions,
        a_admitted,
        b_admitted,
        fx.transitions.sorted(),
    )
}

/// Model 7 with `reset`. A is always admitted (only its own failure can open the breaker).
/// - A's failure before the reset: it opens; B is admitted unless it calls while Open; the
///   reset closes: Closed, 2 transitions;
/// - the reset before A's failure, A acquired before it: stale, Closed, no transition;
/// - the reset before A's acquire: A's failure opens: Open, 1 transition; B rejected if it
///   calls after that.
#[test]
fn reset_against_a_failure_and_a_success() {
    let reopened = sorted(&[(State::Closed, State::Open), (State::Open, State::Closed)]);
    let opened = sorted(&[(State::Closed, State::Open)]);
    let allowed = vec![
        ("closed", 2, true, true, reopened.clone()),
        ("closed", 2, true, false, reopened),
        ("closed", 0, true, true, sorted(&[])),
        ("open", 1, true, true, opened.clone()),
        ("open", 1, true, false, opened),
    ];
    let reached = Reached::new();
    let seen = reached.clone();
    let expected = allowed.clone();
    check(
        "stale/reset_against_a_failure_and_a_success",
        None,
        move || {
            seen.insert(admin_race(Admin::Reset), &expected);
        },
    );
    reached.assert_all(&allowed);
}

/// Model 7 with `force_open`. The breaker ends Open with exactly one transition whoever
/// opens it first (A's failure or `force_open`; the other only restarts the timeout or is
/// stale). A and B are each admitted iff they call before that first opening: all four
/// combinations occur.
#[test]
fn force_open_against_a_failure_and_a_success() {
    let opened = sorted(&[(State::Closed, State::Open)]);
    let allowed: Vec<_> = [(true, true), (true, false), (false, true), (false, false)]
        .into_iter()
        .map(|(a, b)| ("open", 1, a, b, opened.clone()))
        .collect();
    let reached = Reached::new();
    let seen = reached.clone();
    let expected = allowed.clone();
    check(
        "stale/force_open_against_a_failure_and_a_success",
        None,
        move || {
            seen.insert(admin_race(Admin::ForceOpen), &expected);
        },
    );
    reached.assert_all(&allowed);
}

/// Models 7c/7d: the open timeout has passed (`success_threshold = 1`); thread P takes the
/// probe and records a success while thread C calls `reset` or `force_open`. Returns what
/// [`AdminProbeEnd`] lists.
fn admin_against_a_probe(admin: Admin) -> AdminProbeEnd {
    let fx = Fixture::new(config().build().unwrap());
    fx.trip_and_wait();
    let main = thread::current().id();

    let cb = fx.breaker.clone();
    let probe = thread::spawn(move || {
        let admitted = match cb.try_acquire() {
            Ok(permit) => {
                permit.success();
                true
            }
            Err(rejected) => {
                assert_eq!(rejected.state(), State::Open);
                assert_eq!(rejected.retry_after(), Some(TIMEOUT), "a fresh timeout");
                false
            }
        };
        (thread::current().id(), admitted)
    });
    let cb = fx.breaker.clone();
    let admin = thread::spawn(move || {
        match admin {
            Admin::Reset => cb.reset(),
            Admin::ForceOpen => cb.force_open(),
        }
        thread::current().id()
    });
    let (prober, admitted) = probe.join().unwrap();
    let admin = admin.join().unwrap();

    let m = fx.breaker.metrics();
    assert_eq!(m.state, fx.breaker.state());
    assert_eq!(m.total_calls, 2);
    assert_eq!(m.failed_calls, 1);
    assert_eq!(m.successful_calls, u64::from(admitted));
    assert_eq!(m.rejected_calls, u64::from(!admitted));
    assert_eq!(m.consecutive_failures, 0);
    let mut made: Vec<_> = fx
        .transitions
        .all()
        .into_iter()
        .map(|s| {
            let by = match s.thread {
                t if t == main => "setup",
                t if t == prober => "probe",
                t => {
                    assert_eq!(t, admin);
                    "admin"
                }
            };
            (s.from.as_str(), s.to.as_str(), by)
        })
        .collect();
    made.sort_unstable();
    (admitted, m.state.as_str(), m.state_transitions, made)
}

/// What [`admin_against_a_probe`] observes: (P admitted, state, state_transitions, the
/// listener calls as sorted `(from, to, maker)` with maker "setup", "probe" or "admin").
type AdminProbeEnd = (bool, &'static str, u64, Vec<Made>);

/// One listener call: `(from, to, which thread made the transition)`.
type Made = (&'static str, &'static str, &'static str);

/// Sorts `(from, to, maker)` triples for [`AdminProbeEnd`].
fn made(list: &[(State, State, &'static str)]) -> Vec<Made> {
    let mut v: Vec<_> = list
        .iter()
        .map(|&(from, to, by)| (from.as_str(), to.as_str(), by))
        .collect();
    v.sort_unstable();
    v
}

/// Model 7c: `reset` against a probe's success. Sequentially:
/// - the probe is admitted and closes the breaker; `reset` then only clears a Closed one;
/// - the probe is admitted, `reset` closes the breaker, the success is stale;
/// - `reset` first: the breaker, Open with its timeout passed, is closed by `reset`; the probe
///   is admitted while Closed and its success changes nothing.
///
/// Every order ends Closed. In the last one the listener reports the *stored* state, Open,
/// as `from` (the effective state was HalfOpen; API.md does not say which).
#[test]
fn reset_against_a_probe_success() {
    use State::{Closed, HalfOpen, Open};
    let allowed: Vec<AdminProbeEnd> = vec![
        (
            true,
            "closed",
            3,
            made(&[
                (Closed, Open, "setup"),
                (Open, HalfOpen, "probe"),
                (HalfOpen, Closed, "probe"),
            ]),
        ),
        (
            true,
            "closed",
            3,
            made(&[
                (Closed, Open, "setup"),
                (Open, HalfOpen, "probe"),
                (HalfOpen, Closed, "admin"),
            ]),
        ),
        (
            true,
            "closed",
            2,
            made(&[(Closed, Open, "setup"), (Open, Closed, "admin")]),
        ),
    ];
    let reached = Reached::new();
    let seen = reached.clone();
    let expected = allowed.clone();
    check("stale/reset_against_a_probe_success", None, move || {
        seen.insert(admin_against_a_probe(Admin::Reset), &expected);
    });
    reached.assert_all(&allowed);
}

/// Model 7d: `force_open` against a probe's success. Sequentially:
/// - the probe is admitted and closes the breaker; `force_open` opens it again: 4 transitions;
/// - the probe is admitted, `force_open` reopens the half-open breaker, the success is stale;
/// - `force_open` first: the breaker was (stored) Open, so it only restarts the timeout (no
///   transition); the probe is rejected as Open with a full `timeout` to wait.
#[test]
fn force_open_against_a_probe_success() {
    use State::{Closed, HalfOpen, Open};
    let allowed: Vec<AdminProbeEnd> = vec![
        (
            true,
            "open",
            4,
            made(&[
                (Closed, Open, "setup"),
                (Open, HalfOpen, "probe"),
                (HalfOpen, Closed, "probe"),
                (Closed, Open, "admin"),
            ]),
        ),
        (
            true,
            "open",
            3,
            made(&[
                (Closed, Open, "setup"),
                (Open, HalfOpen, "probe"),
                (HalfOpen, Open, "admin"),
            ]),
        ),
        (false, "open", 1, made(&[(Closed, Open, "setup")])),
    ];
    let reached = Reached::new();
    let seen = reached.clone();
    let expected = allowed.clone();
    check(
        "stale/force_open_against_a_probe_success",
        None,
        move || {
            seen.insert(admin_against_a_probe(Admin::ForceOpen), &expected);
        },
    );
    reached.assert_all(&allowed);
}
