//! Clock access: the one place the breaker reads time.
//!
//! Time is microseconds since the breaker's creation (its epoch), read from an injected
//! [`quanta::Clock`]: the TSC on x86-64 (no syscall, a few nanoseconds), or
//! [`quanta::Clock::mock`] in tests. Microseconds in the 52-bit deadline field give a horizon
//! of 142 years (see [`crate::word`]); a `u64` of them would last 584,000 years.
//!
//! # Two sources behind one `now_us`
//!
//! A breaker built with [`ClockPrecision::Precise`] (the default) reads the hardware clock
//! on every call of [`Clock::now_us`]. One built with [`ClockPrecision::Coarse`] reads
//! quanta's process-wide *recent* time instead ([`quanta::Clock::recent`]: one atomic load,
//! no `rdtsc`, no scaling), which one background thread of this module, `breakerbox-tick`,
//! refreshes every interval with [`quanta::set_recent`]. The callers (the engine) see one
//! function; the choice is one branch on a field that never changes, so the precise path
//! costs what it cost before plus that predictable branch.
//!
//! Units: `raw()` is in the clock source's ticks and needs `delta_as_nanos` to scale;
//! `recent()` is already in reference nanoseconds (the scaled `now()`), so a coarse breaker
//! keeps its epoch as a `recent()` reading and subtracts `Instant`s. With a mock clock,
//! `raw()`, `now()` and `recent()` all return the mock's value, so a coarse breaker on a mock
//! is exactly as deterministic as a precise one.
//!
//! # The clock thread
//!
//! * Started by the first breaker whose config asks for a coarse clock (never by any other),
//!   once per process, never stopped; it sleeps between ticks (`park_timeout`).
//! * Its interval is the smallest any coarse breaker has asked for: a breaker asking for a
//!   shorter one shortens it at once (the thread is woken and re-reads it); it never grows
//!   back when breakers are dropped.
//! * It writes quanta's global recent time rather than running a [`quanta::Upkeep`]: only
//!   one `Upkeep` may run per process, another crate may already own it (its interval unknown
//!   to us) and may stop it at any time, which would freeze a coarse breaker's time and keep
//!   it open for ever. Writing with `set_recent` works next to any `Upkeep`, which still
//!   starts and stops as its owner likes (both write fresh readings of the same clock).
//! * If the thread cannot be spawned (the OS refuses a thread, or a target without threads),
//!   the breaker falls back to the precise clock, silently and without a panic; the next
//!   coarse breaker tries again. [`coarse_clock_interval`] tells whether it runs.
//!
//! # What a coarse reading costs in accuracy
//!
//! A reading lags real time by between 0 and one interval (more if the OS is late to wake
//! the thread). Both ends of a period are such readings, so a period (`timeout`,
//! `half_open_timeout`, a slow call, a time window's bucket) lasts its length give or take
//! one interval, plus the thread's wake-up delay and the microsecond rounding;
//! `Rejected::retry_after` is accurate to the same bound.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::{self, Thread};
use std::time::{Duration, SystemTime};

use crate::config::ClockPrecision;

/// The process-wide TSC clock. `quanta::Clock::new` runs CPUID and calibration checks
/// (tens of µs, a VM exit under virtualisation); a clone is a copy.
pub(crate) fn shared() -> quanta::Clock {
    static CLOCK: std::sync::OnceLock<quanta::Clock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new).clone()
}

/// The breaker's time source.
#[derive(Clone, Debug)]
pub(crate) struct Clock {
    inner: quanta::Clock,
    /// Where readings come from, with the reading at creation (time 0) in that source's
    /// units.
    source: Source,
    /// Wall-clock time at creation, µs since the Unix epoch, for `Metrics`' `SystemTime`s.
    wall_us: u64,
}

/// A breaker's source of time, fixed at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// `inner.raw()` on every read; `epoch` is a raw reading (source ticks).
    Precise { epoch: u64 },
    /// `inner.recent()` on every read; `epoch` is a recent reading (reference nanoseconds).
    Coarse { epoch: quanta::Instant },
}

