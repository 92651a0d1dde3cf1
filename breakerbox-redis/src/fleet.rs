//! The handle ([`Fleet`]), the listener that hands local trips over, and the background task
//! that does all the Redis I/O.
//!
//! # Seams
//!
//! * Call path: untouched. A breaker's listeners run only on a transition; ours checks the
//!   cause, builds a small [`Trip`] and `try_send`s it into a bounded channel (full: drop and
//!   count). Nothing on any thread ever waits for Redis except the background task.
//! * Background task: owns both Redis connections (a multiplexed one for commands, one for
//!   the subscription), the table of reports heard (dedup and quorum, `reports.rs`) and this
//!   replica's own open trips (re-announced after a reconnect if Redis lost them).
//! * Decisions stay local: a peer's report only ever calls
//!   [`CircuitBreaker::open_remote`], capped by the breaker's own timeout; probing and
//!   closing are each replica's own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use breakerbox::{Cause, CircuitBreaker, Mode, Registry, State, StateChange};
use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use redis::AsyncConnectionConfig;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::message::TripReport;
use crate::reports::{Reports, Verdict};
use crate::{FleetConfig, FleetError};

/// Trip keys read per resynchronisation at most (a bound against a hostile key flood).
const MAX_RESYNC_KEYS: usize = 100_000;

/// Keys asked for per SCAN step, and fetched per GET/PTTL pipeline.
const SCAN_BATCH: usize = 256;

/// Which breakers a [`Fleet`] covers: a registry's (every breaker in it, including those
/// created later, found by the periodic scan) or only those passed to [`Fleet::watch`].
///
/// # Examples
///
/// ```
/// use breakerbox::Registry;
/// use breakerbox_redis::Source;
/// use std::sync::Arc;
///
/// let shared: Source = Arc::new(Registry::new()).into();
/// let global: Source = Registry::global().into();
/// assert!(matches!(shared, Source::Shared(_)));
/// assert!(matches!(global, Source::Static(_)));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Source {
    /// A registry held by `Arc`.
    Shared(Arc<Registry>),
    /// A `'static` registry, such as [`Registry::global`].
    Static(&'static Registry),
    /// No registry: only the breakers passed to [`Fleet::watch`].
    Watched,
}

impl Source {
    fn registry(&self) -> Option<&Registry> {
        match self {
            Source::Shared(r) => Some(r),
            Source::Static(r) => Some(r),
            Source::Watched => None,
        }
    }
}

impl From<Arc<Registry>> for Source {
    fn from(r: Arc<Registry>) -> Self {
        Source::Shared(r)
    }
}

impl From<&'static Registry> for Source {
    fn from(r: &'static Registry) -> Self {
        Source::Static(r)
    }
}

/// A snapshot of a [`Fleet`]'s counters.
///
/// Every report this replica *heard* (pub/sub or a resync read), except its own, counts once
/// in `received`, and then exactly once in one of `malformed`, `applied`, `ignored`:
/// `received == malformed + applied + ignored` (between reports: a snapshot taken while the
/// task handles one may see it in `received` only). Every local trip handed to the task
/// counts once in `published` or `dropped_offline`, unless the channel was full
/// (`dropped_full`).
///
/// # Examples
///
/// ```
/// let stats = breakerbox_redis::FleetStats::default();
/// assert_eq!(stats.received, stats.malformed + stats.applied + stats.ignored);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetStats {
    /// Trip reports written to Redis (SET + PUBLISH), re-announcements after a reconnect
    /// included.
    pub published: u64,
    /// Local trips dropped because the channel to the task was full.
    pub dropped_full: u64,
    /// Local trips the task could not write: Redis down, slow or failing.
    pub dropped_offline: u64,
    /// Reports from other replicas heard on the channel or read at a resync.
    pub received: u64,
    /// Of those, reports that opened a local breaker.
    pub applied: u64,
    /// Of those, valid reports with nothing to do: no such breaker here, already counted,
    /// below the quorum, breaker already open or under an operator override.
    pub ignored: u64,
    /// Of those, reports that failed to decode.
    pub malformed: u64,
    /// Connections re-made after a loss (the first connection is not counted).
    pub reconnects: u64,
    /// Completed synchronisations (connect, subscribe, read the trip keys, re-announce).
    pub syncs: u64,
    /// Whether the task is connected and synchronised now.
    pub connected: bool,
}

