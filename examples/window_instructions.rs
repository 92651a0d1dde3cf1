//! Runs N adds on one rate window, for counting instructions per outcome under callgrind.
//!
//! The window is crate-private; its hook exists only under `--cfg breakerbox_bench`:
//!
//! ```text
//! RUSTFLAGS="--cfg breakerbox_bench" CARGO_TARGET_DIR=target/bench-cfg \
//!     cargo build --release --example window_instructions
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     --toggle-collect='window_instructions::run*' \
//!     target/bench-cfg/release/examples/window_instructions calls100_ok 1000000
//! ```
//!
//! Scenarios: `calls100_ok`, `calls100_mixed`, `time10s_ok`, `time10s_mixed` (as in
//! `benches/window.rs`: every call succeeds, or one in ten fails; time moves 10 µs per
//! outcome; recorded as the breaker records them). Divide the collected instructions by N; the loop's own counter, branch
//! and `black_box` (a few instructions) are included. An optional third argument runs that
//! many threads, each doing N adds on its own stripe id; the process's user CPU time
//! divided by N × threads is the CPU cost per add under contention (robust to a loaded
//! machine, unlike wall time).

#[cfg(not(breakerbox_bench))]
fn main() {
    eprintln!(
        "window_instructions: build with RUSTFLAGS=\"--cfg breakerbox_bench\" (see the file)"
    );
}

#[cfg(breakerbox_bench)]
fn main() -> std::process::ExitCode {
    imp::main()
}

#[cfg(breakerbox_bench)]
mod imp {
    use std::hint::black_box;
    use std::process::ExitCode;

    use breakerbox::__window::{Recorded, Window};

    /// The measured loop, on stripe id `slot`: each outcome recorded as the breaker records
    /// it (`record`: minimum 20, trips at 50 % failures; it never trips here), so a plain
    /// success that provably cannot trip skips the sum, as in the breaker.
    #[inline(never)]
    pub fn run(w: &Window, slot: usize, mixed: bool, n: u64) -> u64 {
        let mut judged = 0;
        for i in 0..n {
            let fail = mixed && black_box(i) % 10 == 9;
            let r = w.record(slot, 1, fail, false, i * 10, 20, |(n, f, _)| f * 2 >= n);
            judged += u64::from(matches!(r, Recorded::Judged(..)));
        }
        judged
    }

    pub fn main() -> ExitCode {
        let args: Vec<String> = std::env::args().collect();
        let (Some(scenario), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse().ok()))
        else {
            eprintln!("usage: window_instructions <scenario> <n> [threads]");
            return ExitCode::FAILURE;
        };
        let (w, mixed) = match scenario.as_str() {
            "calls100_ok" => (Window::calls(100), false),
            "calls100_mixed" => (Window::calls(100), true),
            "time10s_ok" => (Window::time(10_000_000), false),
            "time10s_mixed" => (Window::time(10_000_000), true),
            other => {
                eprintln!("unknown scenario {other:?}");
                return ExitCode::FAILURE;
            }
        };
        let threads: usize = args.get(3).and_then(|t| t.parse().ok()).unwrap_or(1);
        let start = std::time::Instant::now();
        // Each thread does `n` adds on its own stripe id (as `counters::slot()` would give).
        let judged: u64 = std::thread::scope(|s| {
            let w = &w;
            let handles: Vec<_> = (0..threads)
                .map(|slot| s.spawn(move || run(black_box(w), slot, mixed, black_box(n))))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        let ns = start.elapsed().as_nanos() as f64 / n as f64;
        println!(
            "{scenario}: {n} outcomes ({ns:.1} ns each, wall clock), judged (summed) {judged} times, {:?}",
            w.totals(1, n * 10)
        );
        ExitCode::SUCCESS
    }
}
