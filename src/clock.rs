//! Clock access: the one place the breaker reads time.
//!
//! Time is microseconds since the breaker's creation (its epoch), read from an injected
//! [`quanta::Clock`]: the TSC on x86-64 (no syscall, a few nanoseconds), or
//! [`quanta::Clock::mock`] in tests. Microseconds in the 52-bit deadline field give a horizon
//! of 142 years (see [`crate::word`]); a `u64` of them would last 584,000 years.
//!
//! # The coarse clock
//!
//! A breaker built by `new` / `with_config` (and so by the registry) with
//! [`ClockPrecision::Coarse`] keeps, beside its TSC clock, the process's *coarse clock*: a
//! `quanta::Clock` whose every read is one atomic load of a value that one background thread
//! of this module, `breakerbox-tick`, advances every interval to the TSC clock's time (in
//! the same units: its `now()` is comparable with `quanta::Instant::now()`, and lags it by up
//! to one interval while the thread keeps time). Only two readers use it: the open path's
//! shortcut ([`Clock::now_bound_us`], an upper bound of the time) and a time window's
//! success ([`Clock::coarse_range_us`], which decides its bucket when the reading and the
//! bound agree on it); [`Clock::now_us`] has no branch for it.
//!
//! The coarse clock is a [`quanta::Clock::mock`] driven by that thread: quanta's only clock
//! whose reads load a value we set (`raw()` is the mock's value, `delta_as_nanos` a plain
//! subtraction: no `rdtsc`, no scaling). Not quanta's own coarse time
//! ([`quanta::Clock::recent`] with a [`quanta::Upkeep`] thread), because:
//! * `recent()`'s epoch is in other units than `raw()`'s, and a first version that read it
//!   inside `now_us` cost every *precise* rejection 30 instructions more (LLVM stopped
//!   inlining the engine's `view`), measured;
//! * only one `Upkeep` may run per process, so another crate may own it, at an interval we
//!   cannot know, and may stop it at any time: its recent time then freezes, and a breaker
//!   reading it would stay open for ever. Our thread is ours, and leaves quanta's recent
//!   time (and anybody's `Upkeep`) alone.
//!
//! # The thread
//!
//! * Started by the first breaker whose config asks for a coarse clock (never by any other),
//!   once per process, never stopped; it sleeps between ticks (`park_timeout`).
//! * Its interval is the smallest any coarse breaker has asked for: a breaker asking for a
//!   shorter one shortens it at once (the thread is woken and re-reads it); it never grows
//!   back when breakers are dropped.
//! * It is the clock's only writer, and it never moves it back, so the coarse time is
//!   monotonic, and never ahead of the TSC clock (every value is an earlier TSC reading).
//! * If it cannot be spawned (the OS refuses a thread, or a target without threads), the
//!   breaker falls back to the TSC clock, silently and without a panic; the next coarse
//!   breaker tries again. [`coarse_clock_interval`] tells whether it runs.
//! * `with_clock` reads the clock it is given, whatever the precision: a mock stays a mock.
//!
//! # What a coarse reading costs in accuracy
//!
//! Nothing, where it matters: `now_bound_us` is the coarse reading plus one interval, a
//! bound of the real time while the thread keeps time, and the shortcut rejects on it only
//! while the bound is before the deadline ("not over at a later time" implies "not over
//! now"); otherwise the engine's loop reads the TSC. Periods start and end on precise
//! readings. Costs: a rejection's `retry_after` may be up to one interval short; and a
//! thread woken late by the OS makes rejections late (never early), and their
//! `retry_after` long, by its lateness.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, Thread};
use std::time::{Duration, SystemTime};

use crate::config::ClockPrecision;

/// The process-wide TSC clock. `quanta::Clock::new` runs CPUID and calibration checks
/// (tens of µs, a VM exit under virtualisation); a clone is a copy.
pub(crate) fn shared() -> quanta::Clock {
    static CLOCK: std::sync::OnceLock<quanta::Clock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new).clone()
}

/// The clock of a breaker built without an injected one: the TSC clock, and for
/// [`ClockPrecision::Coarse`] the process's coarse clock beside it for rejections
/// (starting its thread, or shortening its interval); the TSC clock alone if the thread
/// cannot be spawned.
pub(crate) fn for_precision(precision: ClockPrecision) -> Clock {
    let precise = Clock::new(shared());
    match precision {
        ClockPrecision::Precise => precise,
        ClockPrecision::Coarse(interval) => match coarse::request(interval) {
            Some(coarse) => precise.with_coarse(coarse, interval),
            None => precise,
        },
    }
}

