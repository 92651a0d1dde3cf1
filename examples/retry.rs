//! Retry with exponential backoff and jitter, around a breaker.
//!
//! ```text
//! cargo run --example retry
//! ```
//!
//! Retries and breakers work together when the retry loop stops as soon as the breaker
//! rejects a call: a rejection means "the service is known to be down", and retrying it only
//! burns time. So the retry condition is `!e.is_rejected()`.
//!
//! Three scenes:
//! 1. a transient failure: the second attempt succeeds;
//! 2. the backend is down: attempts fail until the breaker opens, and the next attempt is
//!    rejected, which ends the retry loop at once;
//! 3. while the breaker is open, a new request gives up on its first attempt, without
//!    touching the backend or sleeping.
//!
//! The retry loop is written by hand (a dozen lines, in `request`); a retry crate such as
//! `backon` or `backoff` plugs in the same way: its retry condition is `!e.is_rejected()`.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::thread;
use std::time::{Duration, Instant};

use breakerbox::{CircuitBreaker, Config, Error};

/// Retries after the first attempt.
const MAX_RETRIES: u32 = 4;
/// The wait before the first retry; it doubles after each retry, up to `MAX_DELAY`.
const MIN_DELAY: Duration = Duration::from_millis(20);
const MAX_DELAY: Duration = Duration::from_millis(200);

/// A backend that fails its next `failures` calls, then answers.
#[derive(Debug, Default)]
struct Backend {
    failures: Cell<u32>,
    calls: Cell<u32>,
}

impl Backend {
    fn get(&self) -> Result<&'static str, String> {
        self.calls.set(self.calls.get() + 1);
        if self.failures.get() > 0 {
            self.failures.set(self.failures.get() - 1);
            Err("503 Service Unavailable".to_string())
        } else {
            Ok("200 OK")
        }
    }
}

/// One request: up to 4 retries (5 attempts), backoff from 20 ms doubling up to 200 ms,
/// plus a random jitter of up to the same again; a rejection by the breaker stops the loop
/// at once.
fn request(breaker: &CircuitBreaker, backend: &Backend) -> Result<&'static str, Error<String>> {
    let mut delay = MIN_DELAY;
    let mut attempt = 1;
    loop {
        match breaker.call(|| backend.get()) {
            Ok(body) => return Ok(body),
            // Rejected: the service is known to be down; retrying only burns time.
            Err(e) if e.is_rejected() || attempt > MAX_RETRIES => return Err(e),
            Err(e) => {
                let wait = delay + jitter(delay);
                println!(
                    "    attempt {attempt} failed ({e}); retrying in {} ms",
                    wait.as_millis()
                );
                thread::sleep(wait);
                delay = (delay * 2).min(MAX_DELAY);
                attempt += 1;
            }
        }
    }
}

/// A random duration in `[0, max)`: std's randomly keyed hasher is enough randomness to
/// keep clients that failed together from retrying in lockstep.
fn jitter(max: Duration) -> Duration {
    let random = RandomState::new().hash_one(Instant::now());
    max.mul_f64((random >> 11) as f64 / (1u64 << 53) as f64)
}

fn scene(title: &str, breaker: &CircuitBreaker, backend: &Backend) -> Result<(), ()> {
    println!("{title}");
    let calls_before = backend.calls.get();
    let started = Instant::now();
    let result = request(breaker, backend);
    let outcome = match &result {
        Ok(body) => format!("ok: {body}"),
        Err(Error::Rejected(r)) => match r.retry_after() {
            Some(wait) => format!(
                "stopped by the breaker: {} (retry in {:.1} s)",
                r.state(),
                wait.as_secs_f64()
            ),
            None => format!("stopped by the breaker: {}", r.state()),
        },
        Err(Error::Inner(e)) => format!("gave up after the last retry: {e}"),
    };
    println!(
        "  -> {outcome} ({} backend calls, {} ms, breaker {})",
        backend.calls.get() - calls_before,
        started.elapsed().as_millis(),
        breaker.state()
    );
    result.map(drop).map_err(drop)
}

fn main() {
    let config = Config::builder()
        .failure_threshold(3)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("valid settings");
    let breaker = CircuitBreaker::with_config("upstream", config);
    let backend = Backend::default();

    backend.failures.set(1);
    let first = scene("1. one transient failure:", &breaker, &backend);
    assert!(first.is_ok());

    backend.failures.set(u32::MAX);
    let calls_before = backend.calls.get();
    let second = scene("2. the backend is down:", &breaker, &backend);
    assert!(second.is_err());
    // Three failures open the breaker; the fourth attempt is rejected and ends the loop.
    assert_eq!(backend.calls.get() - calls_before, 3);

    let calls_before = backend.calls.get();
    let third = scene(
        "3. another request while the breaker is open:",
        &breaker,
        &backend,
    );
    assert!(third.is_err());
    assert_eq!(backend.calls.get(), calls_before);

    let m = breaker.metrics();
    println!(
        "metrics: {} calls: {} ok, {} failed, {} rejected; state {}",
        m.total_calls, m.successful_calls, m.failed_calls, m.rejected_calls, m.state
    );
}