/// The live counters behind [`FleetStats`].
#[derive(Debug, Default)]
struct Counters {
    published: AtomicU64,
    dropped_full: AtomicU64,
    dropped_offline: AtomicU64,
    received: AtomicU64,
    applied: AtomicU64,
    ignored: AtomicU64,
    malformed: AtomicU64,
    reconnects: AtomicU64,
    syncs: AtomicU64,
    connected: AtomicBool,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        // Relaxed: statistics; no other memory is published through them.
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> FleetStats {
        // Relaxed: statistics (see `bump`).
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FleetStats {
            published: get(&self.published),
            dropped_full: get(&self.dropped_full),
            dropped_offline: get(&self.dropped_offline),
            received: get(&self.received),
            applied: get(&self.applied),
            ignored: get(&self.ignored),
            malformed: get(&self.malformed),
            reconnects: get(&self.reconnects),
            syncs: get(&self.syncs),
            // Relaxed: a status flag; nothing is read on the strength of it.
            connected: self.connected.load(Ordering::Relaxed),
        }
    }

    fn set_connected(&self, on: bool) {
        // Relaxed: as in `snapshot`.
        self.connected.store(on, Ordering::Relaxed);
    }
}

/// A local trip, handed from the listener to the task.
#[derive(Debug)]
struct Trip {
    name: String,
    /// How long the breaker stays open, from `at`.
    open_for: Duration,
    at: Instant,
}

/// What the listener of one breaker holds: no `Arc` of the fleet, nor of its own breaker,
/// so that a registry holding the breaker and the fleet holding the registry make no cycle.
struct Hook {
    tx: mpsc::Sender<Trip>,
    counters: Arc<Counters>,
    breaker: Weak<CircuitBreaker>,
    share_force_open: bool,
}

