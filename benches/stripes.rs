//! The counters alone, with 1, 2, 8 and 32 threads on one breaker: the design of issue 13
//! (a base line owned by the first thread, a stripe table on the first contention, threads
//! past the id space spread over several shared stripes) against the design before it
//! (stripes for every CPU allocated with each breaker, threads past the owned stripes all
//! on one shared stripe), in one run.
//!
//! Group `stripes`, ids `<impl>/<threads>`:
//!
//! - `breakerbox`: `try_acquire` then `Permit::success` on a real `CircuitBreaker` (today's
//!   counters inside);
//! - `new_counters`: `src/counters.rs` itself (compiled into this bench with `#[path]`) in a
//!   minimal closed breaker: resolve the thread's cells, bump `Total`, load the state word,
//!   bump `Success`, load the state word again (what `try_acquire` + `success` do to the
//!   counters and the word on a closed breaker);
//! - `old_counters`: the same minimal breaker over the counters as they were before
//!   (module `old_counters` below, a copy of them).
//!
//! Every thread makes `iters` calls (see `common::contended`): the time printed is the
//! per-call latency each thread sees while all of them run, and the throughput (elements =
//! threads) is the aggregate calls per second. With more threads than cores the threads
//! time-share the cores, so from 4 threads on a 2-core machine the time grows with the
//! thread count; compare the implementations at one thread count.
//!
//! Both designs size their stripes from the CPU count: `BREAKERBOX_CPUS` simulates another
//! machine (both read it), e.g. `BREAKERBOX_CPUS=64 cargo bench --bench stripes`.
//!
//! Run: `cargo bench --bench stripes`.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use breakerbox::CircuitBreaker;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

// The peers' adapters in `common` are used by `benches/peers.rs` only.
#[allow(dead_code)]
mod common;

/// What `src/counters.rs` imports from the crate's `sync` module (std side).
mod sync {
    pub(crate) use std::sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, OnceLock,
    };

    pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The counters of issue 13: the crate's own source file.
#[allow(dead_code, unreachable_pub)]
#[path = "../src/counters.rs"]
mod new_counters;

/// Thread counts of the group.
const THREADS: [usize; 4] = [1, 2, 8, 32];

/// A closed state word, as the breaker's.
const CLOSED: u64 = 0;

/// A minimal closed breaker over the new counters.
struct NewBreaker {
    word: AtomicU64,
    stripes: new_counters::Stripes,
    counters: new_counters::Counters,
}

impl NewBreaker {
    fn call(&self) -> bool {
        use new_counters::Counter;
        let cells = self.counters.cells(&self.stripes, new_counters::slot());
        cells.bump(Counter::Total);
        // Acquire: as the breaker's admission load.
        let admitted = self.word.load(Ordering::Acquire) == CLOSED;
        cells.bump(Counter::Success);
        // Acquire: as the breaker's settle load.
        admitted && self.word.load(Ordering::Acquire) == CLOSED
    }
}

/// The same over the old counters.
struct OldBreaker {
    word: AtomicU64,
    counters: old_counters::Counters,
}

impl OldBreaker {
    fn call(&self) -> bool {
        use old_counters::Counter;
        let cells = self.counters.cells(old_counters::slot());
        cells.bump(Counter::Total);
        // Acquire: as the breaker's admission load.
        let admitted = self.word.load(Ordering::Acquire) == CLOSED;
        cells.bump(Counter::Success);
        // Acquire: as the breaker's settle load.
        admitted && self.word.load(Ordering::Acquire) == CLOSED
    }
}

fn stripes(c: &mut Criterion) {
    let mut g = c.benchmark_group("stripes");
    let breaker = CircuitBreaker::new("bench");
    let new = NewBreaker {
        word: AtomicU64::new(CLOSED),
        stripes: new_counters::Stripes::new(),
        counters: new_counters::Counters::new(),
    };
    let old = OldBreaker {
        word: AtomicU64::new(CLOSED),
        counters: old_counters::Counters::new(),
    };
    for threads in THREADS {
        g.throughput(Throughput::Elements(threads as u64));
        g.bench_function(BenchmarkId::new("breakerbox", threads), |b| {
            b.iter_custom(|iters| {
                common::contended(threads, iters, &breaker, |cb, _| {
                    if let Ok(permit) = cb.try_acquire() {
                        permit.success();
                    }
                })
            })
        });
        g.bench_function(BenchmarkId::new("new_counters", threads), |b| {
            b.iter_custom(|iters| {
                common::contended(threads, iters, &new, |nb, _| {
                    black_box(nb.call());
                })
            })
        });
        g.bench_function(BenchmarkId::new("old_counters", threads), |b| {
            b.iter_custom(|iters| {
                common::contended(threads, iters, &old, |ob, _| {
                    black_box(ob.call());
                })
            })
        });
    }
    g.finish();
    let m = breaker.metrics();
    assert_eq!(m.total_calls, m.successful_calls, "every call was admitted");
}

