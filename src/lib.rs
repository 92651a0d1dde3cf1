// The README is the crate's documentation; its examples (doc tests) use the attribute macro,
// so without the `macros` feature a one-line summary stands in for it.
#![cfg_attr(feature = "macros", doc = include_str!("../README.md"))]
#![cfg_attr(
    not(feature = "macros"),
    doc = "A lock-free circuit breaker. Built without the `macros` feature; the full \
           documentation is the crate's README."
)]
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![doc(test(attr(deny(warnings))))]

mod backoff;
mod breaker;
mod clock;
mod config;
mod counters;
mod engine;
mod error;
#[cfg(feature = "failpoints")]
#[doc(hidden)]
pub mod failpoints;
#[cfg(not(feature = "failpoints"))]
mod failpoints;
mod future;
mod listeners;
mod metrics;
mod permit;
mod rates;
mod registry;
mod state;
mod sync;
mod transition;
mod window;
mod word;

pub use backoff::Backoff;
pub use breaker::CircuitBreaker;
pub use config::{Config, ConfigBuilder, ConfigError, Window};
pub use error::{Error, Rejected};
pub use future::{CallFuture, ErrorsFail};
pub use listeners::StateChange;
pub use metrics::Metrics;
pub use permit::{Outcome, OwnedPermit, Permit};
pub use registry::{global_registry, AlreadyRegistered, Registry, Status};
pub use state::{Cause, Mode, State};

/// The rate window's own API, for the loom models and the window bench only.
#[cfg(any(loom, breakerbox_bench))]
#[doc(hidden)]
pub use window::hook as __window;

/// The attribute macro that wraps a function in a named breaker of [`Registry::global`].
///
/// Settings (`failure_threshold`, `timeout_secs`, `window_calls`, `failure_rate`, `dry_run`, ...): the table below.
#[cfg(feature = "macros")]
pub use breakerbox_macros::circuit_breaker;

/// Re-exported so that the `#[circuit_breaker]` macro can name the crate's clock type and
/// so that users can inject a mock clock without adding `quanta` themselves.
pub use quanta;
