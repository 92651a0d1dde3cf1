//! The fleet's settings.

use std::fmt;
use std::time::Duration;

/// How a replica joins a fleet: the Redis server, the fleet's key prefix, its own id, and the
/// tuning knobs (all with defaults).
///
/// # Examples
///
/// ```
/// use breakerbox_redis::FleetConfig;
/// use std::time::Duration;
///
/// let config = FleetConfig::new("redis://127.0.0.1:6379", "checkout", "pod-7")
///     .quorum(2)
///     .scan_interval(Some(Duration::from_millis(500)));
/// assert_eq!(config.prefix(), "checkout");
/// assert_eq!(config.get_quorum(), 2);
/// assert_eq!(config.channel(), "checkout:trips");
/// ```
#[derive(Clone, Debug)]
pub struct FleetConfig {
    pub(crate) redis_url: String,
    pub(crate) prefix: String,
    pub(crate) replica_id: String,
    pub(crate) quorum: u32,
    pub(crate) channel_capacity: usize,
    pub(crate) scan_interval: Option<Duration>,
    pub(crate) op_timeout: Duration,
    pub(crate) health_interval: Duration,
    pub(crate) reconnect_min: Duration,
    pub(crate) reconnect_max: Duration,
    pub(crate) share_force_open: bool,
}

impl FleetConfig {
    /// A replica `replica_id` of the fleet `prefix` on the Redis server at `redis_url`, with
    /// the defaults: quorum 1, a channel of 1024 reports, a registry scan every second,
    /// a 1 s timeout on every Redis operation, a health check (PING) every second,
    /// reconnection backoff from 50 ms doubling to 5 s, and only the breakers' own trips
    /// shared (not `force_open`).
    ///
    /// The prefix names the fleet: the channel is `{prefix}:trips`, the keys
    /// `{prefix}:trip:{breaker}:{replica}`. Neither it nor the replica id may contain `|`
    /// (the report's separator) or be empty; [`Fleet::attach`](crate::Fleet::attach) checks.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = breakerbox_redis::FleetConfig::new("redis://127.0.0.1/", "shop", "a");
    /// assert_eq!(config.replica_id(), "a");
    /// ```
    pub fn new(
        redis_url: impl Into<String>,
        prefix: impl Into<String>,
        replica_id: impl Into<String>,
    ) -> Self {
        FleetConfig {
            redis_url: redis_url.into(),
            prefix: prefix.into(),
            replica_id: replica_id.into(),
            quorum: 1,
            channel_capacity: 1024,
            scan_interval: Some(Duration::from_secs(1)),
            op_timeout: Duration::from_secs(1),
            health_interval: Duration::from_secs(1),
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(5),
            share_force_open: false,
        }
    }

    /// Open a breaker for peers' trips only once `k` distinct replicas (this one included,
    /// when its own breaker of that name tripped) have reported a trip that is still open.
    /// Default 1: the first report opens it. Must be at least 1.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = breakerbox_redis::FleetConfig::new("redis://127.0.0.1/", "shop", "a").quorum(3);
    /// assert_eq!(config.get_quorum(), 3);
    /// ```
    pub fn quorum(mut self, k: u32) -> Self {
        self.quorum = k;
        self
    }

    /// Reports waiting for the background task at most; when full, a new trip's report is
    /// dropped and counted (`dropped_full`). Default 1024; must be at least 1.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = breakerbox_redis::FleetConfig::new("redis://127.0.0.1/", "shop", "a")
    ///     .channel_capacity(64);
    /// # let _ = config;
    /// ```
    pub fn channel_capacity(mut self, n: usize) -> Self {
        self.channel_capacity = n;
        self
    }

    /// How often the background task looks for breakers created in the registry since the
    /// last look (`None`: never; use [`Fleet::watch`](crate::Fleet::watch)). Default 1 s.
    ///
    /// The registry has no creation hook, so a breaker created between two scans is not yet
    /// listened to: its own trips in that gap are not published (peers' trips are applied to
    /// it at once, found by name). Each scan costs one `Registry::names()` and a lookup per
    /// name: negligible for hundreds of breakers, worth a longer interval (or `None` and
    /// `watch`) for a million.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = breakerbox_redis::FleetConfig::new("redis://127.0.0.1/", "shop", "a")
    ///     .scan_interval(None);
    /// # let _ = config;
    /// ```
    pub fn scan_interval(mut self, every: Option<Duration>) -> Self {
        self.scan_interval = every;
        self
    }

    /// The longest any one Redis operation (connect, publish, resync step, PING) may take
    /// before the connection is deemed dead and re-made. Default 1 s.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = breakerbox_redis::FleetConfig::new("redis://127.0.0.1/", "shop", "a")
    ///     .op_timeout(Duration::from_millis(250));
    /// # let _ = config;
    /// ```
    pub fn op_timeout(mut self, d: Duration) -> Self {
        self.op_timeout = d;
        self
    }

    /// How often an idle connection is checked with a PING. Default 1 s.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = breakerbox_redis::FleetConfig::new("redis://127.0.0.1/", "shop", "a")
    ///     .health_interval(Duration::from_secs(5));
    /// # let _ = config;
    /// ```
    pub fn health_interval(mut self, d: Duration) -> Self {
        self.health_interval = d;
        self
    }

