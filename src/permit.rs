//! Permits: the guard API's admission tokens, and call outcomes.

use std::fmt;
use std::sync::Arc;

use crate::transition::Ticket;
use crate::CircuitBreaker;

/// How an admitted call went.
///
/// # Examples
///
/// ```
/// use breakerbox::{CircuitBreaker, Outcome};
///
/// let breaker = CircuitBreaker::new("auth");
/// let permit = breaker.try_acquire()?;
/// permit.record_outcome(Outcome::Ignored); // e.g. the caller cancelled
/// assert_eq!(breaker.metrics().ignored_calls, 1);
/// # Ok::<(), breakerbox::Rejected>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The service answered: clears a closed breaker's failure streak, counts toward
    /// closing a half-open one.
    Success,
    /// The service failed: counts toward opening a closed breaker, reopens a half-open one.
    Failure,
    /// Says nothing about the service (cancelled, not attempted): only counted, and frees a
    /// half-open probe slot.
    Ignored,
}

/// Admission to make one call through a [`CircuitBreaker`], from
/// [`CircuitBreaker::try_acquire`].
///
/// Record how the call went with [`record_outcome`](Permit::record_outcome),
/// [`success`](Permit::success) or [`failure`](Permit::failure). Dropped without a recorded
/// outcome, it records [`Outcome::Failure`] if the thread is panicking and
/// [`Outcome::Ignored`] otherwise — unless `slow_call_duration` is set and the call had
/// already run longer than that: then a slow failure (API.md P9; an outer timeout that
/// abandons a slow call must not hide a hung dependency).
///
/// With `slow_call_duration` set, a permit times itself from `try_acquire` to its record.
///
/// # Examples
///
/// ```
/// use breakerbox::CircuitBreaker;
///
/// let breaker = CircuitBreaker::new("queue");
/// match breaker.try_acquire() {
///     Ok(permit) => {
///         // ... make the call ...
///         permit.success();
///     }
///     Err(rejected) => eprintln!("skipped: {rejected}"),
/// }
/// assert_eq!(breaker.metrics().successful_calls, 1);
/// ```
#[must_use = "a permit records Ignored when dropped; record the call's outcome"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    ticket: Ticket,
}

impl<'a> Permit<'a> {
    #[inline(always)]
    pub(crate) fn new(breaker: &'a CircuitBreaker, ticket: Ticket) -> Permit<'a> {
        Permit { breaker, ticket }
    }

    /// Records how the call went.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{CircuitBreaker, Outcome};
    /// let breaker = CircuitBreaker::new("api");
    /// breaker.try_acquire()?.record_outcome(Outcome::Failure);
    /// assert_eq!(breaker.metrics().consecutive_failures, 1);
    /// # Ok::<(), breakerbox::Rejected>(())
    /// ```
    #[inline(always)]
    pub fn record_outcome(self, outcome: Outcome) {
        let (breaker, ticket) = (self.breaker, self.ticket);
        // The permit owns nothing to free: forgetting it only skips `Drop`, which would
        // record a second outcome.
        std::mem::forget(self);
        breaker.finish(breaker.cells(), ticket, outcome);
    }

    /// Records [`Outcome::Success`].
    ///
    /// # Examples
    ///
    /// ```
    /// let breaker = breakerbox::CircuitBreaker::new("api");
    /// breaker.try_acquire()?.success();
    /// assert_eq!(breaker.metrics().successful_calls, 1);
    /// # Ok::<(), breakerbox::Rejected>(())
    /// ```
    #[inline(always)]
    pub fn success(self) {
        self.record_outcome(Outcome::Success);
    }

    /// Records [`Outcome::Failure`].
    ///
    /// # Examples
    ///
    /// ```
    /// let breaker = breakerbox::CircuitBreaker::new("api");
    /// breaker.try_acquire()?.failure();
    /// assert_eq!(breaker.metrics().failed_calls, 1);
    /// # Ok::<(), breakerbox::Rejected>(())
    /// ```
    #[inline]
    pub fn failure(self) {
        self.record_outcome(Outcome::Failure);
    }
}

impl Drop for Permit<'_> {
    /// Reached only without a recorded outcome: `record_outcome` forgets the permit.
    fn drop(&mut self) {
        self.breaker.abandon(self.breaker.cells(), self.ticket);
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.name())
            .field("generation", &self.ticket.generation())
            .field("role", &self.ticket.role())
            .finish()
    }
}

/// A [`Permit`] that owns an `Arc` of its breaker, so it can move into a spawned task;
/// from [`CircuitBreaker::try_acquire_owned`]. Same methods and drop behaviour.
///
/// # Examples
///
/// ```
/// use breakerbox::CircuitBreaker;
/// use std::sync::Arc;
///
/// let breaker = Arc::new(CircuitBreaker::new("worker"));
/// let permit = breaker.try_acquire_owned()?;
/// std::thread::spawn(move || permit.success()).join().unwrap();
/// assert_eq!(breaker.metrics().successful_calls, 1);
/// # Ok::<(), breakerbox::Rejected>(())
/// ```
#[must_use = "a permit records Ignored when dropped; record the call's outcome"]
pub struct OwnedPermit {
    breaker: Arc<CircuitBreaker>,
    ticket: Ticket,
    armed: bool,
}

impl OwnedPermit {
    pub(crate) fn new(breaker: Arc<CircuitBreaker>, ticket: Ticket) -> OwnedPermit {
        OwnedPermit {
            breaker,
            ticket,
            armed: true,
        }
    }

    /// Records how the call went.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{CircuitBreaker, Outcome};
    /// use std::sync::Arc;
    /// let breaker = Arc::new(CircuitBreaker::new("jobs"));
    /// breaker.try_acquire_owned()?.record_outcome(Outcome::Ignored);
    /// assert_eq!(breaker.metrics().ignored_calls, 1);
    /// # Ok::<(), breakerbox::Rejected>(())
    /// ```
    pub fn record_outcome(mut self, outcome: Outcome) {
        self.armed = false;
        self.breaker
            .finish(self.breaker.cells(), self.ticket, outcome);
    }

    /// Records [`Outcome::Success`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let breaker = Arc::new(breakerbox::CircuitBreaker::new("jobs"));
    /// breaker.try_acquire_owned()?.success();
    /// assert_eq!(breaker.metrics().successful_calls, 1);
    /// # Ok::<(), breakerbox::Rejected>(())
    /// ```
    pub fn success(self) {
        self.record_outcome(Outcome::Success);
    }

    /// Records [`Outcome::Failure`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let breaker = Arc::new(breakerbox::CircuitBreaker::new("jobs"));
    /// breaker.try_acquire_owned()?.failure();
    /// assert_eq!(breaker.metrics().failed_calls, 1);
    /// # Ok::<(), breakerbox::Rejected>(())
    /// ```
    pub fn failure(self) {
        self.record_outcome(Outcome::Failure);
    }

    /// The breaker this permit belongs to.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let breaker = Arc::new(breakerbox::CircuitBreaker::new("jobs"));
    /// let permit = breaker.try_acquire_owned()?;
    /// assert!(Arc::ptr_eq(permit.breaker(), &breaker));
    /// permit.success();
    /// # Ok::<(), breakerbox::Rejected>(())
    /// ```
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        if self.armed {
            self.breaker.abandon(self.breaker.cells(), self.ticket);
        }
    }
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("breaker", &self.breaker.name())
            .field("generation", &self.ticket.generation())
            .field("role", &self.ticket.role())
            .finish()
    }
}
