//! The packed words: every bit of the breaker's state machine lives here.
//!
//! # The state word ([`Word`], 64 bits): the one source of truth
//!
//! | bits    | field        | Closed                          | Open        | HalfOpen            | Isolated |
//! |---------|--------------|---------------------------------|-------------|---------------------|----------|
//! | 0..2    | `state`      | `0`                             | `1`         | `2`                 | `3`      |
//! | 2..12   | `count`      | failure streak (1023: disabled) | open streak | outstanding probes  | 0        |
//! | 12..64  | `generation` | bumped by every transition, carried by every permit (52 bits)              ||||
//!
//! `count` holds up to [`COUNT_MAX`] (1022) ≥ `Config::MAX_THRESHOLD` (1000), saturating;
//! the one value above it, [`DISABLED`], marks a disabled breaker (Closed, never trips).
//! Isolated is Open until `reset()`; users see it as [`State::Open`] and `Mode::Isolated`.
//!
//! Legal transitions, each of which starts a new generation: Closed → Open (a trip),
//! Open → HalfOpen (first call after the open period), HalfOpen → Closed (probes succeeded),
//! HalfOpen → Open (a failed or slow probe, or the half-open period ran out), and from any
//! state the operator calls: `reset` and `disable` → Closed, `force_open` → Open,
//! `isolate` → Isolated.
//!
//! # The stamp ([`Stamp`], 128 bits): the current period's details
//!
//! | bits     | field        | meaning                                                     |
//! |----------|--------------|-------------------------------------------------------------|
//! | 0..52    | `generation` | the Open / HalfOpen generation these details belong to      |
//! | 52..104  | `deadline`   | end of that period, µs since the breaker's epoch            |
//! | 104..114 | `successes`  | HalfOpen: successes counted in this period                  |
//! | 114..124 | `streak`     | HalfOpen: the open streak the next open period continues    |
//!
//! 52 bits of microseconds give deadlines a horizon of 142 years from the breaker's
//! creation (they saturate there).
//!
//! # Why no stale value can ever be installed
//!
//! The protocol is in [`crate::engine`]; the argument, step by step:
//!
//! 1. The word changes only by CAS, so each generation `g` is created exactly once, by the
//!    one CAS that installs a word of generation `g` (its *winner*); generations only grow.
//! 2. A stamp of generation `g` is written only by (a) `g`'s winner, with the deadline it
//!    computed from the clock reading it made before its CAS — "the winner's time", and
//!    (b) a CAS that bumps `successes` of a stamp already carrying `g`. Nobody else ever
//!    publishes a deadline: a reader that finds no stamp of the word's generation treats the
//!    period as just started, which only makes it wait (Open) or refuse extra probes
//!    (HalfOpen) until the winner publishes; it never writes.
//! 3. Publishing is monotone: the winner CASes the stamp only while the stamp's generation is
//!    *below* its own, and gives up once it is not. A winner descheduled for any number of
//!    transitions therefore cannot overwrite the stamp of a later generation.
//! 4. Every CAS on the stamp compares all 128 bits, generation included; generations never
//!    repeat (point 5), so no CAS can succeed against a value it did not read (no ABA).
//! 5. A 52-bit generation does not wrap: 2^52 transitions at the fastest rate a transition
//!    can be made (one uncontended CAS plus bookkeeping, ≈ 25 ns measured for `reset()` in a
//!    loop) take 3.6 years of nothing else on one breaker; a permit would have to stay
//!    outstanding across all of them to be mistaken for a current one.
//! 6. Hence a stamp whose generation equals the word's was written by that generation's
//!    winner (or counted its successes), and its deadline starts at the winner's time.

use crate::sync::{AtomicU128, AtomicU64, Ordering};
use crate::State;

/// Width of the `count` field.
const COUNT_BITS: u32 = 10;
/// Mask of the `count` field, shifted down.
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
/// Largest value of `count` as a counter: streaks and probe counts saturate here.
pub(crate) const COUNT_MAX: u32 = COUNT_MASK as u32 - 1;
/// The `count` of a disabled (Closed) breaker.
pub(crate) const DISABLED: u32 = COUNT_MASK as u32;
/// Mask of the two state bits.
const STATE_MASK: u64 = 0b11;
/// Shift of `count`, right after the state.
const COUNT_SHIFT: u32 = 2;
/// Shift of the generation, right after `count`.
const GENERATION_SHIFT: u32 = COUNT_SHIFT + COUNT_BITS;
/// Width of a generation, in the word and in the stamp.
pub(crate) const GENERATION_BITS: u32 = 64 - GENERATION_SHIFT;
/// Mask of a generation, shifted down.
pub(crate) const GENERATION_MASK: u64 = (1 << GENERATION_BITS) - 1;