impl Hook {
    fn on_change(&self, change: &StateChange) {
        if change.to != State::Open || !shared_cause(change.cause, self.share_force_open) {
            return;
        }
        let Some(breaker) = self.breaker.upgrade() else {
            return;
        };
        let trip = Trip {
            name: change.name.clone(),
            open_for: open_period(&breaker),
            at: Instant::now(),
        };
        match self.tx.try_send(trip) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => Counters::bump(&self.counters.dropped_full),
            // The fleet was shut down: this breaker is simply no longer shared.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// Whether a transition to Open with `cause` is a trip the fleet hears of: the breaker's own
/// trips always; an operator's `force_open` only when configured; never `isolate` (no end to
/// send), `Remote` (no echo) or causes this version does not know.
fn shared_cause(cause: Cause, share_force_open: bool) -> bool {
    match cause {
        Cause::ConsecutiveFailures
        | Cause::FailureRate
        | Cause::SlowCallRate
        | Cause::ProbeFailed
        | Cause::HalfOpenExpired => true,
        Cause::ForceOpen => share_force_open,
        _ => false,
    }
}

/// How long a breaker that just tripped stays open: the period it actually chose (backoff
/// and jitter included), read with the pure query `retry_after` (listeners run after the
/// transition is published, so the period is there); the configured `timeout` only if the
/// breaker has already moved on.
fn open_period(breaker: &CircuitBreaker) -> Duration {
    breaker
        .retry_after()
        .unwrap_or_else(|| breaker.config().timeout())
}

/// State shared by the handle and the task.
#[derive(Debug)]
struct Shared {
    config: FleetConfig,
    source: Source,
    counters: Arc<Counters>,
    tx: mpsc::Sender<Trip>,
    /// Breakers listened to, by name. Weak: the fleet keeps no breaker alive.
    attached: Mutex<HashMap<String, Weak<CircuitBreaker>>>,
}

impl Shared {
    /// Listens to `breaker` unless it already is; `true` if it was new.
    fn hook(&self, breaker: &Arc<CircuitBreaker>) -> bool {
        let mut attached = lock(&self.attached);
        if let Some(known) = attached.get(breaker.name()) {
            if std::ptr::eq(known.as_ptr(), Arc::as_ptr(breaker)) {
                return false;
            }
        }
        attached.insert(breaker.name().to_owned(), Arc::downgrade(breaker));
        drop(attached);
        let hook = Hook {
            tx: self.tx.clone(),
            counters: Arc::clone(&self.counters),
            breaker: Arc::downgrade(breaker),
            share_force_open: self.config.share_force_open,
        };
        breaker.on_state_change(move |change| hook.on_change(change));
        true
    }

    /// The breaker named `name` here: the registry's (listened to from now on), else a
    /// watched one.
    fn lookup(&self, name: &str) -> Option<Arc<CircuitBreaker>> {
        if let Some(breaker) = self.source.registry().and_then(|r| r.get(name)) {
            self.hook(&breaker);
            return Some(breaker);
        }
        lock(&self.attached).get(name).and_then(Weak::upgrade)
    }

    /// Listens to every breaker of the registry not yet listened to; forgets dropped ones.
    fn scan(&self) {
        if let Some(registry) = self.source.registry() {
            for name in registry.names() {
                if let Some(breaker) = registry.get(&name) {
                    self.hook(&breaker);
                }
            }
        }
        lock(&self.attached).retain(|_, b| b.strong_count() > 0);
    }
}

/// The map lock is never held across a call that could panic; a poisoned lock still holds
/// a consistent map.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A replica's membership in a fleet: the handle of the background task that shares its
/// breakers' trips through Redis and applies its peers'.
///
/// Dropping it stops the task (the listeners it installed stay, and then do nothing);
/// [`shutdown`](Self::shutdown) also waits for the task to end.
///
/// # Examples
///
/// ```
/// use breakerbox::{Config, Registry};
/// use breakerbox_redis::{Fleet, FleetConfig};
/// use std::sync::Arc;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let registry = Arc::new(Registry::new());
/// let api = registry.get_or_create("api", Config::default());
/// // Nothing listens on port 1: the fleet keeps trying in the background, calls go on.
/// let config = FleetConfig::new("redis://127.0.0.1:1/", "shop", "pod-1");
/// let fleet = Fleet::attach(registry.clone(), config).unwrap();
/// assert!(api.call(|| Ok::<_, ()>(())).is_ok());
/// assert!(!fleet.stats().connected);
/// fleet.shutdown().await;
/// # }
/// ```
#[derive(Debug)]
pub struct Fleet {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Fleet {
    /// Joins the fleet `config` describes with the breakers of `source`, and spawns the
    /// background task on the current tokio runtime. Returns at once: the task connects,
    /// subscribes and reads the fleet's open trips in the background, and again after every
    /// lost connection (with backoff).
    ///
    /// # Errors
    ///
    /// [`FleetError`] for a bad setting or URL, or when called outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::Registry;
    /// use breakerbox_redis::{Fleet, FleetConfig, FleetError};
    ///
    /// // Outside a runtime:
    /// let config = FleetConfig::new("redis://127.0.0.1:1/", "shop", "a");
    /// assert_eq!(Fleet::attach(Registry::global(), config).unwrap_err(), FleetError::NoRuntime);
    /// ```
    pub fn attach(source: impl Into<Source>, config: FleetConfig) -> Result<Fleet, FleetError> {
        config.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| FleetError::NoRuntime)?;
        let client = redis::Client::open(config.redis_url.as_str())
            .map_err(|e| FleetError::Url(e.to_string()))?;
        let (tx, rx) = mpsc::channel(config.channel_capacity);
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            config,
            source: source.into(),
            counters: Arc::default(),
            tx,
            attached: Mutex::new(HashMap::new()),
        });
        shared.scan();
        let task = Task {
            shared: Arc::clone(&shared),
            client,
            rx,
            reports: Reports::default(),
            own: HashMap::new(),
            // A start that differs between incarnations of one replica id (so a restarted
            // replica's reports are not taken for copies of its last life's): the wall
            // clock is used as a unique number here, never as a time.
            next_sequence: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64),
        };
        let task = runtime.spawn(task.run(stopped));
        Ok(Fleet {
            shared,
            stop,
            task: Some(task),
        })
    }

    /// Shares the trips of `breaker` too, and applies peers' trips of its name to it: for
    /// a breaker outside the attached registry, or one just created in it (not to wait for
    /// the next scan). Watching a breaker twice does nothing more.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::CircuitBreaker;
    /// use breakerbox_redis::{Fleet, FleetConfig, Source};
    /// use std::sync::Arc;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = FleetConfig::new("redis://127.0.0.1:1/", "shop", "a");
    /// let fleet = Fleet::attach(Source::Watched, config).unwrap();
    /// let db = Arc::new(CircuitBreaker::new("db"));
    /// fleet.watch(&db);
    /// fleet.watch(&db); // already watched: one listener
    /// # }
    /// ```
    pub fn watch(&self, breaker: &Arc<CircuitBreaker>) {
        self.shared.hook(breaker);
    }

    /// How many breakers the fleet listens to now (those of the registry found so far, and
    /// the watched ones still alive).
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox::{Config, Registry};
    /// use breakerbox_redis::{Fleet, FleetConfig};
    /// use std::sync::Arc;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let registry = Arc::new(Registry::new());
    /// registry.get_or_create("a", Config::default());
    /// let fleet = Fleet::attach(registry.clone(), FleetConfig::new("redis://127.0.0.1:1/", "s", "r")).unwrap();
    /// assert_eq!(fleet.attached(), 1);
    /// fleet.watch(&registry.get_or_create("b", Config::default()));
    /// assert_eq!(fleet.attached(), 2);
    /// # }
    /// ```
    pub fn attached(&self) -> usize {
        lock(&self.shared.attached)
            .values()
            .filter(|b| b.strong_count() > 0)
            .count()
    }

    /// The counters now.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox_redis::{Fleet, FleetConfig, Source};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let fleet = Fleet::attach(Source::Watched, FleetConfig::new("redis://127.0.0.1:1/", "s", "a")).unwrap();
    /// assert_eq!(fleet.stats().published, 0);
    /// # }
    /// ```
    pub fn stats(&self) -> FleetStats {
        self.shared.counters.snapshot()
    }

    /// The configuration the fleet was attached with.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox_redis::{Fleet, FleetConfig, Source};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let fleet = Fleet::attach(Source::Watched, FleetConfig::new("redis://127.0.0.1:1/", "s", "a")).unwrap();
    /// assert_eq!(fleet.config().replica_id(), "a");
    /// # }
    /// ```
    pub fn config(&self) -> &FleetConfig {
        &self.shared.config
    }

    /// Stops the background task and waits for it to end (bounded by the current Redis
    /// operation's timeout). Local trips after this are no longer shared.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox_redis::{Fleet, FleetConfig, Source};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let fleet = Fleet::attach(Source::Watched, FleetConfig::new("redis://127.0.0.1:1/", "s", "a")).unwrap();
    /// fleet.shutdown().await;
    /// # }
    /// ```
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// One live connection pair.
struct Online {
    cmd: MultiplexedConnection,
    stream: PubSubStream,
    /// Kept so that the subscription's connection stays up.
    _sink: PubSubSink,
}

