//! A [tower] `Layer` and `Service`: a breaker in front of any service, the way axum, tonic,
//! hyper-util and reqwest-middleware stacks compose resilience (feature `tower`).
//!
//! ```
//! use breakerbox::tower::{http_server_errors, CircuitBreakerLayer};
//! use breakerbox::CircuitBreaker;
//! use std::sync::Arc;
//! use std::task::{Context, Poll};
//! use tower_layer::Layer;
//! use tower_service::Service;
//!
//! let breaker = Arc::new(CircuitBreaker::new("upstream"));
//! // Every inner `Err` (refused, timed out, ...) and every 5xx response counts as a failure.
//! let layer = CircuitBreakerLayer::new(breaker).classify(http_server_errors);
//! // Usually: tower::ServiceBuilder::new().layer(layer).timeout(d).service(client)
//! let mut service = layer.layer(Client);
//!
//! let mut cx = Context::from_waker(futures::task::noop_waker_ref());
//! assert!(service.poll_ready(&mut cx).is_ready());
//! let response = futures::executor::block_on(service.call(http::Request::new(())))?;
//! assert_eq!(response.status(), 200);
//!
//! // Stands for an HTTP client, e.g. hyper-util's legacy `Client`.
//! struct Client;
//! impl Service<http::Request<()>> for Client {
//!     type Response = http::Response<()>;
//!     type Error = std::io::Error;
//!     type Future = std::future::Ready<Result<http::Response<()>, std::io::Error>>;
//!     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
//!         Poll::Ready(Ok(()))
//!     }
//!     fn call(&mut self, _: http::Request<()>) -> Self::Future {
//!         std::future::ready(Ok(http::Response::new(())))
//!     }
//! }
//! # Ok::<(), breakerbox::Error<std::io::Error>>(())
//! ```
//!
//! The `breakerbox-ecosystem` crate of the repository runs this against real servers:
//! a hyper-util client stack, an axum service, `tower::timeout` and `tower::limit`.
//!
//! # The `poll_ready` / `call` contract
//!
//! * **Admission happens in `call`**, as in tower's `LoadShed`: a rejected call gets a
//!   [`ResponseFuture`] that is ready with [`Error::Rejected`] on its first poll, and the
//!   inner service never sees the request.
//! * **An open breaker never waits on the inner service**: while
//!   [`CircuitBreaker::is_available`] is false, `poll_ready` is `Ready(Ok(()))` at once
//!   without polling the inner service (a saturated `ConcurrencyLimit`, a full `Buffer` or a
//!   connection pool that cannot connect would otherwise hold every caller until the
//!   dependency the breaker already gave up on comes back). Otherwise it forwards the inner
//!   `poll_ready`. It never takes a probe slot.
//! * **The inner service is called only after its own `poll_ready` returned `Ready(Ok)` for
//!   that call.** The service remembers that readiness. A call the breaker rejects leaves it
//!   in place (the reservation is used by the next admitted call, as a caller that polled
//!   ready and has not called yet would hold it).
//! * **`poll_ready` said ready because the breaker was rejecting, and the breaker admits the
//!   call** (its open period ended, or it was reset, in between): the inner service was not
//!   polled. `call` then polls the inner `poll_ready` once, with a no-op waker. If it is ready
//!   (hyper-util's client, axum's routers, `service_fn`, a free `ConcurrencyLimit` are), the
//!   call goes through. If it is not, the call is rejected: its permit records
//!   [`Outcome::Ignored`] (the call was not attempted; a half-open probe slot is freed) and
//!   the caller gets a [`Rejected`] with state [`State::Open`] (the state the breaker was in
//!   when readiness was given) and `retry_after` zero (retry now). The caller's next
//!   `poll_ready` then waits on the inner service as usual.
//!
//! A `poll_ready` that forwarded to the inner service and got `Pending` keeps only the inner
//! service's waker: if the breaker opens while the caller waits, the caller learns it when
//! the inner service wakes it (there is no timer in the breaker to wake it sooner).
//!
//! # Outcomes
//!
//! The [`ResponseFuture`] records the outcome the classifier (`C`, [`ErrorIsFailure`] by
//! default) gives the inner result. Dropped before it completes, it records
//! [`Outcome::Ignored`] (a cancelled probe frees its slot). A panic in the inner future's
//! `poll` records [`Outcome::Failure`] before it propagates, however the executor handles
//! it (the same for a future dropped while panicking). An error from the inner
//! `poll_ready` is returned as [`Error::Inner`] and recorded nowhere: no call was made.
//!
//! Each call clones the breaker's `Arc` into its permit (the future is `'static`, as hyper
//! and `tokio::spawn` need): one atomic add and one subtract on the breaker's reference
//! count, which cores calling one breaker share.
//!
//! [tower]: https://docs.rs/tower

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::error::Name;
use crate::{CircuitBreaker, Error, Outcome, OwnedPermit, Rejected, State};

