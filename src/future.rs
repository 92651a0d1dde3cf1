//! `call_future*`: the async flavour of `call`, as one named future type.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::breaker::classify_with;
use crate::transition::Ticket;
use crate::{CircuitBreaker, Error, Outcome};

pin_project_lite::pin_project! {
    /// The future of [`CircuitBreaker::call_future`] and its variants: admission when first
    /// polled, the outcome recorded (and timed, for the slow-call rule) when the inner future
    /// completes.
    ///
    /// `B` is how it holds the breaker (`&CircuitBreaker`, or `Arc<CircuitBreaker>` for
    /// [`CircuitBreaker::call_future_owned`]), `C` classifies the result.
    ///
    /// Dropped after admission but before the inner future completes, it records
    /// [`Outcome::Ignored`], or [`Outcome::Failure`] if dropped while the thread is panicking
    /// (a panic inside the inner future's poll), or when `slow_call_duration` is set and the
    /// call had already run longer than that (API.md P9): a slow failure, so an outer timeout
    /// that abandons a hung call still trips the breaker.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{CallFuture, CircuitBreaker};
    ///
    /// let breaker = CircuitBreaker::new("async-api");
    /// let fut: CallFuture<&CircuitBreaker, _, _> = breaker.call_future(async { Ok::<_, ()>(1) });
    /// assert_eq!(futures::executor::block_on(fut).unwrap(), 1);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct CallFuture<B, Fut, C>
    where
        B: Deref<Target = CircuitBreaker>,
    {
        #[pin]
        fut: Fut,
        classify: Option<C>,
        guard: Guard<B>,
    }
}

/// The breaker and, once admitted, the ticket; records an abandoned call on drop.
struct Guard<B: Deref<Target = CircuitBreaker>> {
    breaker: B,
    ticket: Option<Ticket>,
}

impl<B: Deref<Target = CircuitBreaker>> Drop for Guard<B> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            let b = &*self.breaker;
            b.abandon(b.cells(), ticket);
        }
    }
}

impl<B, Fut, C> CallFuture<B, Fut, C>
where
    B: Deref<Target = CircuitBreaker>,
{
    fn new(breaker: B, fut: Fut, classify: C) -> Self {
        CallFuture {
            fut,
            classify: Some(classify),
            guard: Guard {
                breaker,
                ticket: None,
            },
        }
    }
}

impl<B, T, E, Fut, C> Future for CallFuture<B, Fut, C>
where
    B: Deref<Target = CircuitBreaker>,
    Fut: Future<Output = Result<T, E>>,
    C: FnOnce(&Result<T, E>) -> Outcome,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let breaker = &*this.guard.breaker;
        if this.guard.ticket.is_none() {
            match breaker.admit(breaker.cells()) {
                Ok(ticket) => this.guard.ticket = Some(ticket),
                Err(rejected) => return Poll::Ready(Err(Error::Rejected(rejected))),
            }
        }
        // A panic in the inner poll is a failure. Executors (tokio) catch it and drop the
        // future later, when the thread is no longer panicking, so the drop guard alone
        // would record Ignored: record here, then let the panic go on.
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| this.fut.poll(cx)));
        let result = match polled {
            Ok(Poll::Ready(result)) => result,
            Ok(Poll::Pending) => return Poll::Pending,
            Err(panic) => {
                if let Some(ticket) = this.guard.ticket.take() {
                    breaker.finish(breaker.cells(), ticket, Outcome::Failure);
                }
                std::panic::resume_unwind(panic)
            }
        };
        // Admitted above or on an earlier poll; the classifier is taken only here, once.
        if let (Some(ticket), Some(classify)) = (this.guard.ticket.take(), this.classify.take()) {
            let outcome = classify(&result);
            breaker.finish(breaker.cells(), ticket, outcome);
        }
        Poll::Ready(result.map_err(Error::Inner))
    }
}

impl<B, Fut, C> std::fmt::Debug for CallFuture<B, Fut, C>
where
    B: Deref<Target = CircuitBreaker>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallFuture")
            .field("breaker", &self.guard.breaker.name())
            .field("admitted", &self.guard.ticket.is_some())
            .finish()
    }
}