/// A trip of this replica's, still open when last written: re-announced after a reconnect
/// if Redis lost it (a restarted server, or a trip that happened while it was down).
#[derive(Debug)]
struct OwnTrip {
    sequence: u64,
    expires: Instant,
}

/// The background task.
struct Task {
    shared: Arc<Shared>,
    client: redis::Client,
    rx: mpsc::Receiver<Trip>,
    reports: Reports,
    own: HashMap<String, OwnTrip>,
    next_sequence: u64,
}

/// Why a Redis operation gave no result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failed {
    /// The connection is lost, refused, or too slow (the op timeout passed): re-make it.
    Connection,
    /// The server answered with an error (a hostile key of the wrong type, out of memory):
    /// the connection is fine.
    Reply,
}

/// `op`'s result, bounded by `limit`.
async fn bounded<T>(
    limit: Duration,
    op: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, Failed> {
    match tokio::time::timeout(limit, op).await {
        Err(_elapsed) => Err(Failed::Connection),
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e))
            if e.is_io_error()
                || e.is_timeout()
                || e.is_connection_dropped()
                || e.is_connection_refusal()
                || e.is_unrecoverable_error() =>
        {
            Err(Failed::Connection)
        }
        Ok(Err(_reply)) => Err(Failed::Reply),
    }
}

/// A message on the subscription, or `None` when it ended (connection lost); never ready
/// while offline.
async fn next_message(online: &mut Option<Online>) -> Option<redis::Msg> {
    match online {
        Some(o) => o.stream.next().await,
        None => std::future::pending().await,
    }
}

