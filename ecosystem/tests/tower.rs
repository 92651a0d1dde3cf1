//! `breakerbox::tower`: the `poll_ready` / `call` contract against a hand-written inner
//! service that counts and checks, and composition with `ServiceBuilder`, `tower::timeout`
//! and `tower::limit`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use breakerbox::tower::{http_server_errors, CircuitBreakerLayer, CircuitBreakerService};
use breakerbox::{quanta, CircuitBreaker, Config, Error, State};
use futures::task::noop_waker_ref;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

/// What the probe service's calls do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Ok,
    Err,
    /// A future that never completes.
    Hang,
    /// A future that panics when polled.
    Panic,
}

/// Shared knobs and counters of [`Probe`].
#[derive(Debug)]
struct Knobs {
    ready: AtomicBool,
    answer_err: AtomicBool,
    // Relaxed: single-threaded tests read them after the polls they count.
    poll_ready_calls: AtomicUsize,
    calls: AtomicUsize,
}

impl Knobs {
    fn new() -> Arc<Knobs> {
        Arc::new(Knobs {
            ready: AtomicBool::new(true),
            answer_err: AtomicBool::new(false),
            poll_ready_calls: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        })
    }
    fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
    fn polls(&self) -> usize {
        self.poll_ready_calls.load(Ordering::Relaxed)
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }
}

/// An inner service that enforces tower's contract: `call` panics unless its own
/// `poll_ready` returned `Ready(Ok)` since the previous call.
#[derive(Debug)]
struct Probe {
    knobs: Arc<Knobs>,
    answer: Answer,
    polled_ready: bool,
}

impl Probe {
    fn new(knobs: &Arc<Knobs>, answer: Answer) -> Probe {
        Probe {
            knobs: Arc::clone(knobs),
            answer,
            polled_ready: false,
        }
    }
}

impl Service<u32> for Probe {
    type Response = u32;
    type Error = &'static str;
    type Future = Pin<Box<dyn Future<Output = Result<u32, &'static str>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.knobs.poll_ready_calls.fetch_add(1, Ordering::Relaxed);
        if self.knobs.ready.load(Ordering::Relaxed) {
            self.polled_ready = true;
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn call(&mut self, n: u32) -> Self::Future {
        assert!(
            self.polled_ready,
            "called without a Ready(Ok) from poll_ready"
        );
        self.polled_ready = false;
        self.knobs.calls.fetch_add(1, Ordering::Relaxed);
        let answer = if self.knobs.answer_err.load(Ordering::Relaxed) {
            Answer::Err
        } else {
            self.answer
        };
        match answer {
            Answer::Ok => Box::pin(async move { Ok(n) }),
            Answer::Err => Box::pin(async { Err("down") }),
            Answer::Hang => Box::pin(std::future::pending()),
            Answer::Panic => Box::pin(async { panic!("inner future panicked") }),
        }
    }
}

fn cx() -> Context<'static> {
    Context::from_waker(noop_waker_ref())
}

fn breaker(name: &str, failure_threshold: u32) -> Arc<CircuitBreaker> {
    let config = Config::builder()
        .failure_threshold(failure_threshold)
        .success_threshold(1)
        .half_open_max_calls(1)
        .build()
        .unwrap();
    Arc::new(CircuitBreaker::with_config(name, config))
}

/// Polls `fut` once: its output if ready.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut cx())
}

#[test]
fn an_open_breaker_is_ready_without_polling_the_inner_service_and_rejects_in_call() {
    let knobs = Knobs::new();
    knobs.set_ready(false); // the inner service would make a caller wait forever
    let breaker = breaker("tower::open", 1);
    breaker.force_open();
    let mut service = CircuitBreakerService::new(Probe::new(&knobs, Answer::Ok), breaker.clone());

    assert!(matches!(service.poll_ready(&mut cx()), Poll::Ready(Ok(()))));
    let mut call = service.call(1);
    match poll_once(&mut call) {
        Poll::Ready(Err(Error::Rejected(rejected))) => {
            assert_eq!(rejected.state(), State::Open);
            assert_eq!(rejected.name(), "tower::open");
        }
        other => panic!("expected a rejection on the first poll, got {other:?}"),
    }
    assert_eq!((knobs.polls(), knobs.calls()), (0, 0));
    let m = breaker.metrics();
    assert_eq!((m.total_calls, m.rejected_calls), (1, 1));
}