// The layout fills the word exactly, in every build (sharded-slab checks its packing the
// same way).
const _: () = assert!(GENERATION_SHIFT + GENERATION_BITS == 64);
const _: () = assert!(crate::Config::MAX_THRESHOLD <= COUNT_MAX);

/// The stored state, including the operator's isolation (users see it as Open).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
    Isolated = 3,
}

impl Phase {
    /// The state users see.
    #[inline]
    pub(crate) const fn public(self) -> State {
        match self {
            Phase::Closed => State::Closed,
            Phase::Open | Phase::Isolated => State::Open,
            Phase::HalfOpen => State::HalfOpen,
        }
    }
}

/// The breaker's state word; see the module docs for the bit table.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Word(u64);

impl Word {
    /// A fresh word in `phase`, `count` zero. `generation` is truncated to 52 bits.
    #[inline]
    pub(crate) const fn new(phase: Phase, generation: u64) -> Word {
        Word(phase as u64 | (generation & GENERATION_MASK) << GENERATION_SHIFT)
    }

    /// The stored phase.
    #[inline]
    pub(crate) const fn phase(self) -> Phase {
        match self.0 & STATE_MASK {
            0 => Phase::Closed,
            1 => Phase::Open,
            2 => Phase::HalfOpen,
            _ => Phase::Isolated,
        }
    }

    /// The `count` field: failure streak, open streak or outstanding probes by phase.
    #[inline]
    pub(crate) const fn count(self) -> u32 {
        ((self.0 >> COUNT_SHIFT) & COUNT_MASK) as u32
    }

    /// The generation.
    #[inline]
    pub(crate) const fn generation(self) -> u64 {
        self.0 >> GENERATION_SHIFT
    }

    /// Whether this is a disabled (Closed) breaker.
    #[inline]
    pub(crate) const fn disabled(self) -> bool {
        matches!(self.phase(), Phase::Closed) && self.count() == DISABLED
    }

    /// The raw bits (for tests and debugging).
    #[cfg(test)]
    pub(crate) const fn into_raw(self) -> u64 {
        self.0
    }

    /// The same word with `count` set to `n`, saturating at [`COUNT_MAX`].
    #[inline]
    pub(crate) const fn with_count(self, n: u32) -> Word {
        let n = if n > COUNT_MAX { COUNT_MAX } else { n };
        self.with_raw_count(n)
    }

    /// The same word marked disabled (only meaningful when Closed).
    #[inline]
    pub(crate) const fn with_disabled(self) -> Word {
        self.with_raw_count(DISABLED)
    }

    #[inline]
    const fn with_raw_count(self, n: u32) -> Word {
        Word((self.0 & !(COUNT_MASK << COUNT_SHIFT)) | (n as u64) << COUNT_SHIFT)
    }

    /// The first word of the next generation, in `phase`, `count` zero.
    #[inline]
    pub(crate) const fn next(self, phase: Phase) -> Word {
        Word::new(phase, self.generation().wrapping_add(1))
    }
}

impl std::fmt::Debug for Word {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Word")
            .field("phase", &self.phase())
            .field("count", &self.count())
            .field("generation", &self.generation())
            .finish()
    }
}

/// An atomic [`Word`]: raw integers never leak into the transition logic.
#[derive(Debug)]
pub(crate) struct AtomicWord(AtomicU64);

impl AtomicWord {
    #[inline]
    pub(crate) fn new(w: Word) -> AtomicWord {
        AtomicWord(AtomicU64::new(w.0))
    }

    /// Loads the word with Acquire: pairs with the Release half of the CAS that installed
    /// it, so whatever its maker did before (a published stamp of an earlier generation,
    /// counted outcomes) is visible to the decisions the caller makes from it.
    #[inline]
    pub(crate) fn load(&self) -> Word {
        Word(self.0.load(Ordering::Acquire))
    }

