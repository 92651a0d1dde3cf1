//! The one switch between `std` and [loom](https://docs.rs/loom).
//!
//! Every atomic, lock and thread-local in the crate is imported from here, never straight
//! from `std`, so that `RUSTFLAGS="--cfg loom"` swaps the whole crate onto loom's checked
//! primitives and the loom models in `loom-tests/` run the crate's real code, not a copy
//! (the pattern of `tokio/src/loom` and crossbeam's `crossbeam_loom`).
//!
//! `RwLock` is only needed under loom (the registry's modelled store). `OnceLock` is std's,
//! or under loom a stand-in with the same contract (loom has none). The two thread-locals of
//! `counters` pick std or loom themselves: std's take `const` initialisers, loom's do not.
//!
//! All state words are 64-bit, so loom models them natively: no 128-bit shim is needed.

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, Mutex, MutexGuard, OnceLock,
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, Mutex, MutexGuard, RwLock,
};

/// Under loom: `std::sync::OnceLock`'s contract on loom's primitives, for the counters'
/// stripe table (loom 0.7 has no `OnceLock`).
///
/// `get` is an Acquire load of a loom `ready` flag, set with Release after the value is in
/// place, so loom sees the same happens-before edge as std's (init → every `get` that
/// returns the value). Initialisation runs under a loom `Mutex`, so two model threads never
/// run it at once and loom explores who gets there first. The value itself sits in a std
/// `OnceLock`: loom runs every model thread on one OS thread, and the mutex keeps that
/// `OnceLock` from ever seeing two initialisers.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct OnceLock<T> {
    value: std::sync::OnceLock<T>,
    ready: loom::sync::atomic::AtomicBool,
    init: Mutex<()>,
}

#[cfg(loom)]
impl<T> OnceLock<T> {
    pub(crate) fn new() -> Self {
        OnceLock {
            value: std::sync::OnceLock::new(),
            ready: loom::sync::atomic::AtomicBool::new(false),
            init: Mutex::new(()),
        }
    }

    pub(crate) fn get(&self) -> Option<&T> {
        // Acquire: pairs with the Release store in `get_or_init` (as std's `get`).
        if self.ready.load(Ordering::Acquire) {
            self.value.get()
        } else {
            None
        }
    }

    pub(crate) fn get_or_init(&self, f: impl FnOnce() -> T) -> &T {
        if let Some(value) = self.get() {
            return value;
        }
        let _guard = lock(&self.init);
        let value = self.value.get_or_init(f);
        // Release: publishes the value to every `get` that sees the flag.
        self.ready.store(true, Ordering::Release);
        value
    }
}

/// Locks `m`, ignoring poisoning.
///
/// No lock of the crate is ever held while user code (a protected call or a listener) runs,
/// so a poisoned lock can only come from a panic inside the crate's own short critical
/// sections, which leave the data consistent; recovering is always sound.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
