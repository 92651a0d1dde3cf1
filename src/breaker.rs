//! The circuit breaker's public face: calls, the guard API, queries and operator
//! overrides. The atomic machinery lives in [`crate::engine`]; every decision in
//! [`crate::transition`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::counters::{Cells, Counter};
use crate::engine::{Engine, Observer, Refusal};
use crate::error::Name;
use crate::listeners::Listeners;
use crate::transition::{self, Change, Operator, Ticket};
use crate::window::RateWindow;
use crate::word::Phase;
use crate::{
    Config, Error, Metrics, Mode, Outcome, OwnedPermit, Permit, Rejected, State, StateChange,
};

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
    engine: Engine,
    /// The sliding window, allocated only when configured.
    window: Option<Box<RateWindow>>,
    reject_name: Name,
    name: Arc<str>,
    config: Box<Config>,
    listeners: Listeners,
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

    /// A breaker with `config` and the TSC clock, or the process's coarse clock if
    /// `config` asks for [`ClockPrecision::Coarse`](crate::ClockPrecision::Coarse).
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
        let clock = crate::clock::for_precision(config.clock_precision());
        Self::build(name, config, clock)
    }

    /// A breaker reading time from `clock`; pass [`quanta::Clock::mock`] in tests to step
    /// time by hand. It reads `clock` whatever the config's
    /// [`clock_precision`](Config::clock_precision) says (so a mock stays deterministic, and
    /// no clock thread starts); [`ClockPrecision::Coarse`](crate::ClockPrecision::Coarse)
    /// takes effect through [`with_config`](Self::with_config), [`new`](Self::new) and the
    /// [`Registry`](crate::Registry).
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
        Self::build(name, config, Clock::new(clock))
    }

    /// A breaker reading `clock` (precise, or with the coarse clock beside it).
    pub(crate) fn build(name: impl Into<String>, config: Config, clock: Clock) -> Self {
        let name: Arc<str> = Arc::from(name.into());
        let seed = config.jitter_seed().unwrap_or_else(random_seed);
        CircuitBreaker {
            engine: Engine::new(clock, seed, config.slow_call_duration().is_some()),
            window: RateWindow::for_config(&config).map(Box::new),
            reject_name: Name::new(&name),
            name,
            config: Box::new(config),
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
        self.call_classified(classify_errors, f)
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
        self.call_classified(|r: &Result<T, E>| classify_with(is_failure, r), f)
    }

    /// Runs `f` if admitted and records the [`Outcome`] `classify` gives its whole result:
    /// an `Ok` can be a failure (a "successful" reply that says the service is broken), an
    /// `Err` can be a success or [`Outcome::Ignored`] (a client's own mistake).
    ///
    /// A panic in `f` or `classify` records a failure and resumes unwinding.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{CircuitBreaker, Outcome};
    ///
    /// let breaker = CircuitBreaker::new("search");
    /// // An empty answer from a search backend means its index is broken.
    /// let classify = |r: &Result<Vec<u32>, String>| match r {
    ///     Ok(hits) if hits.is_empty() => Outcome::Failure,
    ///     Ok(_) => Outcome::Success,
    ///     Err(_) => Outcome::Ignored,
    /// };
    /// let hits = breaker.call_classified(classify, || Ok::<_, String>(vec![]))?;
    /// assert!(hits.is_empty());
    /// assert_eq!(breaker.metrics().failed_calls, 1);
    /// # Ok::<(), breakerbox::Error<String>>(())
    /// ```
    #[inline(always)]
    pub fn call_classified<T, E, C, F>(&self, classify: C, f: F) -> Result<T, Error<E>>
    where
        C: FnOnce(&Result<T, E>) -> Outcome,
        F: FnOnce() -> Result<T, E>,
    {
        let cells = self.engine.cells();
        // The engine's small result, not `Result<Ticket, Rejected>`: the rejection (with its
        // inline copy of the name) is built only on the cold path.
        let ticket = match self.engine.admit(cells, self.config.limits(), self) {
            Ok(ticket) => ticket,
            Err(refusal) => return Err(Error::Rejected(self.rejected(refusal))),
        };
        // Records a failure if `f` or `classify` panics: dropped only while unwinding.
        let unwind = Unwind {
            breaker: self,
            ticket,
        };
        let result = f();
        let outcome = classify(&result);
        std::mem::forget(unwind);
        self.finish(cells, ticket, outcome);
        result.map_err(Error::Inner)
    }

    /// Asks to make one call: the guard API, and the hot path.
    ///
    /// On a closed breaker this is one atomic load and one bump of this thread's own counter
    /// stripe: wait-free, allocation-free, and it writes no line another core writes. With
    /// `slow_call_duration` set it also reads the clock: the permit times itself (P2).
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
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        self.admit(self.engine.cells())
            .map(|t| Permit::new(self, t))
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
        self.admit(self.engine.cells())
            .map(|t| OwnedPermit::new(Arc::clone(self), t))
    }

    /// Admission, counted in `cells` (the calling thread's).
    #[inline(always)]
    pub(crate) fn admit(&self, cells: Cells<'_>) -> Result<Ticket, Rejected> {
        self.engine
            .admit(cells, self.config.limits(), self)
            .map_err(|r| self.rejected(r))
    }

    #[cold]
    fn rejected(&self, r: Refusal) -> Rejected {
        Rejected::new(self.reject_name.clone(), r.state, r.retry_after_us)
    }

    /// Records `outcome` for `ticket` (the engine times it for the slow-call rule).
    #[inline(always)]
    pub(crate) fn finish(&self, cells: Cells<'_>, ticket: Ticket, outcome: Outcome) {
        let lim = self.config.limits();
        self.engine
            .settle(cells, ticket, outcome, lim, self.window.as_deref(), self);
    }

    /// Records the outcome of a permit or call dropped before it recorded one: Failure
    /// while panicking; otherwise Ignored, unless it had already run longer than
    /// `slow_call_duration`: then a slow Failure (P9).
    pub(crate) fn abandon(&self, cells: Cells<'_>, ticket: Ticket) {
        let lim = self.config.limits();
        let outcome = if std::thread::panicking()
            || self.engine.timed() && lim.is_slow(ticket.start_us, self.engine.clock().now_us())
        {
            Outcome::Failure
        } else {
            Outcome::Ignored
        };
        self.finish(cells, ticket, outcome);
    }

    /// The calling thread's counter cells.
    #[inline(always)]
    pub(crate) fn cells(&self) -> Cells<'_> {
        self.engine.cells()
    }

    /// Whether [`try_acquire`](Self::try_acquire) would admit a call now. A pure read. In
    /// dry run it is true unless the breaker is isolated.
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
        let lim = self.config.limits();
        let (view, now) = self.engine.snapshot(lim);
        transition::available(view, now, lim, self.engine.seed())
    }

    /// The effective state now: an open breaker whose open period has ended reports
    /// [`State::HalfOpen`]; a half-open one whose half-open period has run out reports
    /// [`State::Open`] until the open period that started then ends. An isolated breaker
    /// reports [`State::Open`]. A pure read: it never changes the breaker.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{CircuitBreaker, State};
    /// let breaker = CircuitBreaker::new("api");
    /// assert_eq!(breaker.state(), State::Closed);
    /// ```
    pub fn state(&self) -> State {
        let lim = self.config.limits();
        let (view, now) = self.engine.snapshot(lim);
        transition::effective(view, now, lim, self.engine.seed())
    }

    /// Time until the current open period ends: `Some` only while the breaker is
    /// effectively Open with a deadline (never when isolated). A pure read; the same figure
    /// a rejection's [`Rejected::retry_after`] reports.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let breaker = breakerbox::CircuitBreaker::new("api");
    /// assert_eq!(breaker.retry_after(), None);
    /// breaker.force_open();
    /// assert!(breaker.retry_after().unwrap() <= Duration::from_secs(60));
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        let lim = self.config.limits();
        let (view, now) = self.engine.snapshot(lim);
        transition::retry_after(view, now, lim, self.engine.seed()).map(Duration::from_micros)
    }

    /// The operator override in force.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{CircuitBreaker, Mode};
    /// let breaker = CircuitBreaker::new("api");
    /// breaker.isolate();
    /// assert_eq!(breaker.mode(), Mode::Isolated);
    /// breaker.reset();
    /// assert_eq!(breaker.mode(), Mode::Normal);
    /// ```
    pub fn mode(&self) -> Mode {
        let (view, _) = self.engine.snapshot(self.config.limits());
        match view.word.phase() {
            Phase::Isolated => Mode::Isolated,
            _ if view.word.disabled() => Mode::Disabled,
            _ => Mode::Normal,
        }
    }

    /// A snapshot of the counters, the rates and the effective state. A pure read.
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
        let lim = self.config.limits();
        let (view, now) = self.engine.snapshot(lim);
        let state = transition::effective(view, now, lim, self.engine.seed());
        let clock = self.engine.clock();
        let (last_failure, last_change) = self.engine.times();
        let c = &self.engine;
        // Outcomes before the total, so a snapshot taken under traffic never shows more
        // outcomes than calls.
        let successful_calls = c.sum(Counter::Success);
        let failed_calls = c.sum(Counter::Failure);
        let ignored_calls = c.sum(Counter::Ignored);
        let rejected_calls = c.sum(Counter::Rejected);
        let would_reject_calls = c.sum(Counter::WouldReject);
        let slow_calls = c.sum(Counter::Slow);
        let w = view.word;
        let closed = w.phase() == Phase::Closed && !w.disabled();
        // P3 / P6: rates of the current closed window, once it holds its minimum.
        let (failure_rate, slow_call_rate) = match &self.window {
            Some(win) if closed => {
                let t = win.totals(w.generation(), now);
                let (n, failures, slow) = (t.outcomes, t.failures, t.slow);
                if n > 0 && n >= u64::from(lim.minimum_calls) {
                    let pct = |x: u64| x as f64 * 100.0 / n as f64;
                    (Some(pct(failures)), lim.slow_us.map(|_| pct(slow)))
                } else {
                    (None, None)
                }
            }
            _ => (None, None),
        };
        Metrics {
            state,
            total_calls: c.sum(Counter::Total),
            successful_calls,
            failed_calls,
            ignored_calls,
            rejected_calls,
            consecutive_failures: if closed { w.count() } else { 0 },
            state_transitions: self.engine.transitions(),
            last_failure_time: last_failure.map(|t| clock.system_time(t)),
            last_state_change: last_change.map(|t| clock.system_time(t)),
            slow_calls,
            failure_rate,
            slow_call_rate,
            would_reject_calls,
        }
    }

    /// Back to Closed and [`Mode::Normal`]: failure streak, probe counts and the open streak
    /// cleared, a new empty window; metrics are kept. Counts as a transition (and notifies
    /// listeners) only when the state changes; always starts a new generation, so permits
    /// taken before it are stale.
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
        self.operate(Operator::Reset);
    }

    /// To Open now, for `timeout` (jittered by the backoff's jitter); the open streak is
    /// kept. On an open breaker it only restarts the period (no transition counted, no
    /// listener called); on an isolated one it does nothing; on a disabled one it ends the
    /// override.
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
        self.operate(Operator::ForceOpen);
    }

    /// Open until [`reset`](Self::reset): every call is rejected (dry run or not) with no
    /// `retry_after`, and time never moves it to half-open. Reported as [`State::Open`] and
    /// [`Mode::Isolated`].
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{CircuitBreaker, Mode, State};
    /// let breaker = CircuitBreaker::new("payments");
    /// breaker.isolate();
    /// let rejected = breaker.try_acquire().unwrap_err();
    /// assert_eq!((rejected.state(), rejected.retry_after()), (State::Open, None));
    /// assert_eq!(breaker.mode(), Mode::Isolated);
    /// ```
    pub fn isolate(&self) {
        self.operate(Operator::Isolate);
    }

    /// Closed until [`reset`](Self::reset): every call is admitted, outcomes are counted in
    /// the metrics only (no streak, no window), and the breaker never trips. Reported as
    /// [`Mode::Disabled`].
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{CircuitBreaker, Config, Mode, State};
    /// let breaker = CircuitBreaker::with_config("flaky", Config::builder().failure_threshold(1).build()?);
    /// breaker.disable();
    /// for _ in 0..10 {
    ///     let _ = breaker.call(|| Err::<(), _>("down"));
    /// }
    /// assert_eq!((breaker.state(), breaker.mode()), (State::Closed, Mode::Disabled));
    /// assert_eq!(breaker.metrics().failed_calls, 10);
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn disable(&self) {
        self.operate(Operator::Disable);
    }

    /// Opens the breaker for `open_for` because another replica of a fleet reported a trip
    /// (used by `breakerbox-redis`): like [`force_open`](Self::force_open), but for the given
    /// time, capped at the longest open period the local config can produce, with cause
    /// [`Cause::Remote`](crate::Cause::Remote). No backoff step; the open streak is kept.
    /// Does nothing on an isolated or disabled breaker (an operator's override wins).
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{CircuitBreaker, State};
    /// use std::time::Duration;
    /// let breaker = CircuitBreaker::new("api");
    /// breaker.open_remote(Duration::from_secs(5));
    /// assert_eq!(breaker.state(), State::Open);
    /// assert!(breaker.retry_after().unwrap() <= Duration::from_secs(5));
    /// ```
    pub fn open_remote(&self, open_for: Duration) {
        let longest = self.config.limits().periods.longest_us();
        let period = crate::clock::to_us(open_for).clamp(1, longest);
        self.operate(Operator::Remote(period));
    }

    #[cfg(feature = "failpoints")]
    pub(crate) fn skip_generations(&self, n: u64) {
        self.engine.skip_generations(n);
    }

    fn operate(&self, op: Operator) {
        self.engine.operate(op, self.config.limits(), self);
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
    /// breaker itself, its config, its counter stripes and its window.
    ///
    /// # Examples
    ///
    /// ```
    /// let breaker = breakerbox::CircuitBreaker::new("api");
    /// assert!(breaker.footprint() >= std::mem::size_of::<breakerbox::CircuitBreaker>());
    /// ```
    pub fn footprint(&self) -> usize {
        std::mem::size_of::<Self>()
            + std::mem::size_of::<Config>()
            + self.engine.heap_bytes()
            + self.window.as_ref().map_or(0, |w| w.footprint())
    }
}

