//! Breaker configuration, its builder and validation.

use std::fmt;
use std::time::Duration;

use crate::clock::to_us;
use crate::transition::Limits;

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
#[derive(Clone, Debug)]
pub struct Config {
    failure_threshold: u32,
    success_threshold: u32,
    half_open_max_calls: u32,
    timeout: Duration,
    half_open_timeout: Duration,
    /// `timeout` in whole µs, rounded up: the unit of the breaker's clock.
    timeout_us: u64,
    /// `half_open_timeout` in whole µs, rounded up.
    half_open_timeout_us: u64,
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

    /// The settings in the units of the transition logic.
    #[inline]
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            failure_threshold: self.failure_threshold,
            success_threshold: self.success_threshold,
            half_open_max_calls: self.half_open_max_calls,
            timeout_us: self.timeout_us,
            half_open_timeout_us: self.half_open_timeout_us,
        }
    }

    fn new(thresholds: [u32; 3], timeout: Duration, half_open_timeout: Duration) -> Config {
        let [failure_threshold, success_threshold, half_open_max_calls] = thresholds;
        Config {
            failure_threshold,
            success_threshold,
            half_open_max_calls,
            timeout,
            half_open_timeout,
            timeout_us: to_us(timeout),
            half_open_timeout_us: to_us(half_open_timeout),
        }
    }
}

impl Default for Config {
    /// `failure_threshold` 5, `success_threshold` 2, `timeout` 60 s, `half_open_timeout`
    /// 30 s, `half_open_max_calls` 2 (the success threshold).
    fn default() -> Self {
        Config::new([5, 2, 2], Duration::from_secs(60), Duration::from_secs(30))
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

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first invalid field, its value and the allowed range:
    /// a threshold or `half_open_max_calls` of 0 or above [`Config::MAX_THRESHOLD`], a zero
    /// duration, or a duration above [`Config::MAX_DURATION`].
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
        Ok(Config::new(
            [failure_threshold, success_threshold, half_open_max_calls],
            timeout,
            half_open_timeout,
        ))
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
