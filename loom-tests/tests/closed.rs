#![cfg(loom)]
//! Loom models of the closed state: failures racing to the threshold.

use breakerbox::State;
use breakerbox_loom_tests::{check, config, sorted, Fixture, Reached};
use loom::thread;

/// Model 1. Two threads each record one failure with `failure_threshold = 2`: the breaker
/// opens exactly once (one CAS wins), one listener call, every counter exact.
#[test]
fn failures_at_the_threshold_open_exactly_once() {
    check(
        "closed/failures_at_the_threshold_open_exactly_once",
        None,
        || {
            let fx = Fixture::new(config().failure_threshold(2).build().unwrap());

            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let cb = fx.breaker.clone();
                    thread::spawn(move || {
                        // Opening needs both failures, so both acquires come before it.
                        cb.try_acquire()
                            .expect("a closed breaker admits every call")
                            .failure();
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }

            let cb = &fx.breaker;
            assert_eq!(cb.state(), State::Open);
            assert!(!cb.is_available());
            let m = cb.metrics();
            assert_eq!(m.state, State::Open);
            assert_eq!(m.total_calls, 2);
            assert_eq!(m.failed_calls, 2);
            assert_eq!(m.successful_calls, 0);
            assert_eq!(m.ignored_calls, 0);
            assert_eq!(m.rejected_calls, 0);
            assert_eq!(
                m.consecutive_failures, 0,
                "the streak reads 0 outside Closed"
            );
            assert_eq!(m.state_transitions, 1);
            assert!(m.last_failure_time.is_some());
            assert!(m.last_state_change.is_some());
            assert_eq!(
                fx.transitions.sorted(),
                sorted(&[(State::Closed, State::Open)])
            );
        },
    );
}

/// Model 1b. Two failures (`failure_threshold = 2`) race a success. Sequential orders:
/// - the success lands between the two failures: the streak restarts, the breaker stays
///   Closed with a streak of 1;
/// - the success lands before both, or after the opening on a permit from before it (stale:
///   counted, no effect): Open, one transition;
/// - the success's acquire comes after the opening: rejected (Open), one transition.
#[test]
fn a_success_between_failures_restarts_the_streak() {
    // (state, state_transitions, consecutive_failures, success admitted)
    type End = (&'static str, u64, u32, bool);
    let allowed: [End; 3] = [
        ("closed", 0, 1, true),
        ("open", 1, 0, true),
        ("open", 1, 0, false),
    ];
    let reached = Reached::new();
    let seen = reached.clone();
    check(
        "closed/a_success_between_failures_restarts_the_streak",
        None,
        move || {
            let fx = Fixture::new(config().failure_threshold(2).build().unwrap());

            let failing: Vec<_> = (0..2)
                .map(|_| {
                    let cb = fx.breaker.clone();
                    thread::spawn(move || {
                        cb.try_acquire()
                            .expect("only these two failures can open the breaker")
                            .failure();
                    })
                })
                .collect();
            let cb = fx.breaker.clone();
            let succeeding = thread::spawn(move || match cb.try_acquire() {
                Ok(permit) => {
                    permit.success();
                    true
                }
                Err(rejected) => {
                    assert_eq!(rejected.state(), State::Open);
                    false
                }
            });
            for t in failing {
                t.join().unwrap();
            }
            let admitted = succeeding.join().unwrap();

            let m = fx.breaker.metrics();
            assert_eq!(m.total_calls, 3);
            assert_eq!(m.failed_calls, 2);
            assert_eq!(m.successful_calls, u64::from(admitted));
            assert_eq!(m.rejected_calls, u64::from(!admitted));
            assert_eq!(m.ignored_calls, 0);
            assert_eq!(m.state, fx.breaker.state());
            let expected_log = if m.state == State::Open {
                sorted(&[(State::Closed, State::Open)])
            } else {
                sorted(&[])
            };
            assert_eq!(fx.transitions.sorted(), expected_log);
            seen.insert(
                (
                    m.state.as_str(),
                    m.state_transitions,
                    m.consecutive_failures,
                    admitted,
                ),
                &allowed,
            );
        },
    );
    reached.assert_all(&allowed);
}
