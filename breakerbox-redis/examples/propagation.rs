//! Trip propagation latency over loopback: two replicas (separate registries, separate
//! Redis connections) in one process, on a `redis-server` this example starts on a free
//! loopback port and stops at the end. Replica A's breaker trips by its own failure; the
//! time is from just before that failing call to the moment replica B's breaker opens
//! (B's listener, cause `Remote`). Both are then reset, and again, `--trips` times (1000).
//!
//! ```sh
//! cargo run --release -p breakerbox-redis --example propagation [-- --trips 1000]
//! ```
//!
//! The path measured: A's listener `try_send`s into the channel, A's task writes SET +
//! PUBLISH (one atomic pipeline), Redis fans out, B's task decodes the report and calls
//! `open_remote`, and B's listener runs.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use breakerbox::{Cause, Config, Registry, State};
use breakerbox_redis::Fleet;
use common::{fleet_config, RedisServer};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let trips: usize = match std::env::args().skip_while(|a| a != "--trips").nth(1) {
        Some(n) => n.parse().expect("--trips N"),
        None => 1000,
    };
    let server = RedisServer::start();
    let config = Config::builder()
        .failure_threshold(1)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let (ra, rb) = (Arc::new(Registry::new()), Arc::new(Registry::new()));
    let a = ra.get_or_create("upstream", config.clone());
    let b = rb.get_or_create("upstream", config);
    let (tx, rx) = mpsc::channel();
    b.on_state_change(move |c| {
        if c.to == State::Open && c.cause == Cause::Remote {
            let _ = tx.send(Instant::now());
        }
    });
    let fa = Fleet::attach(ra, fleet_config(&server, "latency", "a")).unwrap();
    let fb = Fleet::attach(rb, fleet_config(&server, "latency", "b")).unwrap();
    while !(fa.stats().connected && fb.stats().connected) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let mut samples = Vec::with_capacity(trips);
    for _ in 0..trips {
        let started = Instant::now();
        let _ = a.call(|| Err::<(), _>("down"));
        assert_eq!(a.state(), State::Open);
        let opened = tokio::task::block_in_place(|| rx.recv_timeout(Duration::from_secs(5)))
            .expect("B opened within 5 s");
        samples.push(opened - started);
        a.reset();
        b.reset();
    }
    samples.sort();
    let pct = |p: usize| samples[(samples.len() * p / 100).min(samples.len() - 1)];
    println!(
        "trip propagation over loopback, {trips} trips: p50 {:?}  p99 {:?}  max {:?}",
        pct(50),
        pct(99),
        samples[samples.len() - 1]
    );
    println!("A: {:?}\nB: {:?}", fa.stats(), fb.stats());
}
