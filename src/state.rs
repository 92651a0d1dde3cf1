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