/// The classifier of [`CircuitBreaker::call_future`] and
/// [`CircuitBreaker::call_future_owned`]: every `Err` is a failure. Named so that the
/// future's type can be written out (in a struct field, say).
///
/// # Examples
///
/// ```
/// use breakerbox::{CallFuture, CircuitBreaker, ErrorsFail};
/// use std::future::Ready;
///
/// struct Pending<'a> {
///     fut: CallFuture<&'a CircuitBreaker, Ready<Result<u8, ()>>, ErrorsFail<u8, ()>>,
/// }
/// let breaker = CircuitBreaker::new("named");
/// let p = Pending { fut: breaker.call_future(std::future::ready(Ok(3))) };
/// assert_eq!(futures::executor::block_on(p.fut).unwrap(), 3);
/// ```
pub type ErrorsFail<T, E> = fn(&Result<T, E>) -> Outcome;

/// `call_future`'s classifier: every `Err` is a failure.
fn errors_fail<T, E>(r: &Result<T, E>) -> Outcome {
    match r {
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    }
}

impl CircuitBreaker {
    /// Runs `fut` if the breaker admits it. Admission happens when the returned future is
    /// first polled, not when it is created; the outcome is recorded when `fut` completes
    /// (every `Err` is a failure). Dropped before it completes, it records
    /// [`Outcome::Ignored`], or [`Outcome::Failure`] if dropped while the thread is panicking
    /// (a panic inside `fut`'s poll) or after running longer than `slow_call_duration`.
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
    pub fn call_future<'a, T, E, Fut>(
        &'a self,
        fut: Fut,
    ) -> CallFuture<&'a CircuitBreaker, Fut, ErrorsFail<T, E>>
    where
        Fut: Future<Output = Result<T, E>> + 'a,
    {
        CallFuture::new(self, fut, errors_fail::<T, E>)
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
    pub fn call_future_with<'a, T, E, P, Fut>(
        &'a self,
        is_failure: P,
        fut: Fut,
    ) -> CallFuture<&'a CircuitBreaker, Fut, impl FnOnce(&Result<T, E>) -> Outcome + 'a>
    where
        P: FnOnce(&E) -> bool + 'a,
        Fut: Future<Output = Result<T, E>> + 'a,
    {
        CallFuture::new(self, fut, move |r: &Result<T, E>| {
            classify_with(is_failure, r)
        })
    }

    /// [`call_future`](Self::call_future) recording the [`Outcome`] that `classify` gives
    /// the whole result (an `Ok` can be a failure, an `Err` can be ignored).
    ///
    /// # Errors
    ///
    /// As [`call_future`](Self::call_future).
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{CircuitBreaker, Outcome};
    /// let breaker = CircuitBreaker::new("async-search");
    /// let classify = |r: &Result<u32, String>| match r {
    ///     Ok(0) => Outcome::Failure,
    ///     Ok(_) => Outcome::Success,
    ///     Err(_) => Outcome::Ignored,
    /// };
    /// let fut = breaker.call_future_classified(classify, async { Ok::<u32, String>(0) });
    /// assert_eq!(futures::executor::block_on(fut).unwrap(), 0);
    /// assert_eq!(breaker.metrics().failed_calls, 1);
    /// ```
    pub fn call_future_classified<'a, T, E, C, Fut>(
        &'a self,
        classify: C,
        fut: Fut,
    ) -> CallFuture<&'a CircuitBreaker, Fut, C>
    where
        C: FnOnce(&Result<T, E>) -> Outcome + 'a,
        Fut: Future<Output = Result<T, E>> + 'a,
    {
        CallFuture::new(self, fut, classify)
    }

    /// [`call_future`](Self::call_future) holding an `Arc` of the breaker: the future is
    /// `'static` (and `Send` when `fut` is), so it can be handed to `tokio::spawn`.
    ///
    /// # Errors
    ///
    /// As [`call_future`](Self::call_future).
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::CircuitBreaker;
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(CircuitBreaker::new("jobs"));
    /// let fut = breaker.call_future_owned(async { Ok::<_, ()>(7) });
    /// let handle = std::thread::spawn(move || futures::executor::block_on(fut));
    /// assert_eq!(handle.join().unwrap().unwrap(), 7);
    /// assert_eq!(breaker.metrics().successful_calls, 1);
    /// ```
    pub fn call_future_owned<T, E, Fut>(
        self: &Arc<Self>,
        fut: Fut,
    ) -> CallFuture<Arc<CircuitBreaker>, Fut, ErrorsFail<T, E>>
    where
        Fut: Future<Output = Result<T, E>> + 'static,
    {
        CallFuture::new(Arc::clone(self), fut, errors_fail::<T, E>)
    }
}
