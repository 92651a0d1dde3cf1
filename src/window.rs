//! The sliding window behind the failure-rate and slow-call-rate rules (API.md P2–P6).
//!
//! A [`RateWindow`] is allocated only when a window is configured. The breaker enters every
//! Success or Failure of a Closed generation with [`RateWindow::add`], which then judges the
//! window's [`Totals`] after it — unless the outcome provably cannot trip the window, in which
//! case the totals are not summed at all (see "Skipping the sum"). Two kinds:
//!
//! - [`Kind::Calls`]`(n)`: the last `n` outcomes of the generation, in the order their
//!   compare-and-swap on the window's header put them (their *ticket* order). Exact.
//! - [`Kind::Time`]`(d)`: the outcomes of the generation entered in the last `d`, kept in
//!   [`BUCKETS`] buckets of `w = d / BUCKETS` each (`d` is rounded down to a multiple of
//!   `BUCKETS` µs, so at most 9 µs short).
//!
//! No lock, no allocation per outcome. A new Closed generation sees an empty window at once:
//! everything is tagged with the full 64-bit generation, so a reset is one write (Calls) or
//! none at all (Time), never a sweep of `n` slots.
//!
//! # `Calls(n)`: one CAS on a 128-bit header, prefix sums in a ring
//!
//! The header is one 128-bit word: the generation it holds (64 bits) and a packed [`Lo`]
//! word with the generation's ticket count and the *running* (prefix) counts of failures and
//! slow calls since the generation began (modulo 2^15). An outcome is entered by one
//! `compare_exchange` of the header: that is the one shared read-modify-write per outcome
//! (see "Costs"). The value the header holds after ticket `t` — its *after-value* — is kept
//! in the ring slot of ticket `t` (`R = n + 1 + SLACK` slots of 128 bits). The totals of the
//! last `n` are then a difference of two prefix values: the header's and the after-value of
//! the ticket just before the window, read from the ring. O(1) per read, whatever `n`.
//!
//! Who writes the ring: the after-value of ticket `t` is exactly the header value the writers
//! of ticket `t + 1` load before their CAS, so *they* store it (a plain store of the value
//! they loaded) before they try to CAS. Every contender stores the same true value; by the
//! time ticket `t + 1` exists its store is done, so a reader of the header at ticket `S`
//! finds the after-values of tickets `S - R ..= S - 2` in the ring (and the header is the
//! after-value of `S - 1`). The after-value also carries the last ticket's own outcome bits,
//! so the after-value of a ticket and of the one before it can each be read from one slot.
//!
//! Header and slot layout ([`Lo`], low 64 bits; the high 64 bits are the generation):
//!
//! | bits   | field       | meaning                                                        |
//! |--------|-------------|----------------------------------------------------------------|
//! | 0..15  | `fail_cum`  | failures entered in this generation, modulo 2^15               |
//! | 15..30 | `slow_cum`  | slow calls entered in this generation, modulo 2^15             |
//! | 30     | `last_fail` | the last ticket's outcome was a failure                        |
//! | 31     | `last_slow` | the last ticket's outcome was slow                             |
//! | 32     | `full`      | more than `n` tickets were entered in this generation          |
//! | 33..64 | `seq`       | tickets entered in this generation, modulo `M` (`M` = the      |
//! |        |             | largest multiple of `R` ≤ 2^31, so slot `seq mod R` is stable)   |
//!
//! A difference of two prefix counts modulo 2^15 is exact because a window holds at most
//! `n` ≤ [`MAX_CALLS`] = 2^15 - 1 outcomes. Legal transitions of the header: `(g, lo)` →
//! `(g, lo.pushed(..))` (an outcome of generation `g`), or `(g, _)` → `(g', empty.pushed(..))`
//! with `g' > g` (the first outcome of a newer generation: the O(1) reset). The generation
//! never decreases.
//!
//! # `Time(d)`: per-thread striped buckets
//!
//! An outcome at `now` lands in bucket `(now / w) mod BUCKETS` of the calling thread's
//! stripe. A thread whose `counters::slot()` id `i` is below the number of owned stripes is
//! the only writer of owned stripe `i`; other threads share one stripe.
//!
//! Owned stripe ([`OwnedStripe`], 192 bytes): `version`, `gen` (full 64-bit generation of all
//! its buckets), `quiet` (the owner's skip mark, see "Skipping the sum"), and per bucket two
//! 64-bit words:
//!
//! | word   | bits 63..32 | bits 31..0 |
//! |--------|-------------|------------|
//! | head   | epoch       | successes  |
//! | tail   | slow        | failures   |
//!
//! The owner updates them with plain loads and stores: a success is one load and one store of
//! `head`, on a line no other thread writes; no read-modify-write. The two rare multi-word
//! changes — a new generation (every bucket zeroed, `gen` replaced; O(`BUCKETS`) once per
//! generation per thread, never O(outcomes)) and a bucket's new epoch — run inside a
//! single-writer seqlock (`version` odd meanwhile); counting within a bucket only grows
//! counts and needs none. A reader takes a stripe's counts only if `version` was even and
//! unchanged around its reads and `gen` was the generation asked for.
//!
//! Shared stripe ([`SharedStripe`], 512 bytes): per bucket three self-tagged 128-bit cells
//! `[generation: 64 | epoch: 32 | count: 32]` (successes, failures, slow), updated by a CAS
//! loop: not `fetch_add`, because with several writers the update must be conditional on the
//! cell's tag, or a late writer would land in a recycled cell. A cell with an older tag
//! restarts at 1; a newer tag refuses the outcome (stale). It also holds `used` (below) and
//! `quiet`, the skip mark of the threads that write it (see "Skipping the sum").
//!
//! Readers sum, over all stripes, the buckets of the last `BUCKETS` epochs tagged with the
//! generation asked for; a stripe never written in that generation costs one or two loads.
//! One shared word, `newest` (the newest generation entered), lets an add of an older
//! generation be refused at once; it is written once per generation (`fetch_max`) and only
//! read otherwise, so its line stays shared and costs no ownership traffic.
//!
//! An outcome entered at time `t` (epoch `e = t / w`) is counted while the reader's epoch is
//! below `e + BUCKETS`: it leaves the window between `(BUCKETS - 1)·w = d - d/BUCKETS` and
//! `BUCKETS·w = d` after it entered (P4). **Worst-case error:** an outcome is dropped at
//! most `d/BUCKETS` (10 % of `d`) early, never late; the window counts the outcomes of the
//! last `d - d/BUCKETS` exactly plus a part of the oldest bucket.
//!
//! Epochs are kept in 32 bits (compared with wrapping arithmetic); they wrap after 2^32·`w`,
//! 13.6 years of breaker uptime at `d` = 1 s (136 years at 10 s). Counts are 32 bits per
//! bucket and stripe and saturate (4.29 × 10^9 outcomes per thread per bucket).
//!
//! # Skipping the sum
//!
//! P3 is read literally: after *any* outcome enters, the window is judged (`min` outcomes
//! held and a rate at its threshold opens the breaker) — in a time window a success can trip
//! too, once older successes have left it, and the success that brings the window to its
//! minimum can. Judging needs the totals: for a time window a sum over every stripe. But a
//! non-slow success can only *lower* both rates (one more outcome, no more failures or slow
//! calls) and only *raise* the count, so it can trip the window only if something else
//! changed since the window was last judged not to trip with its minimum held: outcomes
//! that left it, or the count then being below the minimum. [`RateWindow::add`] skips the
//! sum ([`Added::Quiet`]) exactly when neither can be the case:
//!
//! - `Calls(n)`: when the window already held `n` outcomes of the generation before this
//!   one (the header's `full` after the CAS) and `n >= minimum`. The window then keeps `n`
//!   outcomes, its failures and slow calls can only drop (the oldest left, a plain success
//!   came in), and the window before it was judged: every ticket whose outcome could raise a
//!   rate (a failure, a slow call, any ticket up to the `n`-th) is judged on *its own*
//!   after-value (`totals_after`), concurrently or not, and a non-slow success keeps "does
//!   not trip" true by the argument above. So in ticket order every window state that trips
//!   is judged, and P3 holds exactly, with no marker.
//! - `Time(d)`: per owned stripe, the owner keeps `quiet = epoch + 1` when its last judgment
//!   (in the stripe's generation, at that epoch) found at least `minimum` outcomes and no
//!   trip, and 0 otherwise (cleared by a generation switch). A plain success skips the sum
//!   when the mark equals its own epoch + 1: same generation, and same epoch, so nothing
//!   left the window since that judgment (an outcome leaves only when the reader's epoch
//!   moves); the count was at the minimum then and only grew; every failure or slow call
//!   entered since judged the window itself; and plain successes only lower the rates. With
//!   outcomes recorded one after another on a clock that does not go back (what the
//!   proptests below check against a reference of P3, and `tests/model.rs`
//!   (`time_window_rate_matches_model`) through the breaker), this is P3 exactly. The mark
//!   is written only by a judgment, and only when it changes: normally once per epoch per
//!   thread once the minimum is reached, on the owner's own line; the success path only
//!   reads it. Threads without an owned stripe share one mark, in the
//!   shared stripe: `[generation | epoch + 1]` in one 128-bit word, written only by their
//!   judgments that held the minimum and did not trip (never cleared: each such claim stays
//!   true for its generation and epoch, which a skip must match exactly).
//!
//! Concurrently, the judgments that matter are unchanged: every failure and slow call, and
//! every outcome while a `Calls` window is not yet full, still judges the window after
//! entering, on a sum that holds its own outcome and whatever else it sees by then; only a
//! plain success that the argument above shows harmless, relative to a judgment made
//! earlier (a `Calls` ticket's predecessor; in the same epoch, the owner's own judgment, or
//! for threads without a stripe one of theirs), skips. Two racing failures can each miss the other's entry, skip or no skip: the counts
//! are read, not locked. A thread whose clock reads an epoch behind another thread's may
//! find the oldest bucket already recycled by that thread (the window as of its epoch
//! shrank); its mark is for its own older epoch, and each thread's first outcome at the
//! newer epoch is judged on the newer window. The loom models `calls_skip`, `time_skip` and
//! `time_skip_shared` run a skipping success against a racing judged failure and an epoch
//! change.
//!
//! # Why no outcome of an older generation is ever counted in a newer one
//!
//! Calls. (1) The header's generation only grows: a writer of generation `G` installs a new
//! header only from a header whose generation is `≤ G` (line "g > gen => return None"), and
//! writes `G` itself. (2) A writer enters its outcome only by a CAS that expects the exact
//! 128-bit header it loaded, full generation included. (3) So a writer of `G` that loaded
//! `(G, lo)`, stalled, and CASes after `(G + 1, _)` was installed fails: the header can never
//! hold `(G, lo)` again, by (1), however many generations pass (2^64 generations to wrap).
//! It reloads, sees `G + 1 > G`, and returns `None` without writing. (4) Readers count only
//! prefix values tagged with the generation they ask for: the header's (checked) and the
//! ring slot's (checked together with its `seq`, in the same 128-bit load). A late writer's
//! ring store carries its own, older generation, so it is never taken for the newer one; at
//! worst it overwrites a slot a reader would have used, and the reader falls back (next
//! paragraph).
//!
//! The ring and readers: a slot is used only if it holds the after-value with the expected
//! generation and `seq`. If not (its writer was overtaken by more than `SLACK` tickets while
//! the reader computed, or a writer stalled between loading the header and storing into the
//! ring while the ring went round), the reader uses the slot of the next ticket (minus that
//! ticket's outcome bits), then ever smaller windows down to an empty one. Every answer is the
//! exact count of a suffix of the window, so a reader never sees more than was entered; once
//! writers are quiet and no stall overwrote a slot, it is the exact window. A stale ring
//! store that passes the check would need a writer of the *same* generation stalled between
//! two adjacent instructions (its header load and its ring store) while 2^31 further tickets
//! were entered (`seq` is 31 bits).
//!
//! Time, owned stripes. (1) One writer (the slot-id owner) decides and writes; no other
//! writer can interleave. (2) Its `gen` only grows: an add of an older generation is refused
//! (`held > gen`). (3) A switch to a newer generation zeroes every bucket before any outcome
//! of it is counted, inside the seqlock. (4) A reader counts a stripe only if it read `gen`
//! equal to the generation asked for, with `version` even and equal before and after; any
//! store of a switch it observed makes the odd version visible to its second load (the
//! writer's fence(Release) after setting it odd, the reader's fence(Acquire) before reading
//! it again), so it never mixes buckets of two generations. `version` only grows, so no ABA.
//!
//! Time, shared stripe. (1) A cell's tag `(generation, epoch)` only grows: it is replaced only
//! by a strictly newer one. (2) A cell changes only by a CAS expecting the exact 128-bit value
//! the decision was made on, full generation included; by (1) the cell never returns to an
//! older value, so a late writer's CAS fails once the cell has moved on, and its retry refuses
//! the outcome. (3) Readers count a cell only when its generation is the one asked for.
//!
//! The `newest` and `used` filters only save work: a writer that passed one and then stalled
//! writes buckets of its own, older generation, which no reader of a newer one counts.

