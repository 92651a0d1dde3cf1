//! The one switch between `std` and [loom](https://docs.rs/loom).
//!
//! Every atomic, lock and thread-local in the crate is imported from here, never straight
//! from `std`, so that `RUSTFLAGS="--cfg loom"` swaps the whole crate onto loom's checked
//! primitives and the loom models in `loom-tests/` run the crate's real code, not a copy
//! (the pattern of `tokio/src/loom` and crossbeam's `crossbeam_loom`).
//!
//! `RwLock` is only needed under loom (the registry's modelled store). The two thread-locals
//! of `counters` pick std or loom themselves: std's take `const` initialisers, loom's do not.
//!
//! All state words are 64-bit, so loom models them natively: no 128-bit shim is needed.

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, Mutex, MutexGuard,
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, Mutex, MutexGuard, RwLock,
};

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
