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
//! The state words are 64-bit, so loom models them natively. The rate window (`window.rs`)
//! needs 128-bit words (a full 64-bit generation next to its counts, updated by one CAS):
//! on std they are `portable_atomic::AtomicU128` (`lock cmpxchg16b` on x86_64, `casp` /
//! `ldxp`-`stxp` on AArch64); loom has no 128-bit atomics, so under loom [`AtomicU128`] is a
//! stand-in with the same method names over a loom `Mutex<u128>`: every operation is one
//! modelled lock, so loom still explores every interleaving of the window's operations.

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicU64, Ordering},
    Arc, Mutex, MutexGuard,
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicU64, Ordering},
    Arc, Mutex, MutexGuard, RwLock,
};

#[cfg(not(loom))]
pub(crate) use portable_atomic::AtomicU128;

#[cfg(loom)]
pub(crate) use wide::AtomicU128;

/// The loom stand-in for `portable_atomic::AtomicU128` (see the module docs).
#[cfg(loom)]
mod wide {
    use super::Ordering;

    /// A 128-bit atomic integer, modelled by loom as one lock per operation.
    #[derive(Debug)]
    pub(crate) struct AtomicU128(loom::sync::Mutex<u128>);

    impl AtomicU128 {
        pub(crate) fn new(v: u128) -> AtomicU128 {
            AtomicU128(loom::sync::Mutex::new(v))
        }

        fn with<R>(&self, f: impl FnOnce(&mut u128) -> R) -> R {
            f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
        }

        pub(crate) fn load(&self, _: Ordering) -> u128 {
            self.with(|v| *v)
        }

        pub(crate) fn store(&self, new: u128, _: Ordering) {
            self.with(|v| *v = new);
        }

        pub(crate) fn compare_exchange_weak(
            &self,
            current: u128,
            new: u128,
            _: Ordering,
            _: Ordering,
        ) -> Result<u128, u128> {
            self.with(|v| {
                if *v == current {
                    *v = new;
                    Ok(current)
                } else {
                    Err(*v)
                }
            })
        }
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
