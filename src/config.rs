//! Breaker configuration, its builder and validation.

use std::fmt;
use std::time::Duration;

use crate::backoff::{Backoff, Periods};
use crate::clock::to_us;
use crate::transition::Limits;

/// The sliding window behind the failure-rate and slow-call-rate rules (API.md P1–P6).
///
/// # Examples
///
/// ```
/// use breakerbox::{Config, Window};
/// use std::time::Duration;
///
/// // Open when at least half of the last 100 calls failed, once 20 were seen.
/// let by_count = Config::builder()
///     .sliding_window(Window::Calls(100))
///     .failure_rate_threshold(50.0)
///     .minimum_calls(20)
///     .build()?;
/// assert_eq!(by_count.sliding_window(), Some(Window::Calls(100)));
///
/// // The same over the last 10 seconds.
/// let by_time = Config::builder().sliding_window(Window::Time(Duration::from_secs(10))).build()?;
/// assert!(!by_time.trips_on_consecutive_failures());
/// # Ok::<(), breakerbox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Window {
    /// The last `n` recorded outcomes, `1..=Config::MAX_WINDOW_CALLS`.
    Calls(u32),
    /// The outcomes recorded in the last `d`,
    /// `Config::MIN_WINDOW_TIME..=Config::MAX_WINDOW_TIME`, kept in 10 equal buckets: an
    /// outcome leaves the window between `d - d/10` and `d` after it entered (with
    /// [`ClockPrecision::Coarse`], a success may leave early by the clock thread's
    /// lateness, when the OS wakes it late: see there).
    Time(Duration),
}

/// How a breaker reads the time: the hardware clock on every read (the default), or a
/// coarse process-wide clock that one background thread advances every interval.
///
/// A breaker reads the time on every call that is not a plain closed-state admission: every
/// rejection by an open breaker, every failure, every half-open probe (and every call, with
/// `slow_call_duration` set or a [`Window::Time`]). [`Precise`](ClockPrecision::Precise)
/// reads the TSC each time (`rdtsc` and a scaling, about 13 ns on the VM we measure on).
/// [`Coarse`](ClockPrecision::Coarse) reads one shared atomic instead in two places, so a
/// rejection, and almost every time-window success, touch no hardware clock at all. The
/// choice is made once, when the breaker is built: a precise breaker pays nothing for it.
///
/// # The trade
///
/// * **Only rejections and a time window's successes read it.** Transitions, deadlines,
///   slow-call timing, failures and the `SystemTime`s in [`Metrics`](crate::Metrics) keep
///   the precise clock.
/// * **A [`Window::Time`] success.** It is filed in its bucket by the coarse reading when
///   the reading and its bound (the reading plus one interval) fall in one bucket, which is
///   then the exact bucket; when they straddle a bucket's edge (one interval in every bucket
///   width: 0.1 % of the time for 1 ms next to `Time(10 s)`'s 1 s buckets) the TSC decides.
///   Failures, slow calls, the rates in `Metrics` and the trips a window causes read the
///   precise clock. So while the clock thread keeps time the window is exactly as precise
///   (P4: an outcome leaves it between `d - d/10` and `d` after it entered); if the OS wakes
///   the thread late by more than its interval, a success may be filed in an older bucket,
///   and leave the window early, by that lateness.
/// * **Rejections.** An open breaker rejects on the coarse reading plus one interval (a
///   bound of the real time while the clock thread keeps time) only while that bound is
///   before the period's deadline; in the period's last interval the precise clock decides.
///   So the period ends on time, never early, and late only when the OS wakes the clock
///   thread late (by that lateness). [`Rejected::retry_after`](crate::Rejected::retry_after)
///   of a coarse rejection may be up to one interval short (or long by the thread's
///   lateness, when it is late); [`state`](crate::CircuitBreaker::state) and
///   [`is_available`](crate::CircuitBreaker::is_available) read the precise clock, so while
///   the thread is late they may report half-open before `try_acquire` admits.
/// * **One thread per process.** The first breaker built with a coarse config starts a
///   thread named `breakerbox-tick` that sleeps between ticks and runs until the process
///   exits; breakers with the precise clock never start it. All coarse breakers share it and
///   its clock: it ticks at the smallest interval any of them asked for (a later, shorter
///   request shortens it at once; it never lengthens).
///   [`coarse_clock_interval`](crate::coarse_clock_interval) reports the interval and
///   [`coarse_clock`](crate::coarse_clock) hands out the clock.
/// * **Fallback.** If the thread cannot be spawned, the breaker uses the precise clock (no
///   panic, no error); the next coarse breaker tries again.
/// * **Where it applies.** [`CircuitBreaker::new`](crate::CircuitBreaker::new),
///   [`with_config`](crate::CircuitBreaker::with_config) and the
///   [`Registry`](crate::Registry) follow this setting;
///   [`with_clock`](crate::CircuitBreaker::with_clock) reads only the clock it is given, so
///   tests with [`quanta::Clock::mock`] stay deterministic whatever the precision.
/// * **Independent of quanta's own coarse time.** The thread drives a clock of its own; it
///   neither starts nor needs a [`quanta::Upkeep`] (one per process, perhaps owned and
///   stopped by another crate) and leaves [`quanta::Clock::recent`] alone.
///
/// Pick an interval well below `timeout`: 1 ms next to a 30 s timeout changes nothing a
/// user can see.
///
/// # Examples
///
/// ```
/// use breakerbox::{CircuitBreaker, ClockPrecision, Config, State};
/// use std::time::Duration;
///
/// let config = Config::builder()
///     .timeout(Duration::from_secs(30))
///     .clock_precision(ClockPrecision::Coarse(Duration::from_millis(1)))
///     .build()?;
/// let breaker = CircuitBreaker::with_config("search", config);
/// breaker.force_open();
/// // Rejected without reading the TSC; retry_after is accurate to about 1 ms.
/// let rejected = breaker.try_acquire().unwrap_err();
/// assert_eq!(rejected.state(), State::Open);
/// assert!(rejected.retry_after().unwrap() > Duration::from_secs(29));
/// # Ok::<(), breakerbox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClockPrecision {
    /// Read the hardware clock (through the breaker's [`quanta::Clock`]) every time. The
    /// default.
    #[default]
    Precise,
    /// Read the process-wide coarse time, refreshed every `interval`
    /// (`Config::MIN_COARSE_INTERVAL..=Config::MAX_COARSE_INTERVAL`).
    Coarse(Duration),
}

