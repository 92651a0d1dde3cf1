//! The circuit breaker: the atomic plumbing around [`crate::transition`].
//!
//! # Orderings
//!
//! The state word is the one source of truth. Every change to it is a
//! `compare_exchange_weak(cur, next, AcqRel, Acquire)`: the Release half publishes the
//! transition (and anything its maker did before it) to every thread that later loads the
//! word with Acquire; the Acquire half orders the winner after the word it replaced. The
//! deadline stamp is published after the word (see [`crate::word`]) with AcqRel and read
//! with Acquire *before* re-checking the word, so "stamp of another generation while the
//! word is unchanged" reliably means "not yet published". Counters and timestamps are
//! statistics and use Relaxed (see [`crate::counters`]).

use std::fmt;
use std::sync::Arc;

use crossbeam_utils::Backoff;

use crate::clock::Clock;
use crate::counters::{self, Cells, Counter, Counters, Stripes};
use crate::error::Name;
use crate::listeners::Listeners;
use crate::sync::{AtomicU64, Ordering};
use crate::transition::{self, Admission, Step, Ticket, View};
use crate::word::{AtomicStamp, AtomicWord, Stamp, Word};
use crate::{Config, Error, Metrics, Outcome, OwnedPermit, Permit, Rejected, State, StateChange};

/// A lock-free circuit breaker.
///
/// Share it as `&CircuitBreaker` or `Arc<CircuitBreaker>`; every method takes `&self`.
/// Admission on a closed breaker is one atomic load plus an uncontended counter bump;
/// see the crate docs for the design.
///
/// # Examples
///
/// ```
/// use breakerbox::{CircuitBreaker, Config, State};
/// use std::time::Duration;
///
/// let config = Config::builder()
///     .failure_threshold(2)
///     .timeout(Duration::from_secs(30))
///     .build()?;
/// let breaker = CircuitBreaker::with_config("inventory", config);
///
/// for _ in 0..2 {
///     let _ = breaker.call(|| Err::<(), _>("timeout"));
/// }
/// assert_eq!(breaker.state(), State::Open);
/// let err = breaker.call(|| Ok::<_, &str>("never runs")).unwrap_err();
/// assert!(err.is_rejected());
/// # Ok::<(), breakerbox::ConfigError>(())
/// ```
pub struct CircuitBreaker {
    /// The one line every call reads: the state word, the counters' stripe table, and the
    /// fields written only on failures and transitions, which write the word anyway.
    core: Core,
    /// The counters' base line: written by one thread while the breaker is uncontended.
    counters: Counters,
    clock: Clock,
    reject_name: Name,
    name: Arc<str>,
    config: Config,
    listeners: Listeners,
}

/// 64 bytes in one 64-byte line. Not crossbeam's 128-byte `CachePadded`: the breaker's other
/// fields are read-only after construction, so nothing written shares the line but the
/// fields that are written together anyway, and 64 bytes keep the breaker small.
#[repr(align(64))]
struct Core {
    word: AtomicWord,
    stamp: AtomicStamp,
    stripes: Stripes,
    /// State changes since creation.
    transitions: AtomicU64,
    /// µs since the epoch of the last failure, plus one; 0 = never.
    last_failure: AtomicU64,
    /// µs since the epoch of the last state change, plus one; 0 = never.
    last_change: AtomicU64,
}

