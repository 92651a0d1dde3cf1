//! The transition logic: pure functions from (state word, stamp, event, now) to the next
//! word, the stamp its winner publishes, the transitions made, and what the caller learns.
//!
//! Nothing here touches an atomic or a clock. [`crate::engine`] loads the words, resolves
//! them into a [`View`], calls one of these functions and CASes the result in (governor's
//! `gcra.rs` / `in_memory.rs` split); a step whose `next` equals the word it started from
//! writes nothing. Every rule of API.md is decided here: admission, the consecutive and
//! rate rules (the window's verdict is an input), backoff (a pure function of the streak and
//! a draw, [`crate::backoff`]), half-open expiry, dry run, and the operator overrides.
//!
//! Times are microseconds since the breaker's epoch (see [`crate::clock`]).

use crate::backoff::{self, Periods};
use crate::word::{Phase, Stamp, Word};
use crate::{Cause, Outcome, State};

/// The configuration in the units the transition logic works in (`Config::limits`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Limits {
    pub(crate) failure_threshold: u32,
    /// Whether the consecutive-failure rule trips the breaker (P1).
    pub(crate) consecutive: bool,
    pub(crate) success_threshold: u32,
    pub(crate) half_open_max_calls: u32,
    pub(crate) half_open_timeout_us: u64,
    pub(crate) periods: Periods,
    /// `slow_call_duration`, µs.
    pub(crate) slow_us: Option<u64>,
    /// Whether a sliding window is configured.
    pub(crate) window: bool,
    /// Outcomes the window must hold before its rates are evaluated (P3).
    pub(crate) minimum_calls: u32,
    pub(crate) failure_rate: f64,
    pub(crate) slow_rate: f64,
    pub(crate) dry_run: bool,
}

impl Limits {
    /// A value replaced by `Config::with_limits` before any `Config` is handed out.
    pub(crate) const fn placeholder() -> Limits {
        Limits {
            failure_threshold: 1,
            consecutive: true,
            success_threshold: 1,
            half_open_max_calls: 1,
            half_open_timeout_us: 1,
            periods: Periods {
                timeout_us: 1,
                max_us: 1,
                multiplier: 1.0,
                jitter: 0.0,
            },
            slow_us: None,
            window: false,
            minimum_calls: 1,
            failure_rate: 50.0,
            slow_rate: 100.0,
            dry_run: false,
        }
    }

    /// Length of open period `k` decided for `generation`, µs.
    fn open_period(&self, k: u32, generation: u64, seed: u64) -> u64 {
        self.periods.period_us(k, backoff::unit(seed, generation))
    }

    /// Length of a `force_open` period decided for `generation`: the timeout, jittered.
    fn forced_period(&self, generation: u64, seed: u64) -> u64 {
        backoff::jittered(
            self.periods.timeout_us,
            self.periods.jitter,
            backoff::unit(seed, generation),
        )
    }

    /// Whether a call admitted at `start` and finished at `now` is slow (P2).
    #[inline]
    pub(crate) fn is_slow(&self, start: u64, now: u64) -> bool {
        matches!(self.slow_us, Some(d) if now.saturating_sub(start) > d)
    }
}

/// A consistent reading of the breaker: the word and, for Open and HalfOpen, the details of
/// the current period (published by its winner, or assumed "just started" when not yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct View {
    pub(crate) word: Word,
    /// Open / HalfOpen: the period's details (deadline, successes, streak); else unused.
    pub(crate) stamp: Stamp,
    /// Whether `stamp` was published by the period's winner.
    pub(crate) published: bool,
}

impl View {
    /// A view of a word that needs no stamp (Closed, Isolated).
    pub(crate) fn bare(word: Word) -> View {
        View {
            word,
            stamp: Stamp::NONE,
            published: true,
        }
    }

    /// Resolves `word` against the last published `stamp` at `now` (read after both).
    ///
    /// A stamp of another generation means the period's winner has not published yet (it
    /// is between its CAS and its publication): the period counts as just started at `now`,
    /// with the length the word implies. Nobody but the winner ever publishes it.
    pub(crate) fn resolve(word: Word, stamp: Stamp, now: u64, lim: &Limits, seed: u64) -> View {
        match word.phase() {
            Phase::Closed | Phase::Isolated => View::bare(word),
            _ if stamp.generation() == word.generation() => View {
                word,
                stamp,
                published: true,
            },
            Phase::Open => {
                let k = word.count();
                let len = lim.open_period(k, word.generation(), seed);
                View {
                    word,
                    stamp: Stamp::new(word.generation(), now.saturating_add(len), k),
                    published: false,
                }
            }
            Phase::HalfOpen => View {
                word,
                stamp: Stamp::new(
                    word.generation(),
                    now.saturating_add(lim.half_open_timeout_us),
                    0,
                ),
                published: false,
            },
        }
    }

    /// The open streak the period continues (Open: in the word; HalfOpen: in the stamp).
    fn streak(self) -> u32 {
        match self.word.phase() {
            Phase::Open => self.word.count(),
            Phase::HalfOpen => self.stamp.streak(),
            _ => 0,
        }
    }
}

/// One transition, as listeners see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) from: State,
    pub(crate) to: State,
    pub(crate) cause: Cause,
}

/// The transitions one step makes, in order (at most two: an expired half-open period
/// recorded before the step's own transition).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    list: [Option<Change>; 2],
}

impl Changes {
    /// Records a transition; one that leaves the public state as it was is not a state
    /// change (it still starts a generation) and is not recorded.
    fn push(&mut self, from: Phase, to: Phase, cause: Cause) {
        let (from, to) = (from.public(), to.public());
        if from == to {
            return;
        }
        let slot = self.list.iter_mut().find(|c| c.is_none());
        debug_assert!(slot.is_some(), "more than two transitions in one step");
        if let Some(slot) = slot {
            *slot = Some(Change { from, to, cause });
        }
    }

