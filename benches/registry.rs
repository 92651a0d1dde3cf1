//! The registry's lookups, alone (`uncontended`) and with 1 and 2 threads at once
//! (`contended`), at 1,000 and at 1,000,000 breakers, next to a baseline: the obvious
//! design, 64 cache-padded `std::sync::RwLock<HashMap<Box<str>, Arc<CircuitBreaker>>>`
//! shards (`rwlock_map`), holding the very same breakers.
//!
//! Scenarios (one iteration each):
//!
//! - `get_same_<n>`: `get` of one existing name, the same one on every thread: the case
//!   where a read lock's shared lock word would make two cores write one cache line;
//! - `get_spread_<n>`: `get` of existing names walked in a scattered order, each thread from
//!   its own starting point: at 1,000,000 breakers mostly cache misses;
//! - `get_or_create_existing_1k`: `get_or_create` of an existing name (the fast path: no
//!   breaker built, no config used);
//! - `statuses_1k`: `statuses()` of 1,000 breakers (one iteration = the whole sorted list);
//! - `get_or_create_race`: `get_or_create` of names that do not exist yet, every thread
//!   walking the same names in the same order, so that with 2 threads they race on each
//!   creation (one builds the breaker, the other waits for it or finds it). A fresh
//!   registry and names for every sample, both made and dropped outside the timed span;
//!   one iteration is one name.
//!
//! Ids are `<group>/<scenario>/<impl>/<threads>`. `uncontended` times a plain `iter` loop;
//! `contended` uses `iter_custom`: every thread does `iters` operations, released together
//! by a `Barrier`, timed from the first thread's start to the last thread's end, so the
//! figure is the per-call latency each thread sees while all of them run.
//!
//! The 1,000,000-breaker registry is built once (a few seconds) and shared by every
//! benchmark that needs it.
//!
//! Run: `cargo bench --bench registry`.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::hint::black_box;
use std::sync::{Arc, Barrier, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use breakerbox::{CircuitBreaker, Config, Registry};
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use crossbeam_utils::CachePadded;

/// Breaker counts: the small and the large registry.
const SMALL: usize = 1_000;
const LARGE: usize = 1_000_000;

/// A prime stride: consecutive iterations visit names far apart.
const STRIDE: usize = 7_919;

/// One shard of the baseline.
type Shard = RwLock<HashMap<Box<str>, Arc<CircuitBreaker>>>;

/// The baseline: a sharded `RwLock<HashMap>`, the structure a registry would use without a
/// concurrent map. Every `get` takes one shard's read lock (an atomic write to its lock word).
struct RwLockMap {
    hasher: RandomState,
    shards: Vec<CachePadded<Shard>>,
}

impl RwLockMap {
    const SHARDS: usize = 64;

    fn new() -> Self {
        RwLockMap {
            hasher: RandomState::new(),
            shards: (0..Self::SHARDS)
                .map(|_| CachePadded::new(RwLock::new(HashMap::new())))
                .collect(),
        }
    }

    fn shard(&self, name: &str) -> &Shard {
        &self.shards[(self.hasher.hash_one(name) as usize) & (Self::SHARDS - 1)]
    }

    fn insert(&self, breaker: Arc<CircuitBreaker>) {
        let mut shard = self.shard(breaker.name()).write().unwrap();
        shard.insert(breaker.name().into(), breaker);
    }

    fn get(&self, name: &str) -> Option<Arc<CircuitBreaker>> {
        self.shard(name).read().unwrap().get(name).cloned()
    }
}

/// A registry of `n` breakers, the baseline map holding the same breakers, and their names.
struct Fixture {
    registry: Registry,
    baseline: RwLockMap,
    names: Vec<String>,
}

impl Fixture {
    fn new(n: usize) -> Self {
        let start = Instant::now();
        let registry = Registry::new();
        let baseline = RwLockMap::new();
        let names: Vec<String> = (0..n).map(|i| format!("service-{i:07}")).collect();
        for name in &names {
            baseline.insert(registry.get_or_create(name, Config::default()));
        }
        assert_eq!(registry.len(), n);
        eprintln!(
            "registry bench: built {n} breakers in {:.2?}",
            start.elapsed()
        );
        Fixture {
            registry,
            baseline,
            names,
        }
    }

    /// The name that thread `t` looks up at iteration `i` when spreading.
    fn spread(&self, t: usize, i: u64) -> &str {
        let n = self.names.len();
        &self.names[(t * (n / 2 + 1) + (i as usize).wrapping_mul(STRIDE)) % n]
    }
}

/// One operation under measurement: `op(fixture, thread, iteration)`.
type Op = fn(&Fixture, usize, u64);

/// Every `(scenario, impl, op)` measured on a fixture of `n` breakers.
fn get_scenarios(n: usize) -> Vec<(String, &'static str, Op)> {
    let size = if n == SMALL { "1k" } else { "1m" };
    vec![
        (format!("get_same_{size}"), "registry", |f, _, _| {
            black_box(f.registry.get(black_box(&f.names[0])).unwrap());
        }),
        (format!("get_same_{size}"), "rwlock_map", |f, _, _| {
            black_box(f.baseline.get(black_box(&f.names[0])).unwrap());
        }),
        // The borrowing lookup: no `Arc` clone, so no shared reference-count write.
        (format!("get_same_{size}"), "registry_with", |f, _, _| {
            black_box(
                f.registry
                    .with(black_box(&f.names[0]), |b| black_box(b).name().len()),
            );
        }),
        (format!("get_spread_{size}"), "registry", |f, t, i| {
            black_box(f.registry.get(black_box(f.spread(t, i))).unwrap());
        }),
        (format!("get_spread_{size}"), "rwlock_map", |f, t, i| {
            black_box(f.baseline.get(black_box(f.spread(t, i))).unwrap());
        }),
        (format!("get_spread_{size}"), "registry_with", |f, t, i| {
            black_box(
                f.registry
                    .with(black_box(f.spread(t, i)), |b| black_box(b).name().len()),
            );
        }),
    ]
}

/// The small-registry-only scenarios.
fn small_scenarios() -> Vec<(String, &'static str, Op)> {
    vec![(
        "get_or_create_existing_1k".to_owned(),
        "registry",
        |f, t, i| {
            let name = black_box(f.spread(t, i));
            black_box(f.registry.get_or_create(name, Config::default()));
        },
    )]
}

/// Runs `op` on `threads` threads at once, `iters` times each; wall time from the first
/// thread's start to the last thread's end (thread start-up excluded by a `Barrier`).
fn contended_time(threads: usize, iters: u64, fixture: &Fixture, op: Op) -> Duration {
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..iters {
                        op(fixture, t, i);
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("benchmark thread panicked"))
            .collect()
    });
    let first = spans.iter().map(|s| s.0).min().expect("a thread");
    let last = spans.iter().map(|s| s.1).max().expect("a thread");
    last - first
}

