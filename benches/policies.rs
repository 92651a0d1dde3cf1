//! Rate policies side by side, in one run: breakerbox's `Window::Calls(100)` and
//! `Window::Time(10 s)` (open at 50 % failures once 20 outcomes were seen) next to the peers
//! configured with their own rate policies:
//!
//! - `failsafe_rate`: failsafe 1.x `success_rate_over_time_window(0.5, 20, 10 s, ..)`;
//! - `recloser_ring`: recloser 1.x with a ring of the last 100 outcomes, `error_rate(0.5)`.
//!
//! Groups: `rate_closed_ok` (every call succeeds) and `rate_closed_mixed` (one call in ten
//! fails: 10 %, below every threshold, so all stay closed), each at 1 and 2 threads (the
//! contended harness of `common`: the per-call latency each thread sees). The third
//! peer, tower-resilience-circuitbreaker, is not here: it was not added as a dependency.
//!
//! Run: `cargo bench -p breakerbox-benches --bench policies`.

use std::hint::black_box;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, Window};
use criterion::measurement::WallTime;
use criterion::Throughput;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};

// The shared harness; the peers and outlined wrappers this bench does not use stay unused.
#[allow(dead_code)]
mod common;
use common::{Inlined, Peer, Way};

/// The rate rule every implementation gets: open at 50 % failures once 20 were seen.
const RATE: f64 = 50.0;
const MINIMUM: u32 = 20;
const SPAN: Duration = Duration::from_secs(10);
const OPEN_FOR: Duration = Duration::from_secs(3600);

fn rate_config(window: Window) -> Config {
    Config::builder()
        .sliding_window(window)
        .failure_rate_threshold(RATE)
        .minimum_calls(MINIMUM)
        .timeout(OPEN_FOR)
        .build()
        .expect("valid")
}

/// breakerbox with a count window of the last 100 outcomes.
struct BbCalls(CircuitBreaker);

impl Peer for BbCalls {
    const NAME: &'static str = "breakerbox_calls100";
    type Error = breakerbox::Error<()>;
    fn closed() -> Self {
        BbCalls(CircuitBreaker::with_config(
            "calls",
            rate_config(Window::Calls(100)),
        ))
    }
    #[inline(always)]
    fn protected<F: FnOnce() -> Result<u64, ()>>(&self, op: F) -> Result<u64, Self::Error> {
        self.0.call(op)
    }
    fn is_rejected(e: &Self::Error) -> bool {
        e.is_rejected()
    }
}

/// breakerbox with a time window of the last 10 s.
struct BbTime(CircuitBreaker);

impl Peer for BbTime {
    const NAME: &'static str = "breakerbox_time10s";
    type Error = breakerbox::Error<()>;
    fn closed() -> Self {
        BbTime(CircuitBreaker::with_config(
            "time",
            rate_config(Window::Time(SPAN)),
        ))
    }
    #[inline(always)]
    fn protected<F: FnOnce() -> Result<u64, ()>>(&self, op: F) -> Result<u64, Self::Error> {
        self.0.call(op)
    }
    fn is_rejected(e: &Self::Error) -> bool {
        e.is_rejected()
    }
}

/// failsafe with its success-rate-over-a-time-window policy.
struct FailsafeRate(
    failsafe::StateMachine<
        failsafe::failure_policy::SuccessRateOverTimeWindow<failsafe::backoff::Constant>,
        (),
    >,
);

impl Peer for FailsafeRate {
    const NAME: &'static str = "failsafe_rate";
    type Error = failsafe::Error<()>;
    fn closed() -> Self {
        let policy = failsafe::failure_policy::success_rate_over_time_window(
            1.0 - RATE / 100.0,
            MINIMUM,
            SPAN,
            failsafe::backoff::constant(OPEN_FOR),
        );
        FailsafeRate(failsafe::Config::new().failure_policy(policy).build())
    }
    #[inline(always)]
    fn protected<F: FnOnce() -> Result<u64, ()>>(&self, op: F) -> Result<u64, Self::Error> {
        failsafe::CircuitBreaker::call(&self.0, op)
    }
    fn is_rejected(e: &Self::Error) -> bool {
        matches!(e, failsafe::Error::Rejected)
    }
}

/// recloser with a ring of the last 100 outcomes.
struct RecloserRing(recloser::Recloser);

impl Peer for RecloserRing {
    const NAME: &'static str = "recloser_ring100";
    type Error = recloser::Error<()>;
    fn closed() -> Self {
        RecloserRing(
            recloser::Recloser::custom()
                .error_rate(0.5)
                .closed_len(100)
                .open_wait(OPEN_FOR)
                .build(),
        )
    }
    #[inline(always)]
    fn protected<F: FnOnce() -> Result<u64, ()>>(&self, op: F) -> Result<u64, Self::Error> {
        self.0.call(op)
    }
    fn is_rejected(e: &Self::Error) -> bool {
        matches!(e, recloser::Error::Rejected)
    }
}

/// Benchmarks `P` as `<name>/<threads>` with call `i` failing when `fails(i)`; checks
/// afterwards that the breaker is still closed (10 % failures never reach 50 %).
fn bench<P: Peer>(g: &mut BenchmarkGroup<'_, WallTime>, fails: fn(u64) -> bool) {
    let breaker = P::closed();
    let id = common::id::<P, Inlined>();
    for threads in common::thread_counts().into_iter().filter(|&t| t <= 2) {
        let bench_id = BenchmarkId::new(&id, threads);
        if threads == 1 {
            g.bench_function(bench_id, |b| {
                let mut i = 0u64;
                b.iter(|| {
                    i = i.wrapping_add(1);
                    black_box(Inlined::run(&breaker, fails(i)))
                })
            });
        } else {
            g.bench_function(bench_id, |b| {
                b.iter_custom(|iters| {
                    common::contended(threads, iters, &breaker, |p, i| {
                        black_box(Inlined::run(p, fails(i)));
                    })
                })
            });
        }
    }
    assert!(common::call(&breaker, false), "{id}: opened while measured");
}

fn group(c: &mut Criterion, name: &str, fails: fn(u64) -> bool) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1));
    bench::<BbCalls>(&mut g, fails);
    bench::<BbTime>(&mut g, fails);
    bench::<FailsafeRate>(&mut g, fails);
    bench::<RecloserRing>(&mut g, fails);
    g.finish();
}

fn rate_closed_ok(c: &mut Criterion) {
    group(c, "rate_closed_ok", |_| false);
}

fn rate_closed_mixed(c: &mut Criterion) {
    group(c, "rate_closed_mixed", common::mixed_fails);
}

criterion_group! {
    name = policies;
    config = common::criterion_config();
    targets = rate_closed_ok, rate_closed_mixed
}
criterion_main!(policies);
