//! A real embedded database behind a breaker: SQLite (through `rusqlite`) in a temporary
//! directory, with the guard API deciding what each result means for the database's health.
//!
//! ```text
//! cargo run -p breakerbox-ecosystem --example database
//! ```
//!
//! Every query opens the database file (as a service would take a connection from a pool)
//! and runs one statement. The wrapper records:
//!
//! * rows, or a constraint violation (the database answered; the data was wrong):
//!   `Permit::success`;
//! * the file cannot be opened, or any other SQLite failure: `Permit::failure`;
//! * a query the caller gave up on before it ran: `Outcome::Ignored`.
//!
//! Midway the database file is moved away (the disk "goes away"): the breaker opens after
//! three failed queries, and while open no query touches the disk. The file comes back, and
//! after the 1 s open period a probe closes the breaker. The example removes its directory
//! when it ends.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, Error, Outcome, Registry, StateChange};
use rusqlite::{Connection, ErrorCode, OpenFlags};

/// The database handle: a path, a breaker, and a count of the times the disk was touched.
struct Database {
    path: PathBuf,
    breaker: Arc<CircuitBreaker>,
    opened: AtomicU32,
}

impl Database {
    fn new(path: PathBuf) -> Database {
        let config = Config::builder()
            .failure_threshold(3)
            .success_threshold(1)
            .timeout(Duration::from_secs(1))
            .build()
            .expect("valid settings");
        let breaker = Registry::global().get_or_create("sqlite", config);
        breaker.on_state_change(|c: &StateChange| {
            println!(
                "        [breaker {}: {} -> {} ({})]",
                c.name, c.from, c.to, c.cause
            )
        });
        Database {
            path,
            breaker,
            opened: AtomicU32::new(0),
        }
    }

    /// Runs `sql` (with `params`) and returns the first column of every row as text.
    fn query(
        &self,
        sql: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<String>, Error<rusqlite::Error>> {
        let permit = self.breaker.try_acquire()?;
        let result = self.run(sql, params);
        permit.record_outcome(match &result {
            Ok(_) => Outcome::Success,
            // The database answered: the row broke a constraint, the database is fine.
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::ConstraintViolation =>
            {
                Outcome::Success
            }
            Err(_) => Outcome::Failure,
        });
        result.map_err(Error::Inner)
    }

    fn run(&self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> rusqlite::Result<Vec<String>> {
        // Relaxed: a plain count, read on this thread.
        self.opened.fetch_add(1, Ordering::Relaxed);
        // No SQLITE_OPEN_CREATE: a missing file is an error, as a lost volume would be.
        let conn = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        let mut stmt = conn.prepare(sql)?;
        if stmt.column_count() == 0 {
            stmt.execute(params)?;
            return Ok(Vec::new());
        }
        let rows = stmt.query_map(params, |row| row.get::<_, String>(0))?;
        rows.collect()
    }

    fn opened(&self) -> u32 {
        self.opened.load(Ordering::Relaxed)
    }
}

fn show(label: &str, result: &Result<Vec<String>, Error<rusqlite::Error>>, db: &Database) {
    let text = match result {
        Ok(rows) if rows.is_empty() => "ok".to_owned(),
        Ok(rows) => format!("rows {rows:?}"),
        Err(Error::Inner(e)) => format!("error: {e}"),
        Err(Error::Rejected(r)) => format!(
            "not run: breaker {}, retry in {} ms",
            r.state(),
            r.retry_after().unwrap_or_default().as_millis()
        ),
    };
    println!("  {label:<28} {text:<58} state {}", db.breaker.state());
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = TempDir(std::env::temp_dir().join(format!("breakerbox-db-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0)?;
    let path = dir.0.join("shop.db");
    Connection::open(&path)?.execute_batch("CREATE TABLE items (name TEXT PRIMARY KEY)")?;
    let db = Database::new(path.clone());
    let moved: &Path = &dir.0.join("shop.db.away");

    println!("the database answers (a duplicate row is its answer, not a failure):");
    show(
        "insert 'lamp'",
        &db.query("INSERT INTO items VALUES (?1)", &[&"lamp"]),
        &db,
    );
    show(
        "insert 'lamp' again",
        &db.query("INSERT INTO items VALUES (?1)", &[&"lamp"]),
        &db,
    );
    show("select", &db.query("SELECT name FROM items", &[]), &db);
    // A query the caller gave up on after admission, before it ran: says nothing.
    let permit = db.breaker.try_acquire()?;
    permit.record_outcome(Outcome::Ignored);
    println!(
        "  {:<28} {:<58} state {}",
        "cancelled before running",
        "ignored",
        db.breaker.state()
    );
    assert_eq!(db.breaker.metrics().failed_calls, 0);

    println!("the file goes away: three failed opens trip the breaker:");
    std::fs::rename(&path, moved)?;
    for _ in 0..3 {
        show("select", &db.query("SELECT name FROM items", &[]), &db);
    }
    println!("while open, no query touches the disk:");
    let opened = db.opened();
    for _ in 0..3 {
        show("select", &db.query("SELECT name FROM items", &[]), &db);
    }
    assert_eq!(db.opened(), opened);

    println!("the file is back; after the 1 s open period a probe closes the breaker:");
    std::fs::rename(moved, &path)?;
    std::thread::sleep(Duration::from_millis(1050));
    show(
        "insert 'desk'",
        &db.query("INSERT INTO items VALUES (?1)", &[&"desk"]),
        &db,
    );
    show(
        "select",
        &db.query("SELECT name FROM items ORDER BY name", &[]),
        &db,
    );

    let m = db.breaker.metrics();
    println!(
        "{} queries: {} answered, {} failed, {} ignored, {} rejected; the disk was touched {} times",
        m.total_calls, m.successful_calls, m.failed_calls, m.ignored_calls, m.rejected_calls, db.opened()
    );
    Ok(())
}