fn run_uncontended(
    g: &mut BenchmarkGroup<'_, WallTime>,
    fixture: &Fixture,
    scenarios: &[(String, &'static str, Op)],
) {
    for (scenario, imp, op) in scenarios {
        g.bench_function(BenchmarkId::new(format!("{scenario}/{imp}"), 1), |b| {
            let mut i = 0u64;
            b.iter(|| {
                op(fixture, 0, i);
                i = i.wrapping_add(1);
            })
        });
    }
}

fn run_contended(
    g: &mut BenchmarkGroup<'_, WallTime>,
    fixture: &Fixture,
    scenarios: &[(String, &'static str, Op)],
) {
    for (scenario, imp, op) in scenarios {
        for threads in [1, 2] {
            g.bench_function(
                BenchmarkId::new(format!("{scenario}/{imp}"), threads),
                |b| b.iter_custom(|iters| contended_time(threads, iters, fixture, *op)),
            );
        }
    }
}

/// `get_or_create_race`: `threads` threads each `get_or_create` the same `iters` new names,
/// in the same order, on a fresh registry; wall time from the first thread's start to the
/// last thread's end.
fn creation_race(threads: usize, iters: u64) -> Duration {
    let registry = Registry::new();
    let names: Vec<String> = (0..iters).map(|i| format!("new-{i:07}")).collect();
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (registry, names, barrier) = (&registry, &names, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for name in names {
                        black_box(registry.get_or_create(black_box(name), Config::default()));
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("benchmark thread panicked"))
            .collect()
    });
    assert_eq!(registry.len(), names.len());
    let first = spans.iter().map(|s| s.0).min().expect("a thread");
    let last = spans.iter().map(|s| s.1).max().expect("a thread");
    last - first
}

fn registry(c: &mut Criterion) {
    let small = Fixture::new(SMALL);
    let large = Fixture::new(LARGE);
    let mut small_all = get_scenarios(SMALL);
    small_all.extend(small_scenarios());
    let large_all = get_scenarios(LARGE);

    let mut g = c.benchmark_group("uncontended");
    g.throughput(Throughput::Elements(1));
    run_uncontended(&mut g, &small, &small_all);
    run_uncontended(&mut g, &large, &large_all);
    g.bench_function(BenchmarkId::new("statuses_1k/registry", 1), |b| {
        b.iter(|| black_box(small.registry.statuses()))
    });
    g.finish();

    let mut g = c.benchmark_group("contended");
    g.throughput(Throughput::Elements(1));
    run_contended(&mut g, &small, &small_all);
    run_contended(&mut g, &large, &large_all);
    for threads in [1, 2] {
        g.bench_function(
            BenchmarkId::new("get_or_create_race/registry", threads),
            |b| b.iter_custom(|iters| creation_race(threads, iters)),
        );
    }
    g.finish();
}

/// Short runs: the whole bench, the 1,000,000-breaker build included, takes a few minutes
/// on a 2-core machine. Criterion's flags still override these.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = registry
}
criterion_main!(benches);