    /// Installs `new` if the word is still `current`. AcqRel: Release publishes the
    /// transition to later loads; Acquire orders the winner after the word it replaced.
    /// On failure, Acquire returns the newer word to retry from.
    #[inline]
    pub(crate) fn compare_exchange_weak(&self, current: Word, new: Word) -> Result<Word, Word> {
        self.0
            .compare_exchange_weak(current.0, new.0, Ordering::AcqRel, Ordering::Acquire)
            .map(Word)
            .map_err(Word)
    }
}

/// Width of the deadline field.
const DEADLINE_BITS: u32 = 52;
/// Largest deadline, in µs since the breaker's epoch (142 years); later ones saturate.
pub(crate) const DEADLINE_MAX: u64 = (1 << DEADLINE_BITS) - 1;
/// Shift of the deadline in the stamp.
const DEADLINE_SHIFT: u32 = GENERATION_BITS;
/// Shift of the half-open success count.
const SUCCESSES_SHIFT: u32 = DEADLINE_SHIFT + DEADLINE_BITS;
/// Shift of the streak.
const STREAK_SHIFT: u32 = SUCCESSES_SHIFT + COUNT_BITS;

const _: () = assert!(STREAK_SHIFT + COUNT_BITS <= 128);

/// The stamp: the current Open / HalfOpen period's deadline and counts; see the module docs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp(u128);

impl Stamp {
    /// The stamp no generation owns (generation 0 is always Closed).
    pub(crate) const NONE: Stamp = Stamp(0);

    /// The period of `generation` ending at `deadline_us` (saturating at
    /// [`DEADLINE_MAX`]), with the open streak `streak` and no successes.
    #[inline]
    pub(crate) const fn new(generation: u64, deadline_us: u64, streak: u32) -> Stamp {
        let d = if deadline_us > DEADLINE_MAX {
            DEADLINE_MAX
        } else {
            deadline_us
        };
        let k = if streak > COUNT_MAX {
            COUNT_MAX
        } else {
            streak
        };
        Stamp(
            (generation & GENERATION_MASK) as u128
                | (d as u128) << DEADLINE_SHIFT
                | (k as u128) << STREAK_SHIFT,
        )
    }

    /// The generation this stamp belongs to.
    #[inline]
    pub(crate) const fn generation(self) -> u64 {
        (self.0 as u64) & GENERATION_MASK
    }

    /// The deadline, µs since the breaker's epoch.
    #[inline]
    pub(crate) const fn deadline(self) -> u64 {
        ((self.0 >> DEADLINE_SHIFT) as u64) & DEADLINE_MAX
    }

    /// Successes counted in this half-open period.
    #[inline]
    pub(crate) const fn successes(self) -> u32 {
        ((self.0 >> SUCCESSES_SHIFT) as u64 & COUNT_MASK) as u32
    }

    /// The open streak.
    #[inline]
    pub(crate) const fn streak(self) -> u32 {
        ((self.0 >> STREAK_SHIFT) as u64 & COUNT_MASK) as u32
    }

    /// The same stamp with `successes` set to `n` (saturating at [`COUNT_MAX`]).
    #[inline]
    pub(crate) const fn with_successes(self, n: u32) -> Stamp {
        let n = if n > COUNT_MAX { COUNT_MAX } else { n };
        Stamp(
            (self.0 & !((COUNT_MASK as u128) << SUCCESSES_SHIFT)) | (n as u128) << SUCCESSES_SHIFT,
        )
    }
}

impl std::fmt::Debug for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stamp")
            .field("generation", &self.generation())
            .field("deadline_us", &self.deadline())
            .field("successes", &self.successes())
            .field("streak", &self.streak())
            .finish()
    }
}

/// An atomic [`Stamp`]: 128 bits through `portable-atomic` (`cmpxchg16b`, and a single
/// `vmovdqa` load where AVX makes it atomic, on x86-64), or a loom stand-in under loom.
/// Touched only off the closed hot path.
#[derive(Debug)]
pub(crate) struct AtomicStamp(AtomicU128);

impl AtomicStamp {
    pub(crate) fn new(s: Stamp) -> AtomicStamp {
        AtomicStamp(AtomicU128::new(s.0))
    }