/// The breaker's time source.
#[derive(Clone, Debug)]
pub(crate) struct Clock {
    inner: quanta::Clock,
    /// The raw reading at creation: time 0.
    epoch: u64,
    /// Wall-clock time at creation, µs since the Unix epoch, for `Metrics`' `SystemTime`s.
    wall_us: u64,
    /// The coarse clock, for [`now_bound_us`](Clock::now_bound_us) only; boxed, so that a
    /// precise breaker carries one word for it.
    coarse: Option<Box<Coarse>>,
}

/// The process's coarse clock as one breaker reads it.
#[derive(Clone, Debug)]
struct Coarse {
    /// The driven clock: its raw value is nanoseconds of the TSC clock's `Instant`s.
    clock: quanta::Clock,
    /// The breaker's epoch in those nanoseconds.
    epoch_ns: u64,
    /// How far a coarse reading may lag the TSC clock while the thread keeps time: the
    /// interval this breaker asked for (the thread's is never longer), plus 1 µs for the
    /// rounding of the two conversions.
    lag_us: u64,
}

impl Coarse {
    /// The coarse reading in the breaker's microseconds (one atomic load).
    #[inline]
    fn reading_us(&self) -> u64 {
        self.clock.raw().saturating_sub(self.epoch_ns) / 1_000
    }
}

impl Clock {
    pub(crate) fn new(inner: quanta::Clock) -> Clock {
        let epoch = inner.raw();
        Clock {
            inner,
            epoch,
            wall_us: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, to_us),
            coarse: None,
        }
    }

    /// This clock, with `coarse` (the process's coarse clock, driven to this clock's
    /// `Instant`s every `interval`) for [`now_bound_us`](Clock::now_bound_us).
    pub(crate) fn with_coarse(self, coarse: quanta::Clock, interval: Duration) -> Clock {
        // The epoch in the coarse clock's nanoseconds: a mock's `scaled` is the identity, so
        // `scaled(raw)` is the instant of one reading, and the epoch lies a known distance
        // from it (`quanta::Instant` keeps its nanoseconds private).
        let raw = coarse.raw();
        let (reading, epoch) = (coarse.scaled(raw), self.inner.scaled(self.epoch));
        let after = epoch.saturating_duration_since(reading).as_nanos();
        let before = reading.saturating_duration_since(epoch).as_nanos();
        let epoch_ns = (u128::from(raw) + after).saturating_sub(before);
        let coarse = Coarse {
            clock: coarse,
            epoch_ns: u64::try_from(epoch_ns).unwrap_or(u64::MAX),
            lag_us: to_us(interval).saturating_add(1),
        };
        Clock {
            coarse: Some(Box::new(coarse)),
            ..self
        }
    }

    /// Microseconds since the epoch (rounded down).
    #[inline]
    pub(crate) fn now_us(&self) -> u64 {
        self.inner.delta_as_nanos(self.epoch, self.inner.raw()) / 1_000
    }

    /// A time not earlier than [`now_us`](Clock::now_us), for a decision that holds at any
    /// earlier time too: "the period has not ended" (`now < deadline`) is true at `now_us()`
    /// whenever it is true at this bound. Precise: `now_us()` itself. Coarse: the coarse
    /// reading plus its lag (one atomic load, no TSC read), a bound as long as the clock
    /// thread keeps time; if it is late by more than its interval, the bound may be below
    /// `now_us()` by that lateness.
    #[inline]
    pub(crate) fn now_bound_us(&self) -> u64 {
        match &self.coarse {
            None => self.now_us(),
            Some(c) => c.reading_us().saturating_add(c.lag_us),
        }
    }

    /// The coarse reading and its bound: `(c, c + lag)`, between which the real time lies
    /// while the clock thread keeps time (`c` is never ahead of it). `None` for a precise
    /// clock. A time window files a success by `c` when both ends fall in one bucket (so the
    /// bucket is exact without a TSC read); near a bucket's edge it reads the TSC instead.
    #[inline]
    pub(crate) fn coarse_range_us(&self) -> Option<(u64, u64)> {
        self.coarse.as_deref().map(|c| {
            let reading = c.reading_us();
            (reading, reading.saturating_add(c.lag_us))
        })
    }

    /// The wall-clock time of a breaker time.
    pub(crate) fn system_time(&self, us: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_micros(self.wall_us.saturating_add(us))
    }
}

