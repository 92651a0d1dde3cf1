//! State-change listeners.
//!
//! The list sits behind a lock taken only to register a listener and, on a transition, to
//! clone the list; the lock is never held while a listener runs, so a listener may call
//! back into the breaker, and a panicking one poisons nothing.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::sync::{AtomicBool, Mutex, Ordering};
use crate::State;

/// A transition, as passed to listeners registered with
/// [`CircuitBreaker::on_state_change`](crate::CircuitBreaker::on_state_change).
///
/// # Examples
///
/// ```
/// use breakerbox::{CircuitBreaker, State, StateChange};
/// use std::sync::{Arc, Mutex};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let breaker = CircuitBreaker::new("inventory");
/// let log = seen.clone();
/// breaker.on_state_change(move |change: &StateChange| log.lock().unwrap().push(change.clone()));
/// breaker.force_open();
/// assert_eq!(
///     *seen.lock().unwrap(),
///     [StateChange { name: "inventory".into(), from: State::Closed, to: State::Open }]
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateChange {
    /// The breaker's name.
    pub name: String,
    /// The state before the transition.
    pub from: State,
    /// The state after it.
    pub to: State,
}

type Listener = Arc<dyn Fn(&StateChange) + Send + Sync>;

/// The registered listeners of one breaker.
pub(crate) struct Listeners {
    list: Mutex<Vec<Listener>>,
    /// Whether `list` is non-empty, so transitions without listeners skip the lock.
    any: AtomicBool,
}

impl Listeners {
    pub(crate) fn new() -> Listeners {
        Listeners {
            list: Mutex::new(Vec::new()),
            any: AtomicBool::new(false),
        }
    }

    pub(crate) fn add(&self, listener: Listener) {
        crate::sync::lock(&self.list).push(listener);
        // Release: orders the push before the flag; `notify` still takes the lock to read
        // the list, the flag only lets it skip the lock when nothing was ever registered.
        self.any.store(true, Ordering::Release);
    }

    /// Runs every listener, in registration order, on this thread; panics are caught.
    pub(crate) fn notify(&self, change: impl FnOnce() -> StateChange) {
        // Acquire: pairs with the Release in `add`.
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let list: Vec<Listener> = crate::sync::lock(&self.list).clone();
        let change = change();
        for listener in &list {
            // A panicking listener must not reach the caller nor stop later listeners;
            // `AssertUnwindSafe`: the listener only sees a shared `&StateChange`.
            let _ = catch_unwind(AssertUnwindSafe(|| listener(&change)));
        }
    }

    pub(crate) fn len(&self) -> usize {
        crate::sync::lock(&self.list).len()
    }
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners")
            .field("len", &self.len())
            .finish()
    }
}
