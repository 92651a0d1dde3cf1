//! breakerbox next to its peers and baselines, in one run:
//!
//! - `breakerbox`;
//! - `failsafe` 1.x (consecutive-failures policy, `CircuitBreaker::call`);
//! - `recloser` 1.x (`Recloser::custom()...build()`, `call`);
//! - `mutex`: the breaker a user writes with a `std::sync::Mutex` (see `common/mod.rs`);
//! - `floor`: one `Relaxed` load and one `Relaxed` `fetch_add` on shared atomics, the least
//!   a breaker that counts its calls can do.
//!
//! Groups: `closed_ok` (a call that succeeds on a closed breaker) and `open_reject` (a call
//! rejected by an open breaker whose timeout is an hour away), each with ids
//! `<impl>/<threads>`. One thread is timed with `iter`; more threads with `iter_custom`
//! (see `common::contended`): the figure is then the per-call latency that each thread sees
//! while all of them call the same shared breaker.
//!
//! Run: `cargo bench --bench peers`.

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::Throughput;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};

mod common;
use common::{Failsafe, Floor, MutexBreaker, Peer};

/// Benchmarks `P` built by `make` at every thread count.
fn bench_peer<P: Peer>(group: &mut BenchmarkGroup<'_, WallTime>, make: fn() -> P) {
    let breaker = make();
    for threads in common::thread_counts() {
        let id = BenchmarkId::new(P::NAME, threads);
        if threads == 1 {
            group.bench_function(id, |b| b.iter(|| black_box(breaker.call_ok())));
        } else {
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    common::contended(threads, iters, &breaker, |p, _| {
                        black_box(p.call_ok());
                    })
                })
            });
        }
    }
}

fn closed_ok(c: &mut Criterion) {
    let mut g = c.benchmark_group("closed_ok");
    g.throughput(Throughput::Elements(1));
    bench_peer(&mut g, <breakerbox::CircuitBreaker as Peer>::closed);
    bench_peer(&mut g, <Failsafe as Peer>::closed);
    bench_peer(&mut g, <recloser::Recloser as Peer>::closed);
    bench_peer(&mut g, <MutexBreaker as Peer>::closed);
    bench_peer(&mut g, <Floor as Peer>::closed);
    g.finish();
}

fn open_reject(c: &mut Criterion) {
    let mut g = c.benchmark_group("open_reject");
    g.throughput(Throughput::Elements(1));
    bench_peer(&mut g, <breakerbox::CircuitBreaker as Peer>::open);
    bench_peer(&mut g, <Failsafe as Peer>::open);
    bench_peer(&mut g, <recloser::Recloser as Peer>::open);
    bench_peer(&mut g, <MutexBreaker as Peer>::open);
    bench_peer(&mut g, <Floor as Peer>::open);
    g.finish();
}

criterion_group! {
    name = peers;
    config = common::criterion_config();
    targets = closed_ok, open_reject
}
criterion_main!(peers);
