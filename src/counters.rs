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
//! `S` is the number of CPUs plus one (a stripe per core and one for a coordinating thread),
//! at most 32: the striping costs `(S + 1) × 64` bytes per breaker (256 B on a 2-core
//! machine). Stripes are 64-byte lines, not crossbeam's 128-byte `CachePadded`: on Intel's
//! adjacent-line prefetcher two neighbouring stripes can still disturb each other a little,
//! a price paid for half the memory.
//!
//! # Orderings
//!
//! Counter cells are statistics: nothing else is published through them, so every access is
//! `Relaxed`. Exactness comes from single ownership (or `fetch_add`), and ownership hand-over
//! is ordered by the id bitmap: a thread releases its id with `Release` after its last store,
//! and the next owner claims it with `Acquire`, so its first load sees that store.

use std::cell::Cell;

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
    /// Success / Failure outcomes slower than `slow_call_duration`.
    Slow = 5,
    /// Dry run: admissions the breaker would have rejected.
    WouldReject = 6,
}

/// Slot id of a thread that owns no stripe.
pub(crate) const SHARED: usize = usize::MAX - 2;

/// Number of slot ids in the bitmap.
const MAX_IDS: u32 = 64;

/// One cache line of counters.
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct Stripe {
    cells: [AtomicU64; 7],
}