/// Decides the [`Outcome`] of a call from its result: the layer's classifier.
///
/// Implemented for [`ErrorIsFailure`] (the default) and for every
/// `Fn(&Result<T, E>) -> Outcome`, such as [`http_server_errors`] or a closure.
///
/// # Examples
///
/// ```
/// use breakerbox::tower::{Classify, ErrorIsFailure};
/// use breakerbox::Outcome;
///
/// assert_eq!(ErrorIsFailure.classify(&Err::<(), _>("down")), Outcome::Failure);
/// let not_found_is_fine = |r: &Result<u16, ()>| match r {
///     Ok(status) if *status >= 500 => Outcome::Failure,
///     Ok(_) => Outcome::Success,
///     Err(()) => Outcome::Failure,
/// };
/// assert_eq!(not_found_is_fine.classify(&Ok(404)), Outcome::Success);
/// ```
pub trait Classify<T, E> {
    /// The outcome of a call that returned `result`.
    fn classify(&self, result: &Result<T, E>) -> Outcome;
}

impl<T, E, F> Classify<T, E> for F
where
    F: Fn(&Result<T, E>) -> Outcome,
{
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        self(result)
    }
}

/// The default classifier: `Ok` is [`Outcome::Success`], `Err` is [`Outcome::Failure`].
///
/// # Examples
///
/// ```
/// use breakerbox::tower::{Classify, ErrorIsFailure};
/// use breakerbox::Outcome;
///
/// assert_eq!(ErrorIsFailure.classify(&Ok::<_, ()>(1)), Outcome::Success);
/// assert_eq!(ErrorIsFailure.classify(&Err::<u8, _>(())), Outcome::Failure);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrorIsFailure;

impl<T, E> Classify<T, E> for ErrorIsFailure {
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

/// A classifier for HTTP clients: an `Err` (connection refused, timeout, ...) and a `5xx`
/// response are [`Outcome::Failure`]; any other response, `4xx` included (the server
/// answered), is [`Outcome::Success`].
///
/// # Examples
///
/// ```
/// use breakerbox::tower::http_server_errors;
/// use breakerbox::Outcome;
///
/// let response = |code: u16| {
///     let mut r = http::Response::new(());
///     *r.status_mut() = http::StatusCode::from_u16(code).unwrap();
///     Ok::<_, std::io::Error>(r)
/// };
/// assert_eq!(http_server_errors(&response(200)), Outcome::Success);
/// assert_eq!(http_server_errors(&response(404)), Outcome::Success);
/// assert_eq!(http_server_errors(&response(503)), Outcome::Failure);
/// let refused = Err::<http::Response<()>, _>(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
/// assert_eq!(http_server_errors(&refused), Outcome::Failure);
/// ```
pub fn http_server_errors<B, E>(r: &Result<http::Response<B>, E>) -> Outcome {
    match r {
        Ok(response) if !response.status().is_server_error() => Outcome::Success,
        _ => Outcome::Failure,
    }
}

/// [`http_server_errors`] as a named type, for when the service type must be written out
/// (a field of an axum state, a type alias): a function item's type cannot be named, and a
/// `fn` pointer type over `tower::BoxError` trips a compiler limitation in async code ("FnOnce
/// is not general enough").
///
/// # Examples
///
/// ```
/// use breakerbox::tower::{CircuitBreakerLayer, CircuitBreakerService, Classify, HttpServerErrors};
/// use breakerbox::Outcome;
/// use std::sync::Arc;
///
/// let layer = CircuitBreakerLayer::new(Arc::new(breakerbox::CircuitBreaker::new("api")))
///     .classify(HttpServerErrors);
/// // A type that can be written out, e.g. for a struct field:
/// let _service: CircuitBreakerService<(), HttpServerErrors> = tower_layer::Layer::layer(&layer, ());
/// let ok = Ok::<_, std::io::Error>(http::Response::new(()));
/// assert_eq!(HttpServerErrors.classify(&ok), Outcome::Success);
/// # let _ = layer;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpServerErrors;

impl<B, E> Classify<http::Response<B>, E> for HttpServerErrors {
    #[inline]
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        http_server_errors(result)
    }
}