    /// The recorded transitions, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Change> + '_ {
        self.list.iter().flatten().copied()
    }

    /// How many state changes.
    pub(crate) fn len(&self) -> usize {
        self.iter().count()
    }
}

/// The result of one pure step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step<R> {
    /// The word to install; equal to the starting word when nothing changes.
    pub(crate) next: Word,
    /// When `next` starts a new Open / HalfOpen generation: the stamp its winner publishes.
    pub(crate) stamp: Option<Stamp>,
    /// The state changes made, in order.
    pub(crate) changes: Changes,
    /// What the caller learns.
    pub(crate) result: R,
}

impl<R> Step<R> {
    fn stay(v: View, result: R) -> Step<R> {
        Step {
            next: v.word,
            stamp: None,
            changes: Changes::default(),
            result,
        }
    }

    /// Ends at view `v` (possibly a new generation from an earlier part of the step).
    fn at(start: Word, v: View, changes: Changes, result: R) -> Step<R> {
        let new_period = v.word.generation() != start.generation()
            && matches!(v.word.phase(), Phase::Open | Phase::HalfOpen);
        Step {
            next: v.word,
            stamp: new_period.then_some(v.stamp),
            changes,
            result,
        }
    }
}

/// The role of an admitted call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Admitted while Closed.
    Closed = 0,
    /// A half-open probe: holds one of the period's slots.
    Probe = 1,
    /// Dry run: admitted although the breaker would have rejected it; its outcome is only
    /// counted (P8).
    Shadow = 2,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("generation", &self.generation())
            .field("role", &self.role())
            .field("start_us", &self.start_us)
            .finish()
    }
}

/// What a permit remembers of its admission: 16 bytes, so that the hot path's results
/// travel in registers (the generation and the role share one word).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    /// `generation << 2 | role`.
    bits: u64,
    /// Admission time, µs, when `slow_call_duration` is set (else 0: no clock was read).
    pub(crate) start_us: u64,
}

impl Ticket {
    /// A ticket of `generation` (52 bits) in `role`.
    #[inline]
    pub(crate) const fn new(generation: u64, role: Role, start_us: u64) -> Ticket {
        Ticket {
            bits: generation << 2 | role as u64,
            start_us,
        }
    }

    /// A closed-state ticket.
    #[inline]
    pub(crate) const fn closed(generation: u64, start_us: u64) -> Ticket {
        Ticket::new(generation, Role::Closed, start_us)
    }

    /// The generation the permit was admitted in.
    #[inline]
    pub(crate) const fn generation(self) -> u64 {
        self.bits >> 2
    }

    /// The permit's role.
    #[inline]
    pub(crate) const fn role(self) -> Role {
        match self.bits & 0b11 {
            0 => Role::Closed,
            1 => Role::Probe,
            _ => Role::Shadow,
        }
    }

    /// The word on which recording a success with this ticket changes nothing: closed,
    /// same generation, no failure streak. The hot path compares against it and returns.
    #[inline]
    pub(crate) fn quiet_word(self) -> Word {
        Word::new(Phase::Closed, self.generation())
    }
}

/// The answer to an admission request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Admitted, with this ticket.
    Admitted(Ticket),
    /// Dry run: admitted, but the breaker would have rejected it.
    Shadow(Ticket),
    /// Rejected in `state` (Open or HalfOpen); when Open with a deadline, the µs left.
    Rejected {
        state: State,
        retry_after_us: Option<u64>,
    },
}

/// Records an expired half-open period, if the view's is (API.md Semantics 4, P10): the
/// period failed at its deadline, and an open period of the next length started then.
fn expire(v: View, now: u64, lim: &Limits, seed: u64, changes: &mut Changes) -> View {
    if v.word.phase() != Phase::HalfOpen || !v.published || now < v.stamp.deadline() {
        return v;
    }
    let k = v.stamp.streak().saturating_add(1);
    let g = v.word.generation().wrapping_add(1);
    let end = v
        .stamp
        .deadline()
        .saturating_add(lim.open_period(k, g, seed));
    changes.push(Phase::HalfOpen, Phase::Open, Cause::HalfOpenExpired);
    let word = v.word.next(Phase::Open).with_count(k);
    View {
        word,
        stamp: Stamp::new(g, end, word.count()),
        published: true,
    }
}

/// A new open period of streak `k` ending at `deadline`, entered from `v`.
fn open(v: View, k: u32, deadline: u64) -> View {
    let word = v.word.next(Phase::Open).with_count(k);
    View {
        word,
        stamp: Stamp::new(word.generation(), deadline, word.count()),
        published: true,
    }
}

/// A call asks to be admitted at `now`.
pub(crate) fn acquire(v0: View, now: u64, lim: &Limits, seed: u64) -> Step<Admission> {
    let start_us = if lim.slow_us.is_some() { now } else { 0 };
    let mut changes = Changes::default();
    let v = expire(v0, now, lim, seed, &mut changes);
    let w = v.word;
    let refuse = |state, retry_after_us| {
        if lim.dry_run {
            Admission::Shadow(Ticket::new(w.generation(), Role::Shadow, start_us))
        } else {
            Admission::Rejected {
                state,
                retry_after_us,
            }
        }
    };
    let (v, result) = match w.phase() {
        Phase::Closed => (
            v,
            Admission::Admitted(Ticket::closed(w.generation(), start_us)),
        ),
        // An operator's isolation rejects every call, dry run or not (P10).
        Phase::Isolated => (
            v,
            Admission::Rejected {
                state: State::Open,
                retry_after_us: None,
            },
        ),
        Phase::Open if now < v.stamp.deadline() => {
            (v, refuse(State::Open, Some(v.stamp.deadline() - now)))
        }
        // The open period has ended (its stamp is published: an unpublished one counts as
        // just started): this call moves the breaker to HalfOpen and is its first probe; the
        // half-open period starts now and continues the streak.
        Phase::Open => {
            changes.push(Phase::Open, Phase::HalfOpen, Cause::OpenPeriodEnded);
            let word = w.next(Phase::HalfOpen).with_count(1);
            let deadline = now.saturating_add(lim.half_open_timeout_us);
            let next = View {
                word,
                stamp: Stamp::new(word.generation(), deadline, v.streak()),
                published: true,
            };
            let ticket = Ticket::new(word.generation(), Role::Probe, start_us);
            (next, Admission::Admitted(ticket))
        }
        // Probes are admitted only against the published period (the winner's first probe
        // excepted): until then its slots count as taken.
        Phase::HalfOpen if v.published && w.count() < lim.half_open_max_calls => {
            let ticket = Ticket::new(w.generation(), Role::Probe, start_us);
            let next = View {
                word: w.with_count(w.count() + 1),
                ..v
            };
            (next, Admission::Admitted(ticket))
        }
        Phase::HalfOpen => (v, refuse(State::HalfOpen, None)),
    };
    Step::at(v0.word, v, changes, result)
}

