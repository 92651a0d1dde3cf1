//! Metrics counters: exact, never a contended cache line on the hot path, and a memory cost
//! set by contention, not by the machine's core count.
//!
//! # Structure
//!
//! A breaker holds two pieces (the idea of Java's `LongAdder`: a base cell first, stripes
//! on the first contention):
//!
//! - [`Counters`], one 64-byte line: the *base* stripe, seven `u64` cells (56 bytes), and
//!   `meta` (8 bytes): the slot + 1 of the thread that owns the base, and the `UPGRADED`
//!   bit;
//! - [`Stripes`], 24 bytes that the breaker keeps in its read-mostly line: a
//!   `OnceLock<Box<[Stripe]>>`, empty until the first contention.
//!
//! Threads take a small *slot id* the first time they count on any breaker (and give it
//! back when they exit, so ids stay dense). The **first thread to count on a breaker owns
//! its base** (it CASes its slot into `meta`): it is the base's only writer, so it bumps a
//! cell with a plain load and store, no read-modify-write, no `lock` prefix. A breaker that
//! is only ever counted on by one thread at a time costs these 88 bytes and nothing more.
//!
//! The **first other thread** to count allocates the stripe *table* (the upgrade:
//! `OnceLock::get_or_init`, so exactly one table is installed) and sets `UPGRADED`, which
//! sends the owner to the table too. From then on nobody writes the base line, so every
//! thread reads `meta` there (and the table pointer in the breaker's read-mostly line)
//! without a cache miss. The table holds `owned + shared` 64-byte [`Stripe`]s:
//!
//! - stripe `i < owned` belongs to the thread with slot id `i`: its only writer (plain
//!   load + store);
//! - the `shared` stripes after them take the threads whose id is `owned` or more (more
//!   threads than the id space has owned stripes for): thread `id` uses shared stripe
//!   `id % shared`, with `fetch_add`, so they spread over `shared` lines instead of all
//!   falling on one.
//!
//! `owned` is the CPU count plus one (a stripe per core and one for a coordinating
//! thread); `shared` is `owned / 8` rounded up to a power of two, between 2 and 16. The CPU
//! count is `std::thread::available_parallelism`, or the `BREAKERBOX_CPUS` environment
//! variable when it is set to a positive integer (read once, when the process creates its
//! first breaker): tests, benches and `examples/registry_scale.rs` set it to simulate a
//! 2-, 16-, 64- or 128-core machine. A contended breaker costs `(owned + shared) × 64`
//! bytes more: contention buys memory.
//!
//! Ownership of the base goes with the slot id, not the thread: threads that take turns
//! (each exiting before the next starts) reuse the lowest free id, and so the base.
//!
//! # Exactness
//!
//! Every cell has at any time exactly one writer that uses load + store, or is written only
//! by `fetch_add`: the base by the holder of slot `meta − 1` (slots are unique among live
//! threads), owned stripe `i` by the holder of id `i`, shared stripes by `fetch_add` only.
//! No count ever moves between cells, so a sum never sees one twice, and each cell only
//! grows, so one reader's successive sums never go down.
//!
//! # Orderings
//!
//! Counter cells are statistics: nothing else is published through them, so every cell
//! access is `Relaxed`, and so are the `meta` CAS and `fetch_or` (ownership of the base is
//! decided by the CAS alone; `UPGRADED` is only a hint that moves the owner off the base
//! line). The table is published by `OnceLock` (Release on init, Acquire on `get`). Slot-id
//! hand-over is ordered by the id pool's mutex: a thread gives its id back (unlock: Release)
//! after its last store, and the next holder claims it (lock: Acquire), so its first load of
//! each cell it now owns sees that store.

use std::cell::Cell;

#[cfg(not(loom))]
use crate::sync::{lock, Mutex};
use crate::sync::{AtomicU64, OnceLock, Ordering};

/// The counters each stripe holds; `counter as usize` indexes a stripe's cells.
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

/// How many counters there are: the cells of a stripe.
const COUNTERS: usize = 7;

/// One stripe's cells, indexed by `Counter as usize`.
type Line = [AtomicU64; COUNTERS];

/// `meta` bit set once the table exists: the base's owner counts in the table from then on.
const UPGRADED: u64 = 1 << 63;

/// Slot of a thread whose id is `owned` or more: this bit, or'ed with its id. Such a slot
/// indexes no table stripe, so it takes the shared path, and it is still unique, so such a
/// thread may own a base.
const OVERFLOW: usize = 1 << (usize::BITS - 2);

/// Slot of a thread that has not claimed an id yet.
const UNCLAIMED: usize = usize::MAX - 1;

