//! The packed words: every bit of the breaker's state machine lives here.
//!
//! # The state word ([`Word`], 64 bits)
//!
//! | bits    | field        | Closed          | Open | HalfOpen                  |
//! |---------|--------------|-----------------|------|---------------------------|
//! | 0..2    | `state`      | `0`             | `1`  | `2`                       |
//! | 2..12   | `failures`   | current streak  | 0    | 0                         |
//! | 12..22  | `successes`  | 0               | 0    | successes this period     |
//! | 22..32  | `probes`     | 0               | 0    | outstanding probe permits |
//! | 32..64  | `generation` | bumped by every transition, carried by every permit |
//!
//! The three counters are 10 bits wide, so they hold up to [`COUNT_MAX`] (1023) ≥
//! `Config::MAX_THRESHOLD` (1000): a threshold can always be reached, and the `with_*`
//! setters saturate at the maximum instead of spilling into the next field.
//!
//! Legal transitions, each of which starts a new generation and zeroes the counters:
//! Closed → Open (failure threshold), Open → HalfOpen (first call after the timeout),
//! HalfOpen → Closed (success threshold), HalfOpen → Open (a failure, or the first call after
//! the half-open timeout), and from any state `reset` → Closed and `force_open` → Open.
//! A 32-bit generation wraps after 4·10⁹ transitions; a permit would have to stay
//! outstanding across exactly a multiple of that many transitions to be mistaken for a
//! current one.
//!
//! # The deadline word ([`Stamp`], 64 bits)
//!
//! | bits    | field      | meaning                                                    |
//! |---------|------------|------------------------------------------------------------|
//! | 0..52   | `deadline` | end of the current Open / HalfOpen period, µs since epoch  |
//! | 52..64  | `tag`      | low 12 bits of the generation the deadline belongs to      |
//!
//! 52 bits of microseconds give a horizon of 142 years from the breaker's creation;
//! deadlines saturate there. Why two words and not one 128-bit word: loom has no 128-bit
//! atomics, and a 128-bit load on x86-64 needs either `cmpxchg16b` (a write, even to read)
//! or a runtime-dispatched vector load; the closed hot path reads only [`Word`], one plain
//! 64-bit load. The pair is tied by the generation: a transition into Open or HalfOpen
//! CASes the state word first (the linearization point) and then publishes the stamp with
//! the new generation's tag. A reader that finds a stamp of another tag treats the period as
//! just started; a caller that must act on it publishes the deadline itself
//! (`CircuitBreaker::view`), so a descheduled winner never blocks anyone. Every transition,
//! Closed included, publishes a stamp, so the stamp never lags the word by more than the
//! transitions in flight and the 12-bit tag cannot alias an old generation.

use crate::sync::{AtomicU64, Ordering};
use crate::State;

/// Largest value of each 10-bit counter field.
pub(crate) const COUNT_MAX: u32 = (1 << COUNT_BITS) - 1;

/// Width of each counter field.
const COUNT_BITS: u32 = 10;
/// Mask of one counter field, shifted down.
const COUNT_MASK: u64 = COUNT_MAX as u64;
/// Mask of the two state bits.
const STATE_MASK: u64 = 0b11;
/// Shift of the closed-state failure streak.
const FAILURES_SHIFT: u32 = 2;
/// Shift of the half-open success count.
const SUCCESSES_SHIFT: u32 = FAILURES_SHIFT + COUNT_BITS;
/// Shift of the half-open outstanding-probe count.
const PROBES_SHIFT: u32 = SUCCESSES_SHIFT + COUNT_BITS;
/// Shift of the 32-bit generation.
const GENERATION_SHIFT: u32 = 32;

/// The breaker's state word; see the module docs for the bit table.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Word(u64);

impl Word {
    /// A fresh word in `state` with every counter zero.
    #[inline]
    pub(crate) const fn new(state: State, generation: u32) -> Word {
        let s = match state {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
        };
        Word(s | (generation as u64) << GENERATION_SHIFT)
    }

    /// The stored state.
    #[inline]
    pub(crate) const fn state(self) -> State {
        match self.0 & STATE_MASK {
            0 => State::Closed,
            1 => State::Open,
            // 3 is never stored: every constructor goes through `new`.
            _ => State::HalfOpen,
        }
    }

    /// Consecutive failures (Closed).
    #[inline]
    pub(crate) const fn failures(self) -> u32 {
        ((self.0 >> FAILURES_SHIFT) & COUNT_MASK) as u32
    }

