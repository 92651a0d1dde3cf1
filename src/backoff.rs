//! Open-period backoff: how long the k-th open period of a streak lasts.
//!
//! Everything here is pure. A period's length is a function of the streak index `k`, the
//! configuration and one random draw; the draw is a hash of the breaker's jitter seed and
//! the generation the period belongs to ([`unit`]), so the length is fixed the moment the
//! period is decided and any reader can recompute it later without changing anything
//! (API.md P10: "jitter is drawn when a period is decided, never when it is read").

use std::time::Duration;

/// How the open period grows while the dependency stays down (API.md P7).
///
/// Period `k` of a streak (the trip from Closed starts period 1, every failed half-open
/// period adds one, reaching Closed starts over) lasts `min(max, timeout * multiplier^(k-1))`,
/// then, with jitter `f`, times a uniform factor in `[1 - f, 1 + f]`.
///
/// # Examples
///
/// ```
/// use breakerbox::{Backoff, Config};
/// use std::time::Duration;
///
/// let config = Config::builder()
///     .timeout(Duration::from_secs(1))
///     .backoff(Backoff::exponential(2.0, Duration::from_secs(60)).jitter(0.1))
///     .build()?;
/// assert_eq!(config.backoff(), Backoff::exponential(2.0, Duration::from_secs(60)).jitter(0.1));
/// # Ok::<(), breakerbox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    multiplier: f64,
    /// `None`: constant (the cap is the timeout itself).
    max: Option<Duration>,
    jitter: f64,
}

impl Backoff {
    /// Every open period lasts `timeout` (the default).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(breakerbox::Config::default().backoff(), breakerbox::Backoff::constant());
    /// ```
    pub fn constant() -> Self {
        Backoff {
            multiplier: 1.0,
            max: None,
            jitter: 0.0,
        }
    }

    /// Each failed half-open period multiplies the next open period by `multiplier`, up to
    /// `max`. [`ConfigBuilder::build`](crate::ConfigBuilder::build) requires `multiplier >= 1`
    /// and finite, and `timeout <= max <= Config::MAX_DURATION`.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{Backoff, Config};
    /// use std::time::Duration;
    /// let b = Backoff::exponential(2.0, Duration::from_secs(300));
    /// assert_eq!(b.multiplier(), 2.0);
    /// assert_eq!(b.max(), Some(Duration::from_secs(300)));
    /// let err = Config::builder().backoff(Backoff::exponential(0.5, Duration::from_secs(300)))
    ///     .build().unwrap_err();
    /// assert_eq!(err.field(), "backoff");
    /// ```
    pub fn exponential(multiplier: f64, max: Duration) -> Self {
        Backoff {
            multiplier,
            max: Some(max),
            jitter: 0.0,
        }
    }

    /// Multiplies every period (after the cap) by a uniform factor in
    /// `[1 - fraction, 1 + fraction]`; `0 <= fraction < 1`. Also applies to a constant
    /// backoff and to `force_open`'s period.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = breakerbox::Backoff::constant().jitter(0.2);
    /// assert_eq!(b.jitter_fraction(), 0.2);
    /// ```
    pub fn jitter(self, fraction: f64) -> Self {
        Backoff {
            jitter: fraction,
            ..self
        }
    }

    /// The growth factor (1 for [`constant`](Self::constant)).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(breakerbox::Backoff::constant().multiplier(), 1.0);
    /// ```
    pub fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// The cap on a period before jitter (`None` for [`constant`](Self::constant)).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(breakerbox::Backoff::constant().max(), None);
    /// ```
    pub fn max(&self) -> Option<Duration> {
        self.max
    }

    /// The jitter fraction (0 unless set).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(breakerbox::Backoff::constant().jitter_fraction(), 0.0);
    /// ```
    pub fn jitter_fraction(&self) -> f64 {
        self.jitter
    }

    /// Why this backoff is invalid with `timeout`, if it is.
    pub(crate) fn invalid(&self, timeout: Duration, max_duration: Duration) -> Option<String> {
        if !self.multiplier.is_finite() || self.multiplier < 1.0 {
            return Some(format!(
                "backoff multiplier = {} is out of range: it must be finite and at least 1",
                self.multiplier
            ));
        }
        if let Some(max) = self.max {
            if max < timeout || max > max_duration {
                return Some(format!(
                    "backoff max = {max:?} is out of range: it must be at least the timeout \
                     ({timeout:?}) and at most {max_duration:?}"
                ));
            }
        }
        if !self.jitter.is_finite() || !(0.0..1.0).contains(&self.jitter) {
            return Some(format!(
                "backoff jitter = {} is out of range: it must be at least 0 and below 1",
                self.jitter
            ));
        }
        None
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::constant()
    }
}

/// The backoff in the transition logic's units (µs), precomputed at build time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Periods {
    /// The base period (`timeout`), µs.
    pub(crate) timeout_us: u64,
    /// The cap before jitter, µs (`timeout_us` for a constant backoff).
    pub(crate) max_us: u64,
    pub(crate) multiplier: f64,
    pub(crate) jitter: f64,
}

impl Periods {
    pub(crate) fn new(b: &Backoff, timeout_us: u64, max_us: Option<u64>) -> Periods {
        Periods {
            timeout_us,
            max_us: max_us.unwrap_or(timeout_us).max(timeout_us),
            multiplier: b.multiplier,
            jitter: b.jitter,
        }
    }

