//! The `fleet` example as two OS processes against one real `redis-server`, which is killed
//! before they end.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{RedisServer, BOUND};

/// Builds the example (a no-op when fresh) and returns its path, next to this test binary.
fn fleet_example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build.args([
        "build",
        "-q",
        "-p",
        "breakerbox-redis",
        "--example",
        "fleet",
    ]);
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build");
    assert!(status.success(), "building the fleet example failed");
    let path = profile_dir.join("examples").join("fleet");
    assert!(path.exists(), "{} missing", path.display());
    path
}

fn replica(example: &PathBuf, server: &RedisServer, id: &str, extra: &[&str]) -> Child {
    Command::new(example)
        .args(["--redis", &server.url(), "--replica", id, "--seconds", "5"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the fleet example")
}

/// Forwards each stdout line of `child` to `tx`, tagged with `id`.
fn forward(child: &mut Child, id: &'static str, tx: mpsc::Sender<(&'static str, String)>) {
    let stdout = child.stdout.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send((id, line));
        }
    });
}

/// Waits for `child` to exit, killing it after [`BOUND`].
fn exit_code(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + BOUND;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fleet example did not exit in time");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_processes_trip_together_and_exit_cleanly_after_redis_dies() {
    let example = fleet_example();
    let mut server = RedisServer::start();
    let mut one = replica(
        &example,
        &server,
        "1",
        &["--trip-at", "1.5", "--open-secs", "30"],
    );
    let mut two = replica(&example, &server, "2", &["--open-secs", "30"]);
    let (tx, rx) = mpsc::channel();
    forward(&mut one, "1", tx.clone());
    forward(&mut two, "2", tx);

    // Replica 2 opens because replica 1 tripped.
    let want_remote = "replica=2 breaker=upstream from=closed to=open origin=remote";
    let deadline = Instant::now() + BOUND;
    let mut lines = Vec::new();
    while !lines.iter().any(|(_, l): &(&str, String)| l == want_remote) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => panic!("no remote open seen; lines so far: {lines:?}"),
        }
    }

    // Redis dies; both replicas still end on time, with status 0.
    server.kill();
    assert_eq!(exit_code(&mut one), Some(0));
    assert_eq!(exit_code(&mut two), Some(0));
    lines.extend(rx.try_iter());

    let of = |id| -> Vec<&str> {
        lines
            .iter()
            .filter(|(who, _)| *who == id)
            .map(|(_, l)| l.as_str())
            .collect()
    };
    // Open for 30 s: each breaker changed state exactly once within the 5 s run.
    assert_eq!(
        of("1"),
        ["replica=1 breaker=upstream from=closed to=open origin=local"]
    );
    assert_eq!(of("2"), [want_remote]);
}