    /// Acquire: pairs with the Release of the CAS that published it, so a reader that sees
    /// a stamp of generation `g` also sees the word of generation `g` (installed before it)
    /// and reads its clock after the winner read the time the deadline counts from.
    #[inline]
    pub(crate) fn load(&self) -> Stamp {
        Stamp(self.0.load(Ordering::Acquire))
    }

    /// Replaces `current` by `new`. AcqRel: Release publishes the stamp (see `load`);
    /// Acquire on failure returns the newer stamp to decide from.
    #[inline]
    pub(crate) fn compare_exchange(&self, current: Stamp, new: Stamp) -> Result<Stamp, Stamp> {
        self.0
            .compare_exchange(current.0, new.0, Ordering::AcqRel, Ordering::Acquire)
            .map(Stamp)
            .map_err(Stamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_phase() -> impl Strategy<Value = Phase> {
        prop_oneof![
            Just(Phase::Closed),
            Just(Phase::Open),
            Just(Phase::HalfOpen),
            Just(Phase::Isolated)
        ]
    }

    proptest! {
        #[test]
        fn word_fields_round_trip(phase in any_phase(), generation in 0..=GENERATION_MASK, n in 0..=COUNT_MAX) {
            let w = Word::new(phase, generation).with_count(n);
            prop_assert_eq!(w.phase(), phase);
            prop_assert_eq!(w.generation(), generation);
            prop_assert_eq!(w.count(), n);
            prop_assert!(!w.disabled());
        }

        #[test]
        fn count_saturates_below_the_disabled_mark(phase in any_phase(), generation in 0..=GENERATION_MASK, over in COUNT_MAX..=u32::MAX) {
            let w = Word::new(phase, generation).with_count(over);
            prop_assert_eq!(w.count(), COUNT_MAX);
            prop_assert_eq!((w.phase(), w.generation()), (phase, generation));
            prop_assert!(!w.disabled());
        }

        #[test]
        fn disabled_is_a_closed_mark(generation in 0..=GENERATION_MASK) {
            let w = Word::new(Phase::Closed, generation).with_disabled();
            prop_assert!(w.disabled());
            prop_assert_eq!((w.phase(), w.generation()), (Phase::Closed, generation));
            prop_assert!(!Word::new(Phase::Open, generation).with_disabled().disabled());
        }

        #[test]
        fn next_bumps_the_generation_and_clears(phase in any_phase(), to in any_phase(), generation in 0..GENERATION_MASK, n in 0..=COUNT_MAX) {
            let next = Word::new(phase, generation).with_count(n).next(to);
            prop_assert_eq!(next.generation(), generation + 1);
            prop_assert_eq!((next.phase(), next.count()), (to, 0));
        }

        #[test]
        fn stamp_fields_round_trip(generation in 0..=GENERATION_MASK, deadline in 0..=DEADLINE_MAX, s in 0..=COUNT_MAX, k in 0..=COUNT_MAX) {
            let st = Stamp::new(generation, deadline, k).with_successes(s);
            prop_assert_eq!(st.generation(), generation);
            prop_assert_eq!(st.deadline(), deadline);
            prop_assert_eq!(st.successes(), s);
            prop_assert_eq!(st.streak(), k);
        }

        #[test]
        fn stamp_fields_saturate(generation in 0..=GENERATION_MASK, deadline in DEADLINE_MAX..=u64::MAX, over in COUNT_MAX..=u32::MAX) {
            let st = Stamp::new(generation, deadline, over).with_successes(over);
            prop_assert_eq!(st.deadline(), DEADLINE_MAX);
            prop_assert_eq!((st.successes(), st.streak()), (COUNT_MAX, COUNT_MAX));
            prop_assert_eq!(st.generation(), generation);
        }
    }

    #[test]
    fn generations_are_52_bits_and_the_state_is_the_low_bits() {
        assert_eq!(GENERATION_BITS, 52);
        let w = Word::new(Phase::Open, GENERATION_MASK);
        assert_eq!(w.generation(), GENERATION_MASK);
        assert_eq!(w.into_raw() & STATE_MASK, 1);
        assert_eq!(Stamp::NONE.generation(), 0);
    }

    #[cfg(not(loom))]
    #[test]
    fn the_hot_word_is_a_plain_64_bit_atomic() {
        assert_eq!(std::mem::size_of::<AtomicWord>(), 8);
        assert_eq!(std::mem::size_of::<AtomicStamp>(), 16);
    }
}
