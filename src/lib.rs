#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![doc(test(attr(deny(warnings))))]

mod breaker;
mod clock;
mod config;
mod counters;
mod error;
mod future;
mod listeners;
mod metrics;
mod permit;
mod registry;
mod state;
mod sync;
mod transition;
mod window;
mod word;

pub use breaker::CircuitBreaker;
pub use config::{Config, ConfigBuilder, ConfigError};
pub use error::{Error, Rejected};
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
/// See the crate's README ("Decorator") for the accepted settings.
#[cfg(feature = "macros")]
pub use breakerbox_macros::circuit_breaker;

/// Re-exported so that the `#[circuit_breaker]` macro can name the crate's clock type and
/// so that users can inject a mock clock without adding `quanta` themselves.
pub use quanta;
