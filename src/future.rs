//! `call_future`: the async flavour of `call`.

use std::future::Future;

use crate::{CircuitBreaker, Error, Outcome};

impl CircuitBreaker {
    /// Runs `fut` if the breaker admits it. Admission happens when the returned future is
    /// first polled, not when it is created; the outcome is recorded when `fut` completes
    /// (every `Err` is a failure). Dropped before it completes, it records
    /// [`Outcome::Ignored`], or [`Outcome::Failure`] if dropped while the thread is panicking
    /// (a panic inside `fut`'s poll).
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] without polling `fut` when not admitted; [`Error::Inner`] with
    /// `fut`'s error.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::new("async-api");
    /// let fut = breaker.call_future(async { Ok::<_, std::io::Error>("pong") });
    /// assert_eq!(breaker.metrics().total_calls, 0); // nothing happens until polled
    /// assert_eq!(futures::executor::block_on(fut).unwrap(), "pong");
    /// assert_eq!(breaker.metrics().successful_calls, 1);
    /// ```
    // The explicit `impl Future + 'a` form is the API contract's signature.
    #[allow(clippy::manual_async_fn)]
    pub fn call_future<'a, T, E, Fut>(
        &'a self,
        fut: Fut,
    ) -> impl Future<Output = Result<T, Error<E>>> + 'a
    where
        Fut: Future<Output = Result<T, E>> + 'a,
    {
        self.call_future_with(|_: &E| true, fut)
    }

    /// [`call_future`](Self::call_future) where only errors for which `is_failure` returns
    /// true count as failures; any other `Err` counts as a success.
    ///
    /// # Errors
    ///
    /// As [`call_future`](Self::call_future).
    ///
    /// # Examples
    ///
    /// ```
    /// let breaker = breakerbox::CircuitBreaker::new("async-http");
    /// let fut = breaker.call_future_with(|s: &u16| *s >= 500, async { Err::<(), u16>(404) });
    /// assert!(futures::executor::block_on(fut).is_err());
    /// assert_eq!(breaker.metrics().successful_calls, 1);
    /// ```
    #[allow(clippy::manual_async_fn)]
    pub fn call_future_with<'a, T, E, P, Fut>(
        &'a self,
        is_failure: P,
        fut: Fut,
    ) -> impl Future<Output = Result<T, Error<E>>> + 'a
    where
        P: FnOnce(&E) -> bool + 'a,
        Fut: Future<Output = Result<T, E>> + 'a,
    {
        // An async block runs nothing until first polled: admission happens then. The permit
        // lives in the block's state, so dropping the future drops it (Ignored, or Failure
        // while unwinding from a panic in `fut`).
        async move {
            let permit = self.try_acquire()?;
            match fut.await {
                Ok(v) => {
                    permit.success();
                    Ok(v)
                }
                Err(e) => {
                    permit.record_outcome(if is_failure(&e) {
                        Outcome::Failure
                    } else {
                        Outcome::Success
                    });
                    Err(Error::Inner(e))
                }
            }
        }
    }
}