/// Slot of a thread without an id (its thread-locals are being torn down): it counts in a
/// shared stripe.
pub(crate) const NO_ID: usize = usize::MAX - 2;

// Both pieces are layout the breaker relies on: checked in every build.
#[cfg(all(not(loom), target_pointer_width = "64"))]
const _: () = {
    assert!(std::mem::size_of::<Counters>() == 64);
    assert!(std::mem::size_of::<Stripes>() == 24);
};
const _: () = assert!(std::mem::size_of::<Stripe>() == 64);

fn zeroed() -> Line {
    std::array::from_fn(|_| AtomicU64::new(0))
}

/// One cache line of the table: seven `u64` counters.
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct Stripe {
    cells: Line,
}

/// The base line of one breaker's counters: seven cells and their owner (module docs).
#[repr(align(64))]
pub(crate) struct Counters {
    /// Written only by the thread whose slot is `meta − 1` (without `UPGRADED`).
    base: Line,
    /// 0 until a thread claims the base; then its slot + 1; `UPGRADED` or'ed in once the
    /// table exists.
    meta: AtomicU64,
}

/// The stripe table of one breaker, allocated on its first contention (module docs). Kept
/// apart from [`Counters`] so that it can live in a line nobody writes.
#[derive(Debug)]
pub(crate) struct Stripes {
    table: OnceLock<Box<[Stripe]>>,
}

impl Stripes {
    /// No table yet.
    pub(crate) fn new() -> Stripes {
        Stripes {
            table: OnceLock::new(),
        }
    }

    /// Heap bytes of the table: 0 until two threads have counted.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.table.get().map_or(0, |t| std::mem::size_of_val(&**t))
    }
}

/// Where the calling thread counts. Resolve it once per call with [`Counters::cells`] and
/// bump it several times, on the same thread.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cells<'a> {
    /// This thread is the cells' only writer (the base it owns, or its own stripe).
    Owned(&'a Line),
    /// Shared with other threads: read-modify-write.
    Shared(&'a Line),
}

impl Cells<'_> {
    /// Adds one to `counter`.
    #[inline(always)]
    pub(crate) fn bump(self, counter: Counter) {
        match self {
            Cells::Owned(line) => {
                let cell = &line[counter as usize];
                // Relaxed: this thread is the cell's only writer (module docs), so load +
                // store is exact; readers only need the value eventually.
                cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            }
            Cells::Shared(line) => {
                // Relaxed: a plain statistic; the RMW alone makes it exact.
                line[counter as usize].fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Counters {
    /// All zero, no owner.
    pub(crate) fn new() -> Counters {
        // Fix the layout (and read `BREAKERBOX_CPUS`) with the first breaker, not in the
        // middle of its first call.
        layout();
        Counters {
            base: zeroed(),
            meta: AtomicU64::new(0),
        }
    }

    /// The cells of the calling thread, whose slot is `slot` (from [`slot`]), in these
    /// counters and their `stripes`.
    #[inline(always)]
    pub(crate) fn cells<'a>(&'a self, stripes: &'a Stripes, slot: usize) -> Cells<'a> {
        // `slot as u64 + 1` never overflows (the largest slot is UNCLAIMED) and never equals
        // another thread's `meta`: slots are unique among live threads, and the sentinels
        // are far above any real slot.
        // Relaxed: the owner's own CAS put its slot there (program order); any other value
        // only sends the thread on to the table.
        if self.meta.load(Ordering::Relaxed) == slot as u64 + 1 {
            return Cells::Owned(&self.base);
        }
        match stripes.table.get().and_then(|t| t.get(slot)) {
            Some(stripe) => Cells::Owned(&stripe.cells),
            None => self.cells_cold(stripes, slot),
        }
    }

    /// A thread's first count on this breaker (claims its id, perhaps the base, perhaps
    /// upgrades), or a thread whose slot owns no table stripe.
    #[cold]
    #[inline(never)]
    fn cells_cold<'a>(&'a self, stripes: &'a Stripes, slot: usize) -> Cells<'a> {
        let slot = if slot == UNCLAIMED { claim() } else { slot };
        if slot != NO_ID {
            // Relaxed: the CAS alone decides who owns the base; nothing is published.
            match self.meta.compare_exchange(
                0,
                slot as u64 + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Cells::Owned(&self.base),
                Err(meta) if meta == slot as u64 + 1 => return Cells::Owned(&self.base),
                Err(_) => {}
            }
        }
        table_cells(self.upgrade(stripes), slot)
    }

    /// The table, allocated if this is the first contention, with `UPGRADED` set.
    fn upgrade<'a>(&self, stripes: &'a Stripes) -> &'a [Stripe] {
        let table = stripes.table.get_or_init(|| {
            let layout = layout();
            (0..layout.owned + layout.shared)
                .map(|_| Stripe { cells: zeroed() })
                .collect()
        });
        // Relaxed: a hint that moves the owner off the base line; counts are exact
        // whichever cells the owner uses (module docs).
        if self.meta.load(Ordering::Relaxed) & UPGRADED == 0 {
            // Relaxed: as above.
            self.meta.fetch_or(UPGRADED, Ordering::Relaxed);
        }
        table
    }

    /// The sum of `counter` over the base and every stripe of `stripes`.
    pub(crate) fn sum(&self, stripes: &Stripes, counter: Counter) -> u64 {
        let i = counter as usize;
        // Relaxed: statistics; see the module docs.
        let base = self.base[i].load(Ordering::Relaxed);
        stripes.table.get().map_or(base, |table| {
            table
                .iter()
                // Relaxed: as above.
                .map(|s| s.cells[i].load(Ordering::Relaxed))
                .fold(base, u64::wrapping_add)
        })
    }
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters")
            // Relaxed: a debugging snapshot.
            .field("meta", &self.meta.load(Ordering::Relaxed))
            .field("base", &self.base)
            .finish()
    }
}

/// The cells of `slot` in `table`: its owned stripe, or a shared one.
fn table_cells(table: &[Stripe], slot: usize) -> Cells<'_> {
    match table.get(slot) {
        Some(stripe) => Cells::Owned(&stripe.cells),
        None => {
            let layout = layout();
            // NO_ID has every low bit set: any shared stripe will do.
            let id = slot & !OVERFLOW;
            Cells::Shared(&table[layout.owned + (id & (layout.shared - 1))].cells)
        }
    }
}