/// The open path's shortcut: `Some(µs left)` exactly when [`acquire`] on the view of `w`
/// and `stamp` at `now` would reject with `Rejected { state: Open, retry_after_us:
/// Some(left) }` and change nothing: an Open word whose period is published (the stamp is
/// of its generation) and has not ended, outside dry run. `None`: let [`acquire`] decide.
/// Property-tested against [`acquire`] (`the_open_shortcut_agrees_with_acquire`).
#[inline]
pub(crate) fn open_refusal(w: Word, stamp: Stamp, now: u64, lim: &Limits) -> Option<u64> {
    let refuses = w.phase() == Phase::Open
        && !lim.dry_run
        && stamp.generation() == w.generation()
        && now < stamp.deadline();
    refuses.then(|| stamp.deadline() - now)
}

/// The closed path's shortcut for an outcome without a window verdict: the word after a
/// Closed-role outcome of the word's own generation when all it changes is the failure
/// streak (a success clears it, a failure below the consecutive threshold adds one, an
/// ignored call keeps it). `None`: let [`record`] decide (another generation or role, a
/// disabled breaker, a failure that trips). Never reads the time. Property-tested against
/// [`record`] (`the_closed_shortcut_agrees_with_record`).
#[inline]
pub(crate) fn closed_streak(w: Word, t: Ticket, outcome: Outcome, lim: &Limits) -> Option<Word> {
    if w.phase() != Phase::Closed
        || w.disabled()
        || t.role() != Role::Closed
        || w.generation() != t.generation()
    {
        return None;
    }
    match outcome {
        Outcome::Success => Some(w.with_count(0)),
        Outcome::Ignored => Some(w),
        Outcome::Failure => {
            let streak = w.count() + 1;
            let trips = lim.consecutive && streak >= lim.failure_threshold;
            (!trips).then(|| w.with_count(streak))
        }
    }
}

/// A permit's outcome is recorded at `now`; `slow` per P2; `verdict` is the sliding
/// window's (P3), computed by the caller after entering this outcome, `None` without one.
///
/// Outcomes of an earlier generation (stale permits), of dry-run shadows, of a disabled
/// breaker, and outcomes recorded after the half-open period ran out change nothing: the
/// caller only counts them. A probe's plain success is two steps ([`count_success`], then
/// [`after_success`]); here it changes nothing.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record(
    v: View,
    t: Ticket,
    outcome: Outcome,
    slow: bool,
    verdict: Option<Cause>,
    now: u64,
    lim: &Limits,
    seed: u64,
) -> Step<()> {
    let w = v.word;
    if t.role() == Role::Shadow || w.generation() != t.generation() {
        return Step::stay(v, ());
    }
    let mut changes = Changes::default();
    let trip = |cause, changes: &mut Changes| {
        changes.push(Phase::Closed, Phase::Open, cause);
        let g = w.generation().wrapping_add(1);
        open(v, 1, now.saturating_add(lim.open_period(1, g, seed)))
    };
    let next = match (w.phase(), outcome, verdict) {
        (Phase::Closed, _, _) if w.disabled() => return Step::stay(v, ()),
        // The rules that trip, in P10's order: the consecutive rule, then the window's.
        (Phase::Closed, Outcome::Failure, _)
            if lim.consecutive && w.count() + 1 >= lim.failure_threshold =>
        {
            trip(Cause::ConsecutiveFailures, &mut changes)
        }
        (Phase::Closed, Outcome::Success | Outcome::Failure, Some(cause)) => {
            trip(cause, &mut changes)
        }
        // Otherwise only the streak moves, by the rule the engine's shortcut applies.
        (Phase::Closed, _, _) => match closed_streak(w, t, outcome, lim) {
            Some(next) => View::bare(next),
            None => return Step::stay(v, ()),
        },
        // No permit is ever issued in an Open or Isolated generation.
        (Phase::Open | Phase::Isolated, _, _) => return Step::stay(v, ()),
        (Phase::HalfOpen, _, _) if !v.published || now >= v.stamp.deadline() => {
            return Step::stay(v, ())
        }
        // A failed probe, or a slow one (P6), reopens the breaker: the next open period of
        // the streak, from now.
        (Phase::HalfOpen, Outcome::Failure | Outcome::Success, _)
            if slow || outcome == Outcome::Failure =>
        {
            changes.push(Phase::HalfOpen, Phase::Open, Cause::ProbeFailed);
            let k = v.stamp.streak().saturating_add(1);
            let g = w.generation().wrapping_add(1);
            open(v, k, now.saturating_add(lim.open_period(k, g, seed)))
        }
        (Phase::HalfOpen, Outcome::Success | Outcome::Failure, _) => return Step::stay(v, ()),
        (Phase::HalfOpen, Outcome::Ignored, _) => View {
            word: w.with_count(w.count().saturating_sub(1)),
            ..v
        },
    };
    Step::at(w, next, changes, ())
}

