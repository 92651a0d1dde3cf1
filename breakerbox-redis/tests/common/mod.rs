//! Test support: a real `redis-server` per test on a free loopback port, replicas, and a
//! bounded wait.
#![allow(dead_code)] // Each test file uses its own subset.

use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use breakerbox::{Cause, CircuitBreaker, Config, Registry, State};
use breakerbox_redis::{Fleet, FleetConfig, FleetStats};

/// The longest any wait in these tests lasts before it fails the test.
pub const BOUND: Duration = Duration::from_secs(15);

/// A `redis-server` child on 127.0.0.1, persistence off; killed when dropped.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free loopback port.
    pub fn start() -> RedisServer {
        for _ in 0..5 {
            let port = free_port();
            if let Some(child) = spawn(port) {
                return RedisServer {
                    port,
                    child: Some(child),
                };
            }
        }
        panic!("could not start redis-server on a free loopback port");
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a fresh, empty server on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + BOUND;
        while Instant::now() < deadline {
            if let Some(child) = spawn(self.port) {
                self.child = Some(child);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("could not restart redis-server on port {}", self.port);
    }

    /// A plain client connection, for the tests' own commands.
    pub async fn client(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().unwrap().port()
}

/// Spawns `redis-server` on `port` and waits until it accepts connections; `None` if it
/// exited (port taken) or never came up.
fn spawn(port: u16) -> Option<Child> {
    let mut child = Command::new("redis-server")
        .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
        .args(["--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server on PATH (apt-get install -y redis-server)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return None;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Polls `cond` until it holds; fails the test after [`BOUND`].
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Runs `fut` bounded by [`BOUND`].
pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// One replica: its own registry, its breaker `upstream`, its fleet, and a log of the
/// breaker's transitions.
pub struct Replica {
    pub registry: Arc<Registry>,
    pub breaker: Arc<CircuitBreaker>,
    pub fleet: Fleet,
    pub log: Arc<Mutex<Vec<(State, State, Cause)>>>,
}

/// The breaker config of the replicas: 3 failures trip it, open for `timeout`.
pub fn breaker_config(timeout: Duration) -> Config {
    Config::builder()
        .failure_threshold(3)
        .timeout(timeout)
        .build()
        .unwrap()
}

/// A fleet config for tests: short backoff, fast health checks.
pub fn fleet_config(server: &RedisServer, prefix: &str, id: &str) -> FleetConfig {
    FleetConfig::new(server.url(), prefix, id)
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(200))
        .health_interval(Duration::from_millis(100))
        .scan_interval(Some(Duration::from_millis(100)))
}

impl Replica {
    /// A replica with the default breaker config (open for 30 s).
    pub fn new(config: FleetConfig) -> Replica {
        Replica::with_timeout(config, Duration::from_secs(30))
    }

    pub fn with_timeout(config: FleetConfig, timeout: Duration) -> Replica {
        let registry = Arc::new(Registry::new());
        let breaker = registry.get_or_create("upstream", breaker_config(timeout));
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&log);
        breaker.on_state_change(move |c| seen.lock().unwrap().push((c.from, c.to, c.cause)));
        let fleet = Fleet::attach(Arc::clone(&registry), config).unwrap();
        Replica {
            registry,
            breaker,
            fleet,
            log,
        }
    }

    pub fn stats(&self) -> FleetStats {
        self.fleet.stats()
    }

    /// Records failures until the breaker opens (by its own rule).
    pub fn trip(&self) {
        for _ in 0..100 {
            if self.breaker.state() == State::Open {
                return;
            }
            let _ = self.breaker.call(|| Err::<(), _>("down"));
        }
        panic!("breaker did not trip");
    }

    /// `n` successful calls, all admitted.
    pub fn calls_succeed(&self, n: usize) {
        for _ in 0..n {
            assert!(self.breaker.call(|| Ok::<_, ()>(())).is_ok());
        }
    }

    pub fn transitions(&self) -> Vec<(State, State, Cause)> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the fleet has synchronised `n` times in all.
    pub async fn synced(&self, n: u64) {
        let fleet = &self.fleet;
        eventually("fleet synchronised", || {
            let s = fleet.stats();
            s.syncs >= n && s.connected
        })
        .await;
    }
}
