#![cfg(loom)]
//! Loom model of the counters' upgrade: the first thread to count owns the breaker's base
//! line, the first other thread allocates the stripe table, and a reader sums meanwhile.
//!
//! Under loom the table has one owned stripe and two shared ones, so of the two counting
//! threads one ends up in the owned stripe and the other in a shared one (`fetch_add`),
//! whichever of them owned the base first.

use breakerbox::{CircuitBreaker, Metrics, Outcome};
use breakerbox_loom_tests::{check, config, Fixture, Reached};
use loom::thread;

/// One call admitted on a closed breaker, recorded as `outcome`.
fn call(breaker: &CircuitBreaker, outcome: Outcome) {
    breaker
        .try_acquire()
        .expect("a breaker that only sees successes and ignored calls stays closed")
        .record_outcome(outcome);
}

/// The counters of a snapshot: (total, successful, ignored).
fn counts(m: &Metrics) -> (u64, u64, u64) {
    (m.total_calls, m.successful_calls, m.ignored_calls)
}

/// Model 10. Thread A makes one call (Success), thread B one (Ignored), and a reader takes a
/// snapshot while they run. Whoever counts first takes the base; the other's first count
/// allocates the table (the upgrade). After the joins every counter is exact; the reader's
/// snapshot never shows a count that was not made. The reader must see every total from 0
/// to 2 in some execution, so the upgrade is explored racing the read. (Model 11 has the
/// owner counting again after the upgrade.)
#[test]
fn upgrade_races_increments_and_a_reader() {
    let allowed: Vec<u64> = (0..=2).collect();
    let reached = Reached::new();
    let seen = reached.clone();
    let expected = allowed.clone();
    check(
        "counters/upgrade_races_increments_and_a_reader",
        None,
        move || {
            let fx = Fixture::new(config().build().unwrap());

            let cb = fx.breaker.clone();
            let a = thread::spawn(move || call(&cb, Outcome::Success));
            let cb = fx.breaker.clone();
            let b = thread::spawn(move || call(&cb, Outcome::Ignored));
            let cb = fx.breaker.clone();
            let reader = thread::spawn(move || counts(&cb.metrics()));

            let (total, successful, ignored) = reader.join().unwrap();
            a.join().unwrap();
            b.join().unwrap();

            assert!(successful <= 1 && ignored <= 1, "{successful} {ignored}");
            seen.insert(total, &expected);

            let m = fx.breaker.metrics();
            assert_eq!(counts(&m), (2, 1, 1));
            assert_eq!(m.failed_calls, 0);
            assert_eq!(m.rejected_calls, 0);
            // Two threads counted: the table exists.
            assert!(fx.breaker.footprint() > std::mem::size_of::<CircuitBreaker>());
        },
    );
    reached.assert_all(&allowed);
}

/// Model 11. One thread counts alone, a second time after another thread's count upgraded
/// the breaker: nothing it counted in the base before the upgrade is lost, nothing counted
/// twice, whatever the order of the two threads.
#[test]
fn the_owner_keeps_its_base_counts_across_the_upgrade() {
    check(
        "counters/the_owner_keeps_its_base_counts_across_the_upgrade",
        None,
        || {
            let fx = Fixture::new(config().build().unwrap());
            let cb = fx.breaker.clone();
            let a = thread::spawn(move || {
                call(&cb, Outcome::Ignored);
                thread::yield_now();
                call(&cb, Outcome::Ignored);
            });
            let cb = fx.breaker.clone();
            let b = thread::spawn(move || call(&cb, Outcome::Success));
            a.join().unwrap();
            b.join().unwrap();
            let m = fx.breaker.metrics();
            assert_eq!(counts(&m), (3, 1, 2));
        },
    );
}