/// A tower [`Layer`] that puts a [`CircuitBreaker`] in front of a service; see the
/// [module docs](self) for the `poll_ready` / `call` contract.
///
/// # Examples
///
/// ```
/// use breakerbox::tower::CircuitBreakerLayer;
/// use breakerbox::{CircuitBreaker, Error};
/// use std::future::{ready, Ready};
/// use std::sync::Arc;
/// use std::task::{Context, Poll};
/// use tower_layer::Layer;
/// use tower_service::Service;
///
/// // A service that doubles its input.
/// struct Double;
/// impl Service<u32> for Double {
///     type Response = u32;
///     type Error = std::convert::Infallible;
///     type Future = Ready<Result<u32, Self::Error>>;
///     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
///         Poll::Ready(Ok(()))
///     }
///     fn call(&mut self, n: u32) -> Self::Future {
///         ready(Ok(n * 2))
///     }
/// }
///
/// let breaker = Arc::new(CircuitBreaker::new("double"));
/// let mut service = CircuitBreakerLayer::new(breaker.clone()).layer(Double);
/// let mut cx = Context::from_waker(futures::task::noop_waker_ref());
/// assert!(service.poll_ready(&mut cx).is_ready());
/// assert_eq!(futures::executor::block_on(service.call(21)).unwrap(), 42);
///
/// breaker.force_open();
/// assert!(service.poll_ready(&mut cx).is_ready()); // an open breaker is ready at once
/// let err = futures::executor::block_on(service.call(1)).unwrap_err();
/// assert!(matches!(err, Error::Rejected(_)));
/// ```
#[derive(Clone)]
pub struct CircuitBreakerLayer<C = ErrorIsFailure> {
    breaker: Arc<CircuitBreaker>,
    classify: C,
}

impl CircuitBreakerLayer {
    /// A layer guarding services with `breaker`: an inner `Err` is a failure, an `Ok` a
    /// success.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::tower::CircuitBreakerLayer;
    /// use std::sync::Arc;
    ///
    /// let layer = CircuitBreakerLayer::new(Arc::new(breakerbox::CircuitBreaker::new("db")));
    /// assert_eq!(layer.breaker().name(), "db");
    /// ```
    pub fn new(breaker: Arc<CircuitBreaker>) -> Self {
        CircuitBreakerLayer {
            breaker,
            classify: ErrorIsFailure,
        }
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// The same layer with another classifier: anything implementing [`Classify`], such as
    /// [`http_server_errors`] or a `Fn(&Result<Response, Error>) -> Outcome + Clone`.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::tower::CircuitBreakerLayer;
    /// use breakerbox::{CircuitBreaker, Outcome};
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(CircuitBreaker::new("search"));
    /// // Timeouts say nothing about the service in this (made-up) protocol:
    /// let custom = CircuitBreakerLayer::new(breaker).classify(|r: &Result<u8, std::io::Error>| {
    ///     match r {
    ///         Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Outcome::Ignored,
    ///         Err(_) => Outcome::Failure,
    ///         Ok(_) => Outcome::Success,
    ///     }
    /// });
    /// # let _ = custom;
    /// ```
    pub fn classify<C2>(self, classify: C2) -> CircuitBreakerLayer<C2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classify,
        }
    }

    /// The breaker this layer guards with.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::tower::CircuitBreakerLayer;
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(breakerbox::CircuitBreaker::new("db"));
    /// let layer = CircuitBreakerLayer::new(breaker.clone());
    /// assert!(Arc::ptr_eq(layer.breaker(), &breaker));
    /// ```
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService::with_classifier(
            inner,
            Arc::clone(&self.breaker),
            self.classify.clone(),
        )
    }
}

impl<C> fmt::Debug for CircuitBreakerLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("breaker", &self.breaker.name())
            .finish_non_exhaustive()
    }
}

/// A service guarded by a [`CircuitBreaker`], from [`CircuitBreakerLayer`]; see the
/// [module docs](self) for the `poll_ready` / `call` contract.
///
/// Cloning it clones the inner service and shares the breaker; the clone has not been
/// polled ready (as tower expects of clones).
///
/// # Examples
///
/// ```
/// use breakerbox::tower::CircuitBreakerService;
/// use breakerbox::CircuitBreaker;
/// use std::future::{ready, Ready};
/// use std::sync::Arc;
/// use std::task::{Context, Poll};
/// use tower_service::Service;
///
/// #[derive(Clone)]
/// struct Fails;
/// impl Service<()> for Fails {
///     type Response = ();
///     type Error = &'static str;
///     type Future = Ready<Result<(), &'static str>>;
///     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
///         Poll::Ready(Ok(()))
///     }
///     fn call(&mut self, _: ()) -> Self::Future {
///         ready(Err("down"))
///     }
/// }
///
/// let config = breakerbox::Config::builder().failure_threshold(2).build()?;
/// let breaker = Arc::new(CircuitBreaker::with_config("fails", config));
/// let mut service = CircuitBreakerService::new(Fails, breaker.clone());
/// let mut cx = Context::from_waker(futures::task::noop_waker_ref());
/// for _ in 0..2 {
///     assert!(service.poll_ready(&mut cx).is_ready());
///     let _ = futures::executor::block_on(service.call(()));
/// }
/// assert_eq!(breaker.state(), breakerbox::State::Open);
/// # Ok::<(), breakerbox::ConfigError>(())
/// ```
pub struct CircuitBreakerService<S, C> {
    inner: S,
    breaker: Arc<CircuitBreaker>,
    classify: C,
    /// The inner service's `poll_ready` returned `Ready(Ok)` and no call has used it yet.
    inner_ready: bool,
}