impl Clock {
    /// A clock reading `inner` as `precision` asks: a coarse one starts the process's clock
    /// thread (or, if it cannot start, falls back to precise reads).
    pub(crate) fn new(inner: quanta::Clock, precision: ClockPrecision) -> Clock {
        let source = source(&inner, precision, ticker::request);
        Clock {
            inner,
            source,
            wall_us: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, to_us),
        }
    }

    /// Microseconds since the epoch (rounded down).
    #[inline]
    pub(crate) fn now_us(&self) -> u64 {
        match self.source {
            Source::Precise { epoch } => self.inner.delta_as_nanos(epoch, self.inner.raw()) / 1_000,
            Source::Coarse { epoch } => since_us(self.inner.recent(), epoch),
        }
    }

    /// Whether readings come from the coarse clock (false also after a fallback).
    #[cfg(test)]
    fn is_coarse(&self) -> bool {
        matches!(self.source, Source::Coarse { .. })
    }

    /// The wall-clock time of a breaker time.
    pub(crate) fn system_time(&self, us: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_micros(self.wall_us.saturating_add(us))
    }
}

/// The source `precision` asks for, with its epoch read now: coarse only if `start` (which
/// starts or shortens the clock thread) succeeded. The epoch is read after the start, so a
/// coarse epoch is a fresh reading, never the stale or zero value from before the thread ran.
fn source(
    inner: &quanta::Clock,
    precision: ClockPrecision,
    start: impl FnOnce(Duration) -> bool,
) -> Source {
    match precision {
        ClockPrecision::Coarse(interval) if start(interval) => Source::Coarse {
            epoch: inner.recent(),
        },
        ClockPrecision::Coarse(_) | ClockPrecision::Precise => {
            Source::Precise { epoch: inner.raw() }
        }
    }
}

/// Whole microseconds from `epoch` to `now`, rounded down; 0 if `now` is earlier (a
/// reading written by another `set_recent` caller may be a little older than ours).
#[inline]
fn since_us(now: quanta::Instant, epoch: quanta::Instant) -> u64 {
    let d = now.saturating_duration_since(epoch);
    // No overflow: at most u64::MAX ns, i.e. 1.8e10 s, times 1e6 is 1.8e16 < 2^64.
    d.as_secs() * 1_000_000 + u64::from(d.subsec_micros())
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
    ticker::interval()
}

/// The clock thread (see the module docs).
mod ticker {
    use super::*;

    /// The running thread, `None` until the first coarse breaker starts it. A lock, not an
    /// atomic: it is taken when a coarse breaker is built and once per tick by the thread,
    /// never on a call path. std's, not `crate::sync`'s: the thread is a real OS thread
    /// outside any loom model, like `shared()`'s `OnceLock`.
    static TICKER: Mutex<Option<Ticker>> = Mutex::new(None);

    /// The running thread and the interval it sleeps between ticks.
    #[derive(Debug)]
    struct Ticker {
        interval: Duration,
        thread: Thread,
    }

    fn lock() -> MutexGuard<'static, Option<Ticker>> {
        // Nothing panics while holding it; if something did, the data is still consistent.
        TICKER.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the thread at `interval`, or shortens a running thread's interval to it;
    /// false if the thread cannot be spawned.
    pub(super) fn request(interval: Duration) -> bool {
        let mut slot = lock();
        if let Some(ticker) = slot.as_mut() {
            if interval < ticker.interval {
                ticker.interval = interval;
                // Wake it so that it ticks now and sleeps the new interval from here on.
                ticker.thread.unpark();
            }
            return true;
        }
        let clock = shared();
        // Fresh now, before the caller reads its epoch (the thread's first tick may come
        // later, and anything older, or 0 if nothing ever wrote it, would be a wrong epoch).
        quanta::set_recent(clock.now());
        let spawned = thread::Builder::new()
            .name("breakerbox-tick".into())
            .spawn(move || run(&clock));
        match spawned {
            Ok(handle) => {
                // The handle is dropped: the thread is detached and runs until the process ends.
                *slot = Some(Ticker {
                    interval,
                    thread: handle.thread().clone(),
                });
                true
            }
            Err(_) => false,
        }
    }

    /// The thread's interval, if it runs.
    pub(super) fn interval() -> Option<Duration> {
        lock().as_ref().map(|t| t.interval)
    }

