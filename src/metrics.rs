//! The metrics snapshot ([`Metrics`], also at the crate root) and, with the `metrics`
//! feature, `export` into the `metrics` facade.

use std::time::SystemTime;

use crate::State;

#[cfg(feature = "metrics")]
#[path = "export.rs"]
mod export;
#[cfg(feature = "metrics")]
pub use export::export;

/// A snapshot of one breaker's counters and state, from [`CircuitBreaker::metrics`].
///
/// Counters are summed from per-thread stripes on read, so a snapshot taken while calls run
/// is not atomic across fields; once no permit is outstanding,
/// `total_calls == successful_calls + failed_calls + ignored_calls + rejected_calls`.
///
/// [`CircuitBreaker::metrics`]: crate::CircuitBreaker::metrics
///
/// # Examples
///
/// ```
/// use breakerbox::CircuitBreaker;
///
/// let breaker = CircuitBreaker::new("cache");
/// let _ = breaker.call(|| Ok::<_, ()>(()));
/// let _ = breaker.call(|| Err::<(), _>(()));
/// let m = breaker.metrics();
/// assert_eq!((m.total_calls, m.successful_calls, m.failed_calls), (2, 1, 1));
/// assert_eq!(m.consecutive_failures, 1);
/// assert!(m.last_failure_time.is_some());
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Metrics {
    /// The effective state when the snapshot was taken.
    pub state: State,
    /// Every `try_acquire` / `call`: admitted and rejected.
    pub total_calls: u64,
    /// Admitted calls recorded as a success.
    pub successful_calls: u64,
    /// Admitted calls recorded as a failure.
    pub failed_calls: u64,
    /// Admitted calls recorded as ignored (or whose permit was dropped unrecorded).
    pub ignored_calls: u64,
    /// Calls the breaker rejected.
    pub rejected_calls: u64,
    /// The current failure streak while closed; 0 in other states.
    pub consecutive_failures: u32,
    /// State changes since creation (`reset` / `force_open` count when they change it).
    pub state_transitions: u64,
    /// When the last failure was recorded.
    pub last_failure_time: Option<SystemTime>,
    /// When the state last changed.
    pub last_state_change: Option<SystemTime>,
    /// Success and Failure outcomes slower than `slow_call_duration`, stale or not (0 when
    /// it is unset; Ignored is never slow).
    pub slow_calls: u64,
    /// Percent of failures over the current closed window; `None` without a window, outside
    /// Closed, or while the window holds fewer outcomes than its evaluation minimum.
    pub failure_rate: Option<f64>,
    /// Likewise, for slow calls (`None` without `slow_call_duration`).
    pub slow_call_rate: Option<f64>,
    /// Dry run only: calls it admitted but would have rejected.
    pub would_reject_calls: u64,
}