#[test]
fn a_closed_breaker_forwards_poll_ready_and_takes_no_slot() {
    let knobs = Knobs::new();
    knobs.set_ready(false);
    let breaker = breaker("tower::forwards", 1);
    let mut service = CircuitBreakerService::new(Probe::new(&knobs, Answer::Ok), breaker.clone());

    assert!(service.poll_ready(&mut cx()).is_pending());
    assert!(service.poll_ready(&mut cx()).is_pending());
    assert_eq!(knobs.polls(), 2);
    assert_eq!(
        breaker.metrics().total_calls,
        0,
        "poll_ready admitted nothing"
    );

    knobs.set_ready(true);
    assert!(matches!(service.poll_ready(&mut cx()), Poll::Ready(Ok(()))));
    // Ready is remembered: a second poll_ready does not poll the inner service again.
    assert!(matches!(service.poll_ready(&mut cx()), Poll::Ready(Ok(()))));
    assert_eq!(knobs.polls(), 3);
    let mut call = service.call(7);
    assert!(matches!(poll_once(&mut call), Poll::Ready(Ok(7))));
    assert_eq!(knobs.calls(), 1);
    assert_eq!(breaker.metrics().successful_calls, 1);
}

#[test]
fn a_half_open_breaker_with_a_free_slot_waits_on_the_inner_service() {
    let (clock, mock) = quanta::Clock::mock();
    let config = Config::builder()
        .failure_threshold(1)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let breaker = Arc::new(CircuitBreaker::with_clock(
        "tower::half_open",
        config,
        clock,
    ));
    breaker.force_open();
    mock.increment(Duration::from_secs(10));
    assert_eq!(breaker.state(), State::HalfOpen);

    let knobs = Knobs::new();
    knobs.set_ready(false);
    let mut service = CircuitBreakerService::new(Probe::new(&knobs, Answer::Ok), breaker.clone());
    assert!(service.poll_ready(&mut cx()).is_pending());
    assert_eq!(knobs.polls(), 1);
    assert_eq!(
        breaker.metrics().total_calls,
        0,
        "poll_ready took no probe slot"
    );
}

#[test]
fn a_rejected_call_keeps_the_inner_readiness_for_the_next_admitted_call() {
    let knobs = Knobs::new();
    let breaker = breaker("tower::keeps", 1);
    let mut service = CircuitBreakerService::new(Probe::new(&knobs, Answer::Ok), breaker.clone());

    assert!(service.poll_ready(&mut cx()).is_ready());
    assert_eq!(knobs.polls(), 1);
    breaker.force_open(); // opens between poll_ready and call
    let mut call = service.call(1);
    assert!(matches!(
        poll_once(&mut call),
        Poll::Ready(Err(Error::Rejected(_)))
    ));
    assert_eq!(knobs.calls(), 0);

    breaker.reset();
    assert!(service.poll_ready(&mut cx()).is_ready());
    assert_eq!(
        knobs.polls(),
        1,
        "the reservation was kept, not polled again"
    );
    let mut call = service.call(2);
    assert!(matches!(poll_once(&mut call), Poll::Ready(Ok(2))));
    assert_eq!(knobs.calls(), 1);
}

#[test]
fn ready_because_open_then_admitted_calls_a_ready_inner_service_after_polling_it() {
    let knobs = Knobs::new();
    let breaker = breaker("tower::race_ready", 1);
    breaker.force_open();
    let mut service = CircuitBreakerService::new(Probe::new(&knobs, Answer::Ok), breaker.clone());

    assert!(service.poll_ready(&mut cx()).is_ready());
    assert_eq!(knobs.polls(), 0);
    breaker.reset(); // available again before the call
    let mut call = service.call(3);
    // The inner service was polled ready (its `call` asserts it) and then called.
    assert!(matches!(poll_once(&mut call), Poll::Ready(Ok(3))));
    assert_eq!((knobs.polls(), knobs.calls()), (1, 1));
    assert_eq!(breaker.metrics().successful_calls, 1);
}

