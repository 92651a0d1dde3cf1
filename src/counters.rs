//! Striped metrics counters: exact, and never a contended cache line on the hot path.
//!
//! Each breaker has `S + 1` cache-line stripes of five `u64` counters. Threads take a small
//! *slot id* from a process-wide 64-bit bitmap the first time they touch any breaker (and
//! give it back when they exit, so ids stay dense). A thread whose id is below `S` *owns*
//! stripe `id` of every breaker: it is the only writer of those cells, so it bumps them with
//! a plain load and store, no read-modify-write, no `lock` prefix, and no other core writes
//! that line. Threads without an owned stripe (more than `S` at once, or one whose
//! thread-locals are already torn down) share the last stripe with `fetch_add`. Reads sum
//! every stripe.
//!
//! `S` is the number of CPUs rounded up to a power of two, at least 4 and at most 32: the
//! striping costs `(S + 1) × 64` bytes per breaker (320 B on a 2-core machine).
//!
//! # Orderings
//!
//! Counter cells are statistics: nothing else is published through them, so every access is
//! `Relaxed`. Exactness comes from single ownership (or `fetch_add`), and ownership hand-over
//! is ordered by the id bitmap: a thread releases its id with `Release` after its last store,
//! and the next owner claims it with `Acquire`, so its first load sees that store.

use crate::sync::{AtomicU64, Ordering};

/// The counters each stripe holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counter {
    /// Every admission request.
    Total = 0,
    /// Outcome: success.
    Success = 1,
    /// Outcome: failure.
    Failure = 2,
    /// Outcome: ignored.
    Ignored = 3,
    /// Rejected admissions.
    Rejected = 4,
}

/// Slot id of a thread that owns no stripe.
pub(crate) const SHARED: usize = usize::MAX;

/// Number of slot ids in the bitmap.
const MAX_IDS: u32 = 64;

/// One cache line of counters.
#[derive(Debug)]
#[repr(align(64))]
struct Stripe {
    cells: [AtomicU64; 5],
}

impl Stripe {
    fn new() -> Stripe {
        Stripe {
            cells: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// The striped counters of one breaker.
#[derive(Debug)]
pub(crate) struct Counters {
    /// `owned` stripes, then the shared one.
    stripes: Box<[Stripe]>,
}

impl Counters {
    pub(crate) fn new() -> Counters {
        Counters {
            stripes: (0..=owned_stripes()).map(|_| Stripe::new()).collect(),
        }
    }

    /// Adds one to `counter`, as the thread holding `slot` (from [`slot`]).
    #[inline]
    pub(crate) fn bump(&self, slot: usize, counter: Counter) {
        let shared = self.stripes.len() - 1;
        if slot < shared {
            let cell = &self.stripes[slot].cells[counter as usize];
            // Relaxed: this thread is the cell's only writer (module docs), so load + store
            // is exact; readers only need the value eventually.
            cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        } else {
            // Relaxed: a plain statistic; the RMW alone makes it exact.
            self.stripes[shared].cells[counter as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The sum of `counter` over every stripe.
    pub(crate) fn sum(&self, counter: Counter) -> u64 {
        self.stripes
            .iter()
            // Relaxed: statistics; see the module docs.
            .map(|s| s.cells[counter as usize].load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }

    /// Bytes of stripes per breaker (for reports).
    pub(crate) fn footprint(&self) -> usize {
        std::mem::size_of_val(&*self.stripes)
    }
}

/// How many stripes a breaker owns out (`S` in the module docs).
#[cfg(not(loom))]
fn owned_stripes() -> usize {
    static S: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *S.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(4, |n| n.get());
        cpus.next_power_of_two().clamp(4, 32)
    })
}

/// Under loom: two owned stripes, so a third model thread exercises the shared one.
#[cfg(loom)]
fn owned_stripes() -> usize {
    2
}

/// The calling thread's slot id: `0..MAX_IDS`, or [`SHARED`].
#[inline]
pub(crate) fn slot() -> usize {
    SLOT.try_with(|s| s.id).unwrap_or(SHARED)
}

crate::sync::thread_local! {
    static SLOT: Slot = Slot::claim();
}

#[cfg(not(loom))]
static IDS: AtomicU64 = AtomicU64::new(0);

#[cfg(loom)]
loom::lazy_static! {
    static ref IDS: AtomicU64 = AtomicU64::new(0);
}

/// A thread's claim on one bit of [`IDS`], given back when the thread exits.
struct Slot {
    id: usize,
}

impl Slot {
    fn claim() -> Slot {
        // Relaxed: only a starting guess for the CAS below.
        let mut cur = IDS.load(Ordering::Relaxed);
        loop {
            if cur == u64::MAX {
                return Slot { id: SHARED };
            }
            let bit = (!cur).trailing_zeros();
            debug_assert!(bit < MAX_IDS);
            // Acquire: pairs with the Release in `drop` of the id's previous owner, so our
            // first load of each owned cell sees its last store.
            match IDS.compare_exchange_weak(
                cur,
                cur | 1 << bit,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Slot { id: bit as usize },
                Err(actual) => cur = actual,
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.id != SHARED {
            // Release: publishes this thread's last stores to its cells to the next owner.
            IDS.fetch_and(!(1 << self.id), Ordering::Release);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn counts_are_exact_across_owned_and_shared_stripes() {
        let c = std::sync::Arc::new(Counters::new());
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        c.bump(slot(), Counter::Success);
                    }
                    c.bump(SHARED, Counter::Rejected);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(c.sum(Counter::Success), 120_000);
        assert_eq!(c.sum(Counter::Rejected), 12);
        assert_eq!(c.sum(Counter::Total), 0);
    }

    #[test]
    fn ids_are_given_back_when_threads_exit() {
        // Many more short-lived threads than ids: they must keep getting owned ids.
        for _ in 0..200 {
            let id = std::thread::spawn(slot).join().unwrap();
            assert_ne!(id, SHARED);
        }
    }

    #[test]
    fn stripes_are_cache_lines() {
        assert_eq!(std::mem::align_of::<Stripe>(), 64);
        assert_eq!(std::mem::size_of::<Stripe>(), 64);
        let c = Counters::new();
        assert_eq!(c.footprint(), (owned_stripes() + 1) * 64);
    }
}