    /// Reconnection backoff: the first retry after `min`, doubling up to `max`.
    /// Default 50 ms to 5 s.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = breakerbox_redis::FleetConfig::new("redis://127.0.0.1/", "shop", "a")
    ///     .reconnect_backoff(Duration::from_millis(10), Duration::from_secs(1));
    /// # let _ = config;
    /// ```
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max.max(min);
        self
    }

    /// Also share operator `force_open()` calls as trips (default `false`: only a breaker's
    /// own trips are shared, i.e. causes `ConsecutiveFailures`, `FailureRate`,
    /// `SlowCallRate`, `ProbeFailed`, `HalfOpenExpired`). `isolate()` is never shared (it has
    /// no end to send), nor is a remote opening (no echo).
    ///
    /// # Examples
    ///
    /// ```
    /// let config = breakerbox_redis::FleetConfig::new("redis://127.0.0.1/", "shop", "a")
    ///     .share_force_open(true);
    /// # let _ = config;
    /// ```
    pub fn share_force_open(mut self, on: bool) -> Self {
        self.share_force_open = on;
        self
    }

    /// The fleet's key prefix.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = breakerbox_redis::FleetConfig::new("redis://127.0.0.1/", "shop", "a");
    /// assert_eq!(config.prefix(), "shop");
    /// ```
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// This replica's id.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = breakerbox_redis::FleetConfig::new("redis://127.0.0.1/", "shop", "a");
    /// assert_eq!(config.replica_id(), "a");
    /// ```
    pub fn replica_id(&self) -> &str {
        &self.replica_id
    }

    /// The quorum (see [`quorum`](Self::quorum)).
    ///
    /// # Examples
    ///
    /// ```
    /// let config = breakerbox_redis::FleetConfig::new("redis://127.0.0.1/", "shop", "a");
    /// assert_eq!(config.get_quorum(), 1);
    /// ```
    pub fn get_quorum(&self) -> u32 {
        self.quorum
    }

    /// The pub/sub channel of the fleet: `{prefix}:trips`.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = breakerbox_redis::FleetConfig::new("redis://127.0.0.1/", "shop", "a");
    /// assert_eq!(config.channel(), "shop:trips");
    /// ```
    pub fn channel(&self) -> String {
        format!("{}:trips", self.prefix)
    }

    /// The key under which this replica records a trip of `breaker`:
    /// `{prefix}:trip:{breaker}:{replica}`.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = breakerbox_redis::FleetConfig::new("redis://127.0.0.1/", "shop", "a");
    /// assert_eq!(config.trip_key("db"), "shop:trip:db:a");
    /// ```
    pub fn trip_key(&self, breaker: &str) -> String {
        format!("{}:trip:{}:{}", self.prefix, breaker, self.replica_id)
    }

    /// The SCAN pattern matching every trip key of the fleet (the prefix glob-escaped).
    pub(crate) fn trip_pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.prefix.len() + 8);
        for c in self.prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push_str(":trip:*");
        pattern
    }

    pub(crate) fn validate(&self) -> Result<(), FleetError> {
        let bad = |s: &str, max: usize| s.is_empty() || s.contains('|') || s.len() > max;
        if bad(&self.prefix, 256) {
            return Err(FleetError::Prefix);
        }
        if bad(&self.replica_id, crate::message::MAX_REPLICA_LEN) {
            return Err(FleetError::ReplicaId);
        }
        if self.quorum == 0 {
            return Err(FleetError::Quorum);
        }
        if self.channel_capacity == 0 {
            return Err(FleetError::ChannelCapacity);
        }
        Ok(())
    }
}

/// Why [`Fleet::attach`](crate::Fleet::attach) refused a configuration.
///
/// # Examples
///
/// ```
/// use breakerbox_redis::{Fleet, FleetConfig, FleetError};
///
/// let config = FleetConfig::new("redis://127.0.0.1/", "shop", "a|b");
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// # let _guard = rt.enter();
/// let err = Fleet::attach(breakerbox::Registry::global(), config).unwrap_err();
/// assert_eq!(err, FleetError::ReplicaId);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FleetError {
    /// Not called from inside a tokio runtime (the background task needs one).
    NoRuntime,
    /// The Redis URL does not parse; the client's message.
    Url(String),
    /// The prefix is empty, longer than 256 bytes, or contains `|`.
    Prefix,
    /// The replica id is empty, longer than 128 bytes, or contains `|`.
    ReplicaId,
    /// The quorum is 0.
    Quorum,
    /// The channel capacity is 0.
    ChannelCapacity,
}

impl fmt::Display for FleetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FleetError::NoRuntime => f.write_str("Fleet::attach must run inside a tokio runtime"),
            FleetError::Url(why) => write!(f, "bad Redis URL: {why}"),
            FleetError::Prefix => f.write_str("the prefix must be 1..=256 bytes without '|'"),
            FleetError::ReplicaId => {
                f.write_str("the replica id must be 1..=128 bytes without '|'")
            }
            FleetError::Quorum => f.write_str("the quorum must be at least 1"),
            FleetError::ChannelCapacity => f.write_str("the channel capacity must be at least 1"),
        }
    }
}

impl std::error::Error for FleetError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_pattern_escapes_glob_characters() {
        let c = FleetConfig::new("redis://127.0.0.1/", "a*b?[c]\\", "r");
        assert_eq!(c.trip_pattern(), "a\\*b\\?\\[c\\]\\\\:trip:*");
    }

    #[test]
    fn validation_names_the_bad_setting() {
        let ok = || FleetConfig::new("redis://127.0.0.1/", "p", "r");
        assert_eq!(ok().validate(), Ok(()));
        assert_eq!(
            FleetConfig::new("u", "", "r").validate(),
            Err(FleetError::Prefix)
        );
        assert_eq!(
            FleetConfig::new("u", "p|q", "r").validate(),
            Err(FleetError::Prefix)
        );
        assert_eq!(
            FleetConfig::new("u", "p", "").validate(),
            Err(FleetError::ReplicaId)
        );
        assert_eq!(ok().quorum(0).validate(), Err(FleetError::Quorum));
        assert_eq!(
            ok().channel_capacity(0).validate(),
            Err(FleetError::ChannelCapacity)
        );
    }
}