impl<S> CircuitBreakerService<S, ErrorIsFailure> {
    /// `inner` guarded by `breaker`, with the default classifier [`ErrorIsFailure`].
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::tower::CircuitBreakerService;
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(breakerbox::CircuitBreaker::new("inner"));
    /// let service = CircuitBreakerService::new((), breaker);
    /// assert_eq!(service.breaker().name(), "inner");
    /// ```
    pub fn new(inner: S, breaker: Arc<CircuitBreaker>) -> Self {
        Self::with_classifier(inner, breaker, ErrorIsFailure)
    }
}

impl<S, C> CircuitBreakerService<S, C> {
    /// `inner` guarded by `breaker`, classifying results with `classify`.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::tower::{http_server_errors, CircuitBreakerService};
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(breakerbox::CircuitBreaker::new("api"));
    /// let service = CircuitBreakerService::with_classifier((), breaker, http_server_errors::<(), ()>);
    /// # let _ = service;
    /// ```
    pub fn with_classifier(inner: S, breaker: Arc<CircuitBreaker>, classify: C) -> Self {
        CircuitBreakerService {
            inner,
            breaker,
            classify,
            inner_ready: false,
        }
    }

    /// The breaker guarding the service.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::tower::CircuitBreakerService;
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(breakerbox::CircuitBreaker::new("inner"));
    /// let service = CircuitBreakerService::new((), breaker.clone());
    /// assert!(Arc::ptr_eq(service.breaker(), &breaker));
    /// ```
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }

    /// The inner service.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::tower::CircuitBreakerService;
    /// use std::sync::Arc;
    ///
    /// let service = CircuitBreakerService::new(7_u8, Arc::new(breakerbox::CircuitBreaker::new("x")));
    /// assert_eq!(*service.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::tower::CircuitBreakerService;
    /// use std::sync::Arc;
    ///
    /// let mut service = CircuitBreakerService::new(7_u8, Arc::new(breakerbox::CircuitBreaker::new("x")));
    /// *service.get_mut() += 1;
    /// assert_eq!(*service.get_ref(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::tower::CircuitBreakerService;
    /// use std::sync::Arc;
    ///
    /// let service = CircuitBreakerService::new(7_u8, Arc::new(breakerbox::CircuitBreaker::new("x")));
    /// assert_eq!(service.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, C: Clone> Clone for CircuitBreakerService<S, C> {
    fn clone(&self) -> Self {
        CircuitBreakerService {
            inner: self.inner.clone(),
            breaker: Arc::clone(&self.breaker),
            classify: self.classify.clone(),
            // A clone is a new handle: its inner service has not been polled ready.
            inner_ready: false,
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for CircuitBreakerService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker.name())
            .field("inner_ready", &self.inner_ready)
            .finish_non_exhaustive()
    }
}

impl<S, C, Req> Service<Req> for CircuitBreakerService<S, C>
where
    S: Service<Req>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.inner_ready || !self.breaker.is_available() {
            // Already reserved, or the call will be rejected: nothing to wait for.
            return Poll::Ready(Ok(()));
        }
        match self.inner.poll_ready(cx) {
            Poll::Ready(Ok(())) => {
                self.inner_ready = true;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(Error::Inner(e))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let permit = match self.breaker.try_acquire_owned() {
            Ok(permit) => permit,
            // The inner readiness, if any, stays for the next admitted call.
            Err(rejected) => return ResponseFuture::rejected(rejected, self.classify.clone()),
        };
        if !self.inner_ready && !ready_now::<S, Req>(&mut self.inner) {
            // Readiness was given while the breaker was rejecting, and the inner service is
            // not ready now: not attempted (see the module docs).
            let rejected = Rejected::new(
                Name::new(&Arc::from(self.breaker.name())),
                State::Open,
                Some(0),
            );
            permit.record_outcome(Outcome::Ignored);
            return ResponseFuture::rejected(rejected, self.classify.clone());
        }
        self.inner_ready = false;
        ResponseFuture {
            kind: Kind::Called {
                future: self.inner.call(req),
                permit: Some(permit),
            },
            classify: self.classify.clone(),
        }
    }
}

