//! Failpoints: named points between two atomic steps of the protocol where a test can run
//! code on the thread that reaches them — typically park it while other threads make
//! thousands of transitions (a deterministic stand-in for a preemption).
//!
//! Compiled in only with the `failpoints` feature (for the crate's own tests); without it
//! every [`hit`] is an empty inline function. Hooks are per thread: a test arms a point on
//! the thread it wants to stop, so tests running in parallel never see each other's hooks.
//!
//! The points, in protocol order (see `crate::engine`):
//!
//! | name                 | between                                                      |
//! |----------------------|--------------------------------------------------------------|
//! | `view.after_word`    | loading the word and loading the stamp                       |
//! | `view.after_stamp`   | loading the stamp and reading the clock                      |
//! | `drive.before_cas`   | deciding (clock read) and the word's CAS                      |
//! | `drive.after_cas`    | a winning CAS and publishing the new period's stamp          |
//! | `publish.before_cas` | loading the stamp and the publishing CAS                     |
//! | `probe.between`      | counting a probe's success in the stamp and the word's CAS   |
//! | `admit.after_load`   | the hot path's load of the word and its return (Closed)      |
//! | `settle.after_load`  | the success fast path's load of the word and its comparison  |

/// Every failpoint name.
#[cfg_attr(not(feature = "failpoints"), allow(dead_code, unreachable_pub))]
pub const POINTS: &[&str] = &[
    "view.after_word",
    "view.after_stamp",
    "drive.before_cas",
    "drive.after_cas",
    "publish.before_cas",
    "probe.between",
    "admit.after_load",
    "settle.after_load",
];

#[cfg(feature = "failpoints")]
mod hooks {
    use std::cell::RefCell;

    type Hook = (&'static str, Box<dyn FnOnce()>);

    std::thread_local! {
        static HOOKS: RefCell<Vec<Hook>> = const { RefCell::new(Vec::new()) };
    }

    /// Runs `f` the next time the calling thread reaches failpoint `name` (once).
    ///
    /// # Panics
    ///
    /// If `name` is not one of [`POINTS`](super::POINTS).
    pub fn arm(name: &'static str, f: impl FnOnce() + 'static) {
        assert!(super::POINTS.contains(&name), "unknown failpoint {name:?}");
        HOOKS.with(|h| h.borrow_mut().push((name, Box::new(f))));
    }

    /// Whether a hook armed on this thread is still waiting for its point.
    pub fn pending() -> usize {
        HOOKS.with(|h| h.borrow().len())
    }

    /// Drops every hook armed on the calling thread.
    pub fn disarm_all() {
        HOOKS.with(|h| h.borrow_mut().clear());
    }

    pub(crate) fn hit(name: &'static str) {
        let hook = HOOKS.with(|h| {
            let mut h = h.borrow_mut();
            let i = h.iter().position(|(n, _)| *n == name)?;
            Some(h.remove(i).1)
        });
        if let Some(f) = hook {
            f();
        }
    }
}

#[cfg(feature = "failpoints")]
pub use hooks::{arm, disarm_all, pending};

/// Moves a Closed breaker's generation forward by `n`, as `n` back-to-back `reset()`s of a
/// closed breaker would, without making them (2^32 resets take two minutes; tests of the
/// generation's width need billions).
///
/// # Panics
///
/// If the breaker is not Closed.
#[cfg(feature = "failpoints")]
pub fn skip_generations(breaker: &crate::CircuitBreaker, n: u64) {
    breaker.skip_generations(n);
}

/// Reaching failpoint `name`.
#[cfg(feature = "failpoints")]
#[inline]
pub(crate) fn hit(name: &'static str) {
    hooks::hit(name);
}

/// Reaching failpoint `name`: nothing, without the `failpoints` feature.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn hit(_: &'static str) {}
