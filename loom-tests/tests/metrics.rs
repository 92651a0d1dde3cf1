#![cfg(loom)]
//! Loom model of the metrics counters under a mix of outcomes.

use breakerbox::{Outcome, State};
use breakerbox_loom_tests::{check, config, sorted, Fixture, Reached, TIMEOUT};
use loom::thread;

/// What one call of a model thread came to: the outcome it recorded, or `None` if rejected.
type Call = Option<Outcome>;

/// Runs `outcomes` in order on `breaker`, one `try_acquire` each, and reports what each call
/// came to.
fn calls(breaker: &breakerbox::CircuitBreaker, outcomes: &[Outcome]) -> Vec<Call> {
    outcomes
        .iter()
        .map(|&outcome| match breaker.try_acquire() {
            Ok(permit) => {
                permit.record_outcome(outcome);
                Some(outcome)
            }
            Err(rejected) => {
                assert_eq!(rejected.state(), State::Open);
                assert_eq!(rejected.retry_after(), Some(TIMEOUT));
                None
            }
        })
        .collect()
}

fn tally(calls: &[Call], outcome: Outcome) -> u64 {
    calls.iter().filter(|&&c| c == Some(outcome)).count() as u64
}

/// Model 9. `failure_threshold = 1`. Thread A: success, then ignored. Thread B: failure (its
/// permit is taken while Closed and only it can open the breaker, so it always opens it),
/// then success (always rejected: B's own failure opened the breaker). A's calls are admitted
/// while they come before that; admitted ones recorded after it are stale but counted.
/// Every counter equals what the threads saw: nothing lost, nothing counted twice.
#[test]
fn every_counter_is_exact_after_a_mixed_race() {
    fn code(c: &Call) -> &'static str {
        match c {
            Some(Outcome::Success) => "success",
            Some(Outcome::Failure) => "failure",
            Some(Outcome::Ignored) => "ignored",
            None => "rejected",
        }
    }
    // (A's calls, B's calls)
    type End = (Vec<&'static str>, Vec<&'static str>);
    let b = vec!["failure", "rejected"];
    let allowed: Vec<End> = vec![
        (vec!["success", "ignored"], b.clone()),
        (vec!["success", "rejected"], b.clone()),
        (vec!["rejected", "rejected"], b),
    ];
    let reached = Reached::new();
    let seen = reached.clone();
    let expected = allowed.clone();
    check(
        "metrics/every_counter_is_exact_after_a_mixed_race",
        None,
        move || {
            let fx = Fixture::new(config().build().unwrap());

            let cb = fx.breaker.clone();
            let a = thread::spawn(move || calls(&cb, &[Outcome::Success, Outcome::Ignored]));
            let cb = fx.breaker.clone();
            let b = thread::spawn(move || calls(&cb, &[Outcome::Failure, Outcome::Success]));
            let a = a.join().unwrap();
            let b = b.join().unwrap();
            let all: Vec<Call> = a.iter().chain(&b).copied().collect();

            let m = fx.breaker.metrics();
            assert_eq!(m.state, State::Open);
            assert_eq!(fx.breaker.state(), State::Open);
            assert_eq!(m.state_transitions, 1);
            assert_eq!(
                fx.transitions.sorted(),
                sorted(&[(State::Closed, State::Open)])
            );
            assert_eq!(m.total_calls, 4);
            assert_eq!(m.successful_calls, tally(&all, Outcome::Success));
            assert_eq!(m.failed_calls, tally(&all, Outcome::Failure));
            assert_eq!(m.ignored_calls, tally(&all, Outcome::Ignored));
            assert_eq!(
                m.rejected_calls,
                all.iter().filter(|c| c.is_none()).count() as u64
            );
            assert_eq!(
                m.total_calls,
                m.successful_calls + m.failed_calls + m.ignored_calls + m.rejected_calls
            );
            assert_eq!(m.consecutive_failures, 0);
            assert!(m.last_failure_time.is_some());
            assert!(m.last_state_change.is_some());
            seen.insert(
                (a.iter().map(code).collect(), b.iter().map(code).collect()),
                &expected,
            );
        },
    );
    reached.assert_all(&allowed);
}

/// Model 9b: the closure API counts like permits. `failure_threshold = 1`. Thread A:
/// `call` → `Ok`, then `call_with` → an `Err` that `is_failure` says is not a failure (a
/// success). Thread B: `call` → `Err` (a failure, which opens the breaker: B's call is
/// admitted while Closed and nothing else opens it), then `call` → `Ok` (always rejected).
/// Each counter equals what the callers saw.
#[test]
fn call_and_call_with_count_like_permits() {
    // (A's calls, B's calls), each "ran" or "rejected"
    type End = (Vec<&'static str>, Vec<&'static str>);
    let b = vec!["ran", "rejected"];
    let allowed: Vec<End> = vec![
        (vec!["ran", "ran"], b.clone()),
        (vec!["ran", "rejected"], b.clone()),
        (vec!["rejected", "rejected"], b),
    ];
    let reached = Reached::new();
    let seen = reached.clone();
    let expected = allowed.clone();
    check(
        "metrics/call_and_call_with_count_like_permits",
        None,
        move || {
            let fx = Fixture::new(config().build().unwrap());
            fn ran<T, E: std::fmt::Debug>(r: Result<T, breakerbox::Error<E>>) -> &'static str {
                match r {
                    Err(breakerbox::Error::Rejected(rejected)) => {
                        assert_eq!(rejected.state(), State::Open);
                        "rejected"
                    }
                    _ => "ran",
                }
            }

            let cb = fx.breaker.clone();
            let a = thread::spawn(move || {
                let first = ran(cb.call(|| Ok::<u8, &str>(1)));
                let second = ran(cb.call_with(|_: &&str| false, || Err::<u8, _>("not found")));
                vec![first, second]
            });
            let cb = fx.breaker.clone();
            let b = thread::spawn(move || {
                let first = cb.call(|| Err::<u8, _>("timeout"));
                assert!(matches!(first, Err(breakerbox::Error::Inner("timeout"))));
                vec!["ran", ran(cb.call(|| Ok::<u8, &str>(2)))]
            });
            let a = a.join().unwrap();
            let b = b.join().unwrap();

            let ran_a = a.iter().filter(|&&c| c == "ran").count() as u64;
            let m = fx.breaker.metrics();
            assert_eq!(m.state, State::Open);
            assert_eq!(m.state_transitions, 1);
            assert_eq!(m.total_calls, 4);
            assert_eq!(
                m.successful_calls, ran_a,
                "call_with's non-failure Err is a success"
            );
            assert_eq!(m.failed_calls, 1);
            assert_eq!(m.ignored_calls, 0);
            assert_eq!(m.rejected_calls, 1 + (2 - ran_a));
            seen.insert((a, b), &expected);
        },
    );
    reached.assert_all(&allowed);
}