/// How many stripes a table has, from the CPU count: the id space and the spread of
/// threads beyond it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Stripes owned by one slot id each: ids `0..owned`. The CPU count plus one.
    pub(crate) owned: usize,
    /// Stripes shared (with `fetch_add`) by the threads with ids `owned..`: a power of
    /// two, `owned / 8` rounded up, between 2 and 16.
    pub(crate) shared: usize,
}

impl Layout {
    /// The layout for a machine with `cpus` CPUs.
    #[cfg(not(loom))]
    pub(crate) fn for_cpus(cpus: usize) -> Layout {
        let owned = cpus.max(1) + 1;
        Layout {
            owned,
            shared: owned.div_ceil(8).next_power_of_two().clamp(2, 16),
        }
    }

    /// Bytes of a table with this layout.
    #[cfg(test)]
    pub(crate) fn table_bytes(self) -> usize {
        (self.owned + self.shared) * std::mem::size_of::<Stripe>()
    }
}

/// The environment variable that overrides the CPU count the stripe tables are sized for.
#[cfg(not(loom))]
const CPUS_VAR: &str = "BREAKERBOX_CPUS";

/// The CPU count: `BREAKERBOX_CPUS` if set to a positive integer, else
/// `available_parallelism` (4 if unknown).
#[cfg(not(loom))]
fn cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| {
        std::env::var(CPUS_VAR)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(4, |n| n.get()))
    })
}

/// The process's table layout, fixed when it creates its first breaker.
#[cfg(not(loom))]
fn layout() -> Layout {
    static LAYOUT: std::sync::OnceLock<Layout> = std::sync::OnceLock::new();
    *LAYOUT.get_or_init(|| Layout::for_cpus(cpus()))
}

/// Under loom: one owned stripe and two shared ones, so a model's second thread exercises
/// the shared path and a third the owned one (whoever counts first takes the base).
#[cfg(loom)]
fn layout() -> Layout {
    Layout {
        owned: 1,
        shared: 2,
    }
}

/// The calling thread's slot: its id if below `owned`, `OVERFLOW | id` above, [`NO_ID`],
/// or `UNCLAIMED` before its first count (which [`Counters::cells`] resolves).
#[inline]
pub(crate) fn slot() -> usize {
    ID.with(Cell::get)
}

// The slot lives in a `const`-initialised `Cell` with no destructor, so reading it is one
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
// touches a `lazy_static`, and each model execution starts from a fresh pool with at most a
// handful of threads. The hand-over itself is covered by the std tests below.
#[cfg(not(loom))]
std::thread_local! {
    static OWNER: Owner = const { Owner };
}