/// First step of a probe's (fast) success: the stamp with one more success, and whether it
/// reaches the success threshold. `None` when it cannot count: stale, unpublished, or the
/// half-open period has run out.
pub(crate) fn count_success(v: View, t: Ticket, now: u64, lim: &Limits) -> Option<(Stamp, bool)> {
    let w = v.word;
    if t.role() != Role::Probe
        || w.phase() != Phase::HalfOpen
        || w.generation() != t.generation()
        || !v.published
        || now >= v.stamp.deadline()
    {
        return None;
    }
    let s = v.stamp.successes() + 1;
    Some((v.stamp.with_successes(s), s >= lim.success_threshold))
}

/// Second step of a counted probe success, on the word as it is now: Closed (a new
/// generation) when the success reached the threshold, else the probe's slot freed.
/// `None` when the word has left the ticket's generation (the success became stale).
pub(crate) fn after_success(w: Word, t: Ticket, closes: bool) -> Option<Step<()>> {
    if w.generation() != t.generation() || w.phase() != Phase::HalfOpen {
        return None;
    }
    let mut changes = Changes::default();
    let next = if closes {
        changes.push(Phase::HalfOpen, Phase::Closed, Cause::ProbesSucceeded);
        w.next(Phase::Closed)
    } else {
        w.with_count(w.count().saturating_sub(1))
    };
    Some(Step {
        next,
        stamp: None,
        changes,
        result: (),
    })
}

/// The sliding window's verdict on its totals (P3): the first of the failure-rate and
/// slow-call-rate rules that fires, once the window holds its minimum.
pub(crate) fn rate_verdict(outcomes: u64, failures: u64, slow: u64, lim: &Limits) -> Option<Cause> {
    if !lim.window || outcomes == 0 || outcomes < u64::from(lim.minimum_calls) {
        return None;
    }
    // Counts below 2^53 convert exactly.
    let n = outcomes as f64;
    if failures as f64 * 100.0 >= lim.failure_rate * n {
        Some(Cause::FailureRate)
    } else if lim.slow_us.is_some() && slow as f64 * 100.0 >= lim.slow_rate * n {
        Some(Cause::SlowCallRate)
    } else {
        None
    }
}

/// An operator's call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operator {
    /// To Closed, normal mode.
    Reset,
    /// To Open for the (jittered) timeout; the streak is kept.
    ForceOpen,
    /// To Isolated.
    Isolate,
    /// To Closed, disabled.
    Disable,
    /// To Open for this many µs, because another replica tripped; the streak is kept.
    Remote(u64),
}

/// An operator call at `now`. Each starts a new generation (even when the state stays),
/// except `force_open` / a remote trip on an isolated breaker (it stays isolated) and a
/// remote trip on a disabled one (an operator's override wins over a peer's report). An
/// expired half-open period is recorded first (P10).
pub(crate) fn operate(v0: View, op: Operator, now: u64, lim: &Limits, seed: u64) -> Step<()> {
    let w0 = v0.word;
    match op {
        Operator::ForceOpen | Operator::Remote(_) if w0.phase() == Phase::Isolated => {
            return Step::stay(v0, ())
        }
        Operator::Remote(_) if w0.disabled() => return Step::stay(v0, ()),
        _ => {}
    }
    let mut changes = Changes::default();
    let v = expire(v0, now, lim, seed, &mut changes);
    let from = v.word.phase();
    let g = v.word.generation().wrapping_add(1);
    let (next, cause) = match op {
        Operator::Reset => (View::bare(v.word.next(Phase::Closed)), Cause::Reset),
        Operator::Disable => (
            View::bare(v.word.next(Phase::Closed).with_disabled()),
            Cause::Disable,
        ),
        Operator::Isolate => (View::bare(v.word.next(Phase::Isolated)), Cause::Isolate),
        Operator::ForceOpen => {
            let end = now.saturating_add(lim.forced_period(g, seed));
            (open(v, v.streak(), end), Cause::ForceOpen)
        }
        Operator::Remote(period) => (
            open(v, v.streak(), now.saturating_add(period)),
            Cause::Remote,
        ),
    };
    changes.push(from, next.word.phase(), cause);
    Step::at(w0, next, changes, ())
}

/// The effective state at `now`: what a call arriving now would find (a pure read).
pub(crate) fn effective(v: View, now: u64, lim: &Limits, seed: u64) -> State {
    let v = expire(v, now, lim, seed, &mut Changes::default());
    match v.word.phase() {
        Phase::Open if now >= v.stamp.deadline() => State::HalfOpen,
        phase => phase.public(),
    }
}

/// Time until the effective open period ends, µs: `None` unless effectively Open with a
/// deadline (an isolated breaker has none).
pub(crate) fn retry_after(v: View, now: u64, lim: &Limits, seed: u64) -> Option<u64> {
    let v = expire(v, now, lim, seed, &mut Changes::default());
    match v.word.phase() {
        Phase::Open if now < v.stamp.deadline() => Some(v.stamp.deadline() - now),
        _ => None,
    }
}