impl Observer for CircuitBreaker {
    fn changed(&self, change: Change) {
        self.listeners.notify(|| StateChange {
            name: self.name.to_string(),
            from: change.from,
            to: change.to,
            cause: change.cause,
        });
    }
}

/// Every `Err` is a failure (`call`).
#[inline]
fn classify_errors<T, E>(r: &Result<T, E>) -> Outcome {
    match r {
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    }
}

/// `Err`s for which `is_failure` holds are failures, anything else a success (`call_with`).
#[inline]
pub(crate) fn classify_with<T, E>(
    is_failure: impl FnOnce(&E) -> bool,
    r: &Result<T, E>,
) -> Outcome {
    match r {
        Err(e) if is_failure(e) => Outcome::Failure,
        _ => Outcome::Success,
    }
}

/// A per-breaker jitter seed from the standard library's randomly keyed hasher.
fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0x5EED_u64)
}

/// Records a failure for a call whose closure panicked (see `call_classified`).
struct Unwind<'a> {
    breaker: &'a CircuitBreaker,
    ticket: Ticket,
}

impl Drop for Unwind<'_> {
    fn drop(&mut self) {
        self.breaker.abandon(self.breaker.cells(), self.ticket);
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name())
            .field("state", &self.state())
            .field("mode", &self.mode())
            .field("config", &self.config)
            .field("listeners", &self.listeners)
            .finish()
    }
}