//! # Orderings
//!
//! Every value the window stores is self-describing (tagged with its generation and
//! position), so correctness needs no ordering at all; orderings only make fresh values
//! *visible* so that readers rarely fall back:
//! - Calls: the ring store is `Relaxed` and the header CAS is `AcqRel`: the CAS publishes
//!   the ring store made before it, and since every later CAS is a read-modify-write of the
//!   same word (a release sequence), a reader's `Acquire` load of any later header value sees
//!   every ring store made before any earlier CAS. Ring loads are then `Relaxed`.
//! - Time: a slow mark is written after its outcome with `Release` (owned: the tail word,
//!   after the head word for a slow success; shared: the slow cell's CAS, after the outcome
//!   cell's) and read first with `Acquire`, so a reader that counts a slow call counts its
//!   outcome too. A bucket's slow count is also clamped to its outcomes, for the one case
//!   ordering cannot cover (a late shared writer whose outcome cell a newer generation took
//!   over between its two CASes, found by the loom model `time_late_writer`).
//! - Time skip mark: `quiet` is `Relaxed` everywhere: only the owner of a stripe reads or
//!   writes it (hand-over of a slot id is ordered by the id bitmap, as below).
//! - Time seqlock: `version` odd (`Relaxed`) then `fence(Release)` before a reset's stores,
//!   even with `Release` after; readers load it with `Acquire`, read, `fence(Acquire)`, and
//!   load it again. The owner's loads of its own words are `Relaxed` (it reads its own last
//!   stores); hand-over of a slot id between threads is ordered by the id bitmap in
//!   `counters.rs`, as for the counters.
//!
//! # Costs (per outcome)
//!
//! Measured on this 2-CPU AMD EPYC VM through the breaker: `CircuitBreaker::call` in a loop
//! on a breaker configured as in `benches/policies.rs` (open at 50 % failures once 20 were
//! seen). Instructions per call by callgrind, loop included; ns as user CPU time per call
//! over 10^7 calls per thread on the otherwise idle machine (at 2 threads both run at once,
//! on both CPUs), the range of two runs. The same breaker without a window: 61
//! instructions and 10 to 11 ns per success at 1 or 2 threads; 113 instructions and 19 ns
//! (1 thread), 39 to 64 ns (2 threads) with 1 failure in 10.
//!
//! | scenario                      | instructions | ns, 1 thread | ns, 2 threads |
//! |-------------------------------|-------------:|-------------:|--------------:|
//! | `Calls(100)`, successes       |          275 |     38 to 44 |      48 to 75 |
//! | `Calls(100)`, 1 failure in 10 |          323 |     47 to 54 |      54 to 97 |
//! | `Time(10 s)`, successes       |          251 |     42 to 48 |      39 to 50 |
//! | `Time(10 s)`, 1 failure in 10 |          318 |     54 to 60 |     68 to 156 |
//!
//! `benches/policies.rs`, one run (criterion, wall time per call per thread, 1 / 2 threads):
//! `Calls(100)` 43 / 74 ns, `Time(10 s)` 44 / 48 ns, recloser's ring of 100 22 / 225 ns,
//! failsafe 119 / 296 ns; with 1 failure in 10: 50 / 114, 59 / 110, 31 / 149, 118 / 362 ns.
//!
//! - Calls, success: no clock read and no sum (once the window is full). One 128-bit load,
//!   one 128-bit store into the ring, one 128-bit CAS on the header (`lock cmpxchg16b`, the
//!   one shared read-modify-write); about 120 of the instructions, of which about 35 are
//!   `portable_atomic` reaching the three 128-bit operations through a run-time-detected
//!   function pointer (the baseline x86-64 target has no `cmpxchg16b`; with
//!   `-C target-feature=+cmpxchg16b` or a `target-cpu` that has it they are inlined). At 2
//!   threads the header's line and the ring's lines move between the cores on every
//!   outcome: that is the rest of the 2-thread figure. A failed CAS spins briefly
//!   (`crossbeam_utils::Backoff`) before it retries: without the spin the two threads kept
//!   failing each other's CAS (about 0.6 failures per outcome, 310 to 430 ns per call at 2
//!   threads); with it, about 0.02. It retries with the value the failed CAS returned
//!   (the `fetch_add` the issue sketched cannot be made conditional on the generation, so a
//!   late writer would leak): one RMW per attempt, and one attempt succeeds per round, so
//!   it is lock-free; the spin is bounded. A failure or slow call, or any
//!   outcome before the window is full, adds the totals: the header's prefix counts minus
//!   one 128-bit ring load.
//! - Time, owning thread, success: the clock read (about 45 instructions of `quanta`), then
//!   the window: one shared-read load (`newest`), the epoch by a reciprocal multiply, the
//!   owner's `gen`, `head` and `quiet` loads and one `head` store, all on the thread's own
//!   line, about 50 instructions; no sum once the thread has judged the window in this
//!   epoch. No line is written by two threads, so 2 threads cost what 1 does. A failure
//!   (and the first success of each epoch per thread) adds the sum: per owned stripe 2
//!   loads plus, if it holds the generation, `2 × BUCKETS`; the shared stripe 1 load unless
//!   used in the generation (then `3 × BUCKETS` 128-bit loads). At 2 threads the sum reads
//!   lines the other thread is writing, and the failure path of the breaker writes the
//!   shared state word: the spread of the 2-thread figure with failures. Threads without a
//!   stripe: a 128-bit CAS on a shared-stripe cell and a 128-bit load of the shared mark.
//! - The rest of each figure over the windowless breaker is the breaker's record path
//!   (`engine.rs`), which a windowed outcome always takes.
//! - Memory ([`RateWindow::footprint`]): 128 bytes inline (the Calls header has its own
//!   line), plus Calls `16 × (n + 16)` bytes of ring, Time `192 × owned stripes + 512` bytes,
//!   owned stripes = CPUs + 1 (2..=32). On a 2-CPU machine: `Calls(100)` 1 984 B,
//!   `Calls(10_000)` 160 384 B, `Time(60 s)` (any `d`) 1 216 B; 16 CPUs: `Time` 3 904 B; the
//!   32-stripe cap: 6 784 B.
//!
//! Targets without native 128-bit atomics get `portable_atomic`'s lock-based fallback
//! (x86_64 and AArch64 are native).

use crossbeam_utils::Backoff;

use crate::sync::{fence, AtomicU128, AtomicU64, Ordering};

/// Largest `n` of [`Kind::Calls`]: prefix counts are kept modulo 2^15.
pub(crate) const MAX_CALLS: u32 = (1 << COUNT_BITS) - 1;

/// Buckets of a time window (P4 asks for at least 10).
#[cfg(not(loom))]
pub(crate) const BUCKETS: usize = 10;

/// Under loom: two buckets, the same code with a tenth of the words to explore (a reset
/// zeroes every bucket of a stripe, a read visits every bucket).
#[cfg(loom)]
pub(crate) const BUCKETS: usize = 2;

/// Which window (mirrors the public `Window` of `config.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The last `n` outcomes, `1..=MAX_CALLS`.
    Calls(u32),
    /// The outcomes of the last `d` microseconds, `d >= BUCKETS`.
    Time(u64),
}

/// What a window holds: outcomes (Success + Failure), failures, and slow calls among them.
///
/// `u64`, not the `u32` first sketched: a one-hour time window on a busy breaker can hold more
/// than 2^32 outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Totals {
    pub(crate) outcomes: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

/// What [`RateWindow::add`] did with an outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Added<V> {
    /// Not entered: the window holds a newer generation (the outcome is stale).
    Stale,
    /// Entered; it cannot have tripped the window, so its totals were not summed (module
    /// docs, "Skipping the sum").
    Quiet,
    /// Entered; the window's totals after it, and the judge's verdict on them.
    Judged(Totals, Option<V>),
}

impl<V> Added<V> {
    /// The verdict, if the window was judged and tripped.
    #[inline]
    pub(crate) fn verdict(self) -> Option<V> {
        match self {
            Added::Judged(_, v) => v,
            Added::Stale | Added::Quiet => None,
        }
    }
}

/// The sliding window of one breaker.
#[derive(Debug)]
pub(crate) struct RateWindow {
    imp: Imp,
}

#[derive(Debug)]
enum Imp {
    Calls(Calls),
    Time(Time),
}