/// The settings of one breaker, validated by [`ConfigBuilder::build`].
///
/// # Examples
///
/// ```
/// use breakerbox::Config;
/// use std::time::Duration;
///
/// let config = Config::builder()
///     .failure_threshold(3)
///     .timeout(Duration::from_secs(30))
///     .build()?;
/// assert_eq!(config.failure_threshold(), 3);
/// assert_eq!(config.half_open_max_calls(), config.success_threshold());
/// # Ok::<(), breakerbox::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    failure_threshold: u32,
    success_threshold: u32,
    half_open_max_calls: u32,
    timeout: Duration,
    half_open_timeout: Duration,
    sliding_window: Option<Window>,
    failure_rate_threshold: f64,
    minimum_calls: u32,
    slow_call_duration: Option<Duration>,
    slow_call_rate_threshold: f64,
    backoff: Backoff,
    dry_run: bool,
    jitter_seed: Option<u64>,
    clock_precision: ClockPrecision,
    /// Whether `failure_threshold` was set on the builder (P1).
    failure_threshold_set: bool,
    /// Everything above in the transition logic's units, computed once by `build`.
    limits: Limits,
}

impl Config {
    /// The largest accepted `failure_threshold`, `success_threshold` and
    /// `half_open_max_calls`. The packed state word keeps each counter in 10 bits.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::Config;
    /// assert!(Config::builder().failure_threshold(Config::MAX_THRESHOLD).build().is_ok());
    /// assert!(Config::builder().failure_threshold(Config::MAX_THRESHOLD + 1).build().is_err());
    /// ```
    pub const MAX_THRESHOLD: u32 = 1000;