/// The coarse clock decides rejections only where they are certain, on injected clocks.
#[cfg(all(test, not(loom)))]
mod coarse {
    use super::*;
    use crate::State;

    const MS: u64 = 1_000_000;

    /// A breaker open for 20 ms whose coarse clock (1 ms interval) lags the precise one.
    fn open_breaker() -> (CircuitBreaker, Arc<quanta::Mock>, Arc<quanta::Mock>) {
        let (precise, p) = quanta::Clock::mock();
        let (coarse, c) = quanta::Clock::mock();
        let clock = Clock::new(precise).with_coarse(coarse, Duration::from_millis(1));
        let config = Config::builder()
            .timeout(Duration::from_millis(20))
            .build()
            .expect("valid");
        let breaker = CircuitBreaker::build("coarse", config, clock);
        breaker.force_open();
        (breaker, p, c)
    }

    fn retry_after_us(b: &CircuitBreaker) -> Option<u64> {
        let r = b.try_acquire().expect_err("rejected");
        assert_eq!(r.state(), State::Open);
        r.retry_after().map(|d| d.as_micros() as u64)
    }

    #[test]
    fn on_time_the_deadline_is_exact() {
        let (b, p, c) = open_breaker();
        // 18 ms in, the coarse clock 0.5 ms behind: rejected on the coarse bound
        // (18.5 ms + 1.001 ms < 20 ms), retry_after from the bound (at most 1 ms short).
        p.increment(18 * MS);
        c.increment(18 * MS - MS / 2);
        assert_eq!(retry_after_us(&b), Some(20_000 - (17_500 + 1_001)));
        // 19.5 ms in: the bound reaches the deadline, so the precise clock decides: still
        // open, with the exact time left.
        p.increment(MS + MS / 2);
        c.increment(MS + MS / 2);
        assert_eq!(retry_after_us(&b), Some(500));
        // At the deadline: admitted (the first probe), although the coarse clock is behind.
        p.increment(MS / 2);
        c.increment(MS / 2);
        b.try_acquire().expect("the deadline is exact").success();
    }