#[test]
fn ready_because_open_then_admitted_rejects_when_the_inner_service_is_not_ready() {
    let knobs = Knobs::new();
    knobs.set_ready(false);
    let breaker = breaker("tower::race_pending", 1);
    breaker.force_open();
    let mut service = CircuitBreakerService::new(Probe::new(&knobs, Answer::Ok), breaker.clone());

    assert!(service.poll_ready(&mut cx()).is_ready());
    breaker.reset();
    let mut call = service.call(4);
    match poll_once(&mut call) {
        Poll::Ready(Err(Error::Rejected(rejected))) => {
            assert_eq!(rejected.state(), State::Open);
            assert_eq!(rejected.retry_after(), Some(Duration::ZERO));
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!((knobs.polls(), knobs.calls()), (1, 0));
    let m = breaker.metrics();
    assert_eq!(
        (m.total_calls, m.ignored_calls, m.rejected_calls),
        (1, 1, 0)
    );
}

#[test]
fn a_cancelled_call_is_ignored_and_frees_the_probe_slot() {
    let (clock, mock) = quanta::Clock::mock();
    let config = Config::builder()
        .failure_threshold(1)
        .success_threshold(1)
        .half_open_max_calls(1)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let breaker = Arc::new(CircuitBreaker::with_clock("tower::cancel", config, clock));
    breaker.force_open();
    mock.increment(Duration::from_secs(10));

    let knobs = Knobs::new();
    let mut service = CircuitBreakerService::new(Probe::new(&knobs, Answer::Hang), breaker.clone());
    assert!(service.poll_ready(&mut cx()).is_ready());
    let mut probe = service.call(1);
    assert!(poll_once(&mut probe).is_pending());
    assert_eq!(breaker.state(), State::HalfOpen);
    // The only slot is taken: a second call is rejected.
    assert!(!breaker.is_available());
    drop(probe);
    assert_eq!(breaker.metrics().ignored_calls, 1);
    assert!(breaker.is_available(), "the cancelled probe freed its slot");
}

#[test]
fn a_panic_in_the_inner_future_records_a_failure() {
    let knobs = Knobs::new();
    let breaker = breaker("tower::panic", 1);
    let mut service =
        CircuitBreakerService::new(Probe::new(&knobs, Answer::Panic), breaker.clone());
    assert!(service.poll_ready(&mut cx()).is_ready());
    let mut call = service.call(1);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_once(&mut call)));
    assert!(caught.is_err());
    drop(call);
    let m = breaker.metrics();
    assert_eq!((m.failed_calls, m.ignored_calls), (1, 0));
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn inner_errors_trip_the_breaker_through_the_layer() {
    let knobs = Knobs::new();
    knobs.answer_err.store(true, Ordering::Relaxed);
    let breaker = breaker("tower::errors", 2);
    let mut service =
        CircuitBreakerLayer::new(breaker.clone()).layer(Probe::new(&knobs, Answer::Ok));
    for _ in 0..2 {
        assert!(service.poll_ready(&mut cx()).is_ready());
        let mut call = service.call(1);
        assert!(matches!(
            poll_once(&mut call),
            Poll::Ready(Err(Error::Inner("down")))
        ));
    }
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(knobs.calls(), 2);
}

#[test]
fn clones_share_the_breaker_but_not_the_readiness() {
    #[derive(Clone)]
    struct Always;
    impl Service<u32> for Always {
        type Response = u32;
        type Error = &'static str;
        type Future = std::future::Ready<Result<u32, &'static str>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, n: u32) -> Self::Future {
            std::future::ready(Err(if n == 0 { "zero" } else { "other" }))
        }
    }
    let breaker = breaker("tower::clones", 2);
    let mut a = CircuitBreakerService::new(Always, breaker.clone());
    let mut b = a.clone();
    for svc in [&mut a, &mut b] {
        assert!(svc.poll_ready(&mut cx()).is_ready());
        let _ = poll_once(&mut svc.call(0));
    }
    assert_eq!(
        breaker.state(),
        State::Open,
        "both clones counted in one breaker"
    );
}