/// Whether a call arriving at `now` would be admitted (in dry run: unless isolated, P10).
pub(crate) fn available(v: View, now: u64, lim: &Limits, seed: u64) -> bool {
    !matches!(
        acquire(v, now, lim, seed).result,
        Admission::Rejected { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::word::COUNT_MAX;
    use proptest::prelude::*;

    const SEED: u64 = 7;

    fn lim(f: u32, s: u32, h: u32) -> Limits {
        Limits {
            failure_threshold: f,
            success_threshold: s,
            half_open_max_calls: h,
            half_open_timeout_us: 500,
            periods: Periods {
                timeout_us: 1_000,
                max_us: 1_000,
                multiplier: 1.0,
                jitter: 0.0,
            },
            ..Limits::placeholder()
        }
    }

    fn backoff_lim() -> Limits {
        Limits {
            periods: Periods {
                timeout_us: 1_000,
                max_us: 10_000,
                multiplier: 2.0,
                jitter: 0.0,
            },
            ..lim(1, 1, 1)
        }
    }

    fn closed(g: u64) -> View {
        View::bare(Word::new(Phase::Closed, g))
    }

    fn published(word: Word, deadline: u64, successes: u32, streak: u32) -> View {
        View {
            word,
            stamp: Stamp::new(word.generation(), deadline, streak).with_successes(successes),
            published: true,
        }
    }

    fn after<R>(s: &Step<R>) -> View {
        match s.stamp {
            Some(stamp) => View {
                word: s.next,
                stamp,
                published: true,
            },
            None => View::bare(s.next),
        }
    }

    fn fail(v: View, now: u64, l: &Limits) -> Step<()> {
        let t = Ticket::new(
            v.word.generation(),
            if v.word.phase() == Phase::HalfOpen {
                Role::Probe
            } else {
                Role::Closed
            },
            0,
        );
        record(v, t, Outcome::Failure, false, None, now, l, SEED)
    }

    #[test]
    fn failures_open_at_the_threshold_with_the_winners_time() {
        let l = lim(2, 1, 1);
        let s1 = fail(closed(7), 10, &l);
        assert_eq!((s1.next.count(), s1.next.generation()), (1, 7));
        let s2 = fail(after(&s1), 20, &l);
        assert_eq!((s2.next.phase(), s2.next.generation()), (Phase::Open, 8));
        let stamp = s2.stamp.unwrap();
        assert_eq!((stamp.generation(), stamp.deadline()), (8, 1_020));
        assert_eq!(
            s2.changes.iter().next().unwrap().cause,
            Cause::ConsecutiveFailures
        );
    }

    #[test]
    fn a_success_clears_the_streak_and_is_quiet_at_zero() {
        let l = lim(3, 1, 1);
        let t = Ticket::closed(1, 0);
        let v = View::bare(Word::new(Phase::Closed, 1).with_count(2));
        assert_eq!(
            record(v, t, Outcome::Success, false, None, 0, &l, SEED)
                .next
                .count(),
            0
        );
        let quiet = record(closed(1), t, Outcome::Success, false, None, 0, &l, SEED);
        assert_eq!(quiet.next, closed(1).word);
        assert_eq!(t.quiet_word(), closed(1).word);
    }

    #[test]
    fn open_rejects_until_the_deadline_then_admits_one_probe() {
        let l = lim(1, 2, 1);
        let v = published(Word::new(Phase::Open, 3).with_count(1), 1_000, 0, 1);
        assert_eq!(
            acquire(v, 400, &l, SEED).result,
            Admission::Rejected {
                state: State::Open,
                retry_after_us: Some(600)
            }
        );
        assert_eq!(effective(v, 999, &l, SEED), State::Open);
        assert_eq!(effective(v, 1_000, &l, SEED), State::HalfOpen);
        let s = acquire(v, 1_000, &l, SEED);
        assert!(
            matches!(s.result, Admission::Admitted(t) if t.generation() == 4 && t.role() == Role::Probe)
        );
        assert_eq!((s.next.phase(), s.next.count()), (Phase::HalfOpen, 1));
        let stamp = s.stamp.unwrap();
        assert_eq!((stamp.deadline(), stamp.streak()), (1_500, 1));
        assert_eq!(
            acquire(after(&s), 1_001, &l, SEED).result,
            Admission::Rejected {
                state: State::HalfOpen,
                retry_after_us: None
            }
        );
    }

    #[test]
    fn an_unpublished_period_counts_as_just_started() {
        let l = lim(1, 1, 3);
        // Open, winner not yet published: rejected with a full period, never half-open.
        let open = View::resolve(
            Word::new(Phase::Open, 5).with_count(1),
            Stamp::NONE,
            9_000,
            &l,
            SEED,
        );
        assert!(!open.published);
        assert_eq!(effective(open, 9_000, &l, SEED), State::Open);
        assert_eq!(
            acquire(open, 9_000, &l, SEED).result,
            Admission::Rejected {
                state: State::Open,
                retry_after_us: Some(1_000)
            }
        );
        // HalfOpen, not yet published: its slots count as taken; it is not expired.
        let half = View::resolve(
            Word::new(Phase::HalfOpen, 6).with_count(1),
            Stamp::NONE,
            9_000,
            &l,
            SEED,
        );
        assert_eq!(effective(half, 9_000, &l, SEED), State::HalfOpen);
        assert!(matches!(
            acquire(half, 9_000, &l, SEED).result,
            Admission::Rejected {
                state: State::HalfOpen,
                ..
            }
        ));
    }

    #[test]
    fn an_expired_half_open_period_is_an_open_period_from_its_expiry() {
        let l = backoff_lim();
        // Half-open since 1_000 (streak 2), expires at 1_500; period 3 lasts 4_000.
        let h = published(Word::new(Phase::HalfOpen, 9).with_count(1), 1_500, 0, 2);
        assert_eq!(effective(h, 1_499, &l, SEED), State::HalfOpen);
        assert_eq!(effective(h, 1_500, &l, SEED), State::Open);
        assert_eq!(retry_after(h, 2_500, &l, SEED), Some(3_000));
        assert_eq!(effective(h, 5_500, &l, SEED), State::HalfOpen);
        assert!(!available(h, 5_499, &l, SEED));
        assert!(available(h, 5_500, &l, SEED));
        // A call inside that open period records the expiry and is rejected.
        let s = acquire(h, 2_000, &l, SEED);
        assert_eq!(
            (s.next.phase(), s.next.generation(), s.next.count()),
            (Phase::Open, 10, 3)
        );
        assert_eq!(s.stamp.unwrap().deadline(), 5_500);
        assert_eq!(s.changes.len(), 1);
        // A call after it makes both transitions and is the first probe of a new period.
        let s = acquire(h, 6_000, &l, SEED);
        assert_eq!(
            (s.next.phase(), s.next.generation(), s.next.count()),
            (Phase::HalfOpen, 11, 1)
        );
        let causes: Vec<_> = s.changes.iter().map(|c| c.cause).collect();
        assert_eq!(causes, [Cause::HalfOpenExpired, Cause::OpenPeriodEnded]);
        assert_eq!(
            (s.stamp.unwrap().deadline(), s.stamp.unwrap().streak()),
            (6_500, 3)
        );
        // Late outcomes of the expired period change nothing.
        let t = Ticket::new(9, Role::Probe, 0);
        assert_eq!(
            record(h, t, Outcome::Failure, false, None, 1_600, &l, SEED).next,
            h.word
        );
        assert_eq!(count_success(h, t, 1_600, &l), None);
    }

    #[test]
    fn backoff_grows_along_the_streak_and_closing_starts_over() {
        let l = backoff_lim();
        let mut v = fail(closed(0), 0, &l);
        assert_eq!(v.stamp.unwrap().deadline(), 1_000);
        let mut now = 1_000;
        for expected in [2_000, 4_000, 8_000, 10_000, 10_000] {
            let probe = acquire(after(&v), now, &l, SEED);
            let s = fail(after(&probe), now, &l);
            assert_eq!(s.stamp.unwrap().deadline() - now, expected);
            now = s.stamp.unwrap().deadline();
            v = s;
        }
        let probe = acquire(after(&v), now, &l, SEED);
        let t = match probe.result {
            Admission::Admitted(t) => t,
            other => panic!("{other:?}"),
        };
        let (stamp, closes) = count_success(after(&probe), t, now, &l).unwrap();
        assert!(closes && stamp.successes() == 1);
        let closed = after_success(probe.next, t, true).unwrap();
        assert_eq!(closed.next.phase(), Phase::Closed);
        // The next trip starts the streak over.
        let again = fail(View::bare(closed.next), now, &l);
        assert_eq!(again.stamp.unwrap().deadline() - now, 1_000);
    }

    #[test]
    fn force_open_keeps_the_streak_and_uses_the_timeout() {
        let l = backoff_lim();
        let open = published(Word::new(Phase::Open, 4).with_count(3), 50_000, 0, 3);
        let s = operate(open, Operator::ForceOpen, 100, &l, SEED);
        assert_eq!((s.next.count(), s.next.generation()), (3, 5));
        assert_eq!(s.stamp.unwrap().deadline(), 1_100);
        assert_eq!(s.changes.len(), 0, "open to open is no state change");
        let iso = operate(
            View::bare(Word::new(Phase::Isolated, 2)),
            Operator::ForceOpen,
            0,
            &l,
            SEED,
        );
        assert_eq!(iso.next, Word::new(Phase::Isolated, 2));
    }

    #[test]
    fn isolation_rejects_even_in_dry_run_and_never_expires() {
        let l = Limits {
            dry_run: true,
            ..lim(1, 1, 1)
        };
        let iso = View::bare(Word::new(Phase::Isolated, 3));
        assert!(!available(iso, u64::MAX / 2, &l, SEED));
        assert_eq!(effective(iso, u64::MAX / 2, &l, SEED), State::Open);
        assert_eq!(retry_after(iso, 0, &l, SEED), None);
        let open = published(Word::new(Phase::Open, 4), 1_000, 0, 1);
        assert!(
            matches!(acquire(open, 0, &l, SEED).result, Admission::Shadow(t) if t.role() == Role::Shadow)
        );
        assert!(available(open, 0, &l, SEED));
    }

    #[test]
    fn disabled_never_trips_and_remote_trips_leave_it_alone() {
        let l = lim(1, 1, 1);
        let d = View::bare(Word::new(Phase::Closed, 3).with_disabled());
        assert_eq!(fail(d, 0, &l).next, d.word);
        let t = Ticket::closed(3, 0);
        assert_eq!(
            record(
                d,
                t,
                Outcome::Failure,
                false,
                Some(Cause::FailureRate),
                0,
                &l,
                SEED
            )
            .next,
            d.word
        );
        assert_eq!(operate(d, Operator::Remote(10), 0, &l, SEED).next, d.word);
        let forced = operate(d, Operator::ForceOpen, 0, &l, SEED);
        assert_eq!(forced.next.phase(), Phase::Open);
        assert!(!forced.next.disabled());
    }

    #[test]
    fn an_operator_call_records_an_expired_half_open_period_first() {
        let l = lim(1, 1, 1);
        let h = published(Word::new(Phase::HalfOpen, 9).with_count(1), 500, 0, 1);
        let s = operate(h, Operator::Reset, 600, &l, SEED);
        let got: Vec<_> = s.changes.iter().map(|c| (c.from, c.to, c.cause)).collect();
        assert_eq!(
            got,
            [
                (State::HalfOpen, State::Open, Cause::HalfOpenExpired),
                (State::Open, State::Closed, Cause::Reset)
            ]
        );
        assert_eq!(s.next, Word::new(Phase::Closed, 11));
    }

    #[test]
    fn the_rate_rules_fire_in_order_once_the_minimum_is_reached() {
        let l = Limits {
            window: true,
            minimum_calls: 4,
            failure_rate: 50.0,
            slow_rate: 50.0,
            slow_us: Some(10),
            ..lim(1, 1, 1)
        };
        assert_eq!(rate_verdict(3, 3, 3, &l), None);
        assert_eq!(rate_verdict(4, 2, 4, &l), Some(Cause::FailureRate));
        assert_eq!(rate_verdict(4, 1, 2, &l), Some(Cause::SlowCallRate));
        assert_eq!(rate_verdict(4, 1, 1, &l), None);
        let no_slow = Limits { slow_us: None, ..l };
        assert_eq!(rate_verdict(4, 1, 4, &no_slow), None);
        // The consecutive rule, when on, names the cause before the rates (P10).
        let both = Limits {
            consecutive: true,
            failure_threshold: 2,
            ..l
        };
        let v = View::bare(Word::new(Phase::Closed, 1).with_count(1));
        let s = record(
            v,
            Ticket::closed(1, 0),
            Outcome::Failure,
            false,
            Some(Cause::FailureRate),
            0,
            &both,
            SEED,
        );
        assert_eq!(
            s.changes.iter().next().unwrap().cause,
            Cause::ConsecutiveFailures
        );
        let rates_only = Limits {
            consecutive: false,
            ..both
        };
        let s = record(
            v,
            Ticket::closed(1, 0),
            Outcome::Failure,
            false,
            Some(Cause::FailureRate),
            0,
            &rates_only,
            SEED,
        );
        assert_eq!(s.changes.iter().next().unwrap().cause, Cause::FailureRate);
        let s = record(
            v,
            Ticket::closed(1, 0),
            Outcome::Failure,
            false,
            None,
            0,
            &rates_only,
            SEED,
        );
        assert_eq!((s.next.phase(), s.next.count()), (Phase::Closed, 2));
    }

    #[test]
    fn a_slow_probe_success_reopens() {
        let l = Limits {
            slow_us: Some(10),
            ..lim(1, 1, 1)
        };
        let h = published(Word::new(Phase::HalfOpen, 2).with_count(1), 500, 0, 1);
        let t = Ticket::new(2, Role::Probe, 0);
        let s = record(h, t, Outcome::Success, true, None, 100, &l, SEED);
        assert_eq!(s.next.phase(), Phase::Open);
        assert_eq!(s.changes.iter().next().unwrap().cause, Cause::ProbeFailed);
    }

    fn any_view() -> impl Strategy<Value = View> {
        (
            0u32..4,
            1u64..1_000_000,
            0u32..=8,
            0u32..=8,
            0u32..=8,
            0u64..3_000,
            any::<bool>(),
        )
            .prop_map(|(p, g, c, su, k, d, published)| {
                let phase =
                    [Phase::Closed, Phase::Open, Phase::HalfOpen, Phase::Isolated][p as usize];
                let word = match phase {
                    Phase::Isolated => Word::new(phase, g),
                    _ => Word::new(phase, g).with_count(c),
                };
                match phase {
                    Phase::Closed | Phase::Isolated => View::bare(word),
                    _ if published => View {
                        word,
                        stamp: Stamp::new(g, d, k).with_successes(su),
                        published,
                    },
                    _ => View::resolve(word, Stamp::NONE, d, &lim(3, 3, 3), SEED),
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
        let bumps = n.generation().wrapping_sub(w.generation());
        prop_assert!(bumps <= 2);
        prop_assert_eq!(bumps as usize >= s.changes.len(), true);
        if bumps == 0 {
            prop_assert_eq!(
                n.phase(),
                w.phase(),
                "state changed without a new generation"
            );
            prop_assert!(s.stamp.is_none());
        }
        let mut at = w.phase().public();
        for c in s.changes.iter() {
            prop_assert_eq!(c.from, at);
            prop_assert!(legal(c.from, c.to), "{:?} -> {:?}", c.from, c.to);
            at = c.to;
        }
        prop_assert_eq!(at, n.phase().public());
        if bumps > 0 && matches!(n.phase(), Phase::Open | Phase::HalfOpen) {
            let stamp = s.stamp.expect("a new period publishes a stamp");
            prop_assert_eq!(stamp.generation(), n.generation());
        }
        if n.phase() == Phase::HalfOpen && n != w {
            prop_assert!(n.count() <= l.half_open_max_calls.max(w.count()));
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn acquire_keeps_the_invariants(v in any_view(), now in 0u64..6_000, f in 1u32..5, s in 1u32..5, h in 1u32..5, dry: bool) {
            let l = Limits { dry_run: dry, ..lim(f, s, h) };
            let step = acquire(v, now, &l, SEED);
            check(v, &step, &l)?;
            let admitted = matches!(step.result, Admission::Admitted(_));
            prop_assert_eq!(!matches!(step.result, Admission::Rejected { .. }), available(v, now, &l, SEED));
            if effective(v, now, &l, SEED) == State::Open {
                prop_assert!(!admitted);
            }
            if let Admission::Admitted(t) = step.result {
                prop_assert_eq!(t.generation(), step.next.generation());
                prop_assert_eq!(t.role() == Role::Probe, step.next.phase() == Phase::HalfOpen);
            }
            if !dry {
                prop_assert!(!matches!(step.result, Admission::Shadow(_)));
            }
        }

        #[test]
        fn record_keeps_the_invariants(v in any_view(), o in any_outcome(), stale: bool, slow: bool, rate: bool, now in 0u64..6_000, f in 1u32..5, s in 1u32..5, h in 1u32..5) {
            let l = lim(f, s, h);
            let t = Ticket::new(if stale { v.word.generation() - 1 } else { v.word.generation() }, if v.word.phase() == Phase::HalfOpen { Role::Probe } else { Role::Closed }, 0);
            let verdict = rate.then_some(Cause::FailureRate);
            let step = record(v, t, o, slow, verdict, now, &l, SEED);
            check(v, &step, &l)?;
            if stale || (o == Outcome::Ignored && v.word.phase() != Phase::HalfOpen) {
                prop_assert_eq!(step.next, v.word);
            }
            if step.next.phase() == Phase::HalfOpen && step.next.generation() == v.word.generation() {
                prop_assert!(step.next.count() <= v.word.count());
            }
        }

        /// The engine skips `record` in two cases; both must be steps that change nothing,
        /// or the fast path would diverge from the transition logic.
        #[test]
        fn the_fast_paths_are_no_op_steps(v in any_view(), generation in 1u64..1_000_000, now in 0u64..3_000) {
            let l = lim(3, 3, 3);
            let t = Ticket::closed(generation, 0);
            let quiet = View::bare(t.quiet_word());
            prop_assert_eq!(record(quiet, t, Outcome::Success, false, None, now, &l, SEED).next, quiet.word);
            let t = Ticket::closed(v.word.generation(), 0);
            if v.word.phase() == Phase::Closed {
                prop_assert_eq!(record(v, t, Outcome::Ignored, false, None, now, &l, SEED).next, v.word);
            }
        }

        /// The engine rejects from the word and the stamp alone when this shortcut says so;
        /// it must be exactly what `acquire` decides.
        #[test]
        fn the_open_shortcut_agrees_with_acquire(v in any_view(), stamp_gen_off in 0u64..3, now in 0u64..6_000, edge in 0u64..4, dry: bool, f in 1u32..5, s in 1u32..5, h in 1u32..5) {
            // Half the cases at the deadline's edge: a microsecond before, at, just after.
            let now = if edge < 3 { (v.stamp.deadline() + edge).saturating_sub(1) } else { now };
            let l = Limits { dry_run: dry, ..lim(f, s, h) };
            // The stamp as loaded: the period's own (published) or an older one (not yet).
            let stamp = if stamp_gen_off == 0 && v.published { v.stamp } else {
                Stamp::new(v.word.generation().saturating_sub(stamp_gen_off.max(1)), v.stamp.deadline(), 0)
            };
            let resolved = View::resolve(v.word, stamp, now, &l, SEED);
            let step = acquire(resolved, now, &l, SEED);
            match open_refusal(v.word, stamp, now, &l) {
                Some(left) => {
                    prop_assert_eq!(step.result, Admission::Rejected { state: State::Open, retry_after_us: Some(left) });
                    prop_assert_eq!(step.next, v.word);
                    prop_assert!(step.stamp.is_none());
                }
                None => prop_assert!(
                    v.word.phase() != Phase::Open || dry || stamp.generation() != v.word.generation() || now >= stamp.deadline()
                ),
            }
        }

        /// The engine installs this shortcut's word without calling `record`; it must be
        /// exactly `record`'s step, and a step with no transition, at any time.
        #[test]
        fn the_closed_shortcut_agrees_with_record(v in any_view(), o in any_outcome(), stale: bool, probe: bool, slow: bool, disabled: bool, consecutive: bool, now in 0u64..6_000, f in 1u32..5) {
            let l = Limits { consecutive, ..lim(f, 1, 1) };
            let w = if disabled && v.word.phase() == Phase::Closed { v.word.with_disabled() } else { v.word };
            let v = View { word: w, ..v };
            let g = if stale { w.generation() - 1 } else { w.generation() };
            let t = Ticket::new(g, if probe { Role::Probe } else { Role::Closed }, 0);
            if let Some(next) = closed_streak(w, t, o, &l) {
                let step = record(v, t, o, slow, None, now, &l, SEED);
                prop_assert_eq!(step.next, next);
                prop_assert!(step.stamp.is_none());
                prop_assert_eq!(step.changes.len(), 0);
            } else {
                let plain = w.phase() == Phase::Closed && !w.disabled() && !stale && !probe;
                prop_assert!(!plain || (o == Outcome::Failure && consecutive && w.count() + 1 >= f));
            }
        }

        /// The engine records a closed success without a verdict without reading the clock.
        #[test]
        fn a_closed_success_is_timeless(g in 1u64..1_000_000, c in 0u32..=COUNT_MAX, now in any::<u64>()) {
            let l = lim(3, 3, 3);
            let v = View::bare(Word::new(Phase::Closed, g).with_count(c));
            let t = Ticket::closed(g, 0);
            prop_assert_eq!(
                record(v, t, Outcome::Success, false, None, now, &l, SEED),
                record(v, t, Outcome::Success, false, None, 0, &l, SEED)
            );
        }

        #[test]
        fn operator_calls_always_start_a_generation(v in any_view(), now in 0u64..6_000, which in 0usize..5) {
            let l = lim(1, 1, 1);
            let op = [Operator::Reset, Operator::ForceOpen, Operator::Isolate, Operator::Disable, Operator::Remote(77)][which];
            let s = operate(v, op, now, &l, SEED);
            let exempt = matches!(op, Operator::ForceOpen | Operator::Remote(_)) && v.word.phase() == Phase::Isolated
                || matches!(op, Operator::Remote(_)) && v.word.disabled();
            if exempt {
                prop_assert_eq!(s.next, v.word);
            } else {
                prop_assert!(s.next.generation() > v.word.generation());
                let phase = match op {
                    Operator::Reset | Operator::Disable => Phase::Closed,
                    Operator::Isolate => Phase::Isolated,
                    _ => Phase::Open,
                };
                prop_assert_eq!(s.next.phase(), phase);
                prop_assert_eq!(s.next.disabled(), op == Operator::Disable);
                if op == Operator::Remote(77) {
                    prop_assert_eq!(s.stamp.unwrap().deadline(), now + 77);
                }
            }
        }

        #[test]
        fn streaks_saturate(k in (COUNT_MAX - 2)..=COUNT_MAX, now in 0u64..3_000) {
            let l = backoff_lim();
            let h = published(Word::new(Phase::HalfOpen, 4).with_count(1), 5_000, 0, k);
            let t = Ticket::new(4, Role::Probe, 0);
            let s = record(h, t, Outcome::Failure, false, None, now, &l, SEED);
            prop_assert_eq!(s.next.count(), (k + 1).min(COUNT_MAX));
            prop_assert_eq!(s.stamp.unwrap().deadline(), now + 10_000);
        }
    }
}