impl RateWindow {
    /// The window `config` asks for, if any (allocated only then).
    pub(crate) fn for_config(config: &crate::Config) -> Option<RateWindow> {
        let kind = match config.sliding_window()? {
            crate::Window::Calls(n) => Kind::Calls(n),
            crate::Window::Time(d) => Kind::Time(crate::clock::to_us(d)),
        };
        Some(RateWindow::new(kind))
    }

    /// An empty window of `kind`.
    ///
    /// # Panics
    ///
    /// If `kind` is out of range (`Calls(0)`, `Calls(n > MAX_CALLS)`, `Time(d < BUCKETS)`):
    /// `config.rs` validates the public setting first.
    pub(crate) fn new(kind: Kind) -> RateWindow {
        let imp = match kind {
            Kind::Calls(n) => Imp::Calls(Calls::new(n, SEQ_LIMIT)),
            Kind::Time(d) => Imp::Time(Time::new(d, owned_stripes())),
        };
        RateWindow { imp }
    }

    /// Enters one outcome of the Closed generation `gen` in bucket `epoch`, then asks `judge` about
    /// the window's totals after it, unless the outcome provably cannot trip the window
    /// ("Skipping the sum" in the module docs). `minimum` is the count the window must hold
    /// before its rates count (P3: `min(minimum_calls, n)` for `Calls(n)`, `minimum_calls`
    /// for `Time`); `judge` returns the verdict, `None` when the window does not trip.
    ///
    /// `epoch` is the outcome's bucket number, [`epoch_of`](Self::epoch_of) its time or
    /// [`epoch_within`](Self::epoch_within) a range known to hold it; only a time window
    /// reads it ([`needs_time`](Self::needs_time)).
    ///
    /// A time window files the outcome under the calling thread's `counters::slot()` id: the
    /// breaker's counters claim it on every call, so it is claimed by then; a thread that
    /// never claimed one uses the shared stripe (correct, only slower).
    ///
    /// [`Added::Stale`] when the outcome was *not* entered because the window already holds
    /// a newer generation (it must not trip anything). The first outcome of a newer
    /// generation empties the window in O(1).
    #[inline(always)]
    pub(crate) fn add<V>(
        &self,
        gen: u64,
        failure: bool,
        slow: bool,
        epoch: u64,
        minimum: u64,
        judge: impl FnOnce(Totals) -> Option<V>,
    ) -> Added<V> {
        let slot = match self.imp {
            Imp::Calls(_) => 0,
            Imp::Time(_) => crate::counters::slot(),
        };
        self.add_in(slot, gen, failure, slow, epoch, minimum, judge)
    }

    /// [`add`](Self::add) at the time `now_us`, for a caller that already has its
    /// `counters::slot()` id (tests, the loom models and the bench hook).
    #[cfg(any(test, loom, breakerbox_bench))]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_at<V>(
        &self,
        slot: usize,
        gen: u64,
        failure: bool,
        slow: bool,
        now_us: u64,
        minimum: u64,
        judge: impl FnOnce(Totals) -> Option<V>,
    ) -> Added<V> {
        self.add_in(
            slot,
            gen,
            failure,
            slow,
            self.epoch_of(now_us),
            minimum,
            judge,
        )
    }

    /// [`add`](Self::add) with the slot id given.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn add_in<V>(
        &self,
        slot: usize,
        gen: u64,
        failure: bool,
        slow: bool,
        epoch: u64,
        minimum: u64,
        judge: impl FnOnce(Totals) -> Option<V>,
    ) -> Added<V> {
        match &self.imp {
            Imp::Calls(c) => {
                let Some(after) = c.add(gen, failure, slow) else {
                    return Added::Stale;
                };
                if !failure && !slow && after.full() && c.n >= minimum {
                    // The window held `n >= minimum` outcomes before this one and was judged
                    // then; a plain success in place of the oldest lowers both rates.
                    return Added::Quiet;
                }
                c.judge(gen, after, judge)
            }
            Imp::Time(t) => t.add(slot, gen, failure, slow, epoch, minimum, judge),
        }
    }

    /// Enters one outcome without judging the window (tests, the loom models and the bench
    /// hook); `false` if it was stale.
    #[cfg(any(test, loom, breakerbox_bench))]
    fn enter_at(&self, slot: usize, gen: u64, failure: bool, slow: bool, now_us: u64) -> bool {
        match &self.imp {
            Imp::Calls(c) => c.add(gen, failure, slow).is_some(),
            Imp::Time(t) => {
                let epoch = t.epoch(now_us);
                !matches!(t.enter(slot, gen, failure, slow, epoch), Entered::Stale)
            }
        }
    }

    /// The bucket number (epoch) of `now_us` in a time window; 0 for a count window.
    #[inline]
    pub(crate) fn epoch_of(&self, now_us: u64) -> u64 {
        match &self.imp {
            Imp::Calls(_) => 0,
            Imp::Time(t) => t.epoch(now_us),
        }
    }

    /// The epoch of `lo` if `hi >= lo` falls in the same bucket of a time window (one
    /// division and one multiplication); `None` if they straddle a bucket's edge, or for a
    /// count window.
    #[inline]
    pub(crate) fn epoch_within(&self, lo: u64, hi: u64) -> Option<u64> {
        match &self.imp {
            Imp::Calls(_) => None,
            Imp::Time(t) => {
                let e = t.epoch(lo);
                // The bucket of `e` ends at `(e + 1)·w`, which is at most `lo + w`: no overflow
                // for any time a breaker reaches.
                (hi < e.saturating_add(1).saturating_mul(t.width)).then_some(e)
            }
        }
    }

    /// Whether [`add`](Self::add) reads its `epoch` (a time window); a count window's
    /// outcomes need no clock.
    #[inline]
    pub(crate) fn needs_time(&self) -> bool {
        matches!(self.imp, Imp::Time(_))
    }

    /// The totals of generation `gen` at `now_us` (a pure read; a time window counts only
    /// the outcomes still inside it at `now_us`). Empty if the window holds another
    /// generation.
    pub(crate) fn totals(&self, gen: u64, now_us: u64) -> Totals {
        match &self.imp {
            Imp::Calls(c) => c.totals(gen),
            Imp::Time(t) => t.totals(gen, now_us),
        }
    }

    /// Bytes owned, inline and on the heap.
    pub(crate) fn footprint(&self) -> usize {
        std::mem::size_of::<RateWindow>()
            + match &self.imp {
                Imp::Calls(c) => std::mem::size_of_val(&*c.ring),
                Imp::Time(t) => {
                    std::mem::size_of_val(&*t.owned) + std::mem::size_of::<SharedStripe>()
                }
            }
    }
}

// ---------------------------------------------------------------------------------------
// Shared 128-bit word helpers.

/// `[high: 64 | low: 64]`.
#[inline]
const fn join(high: u64, low: u64) -> u128 {
    (high as u128) << 64 | low as u128
}

#[inline]
const fn high(w: u128) -> u64 {
    (w >> 64) as u64
}

#[inline]
const fn low(w: u128) -> u64 {
    w as u64
}

// ---------------------------------------------------------------------------------------
// Calls(n).

/// Width of the prefix counts.
const COUNT_BITS: u32 = 15;
/// Mask of one prefix count.
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
/// Shift of `fail_cum`.
const FAIL_SHIFT: u32 = 0;
/// Shift of `slow_cum`.
const SLOW_SHIFT: u32 = FAIL_SHIFT + COUNT_BITS;
/// The last ticket was a failure.
const LAST_FAIL: u64 = 1 << (SLOW_SHIFT + COUNT_BITS);
/// The last ticket was slow.
const LAST_SLOW: u64 = LAST_FAIL << 1;
/// More than `n` tickets were entered in this generation.
const FULL: u64 = LAST_SLOW << 1;
/// Shift of `seq`, the ticket count modulo `M`.
const SEQ_SHIFT: u32 = FULL.trailing_zeros() + 1;
/// Width of `seq`.
const SEQ_BITS: u32 = 64 - SEQ_SHIFT;
/// `seq` stays below this (before rounding down to a multiple of the ring length).
const SEQ_LIMIT: u64 = 1 << SEQ_BITS;
/// Ring slots beyond `n + 1`: a reader may fall this many tickets behind the header and
/// still find its boundary slot.
const SLACK: u64 = 15;

// Layout checks, in every build.
const _: () = assert!(SEQ_SHIFT == 33 && SEQ_BITS == 31);
const _: () = assert!((MAX_CALLS as u64 + 1 + SLACK) * 2 <= SEQ_LIMIT);

/// The low 64 bits of the Calls header and of a ring slot (table in the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct Lo(u64);

impl Lo {
    const fn fail_cum(self) -> u64 {
        self.0 >> FAIL_SHIFT & COUNT_MASK
    }

    const fn slow_cum(self) -> u64 {
        self.0 >> SLOW_SHIFT & COUNT_MASK
    }

    const fn full(self) -> bool {
        self.0 & FULL != 0
    }

    const fn seq(self) -> u64 {
        self.0 >> SEQ_SHIFT
    }

    /// The header after one more outcome: the next ticket modulo `modulus`, `full` once
    /// more than `n` tickets were entered, prefix counts and last-outcome bits updated.
    fn pushed(self, failure: bool, slow: bool, n: u64, modulus: u64) -> Lo {
        let seq = self.seq() + 1;
        let full = self.full() || seq > n;
        let seq = if seq == modulus { 0 } else { seq };
        debug_assert!(seq < modulus);
        let fail_cum = (self.fail_cum() + failure as u64) & COUNT_MASK;
        let slow_cum = (self.slow_cum() + slow as u64) & COUNT_MASK;
        Lo(seq << SEQ_SHIFT
            | if full { FULL } else { 0 }
            | if slow { LAST_SLOW } else { 0 }
            | if failure { LAST_FAIL } else { 0 }
            | slow_cum << SLOW_SHIFT
            | fail_cum << FAIL_SHIFT)
    }

    /// The prefix counts before the last ticket (other fields are not meaningful).
    fn without_last(self) -> Lo {
        let fail_cum = self
            .fail_cum()
            .wrapping_sub((self.0 & LAST_FAIL != 0) as u64);
        let slow_cum = self
            .slow_cum()
            .wrapping_sub((self.0 & LAST_SLOW != 0) as u64);
        Lo((slow_cum & COUNT_MASK) << SLOW_SHIFT | (fail_cum & COUNT_MASK) << FAIL_SHIFT)
    }
}

/// The header on its own cache line: the ring's lines are written by the same writers, but
/// a reader of the header should not share a line with the slot being written.
#[derive(Debug)]
#[repr(align(64))]
struct Header(AtomicU128);

#[derive(Debug)]
struct Calls {
    header: Header,
    /// The window's size.
    n: u64,
    /// `seq` runs modulo this multiple of the ring length.
    modulus: u64,
    /// Slot `t mod R` holds the after-value of ticket `t` (`R = ring.len()`).
    ring: Box<[AtomicU128]>,
    /// [`fast_mod`]'s constant for `R`.
    len_magic: u64,
}

