//! `#[circuit_breaker]` on `async fn` under tokio's multi-thread runtime: the returned future
//! is `Send` (it is `tokio::spawn`ed onto the worker threads), it may resume on another
//! worker after an `.await`, and the breaker counts every call from every worker.
//!
//! Every test uses breaker names of its own (they share `Registry::global()`).

use std::sync::atomic::{AtomicUsize, Ordering};

use breakerbox::{circuit_breaker, CircuitBreaker, Error, Registry, State};

#[derive(Debug, PartialEq, Eq)]
struct Down;

fn breaker(name: &str) -> std::sync::Arc<CircuitBreaker> {
    Registry::global()
        .get(name)
        .unwrap_or_else(|| panic!("no breaker named {name:?}"))
}

/// One call in four fails; the body suspends once, so it may finish on another worker.
#[circuit_breaker("tokio::lookup", failure_threshold = 1000)]
async fn lookup(id: u64) -> Result<u64, Down> {
    tokio::task::yield_now().await;
    if id.is_multiple_of(4) {
        return Err(Down);
    }
    Ok(id * 2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_calls_from_every_worker_are_counted() {
    let tasks: Vec<_> = (1..=200u64).map(|id| tokio::spawn(lookup(id))).collect();
    let (mut ok, mut failed) = (0u64, 0u64);
    for (i, task) in tasks.into_iter().enumerate() {
        let id = i as u64 + 1;
        match task.await.expect("the task did not panic") {
            Ok(v) => {
                assert_eq!(v, id * 2);
                ok += 1;
            }
            Err(Error::Inner(Down)) => {
                assert!(id.is_multiple_of(4));
                failed += 1;
            }
            Err(Error::Rejected(r)) => panic!("call {id} rejected: {r:?}"),
        }
    }
    assert_eq!((ok, failed), (150, 50));
    let m = breaker("tokio::lookup").metrics();
    assert_eq!(
        (m.successful_calls, m.failed_calls, m.total_calls),
        (150, 50, 200)
    );
    assert_eq!(m.state, State::Closed);
}

static RATED_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Opens when half of the last 20 calls failed, once 20 were seen.
#[circuit_breaker(
    "tokio::rated",
    window_calls = 20,
    failure_rate = 50,
    minimum_calls = 20
)]
async fn rated(fail: bool) -> Result<(), Down> {
    // Relaxed: a plain counter, read after every task was joined.
    RATED_RUNS.fetch_add(1, Ordering::Relaxed);
    tokio::task::yield_now().await;
    if fail {
        Err(Down)
    } else {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_breaker_trips_from_concurrent_tasks() {
    // 10 failures and 10 successes at once, on both workers: the 20th outcome, whichever
    // it is, finds 10 of 20 failed (50 %) and opens the breaker.
    let tasks: Vec<_> = (0..20).map(|i| tokio::spawn(rated(i % 2 == 0))).collect();
    for task in tasks {
        let r = task.await.expect("the task did not panic");
        assert!(!matches!(r, Err(Error::Rejected(_))), "all 20 admitted");
    }
    let b = breaker("tokio::rated");
    assert_eq!(b.state(), State::Open);
    let m = b.metrics();
    assert_eq!((m.failed_calls, m.successful_calls), (10, 10));

    // Open: a call from another worker is rejected without running the body.
    let r = tokio::spawn(rated(false)).await.unwrap();
    assert!(matches!(r, Err(Error::Rejected(_))));
    assert_eq!(RATED_RUNS.load(Ordering::Relaxed), 20);
}

struct Client {
    base: u64,
}

impl Client {
    #[circuit_breaker("tokio::method", failure_threshold = 2)]
    async fn get(&self, path: &str) -> Result<u64, Down> {
        tokio::task::yield_now().await;
        if path.is_empty() {
            return Err(Down);
        }
        Ok(self.base + path.len() as u64)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_borrowing_self_across_awaits() {
    let client = std::sync::Arc::new(Client { base: 100 });
    let c = client.clone();
    let v = tokio::spawn(async move { c.get("abc").await })
        .await
        .unwrap();
    assert_eq!(v.unwrap(), 103);
    for _ in 0..2 {
        let c = client.clone();
        let r = tokio::spawn(async move { c.get("").await }).await.unwrap();
        assert!(matches!(r, Err(Error::Inner(Down))));
    }
    assert!(matches!(client.get("abc").await, Err(Error::Rejected(_))));
    assert_eq!(breaker("tokio::method").state(), State::Open);
}