    /// A breaker with a 10 s time window (1 s buckets) whose coarse clock (1 ms interval)
    /// is driven by hand, both clocks at `start_ms`.
    fn windowed(
        minimum: u32,
        start_ms: u64,
    ) -> (CircuitBreaker, Arc<quanta::Mock>, Arc<quanta::Mock>) {
        let (precise, p) = quanta::Clock::mock();
        let (coarse, c) = quanta::Clock::mock();
        let clock = Clock::new(precise).with_coarse(coarse, Duration::from_millis(1));
        let config = Config::builder()
            .timeout(Duration::from_millis(20))
            .sliding_window(crate::Window::Time(Duration::from_secs(10)))
            .failure_rate_threshold(50.0)
            .minimum_calls(minimum)
            .build()
            .expect("valid");
        p.increment(start_ms * MS);
        c.increment(start_ms * MS);
        (CircuitBreaker::build("coarse-window", config, clock), p, c)
    }

    #[test]
    fn mid_bucket_a_success_is_filed_by_the_coarse_reading() {
        let (b, p, c) = windowed(2, 9_800);
        // The clock thread is 0.7 s late: precise 10.5 s (bucket 10), coarse 9.8 s, its
        // bound 9.801 s (both bucket 9). Successes are filed by the coarse reading, in
        // bucket 9 (early by the thread's lateness, as documented); failures take the
        // general path, which reads the TSC: bucket 10.
        p.increment(700 * MS);
        for _ in 0..3 {
            b.try_acquire().expect("closed").success();
        }
        b.try_acquire().expect("closed").failure();
        b.try_acquire().expect("closed").failure();
        let _ = &c;
        // 18.9 s (bucket 18): buckets 9..=18 hold all five.
        p.increment(8_400 * MS);
        assert_eq!(b.metrics().failure_rate, Some(40.0));
        // 19.5 s (bucket 19): bucket 9 has left, bucket 10 has not.
        p.increment(600 * MS);
        assert_eq!(b.metrics().failure_rate, Some(100.0));
        assert_eq!(b.metrics().failed_calls, 2);
    }

