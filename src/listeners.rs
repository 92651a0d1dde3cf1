//! State-change listeners.
//!
//! The list sits behind a lock taken only to register a listener and, on a transition, to
//! clone the list; the lock is never held while a listener runs, so a listener may call
//! back into the breaker, and a panicking one poisons nothing.

use std::panic::{catch_unwind, AssertUnwindSafe};
// `OnceLock` from std even under loom: it only guards the one-time allocation; the list's
// lock, taken on every registration and notification, is the modelled one.
use std::sync::{Arc, OnceLock};

use crate::sync::Mutex;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

/// Notifications queued by transitions made inside a listener, per thread.
type Pending = RefCell<VecDeque<(Vec<Listener>, StateChange)>>;

// Whether this thread is running listeners, and what nested transitions queued meanwhile.
// loom's own thread-locals under loom: its model threads share one OS thread.
#[cfg(not(loom))]
std::thread_local! {
    static NOTIFYING: Cell<bool> = const { Cell::new(false) };
    static PENDING: Pending = const { RefCell::new(VecDeque::new()) };
}

#[cfg(loom)]
loom::thread_local! {
    static NOTIFYING: Cell<bool> = Cell::new(false);
    static PENDING: Pending = RefCell::new(VecDeque::new());
}
use crate::{Cause, State};

/// A transition, as passed to listeners registered with
/// [`CircuitBreaker::on_state_change`](crate::CircuitBreaker::on_state_change).
///
/// # Examples
///
/// ```
/// use breakerbox::{Cause, CircuitBreaker, State, StateChange};
/// use std::sync::{Arc, Mutex};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let breaker = CircuitBreaker::new("inventory");
/// let log = seen.clone();
/// breaker.on_state_change(move |change: &StateChange| log.lock().unwrap().push(change.clone()));
/// breaker.force_open();
/// let seen = seen.lock().unwrap();
/// assert_eq!((seen[0].name.as_str(), seen[0].from, seen[0].to), ("inventory", State::Closed, State::Open));
/// assert_eq!(seen[0].cause, Cause::ForceOpen);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateChange {
    /// The breaker's name.
    pub name: String,
    /// The state before the transition.
    pub from: State,
    /// The state after it.
    pub to: State,
    /// Why it happened.
    pub cause: Cause,
}

type Listener = Arc<dyn Fn(&StateChange) + Send + Sync>;

/// The registered listeners of one breaker.
///
/// Allocated on the first registration: a breaker nobody listens to pays 16 bytes, and a
/// transition without listeners skips the lock.
pub(crate) struct Listeners {
    list: OnceLock<Box<Mutex<Vec<Listener>>>>,
}

impl Listeners {
    pub(crate) fn new() -> Listeners {
        Listeners {
            list: OnceLock::new(),
        }
    }

    pub(crate) fn add(&self, listener: Listener) {
        let list = self.list.get_or_init(|| Box::new(Mutex::new(Vec::new())));
        crate::sync::lock(list).push(listener);
    }

    /// Runs every listener, in registration order, on this thread; panics are caught.
    ///
    /// A listener that makes a transition itself (say, calls `reset()` from inside a
    /// notification) does not recurse: the nested transition's notification is queued on
    /// this thread and delivered, in order, once the running listener returns. So a
    /// listener that keeps reacting to its own transitions loops instead of overflowing the
    /// stack, and every transition is still notified exactly once, on the thread that made
    /// it, in order.
    pub(crate) fn notify(&self, change: impl FnOnce() -> StateChange) {
        let list = self.list.get();
        if list.is_none() && !crate::observe::wants_transitions() {
            return;
        }
        let list: Vec<Listener> = list.map_or_else(Vec::new, |l| crate::sync::lock(l).clone());
        let change = change();
        crate::observe::transition(&change);
        if NOTIFYING.with(|n| n.replace(true)) {
            // Inside a listener on this thread: deliver after it returns (see above).
            PENDING.with(|p| p.borrow_mut().push_back((list, change)));
            return;
        }
        let mut next = Some((list, change));
        while let Some((list, change)) = next {
            for listener in &list {
                // A panicking listener must not reach the caller nor stop later listeners;
                // `AssertUnwindSafe`: the listener only sees a shared `&StateChange`.
                let _ = catch_unwind(AssertUnwindSafe(|| listener(&change)));
            }
            next = PENDING.with(|p| p.borrow_mut().pop_front());
        }
        NOTIFYING.with(|n| n.set(false));
    }

    pub(crate) fn len(&self) -> usize {
        self.list
            .get()
            .map_or(0, |list| crate::sync::lock(list).len())
    }
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners")
            .field("len", &self.len())
            .finish()
    }
}
