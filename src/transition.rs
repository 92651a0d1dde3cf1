//! The transition logic: pure functions from (state word, deadline, event, now) to the next
//! word and what the caller learns.
//!
//! Nothing here touches an atomic or a clock. `CircuitBreaker` loads the words, calls one of
//! these functions, and CASes the result in (the governor `gcra.rs` / `in_memory.rs` split);
//! a step whose `next` equals the word it started from writes nothing. A step whose `next`
//! has a new generation is a transition; the CAS that installs it is the one that makes it.
//!
//! Times are microseconds since the breaker's epoch (see [`crate::clock`]).

use crate::word::Word;
use crate::{Outcome, State};

/// The configuration in the units the transition logic works in (`Config::limits`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) failure_threshold: u32,
    pub(crate) success_threshold: u32,
    pub(crate) half_open_max_calls: u32,
    pub(crate) timeout_us: u64,
    pub(crate) half_open_timeout_us: u64,
}

impl Limits {
    /// Length of a period that starts in `state`: the open timeout or the half-open timeout.
    pub(crate) fn period_us(&self, state: State) -> u64 {
        match state {
            State::HalfOpen => self.half_open_timeout_us,
            _ => self.timeout_us,
        }
    }

    /// The deadline of a period that starts in `state` at `now`.
    pub(crate) fn deadline(&self, state: State, now: u64) -> u64 {
        now.saturating_add(self.period_us(state))
    }
}

/// A consistent reading of the breaker: the state word and, for Open and HalfOpen, the
/// deadline of the current period (ignored when Closed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct View {
    pub(crate) word: Word,
    pub(crate) deadline: u64,
}

impl View {
    /// Whether the current Open / HalfOpen period has ended at `now`.
    fn expired(self, now: u64) -> bool {
        now >= self.deadline
    }
}

/// What a permit remembers of its admission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket {
    /// The generation the permit was admitted in.
    pub(crate) generation: u32,
    /// Whether it holds a half-open probe slot.
    pub(crate) probe: bool,
}

impl Ticket {
    /// The word on which recording a success with this ticket changes nothing: closed, same
    /// generation, no failure streak. The hot path compares against it and returns.
    #[inline]
    pub(crate) fn quiet_word(self) -> Word {
        Word::new(State::Closed, self.generation)
    }
}

/// The result of one pure step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step<R> {
    /// The word to install; equal to the starting word when nothing changes.
    pub(crate) next: Word,
    /// The deadline of `next`'s period when `next` starts an Open / HalfOpen period.
    pub(crate) deadline: u64,
    /// What the caller learns.
    pub(crate) result: R,
}

impl<R> Step<R> {
    fn stay(v: View, result: R) -> Step<R> {
        Step {
            next: v.word,
            deadline: v.deadline,
            result,
        }
    }

    fn set(next: Word, result: R) -> Step<R> {
        Step {
            next,
            deadline: 0,
            result,
        }
    }

    fn enter(from: Word, state: State, now: u64, lim: &Limits, result: R) -> Step<R> {
        Step {
            next: from.next(state),
            deadline: lim.deadline(state, now),
            result,
        }
    }
}

/// The answer to an admission request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Admitted, with this ticket.
    Admitted(Ticket),
    /// Rejected in `state` (Open or HalfOpen); when Open, the µs left in the open period.
    Rejected {
        state: State,
        retry_after_us: Option<u64>,
    },
}

/// A call asks to be admitted at `now`.
pub(crate) fn acquire(v: View, now: u64, lim: &Limits) -> Step<Admission> {
    let w = v.word;
    match w.state() {
        State::Closed => Step::stay(
            v,
            Admission::Admitted(Ticket {
                generation: w.generation(),
                probe: false,
            }),
        ),
        State::Open if !v.expired(now) => Step::stay(
            v,
            Admission::Rejected {
                state: State::Open,
                retry_after_us: Some(v.deadline - now),
            },
        ),
        // The open timeout has passed: this call moves the breaker to HalfOpen and is its
        // first probe; the half-open period starts now.
        State::Open => {
            let mut step = Step::enter(
                w,
                State::HalfOpen,
                now,
                lim,
                Admission::Admitted(Ticket {
                    generation: w.generation().wrapping_add(1),
                    probe: true,
                }),
            );
            step.next = step.next.with_probes(1);
            step
        }
        // The half-open period ran out before the breaker closed: this call reopens it (a
        // fresh timeout from now) and is rejected.
        State::HalfOpen if v.expired(now) => Step::enter(
            w,
            State::Open,
            now,
            lim,
            Admission::Rejected {
                state: State::Open,
                retry_after_us: Some(lim.timeout_us),
            },
        ),
        State::HalfOpen if w.probes() < lim.half_open_max_calls => Step::set(
            w.with_probes(w.probes() + 1),
            Admission::Admitted(Ticket {
                generation: w.generation(),
                probe: true,
            }),
        ),
        State::HalfOpen => Step::stay(
            v,
            Admission::Rejected {
                state: State::HalfOpen,
                retry_after_us: None,
            },
        ),
    }
}

