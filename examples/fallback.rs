//! Fallback: serve the last good value when the breaker rejects a call or the call fails.
//!
//! ```text
//! cargo run --example fallback
//! ```
//!
//! A price service sits behind a breaker. While the backend answers, each fresh price is
//! cached. When the backend fails, and later when the open breaker rejects calls without
//! trying, the caller gets the cached price, marked stale, instead of an error. After the
//! breaker's timeout a probe call finds the backend healthy again and fresh prices return.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, Error};

/// The simulated backend: answers until `down` is set.
#[derive(Debug, Default)]
struct PriceBackend {
    down: Cell<bool>,
    calls: Cell<u32>,
}

impl PriceBackend {
    fn fetch(&self, sku: &str) -> Result<u32, String> {
        self.calls.set(self.calls.get() + 1);
        if self.down.get() {
            Err(format!("price backend unavailable (looking up {sku})"))
        } else {
            // A price that changes from call to call, so fresh and cached values differ.
            Ok(1000 + self.calls.get())
        }
    }
}

/// Where a price came from.
#[derive(Debug, PartialEq)]
enum Source {
    /// Straight from the backend.
    Fresh,
    /// From the cache, because the backend call failed.
    CachedAfterFailure,
    /// From the cache, because the breaker did not let the call through.
    CachedWhileOpen,
}

/// A price client with a breaker and a cache of the last good answers.
struct Prices {
    breaker: CircuitBreaker,
    backend: PriceBackend,
    cache: Mutex<HashMap<String, u32>>,
}

impl Prices {
    /// The price of `sku`, fresh when possible, else the cached one. `None` only when the
    /// backend cannot answer and nothing is cached.
    fn price(&self, sku: &str) -> Option<(u32, Source)> {
        match self.breaker.call(|| self.backend.fetch(sku)) {
            Ok(price) => {
                self.cache.lock().unwrap().insert(sku.to_string(), price);
                Some((price, Source::Fresh))
            }
            Err(Error::Inner(e)) => {
                println!("    backend error: {e}");
                self.cached(sku).map(|p| (p, Source::CachedAfterFailure))
            }
            Err(Error::Rejected(rejected)) => {
                // No call was made: the breaker is open; its message says for how long.
                println!("    rejected: {rejected}");
                self.cached(sku).map(|p| (p, Source::CachedWhileOpen))
            }
        }
    }

    fn cached(&self, sku: &str) -> Option<u32> {
        self.cache.lock().unwrap().get(sku).copied()
    }
}

fn main() {
    let config = Config::builder()
        .failure_threshold(2)
        .success_threshold(1)
        .timeout(Duration::from_secs(1))
        .build()
        .expect("valid settings");
    let prices = Prices {
        breaker: CircuitBreaker::with_config("prices", config),
        backend: PriceBackend::default(),
        cache: Mutex::new(HashMap::new()),
    };
    let show = |step: &str| {
        let answer = prices.price("sku-42");
        match &answer {
            Some((price, source)) => println!(
                "{step:<28} price {price} ({source:?}); breaker {}",
                prices.breaker.state()
            ),
            None => println!("{step:<28} no price available"),
        }
        answer
    };

    println!("backend healthy:");
    let first = show("  request 1");
    assert_eq!(first.as_ref().map(|a| &a.1), Some(&Source::Fresh));

    println!("backend goes down:");
    prices.backend.down.set(true);
    let calls_before = prices.backend.calls.get();
    for i in 2..=5 {
        let (price, _) = show(&format!("  request {i}")).expect("the cache has a price");
        // Every fallback serves the last fresh price.
        assert_eq!(Some(price), first.as_ref().map(|a| a.0));
    }
    // Two failures opened the breaker; requests 4 and 5 never reached the backend.
    assert_eq!(prices.backend.calls.get() - calls_before, 2);

    println!("backend recovers; waiting out the breaker's 1 s timeout:");
    prices.backend.down.set(false);
    std::thread::sleep(Duration::from_millis(1050));
    let recovered = show("  request 6 (probe)");
    assert_eq!(recovered.map(|a| a.1), Some(Source::Fresh));

    let m = prices.breaker.metrics();
    println!(
        "metrics: {} calls: {} ok, {} failed, {} rejected; {} transitions; state {}",
        m.total_calls,
        m.successful_calls,
        m.failed_calls,
        m.rejected_calls,
        m.state_transitions,
        m.state
    );
}
