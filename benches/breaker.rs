//! The cost of each breakerbox operation, alone (`uncontended`) and with 1, 2 (and, on
//! machines with 4 or more hardware threads, 4) threads on one shared breaker
//! (`contended`).
//!
//! Scenarios (one iteration each):
//!
//! - `closed_ok`: `call` whose operation succeeds, on a closed breaker;
//! - `closed_acquire_success`: `try_acquire` then `Permit::success`;
//! - `closed_mixed`: `call`, one failure in ten (per thread), with `failure_threshold` at
//!   its maximum so the breaker never opens;
//! - `open_reject`: `call` rejected by a `force_open`ed breaker whose timeout is an hour;
//! - `half_open_cycle`: on a half-open breaker with one probe slot and a frozen mock clock,
//!   one probe admitted, a second `try_acquire` rejected (slot taken), then the probe
//!   released as `Outcome::Ignored`: one iteration is that whole cycle (two
//!   `try_acquire`s and one outcome). `success_threshold` is at its maximum, so the
//!   breaker stays half-open whatever the threads do;
//! - `metrics_read`: `metrics()`.
//!
//! `uncontended` times a plain `iter` loop. `contended/<scenario>/<threads>` uses
//! `iter_custom`: every thread does `iters` operations on the same breaker, released
//! together by a `Barrier`; the time is from the first thread's start to the last thread's
//! end, so the figure printed (time / `iters`) is the per-call latency each thread sees
//! while all of them run, and the aggregate throughput is `threads` / that figure.
//!
//! Run: `cargo bench --bench breaker`.

use std::hint::black_box;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, Outcome, State};
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};

// The peers' adapters in `common` are used by `benches/peers.rs` only.
#[allow(dead_code)]
mod common;

/// Something that benchmarks one scenario: `breaker` is the fixture, `op(breaker, i)` one
/// iteration (`i` counts iterations on the calling thread).
trait Visit {
    fn visit<Op>(&mut self, name: &str, breaker: CircuitBreaker, op: Op)
    where
        Op: Fn(&CircuitBreaker, u64) + Sync;
}

/// Every scenario, in order, handed to `v`.
fn scenarios(v: &mut impl Visit) {
    v.visit("closed_ok", closed(Config::default()), |cb, _| {
        black_box(cb.call(|| Ok::<u64, ()>(black_box(1))).is_ok());
    });

    v.visit(
        "closed_acquire_success",
        closed(Config::default()),
        |cb, _| {
            if let Ok(permit) = cb.try_acquire() {
                permit.success();
            }
        },
    );

    let never_opens = Config::builder()
        .failure_threshold(Config::MAX_THRESHOLD)
        .build()
        .expect("valid config");
    v.visit("closed_mixed", closed(never_opens), |cb, i| {
        let fail = black_box(i) % 10 == 9;
        let r = cb.call(|| if fail { Err(()) } else { Ok(i) });
        black_box(r.is_ok());
    });

    v.visit("open_reject", open(), |cb, _| {
        black_box(cb.call(|| Ok::<u64, ()>(black_box(1))).is_ok());
    });

    v.visit("half_open_cycle", half_open(), |cb, _| {
        if let Ok(probe) = cb.try_acquire() {
            // The only slot is taken: rejected (another thread's probe may also hold it).
            black_box(cb.try_acquire().is_ok());
            probe.record_outcome(Outcome::Ignored);
        }
    });

    v.visit("metrics_read", closed(Config::default()), |cb, _| {
        black_box(cb.metrics());
    });
}

/// A closed breaker with `config`, checked to admit a call.
fn closed(config: Config) -> CircuitBreaker {
    let cb = CircuitBreaker::with_config("bench", config);
    assert!(
        cb.call(|| Ok::<(), ()>(())).is_ok(),
        "closed fixture rejected"
    );
    cb
}

/// An open breaker that stays open for an hour, checked to reject.
fn open() -> CircuitBreaker {
    let config = Config::builder()
        .timeout(Duration::from_secs(3600))
        .build()
        .expect("valid config");
    let cb = CircuitBreaker::with_config("bench", config);
    cb.force_open();
    let r = cb.call(|| Ok::<(), ()>(()));
    assert!(
        matches!(r, Err(e) if e.is_rejected()),
        "open fixture admitted"
    );
    cb
}

/// A breaker in the half-open state (stored, not only effective) with one probe slot, a
/// frozen clock and a success threshold it never reaches; checked to admit one probe and
/// reject a second.
fn half_open() -> CircuitBreaker {
    let config = Config::builder()
        .timeout(Duration::from_secs(1))
        .half_open_timeout(Config::MAX_DURATION)
        .success_threshold(Config::MAX_THRESHOLD)
        .half_open_max_calls(1)
        .build()
        .expect("valid config");
    let (clock, mock) = breakerbox::quanta::Clock::mock();
    let cb = CircuitBreaker::with_clock("bench", config, clock);
    cb.force_open();
    mock.increment(Duration::from_secs(2));
    assert_eq!(cb.state(), State::HalfOpen);
    for _ in 0..2 {
        let probe = cb
            .try_acquire()
            .expect("half-open fixture rejected the probe");
        let second = cb.try_acquire();
        assert_eq!(second.err().map(|r| r.state()), Some(State::HalfOpen));
        probe.record_outcome(Outcome::Ignored);
    }
    assert_eq!(cb.state(), State::HalfOpen);
    cb
}

/// Times each scenario with a plain `iter` loop on this thread.
struct Uncontended<'g, 'c>(&'g mut BenchmarkGroup<'c, WallTime>);

impl Visit for Uncontended<'_, '_> {
    fn visit<Op>(&mut self, name: &str, breaker: CircuitBreaker, op: Op)
    where
        Op: Fn(&CircuitBreaker, u64) + Sync,
    {
        self.0.bench_function(name, |b| {
            let mut i = 0u64;
            b.iter(|| {
                op(&breaker, i);
                i = i.wrapping_add(1);
            })
        });
    }
}

/// Times each scenario with `threads` threads sharing one breaker.
struct Contended<'g, 'c> {
    group: &'g mut BenchmarkGroup<'c, WallTime>,
    threads: Vec<usize>,
}

impl Visit for Contended<'_, '_> {
    fn visit<Op>(&mut self, name: &str, breaker: CircuitBreaker, op: Op)
    where
        Op: Fn(&CircuitBreaker, u64) + Sync,
    {
        for &threads in &self.threads {
            self.group
                .bench_function(BenchmarkId::new(name, threads), |b| {
                    b.iter_custom(|iters| common::contended(threads, iters, &breaker, &op))
                });
        }
    }
}

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("uncontended");
    g.throughput(Throughput::Elements(1));
    scenarios(&mut Uncontended(&mut g));
    g.finish();
}

fn contended(c: &mut Criterion) {
    let mut g = c.benchmark_group("contended");
    g.throughput(Throughput::Elements(1));
    scenarios(&mut Contended {
        group: &mut g,
        threads: common::thread_counts(),
    });
    g.finish();
}

criterion_group! {
    name = breaker;
    config = common::criterion_config();
    targets = uncontended, contended
}
criterion_main!(breaker);