/// `a % d` for `a < 2^32`, `2 <= d < 2^32`, with one multiplication instead of a division (Lemire, Kaser
/// and Kurz, "Faster remainder by direct computation", 2019); `magic = u64::MAX / d + 1`.
#[inline]
const fn fast_mod(a: u64, d: u64, magic: u64) -> u64 {
    let low = magic.wrapping_mul(a);
    ((low as u128 * d as u128) >> 64) as u64
}

/// `a / d` for any `a` and `d >= 1`, with two multiplications instead of a division;
/// `magic = u128::MAX / d + 1`, wrapping to 0 for `d = 1` (Lemire, Kaser and Kurz 2019:
/// with a 128-bit `magic = ceil(2^128 / d)` the high part of `magic × a` is exact for every
/// 64-bit `a` and `d`).
#[inline]
const fn fast_div(a: u64, magic: u128) -> u64 {
    if magic == 0 {
        return a;
    }
    // The top 64 bits of the 192-bit product `magic × a`.
    let lo = (magic as u64) as u128 * a as u128;
    let hi = (magic >> 64) * a as u128;
    ((hi + (lo >> 64)) >> 64) as u64
}

impl Calls {
    /// `seq_limit` is [`SEQ_LIMIT`] except in tests of the wrap.
    fn new(n: u32, seq_limit: u64) -> Calls {
        assert!((1..=MAX_CALLS).contains(&n), "window size {n} out of range");
        let n = u64::from(n);
        let len = n + 1 + SLACK;
        let modulus = seq_limit / len * len;
        assert!(modulus >= 2 * len && seq_limit <= SEQ_LIMIT);
        Calls {
            header: Header(AtomicU128::new(0)),
            n,
            modulus,
            ring: (0..len).map(|_| AtomicU128::new(0)).collect(),
            len_magic: u64::MAX / len + 1,
        }
    }

    /// The ring slot of the after-value whose `seq` is `seq`: that of ticket `seq - 1`.
    #[inline]
    fn slot(&self, seq: u64) -> &AtomicU128 {
        let len = self.ring.len() as u64;
        // `modulus` is a multiple of `len`, so ticket `seq - 1 (mod modulus)` has this slot.
        // `seq + len - 1 < 2^32` (`seq < 2^31`, `len < 2^16`), as `fast_mod` needs.
        &self.ring[fast_mod(seq + len - 1, len, self.len_magic) as usize]
    }

    /// Enters one outcome of `gen`; the header's new low word, or `None` if the window
    /// holds a newer generation.
    #[inline]
    fn add(&self, gen: u64, failure: bool, slow: bool) -> Option<Lo> {
        // Relaxed: only the expected value of the CAS, which checks it whole.
        let mut cur = self.header.0.load(Ordering::Relaxed);
        let backoff = Backoff::new();
        loop {
            let held = high(cur);
            if held > gen {
                return None;
            }
            let base = if held == gen {
                let lo = Lo(low(cur));
                if lo.seq() != 0 || lo.full() {
                    // The after-value of the last ticket, for readers (module docs).
                    // Relaxed: published by the CAS below (AcqRel).
                    self.slot(lo.seq()).store(cur, Ordering::Relaxed);
                }
                lo
            } else {
                // The first outcome of a newer generation: start from an empty window.
                Lo::default()
            };
            let next = base.pushed(failure, slow, self.n, self.modulus);
            // AcqRel: Release publishes the ring store above to every later reader of the
            // header; Acquire makes the ring stores of earlier writers visible to
            // `totals_after` below. Failure Relaxed: only the next expected value.
            match self.header.0.compare_exchange_weak(
                cur,
                join(gen, next.0),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(next),
                Err(actual) => {
                    // Another outcome won the round (so this stays lock-free). A short spin
                    // before retrying lets its writer finish instead of both fighting for
                    // the line: at 2 threads it cut failed CASes from about 0.6 to 0.02 per
                    // outcome and the per-outcome cost by 3 to 5 times on this VM.
                    backoff.spin();
                    cur = actual;
                }
            }
        }
    }

    /// The totals after the header `after` (of `gen`) and the judge's verdict on them.
    /// Out of line: the skipped case stays small.
    #[inline(never)]
    fn judge<V>(&self, gen: u64, after: Lo, judge: impl FnOnce(Totals) -> Option<V>) -> Added<V> {
        let t = self.totals_after(gen, after);
        Added::Judged(t, judge(t))
    }

    fn totals(&self, gen: u64) -> Totals {
        // Acquire: pairs with the header CAS (a release sequence), so the ring stores made
        // before it are visible to `totals_after`.
        let h = self.header.0.load(Ordering::Acquire);
        if high(h) != gen {
            return Totals::default();
        }
        self.totals_after(gen, Lo(low(h)))
    }

    /// The after-value with `seq` of generation `gen`, from the ring or the header `h`.
    fn after(&self, gen: u64, h: Lo, seq: u64) -> Option<Lo> {
        if seq == h.seq() {
            return Some(h);
        }
        // Relaxed: the value is checked whole; visibility comes from the header's Acquire.
        let v = self.slot(seq).load(Ordering::Relaxed);
        let lo = Lo(low(v));
        (high(v) == gen && lo.seq() == seq).then_some(lo)
    }

