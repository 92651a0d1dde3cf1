//! Runs N protected calls on one breaker, for counting instructions per call under
//! callgrind.
//!
//! A `harness = false` bench target of the `breakerbox-benches` package (so that
//! `cargo test --workspace` does not build it), but not a criterion bench: under
//! `cargo bench` it does nothing. `benches/callgrind.sh` and `benches/callgrind-guard.sh`
//! build it and run it under callgrind:
//!
//! ```text
//! cargo bench -p breakerbox-benches --bench instructions --no-run   # prints the binary
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     --toggle-collect='instructions::run_calls*' \
//!     target/release/deps/instructions-<hash> breakerbox closed_ok 1000000
//! ```
//!
//! Usage: `instructions <impl> <scenario> <n>` with `<impl>` one of `breakerbox`,
//! `failsafe`, `recloser`, `mutex`, `floor` and `<scenario>` one of `closed_ok` (calls that
//! succeed on a closed breaker) or `open_reject` (calls rejected by an open breaker).
//!
//! Instructions per call: collect only the loop with
//! `--toggle-collect='instructions::run_calls*'` and divide by N (the loop's own counter
//! and branch and the `black_box` of the operation's value, about 5 instructions, are
//! included). Comparing two whole runs (N and 2N calls) is not exact: quanta's clock
//! calibration at start-up runs a time-dependent number of instructions.
//! `benches/callgrind.sh` does this for every implementation and scenario.

use std::hint::black_box;
use std::process::ExitCode;

// The breakers, baselines and the per-implementation adapters shared with peers.rs; the
// criterion helpers in the same module are unused here.
#[allow(dead_code)]
mod common;

use common::{Failsafe, Floor, MutexBreaker, Peer};

/// The measured loop: `n` calls of `P::call_ok` on `breaker`; returns how many were
/// admitted so that nothing can be optimised away.
#[inline(never)]
fn run_calls<P: Peer>(breaker: &P, n: u64) -> u64 {
    let mut admitted = 0;
    for _ in 0..n {
        admitted += u64::from(breaker.call_ok());
    }
    admitted
}

/// Builds `P` for `scenario`, runs `n` calls and checks the outcome matches the scenario.
fn run<P: Peer>(scenario: &str, n: u64) -> Result<(), String> {
    let (breaker, expect_admitted) = match scenario {
        "closed_ok" => (P::closed(), n),
        "open_reject" => (P::open(), 0),
        other => return Err(format!("unknown scenario {other:?}")),
    };
    let admitted = run_calls(black_box(&breaker), black_box(n));
    if admitted != expect_admitted {
        return Err(format!(
            "{}/{scenario}: {admitted} of {n} calls admitted, expected {expect_admitted}",
            P::NAME
        ));
    }
    println!("{}/{scenario}: {n} calls, {admitted} admitted", P::NAME);
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` runs every bench target with `--bench` (and any filter): nothing to
    // measure here without callgrind.
    if args.iter().any(|a| a == "--bench") {
        println!("instructions: counts instructions under callgrind; run benches/callgrind.sh");
        return ExitCode::SUCCESS;
    }
    let usage = "usage: instructions <breakerbox|failsafe|recloser|mutex|floor> \
                 <closed_ok|open_reject> <n>";
    let [implementation, scenario, n] = args.as_slice() else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let Ok(n) = n.parse::<u64>() else {
        eprintln!("{usage}\n<n> must be a non-negative integer, got {n:?}");
        return ExitCode::from(2);
    };
    let result = match implementation.as_str() {
        "breakerbox" => run::<breakerbox::CircuitBreaker>(scenario, n),
        "failsafe" => run::<Failsafe>(scenario, n),
        "recloser" => run::<recloser::Recloser>(scenario, n),
        "mutex" => run::<MutexBreaker>(scenario, n),
        "floor" => run::<Floor>(scenario, n),
        other => Err(format!("unknown implementation {other:?}\n{usage}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
