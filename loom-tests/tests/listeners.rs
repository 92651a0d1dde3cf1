#![cfg(loom)]
//! Loom model of listeners that call back into their breaker (API.md semantics 8).

use std::sync::Arc;

use breakerbox::State;
use breakerbox_loom_tests::{check, config, Fixture, Reached};
use loom::thread;

/// Model 11. `failure_threshold = 1`; a listener that, on every change to Open, reads the
/// breaker (`state`, `is_available`, `metrics`) and calls `reset` from inside the listener
/// (a nested transition and a nested listener call). Two threads each acquire and fail.
/// No lock may be held across a listener (loom reports a deadlock otherwise), and the nested
/// reset is an ordinary transition. Sequentially:
/// - both permits are taken before the first failure: the first opens (and is reset by its
///   listener), the second is stale: 2 transitions;
/// - the second permit is taken after the reset: it opens again and is reset again:
///   4 transitions.
///
/// Every order ends Closed, and the listener log alternates Closed → Open, Open → Closed.
#[test]
fn a_listener_may_call_back_and_reset() {
    let allowed = [2_u64, 4];
    let reached = Reached::new();
    let seen = reached.clone();
    check(
        "listeners/a_listener_may_call_back_and_reset",
        None,
        move || {
            let fx = Fixture::new(config().build().unwrap());
            let weak = Arc::downgrade(&fx.breaker);
            fx.breaker.on_state_change(move |change| {
                let Some(cb) = weak.upgrade() else { return };
                // The change is published before listeners run; a racing thread may have moved
                // the breaker on since, so only the reads' consistency is checked here.
                let state = cb.state();
                let m = cb.metrics();
                let _ = cb.is_available();
                assert!(m.state_transitions >= 1);
                if change.to == State::Open {
                    assert_ne!(state, State::HalfOpen, "no time passes in this model");
                    cb.reset();
                }
            });

            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let cb = fx.breaker.clone();
                    thread::spawn(move || match cb.try_acquire() {
                        Ok(permit) => permit.failure(),
                        Err(rejected) => {
                            // Rejected only between an opening and its listener's reset.
                            assert_eq!(rejected.state(), State::Open);
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }

            let cb = &fx.breaker;
            assert_eq!(cb.state(), State::Closed);
            let m = cb.metrics();
            assert_eq!(m.state, State::Closed);
            assert_eq!(m.consecutive_failures, 0);
            assert_eq!(m.total_calls, 2);
            assert_eq!(m.failed_calls + m.rejected_calls, 2);
            let log = fx.transitions.all();
            assert_eq!(log.len() as u64, m.state_transitions);
            let opened = fx.transitions.count(State::Closed, State::Open);
            let closed = fx.transitions.count(State::Open, State::Closed);
            assert_eq!(opened, closed, "every opening was reset: {log:?}");
            assert_eq!(opened + closed, log.len());
            seen.insert(m.state_transitions, &allowed);
        },
    );
    reached.assert_all(&allowed);
}
