//! The call path of a breaker attached to a fleet, against the same breaker unattached, in
//! one run: the attachment only adds a listener, which runs on transitions, never on calls.
//!
//! `closed_ok/<variant>`: `call` whose operation succeeds, on a closed breaker (as in the
//! root crate's `benches/breaker.rs`), for
//! - `unattached`: a breaker of a registry no fleet knows;
//! - `attached`: a breaker of a registry attached to a fleet on a live `redis-server`
//!   (started by the bench on a free loopback port, stopped at the end);
//! - `attached_redis_down`: the same after the server was killed (the background task is
//!   reconnecting with backoff meanwhile).
//!
//! Run: `cargo bench -p breakerbox-redis --bench fleet`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, Registry};
use breakerbox_redis::Fleet;
use common::{fleet_config, RedisServer};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn closed_ok(cb: &CircuitBreaker) {
    black_box(cb.call(|| Ok::<u64, ()>(black_box(1))).is_ok());
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut server = RedisServer::start();

    let plain = Registry::new().get_or_create("upstream", Config::default());
    let registry = Arc::new(Registry::new());
    let attached = registry.get_or_create("upstream", Config::default());
    let fleet = {
        let _guard = runtime.enter();
        Fleet::attach(Arc::clone(&registry), fleet_config(&server, "bench", "a")).unwrap()
    };
    while !fleet.stats().connected {
        std::thread::sleep(Duration::from_millis(5));
    }

    let mut group = c.benchmark_group("closed_ok");
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new("unattached", 1), |b| {
        b.iter(|| closed_ok(&plain))
    });
    group.bench_function(BenchmarkId::new("attached", 1), |b| {
        b.iter(|| closed_ok(&attached))
    });
    server.kill();
    while fleet.stats().connected {
        std::thread::sleep(Duration::from_millis(5));
    }
    group.bench_function(BenchmarkId::new("attached_redis_down", 1), |b| {
        b.iter(|| closed_ok(&attached))
    });
    group.finish();
    drop(fleet);
}

criterion_group!(benches, bench);
criterion_main!(benches);
