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
//! Usage: `instructions <impl> <scenario> <n>`:
//!
//! - `<impl>`: `breakerbox`, `breakerbox_coarse` (breakerbox with the coarse clock,
//!   `ClockPrecision::Coarse(1 ms)`), `breakerbox_calls100`, `breakerbox_time10s` and
//!   `breakerbox_time10s_coarse` (the rate windows of `benches/policies.rs`, the last with
//!   the coarse clock), `failsafe`, `recloser`, `mutex`, `floor` (the implementation's
//!   `call` inlined into the loop), each also as `<impl>_outlined` (`call` through an
//!   `#[inline(never)]` function returning the whole `Result`, as another crate sees it
//!   when the compiler keeps it out of line); and `breakerbox_permit` /
//!   `breakerbox_permit_outlined` (`try_acquire`, inlined or through an `#[inline(never)]`
//!   function, then `Permit::success` or `failure`);
//! - `<scenario>`: `closed_ok` (calls that succeed on a closed breaker), `closed_mixed` (one
//!   call in ten fails; the breaker stays closed) or `open_reject` (calls rejected by an
//!   open breaker).
//!
//! Instructions per call: collect only the loop with
//! `--toggle-collect='instructions::run_calls*'` and divide by N (the loop's own counter
//! and branch and the `black_box` of the operation's value, about 5 instructions, are
//! included; `closed_mixed` adds the one-in-ten test, about 5 more). Comparing two whole
//! runs (N and 2N calls) is not exact: quanta's clock calibration at start-up runs a
//! time-dependent number of instructions. `benches/callgrind.sh` prints the table for
//! every implementation and scenario; `benches/callgrind-guard.sh` checks breakerbox's
//! figures against budgets.

use std::hint::black_box;
use std::process::ExitCode;

use breakerbox::CircuitBreaker;

// The breakers, baselines and the per-implementation adapters shared with peers.rs; the
// criterion helpers in the same module are unused here.
#[allow(dead_code)]
mod common;

use common::{
    BreakerboxCoarse, Calls100, Failsafe, Floor, Guard, GuardOutlined, Inlined, MutexBreaker,
    Outlined, Peer, Time10s, Time10sCoarse, Variant, Way,
};

/// The measured loop: `n` calls of `P` reached by `W`, where call `i` fails when
/// `mixed && common::mixed_fails(i)`; returns how many were admitted, so that nothing can
/// be optimised away.
#[inline(never)]
fn run_calls<P: Peer, W: Way<P>>(breaker: &P, n: u64, mixed: bool) -> u64 {
    let mut admitted = 0;
    if mixed {
        for i in 0..n {
            admitted += u64::from(W::run(breaker, common::mixed_fails(i)));
        }
    } else {
        for _ in 0..n {
            admitted += u64::from(W::run(breaker, false));
        }
    }
    admitted
}

/// Builds `P` for `scenario`, runs `n` calls through `W` and checks the outcome matches the
/// scenario.
fn run<P: Peer, W: Way<P>>(scenario: &str, n: u64) -> Result<(), String> {
    let name = common::id::<P, W>();
    let (breaker, mixed, expect_admitted) = match scenario {
        "closed_ok" => (P::closed(), false, n),
        // Failed calls are admitted too: every call is.
        "closed_mixed" => (P::closed(), true, n),
        "open_reject" => (P::open(), false, 0),
        other => return Err(format!("unknown scenario {other:?}")),
    };
    let admitted = run_calls::<P, W>(black_box(&breaker), black_box(n), black_box(mixed));
    if admitted != expect_admitted {
        return Err(format!(
            "{name}/{scenario}: {admitted} of {n} calls admitted, expected {expect_admitted}"
        ));
    }
    println!("{name}/{scenario}: {n} calls, {admitted} admitted");
    Ok(())
}

/// Runs `implementation` (an id as [`common::id`] names it) if it is `P` reached by
/// [`Inlined`] or [`Outlined`].
fn run_peer<P: Peer>(implementation: &str, scenario: &str, n: u64) -> Option<Result<(), String>> {
    if implementation == common::id::<P, Inlined>() {
        Some(run::<P, Inlined>(scenario, n))
    } else if implementation == common::id::<P, Outlined>() {
        Some(run::<P, Outlined>(scenario, n))
    } else {
        None
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` runs every bench target with `--bench` (and any filter): nothing to
    // measure here without callgrind.
    if args.iter().any(|a| a == "--bench") {
        println!("instructions: counts instructions under callgrind; run benches/callgrind.sh");
        return ExitCode::SUCCESS;
    }
    let usage = "usage: instructions <impl>[_outlined] <closed_ok|closed_mixed|open_reject> <n>\n\
                 <impl>: breakerbox, breakerbox_coarse, breakerbox_calls100, breakerbox_time10s, \
                 breakerbox_time10s_coarse, \
                 breakerbox_permit, failsafe, recloser, \
                 mutex, floor";
    let [implementation, scenario, n] = args.as_slice() else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let Ok(n) = n.parse::<u64>() else {
        eprintln!("{usage}\n<n> must be a non-negative integer, got {n:?}");
        return ExitCode::from(2);
    };
    let imp = implementation.as_str();
    let result = match imp {
        "breakerbox_permit" => run::<CircuitBreaker, Guard>(scenario, n),
        "breakerbox_permit_outlined" => run::<CircuitBreaker, GuardOutlined>(scenario, n),
        _ => run_peer::<CircuitBreaker>(imp, scenario, n)
            .or_else(|| run_peer::<BreakerboxCoarse>(imp, scenario, n))
            .or_else(|| run_peer::<Variant<Calls100>>(imp, scenario, n))
            .or_else(|| run_peer::<Variant<Time10s>>(imp, scenario, n))
            .or_else(|| run_peer::<Variant<Time10sCoarse>>(imp, scenario, n))
            .or_else(|| run_peer::<Failsafe>(imp, scenario, n))
            .or_else(|| run_peer::<recloser::Recloser>(imp, scenario, n))
            .or_else(|| run_peer::<MutexBreaker>(imp, scenario, n))
            .or_else(|| run_peer::<Floor>(imp, scenario, n))
            .unwrap_or_else(|| Err(format!("unknown implementation {imp:?}\n{usage}"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
