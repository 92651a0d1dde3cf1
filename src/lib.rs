//! A lock-free circuit breaker: the state lives in one packed atomic word, a call on a
//! closed breaker is one atomic load and a bump of a per-thread counter, and the state
//! machine is checked with loom and a reference model.
//!
//! ```
//! use breakerbox::{CircuitBreaker, Config, Error, State};
//! use std::time::Duration;
//!
//! let config = Config::builder()
//!     .failure_threshold(3)            // 3 failures in a row open it
//!     .timeout(Duration::from_secs(30)) // then it rejects for 30 s, then lets probes through
//!     .build()?;
//! let breaker = CircuitBreaker::with_config("inventory", config);
//!
//! for _ in 0..3 {
//!     let _ = breaker.call(|| Err::<(), _>("connection refused"));
//! }
//! assert_eq!(breaker.state(), State::Open);
//! match breaker.call(|| Ok::<_, &str>("never runs")) {
//!     Err(Error::Rejected(rejected)) => assert!(rejected.retry_after().is_some()),
//!     other => panic!("{other:?}"),
//! }
//! # Ok::<(), breakerbox::ConfigError>(())
//! ```
//!
//! # Where to start
//!
//! * [`CircuitBreaker`]: [`call`](CircuitBreaker::call) / [`call_with`](CircuitBreaker::call_with)
//!   around a closure, [`call_future`](CircuitBreaker::call_future) around a future, or the
//!   guard API [`try_acquire`](CircuitBreaker::try_acquire) → [`Permit`] on the hot path.
//! * [`Config`]: thresholds and timeouts, validated by [`ConfigBuilder::build`]; the
//!   failure-rate and slow-call rules over a [`Window`], [`Backoff`] with jitter, dry run,
//!   and an opt-in coarse clock ([`ClockPrecision::Coarse`]) for rejections that read no
//!   hardware clock.
//! * Operator overrides: [`CircuitBreaker::isolate`], [`CircuitBreaker::disable`],
//!   [`CircuitBreaker::reset`], [`CircuitBreaker::force_open`].
//! * [`Registry`]: named breakers shared across a process ([`Registry::global`]), with
//!   [`statuses`](Registry::statuses) for a health endpoint.
//! * [`CircuitBreaker::on_state_change`] and [`CircuitBreaker::metrics`]: listeners and
//!   counters.
//! * `#[circuit_breaker("name", failure_threshold = 3)]`: the attribute macro (feature
//!   `macros`) that puts a function, method or `async fn` behind a named breaker of the
//!   global registry.
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `macros` | yes | the `#[circuit_breaker]` attribute macro |
//! | `tower` | no | `tower`: `CircuitBreakerLayer` / `CircuitBreakerService` for tower stacks (axum, tonic, hyper-util, reqwest-middleware), and `http_server_errors` |
//! | `tracing` | no | one `tracing` event per state transition (target `breakerbox`: WARN on open, INFO otherwise), never per call |
//! | `metrics` | no | `metrics::export(&Registry)`: a snapshot into the `metrics` facade (Prometheus and friends) |
//! | `serde` | no | `Serialize` / `Deserialize` for [`Status`], [`Metrics`], [`State`], [`Mode`], [`Cause`] |
//!
//! The crate is not published yet: depend on it by git or path, e.g.
//! `breakerbox = { git = "<repository url>", features = ["tower"] }`.
//!
//! # Guarantees
//!
//! The crate forbids `unsafe_code`; every method takes `&self`; queries never change a breaker; a transition
//! happens once (one CAS wins), is counted once and notifies listeners once; a panic in a
//! protected call records a failure and poisons nothing. The repository's README explains
//! the packed word, the orderings and how the crate is tested and measured.
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
pub mod metrics;
mod observe;
mod permit;
mod registry;
mod state;
mod sync;
mod transition;
mod window;
mod word;

#[cfg(feature = "tower")]
pub mod tower;

// The README's snippets stay doc-tested, though it is no longer the front page (they use
// the attribute macro, hence the feature).
#[cfg(all(doctest, feature = "macros"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use backoff::Backoff;
pub use breaker::CircuitBreaker;
pub use clock::{coarse_clock, coarse_clock_interval};
pub use config::{ClockPrecision, Config, ConfigBuilder, ConfigError, Window};
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
/// Settings (`failure_threshold`, `timeout_secs`, `window_calls`, `failure_rate`,
/// `slow_call_ms`, `dry_run`, ...: the full table below); the function must return a `Result`, and the wrapped one returns
/// `Result<T, breakerbox::Error<E>>`. The breaker is created in [`Registry::global`] on first
/// use; when two functions (or a function and other code) use one name, the first creation's
/// settings win (see [`Registry::get_or_create`]).
///
/// # Examples
///
/// ```
/// #[breakerbox::circuit_breaker("docs::charge", failure_threshold = 3, timeout_secs = 30)]
/// fn charge(cents: u64) -> Result<u64, String> {
///     if cents == 0 { Err("nothing to charge".into()) } else { Ok(cents) }
/// }
///
/// assert_eq!(charge(250).unwrap(), 250);
/// let breaker = breakerbox::Registry::global().get("docs::charge").unwrap();
/// assert_eq!(breaker.config().failure_threshold(), 3);
/// ```
#[cfg(feature = "macros")]
pub use breakerbox_macros::circuit_breaker;

/// Re-exported so that the `#[circuit_breaker]` macro can name the crate's clock type and
/// so that users can inject a mock clock without adding `quanta` themselves.
pub use quanta;
