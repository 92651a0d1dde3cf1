//! Clock access: the one place the breaker reads time.
//!
//! Time is microseconds since the breaker's creation (its epoch), read from an injected
//! [`quanta::Clock`]: the TSC on x86-64 (no syscall, a few nanoseconds), or
//! [`quanta::Clock::mock`] in tests. Microseconds in the 52-bit deadline field give a horizon
//! of 142 years (see [`crate::word`]); a `u64` of them would last 584,000 years.

use std::time::{Duration, SystemTime};

/// The breaker's time source.
/// The process-wide TSC clock. `quanta::Clock::new` runs CPUID and calibration checks
/// (tens of µs, a VM exit under virtualisation); a clone is a copy.
pub(crate) fn shared() -> quanta::Clock {
    static CLOCK: std::sync::OnceLock<quanta::Clock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new).clone()
}

#[derive(Clone, Debug)]
pub(crate) struct Clock {
    inner: quanta::Clock,
    /// The raw reading at creation: time 0.
    epoch: u64,
    /// Wall-clock time at creation, µs since the Unix epoch, for `Metrics`' `SystemTime`s.
    wall_us: u64,
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
        }
    }

    /// Microseconds since the epoch (rounded down).
    #[inline]
    pub(crate) fn now_us(&self) -> u64 {
        self.inner.delta_as_nanos(self.epoch, self.inner.raw()) / 1_000
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
}
