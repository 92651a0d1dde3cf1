//! breakerbox next to its peers and baselines, in one run:
//!
//! - `breakerbox`;
//! - `breakerbox_coarse` (`open_reject` only): breakerbox with the opt-in coarse clock
//!   (`ClockPrecision::Coarse(1 ms)`), whose rejection reads no hardware clock; its clock
//!   thread ticks in the background during the whole run;
//! - `failsafe` 1.x (consecutive-failures policy, `CircuitBreaker::call`);
//! - `recloser` 1.x (`Recloser::custom()...build()`, `call`);
//! - `mutex`: the breaker a user writes with a `std::sync::Mutex` (see `common/mod.rs`);
//! - `floor`: one `Relaxed` load and one `Relaxed` `fetch_add` on shared atomics, the least
//!   a breaker that counts its calls can do.
//!
//! Groups (scenarios):
//!
//! - `closed_ok`: a call that succeeds, on a closed breaker;
//! - `closed_mixed`: one call in ten (per thread) fails; the breakers open after 5
//!   consecutive failures, so they stay closed;
//! - `open_reject`: a call rejected by an open breaker whose timeout is an hour away.
//!
//! Ids are `<impl>/<threads>` for the implementation's `call` inlined into the benchmark
//! loop, and `<impl>_outlined/<threads>` for the same call through an `#[inline(never)]`
//! function that returns the implementation's whole `Result` (`common::call_ok_outlined`):
//! what code in another crate pays when the compiler keeps `call` out of line. For
//! breakerbox, `breakerbox_permit` and `breakerbox_permit_outlined` do the same with the
//! guard API: `try_acquire` (inlined, or through an `#[inline(never)]` function) then
//! `Permit::success` (or `failure`).
//!
//! One thread is timed with `iter`; more threads with `iter_custom` (see
//! `common::contended`): the figure is then the per-call latency that each thread sees
//! while all of them call the same shared breaker.
//!
//! Run: `cargo bench -p breakerbox-benches --bench peers` (a subset:
//! `... --bench peers -- 'closed_mixed/.*/1'`).

use std::hint::black_box;

use breakerbox::CircuitBreaker;
use criterion::measurement::WallTime;
use criterion::Throughput;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};

// The rate-window variants in `common` are measured by `instructions.rs` and `policies.rs`.
#[allow(dead_code)]
mod common;
use common::{
    BreakerboxCoarse, Failsafe, Floor, Guard, GuardOutlined, Inlined, MutexBreaker, Outlined, Peer,
    Way,
};

/// The scenarios: how each fixture is built, and whether call `i` fails.
#[derive(Clone, Copy)]
enum Scenario {
    ClosedOk,
    ClosedMixed,
    OpenReject,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::ClosedOk => "closed_ok",
            Scenario::ClosedMixed => "closed_mixed",
            Scenario::OpenReject => "open_reject",
        }
    }

    fn build<P: Peer>(self) -> P {
        match self {
            Scenario::ClosedOk | Scenario::ClosedMixed => P::closed(),
            Scenario::OpenReject => P::open(),
        }
    }

    /// Whether call `i` of this scenario fails.
    #[inline(always)]
    fn fails(self, i: u64) -> bool {
        match self {
            Scenario::ClosedMixed => common::mixed_fails(i),
            Scenario::ClosedOk | Scenario::OpenReject => false,
        }
    }
}

/// Benchmarks `P` reached by `W` as `<id>/<threads>` at every thread count, on a breaker
/// built for `scenario`; checks afterwards that a closed fixture is still closed.
fn bench<P: Peer, W: Way<P>>(g: &mut BenchmarkGroup<'_, WallTime>, scenario: Scenario) {
    let breaker: P = scenario.build();
    let id = common::id::<P, W>();
    for threads in common::thread_counts() {
        let bench_id = BenchmarkId::new(&id, threads);
        if threads == 1 {
            g.bench_function(bench_id, |b| {
                let mut i = 0u64;
                b.iter(|| {
                    i = i.wrapping_add(1);
                    black_box(W::run(&breaker, scenario.fails(i)))
                })
            });
        } else {
            g.bench_function(bench_id, |b| {
                b.iter_custom(|iters| {
                    common::contended(threads, iters, &breaker, |p, i| {
                        black_box(W::run(p, scenario.fails(i)));
                    })
                })
            });
        }
    }
    if !matches!(scenario, Scenario::OpenReject) {
        assert!(
            common::call(&breaker, false),
            "{id}: the {} fixture opened while measured",
            scenario.name()
        );
    }
}

/// Every implementation in one group for `scenario`: each one's `call` inlined and
/// through the `#[inline(never)]` wrapper, and breakerbox's guard API too.
fn run(c: &mut Criterion, scenario: Scenario) {
    let mut g = c.benchmark_group(scenario.name());
    g.throughput(Throughput::Elements(1));
    bench::<CircuitBreaker, Inlined>(&mut g, scenario);
    bench::<CircuitBreaker, Outlined>(&mut g, scenario);
    bench::<CircuitBreaker, Guard>(&mut g, scenario);
    bench::<CircuitBreaker, GuardOutlined>(&mut g, scenario);
    if matches!(scenario, Scenario::OpenReject) {
        // The coarse clock changes only the paths that read the time: here, every call.
        bench::<BreakerboxCoarse, Inlined>(&mut g, scenario);
        bench::<BreakerboxCoarse, Outlined>(&mut g, scenario);
    }
    bench::<Failsafe, Inlined>(&mut g, scenario);
    bench::<Failsafe, Outlined>(&mut g, scenario);
    bench::<recloser::Recloser, Inlined>(&mut g, scenario);
    bench::<recloser::Recloser, Outlined>(&mut g, scenario);
    bench::<MutexBreaker, Inlined>(&mut g, scenario);
    bench::<MutexBreaker, Outlined>(&mut g, scenario);
    bench::<Floor, Inlined>(&mut g, scenario);
    bench::<Floor, Outlined>(&mut g, scenario);
    g.finish();
}

fn closed_ok(c: &mut Criterion) {
    run(c, Scenario::ClosedOk);
}

fn closed_mixed(c: &mut Criterion) {
    run(c, Scenario::ClosedMixed);
}

fn open_reject(c: &mut Criterion) {
    run(c, Scenario::OpenReject);
}

criterion_group! {
    name = peers;
    config = common::criterion_config();
    targets = closed_ok, closed_mixed, open_reject
}
criterion_main!(peers);
