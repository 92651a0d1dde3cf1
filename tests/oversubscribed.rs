//! Many more threads than cores and than counter stripes, all on one breaker: counts stay
//! exact.
//!
//! The stripe tables are sized for a 2-CPU machine (`BREAKERBOX_CPUS=2`, set before the
//! first breaker of this process exists): 3 owned stripes and 2 shared ones. Of the 128
//! threads, all alive at once, one owns the breaker's base line, at most 3 own a stripe and
//! every other one counts in a shared stripe with `fetch_add`, in whatever order the
//! scheduler runs them on the machine's cores.
//!
//! Each thread tallies what it saw (admitted calls by outcome, and rejections); afterwards
//! the breaker's metrics must equal the sums of the tallies exactly, and
//! `total == success + failure + ignored + rejected`. The breaker opens and recovers on
//! its own (5 consecutive failures open it for 1 ms), so rejections, half-open probes and
//! stale outcomes are all in the mix.
//!
//! Threads yield every 16 calls so that they interleave (with plain load + store on the
//! shared stripes instead of `fetch_add`, the default test fails). It makes 1,000,000 calls
//! (about 1.5 s in a debug build on 2 cores); the `#[ignore]`d one makes 8,000,000 from 256
//! threads: `cargo test --release --test oversubscribed -- --include-ignored`.

use std::sync::{Barrier, Once};
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, Outcome};

/// Sizes the stripe tables for 2 CPUs. Every test calls it before it creates a breaker, so
/// the variable is set before the crate reads it and before any test thread could read the
/// environment concurrently.
fn two_cpus() {
    static SET: Once = Once::new();
    SET.call_once(|| std::env::set_var("BREAKERBOX_CPUS", "2"));
}

/// What one thread saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    success: u64,
    failure: u64,
    ignored: u64,
    rejected: u64,
}

impl Tally {
    fn calls(&self) -> u64 {
        self.success + self.failure + self.ignored + self.rejected
    }

    fn add(mut self, other: Tally) -> Tally {
        self.success += other.success;
        self.failure += other.failure;
        self.ignored += other.ignored;
        self.rejected += other.rejected;
        self
    }
}

/// The outcome of call `i` of thread `t`: mostly successes, a failure in 16 and an ignored
/// call in 32, so the breaker opens now and then.
fn outcome(t: usize, i: u64) -> Outcome {
    match (i + t as u64) % 32 {
        0 | 16 => Outcome::Failure,
        7 => Outcome::Ignored,
        _ => Outcome::Success,
    }
}

/// `calls` calls on `breaker` from this thread, half through `try_acquire`, half through
/// `call`, tallied.
fn run(breaker: &CircuitBreaker, t: usize, calls: u64) -> Tally {
    let mut tally = Tally::default();
    for i in 0..calls {
        if i % 16 == 0 {
            // Hand the core over now and then, so that the threads interleave instead of
            // each running its whole share in one time slice.
            std::thread::yield_now();
        }
        let outcome = outcome(t, i);
        if i % 2 == 0 {
            match breaker.try_acquire() {
                Ok(permit) => {
                    permit.record_outcome(outcome);
                    match outcome {
                        Outcome::Success => tally.success += 1,
                        Outcome::Failure => tally.failure += 1,
                        Outcome::Ignored => tally.ignored += 1,
                    }
                }
                Err(_) => tally.rejected += 1,
            }
        } else {
            // `call` has no Ignored: an Ignored call is made a success here.
            let fail = outcome == Outcome::Failure;
            match breaker.call(|| if fail { Err(()) } else { Ok(()) }) {
                Ok(()) => tally.success += 1,
                Err(e) if e.is_rejected() => tally.rejected += 1,
                Err(_) => tally.failure += 1,
            }
        }
    }
    tally
}

/// `threads` threads, all started before any calls, each making `calls` calls on one
/// breaker; checks the metrics against the tallies.
fn oversubscribe(threads: usize, calls: u64) {
    two_cpus();
    let config = Config::builder()
        .failure_threshold(5)
        .timeout(Duration::from_millis(1))
        .half_open_max_calls(2)
        .success_threshold(2)
        .build()
        .unwrap();
    let breaker = CircuitBreaker::with_config("oversubscribed", config);
    let barrier = Barrier::new(threads);
    let tallies: Vec<Tally> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (breaker, barrier) = (&breaker, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    run(breaker, t, calls)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    for (t, tally) in tallies.iter().enumerate() {
        assert_eq!(tally.calls(), calls, "thread {t}: {tally:?}");
    }
    let all = tallies.iter().copied().fold(Tally::default(), Tally::add);
    let m = breaker.metrics();
    assert_eq!(m.total_calls, threads as u64 * calls);
    assert_eq!(
        Tally {
            success: m.successful_calls,
            failure: m.failed_calls,
            ignored: m.ignored_calls,
            rejected: m.rejected_calls,
        },
        all
    );
    assert_eq!(
        m.total_calls,
        m.successful_calls + m.failed_calls + m.ignored_calls + m.rejected_calls
    );
    assert!(all.failure > 0 && all.ignored > 0, "{all:?}");
    // Contended: the breaker allocated its stripe table, sized for 2 CPUs (3 owned + 2
    // shared stripes of 64 bytes).
    assert_eq!(breaker.footprint(), uncontended() + 5 * 64);
}

#[test]
fn a_million_calls_from_128_threads_are_counted_exactly() {
    oversubscribe(128, 1_000_000 / 128 + 1);
}

#[test]
#[ignore = "heavy: 8,000,000 calls from 256 threads; run with --include-ignored in release"]
fn eight_million_calls_from_256_threads_are_counted_exactly() {
    oversubscribe(256, 8_000_000 / 256);
}

/// A breaker that one thread counts on alone never allocates a table: its base line is
/// enough, whatever the CPU count, while a breaker next to it is hammered by others.
#[test]
fn a_breaker_counted_by_one_thread_needs_no_table() {
    two_cpus();
    let (alone, busy) = (CircuitBreaker::new("alone"), CircuitBreaker::new("busy"));
    std::thread::scope(|s| {
        for t in 0..4 {
            let busy = &busy;
            s.spawn(move || run(busy, t, 1_000));
        }
        let tally = run(&alone, 0, 10_000);
        assert_eq!(alone.metrics().total_calls, tally.calls());
        assert_eq!(alone.metrics().successful_calls, tally.success);
    });
    assert_eq!(alone.footprint(), uncontended());
    assert_eq!(busy.metrics().total_calls, 4_000);
}

/// `footprint()` of a breaker with no stripe table and no window: the breaker and its boxed
/// config.
fn uncontended() -> usize {
    std::mem::size_of::<CircuitBreaker>() + std::mem::size_of::<breakerbox::Config>()
}
