//! Breakers that trip together across a fleet of replicas, through a Redis server, without
//! Redis ever being on the call path.
//!
//! Each replica keeps its own lock-free [`breakerbox::CircuitBreaker`]s, which stay the
//! authority: a call is admitted or rejected by the local breaker alone. A [`Fleet`] attached
//! to the replica's [`breakerbox::Registry`] listens for its breakers' own trips and hands
//! each one to a background tokio task through a bounded channel (`try_send`: a full channel
//! drops the report and counts it). The task publishes the trip to the fleet, records it
//! under a key that expires when the open period ends (so replicas that start later learn
//! it), and opens the breaker of the same name on every peer for the remaining time
//! ([`CircuitBreaker::open_remote`](breakerbox::CircuitBreaker::open_remote), capped by the
//! peer's own timeout), optionally only once a quorum of replicas reported. Probing and
//! closing stay local.
//!
//! See the crate's README ("Running a fleet") for what is shared, what is not, the failure
//! modes and the quorum trade-off, and [`message`] for the wire format.
//!
//! # Examples
//!
//! ```no_run
//! use breakerbox::{Config, Registry};
//! use breakerbox_redis::{Fleet, FleetConfig};
//!
//! #[tokio::main]
//! async fn main() {
//!     let registry = Registry::global();
//!     let payments = registry.get_or_create("payments", Config::default());
//!     let config = FleetConfig::new("redis://127.0.0.1:6379", "checkout", "pod-7");
//!     let fleet = Fleet::attach(registry, config).expect("valid settings");
//!     // Calls never wait on Redis; a trip here opens "payments" on every replica.
//!     let _ = payments.call(|| Ok::<_, std::io::Error>(()));
//!     println!("{:?}", fleet.stats());
//! }
//! ```
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![doc(test(attr(deny(warnings))))]

mod config;
mod fleet;
pub mod message;
mod reports;

pub use config::{FleetConfig, FleetError};
pub use fleet::{Fleet, FleetStats, Source};
pub use message::{Malformed, TripReport};