/// A permit's outcome is recorded at `now`.
///
/// Outcomes of an earlier generation (stale permits) and outcomes recorded after the
/// half-open period ran out change nothing: the caller only counts them.
pub(crate) fn record(v: View, t: Ticket, outcome: Outcome, now: u64, lim: &Limits) -> Step<()> {
    let w = v.word;
    if w.generation() != t.generation {
        return Step::stay(v, ());
    }
    match (w.state(), outcome) {
        (State::Closed, Outcome::Success) if w.failures() == 0 => Step::stay(v, ()),
        (State::Closed, Outcome::Success) => Step::set(w.with_failures(0), ()),
        (State::Closed, Outcome::Failure) if w.failures() + 1 >= lim.failure_threshold => {
            Step::enter(w, State::Open, now, lim, ())
        }
        (State::Closed, Outcome::Failure) => Step::set(w.with_failures(w.failures() + 1), ()),
        (State::Closed, Outcome::Ignored) => Step::stay(v, ()),
        // No permit is ever issued in an Open generation: admission from Open starts a new
        // (HalfOpen) generation. Nothing to do.
        (State::Open, _) => Step::stay(v, ()),
        (State::HalfOpen, _) if v.expired(now) => Step::stay(v, ()),
        (State::HalfOpen, Outcome::Success) if w.successes() + 1 >= lim.success_threshold => {
            Step::enter(w, State::Closed, now, lim, ())
        }
        (State::HalfOpen, Outcome::Success) => Step::set(
            w.with_successes(w.successes() + 1)
                .with_probes(w.probes().saturating_sub(1)),
            (),
        ),
        (State::HalfOpen, Outcome::Failure) => Step::enter(w, State::Open, now, lim, ()),
        (State::HalfOpen, Outcome::Ignored) => {
            Step::set(w.with_probes(w.probes().saturating_sub(1)), ())
        }
    }
}

/// `reset`: to Closed, counters cleared, a new generation even if already Closed.
pub(crate) fn reset(v: View) -> Step<()> {
    Step::set(v.word.next(State::Closed), ())
}

/// `force_open`: to Open for `period_us` from `now`, a new generation even if already Open.
pub(crate) fn force_open(v: View, now: u64, period_us: u64) -> Step<()> {
    Step {
        next: v.word.next(State::Open),
        deadline: now.saturating_add(period_us),
        result: (),
    }
}

/// The effective state at `now`: what a call arriving now would find.
pub(crate) fn effective(v: View, now: u64) -> State {
    match v.word.state() {
        State::Closed => State::Closed,
        State::Open if v.expired(now) => State::HalfOpen,
        State::Open => State::Open,
        State::HalfOpen if v.expired(now) => State::Open,
        State::HalfOpen => State::HalfOpen,
    }
}