    /// Successes in this half-open period.
    #[inline]
    pub(crate) const fn successes(self) -> u32 {
        ((self.0 >> SUCCESSES_SHIFT) & COUNT_MASK) as u32
    }

    /// Outstanding probe permits of this half-open period.
    #[inline]
    pub(crate) const fn probes(self) -> u32 {
        ((self.0 >> PROBES_SHIFT) & COUNT_MASK) as u32
    }

    /// The generation: bumped by every transition.
    #[inline]
    pub(crate) const fn generation(self) -> u32 {
        (self.0 >> GENERATION_SHIFT) as u32
    }

    /// The raw bits (for tests and debugging).
    #[cfg(test)]
    pub(crate) const fn into_raw(self) -> u64 {
        self.0
    }

    /// Sets one counter field, saturating at [`COUNT_MAX`].
    #[inline]
    const fn with_count(self, shift: u32, n: u32) -> Word {
        let n = if n > COUNT_MAX { COUNT_MAX } else { n };
        Word((self.0 & !(COUNT_MASK << shift)) | (n as u64) << shift)
    }

    /// The same word with the failure streak set to `n` (saturating).
    #[inline]
    pub(crate) const fn with_failures(self, n: u32) -> Word {
        self.with_count(FAILURES_SHIFT, n)
    }

    /// The same word with the half-open success count set to `n` (saturating).
    #[inline]
    pub(crate) const fn with_successes(self, n: u32) -> Word {
        self.with_count(SUCCESSES_SHIFT, n)
    }

    /// The same word with the outstanding-probe count set to `n` (saturating).
    #[inline]
    pub(crate) const fn with_probes(self, n: u32) -> Word {
        self.with_count(PROBES_SHIFT, n)
    }

    /// The first word of the next generation, in `state`, counters zero.
    #[inline]
    pub(crate) const fn next(self, state: State) -> Word {
        Word::new(state, self.generation().wrapping_add(1))
    }
}

impl std::fmt::Debug for Word {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Word")
            .field("state", &self.state())
            .field("failures", &self.failures())
            .field("successes", &self.successes())
            .field("probes", &self.probes())
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

    #[inline]
    pub(crate) fn load(&self, order: Ordering) -> Word {
        Word(self.0.load(order))
    }

    #[inline]
    pub(crate) fn compare_exchange_weak(
        &self,
        current: Word,
        new: Word,
        success: Ordering,
        failure: Ordering,
    ) -> Result<Word, Word> {
        self.0
            .compare_exchange_weak(current.0, new.0, success, failure)
            .map(Word)
            .map_err(Word)
    }
}

/// Width of the deadline field.
const DEADLINE_BITS: u32 = 52;
/// Largest deadline, in µs since the breaker's epoch (142 years); later ones saturate.
pub(crate) const DEADLINE_MAX: u64 = (1 << DEADLINE_BITS) - 1;
/// Width of the generation tag.
const TAG_BITS: u32 = 64 - DEADLINE_BITS;

/// The deadline word: a deadline and the generation it belongs to; see the module docs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp(u64);

impl Stamp {
    /// The deadline `deadline_us` (saturating at [`DEADLINE_MAX`]) of `generation`.
    #[inline]
    pub(crate) const fn new(generation: u32, deadline_us: u64) -> Stamp {
        let d = if deadline_us > DEADLINE_MAX {
            DEADLINE_MAX
        } else {
            deadline_us
        };
        Stamp(Stamp::tag(generation) << DEADLINE_BITS | d)
    }

    /// The tag of a generation: its low 12 bits.
    #[inline]
    const fn tag(generation: u32) -> u64 {
        generation as u64 & ((1 << TAG_BITS) - 1)
    }

    /// The deadline in µs since the breaker's epoch.
    #[inline]
    pub(crate) const fn deadline(self) -> u64 {
        self.0 & DEADLINE_MAX
    }

    /// Whether this stamp was published for `generation`.
    #[inline]
    pub(crate) const fn belongs_to(self, generation: u32) -> bool {
        self.0 >> DEADLINE_BITS == Stamp::tag(generation)
    }
}

impl std::fmt::Debug for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stamp")
            .field("tag", &(self.0 >> DEADLINE_BITS))
            .field("deadline_us", &self.deadline())
            .finish()
    }
}

/// An atomic [`Stamp`].
#[derive(Debug)]
pub(crate) struct AtomicStamp(AtomicU64);

impl AtomicStamp {
    #[inline]
    pub(crate) fn new(s: Stamp) -> AtomicStamp {
        AtomicStamp(AtomicU64::new(s.0))
    }

