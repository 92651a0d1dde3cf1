#![cfg(loom)]
//! Loom models of the part-2 policies on the real breaker: the rate rule's trip, dry run,
//! and the operator overrides racing probes.

use breakerbox::{Cause, Config, Mode, State, Window};
use breakerbox_loom_tests::{check, config, Fixture, Reached, HALF_OPEN_TIMEOUT, TIMEOUT};
use loom::thread;

/// A `Calls(n)` window that opens at 50 % once it holds `n` outcomes, and nothing else: not
/// `config()`, which sets failure_threshold and so turns the consecutive rule on (P1).
fn rate_only(n: u32) -> Config {
    let config = Config::builder()
        .sliding_window(Window::Calls(n))
        .failure_rate_threshold(50.0)
        .minimum_calls(n)
        .timeout(TIMEOUT)
        .half_open_timeout(HALF_OPEN_TIMEOUT)
        .build()
        .unwrap();
    assert!(!config.trips_on_consecutive_failures());
    config
}

/// Two threads each record a failure into a `Calls(2)` window (rate 50 %, minimum 2, the
/// consecutive rule off): whichever lands second crosses the threshold. The breaker opens
/// exactly once, with one notification, and both failures are counted.
#[test]
fn the_outcome_crossing_the_rate_trips_once() {
    check(
        "policies/the_outcome_crossing_the_rate_trips_once",
        None,
        || {
            let fx = Fixture::new(rate_only(2));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let cb = fx.breaker.clone();
                    thread::spawn(move || cb.try_acquire().expect("closed").failure())
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            let m = fx.breaker.metrics();
            assert_eq!(m.state, State::Open);
            assert_eq!((m.failed_calls, m.state_transitions), (2, 1));
            assert_eq!(fx.transitions.count(State::Closed, State::Open), 1);
            assert_eq!(fx.transitions.causes(), [Cause::FailureRate]);
        },
    );
}

/// Two successes race on the window's own success path (a quiet word, no slow-call rule):
/// after F, F, S in a `Calls(4)` window (rate 50 %, minimum 4), whichever success lands
/// first brings the window to its minimum at 50 % and trips it; the other is judged on its
/// own ticket's window (F, S, S, S: 25 %) and must not trip again. One trip, every outcome
/// counted.
#[test]
fn a_success_reaching_the_minimum_trips_once() {
    check(
        "policies/a_success_reaching_the_minimum_trips_once",
        None,
        || {
            let fx = Fixture::new(rate_only(4));
            for fail in [true, true, false] {
                let permit = fx.breaker.try_acquire().expect("closed");
                if fail {
                    permit.failure()
                } else {
                    permit.success()
                }
            }
            assert_eq!(fx.breaker.metrics().consecutive_failures, 0);
            let permits: Vec<_> = (0..2)
                .map(|_| fx.breaker.try_acquire_owned().expect("closed"))
                .collect();
            let threads: Vec<_> = permits
                .into_iter()
                .map(|p| thread::spawn(move || p.success()))
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            let m = fx.breaker.metrics();
            assert_eq!(m.state, State::Open);
            assert_eq!((m.successful_calls, m.failed_calls), (3, 2));
            assert_eq!(m.state_transitions, 1);
            assert_eq!(fx.transitions.causes(), [Cause::FailureRate]);
        },
    );
}

/// Dry run: a caller races the failure that trips the breaker. It is always admitted; if it
/// came after the trip it is counted as a would-be rejection and its outcome is only
/// counted. Both orders are reached.
#[test]
fn dry_run_admission_racing_a_trip() {
    let reached = Reached::new();
    let seen = reached.clone();
    check(
        "policies/dry_run_admission_racing_a_trip",
        None,
        move || {
            let fx = Fixture::new(config().dry_run(true).build().unwrap());
            let cb = fx.breaker.clone();
            let tripper = thread::spawn(move || cb.try_acquire().expect("closed").failure());
            let cb = fx.breaker.clone();
            let caller = thread::spawn(move || {
                cb.try_acquire().expect("dry run never rejects").failure();
            });
            tripper.join().unwrap();
            caller.join().unwrap();
            let m = fx.breaker.metrics();
            assert_eq!(m.state, State::Open);
            assert_eq!((m.rejected_calls, m.failed_calls, m.total_calls), (0, 2, 2));
            assert!(
                fx.breaker.is_available(),
                "dry run: available unless isolated"
            );
            // The caller's failure either tripped it (and the tripper's came after: stale or
            // shadow) or came after as a shadow; exactly one trip either way.
            assert_eq!(m.state_transitions, 1);
            seen.insert(m.would_reject_calls, &[0, 1]);
        },
    );
    reached.assert_all(&[0, 1]);
}

/// `isolate()` races a half-open probe that would close the breaker: whatever the order,
/// the breaker ends isolated (Open, `Mode::Isolated`), the probe's success never reopens or
/// closes it afterwards, and every transition is counted once.
#[test]
fn isolate_racing_a_closing_probe() {
    let reached = Reached::new();
    let seen = reached.clone();
    check("policies/isolate_racing_a_closing_probe", None, move || {
        let fx = Fixture::new(config().build().unwrap());
        fx.trip_and_wait();
        let cb = fx.breaker.clone();
        let probe = thread::spawn(move || match cb.try_acquire() {
            Ok(p) => {
                p.success();
                true
            }
            Err(_) => false,
        });
        let cb = fx.breaker.clone();
        let operator = thread::spawn(move || cb.isolate());
        let admitted = probe.join().unwrap();
        operator.join().unwrap();
        let b = &fx.breaker;
        assert_eq!((b.state(), b.mode()), (State::Open, Mode::Isolated));
        assert!(b.try_acquire().is_err());
        let m = b.metrics();
        assert_eq!(m.state_transitions as usize, fx.transitions.all().len());
        seen.insert(admitted, &[false, true]);
    });
    reached.assert_all(&[false, true]);
}

/// `disable()` races a half-open probe that fails: the breaker ends disabled and Closed
/// in every order, and keeps admitting.
#[test]
fn disable_racing_a_failing_probe() {
    check("policies/disable_racing_a_failing_probe", None, || {
        let fx = Fixture::new(config().build().unwrap());
        fx.trip_and_wait();
        let cb = fx.breaker.clone();
        let probe = thread::spawn(move || {
            if let Ok(p) = cb.try_acquire() {
                p.failure();
            }
        });
        let cb = fx.breaker.clone();
        let operator = thread::spawn(move || cb.disable());
        probe.join().unwrap();
        operator.join().unwrap();
        let b = &fx.breaker;
        assert_eq!((b.state(), b.mode()), (State::Closed, Mode::Disabled));
        b.try_acquire().expect("disabled admits").failure();
        assert_eq!(b.state(), State::Closed, "disabled never trips");
        let m = b.metrics();
        assert_eq!(m.state_transitions as usize, fx.transitions.all().len());
    });
}
