//! The rate window alone (`src/window.rs`), per outcome: `Calls(100)` and `Time(10 s)`,
//! alone (`uncontended`) and with 1 and 2 threads on one window (`contended`, the harness
//! of `benches/common`: the figure is the per-call latency each thread sees).
//!
//! Scenarios (one iteration = one `record`, the window's part of a breaker's outcome: enter
//! it, then judge the totals unless the outcome provably cannot trip the window; minimum 20,
//! a judge that never trips):
//! - `*_ok`: a success (the closed path's common case: once the window holds its minimum, the
//!   sum is skipped, except for the first success of each `Time` bucket per thread);
//! - `*_mixed`: one failure in ten (each failure is judged: its totals are summed);
//! - `time10s_shared_ok`: a success from a thread that owns no stripe (CAS on the shared
//!   stripe, and always judged), for comparison.
//!
//! Time moves: iteration `i` is at `i × 10 µs`, so a 1-second bucket turns every 100 000
//! iterations. Each bench thread owns a stripe id (0, 1) as `counters::slot()` would give.
//!
//! The window is crate-private; its `__window` hook exists only under a cfg, so run:
//! `RUSTFLAGS="--cfg breakerbox_bench" CARGO_TARGET_DIR=target/bench-cfg cargo bench --bench window`.

#[cfg(not(breakerbox_bench))]
fn main() {
    eprintln!(
        "benches/window.rs: run with RUSTFLAGS=\"--cfg breakerbox_bench\" \
         CARGO_TARGET_DIR=target/bench-cfg cargo bench --bench window"
    );
}

#[cfg(breakerbox_bench)]
criterion::criterion_main!(bench::window);

#[cfg(breakerbox_bench)]
#[allow(dead_code)]
mod common;

#[cfg(breakerbox_bench)]
mod bench {
    use std::cell::Cell;
    use std::hint::black_box;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use breakerbox::__window::Window;
    use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};

    use super::common;

    /// A slot id no window owns.
    const SHARED: usize = usize::MAX - 2;

    static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

    std::thread_local! {
        static ID: Cell<Option<usize>> = const { Cell::new(None) };
    }

    /// This thread's stripe id: the contended harness starts `threads` fresh threads per
    /// sample, so consecutive ids modulo `threads` are distinct among the live ones.
    fn id(threads: usize) -> usize {
        ID.with(|c| match c.get() {
            Some(id) => id,
            None => {
                // Relaxed: a counter only.
                let id = NEXT_ID.fetch_add(1, Ordering::Relaxed) % threads;
                c.set(Some(id));
                id
            }
        })
    }

    type Op = fn(&Window, usize, u64);

    /// The minimum of the breaker the window belongs to (`benches/policies.rs`'s).
    const MINIMUM: u64 = 20;

    fn never_trips(t: (u64, u64, u64)) -> bool {
        black_box(t);
        false
    }

    fn ok(w: &Window, slot: usize, i: u64) {
        black_box(w.record(slot, 1, false, false, i * 10, MINIMUM, never_trips));
    }

    fn mixed(w: &Window, slot: usize, i: u64) {
        let fail = black_box(i) % 10 == 9;
        black_box(w.record(slot, 1, fail, false, i * 10, MINIMUM, never_trips));
    }

    fn shared_ok(w: &Window, _: usize, i: u64) {
        black_box(w.record(SHARED, 1, false, false, i * 10, MINIMUM, never_trips));
    }

    fn scenarios() -> Vec<(&'static str, fn() -> Window, Op)> {
        let calls: fn() -> Window = || Window::calls(100);
        let time: fn() -> Window = || Window::time(10_000_000);
        vec![
            ("calls100_ok", calls, ok),
            ("calls100_mixed", calls, mixed),
            ("time10s_ok", time, ok),
            ("time10s_mixed", time, mixed),
            ("time10s_shared_ok", time, shared_ok),
        ]
    }

    fn uncontended(c: &mut Criterion) {
        let mut g = c.benchmark_group("window_uncontended");
        g.throughput(Throughput::Elements(1));
        for (name, make, op) in scenarios() {
            let w = make();
            let mut i = 0u64;
            g.bench_function(name, |b| {
                b.iter(|| {
                    op(&w, 0, i);
                    i += 1;
                })
            });
        }
        g.finish();
    }

    fn contended(c: &mut Criterion) {
        let mut g = c.benchmark_group("window_contended");
        g.throughput(Throughput::Elements(1));
        for (name, make, op) in scenarios() {
            for threads in [1, 2] {
                let w = make();
                g.bench_function(BenchmarkId::new(name, threads), |b| {
                    b.iter_custom(|iters| {
                        common::contended(threads, iters, &w, |w, i| op(w, id(threads), i))
                    })
                });
            }
        }
        g.finish();
    }

    criterion_group! {
        name = window;
        config = common::criterion_config();
        targets = uncontended, contended
    }
}