    /// The totals of the window whose header (of `gen`) is `h`.
    fn totals_after(&self, gen: u64, h: Lo) -> Totals {
        if !h.full() {
            // Every ticket of the generation is in the window; the prefix before it is 0.
            return Totals {
                outcomes: h.seq(),
                failures: h.fail_cum(),
                slow: h.slow_cum(),
            };
        }
        let n = self.n;
        let m = self.modulus;
        // `seq` of the after-value `k` tickets before the header's.
        let back = |k: u64| {
            // `seq < m` and `k <= n < m`: one conditional subtraction, not a division.
            let b = h.seq() + m - k;
            if b >= m {
                b - m
            } else {
                b
            }
        };
        let diff = |before: Lo, outcomes: u64| Totals {
            outcomes,
            failures: h.fail_cum().wrapping_sub(before.fail_cum()) & COUNT_MASK,
            slow: h.slow_cum().wrapping_sub(before.slow_cum()) & COUNT_MASK,
        };
        // The prefix before the window: the after-value of the ticket before it, or that of
        // the window's first ticket minus its own outcome.
        if let Some(v) = self.after(gen, h, back(n)) {
            return diff(v, n);
        }
        if let Some(v) = self.after(gen, h, back(n - 1)) {
            return diff(v.without_last(), n);
        }
        // Fallback: the largest suffix of the window whose boundary is still in the ring
        // (`k = 0` is the header itself: an empty suffix).
        (0..n - 1)
            .rev()
            .find_map(|k| self.after(gen, h, back(k)).map(|v| diff(v, k)))
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------
// Time(d).

/// Low 32 bits.
const LOW32: u64 = u32::MAX as u64;

/// `w` with its low 32-bit count one higher, saturating.
#[inline]
const fn inc_low(w: u64) -> u64 {
    if w & LOW32 == LOW32 {
        w
    } else {
        w + 1
    }
}

/// `w` with its high 32-bit count one higher, saturating.
#[inline]
const fn inc_high(w: u64) -> u64 {
    if w >> 32 == LOW32 {
        w
    } else {
        w + (1 << 32)
    }
}

/// One thread's buckets: written only by the thread holding its slot id.
///
/// | word              | bits 63..32 | bits 31..0  |
/// |-------------------|-------------|-------------|
/// | `buckets[i][0]`   | epoch       | successes   |
/// | `buckets[i][1]`   | slow        | failures    |
///
/// `gen` (full 64 bits) is the generation of every bucket. A seqlock (`version`, odd while
/// the owner resets) guards the two rare multi-word changes: a new generation (all buckets
/// zeroed, `gen` replaced) and a bucket's new epoch. Counting within a bucket needs no
/// version change: counts only grow, so any value a reader sees is a true count.
#[derive(Debug)]
#[repr(align(64))]
struct OwnedStripe {
    version: AtomicU64,
    gen: AtomicU64,
    /// `epoch + 1` (wrapping) when the owner's last judgment of the window, in generation
    /// `gen` at that epoch, found it holding its minimum and not tripped; 0 otherwise. Read
    /// and written by the owner only (module docs, "Skipping the sum").
    quiet: AtomicU64,
    buckets: [[AtomicU64; 2]; BUCKETS],
}

impl OwnedStripe {
    fn new() -> OwnedStripe {
        OwnedStripe {
            version: AtomicU64::new(0),
            gen: AtomicU64::new(0),
            quiet: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }

    /// The owner's skip mark (module docs, "Skipping the sum").
    #[inline]
    fn quiet(&self) -> u64 {
        // Relaxed: only the owner reads or writes `quiet` (its own last store).
        self.quiet.load(Ordering::Relaxed)
    }

    /// Sets the owner's skip mark, writing only when it changes.
    #[inline]
    fn set_quiet(&self, mark: u64) {
        if self.quiet() != mark {
            // Relaxed: only the owner reads or writes `quiet`.
            self.quiet.store(mark, Ordering::Relaxed);
        }
    }

    /// Enters one outcome (the owner only); `false` if stale.
    #[inline]
    fn add(&self, gen: u64, epoch: u64, failure: bool, slow: bool) -> bool {
        let bucket = &self.buckets[(epoch % BUCKETS as u64) as usize];
        let e = epoch as u32;
        // Relaxed (this and every load below): the owner reads its own last stores.
        let held = self.gen.load(Ordering::Relaxed);
        let head = bucket[0].load(Ordering::Relaxed);
        if held != gen || (head >> 32) as u32 != e {
            if held > gen || (held == gen && (e.wrapping_sub((head >> 32) as u32) as i32) < 0) {
                // A newer generation, or an epoch a whole ring older than the bucket's: the
                // outcome is out of every window that can still be read.
                return false;
            }
            self.reset(held != gen, gen, epoch);
        }
        if !failure {
            // Relaxed: this thread is the cell's only writer (an owned stripe).
            let head = bucket[0].load(Ordering::Relaxed);
            // Relaxed: published by the Release store of the tail if slow; a success alone
            // publishes nothing else.
            bucket[0].store(inc_low(head), Ordering::Relaxed);
        }
        if failure || slow {
            // Relaxed: this thread is the cell's only writer (an owned stripe).
            let mut tail = bucket[1].load(Ordering::Relaxed);
            if failure {
                tail = inc_low(tail);
            }
            if slow {
                tail = inc_high(tail);
            }
            // Release: a reader that sees this slow mark (Acquire) sees the success stored
            // just before; a failure and its slow mark share this word.
            bucket[1].store(tail, Ordering::Release);
        }
        true
    }

    /// Starts generation `gen` (all buckets empty) if `new_gen`, and the bucket of `epoch`
    /// afresh, inside the seqlock.
    #[cold]
    fn reset(&self, new_gen: bool, gen: u64, epoch: u64) {
        // Relaxed: the owner's own word.
        let v = self.version.load(Ordering::Relaxed);
        // Relaxed + the fence: a reader that sees any store below sees this odd version
        // (its fence(Acquire) pairs with this fence(Release)).
        self.version.store(v + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        if new_gen {
            // Relaxed: inside the seqlock.
            self.gen.store(gen, Ordering::Relaxed);
            // Relaxed: the owner's own word; no judgment of the new generation yet.
            self.quiet.store(0, Ordering::Relaxed);
            for b in &self.buckets {
                b[0].store(0, Ordering::Relaxed);
                b[1].store(0, Ordering::Relaxed);
            }
        }
        let b = &self.buckets[(epoch % BUCKETS as u64) as usize];
        // Relaxed: inside the seqlock.
        b[0].store(u64::from(epoch as u32) << 32, Ordering::Relaxed);
        b[1].store(0, Ordering::Relaxed);
        // Release: readers that load this even version (Acquire) see the reset whole.
        self.version.store(v + 2, Ordering::Release);
    }

    /// The counts of `gen` in `epochs`, or `None` if a reset overlapped the read.
    fn read(&self, gen: u64, epochs: std::ops::RangeInclusive<u64>) -> Option<Totals> {
        // Acquire: pairs with the Release of the last reset's closing store.
        let v1 = self.version.load(Ordering::Acquire);
        if v1 & 1 == 1 {
            return None;
        }
        let mut t = Totals::default();
        // Relaxed: validated by the version check below.
        if self.gen.load(Ordering::Relaxed) == gen {
            for epoch in epochs {
                let b = &self.buckets[(epoch % BUCKETS as u64) as usize];
                // Acquire: pairs with the Release store of the tail, so a slow success's
                // success is counted when its slow mark is.
                let tail = b[1].load(Ordering::Acquire);
                // Relaxed: validated by the epoch and version checks.
                let head = b[0].load(Ordering::Relaxed);
                if (head >> 32) as u32 == epoch as u32 {
                    let (s, f, slow) = (head & LOW32, tail & LOW32, tail >> 32);
                    t.outcomes += s + f;
                    t.failures += f;
                    t.slow += slow.min(s + f);
                }
            }
        }
        // Acquire: a read of any store made after an odd version was set makes that
        // version visible to the load below (seqlock).
        fence(Ordering::Acquire);
        // Relaxed: ordered by the fence.
        (self.version.load(Ordering::Relaxed) == v1).then_some(t)
    }
}

/// Cell index of successes in a shared bucket.
const SUCCESS: usize = 0;
/// Cell index of failures.
const FAILURE: usize = 1;
/// Cell index of slow calls.
const SLOW: usize = 2;

/// A shared cell: `[generation: 64 | epoch: 32 | count: 32]`.
#[inline]
const fn cell(gen: u64, epoch: u32, count: u32) -> u128 {
    join(gen, (epoch as u64) << 32 | count as u64)
}

#[inline]
const fn cell_epoch(c: u128) -> u32 {
    (low(c) >> 32) as u32
}

#[inline]
const fn cell_count(c: u128) -> u32 {
    low(c) as u32
}

/// A shared cell after one more outcome of `(gen, epoch)`, or `None` if the cell holds a
/// newer tag (the outcome is stale). A pure step, installed by CAS.
#[inline]
fn bumped(cur: u128, gen: u64, epoch: u32) -> Option<u128> {
    let (held, held_epoch) = (high(cur), cell_epoch(cur));
    if held == gen && held_epoch == epoch {
        Some(cell(gen, epoch, cell_count(cur).saturating_add(1)))
    } else if held < gen || (held == gen && (epoch.wrapping_sub(held_epoch) as i32) > 0) {
        Some(cell(gen, epoch, 1))
    } else {
        None
    }
}

/// The count of shared cell `c` if it is tagged `(gen, epoch)`.
#[inline]
fn count_if(c: u128, gen: u64, epoch: u32) -> u64 {
    if high(c) == gen && cell_epoch(c) == epoch {
        u64::from(cell_count(c))
    } else {
        0
    }
}

/// CASes [`bumped`] into shared cell `c`; `false` if the outcome was stale.
fn update_shared(c: &AtomicU128, gen: u64, epoch: u32) -> bool {
    // Relaxed: only the expected value of the CAS.
    let mut cur = c.load(Ordering::Relaxed);
    let backoff = Backoff::new();
    loop {
        let Some(next) = bumped(cur, gen, epoch) else {
            return false;
        };
        // Release: a reader that sees this (slow) cell with Acquire sees the outcome cell
        // written before. Failure Relaxed: only the next expected value.
        match c.compare_exchange_weak(cur, next, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(actual) => {
                // As in `Calls::add`: another writer won; let it finish before retrying.
                backoff.spin();
                cur = actual;
            }
        }
    }
}

/// The buckets of threads without an owned stripe: `BUCKETS × 3` self-tagged 128-bit cells
/// (480 bytes), updated by CAS.
#[derive(Debug)]
#[repr(align(64))]
struct SharedStripe {
    /// The newest generation entered here: a reader of a newer one skips the stripe.
    used: AtomicU64,
    /// `[generation: 64 | epoch + 1: 64]` of a judgment by a thread of this stripe that
    /// found the window holding its minimum and not tripped (module docs, "Skipping the
    /// sum"); 0 before any. Every value ever stored is such a judgment's.
    quiet: AtomicU128,
    buckets: [[AtomicU128; 3]; BUCKETS],
}

impl SharedStripe {
    fn new() -> SharedStripe {
        SharedStripe {
            used: AtomicU64::new(0),
            quiet: AtomicU128::new(0),
            buckets: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU128::new(0))),
        }
    }

    /// The skip mark of the threads without an owned stripe.
    #[inline]
    fn quiet(&self) -> u128 {
        // Relaxed: the mark is a self-contained claim (generation, epoch) that holds
        // whenever it is read; nothing else is read on its strength.
        self.quiet.load(Ordering::Relaxed)
    }

    /// Records a judgment's claim in the mark, writing only when it changes.
    fn set_quiet(&self, mark: u128) {
        if self.quiet() != mark {
            // Relaxed: as in `quiet`. Racing judgments of two epochs may leave the older
            // claim: still true, it only makes the newer epoch's successes judge again.
            self.quiet.store(mark, Ordering::Relaxed);
        }
    }

    fn add(&self, gen: u64, epoch: u64, failure: bool, slow: bool) -> bool {
        // Relaxed: a filter for readers; a reader that misses it misses only a concurrent add.
        if self.used.load(Ordering::Relaxed) < gen {
            self.used.fetch_max(gen, Ordering::Relaxed);
        }
        let bucket = &self.buckets[(epoch % BUCKETS as u64) as usize];
        let e = epoch as u32;
        if !update_shared(&bucket[if failure { FAILURE } else { SUCCESS }], gen, e) {
            return false;
        }
        if slow {
            update_shared(&bucket[SLOW], gen, e);
        }
        true
    }

    fn read(&self, gen: u64, epochs: std::ops::RangeInclusive<u64>) -> Totals {
        let mut t = Totals::default();
        // Relaxed: a filter (see `add`).
        if self.used.load(Ordering::Relaxed) < gen {
            return t;
        }
        for epoch in epochs {
            let bucket = &self.buckets[(epoch % BUCKETS as u64) as usize];
            let e = epoch as u32;
            // Acquire: pairs with the Release CAS of the slow cell, which follows the
            // same call's success/failure cell: its outcome is counted by the loads below.
            let slow = count_if(bucket[SLOW].load(Ordering::Acquire), gen, e);
            // Relaxed: counts, self-tagged; ordered after the slow cell by the Acquire.
            let s = count_if(bucket[SUCCESS].load(Ordering::Relaxed), gen, e);
            let f = count_if(bucket[FAILURE].load(Ordering::Relaxed), gen, e);
            t.outcomes += s + f;
            t.failures += f;
            // A slow mark can outlive its outcome in one case: a late writer whose outcome
            // cell a newer generation took over between its two CASes (found by the loom
            // model `time_late_writer`). Its generation is dead by then; the clamp keeps
            // `slow <= outcomes` for every reader.
            t.slow += slow.min(s + f);
        }
        t
    }
}

/// Reads of an owned stripe before a reader gives up on it (a reset kept overlapping).
#[cfg(not(loom))]
const READ_TRIES: usize = 4;

/// Under loom: one retry is enough to model it, and each one multiplies the interleavings.
#[cfg(loom)]
const READ_TRIES: usize = 2;

/// Where [`Time::enter`] put an outcome.
#[derive(Debug)]
enum Entered<'a> {
    /// Refused: the window holds a newer generation, or the bucket a newer epoch.
    Stale,
    /// In the shared stripe.
    Shared,
    /// In the caller's own stripe.
    Owned(&'a OwnedStripe),
}

#[derive(Debug)]
struct Time {
    /// [`fast_div`]'s constant for the bucket width `w = d / BUCKETS` µs: an epoch is
    /// `now / w`.
    width_magic: u128,
    /// The bucket width `w` in µs.
    width: u64,
    /// The newest generation entered so far: an add of an older one is refused at once
    /// (read on every add, written once per generation, so its line stays shared).
    newest: AtomicU64,
    /// Stripe `i` belongs to the thread with slot id `i`.
    owned: Box<[OwnedStripe]>,
    /// Threads without an owned stripe.
    shared: Box<SharedStripe>,
}

impl Time {
    fn new(d_us: u64, owned: usize) -> Time {
        assert!(d_us >= BUCKETS as u64, "time window {d_us} µs out of range");
        let width = d_us / BUCKETS as u64;
        Time {
            width_magic: (u128::MAX / u128::from(width)).wrapping_add(1),
            width,
            newest: AtomicU64::new(0),
            owned: (0..owned).map(|_| OwnedStripe::new()).collect(),
            shared: Box::new(SharedStripe::new()),
        }
    }

    /// Enters one outcome, then judges the totals unless the owner's `quiet` mark shows that
    /// a plain success cannot trip the window ([`RateWindow::add`]).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn add<V>(
        &self,
        slot: usize,
        gen: u64,
        failure: bool,
        slow: bool,
        epoch: u64,
        minimum: u64,
        judge: impl FnOnce(Totals) -> Option<V>,
    ) -> Added<V> {
        let stripe = match self.enter(slot, gen, failure, slow, epoch) {
            Entered::Stale => return Added::Stale,
            Entered::Shared => {
                // The same rule as an owner's, on the stripe's common mark, which holds
                // only claims of judgments that were quiet (never cleared: a claim stays
                // true), tagged with the full generation.
                let mark = join(gen, epoch.wrapping_add(1));
                if !failure && !slow && self.shared.quiet() == mark {
                    return Added::Quiet;
                }
                let t = self.totals_at(gen, epoch);
                let verdict = judge(t);
                if verdict.is_none() && t.outcomes >= minimum {
                    self.shared.set_quiet(mark);
                }
                return Added::Judged(t, verdict);
            }
            Entered::Owned(stripe) => stripe,
        };
        let mark = epoch.wrapping_add(1);
        if !failure && !slow && stripe.quiet() == mark {
            return Added::Quiet;
        }
        self.judge_owned(stripe, gen, epoch, minimum, judge)
    }

    /// Sums and judges the window for an owner whose outcome may have tripped it, and sets
    /// the owner's skip mark from the verdict. Out of line: the skipped case stays small.
    #[inline(never)]
    fn judge_owned<V>(
        &self,
        stripe: &OwnedStripe,
        gen: u64,
        epoch: u64,
        minimum: u64,
        judge: impl FnOnce(Totals) -> Option<V>,
    ) -> Added<V> {
        let t = self.totals_at(gen, epoch);
        let verdict = judge(t);
        if verdict.is_none() {
            let mark = epoch.wrapping_add(1);
            stripe.set_quiet(if t.outcomes >= minimum { mark } else { 0 });
        }
        Added::Judged(t, verdict)
    }

    /// The epoch (bucket number) of `now_us`: `now_us / width`.
    #[inline]
    fn epoch(&self, now_us: u64) -> u64 {
        fast_div(now_us, self.width_magic)
    }

    /// Enters one outcome at `epoch` into the caller's stripe; where it went, or `Stale`.
    #[inline]
    fn enter(&self, slot: usize, gen: u64, failure: bool, slow: bool, epoch: u64) -> Entered<'_> {
        // Relaxed: a filter only. Correctness does not rest on it: everything is tagged,
        // and a writer that passes it and then stalls writes buckets of its own generation,
        // which no reader of a newer one counts.
        let newest = self.newest.load(Ordering::Relaxed);
        if gen < newest {
            return Entered::Stale;
        }
        if gen > newest {
            // Relaxed: as above; once per generation.
            self.newest.fetch_max(gen, Ordering::Relaxed);
        }
        match self.owned.get(slot) {
            Some(stripe) if stripe.add(gen, epoch, failure, slow) => Entered::Owned(stripe),
            Some(_) => Entered::Stale,
            None if self.shared.add(gen, epoch, failure, slow) => Entered::Shared,
            None => Entered::Stale,
        }
    }

