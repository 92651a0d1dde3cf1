//! A database-style wrapper using the guard API, plus an async flavour with `call_future`.
//!
//! ```text
//! cargo run --example database
//! ```
//!
//! `try_acquire` asks the breaker for a permit before the query runs; the wrapper then
//! records what the query's result means for the database's health:
//!
//! * rows, or a constraint violation (the database answered): `Permit::success`;
//! * a lost connection or a timeout: `Permit::failure`;
//! * a query the caller cancelled: `Outcome::Ignored` (it says nothing either way).
//!
//! The async query goes through `call_future`, driven by `futures::executor::block_on`
//! (no runtime needed); there every `Err` counts as a failure.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, Error, Outcome, Registry};

/// What the simulated database can report.
#[derive(Debug, Clone, PartialEq)]
enum DbError {
    /// The connection to the server broke.
    ConnectionLost,
    /// The query ran past its deadline.
    Timeout,
    /// The server rejected the row: the database is fine, the data is not.
    UniqueViolation(String),
    /// The caller gave up on the query before it finished.
    Cancelled,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::ConnectionLost => f.write_str("connection lost"),
            DbError::Timeout => f.write_str("query timed out"),
            DbError::UniqueViolation(key) => write!(f, "duplicate key {key:?}"),
            DbError::Cancelled => f.write_str("cancelled by the caller"),
        }
    }
}

impl std::error::Error for DbError {}

/// A simulated database server: healthy until `fail_next` is set above zero.
#[derive(Debug, Default)]
struct SimulatedDb {
    /// The next this-many queries lose their connection.
    fail_next: AtomicU32,
    /// Queries that reached the server.
    queries: AtomicU32,
}

impl SimulatedDb {
    fn execute(&self, sql: &str) -> Result<Vec<String>, DbError> {
        // Relaxed: independent counters; nothing else is published through them.
        self.queries.fetch_add(1, Ordering::Relaxed);
        let failing = self
            .fail_next
            // Relaxed: a counter of scripted failures, read and written only by this update.
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(DbError::ConnectionLost);
        }
        if sql.starts_with("INSERT") && sql.contains("'alice'") {
            return Err(DbError::UniqueViolation("users.name = alice".into()));
        }
        if sql.ends_with("/* cancelled */") {
            return Err(DbError::Cancelled);
        }
        if sql.contains("pg_sleep") {
            return Err(DbError::Timeout);
        }
        Ok(vec![format!("row for `{sql}`")])
    }

    async fn execute_async(&self, sql: &str) -> Result<Vec<String>, DbError> {
        // A real driver would await the network here.
        futures::future::ready(()).await;
        self.execute(sql)
    }

    fn queries(&self) -> u32 {
        // Relaxed: a statistic, read on the same thread that did the queries.
        self.queries.load(Ordering::Relaxed)
    }
}

/// A database handle whose queries go through a breaker from the global registry.
struct Database {
    breaker: Arc<CircuitBreaker>,
    db: SimulatedDb,
}

impl Database {
    fn connect(name: &str) -> Self {
        let config = Config::builder()
            .failure_threshold(3)
            .success_threshold(1)
            .timeout(Duration::from_secs(1))
            .build()
            .expect("valid settings");
        Database {
            breaker: Registry::global().get_or_create(name, config),
            db: SimulatedDb::default(),
        }
    }

    /// Runs `sql` with the guard API, classifying the result by hand.
    fn query(&self, sql: &str) -> Result<Vec<String>, Error<DbError>> {
        // Admission first: when the breaker is open, fail fast without touching the server.
        let permit = self.breaker.try_acquire()?;
        let result = self.db.execute(sql);
        match &result {
            Ok(_) | Err(DbError::UniqueViolation(_)) => permit.success(),
            Err(DbError::ConnectionLost | DbError::Timeout) => permit.failure(),
            Err(DbError::Cancelled) => permit.record_outcome(Outcome::Ignored),
        }
        result.map_err(Error::Inner)
    }

    /// The same query, async: admission when first polled, outcome when it completes.
    async fn query_async(&self, sql: &str) -> Result<Vec<String>, Error<DbError>> {
        self.breaker.call_future(self.db.execute_async(sql)).await
    }
}

/// "breaker open, retry in 999 ms": a short text for a rejection.
fn rejection(r: &breakerbox::Rejected) -> String {
    match r.retry_after() {
        Some(wait) => format!("breaker {}, retry in {} ms", r.state(), wait.as_millis()),
        None => format!("breaker {}, no probe slot free", r.state()),
    }
}

fn show(label: &str, result: &Result<Vec<String>, Error<DbError>>, db: &Database) {
    let text = match result {
        Ok(rows) => format!("{} row(s): {}", rows.len(), rows.join(", ")),
        Err(Error::Inner(e)) => format!("error: {e}"),
        Err(Error::Rejected(r)) => format!("rejected: {}", rejection(r)),
    };
    println!("  {label:<46} {text:<58} [{}]", db.breaker.state());
}

fn main() {
    let db = Database::connect("postgres-primary");

    println!("guard API (try_acquire -> Permit::success / failure):");
    for sql in [
        "SELECT * FROM users WHERE id = 1",
        "INSERT INTO users (name) VALUES ('alice')",
        "SELECT count(*) FROM events /* cancelled */",
    ] {
        show(sql, &db.query(sql), &db);
    }
    // The duplicate key was the database answering, not failing; the cancelled query
    // counts for nothing.
    let m = db.breaker.metrics();
    assert_eq!(
        (m.successful_calls, m.failed_calls, m.ignored_calls),
        (2, 0, 1)
    );

    println!("the connection drops:");
    db.db.fail_next.store(2, Ordering::Relaxed); // Relaxed: single-threaded set-up.
    show("SELECT 1", &db.query("SELECT 1"), &db);
    show("SELECT 2", &db.query("SELECT 2"), &db);
    show("SELECT pg_sleep(60)", &db.query("SELECT pg_sleep(60)"), &db);
    let reached = db.db.queries();
    show("SELECT 3", &db.query("SELECT 3"), &db);
    assert_eq!(
        db.db.queries(),
        reached,
        "an open breaker does not reach the server"
    );

    println!("async, through call_future + block_on:");
    let rejected = futures::executor::block_on(db.query_async("SELECT 4"));
    show("SELECT 4 (async, still open)", &rejected, &db);
    assert!(matches!(rejected, Err(Error::Rejected(_))));

    std::thread::sleep(Duration::from_millis(1050));
    let probe = futures::executor::block_on(db.query_async("SELECT 5"));
    show("SELECT 5 (async, after the 1 s timeout)", &probe, &db);
    assert!(probe.is_ok());

    let m = db.breaker.metrics();
    println!(
        "metrics for {}: {} calls: {} ok, {} failed, {} ignored, {} rejected; \
         {} transitions; state {}",
        db.breaker.name(),
        m.total_calls,
        m.successful_calls,
        m.failed_calls,
        m.ignored_calls,
        m.rejected_calls,
        m.state_transitions,
        m.state
    );
    assert_eq!(
        m.total_calls,
        m.successful_calls + m.failed_calls + m.ignored_calls + m.rejected_calls
    );
}