#[test]
fn http_server_errors_classifies_responses() {
    let breaker = breaker("tower::http", 2);
    let status = Arc::new(AtomicUsize::new(404));
    let seen = status.clone();
    let inner = tower::service_fn(move |_: ()| {
        let code = seen.load(Ordering::Relaxed) as u16;
        async move {
            let mut r = http::Response::new(());
            *r.status_mut() = http::StatusCode::from_u16(code).unwrap();
            Ok::<_, std::io::Error>(r)
        }
    });
    let mut service = CircuitBreakerLayer::new(breaker.clone())
        .classify(http_server_errors)
        .layer(inner);
    for _ in 0..3 {
        assert!(service.poll_ready(&mut cx()).is_ready());
        let response = futures::executor::block_on(service.call(())).unwrap();
        assert_eq!(response.status(), 404);
    }
    assert_eq!(
        breaker.metrics().successful_calls,
        3,
        "a 404 is the server answering"
    );
    status.store(503, Ordering::Relaxed);
    for _ in 0..2 {
        assert!(service.poll_ready(&mut cx()).is_ready());
        let response = futures::executor::block_on(service.call(())).unwrap();
        assert_eq!(response.status(), 503, "a 5xx is returned, and counted");
    }
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test]
async fn a_timeout_error_counts_as_a_failure() {
    let breaker = breaker("tower::timeout", 2);
    let inner = tower::service_fn(|delay: u64| async move {
        tokio::time::sleep(Duration::from_millis(delay)).await;
        Ok::<_, std::io::Error>(delay)
    });
    let mut service = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .timeout(Duration::from_millis(50))
        .service(inner);

    assert_eq!(service.ready().await.unwrap().call(0).await.unwrap(), 0);
    for _ in 0..2 {
        match service.ready().await.unwrap().call(10_000).await {
            Err(Error::Inner(e)) => assert!(e.is::<tower::timeout::error::Elapsed>(), "{e}"),
            other => panic!("expected a timeout, got {other:?}"),
        }
    }
    assert_eq!(breaker.state(), State::Open);
    let m = breaker.metrics();
    assert_eq!((m.successful_calls, m.failed_calls), (1, 2));
    // Open: rejected at once, the timeout never starts.
    assert!(matches!(
        service.ready().await.unwrap().call(10_000).await,
        Err(Error::Rejected(_))
    ));
}

#[tokio::test]
async fn an_open_breaker_does_not_wait_on_a_saturated_concurrency_limit() {
    let breaker = breaker("tower::limit", 1);
    let release = Arc::new(tokio::sync::Notify::new());
    let gate = release.clone();
    let inner = tower::service_fn(move |hang: bool| {
        let gate = gate.clone();
        async move {
            if hang {
                gate.notified().await;
            }
            Ok::<_, std::io::Error>(())
        }
    });
    let service = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .concurrency_limit(1)
        .service(inner);

    // One call holds the only concurrency permit.
    let mut first = service.clone();
    let held = first.ready().await.unwrap().call(true);
    let held = tokio::spawn(held);

    // Closed: a second caller waits on the limit.
    let mut second = service.clone();
    assert!(second.poll_ready(&mut cx()).is_pending());

    // Open: a third caller is ready at once and rejected, without waiting for the permit.
    breaker.force_open();
    let mut third = service.clone();
    assert!(matches!(third.poll_ready(&mut cx()), Poll::Ready(Ok(()))));
    assert!(matches!(third.call(false).await, Err(Error::Rejected(_))));

    release.notify_one();
    held.await.unwrap().unwrap();
    breaker.reset();
    // The permit is back: the second caller gets it.
    second.ready().await.unwrap().call(false).await.unwrap();
}