/// The ids in use: every id below `next` is held by a live thread or is in `free`.
#[derive(Debug)]
#[cfg_attr(loom, allow(dead_code))]
struct IdPool {
    next: usize,
    free: Vec<usize>,
}

#[cfg_attr(loom, allow(dead_code))]
impl IdPool {
    /// The lowest free id, so that ids stay dense and long-lived threads keep low ones.
    fn take(&mut self) -> usize {
        match self.free.iter().enumerate().min_by_key(|&(_, id)| *id) {
            Some((i, _)) => self.free.swap_remove(i),
            None => {
                self.next += 1;
                self.next - 1
            }
        }
    }
}

#[cfg(not(loom))]
static IDS: Mutex<IdPool> = Mutex::new(IdPool {
    next: 0,
    free: Vec::new(),
});

// Under loom ids are never given back (above), so a counter is the whole pool: one loom
// operation per claim instead of a lock and an unlock, which keeps the models' state space
// (every model that counts claims ids) near what the old 64-bit bitmap cost.
#[cfg(loom)]
loom::lazy_static! {
    static ref IDS: AtomicU64 = AtomicU64::new(0);
}

/// Claims the lowest free id for this thread and returns its slot. Called once per thread,
/// from the cold branch of [`Counters::cells`].
#[cold]
fn claim() -> usize {
    // The lock's Acquire pairs with the Release of the id's previous holder (module docs).
    #[cfg(not(loom))]
    let id = lock(&IDS).take();
    // Relaxed: under loom ids are never given back, so nothing is handed over.
    #[cfg(loom)]
    let id = IDS.fetch_add(1, Ordering::Relaxed) as usize;
    // Touch `OWNER` so its destructor runs at thread exit. If thread-locals are already
    // being torn down, give the id straight back and count in a shared stripe.
    #[cfg(not(loom))]
    if OWNER.try_with(|_| ()).is_err() {
        release(id);
        ID.with(|c| c.set(NO_ID));
        return NO_ID;
    }
    let slot = if id < layout().owned {
        id
    } else {
        OVERFLOW | id
    };
    ID.with(|c| c.set(slot));
    slot
}

#[cfg(not(loom))]
fn release(id: usize) {
    // Unlocking publishes this thread's last stores to its cells to the id's next holder.
    lock(&IDS).free.push(id);
}

/// Gives the thread's id back when the thread exits.
#[cfg(not(loom))]
struct Owner;