    #[test]
    fn near_a_bucket_edge_a_success_reads_the_tsc() {
        let (b, p, c) = windowed(2, 9_999);
        // On time (0.5 ms behind), but the coarse reading (9.9995 s) and its bound
        // (10.0005 s) straddle the edge of buckets 9 and 10: the TSC decides (10.0002 s,
        // bucket 10).
        p.increment(1_200_000);
        c.increment(500_000);
        b.try_acquire().expect("closed").success();
        b.try_acquire().expect("closed").success();
        // 19.5 s (bucket 19): buckets 10..=19 still hold both; filed in bucket 9 by the
        // coarse reading they would have left.
        p.increment(9_499_800_000);
        assert_eq!(b.metrics().failure_rate, Some(0.0));
        p.increment(MS * 500);
        assert_eq!(b.metrics().failure_rate, None);
    }

    #[test]
    fn a_trip_on_the_coarse_window_opens_at_a_precise_time() {
        let (b, p, c) = windowed(4, 1_000);
        // The clock thread is 5 ms late. Two failures (below the minimum), then the
        // success that brings the window to its minimum trips it at 50 %: the success path
        // decides on the coarse window, and the open period must start at the precise time.
        p.increment(5 * MS);
        let _ = &c;
        b.try_acquire().expect("closed").failure();
        b.try_acquire().expect("closed").failure();
        b.try_acquire().expect("closed").success();
        assert_eq!(b.state(), State::Closed);
        b.try_acquire().expect("closed").success();
        assert_eq!(b.state(), State::Open);
        // An open period started at the coarse reading would end 5 ms early.
        p.increment(20 * MS - 1_000);
        assert_eq!(b.state(), State::Open);
        p.increment(1_000);
        assert_eq!(b.state(), State::HalfOpen);
    }

    #[test]
    fn a_late_clock_thread_makes_rejections_late_never_early() {
        let (b, p, c) = open_breaker();
        // The precise time is past the deadline, the coarse clock 5 ms behind (its thread
        // descheduled): the bound is below the deadline, so the call is still rejected.
        p.increment(21 * MS);
        c.increment(16 * MS);
        assert!(retry_after_us(&b).is_some());
        // Queries read the precise clock.
        assert_eq!(b.state(), State::HalfOpen);
        // Once the thread ticks again, admitted.
        c.increment(5 * MS);
        b.try_acquire().expect("caught up").success();
    }
}

#[cfg(all(test, not(loom), target_pointer_width = "64"))]
mod layout {
    use super::*;

    #[test]
    fn an_uncontended_breaker_stays_small() {
        let b = CircuitBreaker::new("layout");
        assert!(
            std::mem::size_of::<CircuitBreaker>() <= 384,
            "{}",
            std::mem::size_of::<CircuitBreaker>()
        );
        assert!(b.footprint() >= std::mem::size_of::<CircuitBreaker>());
    }
}
