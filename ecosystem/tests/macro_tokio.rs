//! `#[breakerbox::circuit_breaker]` on `async fn` under a tokio multi-thread runtime: the
//! futures are `Send` (spawned onto workers), one named breaker counts calls from every
//! worker, trips, and rejects without running the body.

use std::sync::atomic::{AtomicUsize, Ordering};

use breakerbox::{Registry, State};

static BODY_RUNS: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug)]
struct Down;

#[breakerbox::circuit_breaker("eco::macro_async", failure_threshold = 4, timeout_secs = 600)]
async fn fetch(ok: bool) -> Result<u32, Down> {
    // Relaxed: a count read after every task joined.
    BODY_RUNS.fetch_add(1, Ordering::Relaxed);
    tokio::task::yield_now().await; // suspend across an await, maybe resume on another worker
    if ok {
        Ok(7)
    } else {
        Err(Down)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_fn_on_a_multi_thread_runtime() {
    let ok: Vec<_> = (0..32).map(|_| tokio::spawn(fetch(true))).collect();
    for task in ok {
        assert_eq!(task.await.unwrap().unwrap(), 7);
    }
    let breaker = Registry::global().get("eco::macro_async").unwrap();
    assert_eq!(breaker.metrics().successful_calls, 32);

    let failing: Vec<_> = (0..4).map(|_| tokio::spawn(fetch(false))).collect();
    for task in failing {
        assert!(!task.await.unwrap().unwrap_err().is_rejected());
    }
    assert_eq!(breaker.state(), State::Open);

    let before = BODY_RUNS.load(Ordering::Relaxed);
    let rejected: Vec<_> = (0..16).map(|_| tokio::spawn(fetch(true))).collect();
    for task in rejected {
        assert!(task.await.unwrap().unwrap_err().is_rejected());
    }
    assert_eq!(
        BODY_RUNS.load(Ordering::Relaxed),
        before,
        "no body ran while open"
    );
    let m = breaker.metrics();
    assert_eq!(
        (m.total_calls, m.failed_calls, m.rejected_calls),
        (52, 4, 16)
    );
}