/// A duration in whole microseconds, rounded up. The clock is read rounded down, so with
/// both a period lasts at least its duration less one microsecond.
pub(crate) fn to_us(d: Duration) -> u64 {
    let us = d.as_nanos().div_ceil(1_000);
    u64::try_from(us).unwrap_or(u64::MAX)
}

/// The interval the process's coarse clock thread ticks at, or `None` while it does not run
/// (no breaker has asked for [`ClockPrecision::Coarse`] yet, or the thread could not be
/// spawned and every coarse breaker so far fell back to the precise clock).
///
/// It is the smallest interval any coarse breaker has asked for; it never grows back.
///
/// # Examples
///
/// ```
/// use breakerbox::{CircuitBreaker, ClockPrecision, Config};
/// use std::time::Duration;
///
/// let config = Config::builder()
///     .clock_precision(ClockPrecision::Coarse(Duration::from_millis(5)))
///     .build()?;
/// let _breaker = CircuitBreaker::with_config("coarse", config);
/// // Running from now on, at 5 ms or at a shorter interval another breaker asked for.
/// if let Some(interval) = breakerbox::coarse_clock_interval() {
///     assert!(interval <= Duration::from_millis(5));
/// }
/// # Ok::<(), breakerbox::ConfigError>(())
/// ```
pub fn coarse_clock_interval() -> Option<Duration> {
    coarse::interval()
}

/// The process's coarse clock, if its thread runs (see [`coarse_clock_interval`]): the clock
/// every breaker built with [`ClockPrecision::Coarse`] reads to reject. Its `now()` is the
/// time of [`quanta::Clock::now`], as of the thread's last tick (never ahead of it, at most
/// one interval plus the thread's wake-up delay behind); a read is one atomic load.
///
/// To see the time coarse breakers reject on (monitoring, tests). Handed to
/// [`CircuitBreaker::with_clock`](crate::CircuitBreaker::with_clock) it would be that
/// breaker's only clock, every reading coarse: not what `ClockPrecision::Coarse` does.
///
/// # Examples
///
/// ```
/// use breakerbox::{quanta, CircuitBreaker, ClockPrecision, Config};
/// use std::time::Duration;
///
/// let coarse = Config::builder()
///     .clock_precision(ClockPrecision::Coarse(Duration::from_millis(1)))
///     .build()?;
/// let _first = CircuitBreaker::with_config("first", coarse.clone());
/// if let Some(clock) = breakerbox::coarse_clock() {
///     assert!(clock.now() <= quanta::Instant::now());
/// }
/// # Ok::<(), breakerbox::ConfigError>(())
/// ```
pub fn coarse_clock() -> Option<quanta::Clock> {
    coarse::clock()
}

/// The coarse clock and its thread (see the module docs).
mod coarse {
    use super::*;

    /// The running thread, `None` until the first coarse breaker starts it. A lock, not an
    /// atomic: it is taken when a coarse breaker is built and once per tick by the thread,
    /// never on a call path. std's, not `crate::sync`'s: the thread is a real OS thread
    /// outside any loom model, like `shared()`'s `OnceLock`.
    static TICKER: Mutex<Option<Ticker>> = Mutex::new(None);

    /// The running thread, the interval it sleeps between ticks and the clock it drives.
    #[derive(Debug)]
    pub(super) struct Ticker {
        pub(super) interval: Duration,
        thread: Thread,
        /// The coarse clock handed to breakers (a clone shares the driven value).
        clock: quanta::Clock,
    }

    /// A slot of the thread's state: [`TICKER`], or a test's own.
    type Slot = Mutex<Option<Ticker>>;

    /// The thread's body, as handed to a spawner.
    type Body = Box<dyn FnOnce() + Send>;