    fn totals(&self, gen: u64, now_us: u64) -> Totals {
        self.totals_at(gen, self.epoch(now_us))
    }

    /// The totals of `gen` when the current epoch is `now`.
    fn totals_at(&self, gen: u64, now: u64) -> Totals {
        let epochs = now.saturating_sub(BUCKETS as u64 - 1)..=now;
        let mut t = self.shared.read(gen, epochs.clone());
        for stripe in self.owned.iter() {
            // A reset overlapping the read (once per bucket width per thread): retry a few
            // times, then leave the stripe out (a smaller count, never a larger one).
            if let Some(s) = (0..READ_TRIES).find_map(|_| stripe.read(gen, epochs.clone())) {
                t.outcomes += s.outcomes;
                t.failures += s.failures;
                t.slow += s.slow;
            }
        }
        t
    }
}

/// How many stripes a time window gives out: one per CPU plus one, 2..=32 (as the counters).
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

/// The window's own API for the loom models (`loom-tests/tests/window.rs`) and the bench
/// (`benches/window.rs`), which cannot reach crate-private items. Exists only under
/// `--cfg loom` or `--cfg breakerbox_bench`.
#[cfg(any(loom, breakerbox_bench))]
pub mod hook {
    use super::{Added, Kind, RateWindow, Totals};

    /// A rate window.
    #[derive(Debug)]
    pub struct Window(RateWindow);

    /// `(outcomes, failures, slow)`.
    pub type Counts = (u64, u64, u64);

