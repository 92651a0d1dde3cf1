//! The mechanism: the state word and the stamp, the CAS loop around [`crate::transition`],
//! the publication protocol, the counters and the window. [`crate::breaker`] is the public
//! facade over it (the tokio `semaphore.rs` / `batch_semaphore.rs` split).
//!
//! # The protocol
//!
//! 1. Load the word (Acquire). Closed: the hot paths decide from the word alone.
//! 2. Otherwise load the stamp (Acquire), then read the clock: every decision uses a time
//!    read after the word and the stamp it decides from, so a deadline is never compared
//!    with a time older than the one it was computed from. A stamp of a later generation
//!    than the word means the word is stale: reload both.
//! 3. Resolve them ([`View::resolve`]), decide with a pure step, and CAS the word
//!    (`compare_exchange_weak(cur, next, AcqRel, Acquire)`); on failure retry from the word
//!    the CAS returned. A step that changes nothing writes nothing.
//! 4. The CAS that starts an Open / HalfOpen generation has a winner; only the winner
//!    publishes that generation's stamp, with the deadline it computed from its own clock
//!    reading (step 2, taken before its CAS), by a monotone CAS: only over a stamp of an
//!    older generation. Readers never publish on anyone's behalf: they wait for it a little
//!    (`sync::PUBLISH_WAIT` bounded steps, a few µs: the winner is one instruction away
//!    unless descheduled), and if it still has not appeared they treat the period as just
//!    started (`View::resolve`): an Open period rejects with its full length, a HalfOpen
//!    period's further probe slots count as taken. Nobody ever blocks on a descheduled
//!    winner. The argument that no stale stamp is ever installed is in [`crate::word`].
//! 5. Two shortcuts skip the loop, each a pure function property-tested against the full
//!    step: a published open period that has not ended rejects from the word, the stamp
//!    and one clock read ([`transition::open_refusal`]); a closed outcome that only moves
//!    the failure streak (no window, or a window that gave no verdict) is one CAS of the
//!    word ([`transition::closed_streak`]; if the word moved, the loop decides afresh).
//!    Not a shortcut of the step but of the code: a windowed success on the quiet word of
//!    its generation (no slow-call rule) takes `settle_window_success`, which runs the
//!    same window judgment and, only on a verdict, the same loop as `settle_slow`, in a
//!    smaller frame.
//! 6. A probe's success counts in the stamp first (a 128-bit CAS of the same generation),
//!    then frees its slot or closes the breaker with a CAS of the word.
//!
//! # Orderings
//!
//! The word's CAS is AcqRel / Acquire and its loads Acquire ([`AtomicWord`]); the stamp's
//! CAS is AcqRel / Acquire and its loads Acquire ([`AtomicStamp`]). Statistics (counters,
//! transition count, timestamps) are Relaxed: nothing is published through them.
//!
//! [`AtomicWord`]: crate::word::AtomicWord
//! [`AtomicStamp`]: crate::word::AtomicStamp

use crossbeam_utils::Backoff;

use crate::clock::Clock;
use crate::counters::{self, Cells, Counter, Counters, Stripes};
use crate::failpoints;
use crate::sync::{self, AtomicU64, Ordering};
use crate::transition::{self, Admission, Change, Limits, Operator, Role, Step, Ticket, View};
use crate::window::RateWindow;
use crate::word::{AtomicStamp, AtomicWord, Phase, Stamp, Word};
use crate::{Cause, Outcome, State};

/// Where transitions are reported: the facade's listeners and tracing.
pub(crate) trait Observer {
    /// Called once per state change, after it is published, on the thread that made it.
    fn changed(&self, change: Change);
}

