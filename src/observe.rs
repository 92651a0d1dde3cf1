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

#[cfg(all(test, feature = "tracing", not(loom)))]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::{span, Event, Level, Metadata, Subscriber};

    /// Records the level and target of every event.
    struct Events(Arc<Mutex<Vec<(Level, String)>>>);

    impl Subscriber for Events {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
            span::Id::from_u64(1)
        }
        fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
        fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
        fn event(&self, event: &Event<'_>) {
            let meta = event.metadata();
            self.0
                .lock()
                .unwrap()
                .push((*meta.level(), meta.target().to_owned()));
        }
        fn enter(&self, _: &span::Id) {}
        fn exit(&self, _: &span::Id) {}
    }

    #[test]
    fn config_mismatch_warns_once_per_name() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        tracing::subscriber::with_default(Events(Arc::clone(&seen)), || {
            super::config_mismatch("observe::a");
            super::config_mismatch("observe::a");
            super::config_mismatch("observe::b");
        });
        let seen = seen.lock().unwrap();
        let breakerbox = (Level::WARN, "breakerbox".to_owned());
        assert_eq!(*seen, [breakerbox.clone(), breakerbox]);
    }
}