    /// What [`Window::record`] did (`window::Added`, with the totals as [`Counts`]).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Recorded {
        /// Not entered (stale).
        Stale,
        /// Entered; provably could not trip, so not summed.
        Quiet,
        /// Entered and summed: the totals, and whether the judge tripped.
        Judged(Counts, bool),
    }

    fn counts(t: Totals) -> Counts {
        (t.outcomes, t.failures, t.slow)
    }

    impl Window {
        /// `Kind::Calls(n)`.
        pub fn calls(n: u32) -> Window {
            Window(RateWindow::new(Kind::Calls(n)))
        }

        /// `Kind::Time(d_us)`.
        pub fn time(d_us: u64) -> Window {
            Window(RateWindow::new(Kind::Time(d_us)))
        }

        /// Enters one outcome; with `want_totals`, returns the totals after it, always
        /// summed (`RateWindow::add_at` with a minimum no window reaches, so it never
        /// skips); without, only enters it and returns `None`.
        pub fn add(
            &self,
            slot: usize,
            gen: u64,
            failure: bool,
            slow: bool,
            now_us: u64,
            want_totals: bool,
        ) -> Option<Counts> {
            if !want_totals {
                self.0.enter_at(slot, gen, failure, slow, now_us);
                return None;
            }
            match self
                .0
                .add_at(slot, gen, failure, slow, now_us, u64::MAX, |_| None::<()>)
            {
                Added::Judged(t, _) => Some(counts(t)),
                Added::Stale | Added::Quiet => None,
            }
        }

        /// `RateWindow::add_at`: the breaker's `add` at the time `now_us`, with `minimum`
        /// and a judge that trips when `trips` says so.
        #[allow(clippy::too_many_arguments)]
        pub fn record(
            &self,
            slot: usize,
            gen: u64,
            failure: bool,
            slow: bool,
            now_us: u64,
            minimum: u64,
            trips: impl FnOnce(Counts) -> bool,
        ) -> Recorded {
            match self
                .0
                .add_at(slot, gen, failure, slow, now_us, minimum, |t| {
                    trips(counts(t)).then_some(())
                }) {
                Added::Stale => Recorded::Stale,
                Added::Quiet => Recorded::Quiet,
                Added::Judged(t, v) => Recorded::Judged(counts(t), v.is_some()),
            }
        }

        /// `RateWindow::totals`.
        pub fn totals(&self, gen: u64, now_us: u64) -> Counts {
            counts(self.0.totals(gen, now_us))
        }

        /// `RateWindow::footprint`.
        pub fn footprint(&self) -> usize {
            self.0.footprint()
        }

        /// Owned stripes of a time window; slot ids at or above it share a stripe.
        pub fn owned_stripes() -> usize {
            super::owned_stripes()
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use std::sync::Arc;

    /// One outcome: (failure, slow).
    type Out = (bool, bool);

    /// The obvious Calls window: a deque of the last `n` outcomes of the current generation.
    struct Reference {
        n: usize,
        gen: u64,
        last: VecDeque<Out>,
    }

    impl Reference {
        fn new(n: u32) -> Reference {
            Reference {
                n: n as usize,
                gen: 0,
                last: VecDeque::new(),
            }
        }

        /// `false` if stale.
        fn add(&mut self, gen: u64, o: Out) -> bool {
            if gen < self.gen {
                return false;
            }
            if gen > self.gen {
                self.gen = gen;
                self.last.clear();
            }
            if self.last.len() == self.n {
                self.last.pop_front();
            }
            self.last.push_back(o);
            true
        }

        fn totals(&self, gen: u64) -> Totals {
            if gen != self.gen {
                return Totals::default();
            }
            recount(self.last.iter().copied())
        }
    }

    /// P3 with integer percentages `(failure rate, slow-call rate)`.
    fn p3_trips(t: Totals, min: u64, (rate, slow_rate): (u64, u64)) -> bool {
        t.outcomes >= min
            && (t.failures * 100 >= rate * t.outcomes || t.slow * 100 >= slow_rate * t.outcomes)
    }

    /// `add_at`, always summed (a minimum no window reaches never skips): the totals after
    /// the outcome, `None` if it was stale.
    fn summed(w: &RateWindow, slot: usize, gen: u64, f: bool, s: bool, now: u64) -> Option<Totals> {
        match w.add_at(slot, gen, f, s, now, u64::MAX, |_| None::<()>) {
            Added::Judged(t, None) => Some(t),
            Added::Stale => None,
            other => panic!("a minimum of u64::MAX must always sum: {other:?}"),
        }
    }

    fn recount(outs: impl Iterator<Item = Out>) -> Totals {
        outs.fold(Totals::default(), |t, (f, s)| Totals {
            outcomes: t.outcomes + 1,
            failures: t.failures + f as u64,
            slow: t.slow + s as u64,
        })
    }

    /// A Calls window whose `seq` wraps after a couple of ring laps.
    fn wrapping_calls(n: u32) -> RateWindow {
        let len = u64::from(n) + 1 + SLACK;
        RateWindow {
            imp: Imp::Calls(Calls::new(n, 2 * len + 3)),
        }
    }

    /// Generation steps: 0 = same generation, 1 = next, 2 = a stale one (one back).
    fn ops() -> impl Strategy<Value = Vec<(u8, bool, bool)>> {
        prop::collection::vec(
            (
                prop_oneof![8 => Just(0u8), 1 => Just(1), 1 => Just(2)],
                any::<bool>(),
                any::<bool>(),
            ),
            0..300,
        )
    }

    fn check_calls(w: &RateWindow, n: u32, ops: &[(u8, bool, bool)]) -> Result<(), TestCaseError> {
        let mut r = Reference::new(n);
        let mut gen = 5u64;
        for &(step, failure, slow) in ops {
            let g = match step {
                0 => gen,
                1 => {
                    gen += 1;
                    gen
                }
                _ => gen - 1,
            };
            let entered = r.add(g, (failure, slow));
            let got = summed(w, 0, g, failure, slow, 0);
            let want = r.totals(g);
            prop_assert_eq!(got, entered.then_some(want));
            prop_assert_eq!(w.totals(gen, 0), r.totals(gen));
            let t = w.totals(gen, 0);
            prop_assert!(
                t.outcomes <= u64::from(n) && t.failures <= t.outcomes && t.slow <= t.outcomes
            );
        }
        Ok(())
    }

    /// `add`'s answer against a recount: judged with the exact totals `want` and the verdict
    /// P3 gives (`trip`), or skipped only for a plain success on which P3 does not trip.
    fn judged_exactly(
        added: Added<()>,
        want: Totals,
        trip: bool,
        failure: bool,
        slow: bool,
    ) -> Result<(), TestCaseError> {
        match added {
            Added::Judged(t, v) => {
                prop_assert_eq!(t, want);
                prop_assert_eq!(v.is_some(), trip);
            }
            Added::Quiet => prop_assert!(!trip && !failure && !slow),
            Added::Stale => prop_assert!(false, "a current outcome was refused"),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Calls(n) equals the deque reference after every add, across generation changes
        /// and stale adds; totals never exceed `n`.
        #[test]
        fn calls_match_the_reference(n in prop_oneof![1u32..=8, 9u32..=70], ops in ops()) {
            check_calls(&RateWindow::new(Kind::Calls(n)), n, &ops)?;
        }

        /// The same with `seq` wrapping every couple of laps.
        #[test]
        fn calls_match_the_reference_across_seq_wraps(n in 1u32..=12, ops in ops()) {
            check_calls(&wrapping_calls(n), n, &ops)?;
        }

        /// Time(d): at any `now`, the totals are exactly the outcomes of the current
        /// generation whose epoch is one of the last BUCKETS; in particular every outcome is
        /// counted until `d - d/B` after it entered and never from `d` after on.
        #[test]
        fn time_buckets_hold_the_last_d(
            d_ms in 1u64..=50,
            steps in prop::collection::vec((0u64..400, 0u8..10, any::<bool>(), any::<bool>(), 0usize..5), 0..150),
        ) {
            let d = d_ms * 1000 + 7; // not a multiple of BUCKETS: w rounds down
            let w = d / BUCKETS as u64;
            let win = RateWindow { imp: Imp::Time(Time::new(d, 3)) };
            let mut now = 0u64;
            let mut gen = 1u64;
            let mut entered: Vec<(u64, u64, bool, bool)> = Vec::new(); // (gen, at, f, s)
            for (dt, g, failure, slow, slot) in steps {
                now += dt * 97;
                if g == 0 { gen += 1 }
                // slot 3 and 4 are not owned (3 owned stripes): the shared stripe.
                let t = summed(&win, slot, gen, failure, slow, now);
                prop_assert!(t.is_some());
                entered.push((gen, now, failure, slow));
                for probe in [now, now + w / 2, now + d - w, now + d] {
                    let want = recount(entered.iter().filter(|&&(g, at, _, _)| {
                        g == gen && probe / w < at / w + BUCKETS as u64
                    }).map(|&(_, _, f, s)| (f, s)));
                    prop_assert_eq!(win.totals(gen, probe), want);
                    // P4 bounds, stated directly.
                    for &(g, at, _, _) in &entered {
                        let counted = g == gen && probe / w < at / w + BUCKETS as u64;
                        if g == gen && probe - at < d - d / BUCKETS as u64 - BUCKETS as u64 { prop_assert!(counted) }
                        if probe - at >= BUCKETS as u64 * w { prop_assert!(!counted) }
                    }
                }
                prop_assert_eq!(t, Some(win.totals(gen, now)));
            }
        }

        /// Calls(n) as the breaker uses it: every outcome after which P3 trips the window is
        /// judged, with the exact totals; a skipped one is a plain success that P3 would not
        /// trip on. A trip starts a new generation, as the breaker's does.
        #[test]
        fn calls_skip_only_outcomes_that_cannot_trip(
            n in 1u32..=12,
            min_pick in 1u32..=12,
            rates in (1u64..=100, 1u64..=100),
            outs in prop::collection::vec((0u8..5, 0u8..7), 0..300),
        ) {
            let min = u64::from(min_pick.min(n)); // P3: min(minimum_calls, n)
            let w = RateWindow::new(Kind::Calls(n));
            let mut r = Reference::new(n);
            let mut gen = 1;
            for (f, s) in outs {
                let (failure, slow) = (f == 0, s == 0);
                r.add(gen, (failure, slow));
                let want = r.totals(gen);
                let trip = p3_trips(want, min, rates);
                let added = w.add_at(0, gen, failure, slow, 0, min, |t| p3_trips(t, min, rates).then_some(()));
                judged_exactly(added, want, trip, failure, slow)?;
                if trip {
                    gen += 1;
                }
            }
        }

        /// Time(d) as the breaker uses it, on a clock that only moves forward, from owned and
        /// shared stripes, across resets: every outcome after which P3 trips the window
        /// (including a success after older successes left it) is judged, with the exact
        /// totals; a skipped one is a plain success P3 would not trip on.
        #[test]
        fn time_skips_only_outcomes_that_cannot_trip(
            d_ms in 1u64..=20,
            min in 1u64..=8,
            rates in (1u64..=100, 1u64..=100),
            steps in prop::collection::vec((0u64..40, 0u8..4, 0u8..6, 0usize..5, 0u8..40), 0..300),
        ) {
            let d = d_ms * 1000 + 7;
            let w = d / BUCKETS as u64;
            let win = RateWindow { imp: Imp::Time(Time::new(d, 3)) };
            let (mut now, mut gen) = (0u64, 1u64);
            let mut entered: Vec<(u64, u64, bool, bool)> = Vec::new(); // (gen, at, f, s)
            for (dt, f, s, slot, reset) in steps {
                // Mostly small steps (several outcomes per bucket), now and then a long one.
                now += if dt < 36 { dt * w / 16 } else { dt * w };
                if reset == 0 {
                    gen += 1;
                }
                let (failure, slow) = (f == 0, s == 0);
                entered.push((gen, now, failure, slow));
                let want = recount(entered.iter().filter(|&&(g, at, _, _)| {
                    g == gen && now / w < at / w + BUCKETS as u64
                }).map(|&(_, _, f, s)| (f, s)));
                let trip = p3_trips(want, min, rates);
                let added = win.add_at(slot, gen, failure, slow, now, min, |t| p3_trips(t, min, rates).then_some(()));
                judged_exactly(added, want, trip, failure, slow)?;
                if trip {
                    gen += 1;
                }
            }
        }

        /// `fast_div` is `/` for every dividend and divisor.
        #[test]
        fn fast_div_is_division(
            a in prop_oneof![any::<u64>(), 0u64..1 << 40],
            d in prop_oneof![1u64..=1000, any::<u64>().prop_map(|d| d.max(1)), (0u32..64).prop_map(|k| 1u64 << k)],
        ) {
            prop_assert_eq!(fast_div(a, (u128::MAX / u128::from(d)).wrapping_add(1)), a / d);
            prop_assert_eq!(fast_div(u64::MAX, (u128::MAX / u128::from(d)).wrapping_add(1)), u64::MAX / d);
        }

        /// `epoch_within(lo, hi)` is the bucket of `lo` exactly when `hi` is in it too (the
        /// coarse clock's test for an exact bucket), at bucket edges as much as inside.
        #[test]
        fn epoch_within_is_one_bucket(
            d_ms in 1_000u64..100_000,
            lo in prop_oneof![any::<u32>().prop_map(u64::from), 0u64..1 << 50],
            span in prop_oneof![0u64..2_000, 0u64..1 << 30],
            edge: bool,
        ) {
            let w = RateWindow::new(Kind::Time(d_ms * 1_000));
            let width = d_ms * 100;
            // Half the cases end at a bucket's edge, or one or two µs before it.
            let end = (lo / width + 1) * width;
            let lo = if edge { end.saturating_sub(span + span % 3) } else { lo };
            let hi = lo + span;
            let same = lo / width == hi / width;
            prop_assert_eq!(w.epoch_within(lo, hi), same.then_some(lo / width));
            prop_assert_eq!(w.epoch_of(hi), hi / width);
            prop_assert_eq!(RateWindow::new(Kind::Calls(10)).epoch_within(lo, hi), None);
        }

        /// `fast_mod` is `%` on its domain.
        #[test]
        fn fast_mod_is_remainder(a in 0u64..1 << 32, d in 2u64..1 << 16) {
            prop_assert_eq!(fast_mod(a, d, u64::MAX / d + 1), a % d);
        }

        /// Layout round trips of the Calls word.
        #[test]
        fn lo_fields_round_trip(seq in 0u64..(1 << SEQ_BITS) - 1, f in 0u64..=COUNT_MASK, s in 0u64..=COUNT_MASK,
                                full: bool, lf: bool, ls: bool) {
            let lo = Lo(seq << SEQ_SHIFT | if full { FULL } else { 0 } | if lf { LAST_FAIL } else { 0 }
                | if ls { LAST_SLOW } else { 0 } | s << SLOW_SHIFT | f);
            prop_assert_eq!((lo.seq(), lo.fail_cum(), lo.slow_cum(), lo.full()), (seq, f, s, full));
            let p = lo.pushed(lf, ls, 100, SEQ_LIMIT);
            prop_assert_eq!(p.fail_cum(), (f + lf as u64) & COUNT_MASK);
            prop_assert_eq!(p.slow_cum(), (s + ls as u64) & COUNT_MASK);
            prop_assert_eq!(p.without_last().fail_cum(), f);
            prop_assert_eq!(p.without_last().slow_cum(), s);
            prop_assert_eq!(p.seq(), if seq + 1 == SEQ_LIMIT { 0 } else { seq + 1 });
            prop_assert!(p.full() == (full || seq + 1 > 100));
        }
    }

    /// The cases the sum is skipped in, and those it is not.
    #[test]
    fn plain_successes_skip_the_sum_only_when_they_cannot_trip() {
        // At least half failing, once 4 are held.
        let judge = |t: Totals| (t.outcomes >= 4 && t.failures * 2 >= t.outcomes).then_some(());
        let calls = RateWindow::new(Kind::Calls(4));
        for _ in 0..4 {
            assert!(matches!(
                calls.add_at(0, 1, false, false, 0, 4, judge),
                Added::Judged(_, None)
            ));
        }
        // Full: a plain success replaces the oldest; a failure or slow call is judged.
        assert_eq!(calls.add_at(0, 1, false, false, 0, 4, judge), Added::Quiet);
        assert!(matches!(
            calls.add_at(0, 1, true, false, 0, 4, judge),
            Added::Judged(_, None)
        ));
        assert!(matches!(
            calls.add_at(0, 1, false, true, 0, 4, judge),
            Added::Judged(_, None)
        ));
        assert!(matches!(
            calls.add_at(0, 1, true, false, 0, 4, judge),
            Added::Judged(_, Some(()))
        ));
        // A new generation is judged again until it holds `n`.
        assert!(matches!(
            calls.add_at(0, 2, false, false, 0, 4, judge),
            Added::Judged(_, None)
        ));

        // Time(10 s), buckets of 1 s; the owner of stripe 0.
        let time = RateWindow {
            imp: Imp::Time(Time::new(10_000_000, 2)),
        };
        let s = 1_000_000;
        for _ in 0..3 {
            assert!(matches!(
                time.add_at(0, 1, false, false, 0, 4, judge),
                Added::Judged(_, None)
            ));
        }
        // The fourth reaches the minimum: judged (and quiet); the fifth, same bucket, skips.
        assert!(matches!(
            time.add_at(0, 1, false, false, 10, 4, judge),
            Added::Judged(_, None)
        ));
        assert_eq!(time.add_at(0, 1, false, false, 20, 4, judge), Added::Quiet);
        // Failures are judged: 3 of 8 do not trip.
        for _ in 0..3 {
            assert!(matches!(
                time.add_at(0, 1, true, false, 30, 4, judge),
                Added::Judged(_, None)
            ));
        }
        assert_eq!(time.add_at(0, 1, false, false, 40, 4, judge), Added::Quiet);
        // Another thread's stripe (no judgment of its own yet) and the shared stripe sum,
        // once: their marks are their own; the shared one serves every thread without a
        // stripe, for its epoch only.
        for slot in [1, 9] {
            assert!(matches!(
                time.add_at(slot, 1, false, false, 40, 4, judge),
                Added::Judged(_, None)
            ));
        }
        assert_eq!(time.add_at(1, 1, false, false, 40, 4, judge), Added::Quiet);
        assert_eq!(time.add_at(8, 1, false, false, 40, 4, judge), Added::Quiet);
        assert!(matches!(
            time.add_at(8, 1, false, false, s, 4, judge),
            Added::Judged(_, None)
        ));
        // A success can trip once older successes have left: six successes at 0 s, three
        // failures and a (skipped) success at 5 s; at 10 s the successes of 0 s have left,
        // and the plain success of a new epoch is judged: 3 failures of 5, it trips.
        let time = RateWindow {
            imp: Imp::Time(Time::new(10_000_000, 2)),
        };
        for _ in 0..6 {
            time.add_at(0, 1, false, false, 0, 4, judge);
        }
        for _ in 0..3 {
            assert!(matches!(
                time.add_at(0, 1, true, false, 5 * s, 4, judge),
                Added::Judged(_, None)
            ));
        }
        assert_eq!(
            time.add_at(0, 1, false, false, 5 * s + 1, 4, judge),
            Added::Quiet
        );
        // At 10 s the six successes of bucket 0 have left: 3 failures of 4.
        assert_eq!(
            time.add_at(0, 1, false, false, 10 * s, 4, judge),
            Added::Judged(
                Totals {
                    outcomes: 5,
                    failures: 3,
                    slow: 0
                },
                Some(())
            )
        );
    }

    #[test]
    fn time_cells_saturate_and_refuse_newer_tags() {
        let c = cell(7, 3, u32::MAX);
        assert_eq!(bumped(c, 7, 3), Some(c));
        assert_eq!(bumped(c, 7, 4), Some(cell(7, 4, 1)));
        assert_eq!(bumped(c, 8, 0), Some(cell(8, 0, 1)));
        assert_eq!(bumped(c, 7, 2), None);
        assert_eq!(bumped(c, 6, 9), None);
        // Epochs compare with wrapping arithmetic.
        assert_eq!(bumped(cell(7, u32::MAX, 5), 7, 9), Some(cell(7, 9, 1)));
        assert_eq!(bumped(cell(7, 9, 5), 7, u32::MAX), None);
    }

    /// A new generation is empty at once, whatever the window held, with one add; a late
    /// writer of the old generation is refused and the old generation reads as empty.
    #[test]
    fn a_new_generation_starts_empty_in_o1() {
        for w in [
            RateWindow::new(Kind::Calls(MAX_CALLS)),
            RateWindow::new(Kind::Time(60_000_000)),
        ] {
            for i in 0..40_000u64 {
                w.enter_at(0, 1, i % 3 == 0, i % 5 == 0, 1_000);
            }
            let held = match w.imp {
                Imp::Calls(_) => u64::from(MAX_CALLS),
                Imp::Time(_) => 40_000,
            };
            assert_eq!(w.totals(1, 1_000).outcomes, held);
            let t = summed(&w, 0, 2, true, false, 1_000).unwrap();
            assert_eq!(
                t,
                Totals {
                    outcomes: 1,
                    failures: 1,
                    slow: 0
                }
            );
            assert_eq!(summed(&w, 0, 1, true, true, 1_000), None, "late writer");
            assert_eq!(w.totals(2, 1_000), t);
            // Calls: the old generation is gone; Time keeps its cells but no reader of
            // generation 2 counts them.
            if let Imp::Calls(_) = w.imp {
                assert_eq!(w.totals(1, 1_000), Totals::default());
            }
        }
    }

    /// A late Time writer (its cell already moved to a newer generation) is refused, owned
    /// or shared.
    #[test]
    fn a_late_time_writer_is_refused() {
        let w = RateWindow {
            imp: Imp::Time(Time::new(10_000_000, 2)),
        };
        for slot in [0, 5] {
            assert!(summed(&w, slot, 9, false, false, 0).is_some());
            assert_eq!(summed(&w, slot, 8, true, true, 0), None);
        }
        assert_eq!(
            w.totals(9, 0),
            Totals {
                outcomes: 2,
                failures: 0,
                slow: 0
            }
        );
        assert_eq!(w.totals(8, 0), Totals::default());
    }

    #[test]
    fn footprints() {
        let calls_100 = RateWindow::new(Kind::Calls(100)).footprint();
        let calls_10k = RateWindow::new(Kind::Calls(10_000)).footprint();
        let time_60 = RateWindow::new(Kind::Time(60_000_000)).footprint();
        assert_eq!(calls_100, std::mem::size_of::<RateWindow>() + 16 * 116);
        assert_eq!(calls_10k, std::mem::size_of::<RateWindow>() + 16 * 10_016);
        assert_eq!(std::mem::size_of::<OwnedStripe>(), 192);
        assert_eq!(std::mem::size_of::<SharedStripe>(), 512);
        assert_eq!(
            time_60,
            std::mem::size_of::<RateWindow>() + 192 * owned_stripes() + 512
        );
        eprintln!(
            "footprint: RateWindow {} B inline; Calls(100) {calls_100} B, Calls(10_000) \
             {calls_10k} B, Time(60 s) {time_60} B ({} owned stripes)",
            std::mem::size_of::<RateWindow>(),
            owned_stripes()
        );
    }

    /// A tiny deterministic RNG (xorshift), so the stress needs no extra dependency.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed | 1;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// 2..=8 threads add random outcomes to one Calls window while one of them moves it to
    /// newer generations; afterwards its totals equal a recount of the last `n` outcomes of
    /// the final generation in ticket order (each add reports its ticket).
    #[test]
    fn calls_stress_matches_a_sequential_recount() {
        for threads in 2..=8u64 {
            for n in [1u32, 3, 64] {
                let calls = Arc::new(Calls::new(n, SEQ_LIMIT));
                let barrier = Arc::new(std::sync::Barrier::new(threads as usize));
                let handles: Vec<_> = (0..threads)
                    .map(|i| {
                        let (calls, barrier) = (calls.clone(), barrier.clone());
                        std::thread::spawn(move || {
                            let mut next = rng(0x9E37_79B9 * (i + 1) + u64::from(n));
                            let mut gen = 1;
                            let mut log = Vec::new(); // (gen, seq after, full, failure, slow)
                            barrier.wait();
                            for k in 0..3_000u64 {
                                if i == 0 && k % 1_000 == 999 {
                                    gen += 1;
                                }
                                let r = next();
                                let (f, s) = (r & 3 == 0, r & 12 == 0);
                                // Threads other than 0 follow the generation they last saw.
                                let g = if i == 0 {
                                    gen
                                } else {
                                    high(calls.header.0.load(Ordering::Relaxed)).max(1)
                                };
                                if let Some(lo) = calls.add(g, f, s) {
                                    log.push((g, lo, f, s));
                                }
                            }
                            log
                        })
                    })
                    .collect();
                let mut all: Vec<(u64, Lo, bool, bool)> = handles
                    .into_iter()
                    .flat_map(|h| h.join().unwrap())
                    .collect();
                let h = calls.header.0.load(Ordering::Acquire);
                let gen = high(h);
                // No wrap in this many adds: `seq` orders the tickets of a generation.
                all.retain(|e| e.0 == gen);
                all.sort_by_key(|e| e.1.seq());
                let seqs: Vec<u64> = all.iter().map(|e| e.1.seq()).collect();
                assert_eq!(
                    seqs,
                    (1..=all.len() as u64).collect::<Vec<_>>(),
                    "one ticket each"
                );
                let want = recount(all.iter().rev().take(n as usize).map(|e| (e.2, e.3)));
                assert_eq!(calls.totals(gen), want, "threads {threads}, n {n}");
            }
        }
    }

    /// 2..=8 threads (some owning stripes, some on the shared one) add random outcomes under
    /// a clock one of them advances; afterwards the totals at several instants equal a
    /// recount of the outcomes entered in the window's buckets.
    #[test]
    fn time_stress_matches_a_sequential_recount() {
        for threads in 2..=8usize {
            let d = 10_000u64;
            let w = d / BUCKETS as u64;
            let time = Arc::new(Time::new(d, 3)); // threads 3.. share a stripe
            let clock = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let barrier = Arc::new(std::sync::Barrier::new(threads));
            let handles: Vec<_> = (0..threads)
                .map(|i| {
                    let (time, clock, barrier) = (time.clone(), clock.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        let mut next = rng(0x2545_F491 * (i as u64 + 1));
                        let mut log = Vec::new();
                        barrier.wait();
                        for _ in 0..4_000 {
                            let r = next();
                            if i == 0 && r % 8 == 0 {
                                clock.fetch_add(r % 97, std::sync::atomic::Ordering::Relaxed);
                            }
                            let now = clock.load(std::sync::atomic::Ordering::Relaxed);
                            let (f, s) = (r & 0x30 == 0, r & 0xc0 == 0);
                            // A shared cell may already have moved a whole ring ahead (another
                            // thread's later clock read): then the outcome is out of every
                            // window from now on and is refused; owned cells never refuse.
                            if !matches!(time.enter(i, 1, f, s, time.epoch(now)), Entered::Stale) {
                                log.push((now, f, s));
                            } else {
                                assert!(i >= 3, "an owned cell refused a monotonic clock");
                            }
                        }
                        log
                    })
                })
                .collect();
            let all: Vec<(u64, bool, bool)> = handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect();
            let end = clock.load(std::sync::atomic::Ordering::Relaxed);
            for probe in [end, end + w, end + d / 2, end + d] {
                // An outcome whose cell was later reused for a newer epoch is out of the
                // window at every probe (probes are at or after every clock read).
                let want = recount(
                    all.iter()
                        .filter(|&&(at, _, _)| probe / w < at / w + BUCKETS as u64)
                        .map(|&(_, f, s)| (f, s)),
                );
                assert_eq!(
                    time.totals(1, probe),
                    want,
                    "threads {threads}, probe {probe}"
                );
            }
        }
    }
}