/// The breaker's mutable state.
///
/// `repr(align(64))`: the word, the stamp and the counters' base share the first line;
/// the other fields are written only on failures and transitions, which write the word
/// anyway.
#[repr(align(64))]
pub(crate) struct Engine {
    word: AtomicWord,
    stamp: AtomicStamp,
    /// The counters' stripe table, allocated on the first contention (`crate::counters`).
    stripes: Stripes,
    /// State changes since creation.
    transitions: AtomicU64,
    /// µs since the epoch of the last failure, plus one; 0 = never.
    last_failure: AtomicU64,
    /// µs since the epoch of the last state change, plus one; 0 = never.
    last_change: AtomicU64,
    clock: Clock,
    /// The jitter seed: the random source of the backoff draws (`backoff::unit`).
    seed: u64,
    /// Whether calls are timed (`slow_call_duration` is set): a copy kept beside the word,
    /// so the hot path does not follow the config's pointer to learn it.
    timed: bool,
    /// The counters' base line, written by one thread while the breaker is uncontended:
    /// a line of its own (`Counters` is 64-byte aligned).
    counters: Counters,
}

/// A rejection, before the facade dresses it with the breaker's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) state: State,
    pub(crate) retry_after_us: Option<u64>,
}

impl Engine {
    pub(crate) fn new(clock: Clock, seed: u64, timed: bool) -> Engine {
        Engine {
            word: AtomicWord::new(Word::new(Phase::Closed, 0)),
            stamp: AtomicStamp::new(Stamp::NONE),
            stripes: Stripes::new(),
            counters: Counters::new(),
            transitions: AtomicU64::new(0),
            last_failure: AtomicU64::new(0),
            last_change: AtomicU64::new(0),
            clock,
            seed,
            timed,
        }
    }

    /// Whether calls are timed for the slow-call rule.
    #[inline]
    pub(crate) fn timed(&self) -> bool {
        self.timed
    }

