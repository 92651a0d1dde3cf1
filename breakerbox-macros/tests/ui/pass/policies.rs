//! The failure-rate, slow-call, backoff and dry-run settings, every literal form they
//! accept, `Result<impl Trait, E>`, and `crate = path` through re-exports, compiled with
//! warnings denied and run.
#![deny(warnings)]

use breakerbox::{circuit_breaker, Backoff, Registry, Window};
use std::time::Duration;

#[rustfmt::skip]
#[circuit_breaker(
    "ui::pass::rate",
    window_calls = 100,
    failure_rate = 50,
    minimum_calls = 20,
    slow_call_ms = 500,
    slow_call_rate = 80,
)]
fn by_count() -> Result<(), String> {
    Ok(())
}

#[rustfmt::skip]
#[circuit_breaker(
    "ui::pass::time",
    window_secs = 60,
    failure_rate = 12.5,
    minimum_calls = 0x14,
    slow_call_secs = 2u8,
    slow_call_rate = 99.9f64,
    failure_threshold = 10,
    timeout_ms = 0b1111101000,
    backoff_multiplier = 2,
    backoff_max_secs = 0o1130,
    dry_run = true,
)]
fn by_time() -> Result<(), String> {
    Ok(())
}

#[circuit_breaker("ui::pass::time_ms", window_ms = 1500, backoff_multiplier = 1.5, backoff_max_ms = 90_000)]
fn by_time_ms() -> Result<(), String> {
    Ok(())
}

#[circuit_breaker("ui::pass::impl_trait")]
fn shown() -> Result<impl std::fmt::Display, String> {
    let n: u32 = "7".parse().map_err(|_| "not a number".to_string())?;
    Ok(n)
}

/// A crate that re-exports breakerbox (an SDK, a framework).
mod sdk {
    pub use breakerbox as cb;
}

mod users {
    use breakerbox as bb;

    #[bb::circuit_breaker("ui::pass::alias", crate = bb)]
    pub fn through_alias() -> Result<u8, String> {
        Ok(1)
    }

    #[crate::sdk::cb::circuit_breaker("ui::pass::reexport", crate = crate::sdk::cb, dry_run = false)]
    pub async fn through_reexport() -> Result<u8, String> {
        Ok(2)
    }
}

fn main() {
    by_count().unwrap();
    let c = Registry::global().get("ui::pass::rate").unwrap().config().clone();
    assert_eq!(c.sliding_window(), Some(Window::Calls(100)));
    assert_eq!(c.minimum_calls(), 20);
    assert_eq!(c.slow_call_duration(), Some(Duration::from_millis(500)));
    assert_eq!(c.slow_call_rate_threshold(), 80.0);

    by_time().unwrap();
    let c = Registry::global().get("ui::pass::time").unwrap().config().clone();
    assert_eq!(c.sliding_window(), Some(Window::Time(Duration::from_secs(60))));
    assert_eq!(c.failure_rate_threshold(), 12.5);
    assert_eq!(c.minimum_calls(), 20);
    assert_eq!(c.slow_call_duration(), Some(Duration::from_secs(2)));
    assert_eq!(c.slow_call_rate_threshold(), 99.9);
    assert_eq!(c.timeout(), Duration::from_millis(1000));
    assert_eq!(c.backoff(), Backoff::exponential(2.0, Duration::from_secs(600)));
    assert!(c.dry_run());

    by_time_ms().unwrap();
    let c = Registry::global().get("ui::pass::time_ms").unwrap().config().clone();
    assert_eq!(c.sliding_window(), Some(Window::Time(Duration::from_millis(1500))));
    assert_eq!(c.backoff(), Backoff::exponential(1.5, Duration::from_secs(90)));

    assert_eq!(shown().unwrap().to_string(), "7");
    assert_eq!(users::through_alias().unwrap(), 1);
    assert_eq!(futures::executor::block_on(users::through_reexport()).unwrap(), 2);
}