impl Task {
    fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    fn config(&self) -> &FleetConfig {
        &self.shared.config
    }

    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let config = self.config().clone();
        let mut online: Option<Online> = None;
        let mut ever_synced = false;
        let mut backoff = config.reconnect_min;
        let mut retry_at = tokio::time::Instant::now();
        // Housekeeping runs every scan interval (every second without scans): the registry
        // scan when enabled, and always the pruning of expired reports and own trips.
        let mut scan =
            tokio::time::interval(config.scan_interval.unwrap_or(Duration::from_secs(1)));
        scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut health = tokio::time::interval(config.health_interval);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if *stop.borrow() {
                break;
            }
            if online.is_none() && tokio::time::Instant::now() >= retry_at {
                let attempt = tokio::select! {
                    _ = stop.changed() => break,
                    attempt = self.connect() => attempt,
                };
                let synced = match attempt {
                    Some(mut o) => {
                        let ok = tokio::select! {
                            _ = stop.changed() => break,
                            ok = self.sync(&mut o) => ok,
                        };
                        ok.then_some(o)
                    }
                    None => None,
                };
                match synced {
                    Some(o) => {
                        online = Some(o);
                        if ever_synced {
                            Counters::bump(&self.counters().reconnects);
                        }
                        ever_synced = true;
                        Counters::bump(&self.counters().syncs);
                        self.counters().set_connected(true);
                        backoff = config.reconnect_min;
                        health.reset();
                    }
                    None => {
                        retry_at = tokio::time::Instant::now() + backoff;
                        backoff = (backoff * 2).min(config.reconnect_max);
                    }
                }
                continue;
            }
            let offline = online.is_none();
            let lost = tokio::select! {
                biased;
                _ = stop.changed() => break,
                trip = self.rx.recv() => match trip {
                    Some(trip) => !self.outbound(trip, &mut online).await,
                    None => break,
                },
                msg = next_message(&mut online) => match msg {
                    Some(msg) => {
                        self.inbound(msg.get_payload_bytes(), None);
                        false
                    }
                    None => true,
                },
                _ = tokio::time::sleep_until(retry_at), if offline => false,
                _ = scan.tick() => {
                    self.housekeeping();
                    false
                }
                _ = health.tick(), if !offline => !self.ping(&mut online).await,
            };
            if lost {
                online = None;
                self.counters().set_connected(false);
                retry_at = tokio::time::Instant::now() + backoff;
            }
        }
        self.counters().set_connected(false);
    }

    /// Both connections and the subscription, each step bounded by the op timeout.
    async fn connect(&self) -> Option<Online> {
        let op = self.config().op_timeout;
        let settings = AsyncConnectionConfig::new()
            .set_connection_timeout(op)
            .set_response_timeout(op);
        let cmd = tokio::time::timeout(
            op,
            self.client
                .get_multiplexed_async_connection_with_config(&settings),
        )
        .await
        .ok()?
        .ok()?;
        let mut pubsub = tokio::time::timeout(op, self.client.get_async_pubsub())
            .await
            .ok()?
            .ok()?;
        tokio::time::timeout(op, pubsub.subscribe(self.config().channel()))
            .await
            .ok()?
            .ok()?;
        let (sink, stream) = pubsub.split();
        Some(Online {
            cmd,
            stream,
            _sink: sink,
        })
    }

    /// Runs `cmd` on the command connection within the op timeout.
    async fn cmd<T: redis::FromRedisValue>(
        &self,
        online: &mut Online,
        cmd: &redis::Cmd,
    ) -> Result<T, Failed> {
        bounded(self.config().op_timeout, cmd.query_async(&mut online.cmd)).await
    }

    /// Runs `pipe` on the command connection within the op timeout.
    async fn pipe<T: redis::FromRedisValue>(
        &self,
        online: &mut Online,
        pipe: &redis::Pipeline,
    ) -> Result<T, Failed> {
        bounded(self.config().op_timeout, pipe.query_async(&mut online.cmd)).await
    }

    /// After (re)connecting, subscribed already: reads every open trip of the fleet (their
    /// remaining time from PTTL), then re-writes this replica's own open trips that Redis
    /// no longer holds. `false` if the connection failed meanwhile.
    async fn sync(&mut self, online: &mut Online) -> bool {
        let pattern = self.config().trip_pattern();
        let mut cursor: u64 = 0;
        let mut seen = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_BATCH);
            let Ok((next, keys)) = self.cmd::<(u64, Vec<Vec<u8>>)>(online, &scan).await else {
                return false;
            };
            if !keys.is_empty() && !self.read_trips(online, &keys).await {
                return false;
            }
            seen += keys.len();
            cursor = next;
            if cursor == 0 || seen >= MAX_RESYNC_KEYS {
                break;
            }
        }
        self.reannounce(online).await
    }

    /// Reads the reports under `keys` with their remaining time, in one transaction (so no
    /// key expires between its two reads): PTTL, then at most one byte more than a report
    /// may hold (a huge hostile value is never read whole). `false` if the connection
    /// failed; a batch the server refuses (a key of another type) counts as malformed.
    async fn read_trips(&mut self, online: &mut Online, keys: &[Vec<u8>]) -> bool {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for key in keys {
            pipe.cmd("PTTL").arg(key);
            pipe.cmd("GETRANGE")
                .arg(key)
                .arg(0)
                .arg(crate::message::MAX_REPORT_LEN);
        }
        let values = match self.pipe::<Vec<redis::Value>>(online, &pipe).await {
            Ok(values) => values,
            Err(Failed::Connection) => return false,
            Err(Failed::Reply) => {
                for _ in keys {
                    Counters::bump(&self.counters().received);
                    Counters::bump(&self.counters().malformed);
                }
                return true;
            }
        };
        for pair in values.chunks(2) {
            let [pttl, value] = pair else { continue };
            let pttl = redis::from_redis_value::<i64>(pttl).unwrap_or(-1);
            if pttl == -2 {
                continue; // Expired between SCAN and the read.
            }
            let bytes = redis::from_redis_value::<Vec<u8>>(value).unwrap_or_default();
            self.inbound(&bytes, Some(pttl));
        }
        true
    }

    /// Re-writes (SET NX, then PUBLISH) each own trip that is still open here and whose key
    /// Redis lost. `false` if the connection failed.
    async fn reannounce(&mut self, online: &mut Online) -> bool {
        let now = Instant::now();
        self.own.retain(|_, t| t.expires > now);
        let pending: Vec<(String, u64, Duration)> = self
            .own
            .iter()
            .map(|(name, t)| (name.clone(), t.sequence, t.expires - now))
            .collect();
        for (name, sequence, remaining) in pending {
            let still_open = self
                .shared
                .lookup(&name)
                .is_some_and(|b| b.state() == State::Open);
            if !still_open {
                continue;
            }
            let wire = self.report(&name, sequence, remaining).encode();
            let key = self.config().trip_key(&name);
            let ms = crate::message::remaining_ms(remaining);
            let mut set = redis::cmd("SET");
            set.arg(&key).arg(&wire).arg("PX").arg(ms).arg("NX");
            match self.cmd::<Option<String>>(online, &set).await {
                Ok(Some(_written)) => {}
                Ok(None) | Err(Failed::Reply) => continue, // Still held, or refused.
                Err(Failed::Connection) => return false,
            }
            let mut publish = redis::cmd("PUBLISH");
            publish.arg(self.config().channel()).arg(&wire);
            match self.cmd::<i64>(online, &publish).await {
                Ok(_) => Counters::bump(&self.counters().published),
                Err(Failed::Reply) => Counters::bump(&self.counters().dropped_offline),
                Err(Failed::Connection) => return false,
            }
        }
        true
    }

    fn report(&self, name: &str, sequence: u64, remaining: Duration) -> TripReport {
        TripReport {
            fleet: self.config().prefix.clone(),
            replica: self.config().replica_id.clone(),
            sequence,
            remaining,
            name: name.to_owned(),
        }
    }

    /// A local trip from a listener: numbered, remembered, and written if online.
    /// `false` if the connection failed.
    async fn outbound(&mut self, trip: Trip, online: &mut Option<Online>) -> bool {
        let now = Instant::now();
        let remaining = trip
            .open_for
            .saturating_sub(now.saturating_duration_since(trip.at))
            .max(Duration::from_millis(1));
        self.next_sequence = self.next_sequence.wrapping_add(1);
        let sequence = self.next_sequence;
        let expires = now + remaining;
        let me = self.config().replica_id.clone();
        // Our own trip counts towards the quorum for peers' reports of the same breaker.
        self.reports
            .record(&trip.name, &me, sequence, expires, now, usize::MAX);
        self.own
            .insert(trip.name.clone(), OwnTrip { sequence, expires });
        let Some(o) = online.as_mut() else {
            Counters::bump(&self.counters().dropped_offline);
            return true;
        };
        let wire = self.report(&trip.name, sequence, remaining).encode();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(self.config().trip_key(&trip.name))
            .arg(&wire)
            .arg("PX")
            .arg(crate::message::remaining_ms(remaining))
            .ignore()
            .cmd("PUBLISH")
            .arg(self.config().channel())
            .arg(&wire)
            .ignore();
        match self.pipe::<()>(o, &pipe).await {
            Ok(()) => {
                Counters::bump(&self.counters().published);
                true
            }
            Err(failed) => {
                Counters::bump(&self.counters().dropped_offline);
                failed == Failed::Reply
            }
        }
    }

    /// A report heard on the channel (`pttl` None) or read at a resync (`pttl` from Redis:
    /// -1 for a key without expiry).
    fn inbound(&mut self, bytes: &[u8], pttl: Option<i64>) {
        let counters = Arc::clone(&self.shared.counters);
        let report = match TripReport::decode(bytes, &self.config().prefix) {
            Ok(report) if report.replica == self.config().replica_id => return,
            Ok(report) => {
                Counters::bump(&counters.received);
                report
            }
            Err(_) => {
                Counters::bump(&counters.received);
                Counters::bump(&counters.malformed);
                return;
            }
        };
        let remaining = match pttl {
            Some(ms) if ms >= 0 => report.remaining.min(Duration::from_millis(ms as u64)),
            _ => report.remaining,
        };
        if self.consider(&report, remaining) {
            Counters::bump(&counters.applied);
        } else {
            Counters::bump(&counters.ignored);
        }
    }

    /// Applies a peer's valid report if the quorum is reached and the breaker is not already
    /// open; `true` if it opened the breaker.
    fn consider(&mut self, report: &TripReport, remaining: Duration) -> bool {
        let Some(breaker) = self.shared.lookup(&report.name) else {
            return false;
        };
        // The local timeout caps the period (the core caps it too) and how long the report
        // is remembered.
        let remaining = remaining.min(breaker.config().timeout());
        let now = Instant::now();
        let quorum = self.config().quorum as usize;
        let verdict = self.reports.record(
            &report.name,
            &report.replica,
            report.sequence,
            now + remaining,
            now,
            quorum,
        );
        if verdict != Verdict::Reached
            || remaining.is_zero()
            || breaker.mode() != Mode::Normal
            || breaker.state() == State::Open
        {
            return false;
        }
        breaker.open_remote(remaining);
        // A trip of our own of this name, if any, is superseded: never re-announce it.
        self.own.remove(&report.name);
        true
    }

    /// A PING within the op timeout; `false` if the connection is gone.
    async fn ping(&self, online: &mut Option<Online>) -> bool {
        let Some(o) = online.as_mut() else {
            return true;
        };
        let mut ping = redis::cmd("PING");
        ping.arg(b"bbx");
        self.cmd::<Vec<u8>>(o, &ping).await != Err(Failed::Connection)
    }

    /// The periodic scan: new breakers of the registry (when enabled), expired reports and
    /// own trips.
    fn housekeeping(&mut self) {
        if self.config().scan_interval.is_some() {
            self.shared.scan();
        }
        let now = Instant::now();
        self.reports.prune(now);
        self.own.retain(|_, t| t.expires > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_own_trips_are_shared_by_default() {
        for cause in [
            Cause::ConsecutiveFailures,
            Cause::FailureRate,
            Cause::SlowCallRate,
            Cause::ProbeFailed,
            Cause::HalfOpenExpired,
        ] {
            assert!(shared_cause(cause, false), "{cause}");
        }
        for cause in [
            Cause::Remote,
            Cause::ForceOpen,
            Cause::Isolate,
            Cause::Reset,
        ] {
            assert!(!shared_cause(cause, false), "{cause}");
        }
        assert!(shared_cause(Cause::ForceOpen, true));
        assert!(!shared_cause(Cause::Isolate, true));
        assert!(!shared_cause(Cause::Remote, true));
    }
}
