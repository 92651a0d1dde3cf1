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
//! The hot state word is a plain 64-bit atomic. The 128-bit stamp (`crate::word`) and the
//! rate window's words (`crate::window`: a full 64-bit generation next to its counts,
//! updated by one CAS) use `portable_atomic::AtomicU128` (`lock cmpxchg16b` on x86_64,
//! `casp` / `ldxp`-`stxp` on AArch64); loom has no 128-bit atomics, so under loom
//! [`AtomicU128`] is a stand-in with the same method names over a loom `Mutex<u128>`: every
//! operation is one modelled lock, a linearizable register, so loom still explores every
//! interleaving of the operations on it.
//!
//! # Atomics on targets without 64-bit ones
//!
//! The atomic integers come from [`portable_atomic`] where the target has no native 64-bit
//! atomics (`target_has_atomic = "64"` false: 32-bit MIPS and PowerPC, armv5te, ...), and
//! from `std` elsewhere. `RUSTFLAGS="--cfg breakerbox_portable_atomic"` takes the portable
//! path on every target, so that `.ci/run` tests it on x86-64. Both have the same methods
//! and take the same `Ordering` (portable-atomic re-exports core's).

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, Ordering},
    Arc, Mutex, MutexGuard, OnceLock,
};

#[cfg(all(not(loom), target_has_atomic = "64", not(breakerbox_portable_atomic)))]
pub(crate) use std::sync::atomic::AtomicU64;

#[cfg(all(
    not(loom),
    any(not(target_has_atomic = "64"), breakerbox_portable_atomic)
))]
pub(crate) use portable_atomic::AtomicU64;

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

        pub(crate) fn compare_exchange(
            &self,
            current: u128,
            new: u128,
            success: Ordering,
            failure: Ordering,
        ) -> Result<u128, u128> {
            self.compare_exchange_weak(current, new, success, failure)
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

/// One step of a bounded wait for another thread to finish a two-step update (the stamp a
/// transition's winner publishes right after its CAS): a short spin that doubles, then a
/// yield. Under loom, a yield, so the model schedules the other thread.
#[cfg(not(loom))]
pub(crate) fn wait_step(step: u32) {
    if step < 6 {
        for _ in 0..1u32 << step {
            std::hint::spin_loop();
        }
    } else {
        std::thread::yield_now();
    }
}

/// See the std version.
#[cfg(loom)]
pub(crate) fn wait_step(_: u32) {
    loom::thread::yield_now();
}

/// How many [`wait_step`]s a reader waits for a winner's publication before it treats the
/// period as just started: a few µs of spinning and yielding (the winner is one instruction
/// away unless descheduled).
#[cfg(not(loom))]
pub(crate) const PUBLISH_WAIT: u32 = 64;

/// Under loom, one yield: loom may keep the winner descheduled through any bounded wait,
/// so the models see (and must accept) the fallback too: a rejection with the period's full
/// length, or a probe slot refused while the winner has not published.
#[cfg(loom)]
pub(crate) const PUBLISH_WAIT: u32 = 1;

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
