//! Observability hooks: `tracing` events for transitions and configuration mismatches
//! (feature `tracing`; without it every function here is an empty inline no-op).

use crate::StateChange;

/// Whether transitions must be built even without listeners: `true` when the `tracing`
/// feature is on (the event needs the `StateChange`).
#[inline]
pub(crate) fn wants_transitions() -> bool {
    cfg!(feature = "tracing")
}

/// One event per transition, on the thread that made it: target `breakerbox`, fields
/// `name`, `from`, `to` and `cause`; WARN when the breaker opens, INFO otherwise.
#[inline]
pub(crate) fn transition(change: &StateChange) {
    #[cfg(feature = "tracing")]
    {
        use crate::State;
        let (name, from, to, cause) = (
            change.name.as_str(),
            change.from.as_str(),
            change.to.as_str(),
            change.cause.as_str(),
        );
        if change.to == State::Open {
            tracing::warn!(target: "breakerbox", name, from, to, cause, "circuit breaker opened");
        } else {
            tracing::info!(target: "breakerbox", name, from, to, cause, "circuit breaker {to}");
        }
    }
    #[cfg(not(feature = "tracing"))]
    let _ = change;
}

/// Warns, once per name per process, that a breaker was asked for with a configuration
/// that differs from the one it was created with (which it keeps). Called by
/// `Registry::get_or_create` when it finds an existing breaker.
#[inline]
#[allow(dead_code)] // Until the registry calls it.
pub(crate) fn config_mismatch(name: &str) {
    #[cfg(feature = "tracing")]
    {
        use std::collections::HashSet;
        use std::sync::{Mutex, OnceLock, PoisonError};
        static WARNED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
        let first = WARNED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned());
        if first {
            tracing::warn!(
                target: "breakerbox",
                name,
                "circuit breaker {name:?} already exists with another configuration; \
                 keeping the existing one (configure a name in one place)"
            );
        }
    }
    #[cfg(not(feature = "tracing"))]
    let _ = name;
}