    /// The longest accepted `timeout` and `half_open_timeout`: 366 days.
    ///
    /// Deadlines are kept in microseconds in 52 bits (a horizon of 142 years from the
    /// breaker's creation), so any duration up to this bound always fits.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::Config;
    /// assert!(Config::builder().timeout(Config::MAX_DURATION).build().is_ok());
    /// ```
    pub const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);

    /// The largest `n` of [`Window::Calls`] and the largest `minimum_calls`.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{Config, Window};
    /// let too_big = Window::Calls(Config::MAX_WINDOW_CALLS + 1);
    /// assert_eq!(Config::builder().sliding_window(too_big).build().unwrap_err().field(), "sliding_window");
    /// ```
    pub const MAX_WINDOW_CALLS: u32 = 10_000;

    /// The shortest [`Window::Time`]: one second.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{Config, Window};
    /// assert!(Config::builder().sliding_window(Window::Time(Config::MIN_WINDOW_TIME)).build().is_ok());
    /// ```
    pub const MIN_WINDOW_TIME: Duration = Duration::from_secs(1);

    /// The longest [`Window::Time`]: one hour.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{Config, Window};
    /// assert!(Config::builder().sliding_window(Window::Time(Config::MAX_WINDOW_TIME)).build().is_ok());
    /// ```
    pub const MAX_WINDOW_TIME: Duration = Duration::from_secs(3_600);

    /// The shortest interval of [`ClockPrecision::Coarse`]: 100 µs. A thread that woke more
    /// often would cost more than the clock reads it saves.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{ClockPrecision, Config};
    /// let coarse = ClockPrecision::Coarse(Config::MIN_COARSE_INTERVAL);
    /// assert!(Config::builder().clock_precision(coarse).build().is_ok());
    /// ```
    pub const MIN_COARSE_INTERVAL: Duration = Duration::from_micros(100);

    /// The longest interval of [`ClockPrecision::Coarse`]: one second. `retry_after` of a
    /// coarse rejection is accurate to one interval; a coarser clock than this belongs to no
    /// circuit breaker.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{ClockPrecision, Config};
    /// let too_coarse = ClockPrecision::Coarse(Config::MAX_COARSE_INTERVAL * 2);
    /// let err = Config::builder().clock_precision(too_coarse).build().unwrap_err();
    /// assert_eq!(err.field(), "clock_precision");
    /// ```
    pub const MAX_COARSE_INTERVAL: Duration = Duration::from_secs(1);

    /// Starts a builder with the default settings.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = breakerbox::Config::builder().success_threshold(3).build()?;
    /// assert_eq!(config.success_threshold(), 3);
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Consecutive failures that open a closed breaker.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(breakerbox::Config::default().failure_threshold(), 5);
    /// ```
    pub fn failure_threshold(&self) -> u32 {
        self.failure_threshold
    }

    /// Successes in half-open that close the breaker.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(breakerbox::Config::default().success_threshold(), 2);
    /// ```
    pub fn success_threshold(&self) -> u32 {
        self.success_threshold
    }

    /// How long the breaker stays open before it lets probes through.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(breakerbox::Config::default().timeout(), Duration::from_secs(60));
    /// ```
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The longest stay in half-open; after it the breaker counts as open again.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(breakerbox::Config::default().half_open_timeout(), Duration::from_secs(30));
    /// ```
    pub fn half_open_timeout(&self) -> Duration {
        self.half_open_timeout
    }

    /// How many probe permits may be outstanding at once in half-open.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(breakerbox::Config::default().half_open_max_calls(), 2);
    /// ```
    pub fn half_open_max_calls(&self) -> u32 {
        self.half_open_max_calls
    }

    /// The sliding window, if the rate rules are on.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(breakerbox::Config::default().sliding_window(), None);
    /// ```
    pub fn sliding_window(&self) -> Option<Window> {
        self.sliding_window
    }

    /// Percent of failures in the window that opens the breaker (default 50).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(breakerbox::Config::default().failure_rate_threshold(), 50.0);
    /// ```
    pub fn failure_rate_threshold(&self) -> f64 {
        self.failure_rate_threshold
    }

    /// Outcomes the window must hold before its rates are evaluated (default 100; for
    /// `Window::Calls(n)` the effective minimum is `min(minimum_calls, n)`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(breakerbox::Config::default().minimum_calls(), 100);
    /// ```
    pub fn minimum_calls(&self) -> u32 {
        self.minimum_calls
    }

    /// A call slower than this is slow (off unless set).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(breakerbox::Config::default().slow_call_duration(), None);
    /// ```
    pub fn slow_call_duration(&self) -> Option<Duration> {
        self.slow_call_duration
    }

    /// Percent of slow calls in the window that opens the breaker (default 100).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(breakerbox::Config::default().slow_call_rate_threshold(), 100.0);
    /// ```
    pub fn slow_call_rate_threshold(&self) -> f64 {
        self.slow_call_rate_threshold
    }

    /// How open periods grow along a streak.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(breakerbox::Config::default().backoff(), breakerbox::Backoff::constant());
    /// ```
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// Whether the breaker runs in dry-run mode (decides, counts and notifies, never rejects).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!breakerbox::Config::default().dry_run());
    /// ```
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// The jitter seed set on the builder, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(breakerbox::Config::default().jitter_seed(), None);
    /// ```
    pub fn jitter_seed(&self) -> Option<u64> {
        self.jitter_seed
    }

    /// How the breaker reads the time (default [`ClockPrecision::Precise`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{ClockPrecision, Config};
    /// assert_eq!(Config::default().clock_precision(), ClockPrecision::Precise);
    /// ```
    pub fn clock_precision(&self) -> ClockPrecision {
        self.clock_precision
    }

    /// Whether `failure_threshold` consecutive failures open the breaker: always without a
    /// sliding window; with one, only if `failure_threshold` was set on the builder (P1).
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{Config, Window};
    /// assert!(Config::default().trips_on_consecutive_failures());
    /// let rate_only = Config::builder().sliding_window(Window::Calls(50)).build()?;
    /// assert!(!rate_only.trips_on_consecutive_failures());
    /// let both = Config::builder().sliding_window(Window::Calls(50)).failure_threshold(10).build()?;
    /// assert!(both.trips_on_consecutive_failures());
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn trips_on_consecutive_failures(&self) -> bool {
        self.sliding_window.is_none() || self.failure_threshold_set
    }

    /// The settings in the units of the transition logic.
    #[inline]
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Computes `limits` from the public settings.
    fn with_limits(mut self) -> Config {
        let timeout_us = to_us(self.timeout);
        self.limits = Limits {
            failure_threshold: self.failure_threshold,
            consecutive: self.trips_on_consecutive_failures(),
            success_threshold: self.success_threshold,
            half_open_max_calls: self.half_open_max_calls,
            half_open_timeout_us: to_us(self.half_open_timeout),
            periods: Periods::new(&self.backoff, timeout_us, self.backoff.max().map(to_us)),
            slow_us: self.slow_call_duration.map(to_us),
            window: self.sliding_window.is_some(),
            minimum_calls: match self.sliding_window {
                Some(Window::Calls(n)) => self.minimum_calls.min(n),
                _ => self.minimum_calls,
            },
            failure_rate: self.failure_rate_threshold,
            slow_rate: self.slow_call_rate_threshold,
            dry_run: self.dry_run,
        };
        self
    }
}