    #[inline]
    pub(crate) fn load(&self, order: Ordering) -> Stamp {
        Stamp(self.0.load(order))
    }

    #[inline]
    pub(crate) fn compare_exchange(
        &self,
        current: Stamp,
        new: Stamp,
        success: Ordering,
        failure: Ordering,
    ) -> Result<Stamp, Stamp> {
        self.0
            .compare_exchange(current.0, new.0, success, failure)
            .map(Stamp)
            .map_err(Stamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_state() -> impl Strategy<Value = State> {
        prop_oneof![
            Just(State::Closed),
            Just(State::Open),
            Just(State::HalfOpen)
        ]
    }

    proptest! {
        #[test]
        fn fields_round_trip(
            state in any_state(),
            generation: u32,
            f in 0..=COUNT_MAX,
            s in 0..=COUNT_MAX,
            p in 0..=COUNT_MAX,
        ) {
            let w = Word::new(state, generation).with_failures(f).with_successes(s).with_probes(p);
            prop_assert_eq!(w.state(), state);
            prop_assert_eq!(w.generation(), generation);
            prop_assert_eq!(w.failures(), f);
            prop_assert_eq!(w.successes(), s);
            prop_assert_eq!(w.probes(), p);
        }

        #[test]
        fn setters_touch_only_their_field(
            state in any_state(),
            generation: u32,
            a in 0..=COUNT_MAX,
            b in 0..=COUNT_MAX,
        ) {
            let w = Word::new(state, generation).with_failures(a).with_successes(a).with_probes(a);
            let f = w.with_failures(b);
            prop_assert_eq!((f.failures(), f.successes(), f.probes()), (b, a, a));
            let s = w.with_successes(b);
            prop_assert_eq!((s.failures(), s.successes(), s.probes()), (a, b, a));
            let p = w.with_probes(b);
            prop_assert_eq!((p.failures(), p.successes(), p.probes()), (a, a, b));
            prop_assert_eq!((p.state(), p.generation()), (state, generation));
        }

        #[test]
        fn counters_saturate(state in any_state(), generation: u32, over in (COUNT_MAX + 1)..=u32::MAX) {
            let w = Word::new(state, generation).with_failures(over).with_successes(over).with_probes(over);
            prop_assert_eq!((w.failures(), w.successes(), w.probes()), (COUNT_MAX, COUNT_MAX, COUNT_MAX));
            prop_assert_eq!((w.state(), w.generation()), (state, generation));
        }

        #[test]
        fn next_bumps_generation_and_clears(state in any_state(), to in any_state(), generation: u32, n in 0..=COUNT_MAX) {
            let w = Word::new(state, generation).with_failures(n).with_successes(n).with_probes(n);
            let next = w.next(to);
            prop_assert_eq!(next.generation(), generation.wrapping_add(1));
            prop_assert_eq!(next.state(), to);
            prop_assert_eq!((next.failures(), next.successes(), next.probes()), (0, 0, 0));
        }

        #[test]
        fn stamp_round_trips(generation: u32, deadline in 0..=DEADLINE_MAX) {
            let s = Stamp::new(generation, deadline);
            prop_assert_eq!(s.deadline(), deadline);
            prop_assert!(s.belongs_to(generation));
            prop_assert!(!s.belongs_to(generation.wrapping_add(1)));
        }

        #[test]
        fn stamp_saturates(generation: u32, deadline in (DEADLINE_MAX + 1)..=u64::MAX) {
            let s = Stamp::new(generation, deadline);
            prop_assert_eq!(s.deadline(), DEADLINE_MAX);
            prop_assert!(s.belongs_to(generation));
        }
    }

    // A threshold must always be reachable in a 10-bit counter.
    const _: () = assert!(crate::Config::MAX_THRESHOLD <= COUNT_MAX);

    #[test]
    fn generation_wraps() {
        let w = Word::new(State::Open, u32::MAX);
        assert_eq!(w.next(State::HalfOpen).generation(), 0);
        assert_eq!(w.into_raw() & STATE_MASK, 1);
    }

    #[cfg(not(loom))]
    #[test]
    fn words_are_lock_free() {
        // Both words are plain 64-bit atomics: lock-free on every 64-bit target and on
        // 32-bit targets that have 64-bit atomics (the crate does not build without them).
        assert_eq!(std::mem::size_of::<AtomicWord>(), 8);
        assert_eq!(std::mem::size_of::<AtomicStamp>(), 8);
        const { assert!(cfg!(target_has_atomic = "64")) };
    }
}