#[cfg(not(loom))]
impl Drop for Owner {
    fn drop(&mut self) {
        let slot = ID.with(|c| c.replace(NO_ID));
        if slot != NO_ID && slot != UNCLAIMED {
            release(slot & !OVERFLOW);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const ALL: [Counter; COUNTERS] = [
        Counter::Total,
        Counter::Success,
        Counter::Failure,
        Counter::Ignored,
        Counter::Rejected,
        Counter::Slow,
        Counter::WouldReject,
    ];

    /// One breaker's two pieces.
    #[derive(Debug)]
    struct Both {
        counters: Counters,
        stripes: Stripes,
    }

    impl Both {
        fn new() -> Both {
            Both {
                counters: Counters::new(),
                stripes: Stripes::new(),
            }
        }

        fn cells(&self) -> Cells<'_> {
            self.counters.cells(&self.stripes, slot())
        }

        fn bump(&self, counter: Counter) {
            self.cells().bump(counter);
        }

        fn sum(&self, counter: Counter) -> u64 {
            self.counters.sum(&self.stripes, counter)
        }

        /// Whether the calling thread counts in the base line.
        fn in_base(&self) -> bool {
            matches!(self.cells(), Cells::Owned(line) if std::ptr::eq(line, &self.counters.base))
        }
    }

    #[test]
    fn one_thread_counts_in_the_base_and_allocates_nothing() {
        let c = Both::new();
        for _ in 0..1000 {
            assert!(c.in_base());
            c.bump(Counter::Total);
            c.bump(Counter::Success);
        }
        c.bump(Counter::Slow);
        c.bump(Counter::WouldReject);
        assert_eq!(c.stripes.heap_bytes(), 0);
        assert_eq!(c.sum(Counter::Total), 1000);
        assert_eq!(c.sum(Counter::Success), 1000);
        assert_eq!(c.sum(Counter::Slow), 1);
        assert_eq!(c.sum(Counter::WouldReject), 1);
        assert_eq!(c.sum(Counter::Failure), 0);
    }

    #[test]
    fn a_second_thread_upgrades_and_the_owner_moves_to_the_table() {
        let c = Both::new();
        c.bump(Counter::Total);
        assert!(c.in_base());
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(!c.in_base());
                c.bump(Counter::Total);
            });
        });
        assert_eq!(c.stripes.heap_bytes(), layout().table_bytes());
        // Relaxed: read on the thread that is checking.
        assert_ne!(c.counters.meta.load(Ordering::Relaxed) & UPGRADED, 0);
        // The owner no longer writes the base line.
        assert!(!c.in_base());
        c.bump(Counter::Total);
        assert_eq!(c.sum(Counter::Total), 3);
    }

    #[test]
    fn a_thread_without_an_id_never_takes_the_base() {
        let c = Both::new();
        c.counters.cells(&c.stripes, NO_ID).bump(Counter::Rejected);
        assert_eq!(c.stripes.heap_bytes(), layout().table_bytes());
        assert!(!c.in_base());
        c.bump(Counter::Rejected);
        assert_eq!(c.sum(Counter::Rejected), 2);
    }

    #[test]
    fn counts_are_exact_across_base_owned_and_shared_cells() {
        // More threads than owned stripes, so some take the shared path; NO_ID too.
        const CALLS: u64 = 5_000;
        let c = Both::new();
        let threads = layout().owned + 4;
        let barrier = std::sync::Barrier::new(threads);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    barrier.wait();
                    for i in 0..CALLS {
                        let cells = c.cells();
                        cells.bump(Counter::Total);
                        cells.bump(ALL[1 + (i % 6) as usize]);
                    }
                    c.counters.cells(&c.stripes, NO_ID).bump(Counter::Rejected);
                });
            }
        });
        let threads = threads as u64;
        assert_eq!(c.sum(Counter::Total), threads * CALLS);
        for (k, &counter) in ALL.iter().enumerate().skip(1) {
            let per = (0..CALLS).filter(|i| 1 + i % 6 == k as u64).count() as u64;
            let extra = u64::from(counter == Counter::Rejected);
            assert_eq!(c.sum(counter), threads * (per + extra), "{counter:?}");
        }
    }

    #[test]
    fn threads_beyond_the_id_space_spread_over_the_shared_stripes() {
        let l = layout();
        let table: Vec<Stripe> = (0..l.owned + l.shared)
            .map(|_| Stripe { cells: zeroed() })
            .collect();
        let index = |line: &Line| table.iter().position(|t| std::ptr::eq(&t.cells, line));
        let mut used = std::collections::BTreeSet::new();
        for id in l.owned..l.owned + 4 * l.shared {
            match table_cells(&table, OVERFLOW | id) {
                Cells::Shared(line) => {
                    let i = index(line).unwrap();
                    assert!(i >= l.owned, "{i}");
                    used.insert(i);
                }
                other => panic!("id {id}: {other:?}"),
            }
        }
        assert_eq!(used.len(), l.shared);
        for id in 0..l.owned {
            assert!(
                matches!(table_cells(&table, id), Cells::Owned(line) if index(line) == Some(id))
            );
        }
    }

    #[test]
    fn layouts_for_simulated_machines() {
        let cases = [
            (1, 2, 2),
            (2, 3, 2),
            (16, 17, 4),
            (64, 65, 16),
            (128, 129, 16),
        ];
        for (cpus, owned, shared) in cases {
            assert_eq!(Layout::for_cpus(cpus), Layout { owned, shared }, "{cpus}");
        }
        assert_eq!(Layout::for_cpus(2).table_bytes(), 5 * 64);
        assert_eq!(Layout::for_cpus(128).table_bytes(), 145 * 64);
    }

    #[test]
    fn ids_are_given_back_when_threads_exit() {
        // Many more short-lived threads than owned stripes: they must keep getting low ids.
        for _ in 0..200 {
            let slot = std::thread::spawn(|| {
                Both::new().bump(Counter::Total);
                slot()
            })
            .join()
            .unwrap();
            assert!(slot & !OVERFLOW < 64, "{slot:#x}");
        }
    }

    #[test]
    fn the_lowest_free_id_is_taken_first() {
        let mut pool = IdPool {
            next: 0,
            free: Vec::new(),
        };
        assert_eq!([pool.take(), pool.take(), pool.take()], [0, 1, 2]);
        pool.free.extend([2, 0]);
        assert_eq!([pool.take(), pool.take(), pool.take()], [0, 2, 3]);
    }

    #[test]
    fn the_base_is_one_line() {
        assert_eq!(std::mem::align_of::<Counters>(), 64);
        assert_eq!(std::mem::size_of::<Counters>(), 64);
        assert_eq!(std::mem::align_of::<Stripe>(), 64);
        assert_eq!(Stripes::new().heap_bytes(), 0);
    }
}