criterion_group! {
    name = benches;
    config = common::criterion_config();
    targets = stripes
}
criterion_main!(benches);

mod old_counters {
    #![allow(dead_code)]
    //! The counters as they were before issue 13 (commit d7e61d7, `src/counters.rs`), kept as
    //! the baseline of `benches/stripes.rs`: `min(CPUs + 1, 32) + 1` stripes allocated with
    //! every breaker, 64 slot ids, and every thread past the owned stripes on ONE shared stripe
    //! with `fetch_add`. Copied verbatim but for the loom switch (std only here), `pub` for
    //! `pub(crate)`, and the CPU count, which reads `BREAKERBOX_CPUS` as the new design does.
    //!
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

    use std::sync::atomic::{AtomicU64, Ordering};

    /// The counters each stripe holds.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Counter {
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
    pub const SHARED: usize = usize::MAX - 2;

    /// Number of slot ids in the bitmap.
    const MAX_IDS: u32 = 64;

    /// One cache line of counters.
    #[derive(Debug)]
    #[repr(align(64))]
    pub struct Stripe {
        cells: [AtomicU64; 5],
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
    pub struct Counters {
        /// Stripe 0 is shared, written with `fetch_add` by threads without an owned stripe;
        /// stripe `i + 1` is written only by the thread holding slot id `i`.
        stripes: Box<[Stripe]>,
    }

    /// Where the calling thread counts: its own stripe, or the shared one. Resolve it once per
    /// call with [`Counters::cells`] and bump it several times.
    #[derive(Clone, Copy, Debug)]
    pub enum Cells<'a> {
        /// This thread is the stripe's only writer.
        Owned(&'a Stripe),
        /// Shared with other threads: read-modify-write.
        Shared(&'a Stripe),
    }

    impl Cells<'_> {
        /// Adds one to `counter`.
        #[inline]
        pub fn bump(self, counter: Counter) {
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
        pub fn new() -> Counters {
            Counters {
                stripes: (0..=owned_stripes()).map(|_| Stripe::new()).collect(),
            }
        }

        /// The cells of the calling thread, whose slot id is `slot` (from [`slot`]).
        #[inline]
        pub fn cells(&self, slot: usize) -> Cells<'_> {
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
        pub fn sum(&self, counter: Counter) -> u64 {
            self.stripes
                .iter()
                // Relaxed: statistics; see the module docs.
                .map(|s| s.cells[counter as usize].load(Ordering::Relaxed))
                .fold(0, u64::wrapping_add)
        }

        /// Heap bytes of the stripes.
        pub fn heap_bytes(&self) -> usize {
            std::mem::size_of_val(&*self.stripes)
        }
    }

    /// How many stripes a breaker owns out (`S` in the module docs).
    fn owned_stripes() -> usize {
        static S: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        *S.get_or_init(|| {
            // Bench addition: the same CPU count as the new design (`BREAKERBOX_CPUS`).
            let cpus = std::env::var("BREAKERBOX_CPUS")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(4, |n| n.get()));
            (cpus + 1).clamp(2, 32)
        })
    }

    /// The calling thread's slot id: `0..MAX_IDS`, [`SHARED`], or [`UNCLAIMED`] before its
    /// first use (which [`Counters::cells`] resolves).
    #[inline]
    pub fn slot() -> usize {
        ID.with(Cell::get)
    }

    /// Slot id of a thread that has not claimed one yet.
    const UNCLAIMED: usize = usize::MAX - 1;

    // The id lives in a `const`-initialised `Cell` with no destructor, so reading it is one
    // thread-local load with no lazy-init check; a second thread-local, `OWNER`, carries the
    // destructor that gives the id back.
    std::thread_local! {
        static ID: Cell<usize> = const { Cell::new(UNCLAIMED) };
    }

    std::thread_local! {
        static OWNER: Owner = const { Owner };
    }

    static IDS: AtomicU64 = AtomicU64::new(0);

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
            match IDS.compare_exchange_weak(
                cur,
                cur | 1 << bit,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break bit as usize,
                Err(actual) => cur = actual,
            }
        };
        // Touch `OWNER` so its destructor runs at thread exit. If thread-locals are already
        // being torn down, give the id straight back and stay shared.
        if id != SHARED && OWNER.try_with(|_| ()).is_err() {
            release(id);
            ID.with(|c| c.set(SHARED));
            return SHARED;
        }
        ID.with(|c| c.set(id));
        id
    }

    fn release(id: usize) {
        // Release: publishes this thread's last stores to its cells to the id's next owner.
        IDS.fetch_and(!(1 << id), Ordering::Release);
    }

    /// Gives the thread's id back when the thread exits.
    struct Owner;

    impl Drop for Owner {
        fn drop(&mut self) {
            let id = ID.with(|c| c.replace(SHARED));
            if id < MAX_IDS as usize {
                release(id);
            }
        }
    }
}