    /// Length of open period `k` (1-based; 0 is treated as 1) before jitter, µs.
    pub(crate) fn base_us(&self, k: u32) -> u64 {
        if self.multiplier == 1.0 || k <= 1 {
            return self.timeout_us;
        }
        let grown = self.timeout_us as f64 * self.multiplier.powi(k as i32 - 1);
        if grown >= self.max_us as f64 {
            self.max_us
        } else {
            // Rounded up, like every duration in the crate (`clock::to_us`).
            (grown.ceil() as u64).min(self.max_us)
        }
    }

    /// Length of open period `k` whose jitter draw is `u` in `[0, 1)`, µs (at least 1).
    pub(crate) fn period_us(&self, k: u32, u: f64) -> u64 {
        jittered(self.base_us(k), self.jitter, u)
    }

    /// The longest period this backoff can produce, µs: the cap of a remote trip.
    pub(crate) fn longest_us(&self) -> u64 {
        jittered(self.max_us, self.jitter, 1.0)
    }
}

/// `base` times the factor `1 - f + 2 f u` (uniform in `[1 - f, 1 + f]` for uniform `u`).
pub(crate) fn jittered(base: u64, f: f64, u: f64) -> u64 {
    if f == 0.0 {
        return base;
    }
    let factor = 1.0 - f + 2.0 * f * u;
    ((base as f64 * factor).ceil() as u64).max(1)
}

/// The jitter draw of the period belonging to `generation`: a uniform value in `[0, 1)`
/// from SplitMix64 of `seed ^ generation` (53 high bits). A pure function, so the draw is
/// fixed when the period is decided and recomputed identically by every reader.
pub(crate) fn unit(seed: u64, generation: u64) -> f64 {
    let mut z = (seed ^ generation).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn periods(mult: f64, max: u64, jitter: f64) -> Periods {
        Periods {
            timeout_us: 1_000,
            max_us: max,
            multiplier: mult,
            jitter,
        }
    }

    #[test]
    fn exponential_grows_then_caps() {
        let p = periods(2.0, 10_000, 0.0);
        let lens: Vec<u64> = (1..=6).map(|k| p.base_us(k)).collect();
        assert_eq!(lens, [1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
        assert_eq!(p.base_us(1023), 10_000);
        assert_eq!(periods(1.0, 1_000, 0.0).base_us(50), 1_000);
    }

    proptest! {
        #[test]
        fn jitter_stays_in_its_band(k in 1u32..100, seed: u64, generation: u64, f in 0.0f64..0.99) {
            let p = periods(1.5, 1_000_000, f);
            let base = p.base_us(k) as f64;
            let len = p.period_us(k, unit(seed, generation)) as f64;
            prop_assert!(len >= (base * (1.0 - f)).floor().max(1.0), "{len} < {base} (1 - {f})");
            prop_assert!(len <= (base * (1.0 + f)).ceil(), "{len} > {base} (1 + {f})");
            prop_assert!(len <= p.longest_us() as f64);
        }

        #[test]
        fn the_draw_is_a_pure_uniform_function(seed: u64, generation: u64) {
            let u = unit(seed, generation);
            prop_assert!((0.0..1.0).contains(&u));
            prop_assert_eq!(u, unit(seed, generation));
        }

        #[test]
        fn periods_never_shrink_along_a_streak(k in 1u32..1000, m in 1.0f64..4.0) {
            let p = periods(m, 3_600_000_000, 0.0);
            prop_assert!(p.base_us(k + 1) >= p.base_us(k));
            prop_assert!(p.base_us(k) <= p.max_us);
        }
    }

    #[test]
    fn draws_spread_over_the_unit_interval() {
        // 10 equal bins over 10,000 generations: each holds 1,000 ± 15 %.
        let mut bins = [0u32; 10];
        for g in 0..10_000 {
            bins[(unit(42, g) * 10.0) as usize] += 1;
        }
        assert!(bins.iter().all(|&b| (850..=1150).contains(&b)), "{bins:?}");
    }

    #[test]
    fn validation_names_each_bound() {
        let t = Duration::from_secs(10);
        let max = Duration::from_secs(1_000);
        assert!(Backoff::constant().invalid(t, max).is_none());
        assert!(Backoff::exponential(f64::NAN, max)
            .invalid(t, max)
            .is_some());
        assert!(Backoff::exponential(f64::INFINITY, max)
            .invalid(t, max)
            .is_some());
        assert!(Backoff::exponential(0.99, max).invalid(t, max).is_some());
        assert!(Backoff::exponential(2.0, Duration::from_secs(5))
            .invalid(t, max)
            .is_some());
        assert!(Backoff::exponential(2.0, Duration::from_secs(1_001))
            .invalid(t, max)
            .is_some());
        assert!(Backoff::constant().jitter(1.0).invalid(t, max).is_some());
        assert!(Backoff::constant().jitter(-0.1).invalid(t, max).is_some());
        assert!(Backoff::constant()
            .jitter(f64::NAN)
            .invalid(t, max)
            .is_some());
        assert!(Backoff::constant().jitter(0.999).invalid(t, max).is_none());
    }
}