/// Whether a call arriving at `now` would be admitted.
pub(crate) fn available(v: View, now: u64, lim: &Limits) -> bool {
    matches!(acquire(v, now, lim).result, Admission::Admitted(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lim(f: u32, s: u32, h: u32) -> Limits {
        Limits {
            failure_threshold: f,
            success_threshold: s,
            half_open_max_calls: h,
            timeout_us: 1_000,
            half_open_timeout_us: 500,
        }
    }

    fn closed(g: u32) -> View {
        View {
            word: Word::new(State::Closed, g),
            deadline: 0,
        }
    }

    #[test]
    fn failures_open_at_the_threshold() {
        let l = lim(2, 1, 1);
        let t = Ticket {
            generation: 7,
            probe: false,
        };
        let s1 = record(closed(7), t, Outcome::Failure, 10, &l);
        assert_eq!(s1.next.failures(), 1);
        assert_eq!(s1.next.generation(), 7);
        let s2 = record(
            View {
                word: s1.next,
                deadline: 0,
            },
            t,
            Outcome::Failure,
            20,
            &l,
        );
        assert_eq!(s2.next.state(), State::Open);
        assert_eq!(s2.next.generation(), 8);
        assert_eq!(s2.deadline, 1_020);
    }

    #[test]
    fn success_clears_the_streak_and_is_quiet_at_zero() {
        let l = lim(3, 1, 1);
        let t = Ticket {
            generation: 1,
            probe: false,
        };
        let v = View {
            word: Word::new(State::Closed, 1).with_failures(2),
            deadline: 0,
        };
        assert_eq!(record(v, t, Outcome::Success, 0, &l).next.failures(), 0);
        let quiet = record(closed(1), t, Outcome::Success, 0, &l);
        assert_eq!(quiet.next, closed(1).word);
        assert_eq!(t.quiet_word(), closed(1).word);
    }

    #[test]
    fn open_rejects_until_the_deadline_then_admits_one_probe() {
        let l = lim(1, 2, 1);
        let v = View {
            word: Word::new(State::Open, 3),
            deadline: 1_000,
        };
        assert_eq!(
            acquire(v, 400, &l).result,
            Admission::Rejected {
                state: State::Open,
                retry_after_us: Some(600)
            }
        );
        assert_eq!(effective(v, 999), State::Open);
        assert_eq!(effective(v, 1_000), State::HalfOpen);
        let s = acquire(v, 1_000, &l);
        assert_eq!(
            s.result,
            Admission::Admitted(Ticket {
                generation: 4,
                probe: true
            })
        );
        assert_eq!((s.next.state(), s.next.probes()), (State::HalfOpen, 1));
        assert_eq!(s.deadline, 1_500);
        let h = View {
            word: s.next,
            deadline: s.deadline,
        };
        assert_eq!(
            acquire(h, 1_001, &l).result,
            Admission::Rejected {
                state: State::HalfOpen,
                retry_after_us: None
            }
        );
    }

    #[test]
    fn half_open_expiry_reopens_on_the_next_call_and_ignores_late_outcomes() {
        let l = lim(1, 1, 2);
        let h = View {
            word: Word::new(State::HalfOpen, 5).with_probes(1),
            deadline: 500,
        };
        assert_eq!(effective(h, 500), State::Open);
        assert!(!available(h, 500, &l));
        let late = record(
            h,
            Ticket {
                generation: 5,
                probe: true,
            },
            Outcome::Success,
            500,
            &l,
        );
        assert_eq!(late.next, h.word);
        let s = acquire(h, 600, &l);
        assert_eq!(s.next, Word::new(State::Open, 6));
        assert_eq!(s.deadline, 1_600);
        assert_eq!(
            s.result,
            Admission::Rejected {
                state: State::Open,
                retry_after_us: Some(1_000)
            }
        );
    }

    #[test]
    fn stale_tickets_change_nothing() {
        let l = lim(1, 1, 1);
        for o in [Outcome::Success, Outcome::Failure, Outcome::Ignored] {
            let v = View {
                word: Word::new(State::HalfOpen, 9).with_probes(1),
                deadline: 100,
            };
            let s = record(
                v,
                Ticket {
                    generation: 8,
                    probe: true,
                },
                o,
                0,
                &l,
            );
            assert_eq!(s.next, v.word);
        }
    }

    fn any_view() -> impl Strategy<Value = View> {
        let counts = 0u32..=8;
        (
            0u32..3,
            any::<u32>(),
            counts.clone(),
            counts.clone(),
            counts,
            0u64..3_000,
        )
            .prop_map(|(s, g, f, su, p, d)| {
                let state = [State::Closed, State::Open, State::HalfOpen][s as usize];
                let mut w = Word::new(state, g);
                match state {
                    State::Closed => w = w.with_failures(f),
                    State::HalfOpen => w = w.with_successes(su).with_probes(p),
                    State::Open => {}
                }
                View {
                    word: w,
                    deadline: d,
                }
            })
    }

    fn any_outcome() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            Just(Outcome::Success),
            Just(Outcome::Failure),
            Just(Outcome::Ignored)
        ]
    }

    fn legal(from: State, to: State) -> bool {
        matches!(
            (from, to),
            (State::Closed, State::Open)
                | (State::Open, State::HalfOpen)
                | (State::HalfOpen, State::Closed)
                | (State::HalfOpen, State::Open)
        )
    }

    /// Invariants every step of `acquire` / `record` keeps.
    fn check<R>(v: View, s: &Step<R>, l: &Limits) -> Result<(), TestCaseError> {
        let (w, n) = (v.word, s.next);
        if n.generation() == w.generation() {
            prop_assert_eq!(
                n.state(),
                w.state(),
                "state changed without a new generation"
            );
        } else {
            prop_assert_eq!(n.generation(), w.generation().wrapping_add(1));
            prop_assert!(
                legal(w.state(), n.state()),
                "{:?} -> {:?}",
                w.state(),
                n.state()
            );
            prop_assert_eq!((n.failures(), n.successes()), (0, 0));
            prop_assert!(n.probes() <= 1);
        }
        if n.state() == State::HalfOpen && n != w {
            prop_assert!(n.probes() <= l.half_open_max_calls.max(w.probes()));
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn acquire_keeps_the_invariants(v in any_view(), now in 0u64..3_000, f in 1u32..5, s in 1u32..5, h in 1u32..5) {
            let l = lim(f, s, h);
            let step = acquire(v, now, &l);
            check(v, &step, &l)?;
            // Admission agrees with the pure query, and never happens in an effective Open.
            let admitted = matches!(step.result, Admission::Admitted(_));
            prop_assert_eq!(admitted, available(v, now, &l));
            if effective(v, now) == State::Open {
                prop_assert!(!admitted);
            }
            if let Admission::Admitted(t) = step.result {
                prop_assert_eq!(t.generation, step.next.generation());
                prop_assert_eq!(t.probe, step.next.state() == State::HalfOpen);
            }
        }

        #[test]
        fn record_keeps_the_invariants(v in any_view(), o in any_outcome(), stale: bool, now in 0u64..3_000, f in 1u32..5, s in 1u32..5, h in 1u32..5) {
            let l = lim(f, s, h);
            let t = Ticket {
                generation: if stale { v.word.generation().wrapping_sub(1) } else { v.word.generation() },
                probe: v.word.state() == State::HalfOpen,
            };
            let step = record(v, t, o, now, &l);
            check(v, &step, &l)?;
            if stale || o == Outcome::Ignored && v.word.state() != State::HalfOpen {
                prop_assert_eq!(step.next, v.word);
            }
            if step.next.state() == State::HalfOpen && step.next.generation() == v.word.generation() {
                prop_assert!(step.next.probes() <= v.word.probes());
            }
        }

        /// `CircuitBreaker::settle` skips `record` in two cases; both must be steps that
        /// change nothing, or the fast path would diverge from the transition logic.
        #[test]
        fn settle_fast_paths_are_no_ops(v in any_view(), generation: u32, now in 0u64..3_000, f in 1u32..5, s in 1u32..5, h in 1u32..5) {
            let l = lim(f, s, h);
            let closed = Ticket { generation, probe: false };
            let quiet = View { word: closed.quiet_word(), deadline: v.deadline };
            prop_assert_eq!(record(quiet, closed, Outcome::Success, now, &l).next, quiet.word);
            // A closed-state ticket's generation is Closed's: whatever the word is now
            // (same Closed generation, or any later one), Ignored changes nothing.
            let t = Ticket { generation: v.word.generation(), probe: false };
            if v.word.state() == State::Closed {
                prop_assert_eq!(record(v, t, Outcome::Ignored, now, &l).next, v.word);
            }
            let stale = Ticket { generation: v.word.generation().wrapping_sub(1), probe: false };
            prop_assert_eq!(record(v, stale, Outcome::Ignored, now, &l).next, v.word);
        }

        #[test]
        fn reset_and_force_open_always_start_a_generation(v in any_view(), now in 0u64..3_000) {
            let l = lim(1, 1, 1);
            let r = reset(v);
            prop_assert_eq!(r.next, v.word.next(State::Closed));
            let o = force_open(v, now, l.timeout_us);
            prop_assert_eq!(o.next, v.word.next(State::Open));
            prop_assert_eq!(o.deadline, now + l.timeout_us);
        }
    }
}