    /// The thread's body: publish the time, sleep the current interval, for ever. Its first
    /// `lock` waits until `request` has stored its `Ticker`.
    fn run(clock: &quanta::Clock) {
        loop {
            quanta::set_recent(clock.now());
            let interval = interval().unwrap_or(crate::Config::MAX_COARSE_INTERVAL);
            // May return early (an `unpark`, or spuriously): one tick more, harmless.
            thread::park_timeout(interval);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn precise(inner: quanta::Clock) -> Clock {
        Clock::new(inner, ClockPrecision::Precise)
    }

    #[test]
    fn mock_time_is_relative_to_creation() {
        let (inner, mock) = quanta::Clock::mock();
        mock.increment(Duration::from_secs(5));
        let clock = precise(inner);
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

    /// `since_us` is `(now - epoch) / 1000` in nanoseconds, rounded down, 0 when `now` is
    /// earlier, at every magnitude (it goes through `Duration`'s seconds and nanoseconds).
    #[test]
    fn since_us_is_whole_microseconds_rounded_down() {
        let (inner, mock) = quanta::Clock::mock();
        mock.increment(123);
        let epoch = inner.recent();
        let mut total = 0u64;
        for step in [
            0,
            999,
            1,
            1_000,
            999_999_999,
            1,
            7_000_000_000_123,
            u64::MAX / 2,
        ] {
            mock.increment(step);
            total += step;
            let now = inner.recent();
            assert_eq!(since_us(now, epoch), total / 1_000, "after {total} ns");
            assert_eq!(since_us(epoch, now), 0, "backwards saturates");
        }
        let end = inner.recent();
        mock.increment(u64::MAX - 123 - total);
        assert_eq!(since_us(inner.recent(), epoch), (u64::MAX - 123) / 1_000);
        assert!(since_us(inner.recent(), end) > 0);
    }

    /// On a mock, `recent()` is the mock's value: a coarse clock reads exactly what a
    /// precise one does, so coarse breakers stay deterministic under `Clock::mock`.
    #[test]
    fn coarse_on_a_mock_reads_the_mock() {
        let (inner, mock) = quanta::Clock::mock();
        mock.increment(Duration::from_secs(3));
        let coarse = Clock::new(
            inner.clone(),
            ClockPrecision::Coarse(Duration::from_millis(1)),
        );
        let exact = precise(inner);
        assert!(coarse.is_coarse() || coarse_clock_interval().is_none());
        for step in [
            0,
            1,
            999,
            1,
            1_000,
            12_345_678,
            1,
            999_999_999,
            86_400_000_000_000,
        ] {
            mock.increment(step);
            assert_eq!(coarse.now_us(), exact.now_us());
        }
    }

    #[test]
    fn precise_never_starts_the_thread_and_a_failed_start_falls_back() {
        let (inner, mock) = quanta::Clock::mock();
        mock.increment(77);
        let mut asked = None;
        let s = source(&inner, ClockPrecision::Precise, |d| {
            asked = Some(d);
            true
        });
        assert_eq!((s, asked), (Source::Precise { epoch: 77 }, None));

        let ms = Duration::from_millis(1);
        let s = source(&inner, ClockPrecision::Coarse(ms), |d| {
            asked = Some(d);
            false
        });
        assert_eq!((s, asked), (Source::Precise { epoch: 77 }, Some(ms)));

        let s = source(&inner, ClockPrecision::Coarse(ms), |_| true);
        assert_eq!(
            s,
            Source::Coarse {
                epoch: inner.recent()
            }
        );
    }

    /// The thread runs at the smallest interval asked for, and a real coarse clock moves.
    #[test]
    fn the_thread_keeps_the_smallest_interval_and_time_moves() {
        if !ticker::request(Duration::from_millis(50)) {
            return; // No threads here: the fallback is tested above.
        }
        assert!(coarse_clock_interval().is_some_and(|i| i <= Duration::from_millis(50)));
        assert!(ticker::request(Duration::from_millis(2)));
        assert!(coarse_clock_interval().is_some_and(|i| i <= Duration::from_millis(2)));
        assert!(ticker::request(Duration::from_secs(1)));
        assert!(coarse_clock_interval().is_some_and(|i| i <= Duration::from_millis(2)));

        let clock = Clock::new(shared(), ClockPrecision::Coarse(Duration::from_millis(2)));
        assert!(clock.is_coarse());
        let start = std::time::Instant::now();
        // Bounded: the thread ticks every 2 ms; allow a loaded machine 10 s.
        while clock.now_us() < 5_000 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "coarse time stood still"
            );
            thread::sleep(Duration::from_millis(1));
        }
    }
}
