//! The three states of a breaker.

use std::fmt;

/// The state of a circuit breaker.
///
/// # Examples
///
/// ```
/// use breakerbox::{CircuitBreaker, State};
///
/// let breaker = CircuitBreaker::new("payments");
/// assert_eq!(breaker.state(), State::Closed);
/// assert_eq!(State::HalfOpen.as_str(), "half_open");
/// assert_eq!(State::Open.to_string(), "open");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum State {
    /// Calls pass; consecutive failures are counted.
    Closed,
    /// Calls are rejected at once until the open timeout ends.
    Open,
    /// A limited number of probe calls pass to test the service.
    HalfOpen,
}

impl State {
    /// The state's name: `"closed"`, `"open"` or `"half_open"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(breakerbox::State::Closed.as_str(), "closed");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`: honours width and alignment, e.g. `{:<9}` in tables.
        f.pad(self.as_str())
    }
}

/// Why a transition happened: carried by every [`StateChange`](crate::StateChange).
///
/// # Examples
///
/// ```
/// use breakerbox::{Cause, CircuitBreaker, StateChange};
/// use std::sync::{Arc, Mutex};
///
/// let causes = Arc::new(Mutex::new(Vec::new()));
/// let breaker = CircuitBreaker::new("api");
/// let log = causes.clone();
/// breaker.on_state_change(move |c: &StateChange| log.lock().unwrap().push(c.cause));
/// breaker.force_open();
/// breaker.reset();
/// assert_eq!(*causes.lock().unwrap(), [Cause::ForceOpen, Cause::Reset]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Cause {
    /// Closed → Open: `failure_threshold` consecutive failures.
    ConsecutiveFailures,
    /// Closed → Open: the sliding window's failure rate reached its threshold.
    FailureRate,
    /// Closed → Open: the sliding window's slow-call rate reached its threshold.
    SlowCallRate,
    /// HalfOpen → Open: a probe failed (or was slow).
    ProbeFailed,
    /// HalfOpen → Open: the half-open period ran out before the breaker closed.
    HalfOpenExpired,
    /// Open → HalfOpen: the open period ended and a call was admitted as the first probe.
    OpenPeriodEnded,
    /// HalfOpen → Closed: `success_threshold` probes succeeded.
    ProbesSucceeded,
    /// [`CircuitBreaker::reset`](crate::CircuitBreaker::reset).
    Reset,
    /// [`CircuitBreaker::force_open`](crate::CircuitBreaker::force_open).
    ForceOpen,
    /// [`CircuitBreaker::isolate`](crate::CircuitBreaker::isolate).
    Isolate,
    /// [`CircuitBreaker::disable`](crate::CircuitBreaker::disable).
    Disable,
    /// [`CircuitBreaker::open_remote`](crate::CircuitBreaker::open_remote): another
    /// replica of a fleet reported a trip (see the `breakerbox-redis` crate).
    Remote,
}

impl Cause {
    /// The cause's name in snake case, e.g. `"consecutive_failures"`, for logs and labels.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(breakerbox::Cause::HalfOpenExpired.as_str(), "half_open_expired");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::ConsecutiveFailures => "consecutive_failures",
            Cause::FailureRate => "failure_rate",
            Cause::SlowCallRate => "slow_call_rate",
            Cause::ProbeFailed => "probe_failed",
            Cause::HalfOpenExpired => "half_open_expired",
            Cause::OpenPeriodEnded => "open_period_ended",
            Cause::ProbesSucceeded => "probes_succeeded",
            Cause::Reset => "reset",
            Cause::ForceOpen => "force_open",
            Cause::Isolate => "isolate",
            Cause::Disable => "disable",
            Cause::Remote => "remote",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The operator override in force, from [`CircuitBreaker::mode`](crate::CircuitBreaker::mode).
///
/// # Examples
///
/// ```
/// use breakerbox::{CircuitBreaker, Mode};
/// let breaker = CircuitBreaker::new("api");
/// assert_eq!(breaker.mode(), Mode::Normal);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Mode {
    /// The breaker decides for itself.
    Normal,
    /// [`isolate`](crate::CircuitBreaker::isolate)d: Open until `reset()`.
    Isolated,
    /// [`disable`](crate::CircuitBreaker::disable)d: Closed until `reset()`, never trips.
    Disabled,
}

impl Mode {
    /// `"normal"`, `"isolated"` or `"disabled"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(breakerbox::Mode::Isolated.as_str(), "isolated");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Isolated => "isolated",
            Mode::Disabled => "disabled",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}