impl Default for Config {
    /// `failure_threshold` 5, `success_threshold` 2, `timeout` 60 s, `half_open_timeout`
    /// 30 s, `half_open_max_calls` 2 (the success threshold); no window, constant backoff,
    /// no dry run.
    fn default() -> Self {
        Config {
            failure_threshold: 5,
            success_threshold: 2,
            half_open_max_calls: 2,
            timeout: Duration::from_secs(60),
            half_open_timeout: Duration::from_secs(30),
            sliding_window: None,
            failure_rate_threshold: 50.0,
            minimum_calls: 100,
            slow_call_duration: None,
            slow_call_rate_threshold: 100.0,
            backoff: Backoff::constant(),
            dry_run: false,
            jitter_seed: None,
            clock_precision: ClockPrecision::Precise,
            failure_threshold_set: false,
            limits: Limits::placeholder(),
        }
        .with_limits()
    }
}

/// Builds a [`Config`]; every setting is optional and defaults as in [`Config::default`].
///
/// # Examples
///
/// ```
/// use breakerbox::Config;
///
/// let err = Config::builder().failure_threshold(0).build().unwrap_err();
/// assert_eq!(err.field(), "failure_threshold");
/// ```
#[derive(Clone, Debug, Default)]
pub struct ConfigBuilder {
    failure_threshold: Option<u32>,
    success_threshold: Option<u32>,
    half_open_max_calls: Option<u32>,
    timeout: Option<Duration>,
    half_open_timeout: Option<Duration>,
    sliding_window: Option<Window>,
    failure_rate_threshold: Option<f64>,
    minimum_calls: Option<u32>,
    slow_call_duration: Option<Duration>,
    slow_call_rate_threshold: Option<f64>,
    backoff: Option<Backoff>,
    dry_run: Option<bool>,
    jitter_seed: Option<u64>,
    clock_precision: Option<ClockPrecision>,
}