impl CircuitBreaker {
    /// A breaker with [`Config::default`] and the TSC clock.
    ///
    /// # Examples
    ///
    /// ```
    /// let breaker = breakerbox::CircuitBreaker::new("api");
    /// assert_eq!(breaker.name(), "api");
    /// assert_eq!(breaker.config().failure_threshold(), 5);
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        Self::with_config(name, Config::default())
    }

    /// A breaker with `config` and the TSC clock.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{CircuitBreaker, Config};
    ///
    /// let config = Config::builder().failure_threshold(10).build()?;
    /// let breaker = CircuitBreaker::with_config("db", config);
    /// assert_eq!(breaker.config().failure_threshold(), 10);
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn with_config(name: impl Into<String>, config: Config) -> Self {
        Self::with_clock(name, config, crate::clock::shared())
    }

    /// A breaker reading time from `clock`; pass [`quanta::Clock::mock`] in tests to step
    /// time by hand.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{quanta, CircuitBreaker, Config, State};
    /// use std::time::Duration;
    ///
    /// let (clock, mock) = quanta::Clock::mock();
    /// let config = Config::builder().failure_threshold(1).timeout(Duration::from_secs(5)).build()?;
    /// let breaker = CircuitBreaker::with_clock("mocked", config, clock);
    /// breaker.force_open();
    /// mock.increment(Duration::from_secs(5));
    /// assert_eq!(breaker.state(), State::HalfOpen);
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn with_clock(name: impl Into<String>, config: Config, clock: quanta::Clock) -> Self {
        let name: Arc<str> = Arc::from(name.into());
        CircuitBreaker {
            core: Core {
                word: AtomicWord::new(Word::new(State::Closed, 0)),
                stamp: AtomicStamp::new(Stamp::new(0, 0)),
                stripes: Stripes::new(),
                transitions: AtomicU64::new(0),
                last_failure: AtomicU64::new(0),
                last_change: AtomicU64::new(0),
            },
            counters: Counters::new(),
            clock: Clock::new(clock),
            reject_name: Name::new(&name),
            name,
            config,
            listeners: Listeners::new(),
        }
    }

    /// The breaker's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let breaker = breakerbox::CircuitBreaker::new("payments");
    /// assert_eq!(breaker.name(), "payments");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The breaker's configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// let breaker = breakerbox::CircuitBreaker::new("payments");
    /// assert_eq!(breaker.config().timeout(), std::time::Duration::from_secs(60));
    /// ```
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs `f` if the breaker admits the call; every `Err` counts as a failure.
    ///
    /// A panic in `f` records a failure and resumes unwinding; the breaker stays usable.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] without running `f` when the breaker does not admit the call;
    /// [`Error::Inner`] with `f`'s error.
    ///
    /// # Examples
    ///
    /// ```
    /// let breaker = breakerbox::CircuitBreaker::new("api");
    /// let answer = breaker.call(|| Ok::<_, std::io::Error>(42))?;
    /// assert_eq!(answer, 42);
    /// # Ok::<(), breakerbox::Error<std::io::Error>>(())
    /// ```
    #[inline]
    pub fn call<T, E, F>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.call_with(|_| true, f)
    }

    /// Runs `f` if admitted; only errors for which `is_failure` returns true count as
    /// failures. Any other `Err` is returned and counts as a success: the service answered.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    ///
    /// # Examples
    ///
    /// ```
    /// let breaker = breakerbox::CircuitBreaker::new("http");
    /// // A 404 is the service answering: not a failure.
    /// let res = breaker.call_with(|status: &u16| *status >= 500, || Err::<(), u16>(404));
    /// assert!(res.is_err());
    /// assert_eq!(breaker.metrics().successful_calls, 1);
    /// ```
    #[inline]
    pub fn call_with<T, E, P, F>(&self, is_failure: P, f: F) -> Result<T, Error<E>>
    where
        P: FnOnce(&E) -> bool,
        F: FnOnce() -> Result<T, E>,
    {
        let cells = self.cells();
        let ticket = self.admit(cells)?;
        // Records a failure if `f` or `is_failure` panics: dropped only while unwinding.
        let unwind = Unwind {
            breaker: self,
            ticket,
            cells,
        };
        let result = f();
        let outcome = match &result {
            Err(e) if is_failure(e) => Outcome::Failure,
            _ => Outcome::Success,
        };
        std::mem::forget(unwind);
        self.settle(cells, ticket, outcome);
        result.map_err(Error::Inner)
    }

    /// Asks to make one call: the guard API, and the hot path.
    ///
    /// On a closed breaker this is one atomic load and one bump of this thread's own counter
    /// stripe: wait-free, allocation-free, and it writes no line another core writes.
    ///
    /// # Errors
    ///
    /// [`Rejected`] when the breaker is open, or half-open with every probe slot taken.
    ///
    /// # Examples
    ///
    /// ```
    /// let breaker = breakerbox::CircuitBreaker::new("api");
    /// let permit = breaker.try_acquire()?;
    /// permit.success();
    /// # Ok::<(), breakerbox::Rejected>(())
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        self.admit(self.cells()).map(|t| Permit::new(self, t))
    }

    /// [`try_acquire`](Self::try_acquire) for a permit that owns an `Arc` of the breaker and
    /// can move into a spawned task.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let breaker = Arc::new(breakerbox::CircuitBreaker::new("jobs"));
    /// let permit = breaker.try_acquire_owned()?;
    /// std::thread::spawn(move || permit.failure()).join().unwrap();
    /// assert_eq!(breaker.metrics().failed_calls, 1);
    /// # Ok::<(), breakerbox::Rejected>(())
    /// ```
    pub fn try_acquire_owned(self: &Arc<Self>) -> Result<OwnedPermit, Rejected> {
        self.admit(self.cells())
            .map(|t| OwnedPermit::new(Arc::clone(self), t))
    }

    /// The calling thread's counter cells in this breaker.
    #[inline]
    pub(crate) fn cells(&self) -> Cells<'_> {
        self.counters.cells(&self.core.stripes, counters::slot())
    }

    /// Admission, counted in `cells` (the calling thread's, from [`Self::cells`]).
    #[inline]
    fn admit(&self, cells: Cells<'_>) -> Result<Ticket, Rejected> {
        cells.bump(Counter::Total);
        // Acquire: pairs with the Release half of the CAS that installed this word, so the
        // decisions this permit later drives come after that transition.
        let w = self.core.word.load(Ordering::Acquire);
        if w.state() == State::Closed {
            return Ok(Ticket {
                generation: w.generation(),
                probe: false,
            });
        }
        self.admit_slow(w, cells)
    }

    #[inline(never)]
    fn admit_slow(&self, w: Word, cells: Cells<'_>) -> Result<Ticket, Rejected> {
        match self.drive(w, |v, now| {
            transition::acquire(v, now, &self.config.limits())
        }) {
            Admission::Admitted(ticket) => Ok(ticket),
            Admission::Rejected {
                state,
                retry_after_us,
            } => {
                cells.bump(Counter::Rejected);
                Err(Rejected::new(
                    self.reject_name.clone(),
                    state,
                    retry_after_us,
                ))
            }
        }
    }

    /// Records a permit's outcome: counts it in `cells` (the recording thread's), then
    /// drives the state machine unless the outcome cannot change it.
    #[inline]
    pub(crate) fn settle(&self, cells: Cells<'_>, ticket: Ticket, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Success => Counter::Success,
            Outcome::Failure => Counter::Failure,
            Outcome::Ignored => Counter::Ignored,
        };
        cells.bump(counter);
        match outcome {
            Outcome::Success => {
                // Acquire: as in `admit`.
                let w = self.core.word.load(Ordering::Acquire);
                // `transition::record` leaves the quiet word unchanged: skip the write.
                if w != ticket.quiet_word() {
                    self.settle_slow(w, ticket, outcome);
                }
            }
            // An ignored closed-state call changes nothing (`transition::record`).
            Outcome::Ignored if !ticket.probe => {}
            // Acquire: as in `admit`.
            _ => self.settle_slow(self.core.word.load(Ordering::Acquire), ticket, outcome),
        }
    }

    #[inline(never)]
    fn settle_slow(&self, w: Word, ticket: Ticket, outcome: Outcome) {
        if outcome == Outcome::Failure {
            let now = self.clock.now_us();
            // Relaxed: a statistic; fetch_max keeps the latest under races.
            self.core.last_failure.fetch_max(now + 1, Ordering::Relaxed);
        }
        if w.generation() != ticket.generation {
            return; // Stale: counted above, never drives the machine (semantics 5).
        }
        self.drive(w, |v, now| {
            transition::record(v, ticket, outcome, now, &self.config.limits())
        });
    }

    /// The CAS loop: decide with the pure `step`, install its word, retry on interference.
    ///
    /// The clock is read after every (re)load of the word and of the stamp (in
    /// [`Self::view`]): a thread that sees a transition or a deadline made from time `t`
    /// then reads a time `>= t`, so no decision (`retry_after`, expiry, a new deadline)
    /// mixes a word or a deadline with an older time.
    fn drive<R>(&self, mut w: Word, step: impl Fn(View, u64) -> Step<R>) -> R {
        let backoff = Backoff::new();
        loop {
            let (view, now) = match self.view(w) {
                Ok(read) => read,
                Err(fresh) => {
                    w = fresh;
                    continue;
                }
            };
            let s = step(view, now);
            if s.next == w {
                return s.result;
            }
            // AcqRel / Acquire: see the module docs.
            match self.core.word.compare_exchange_weak(
                w,
                s.next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if s.next.generation() != w.generation() {
                        self.transitioned(w, s.next, s.deadline, now);
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

    /// The view of `w` for a caller about to act on it, and the time to act at; publishes
    /// `w`'s deadline if nobody has yet (the period then counts from this caller's time).
    /// `Err` with the current word if `w`'s generation is gone.
    ///
    /// The clock is read after the word and after the stamp: every published deadline was
    /// computed from a time read before its publication, so the time returned is never
    /// older than the start of the period (`retry_after` never exceeds the timeout).
    fn view(&self, w: Word) -> Result<(View, u64), Word> {
        if w.state() == State::Closed {
            let view = View {
                word: w,
                deadline: 0,
            };
            return Ok((view, self.clock.now_us()));
        }
        loop {
            // Acquire: read the stamp before re-checking the word (module docs).
            let stamp = self.core.stamp.load(Ordering::Acquire);
            let now = self.clock.now_us();
            if stamp.belongs_to(w.generation()) {
                let deadline = stamp.deadline();
                return Ok((View { word: w, deadline }, now));
            }
            let deadline = self.config.limits().deadline(w.state(), now);
            match self.publish(w, deadline, stamp)? {
                Some(deadline) => return Ok((View { word: w, deadline }, now)),
                // Another thread published first, from a time we may not have seen yet:
                // read its stamp, and then the clock, again.
                None => continue,
            }
        }
    }

    /// Publishes `deadline` as the stamp of `w`'s generation: `Some(deadline)` if this call
    /// published it, `None` if another thread published one for the generation first, `Err`
    /// with the current word if the generation is gone. `stamp` must have been loaded
    /// before this call.
    ///
    /// The stamp is replaced only while the word still has `w`'s generation, and by a CAS
    /// from a value read before that check, so a late publisher can never overwrite the
    /// stamp of a later generation.
    fn publish(&self, w: Word, deadline: u64, mut stamp: Stamp) -> Result<Option<u64>, Word> {
        loop {
            if stamp.belongs_to(w.generation()) {
                return Ok(None);
            }
            // Acquire: as in `admit`.
            let current = self.core.word.load(Ordering::Acquire);
            if current.generation() != w.generation() {
                return Err(current);
            }
            let mine = Stamp::new(w.generation(), deadline);
            // AcqRel: Release publishes the deadline; Acquire on failure re-reads it.
            match self
                .core
                .stamp
                .compare_exchange(stamp, mine, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(Some(deadline)),
                Err(actual) => stamp = actual,
            }
        }
    }

    /// A pure reading: writes nothing. Returns the view and the time it was read at, read
    /// after the word and the stamp as in [`Self::view`]. An unpublished deadline counts as
    /// a period that started now (its maker is between its two writes).
    fn snapshot(&self) -> (View, u64) {
        loop {
            // Acquire: as in `admit`.
            let w = self.core.word.load(Ordering::Acquire);
            if w.state() == State::Closed {
                let view = View {
                    word: w,
                    deadline: 0,
                };
                return (view, self.clock.now_us());
            }
            // Acquire: read the stamp before re-checking the word (module docs).
            let stamp = self.core.stamp.load(Ordering::Acquire);
            let now = self.clock.now_us();
            if stamp.belongs_to(w.generation()) {
                let deadline = stamp.deadline();
                return (View { word: w, deadline }, now);
            }
            // Acquire: as in `admit`.
            if self.core.word.load(Ordering::Acquire) == w {
                let deadline = self.config.limits().deadline(w.state(), now);
                return (View { word: w, deadline }, now);
            }
        }
    }

    /// Effects of a transition `from` → `to` that this thread's CAS made; `deadline` is the
    /// new period's, from the step (unused for Closed).
    fn transitioned(&self, from: Word, to: Word, deadline: u64, now: u64) {
        // Publish the new generation's stamp (the deadline the transition function chose)
        // before anyone is told, on every transition, Closed too: the stamp then never lags
        // the word by more than the transitions in flight, so its 12-bit tag cannot alias an
        // old generation.
        // Acquire: read the stamp before re-checking the word (module docs).
        let _ = self.publish(to, deadline, self.core.stamp.load(Ordering::Acquire));
        if from.state() != to.state() {
            // Relaxed: statistics, made once per transition by its unique winner.
            self.core.transitions.fetch_add(1, Ordering::Relaxed);
            self.core.last_change.fetch_max(now + 1, Ordering::Relaxed);
            self.listeners.notify(|| StateChange {
                name: self.name.to_string(),
                from: from.state(),
                to: to.state(),
            });
        }
    }

    /// Whether [`try_acquire`](Self::try_acquire) would admit a call now. A pure read.
    ///
    /// # Examples
    ///
    /// ```
    /// let breaker = breakerbox::CircuitBreaker::new("api");
    /// assert!(breaker.is_available());
    /// breaker.force_open();
    /// assert!(!breaker.is_available());
    /// ```
    pub fn is_available(&self) -> bool {
        // Acquire: as in `admit`.
        if self.core.word.load(Ordering::Acquire).state() == State::Closed {
            return true;
        }
        let (view, now) = self.snapshot();
        transition::available(view, now, &self.config.limits())
    }

    /// The effective state now: an open breaker whose timeout has passed reports
    /// [`State::HalfOpen`], a half-open one whose half-open timeout has passed reports
    /// [`State::Open`]. A pure read: it never changes the breaker.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{CircuitBreaker, State};
    /// let breaker = CircuitBreaker::new("api");
    /// assert_eq!(breaker.state(), State::Closed);
    /// ```
    pub fn state(&self) -> State {
        // Acquire: as in `admit`.
        if self.core.word.load(Ordering::Acquire).state() == State::Closed {
            return State::Closed;
        }
        let (view, now) = self.snapshot();
        transition::effective(view, now)
    }

    /// A snapshot of the counters and the effective state. A pure read.
    ///
    /// # Examples
    ///
    /// ```
    /// let breaker = breakerbox::CircuitBreaker::new("api");
    /// breaker.force_open();
    /// let _ = breaker.try_acquire();
    /// let m = breaker.metrics();
    /// assert_eq!((m.total_calls, m.rejected_calls, m.state_transitions), (1, 1, 1));
    /// ```
    pub fn metrics(&self) -> Metrics {
        let (view, now) = self.snapshot();
        let time = |t: &AtomicU64| {
            // Relaxed: statistics.
            let t = t.load(Ordering::Relaxed);
            (t > 0).then(|| self.clock.system_time(t - 1))
        };
        // Outcomes before the total, so a snapshot taken under traffic never shows more
        // outcomes than calls.
        let successful_calls = self.counters.sum(&self.core.stripes, Counter::Success);
        let failed_calls = self.counters.sum(&self.core.stripes, Counter::Failure);
        let ignored_calls = self.counters.sum(&self.core.stripes, Counter::Ignored);
        let rejected_calls = self.counters.sum(&self.core.stripes, Counter::Rejected);
        Metrics {
            state: transition::effective(view, now),
            total_calls: self.counters.sum(&self.core.stripes, Counter::Total),
            successful_calls,
            failed_calls,
            ignored_calls,
            rejected_calls,
            consecutive_failures: match view.word.state() {
                State::Closed => view.word.failures(),
                _ => 0,
            },
            // Relaxed: statistics.
            state_transitions: self.core.transitions.load(Ordering::Relaxed),
            last_failure_time: time(&self.core.last_failure),
            last_state_change: time(&self.core.last_change),
        }
    }

    /// Back to Closed, failure streak and probe counts cleared; metrics are kept.
    /// Counts as a transition (and notifies listeners) only when the state changes; always
    /// starts a new generation, so permits taken before it are stale.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{CircuitBreaker, State};
    /// let breaker = CircuitBreaker::new("api");
    /// breaker.force_open();
    /// breaker.reset();
    /// assert_eq!(breaker.state(), State::Closed);
    /// assert_eq!(breaker.metrics().state_transitions, 2);
    /// ```
    pub fn reset(&self) {
        // Acquire: as in `admit`.
        let w = self.core.word.load(Ordering::Acquire);
        self.drive(w, |v, _| transition::reset(v));
    }

    /// To Open now, with a fresh `timeout`. On an open breaker it only restarts the timeout
    /// (no transition counted, no listener called).
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{CircuitBreaker, State};
    /// let breaker = CircuitBreaker::new("api");
    /// breaker.force_open();
    /// assert_eq!(breaker.state(), State::Open);
    /// ```
    pub fn force_open(&self) {
        // Acquire: as in `admit`.
        let w = self.core.word.load(Ordering::Acquire);
        self.drive(w, |v, now| {
            transition::force_open(v, now, &self.config.limits())
        });
    }

    /// Registers `listener`, called once per state change, after the change is published,
    /// on the thread that made it, in registration order, with no lock of the breaker held.
    /// A panicking listener is caught; later listeners still run.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::CircuitBreaker;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let changes = Arc::new(AtomicUsize::new(0));
    /// let breaker = CircuitBreaker::new("api");
    /// let seen = changes.clone();
    /// breaker.on_state_change(move |_| { seen.fetch_add(1, Ordering::Relaxed); });
    /// breaker.force_open();
    /// breaker.force_open(); // already open: no change
    /// assert_eq!(changes.load(Ordering::Relaxed), 1);
    /// ```
    pub fn on_state_change<F>(&self, listener: F)
    where
        F: Fn(&StateChange) + Send + Sync + 'static,
    {
        self.listeners.add(Arc::new(listener));
    }

    /// Approximate bytes this breaker occupies, excluding its name and listeners: the
    /// breaker itself plus its counter stripes.
    ///
    /// # Examples
    ///
    /// ```
    /// let breaker = breakerbox::CircuitBreaker::new("api");
    /// assert!(breaker.footprint() >= std::mem::size_of::<breakerbox::CircuitBreaker>());
    /// ```
    pub fn footprint(&self) -> usize {
        std::mem::size_of::<Self>() + self.core.stripes.heap_bytes()
    }
}

/// Records a failure for a call whose closure panicked (see `call_with`).
struct Unwind<'a> {
    breaker: &'a CircuitBreaker,
    ticket: Ticket,
    cells: Cells<'a>,
}

impl Drop for Unwind<'_> {
    fn drop(&mut self) {
        self.breaker
            .settle(self.cells, self.ticket, Outcome::Failure);
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name())
            .field("state", &self.state())
            .field("config", &self.config)
            .field("listeners", &self.listeners)
            .finish()
    }
}
#[cfg(all(test, not(loom), target_pointer_width = "64"))]
mod layout {
    use super::*;

    #[test]
    fn the_hot_line_is_one_line_and_the_breaker_five() {
        // Word, stamp, stripe table and the rarely written statistics share one line.
        assert_eq!(std::mem::size_of::<Core>(), 64);
        assert_eq!(std::mem::align_of::<Core>(), 64);
        // The counters' base line, then what is read-only after construction: four more.
        assert!(std::mem::size_of::<CircuitBreaker>() <= 320);
        let b = CircuitBreaker::new("layout");
        assert_eq!(b.footprint(), 320 + b.core.stripes.heap_bytes());
    }
}