impl Stripe {
    fn new() -> Stripe {
        Stripe {
            cells: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// The striped counters of one breaker: one pointer, so it fits in the breaker's hot line.
#[derive(Debug)]
pub(crate) struct Counters {
    /// Stripe 0 is shared, written with `fetch_add` by threads without an owned stripe;
    /// stripe `i + 1` is written only by the thread holding slot id `i`.
    stripes: Box<[Stripe]>,
}

/// Where the calling thread counts: its own stripe, or the shared one. Resolve it once per
/// call with [`Counters::cells`] and bump it several times.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cells<'a> {
    /// This thread is the stripe's only writer.
    Owned(&'a Stripe),
    /// Shared with other threads: read-modify-write.
    Shared(&'a Stripe),
}

impl Cells<'_> {
    /// Adds one to `counter`.
    #[inline]
    pub(crate) fn bump(self, counter: Counter) {
        match self {
            Cells::Owned(stripe) => {
                let cell = &stripe.cells[counter as usize];
                // Relaxed: this thread is the cell's only writer (module docs), so load +
                // store is exact; readers only need the value eventually.
                cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            }
            // Relaxed: a plain statistic; the RMW alone makes it exact.
            Cells::Shared(stripe) => {
                stripe.cells[counter as usize].fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Counters {
    pub(crate) fn new() -> Counters {
        Counters {
            stripes: (0..=owned_stripes()).map(|_| Stripe::new()).collect(),
        }
    }

    /// The cells of the calling thread, whose slot id is `slot` (from [`slot`]).
    #[inline]
    pub(crate) fn cells(&self, slot: usize) -> Cells<'_> {
        // No overflow: the largest slot value is UNCLAIMED = usize::MAX - 1.
        match self.stripes.get(slot + 1) {
            Some(stripe) => Cells::Owned(stripe),
            None => self.cells_cold(slot),
        }
    }

    /// A thread's first count (claims its id), or one without an owned stripe.
    #[cold]
    fn cells_cold(&self, slot: usize) -> Cells<'_> {
        let slot = if slot == UNCLAIMED { claim() } else { slot };
        match self.stripes.get(slot + 1) {
            Some(stripe) if slot != SHARED => Cells::Owned(stripe),
            _ => Cells::Shared(&self.stripes[0]),
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

    /// Heap bytes of the stripes.
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.stripes)
    }
}

/// How many stripes a breaker owns out (`S` in the module docs).
#[cfg(not(loom))]
fn owned_stripes() -> usize {
    static S: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *S.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(4, |n| n.get());
        (cpus + 1).clamp(2, 32)
    })
}

/// Under loom: two owned stripes, so a third model thread exercises the shared one.
#[cfg(loom)]
fn owned_stripes() -> usize {
    2
}

/// The calling thread's slot id: `0..MAX_IDS`, [`SHARED`], or [`UNCLAIMED`] before its
/// first use (which [`Counters::cells`] resolves).
#[inline]
pub(crate) fn slot() -> usize {
    ID.with(Cell::get)
}

/// Slot id of a thread that has not claimed one yet.
const UNCLAIMED: usize = usize::MAX - 1;

// The id lives in a `const`-initialised `Cell` with no destructor, so reading it is one
// thread-local load with no lazy-init check; a second thread-local, `OWNER`, carries the
// destructor that gives the id back.
#[cfg(not(loom))]
std::thread_local! {
    static ID: Cell<usize> = const { Cell::new(UNCLAIMED) };
}

#[cfg(loom)]
loom::thread_local! {
    static ID: Cell<usize> = Cell::new(UNCLAIMED);
}

// Under loom ids are never given back: loom 0.7 cannot run a thread-local destructor that
// touches a `lazy_static` atomic, and each model execution starts from a fresh bitmap with
// at most a handful of threads. The hand-over itself is covered by the std tests below.
#[cfg(not(loom))]
std::thread_local! {
    static OWNER: Owner = const { Owner };
}

#[cfg(not(loom))]
static IDS: AtomicU64 = AtomicU64::new(0);

#[cfg(loom)]
loom::lazy_static! {
    static ref IDS: AtomicU64 = AtomicU64::new(0);
}

/// Claims the lowest free id for this thread (or [`SHARED`] if all 64 are taken) and
/// returns it. Called once per thread, from the cold branch of [`Counters::cells`].
#[cold]
fn claim() -> usize {
    // Relaxed: only a starting guess for the CAS below.
    let mut cur = IDS.load(Ordering::Relaxed);
    let id = loop {
        if cur == u64::MAX {
            break SHARED;
        }
        let bit = (!cur).trailing_zeros();
        debug_assert!(bit < MAX_IDS);
        // Acquire: pairs with the Release in `Owner::drop` of the id's previous owner, so
        // our first load of each owned cell sees its last store.
        match IDS.compare_exchange_weak(cur, cur | 1 << bit, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => break bit as usize,
            Err(actual) => cur = actual,
        }
    };
    // Touch `OWNER` so its destructor runs at thread exit. If thread-locals are already
    // being torn down, give the id straight back and stay shared.
    #[cfg(not(loom))]
    if id != SHARED && OWNER.try_with(|_| ()).is_err() {
        release(id);
        ID.with(|c| c.set(SHARED));
        return SHARED;
    }
    ID.with(|c| c.set(id));
    id
}

#[cfg(not(loom))]
fn release(id: usize) {
    // Release: publishes this thread's last stores to its cells to the id's next owner.
    IDS.fetch_and(!(1 << id), Ordering::Release);
}

/// Gives the thread's id back when the thread exits.
#[cfg(not(loom))]
struct Owner;

#[cfg(not(loom))]
impl Drop for Owner {
    fn drop(&mut self) {
        let id = ID.with(|c| c.replace(SHARED));
        if id < MAX_IDS as usize {
            release(id);
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
                        c.cells(slot()).bump(Counter::Success);
                    }
                    c.cells(SHARED).bump(Counter::Rejected);
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
            let id = std::thread::spawn(|| {
                Counters::new().cells(slot()).bump(Counter::Total);
                slot()
            })
            .join()
            .unwrap();
            assert!(id < MAX_IDS as usize, "{id}");
        }
    }

    #[test]
    fn stripes_are_cache_lines() {
        assert_eq!(std::mem::align_of::<Stripe>(), 64);
        assert_eq!(std::mem::size_of::<Stripe>(), 64);
        let c = Counters::new();
        assert_eq!(c.heap_bytes(), (owned_stripes() + 1) * 64);
    }
}
