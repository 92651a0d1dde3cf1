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
//!
//! # Atomics on targets without 64-bit ones
//!
//! The atomic integers come from [`portable_atomic`] where the target has no native 64-bit
//! atomics (`target_has_atomic = "64"` false: 32-bit MIPS and PowerPC, armv5te, ...), and
//! from `std` elsewhere. `RUSTFLAGS="--cfg breakerbox_portable_atomic"` takes the portable
//! path on every target, so that `.ci/run` tests it on x86-64. Both have the same methods
//! and take the same `Ordering` (portable-atomic re-exports core's).

#[cfg(not(loom))]
pub(crate) use std::sync::{atomic::Ordering, Arc, Mutex, MutexGuard};

#[cfg(all(not(loom), target_has_atomic = "64", not(breakerbox_portable_atomic)))]
pub(crate) use std::sync::atomic::AtomicU64;

#[cfg(all(
    not(loom),
    any(not(target_has_atomic = "64"), breakerbox_portable_atomic)
))]
pub(crate) use portable_atomic::AtomicU64;

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

#[cfg(all(test, not(loom)))]
mod tests {
    /// The atomics come from the crate the build configuration asks for: portable-atomic
    /// without native 64-bit atomics or under `--cfg breakerbox_portable_atomic`, std
    /// otherwise.
    #[test]
    fn atomic_u64_comes_from_the_configured_crate() {
        let name = std::any::type_name::<super::AtomicU64>();
        let portable = cfg!(any(
            not(target_has_atomic = "64"),
            breakerbox_portable_atomic
        ));
        let expected = if portable {
            "portable_atomic::"
        } else {
            "core::"
        };
        assert!(name.starts_with(expected), "AtomicU64 is {name}");
    }
}