/// Polls `inner`'s `poll_ready` once with a no-op waker: `true` if it is ready now.
fn ready_now<S: Service<Req>, Req>(inner: &mut S) -> bool {
    let mut cx = Context::from_waker(noop_waker());
    matches!(inner.poll_ready(&mut cx), Poll::Ready(Ok(())))
}

/// A waker that does nothing, made once per process (`Waker::noop` needs Rust 1.85).
fn noop_waker() -> &'static Waker {
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    static WAKER: OnceLock<Waker> = OnceLock::new();
    WAKER.get_or_init(|| Waker::from(Arc::new(Noop)))
}

pin_project! {
    /// The future of a [`CircuitBreakerService`] call: the inner call's future and its
    /// permit, or a rejection that is ready on the first poll. Named, not boxed: nothing is
    /// allocated per call.
    ///
    /// Completing records the classifier's outcome; dropped before it completes, the
    /// permit records [`Outcome::Ignored`] ([`Outcome::Failure`] while panicking).
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::tower::{CircuitBreakerService, ResponseFuture};
    /// use breakerbox::CircuitBreaker;
    /// use std::sync::Arc;
    /// use std::task::{Context, Poll};
    /// use tower_service::Service;
    ///
    /// let breaker = Arc::new(CircuitBreaker::new("slow"));
    /// // A service whose calls never finish.
    /// let never = tower_service_fn(|_: ()| std::future::pending::<Result<(), ()>>());
    /// let mut service = CircuitBreakerService::new(never, breaker.clone());
    /// let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    /// assert!(service.poll_ready(&mut cx).is_ready());
    /// let call: ResponseFuture<_, _> = service.call(());
    /// let mut call = Box::pin(call);
    /// assert!(call.as_mut().poll(&mut cx).is_pending());
    /// drop(call); // cancelled: Ignored
    /// assert_eq!(breaker.metrics().ignored_calls, 1);
    /// # use std::future::Future;
    /// # struct ServiceFn<F>(F);
    /// # fn tower_service_fn<F>(f: F) -> ServiceFn<F> { ServiceFn(f) }
    /// # impl<F: FnMut(()) -> Fut, Fut: Future<Output = Result<(), ()>>> Service<()> for ServiceFn<F> {
    /// #     type Response = (); type Error = (); type Future = Fut;
    /// #     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ()>> { Poll::Ready(Ok(())) }
    /// #     fn call(&mut self, r: ()) -> Fut { (self.0)(r) }
    /// # }
    /// ```
    pub struct ResponseFuture<F, C> {
        #[pin]
        kind: Kind<F>,
        classify: C,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Called {
            #[pin]
            future: F,
            // `None` once recorded.
            permit: Option<OwnedPermit>,
        },
        Rejected {
            // `None` once returned.
            rejected: Option<Rejected>,
        },
    }
}

impl<F, C> ResponseFuture<F, C> {
    fn rejected(rejected: Rejected, classify: C) -> Self {
        ResponseFuture {
            kind: Kind::Rejected {
                rejected: Some(rejected),
            },
            classify,
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.kind.project() {
            KindProj::Called { future, permit } => {
                // A panic in the inner poll records Failure here, whoever later drops this
                // future (executors such as tokio catch the panic and drop the task after
                // unwinding, when the permit alone would record Ignored). Resumed at once:
                // no state of the inner future is observed after the panic.
                let result = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(Poll::Ready(result)) => result,
                    Ok(Poll::Pending) => return Poll::Pending,
                    Err(panic) => {
                        if let Some(permit) = permit.take() {
                            permit.record_outcome(Outcome::Failure);
                        }
                        resume_unwind(panic)
                    }
                };
                // A panic in the classifier unwinds through the permit: Failure.
                let outcome = this.classify.classify(&result);
                if let Some(permit) = permit.take() {
                    permit.record_outcome(outcome);
                }
                Poll::Ready(result.map_err(Error::Inner))
            }
            KindProj::Rejected { rejected } => match rejected.take() {
                Some(rejected) => Poll::Ready(Err(Error::Rejected(rejected))),
                None => panic!("`ResponseFuture` polled after completion"),
            },
        }
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Called { permit, .. } => match permit {
                Some(_) => "running",
                None => "done",
            },
            Kind::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