    /// The calling thread's counter cells.
    #[inline(always)]
    pub(crate) fn cells(&self) -> Cells<'_> {
        self.counters.cells(&self.stripes, counters::slot())
    }

    /// The sum of `counter` over the base line and every stripe (for metrics).
    pub(crate) fn sum(&self, counter: Counter) -> u64 {
        self.counters.sum(&self.stripes, counter)
    }

    /// The clock.
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Admission, counted in `cells`. Closed: one load of the word (plus a clock read when
    /// slow calls are timed), wait-free.
    #[inline(always)]
    pub(crate) fn admit(
        &self,
        cells: Cells<'_>,
        lim: &Limits,
        obs: &impl Observer,
    ) -> Result<Ticket, Refusal> {
        cells.bump(Counter::Total);
        let w = self.word.load();
        failpoints::hit("admit.after_load");
        if w.phase() == Phase::Closed {
            let start = if self.timed { self.start_us() } else { 0 };
            return Ok(Ticket::closed(w.generation(), start));
        }
        self.admit_slow(w, cells, lim, obs)
    }

    /// Admission off the closed path. An open period that is published and not over
    /// rejects here from the word, the stamp and one clock read (protocol step 2, in that
    /// order), without the CAS loop: `transition::open_refusal` says when that is exactly
    /// what `transition::acquire` would decide.
    /// A timed call's admission time, out of line: an untimed caller's loop then carries
    /// no clock code at all.
    #[inline(never)]
    fn start_us(&self) -> u64 {
        self.clock.now_us()
    }

    #[inline(never)]
    fn admit_slow(
        &self,
        w: Word,
        cells: Cells<'_>,
        lim: &Limits,
        obs: &impl Observer,
    ) -> Result<Ticket, Refusal> {
        if w.phase() == Phase::Open {
            // The same failpoints as `view`: a test can stall this reader between its loads.
            failpoints::hit("view.after_word");
            let stamp = self.stamp.load();
            failpoints::hit("view.after_stamp");
            // A bound of the time (the coarse clock's, or the time itself): a period not
            // over at the bound is not over now. Near the deadline the loop reads the time.
            let now = self.clock.now_bound_us();
            if let Some(left) = transition::open_refusal(w, stamp, now, lim) {
                cells.bump(Counter::Rejected);
                return Err(Refusal {
                    state: State::Open,
                    retry_after_us: Some(left),
                });
            }
        }
        self.admit_drive(w, cells, lim, obs)
    }

    /// Admission through the CAS loop: HalfOpen, an ended or unpublished open period,
    /// Isolated, dry run.
    #[inline(never)]
    fn admit_drive(
        &self,
        w: Word,
        cells: Cells<'_>,
        lim: &Limits,
        obs: &impl Observer,
    ) -> Result<Ticket, Refusal> {
        match self.drive(w, lim, obs, |v, now| {
            transition::acquire(v, now, lim, self.seed)
        }) {
            Admission::Admitted(ticket) => Ok(ticket),
            Admission::Shadow(ticket) => {
                cells.bump(Counter::WouldReject);
                Ok(ticket)
            }
            Admission::Rejected {
                state,
                retry_after_us,
            } => {
                cells.bump(Counter::Rejected);
                Err(Refusal {
                    state,
                    retry_after_us,
                })
            }
        }
    }

    /// Records a permit's outcome: counts it in `cells` (the recording thread's), then
    /// drives the state machine unless the outcome cannot change it. A plain closed
    /// success without a window or slow-call timing is one load of the word, inline; the
    /// rest (timing for the slow-call rule, P2, included) is out of line.
    #[inline(always)]
    pub(crate) fn settle(
        &self,
        cells: Cells<'_>,
        ticket: Ticket,
        outcome: Outcome,
        lim: &Limits,
        window: Option<&RateWindow>,
        obs: &impl Observer,
    ) {
        let counter = match outcome {
            Outcome::Success => Counter::Success,
            Outcome::Failure => Counter::Failure,
            Outcome::Ignored => Counter::Ignored,
        };
        cells.bump(counter);
        match outcome {
            Outcome::Success if window.is_none() && !self.timed => {
                let w = self.word.load();
                failpoints::hit("settle.after_load");
                // `transition::record` leaves the quiet word unchanged: skip the write.
                if w != ticket.quiet_word() {
                    self.settle_slow(w, cells, ticket, outcome, lim, window, obs);
                }
            }
            // An ignored closed-state call changes nothing (`transition::record`), and
            // Ignored is never slow.
            Outcome::Ignored if ticket.role() != Role::Probe => {}
            Outcome::Success => self.settle_success(cells, ticket, lim, window, obs),
            _ => self.settle_slow(self.word.load(), cells, ticket, outcome, lim, window, obs),
        }
    }

    /// A success with a window or a slow-call rule. Without a slow-call rule, on the word
    /// its ticket was admitted under (the common case of a rate breaker), it has a path of
    /// its own with a small frame; the rest goes to `settle_slow`.
    #[inline(never)]
    fn settle_success(
        &self,
        cells: Cells<'_>,
        ticket: Ticket,
        lim: &Limits,
        window: Option<&RateWindow>,
        obs: &impl Observer,
    ) {
        let w = self.word.load();
        if let Some(win) = window {
            if !self.timed && w == ticket.quiet_word() && ticket.role() == Role::Closed {
                return self.settle_window_success(w, ticket, lim, win, obs);
            }
        }
        self.settle_slow(w, cells, ticket, Outcome::Success, lim, window, obs)
    }

    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn settle_slow(
        &self,
        w: Word,
        cells: Cells<'_>,
        ticket: Ticket,
        outcome: Outcome,
        lim: &Limits,
        window: Option<&RateWindow>,
        obs: &impl Observer,
    ) {
        // One clock read serves the whole record: whether the call was slow (P2), the
        // failure's timestamp, a time window and the first step (the word was loaded before
        // it, so it is not older than the word). A count window needs no time: its plain
        // success reads no clock at all.
        let timed_call = self.timed && outcome != Outcome::Ignored;
        let timed_window = window.is_some_and(RateWindow::needs_time);
        let now = (outcome == Outcome::Failure || timed_window || timed_call)
            .then(|| self.clock.now_us());
        let slow = timed_call && now.is_some_and(|now| lim.is_slow(ticket.start_us, now));
        if slow {
            cells.bump(Counter::Slow);
        }
        if let (Outcome::Failure, Some(now)) = (outcome, now) {
            // Relaxed: a statistic. A load and a store, not a fetch_max: two racing failures
            // may keep the earlier of their two times (µs apart), which a statistic can bear,
            // and the mixed-traffic path saves a locked instruction.
            if self.last_failure.load(Ordering::Relaxed) <= now {
                self.last_failure.store(now + 1, Ordering::Relaxed);
            }
        }
        if w.generation() != ticket.generation() || ticket.role() == Role::Shadow {
            return; // Stale or shadow: counted above, never drives the machine (5, P8).
        }
        if ticket.role() == Role::Probe && outcome == Outcome::Success && !slow {
            return self.probe_success(ticket, lim, obs);
        }
        // Without a window, a closed outcome that only moves the streak is one CAS of the
        // word; if the word moved meanwhile, the loop decides afresh.
        if window.is_none() && self.move_streak(w, ticket, outcome, lim) {
            return;
        }
        // P2: outcomes of the current Closed generation enter the window, then its verdict
        // is an input of the step.
        let verdict = match window {
            Some(win)
                if w.phase() == Phase::Closed && !w.disabled() && outcome != Outcome::Ignored =>
            {
                debug_assert!(now.is_some() || !win.needs_time());
                let epoch = now.map_or(0, |now| win.epoch_of(now));
                judge(win, ticket, outcome == Outcome::Failure, slow, epoch, lim)
            }
            _ => None,
        };
        // The same shortcut once the window gave no verdict. (Two call sites rather than
        // one after the window: the windowless breaker's mixed path is 2.7 instructions per
        // call cheaper so, callgrind.)
        if window.is_some() && verdict.is_none() && self.move_streak(w, ticket, outcome, lim) {
            return;
        }
        self.finish(w, ticket, outcome, slow, verdict, now, lim, obs);
    }

    /// The streak shortcut: when `outcome` (with no window verdict) only moves the closed
    /// failure streak, one CAS of the word from `w`; `true` if that recorded it.
    /// `transition::closed_streak` is `record`'s step for it with no verdict
    /// (property-tested `the_closed_shortcut_agrees_with_record`).
    #[inline(always)]
    fn move_streak(&self, w: Word, ticket: Ticket, outcome: Outcome, lim: &Limits) -> bool {
        transition::closed_streak(w, ticket, outcome, lim)
            .is_some_and(|next| next == w || self.word.compare_exchange_weak(w, next).is_ok())
    }

    /// A success (no slow-call rule) of a Closed ticket, with a window, on the quiet word
    /// of its generation: [`settle_slow`](Self::settle_slow)'s steps for exactly this case,
    /// without its branches for every other (a small frame, no failure timestamp, no probe
    /// or shadow checks). Reads the clock only for a time window: with a coarse clock, the
    /// coarse reading when it fixes the bucket (`Clock::coarse_range_us`), else the TSC; a
    /// coarse reading never times a transition.
    #[inline(always)]
    fn settle_window_success(
        &self,
        w: Word,
        ticket: Ticket,
        lim: &Limits,
        win: &RateWindow,
        obs: &impl Observer,
    ) {
        debug_assert!(!self.timed && w == ticket.quiet_word() && ticket.role() == Role::Closed);
        let mut now = None;
        let epoch = if win.needs_time() {
            // The real time lies in [reading, bound] while the clock thread keeps time: if
            // both ends fall in one bucket, that is the outcome's bucket, exactly.
            let coarse = self.clock.coarse_range_us();
            let epoch = coarse.and_then(|(reading, bound)| win.epoch_within(reading, bound));
            epoch.unwrap_or_else(|| win.epoch_of(*now.insert(self.clock.now_us())))
        } else {
            0
        };
        let verdict = judge(win, ticket, false, false, epoch, lim);
        if verdict.is_some() {
            // A transition starts on a precise reading (`now`, or the loop reads one): a
            // coarse one lags, and an open period started from it would end early.
            self.finish(w, ticket, Outcome::Success, false, verdict, now, lim, obs);
        }
    }

    /// The last step of recording an outcome: drive the word with `transition::record`,
    /// unless it is a success without a verdict on the quiet word (nothing to change).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        w: Word,
        ticket: Ticket,
        outcome: Outcome,
        slow: bool,
        verdict: Option<Cause>,
        now: Option<u64>,
        lim: &Limits,
        obs: &impl Observer,
    ) {
        if outcome == Outcome::Success && verdict.is_none() && w == ticket.quiet_word() {
            return;
        }
        // A closed success without a verdict only clears the streak and never reads the
        // time (`transition` property test `a_closed_success_is_timeless`): no clock read.
        let hint = now.or((outcome == Outcome::Success && verdict.is_none()).then_some(0));
        self.drive_from(w, hint, lim, obs, |v, now| {
            transition::record(v, ticket, outcome, slow, verdict, now, lim, self.seed)
        });
    }

    /// A probe's plain success: count it in the stamp, then free the slot or close.
    fn probe_success(&self, ticket: Ticket, lim: &Limits, obs: &impl Observer) {
        let backoff = Backoff::new();
        let closes = loop {
            let w = self.word.load();
            let Some((view, now)) = self.view(w, lim) else {
                continue;
            };
            let Some((counted, closes)) = transition::count_success(view, ticket, now, lim) else {
                return; // Stale, or the half-open period has run out: counted only.
            };
            if self.stamp.compare_exchange(view.stamp, counted).is_ok() {
                failpoints::hit("probe.between");
                break closes;
            }
            backoff.spin();
        };
        loop {
            let w = self.word.load();
            let Some(step) = transition::after_success(w, ticket, closes) else {
                return; // The generation moved on first: the success is stale.
            };
            if self.word.compare_exchange_weak(w, step.next).is_ok() {
                if closes {
                    self.transitioned(&step, self.clock.now_us(), obs);
                }
                return;
            }
            backoff.spin();
        }
    }

    /// An operator's call (`reset`, `force_open`, `isolate`, `disable`, a remote trip).
    pub(crate) fn operate(&self, op: Operator, lim: &Limits, obs: &impl Observer) {
        let w = self.word.load();
        self.drive(w, lim, obs, |v, now| {
            transition::operate(v, op, now, lim, self.seed)
        });
    }

    /// The CAS loop: decide with the pure `step`, install its word, retry on interference.
    fn drive<R>(
        &self,
        w: Word,
        lim: &Limits,
        obs: &impl Observer,
        step: impl Fn(View, u64) -> Step<R>,
    ) -> R {
        self.drive_from(w, None, lim, obs, step)
    }

    /// [`drive`](Self::drive), with the time of the first attempt already read (after `w`
    /// was loaded) when `w` needs no stamp; every retry, and every Open / HalfOpen view,
    /// reads the clock afresh.
    fn drive_from<R>(
        &self,
        mut w: Word,
        mut hint: Option<u64>,
        lim: &Limits,
        obs: &impl Observer,
        step: impl Fn(View, u64) -> Step<R>,
    ) -> R {
        let backoff = Backoff::new();
        loop {
            let read = match (w.phase(), hint.take()) {
                (Phase::Closed | Phase::Isolated, Some(now)) => Some((View::bare(w), now)),
                _ => self.view(w, lim),
            };
            let Some((view, now)) = read else {
                w = self.word.load();
                continue;
            };
            let s = step(view, now);
            if s.next == w {
                return s.result;
            }
            failpoints::hit("drive.before_cas");
            match self.word.compare_exchange_weak(w, s.next) {
                Ok(_) => {
                    failpoints::hit("drive.after_cas");
                    if s.next.generation() != w.generation() {
                        self.transitioned(&s, now, obs);
                    }
                    return s.result;
                }
                Err(actual) => {
                    w = actual;
                    backoff.spin();
                }
            }
        }
    }

    /// The view of `w` and the time to act at, read after the word and the stamp. `None`
    /// when the stamp is already of a later generation (`w` is stale: reload it).
    fn view(&self, w: Word, lim: &Limits) -> Option<(View, u64)> {
        match w.phase() {
            Phase::Closed | Phase::Isolated => Some((View::bare(w), self.clock.now_us())),
            Phase::Open | Phase::HalfOpen => {
                failpoints::hit("view.after_word");
                let mut stamp = self.stamp.load();
                // The winner publishes right after its CAS: wait for it a little (bounded,
                // so a descheduled winner blocks nobody), then treat the period as just
                // started. Waiting keeps `retry_after` exact and lets a half-open period's
                // further probes in as soon as it is published.
                let mut step = 0;
                while stamp.generation() < w.generation() && step < sync::PUBLISH_WAIT {
                    sync::wait_step(step);
                    step += 1;
                    if self.word.load() != w {
                        return None; // Moved on: decide from the new word instead.
                    }
                    stamp = self.stamp.load();
                }
                if stamp.generation() > w.generation() {
                    return None;
                }
                failpoints::hit("view.after_stamp");
                let now = self.clock.now_us();
                Some((View::resolve(w, stamp, now, lim, self.seed), now))
            }
        }
    }

    /// A pure reading: the view and the time it was read at. Writes nothing.
    pub(crate) fn snapshot(&self, lim: &Limits) -> (View, u64) {
        loop {
            if let Some(read) = self.view(self.word.load(), lim) {
                return read;
            }
        }
    }

    /// See `failpoints::skip_generations`.
    #[cfg(feature = "failpoints")]
    pub(crate) fn skip_generations(&self, n: u64) {
        loop {
            let w = self.word.load();
            assert_eq!(
                w.phase(),
                Phase::Closed,
                "skip_generations needs a closed breaker"
            );
            let next = Word::new(Phase::Closed, w.generation() + n);
            if self.word.compare_exchange_weak(w, next).is_ok() {
                return;
            }
        }
    }

    /// The jitter seed.
    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    /// Effects of a step whose CAS this thread won: publish the new period's stamp (the
    /// winner's duty, before anyone is told), count, timestamp, report.
    fn transitioned<R>(&self, s: &Step<R>, now: u64, obs: &impl Observer) {
        if let Some(stamp) = s.stamp {
            self.publish(stamp);
        }
        let n = s.changes.len() as u64;
        if n > 0 {
            // Relaxed: statistics, made once per transition by its unique winner.
            self.transitions.fetch_add(n, Ordering::Relaxed);
            self.last_change.fetch_max(now + 1, Ordering::Relaxed);
            for change in s.changes.iter() {
                obs.changed(change);
            }
        }
    }

    /// Publishes `mine` unless a stamp of the same or a later generation is there already
    /// (a later transition's winner published first): monotone, so a winner descheduled
    /// across any number of transitions can never overwrite a newer stamp.
    fn publish(&self, mine: Stamp) {
        let mut cur = self.stamp.load();
        while cur.generation() < mine.generation() {
            failpoints::hit("publish.before_cas");
            match self.stamp.compare_exchange(cur, mine) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// State changes since creation.
    pub(crate) fn transitions(&self) -> u64 {
        // Relaxed: a statistic.
        self.transitions.load(Ordering::Relaxed)
    }

    /// µs of the last failure and of the last state change, if any.
    pub(crate) fn times(&self) -> (Option<u64>, Option<u64>) {
        // Relaxed: statistics.
        let t = |a: &AtomicU64| a.load(Ordering::Relaxed).checked_sub(1);
        (t(&self.last_failure), t(&self.last_change))
    }

    /// Bytes of the counter stripes.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.stripes.heap_bytes()
    }
}

/// Enters an outcome of `ticket`'s generation into the window and returns the window's
/// verdict (P2, P3). The window judges every outcome that could trip it (a success too: in
/// a time window once older successes have left); it skips the sum only for a plain
/// success it proves harmless (window.rs, "Skipping the sum"). `epoch` is the outcome's
/// bucket in a time window (`RateWindow::epoch_of`), ignored by a count window.
#[inline(always)]
fn judge(
    win: &RateWindow,
    ticket: Ticket,
    failure: bool,
    slow: bool,
    epoch: u64,
    lim: &Limits,
) -> Option<Cause> {
    win.add(
        ticket.generation(),
        failure,
        slow,
        epoch,
        u64::from(lim.minimum_calls),
        |t| transition::rate_verdict(t.outcomes, t.failures, t.slow, lim),
    )
    .verdict()
}