    fn lock(slot: &'static Slot) -> MutexGuard<'static, Option<Ticker>> {
        // Nothing panics while holding it; if something did, the data is still consistent.
        slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The coarse clock, its thread started at `interval` or a running thread's interval
    /// shortened to it; `None` if the thread cannot be spawned.
    pub(super) fn request(interval: Duration) -> Option<quanta::Clock> {
        request_in(&TICKER, interval, |body| {
            let handle = thread::Builder::new()
                .name("breakerbox-tick".into())
                .spawn(body)?;
            // The handle is dropped: the thread is detached and runs until the process ends.
            Ok(handle.thread().clone())
        })
    }

    /// [`request`] on `slot`, starting the thread with `spawn`.
    pub(super) fn request_in(
        slot: &'static Slot,
        interval: Duration,
        spawn: impl FnOnce(Body) -> std::io::Result<Thread>,
    ) -> Option<quanta::Clock> {
        let mut state = lock(slot);
        if let Some(ticker) = state.as_mut() {
            if interval < ticker.interval {
                ticker.interval = interval;
                // Wake it so that it ticks now and sleeps the new interval from here on.
                ticker.thread.unpark();
            }
            return Some(ticker.clock.clone());
        }
        let source = shared();
        let (clock, driven) = quanta::Clock::mock();
        // `quanta::Instant` keeps its nanoseconds private: a fresh mock's `now()` is the
        // instant 0, and the nanoseconds of an instant are its distance from it.
        let zero = clock.now();
        // Fresh before the first breaker reads its epoch from it.
        tick(&source, zero, &driven);
        // Failed: the error says only that the OS refused; the breaker falls back, and
        // the slot stays empty for the next coarse breaker to try again.
        let thread = spawn(Box::new(move || run(slot, &source, zero, &driven))).ok()?;
        *state = Some(Ticker {
            interval,
            thread,
            clock: clock.clone(),
        });
        Some(clock)
    }

    /// The thread's interval, if it runs.
    pub(super) fn interval() -> Option<Duration> {
        interval_in(&TICKER)
    }

    fn interval_in(slot: &'static Slot) -> Option<Duration> {
        lock(slot).as_ref().map(|t| t.interval)
    }

    /// The coarse clock, if the thread runs.
    pub(super) fn clock() -> Option<quanta::Clock> {
        lock(&TICKER).as_ref().map(|t| t.clock.clone())
    }

    /// The thread's body: tick, sleep the current interval, for ever. Its first `lock`
    /// waits until `request` has stored its `Ticker`.
    fn run(
        slot: &'static Slot,
        source: &quanta::Clock,
        zero: quanta::Instant,
        driven: &Arc<quanta::Mock>,
    ) {
        loop {
            tick(source, zero, driven);
            let interval = interval_in(slot).unwrap_or(crate::Config::MAX_COARSE_INTERVAL);
            // May return early (an `unpark`, or spuriously): one tick more, harmless.
            thread::park_timeout(interval);
        }
    }

    /// Advances `driven` to `source`'s time now (nanoseconds since the instant `zero`);
    /// never back (two TSC reads on two cores may disagree by a little). Only the thread
    /// calls it (and `request`, before the thread exists), so read-then-increment does not
    /// race.
    pub(super) fn tick(source: &quanta::Clock, zero: quanta::Instant, driven: &quanta::Mock) {
        let since_zero = source.now().saturating_duration_since(zero);
        let target = u64::try_from(since_zero.as_nanos()).unwrap_or(u64::MAX);
        let current = driven.value();
        if target > current {
            driven.increment(target - current);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mock_time_is_relative_to_creation() {
        let (inner, mock) = quanta::Clock::mock();
        mock.increment(Duration::from_secs(5));
        let clock = Clock::new(inner);
        assert_eq!(clock.now_us(), 0);
        mock.increment(Duration::from_micros(1_500));
        assert_eq!(clock.now_us(), 1_500);
        mock.increment(Duration::from_nanos(999));
        assert_eq!(clock.now_us(), 1_500);
    }

    #[test]
    fn durations_round_up() {
        assert_eq!(to_us(Duration::from_nanos(1)), 1);
        assert_eq!(to_us(Duration::from_micros(7)), 7);
        assert_eq!(to_us(Duration::from_nanos(7_001)), 8);
        assert_eq!(to_us(Duration::MAX), u64::MAX);
    }

    /// A tick sets the driven clock to the source's time, to the nanosecond, and never
    /// moves it back; a breaker clock over it reads whole microseconds of its ticks.
    /// Deterministic: the source is a mock too.
    #[test]
    fn a_tick_follows_the_source_and_never_goes_back() {
        let (source, real) = quanta::Clock::mock();
        let (coarse, driven) = quanta::Clock::mock();
        let zero = coarse.now();
        let mut total = 1_000_000_000_000;
        real.increment(total);
        coarse::tick(&source, zero, &driven);
        assert_eq!(driven.value(), total);
        assert_eq!(coarse.now(), source.now(), "the same units as the source");
        let breaker_clock = Clock::new(coarse.clone());
        let epoch = total;
        for step in [0, 999, 1, 1_000, 1_234_567, 999_999_999, 86_400_000_000_000] {
            real.increment(step);
            total += step;
            // Between ticks the coarse time stands still.
            assert_eq!(breaker_clock.now_us(), (total - step - epoch) / 1_000);
            coarse::tick(&source, zero, &driven);
            assert_eq!(driven.value(), total);
            assert_eq!(breaker_clock.now_us(), (total - epoch) / 1_000);
        }
        real.decrement(5_000u64);
        coarse::tick(&source, zero, &driven);
        assert_eq!(
            driven.value(),
            total,
            "a source read behind the last tick is ignored"
        );
        real.increment(6_000u64);
        coarse::tick(&source, zero, &driven);
        assert_eq!(driven.value(), total + 1_000);
    }

    /// The coarse bound: the coarse reading in the breaker's microseconds plus the lag
    /// (interval + 1 µs), never below the time while the coarse clock lags by less than the
    /// interval. Deterministic: both clocks are mocks (a mock's `scaled` is the identity).
    #[test]
    fn the_coarse_bound_is_the_reading_plus_its_lag() {
        let (precise, p) = quanta::Clock::mock();
        let (coarse, c) = quanta::Clock::mock();
        p.increment(10_000_000);
        c.increment(9_700_000); // 300 µs behind
        let clock = Clock::new(precise).with_coarse(coarse, Duration::from_millis(1));
        assert_eq!((clock.now_us(), clock.now_bound_us()), (0, 1_001));
        p.increment(5_400_000);
        c.increment(5_300_000);
        assert_eq!(
            (clock.now_us(), clock.now_bound_us()),
            (5_400, 5_000 + 1_001)
        );
        // Lagging by up to the interval, the bound is at or above the time.
        for lag_ns in [0, 1, 999, 500_000, 999_999, 1_000_000] {
            let (precise, p) = quanta::Clock::mock();
            let (coarse, c) = quanta::Clock::mock();
            let clock = Clock::new(precise).with_coarse(coarse, Duration::from_millis(1));
            p.increment(77_777_777);
            c.increment(77_777_777 - lag_ns);
            assert!(clock.now_bound_us() >= clock.now_us(), "lag {lag_ns} ns");
        }
    }

    /// A refused spawn gives no clock and leaves the slot empty; the next request tries
    /// again. No thread runs here: the spawner only says yes or no.
    #[test]
    fn a_refused_thread_falls_back_and_is_tried_again() {
        static SLOT: Mutex<Option<coarse::Ticker>> = Mutex::new(None);
        let ms = Duration::from_millis(1);
        let refused = coarse::request_in(&SLOT, ms, |_| Err(std::io::Error::other("no")));
        assert!(refused.is_none());
        assert!(SLOT.lock().unwrap().is_none());

        let mut spawned = 0;
        let mut yes = |_body| {
            spawned += 1;
            Ok(thread::current())
        };
        let clock = coarse::request_in(&SLOT, ms * 10, &mut yes).expect("started");
        assert_eq!(
            SLOT.lock().unwrap().as_ref().map(|t| t.interval),
            Some(ms * 10)
        );
        // Started once: later requests share the clock and only shorten the interval.
        let again = coarse::request_in(&SLOT, ms, &mut yes).expect("running");
        let longer = coarse::request_in(&SLOT, ms * 100, &mut yes).expect("running");
        assert_eq!(spawned, 1);
        assert_eq!(SLOT.lock().unwrap().as_ref().map(|t| t.interval), Some(ms));
        assert_eq!((again.raw(), longer.raw()), (clock.raw(), clock.raw()));
    }

    /// The thread runs at the smallest interval asked for, and the coarse clock moves.
    #[test]
    fn the_thread_keeps_the_smallest_interval_and_time_moves() {
        let Some(first) = coarse::request(Duration::from_millis(50)) else {
            return; // No threads here: the breaker falls back (`for_precision`).
        };
        assert!(coarse_clock_interval().is_some_and(|i| i <= Duration::from_millis(50)));
        let second = coarse::request(Duration::from_millis(2)).expect("running");
        assert!(coarse_clock_interval().is_some_and(|i| i <= Duration::from_millis(2)));
        assert!(coarse::request(Duration::from_secs(1)).is_some());
        assert!(coarse_clock_interval().is_some_and(|i| i <= Duration::from_millis(2)));

        let clock = for_precision(ClockPrecision::Coarse(Duration::from_millis(2)));
        let start = std::time::Instant::now();
        // Bounded: the thread ticks every 2 ms; allow a loaded machine 10 s.
        while clock.now_bound_us() < 5_000 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "coarse time stood still"
            );
            thread::sleep(Duration::from_millis(1));
        }
        // One clock: every request hands out the same driven value.
        let (a, b, c) = (
            first.raw(),
            second.raw(),
            coarse_clock().expect("running").raw(),
        );
        assert!(a <= b && b <= c && c - a < 1_000_000_000);
    }
}