impl ConfigBuilder {
    /// Consecutive failures that open a closed breaker (1 ..= [`Config::MAX_THRESHOLD`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let config = breakerbox::Config::builder().failure_threshold(3).build()?;
    /// assert_eq!(config.failure_threshold(), 3);
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn failure_threshold(mut self, n: u32) -> Self {
        self.failure_threshold = Some(n);
        self
    }

    /// Successes in half-open that close the breaker (1 ..= [`Config::MAX_THRESHOLD`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let config = breakerbox::Config::builder().success_threshold(3).build()?;
    /// assert_eq!(config.success_threshold(), 3);
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn success_threshold(mut self, n: u32) -> Self {
        self.success_threshold = Some(n);
        self
    }

    /// How long the breaker stays open before half-open (non-zero, at most
    /// [`Config::MAX_DURATION`]; resolution one microsecond, rounded up).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = breakerbox::Config::builder().timeout(Duration::from_secs(5)).build()?;
    /// assert_eq!(config.timeout(), Duration::from_secs(5));
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Longest stay in half-open, then back to open (non-zero, at most
    /// [`Config::MAX_DURATION`]; resolution one microsecond, rounded up).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = breakerbox::Config::builder().half_open_timeout(Duration::from_secs(5)).build()?;
    /// assert_eq!(config.half_open_timeout(), Duration::from_secs(5));
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn half_open_timeout(mut self, d: Duration) -> Self {
        self.half_open_timeout = Some(d);
        self
    }

    /// Probes admitted at once in half-open (1 ..= [`Config::MAX_THRESHOLD`]); defaults to
    /// the success threshold.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = breakerbox::Config::builder().half_open_max_calls(1).build()?;
    /// assert_eq!(config.half_open_max_calls(), 1);
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn half_open_max_calls(mut self, n: u32) -> Self {
        self.half_open_max_calls = Some(n);
        self
    }

    /// Turns the rate rules on over `w` (P1): the breaker then opens on the failure rate
    /// (and, with [`slow_call_duration`](Self::slow_call_duration), the slow-call rate); the
    /// consecutive rule applies too only if [`failure_threshold`](Self::failure_threshold)
    /// is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{Config, Window};
    /// let config = Config::builder().sliding_window(Window::Calls(100)).build()?;
    /// assert_eq!(config.sliding_window(), Some(Window::Calls(100)));
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn sliding_window(mut self, w: Window) -> Self {
        self.sliding_window = Some(w);
        self
    }

    /// Percent of failures in the window that opens the breaker, in `(0, 100]`; default 50.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = breakerbox::Config::builder().failure_rate_threshold(25.0).build()?;
    /// assert_eq!(config.failure_rate_threshold(), 25.0);
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn failure_rate_threshold(mut self, percent: f64) -> Self {
        self.failure_rate_threshold = Some(percent);
        self
    }

    /// Outcomes the window must hold before its rates count, `1..=Config::MAX_WINDOW_CALLS`;
    /// default 100. Protects a quiet service from tripping on its first few failures.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = breakerbox::Config::builder().minimum_calls(20).build()?;
    /// assert_eq!(config.minimum_calls(), 20);
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn minimum_calls(mut self, n: u32) -> Self {
        self.minimum_calls = Some(n);
        self
    }

    /// A call taking longer than `d` from admission to outcome is slow, in
    /// `(0, Config::MAX_DURATION]`; off unless set. Slow calls count toward the slow-call rate,
    /// a slow probe reopens a half-open breaker (P6), and a call abandoned after running
    /// longer than `d` records a slow failure (P9).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = breakerbox::Config::builder().slow_call_duration(Duration::from_millis(500)).build()?;
    /// assert_eq!(config.slow_call_duration(), Some(Duration::from_millis(500)));
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn slow_call_duration(mut self, d: Duration) -> Self {
        self.slow_call_duration = Some(d);
        self
    }

    /// Percent of slow calls in the window that opens the breaker, in `(0, 100]`; default 100.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = breakerbox::Config::builder().slow_call_rate_threshold(80.0).build()?;
    /// assert_eq!(config.slow_call_rate_threshold(), 80.0);
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn slow_call_rate_threshold(mut self, percent: f64) -> Self {
        self.slow_call_rate_threshold = Some(percent);
        self
    }

    /// How open periods grow along a streak (P7); default [`Backoff::constant`].
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{Backoff, Config};
    /// use std::time::Duration;
    /// let b = Backoff::exponential(2.0, Duration::from_secs(600));
    /// assert_eq!(Config::builder().backoff(b).build()?.backoff(), b);
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn backoff(mut self, b: Backoff) -> Self {
        self.backoff = Some(b);
        self
    }

    /// Dry run (P8): the breaker decides, counts, transitions and notifies as usual but
    /// rejects nothing; calls it would have rejected are counted in
    /// `Metrics::would_reject_calls`. For rolling a new breaker out safely.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(breakerbox::Config::builder().dry_run(true).build()?.dry_run());
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn dry_run(mut self, on: bool) -> Self {
        self.dry_run = Some(on);
        self
    }

    /// How the breaker reads the time: [`ClockPrecision::Precise`] (the default) or
    /// [`ClockPrecision::Coarse`] with an interval in
    /// [`Config::MIN_COARSE_INTERVAL`]`..=`[`Config::MAX_COARSE_INTERVAL`]. See
    /// [`ClockPrecision`] for what a coarse clock trades.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{ClockPrecision, Config};
    /// use std::time::Duration;
    ///
    /// let coarse = ClockPrecision::Coarse(Duration::from_millis(1));
    /// let config = Config::builder().clock_precision(coarse).build()?;
    /// assert_eq!(config.clock_precision(), coarse);
    ///
    /// let err = Config::builder().clock_precision(ClockPrecision::Coarse(Duration::ZERO)).build();
    /// assert_eq!(err.unwrap_err().field(), "clock_precision");
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn clock_precision(mut self, precision: ClockPrecision) -> Self {
        self.clock_precision = Some(precision);
        self
    }

    /// Seeds the backoff's jitter draws, for reproducible runs and tests; by default each
    /// breaker draws a random seed. A period's draw is a hash of the seed and the period's
    /// generation, fixed when the period is decided.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = breakerbox::Config::builder().jitter_seed(42).build()?;
    /// assert_eq!(config.jitter_seed(), Some(42));
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first invalid field, its value and the allowed range:
    /// a threshold or `half_open_max_calls` of 0 or above [`Config::MAX_THRESHOLD`], a zero
    /// duration, or a duration above [`Config::MAX_DURATION`]; likewise a window, rate,
    /// backoff or coarse-clock interval out of its documented range.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::Config;
    /// use std::time::Duration;
    ///
    /// let err = Config::builder().timeout(Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err.field(), "timeout");
    /// assert!(err.to_string().contains("timeout"));
    /// ```
    pub fn build(self) -> Result<Config, ConfigError> {
        let d = Config::default();
        let failure_threshold = threshold(
            "failure_threshold",
            self.failure_threshold.unwrap_or(d.failure_threshold),
        )?;
        let success_threshold = threshold(
            "success_threshold",
            self.success_threshold.unwrap_or(d.success_threshold),
        )?;
        let half_open_max_calls = threshold(
            "half_open_max_calls",
            self.half_open_max_calls.unwrap_or(success_threshold),
        )?;
        let timeout = duration("timeout", self.timeout.unwrap_or(d.timeout))?;
        let half_open_timeout = duration(
            "half_open_timeout",
            self.half_open_timeout.unwrap_or(d.half_open_timeout),
        )?;
        let sliding_window = self.sliding_window.map(window).transpose()?;
        let failure_rate_threshold = percent(
            "failure_rate_threshold",
            self.failure_rate_threshold
                .unwrap_or(d.failure_rate_threshold),
        )?;
        let minimum_calls = self.minimum_calls.unwrap_or(d.minimum_calls);
        if !(1..=Config::MAX_WINDOW_CALLS).contains(&minimum_calls) {
            return Err(ConfigError {
                field: "minimum_calls",
                message: format!(
                    "minimum_calls = {minimum_calls} is out of range: it must be between 1 and \
                     {} inclusive",
                    Config::MAX_WINDOW_CALLS
                ),
            });
        }
        let slow_call_duration = self
            .slow_call_duration
            .map(|d| duration("slow_call_duration", d))
            .transpose()?;
        let slow_call_rate_threshold = percent(
            "slow_call_rate_threshold",
            self.slow_call_rate_threshold
                .unwrap_or(d.slow_call_rate_threshold),
        )?;
        let backoff = self.backoff.unwrap_or(d.backoff);
        if let Some(message) = backoff.invalid(timeout, Config::MAX_DURATION) {
            return Err(ConfigError {
                field: "backoff",
                message,
            });
        }
        let clock_precision = clock_precision(self.clock_precision.unwrap_or_default())?;
        Ok(Config {
            failure_threshold,
            success_threshold,
            half_open_max_calls,
            timeout,
            half_open_timeout,
            sliding_window,
            failure_rate_threshold,
            minimum_calls,
            slow_call_duration,
            slow_call_rate_threshold,
            backoff,
            dry_run: self.dry_run.unwrap_or(false),
            jitter_seed: self.jitter_seed,
            clock_precision,
            failure_threshold_set: self.failure_threshold.is_some(),
            limits: Limits::placeholder(),
        }
        .with_limits())
    }
}

fn window(w: Window) -> Result<Window, ConfigError> {
    let ok = match w {
        Window::Calls(n) => (1..=Config::MAX_WINDOW_CALLS).contains(&n),
        Window::Time(d) => (Config::MIN_WINDOW_TIME..=Config::MAX_WINDOW_TIME).contains(&d),
    };
    if ok {
        return Ok(w);
    }
    Err(ConfigError {
        field: "sliding_window",
        message: match w {
            Window::Calls(n) => format!(
                "sliding_window = Calls({n}) is out of range: n must be between 1 and {} inclusive",
                Config::MAX_WINDOW_CALLS
            ),
            Window::Time(d) => format!(
                "sliding_window = Time({d:?}) is out of range: it must be between {:?} and {:?}",
                Config::MIN_WINDOW_TIME,
                Config::MAX_WINDOW_TIME
            ),
        },
    })
}

fn clock_precision(p: ClockPrecision) -> Result<ClockPrecision, ConfigError> {
    match p {
        ClockPrecision::Coarse(interval)
            if !(Config::MIN_COARSE_INTERVAL..=Config::MAX_COARSE_INTERVAL).contains(&interval) =>
        {
            Err(ConfigError {
                field: "clock_precision",
                message: format!(
                    "clock_precision = Coarse({interval:?}) is out of range: the interval must be \
                     between {:?} and {:?}",
                    Config::MIN_COARSE_INTERVAL,
                    Config::MAX_COARSE_INTERVAL
                ),
            })
        }
        ClockPrecision::Coarse(_) | ClockPrecision::Precise => Ok(p),
    }
}

fn percent(field: &'static str, p: f64) -> Result<f64, ConfigError> {
    // NaN fails both comparisons; infinities fail the upper bound or the lower one.
    if p > 0.0 && p <= 100.0 {
        Ok(p)
    } else {
        Err(ConfigError {
            field,
            message: format!("{field} = {p} is out of range: it must be above 0 and at most 100"),
        })
    }
}

fn threshold(field: &'static str, n: u32) -> Result<u32, ConfigError> {
    if (1..=Config::MAX_THRESHOLD).contains(&n) {
        Ok(n)
    } else {
        Err(ConfigError {
            field,
            message: format!(
                "{field} = {n} is out of range: it must be between 1 and {} inclusive",
                Config::MAX_THRESHOLD
            ),
        })
    }
}

fn duration(field: &'static str, d: Duration) -> Result<Duration, ConfigError> {
    if !d.is_zero() && d <= Config::MAX_DURATION {
        Ok(d)
    } else {
        Err(ConfigError {
            field,
            message: format!(
                "{field} = {d:?} is out of range: it must be greater than zero and at most {:?} \
                 (366 days)",
                Config::MAX_DURATION
            ),
        })
    }
}

/// A setting rejected by [`ConfigBuilder::build`]; its message names the field, the value
/// and the allowed range.
///
/// # Examples
///
/// ```
/// let err = breakerbox::Config::builder().half_open_max_calls(5000).build().unwrap_err();
/// assert_eq!(err.field(), "half_open_max_calls");
/// assert!(err.to_string().contains("5000"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    message: String,
}

impl ConfigError {
    /// The name of the invalid field, e.g. `"failure_threshold"` or `"timeout"`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = breakerbox::Config::builder().success_threshold(0).build().unwrap_err();
    /// assert_eq!(err.field(), "success_threshold");
    /// ```
    pub fn field(&self) -> &'static str {
        self.field
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid circuit breaker config: {}", self.message)
    }
}

impl std::error::Error for ConfigError {}
