//! Instructions per `closed_ok` call, attached to a fleet or not, for callgrind (a count
//! that the machine's load does not disturb, unlike the criterion timings):
//!
//! ```sh
//! cargo build --release -p breakerbox-redis --example hot_path
//! for v in unattached attached; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     --toggle-collect='hot_path::run_calls*' target/release/examples/hot_path $v 200000 2>&1 \
//!     | grep Collected
//! done
//! ```
//!
//! `attached` starts a `redis-server` on a free loopback port, attaches the breaker's
//! registry to a fleet on it, waits until the fleet is connected, then runs the calls; the
//! fleet's task stays connected meanwhile (its work is outside the counted function).

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, Registry};
use breakerbox_redis::Fleet;
use common::{fleet_config, RedisServer};

/// The counted loop: `n` successful calls through a closed breaker.
#[inline(never)]
fn run_calls(cb: &CircuitBreaker, n: u64) {
    for _ in 0..n {
        black_box(cb.call(|| Ok::<u64, ()>(black_box(1))).is_ok());
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "unattached".into());
    let n: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(200_000);
    let registry = Arc::new(Registry::new());
    let breaker = registry.get_or_create("upstream", Config::default());
    match variant.as_str() {
        "unattached" => run_calls(&breaker, n),
        "attached" => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let server = RedisServer::start();
            let fleet = {
                let _guard = runtime.enter();
                Fleet::attach(Arc::clone(&registry), fleet_config(&server, "hot", "a")).unwrap()
            };
            while !fleet.stats().connected {
                std::thread::sleep(Duration::from_millis(5));
            }
            run_calls(&breaker, n);
            assert!(fleet.stats().connected);
        }
        other => panic!("unknown variant {other:?}: attached | unattached"),
    }
    assert_eq!(breaker.metrics().successful_calls, n);
}
