#![cfg(loom)]
//! Loom models of the rate window (`src/window.rs`), through its loom-only hook
//! `breakerbox::__window`: the real code, with its 128-bit words on the loom stand-in of
//! `sync::AtomicU128` (one modelled lock per operation).
//!
//! Racing work runs on spawned threads; every model whose end depends on the interleaving
//! records it in a `Reached` set and asserts that each sequential order was reached.

use std::sync::Arc;

use breakerbox::__window::{Counts, Recorded, Window};
use breakerbox_loom_tests::{check, Reached};
use loom::thread;

/// A slot id no time window owns: the thread uses the shared stripe (CAS).
const SHARED: usize = usize::MAX - 2;

/// A time window of 1 ms (two buckets of 500 µs under loom); the models add and read at
/// `NOW`.
const D_US: u64 = 1_000;
const NOW: u64 = 250;

/// Model W1 (Calls). Generation 1 holds one slow failure. Thread A, a late writer of generation
/// 1, enters a slow failure (and, since the header holds generation 1, stores its
/// after-value into the ring: the store that could land on generation 2's slot). Thread B
/// enters three successes of generation 2 (`n = 2`, so its last add reads a ring slot).
/// Whatever the order, generation 2 holds exactly B's last two successes, and A's outcome
/// either went into generation 1 (before B's first CAS) or was refused.
#[test]
fn calls_late_writer_never_leaks_into_a_new_generation() {
    // (A entered?, B's three returned totals)
    type End = (bool, Vec<Counts>);
    let b = vec![(1, 0, 0), (2, 0, 0), (2, 0, 0)];
    let allowed: Vec<End> = vec![(true, b.clone()), (false, b)];
    let reached = Reached::new();
    let seen = reached.clone();
    let expected = allowed.clone();
    check("window/calls_late_writer", None, move || {
        let w = Arc::new(Window::calls(2));
        w.add(0, 1, true, true, 0, false);

        let wa = w.clone();
        let a = thread::spawn(move || wa.add(0, 1, true, true, 0, true));
        let wb = w.clone();
        let b = thread::spawn(move || {
            (0..3)
                .map(|_| {
                    wb.add(0, 2, false, false, 0, true)
                        .expect("generation 2 is newest")
                })
                .collect::<Vec<_>>()
        });
        let a = a.join().unwrap();
        let b = b.join().unwrap();
        if let Some(t) = a {
            assert_eq!(
                t,
                (2, 2, 2),
                "A entered generation 1 after its first outcome"
            );
        }
        assert_eq!(w.totals(2, 0), (2, 0, 0));
        assert_eq!(w.totals(1, 0), (0, 0, 0));
        seen.insert((a.is_some(), b), &expected);
    });
    reached.assert_all(&allowed);
}

/// Model W2 (Time, shared stripe). Thread A, a late writer of generation 1, and thread B, of
/// generation 2, both enter a failure in the same shared cell at the same instant (A's also
/// slow). B's is always entered; A's is entered in generation 1 or refused, and never counted
/// in generation 2.
#[test]
fn time_late_writer_never_leaks_into_a_new_generation() {
    let allowed = vec![true, false];
    let reached = Reached::new();
    let seen = reached.clone();
    let expected = allowed.clone();
    check("window/time_late_writer", None, move || {
        let w = Arc::new(Window::time(D_US));
        let wa = w.clone();
        let a = thread::spawn(move || wa.add(SHARED, 1, true, true, NOW, true));
        let wb = w.clone();
        let b = thread::spawn(move || wb.add(SHARED, 2, true, false, NOW, true));
        let a = a.join().unwrap();
        let b = b.join().unwrap();
        assert_eq!(b, Some((1, 1, 0)));
        assert_eq!(w.totals(2, NOW), (1, 1, 0));
        // A's own (dead) generation: its failure, unless B's CAS took the cell over between
        // A's two writes; then its slow mark is clamped away with it.
        if let Some(t) = a {
            assert!(t == (1, 1, 1) || t == (0, 0, 0), "{t:?}");
        }
        seen.insert(a.is_some(), &expected);
    });
    reached.assert_all(&allowed);
}

/// Model W3 (Calls, `n = 2`). Thread A enters two failures, thread B one success. Every
/// add's returned totals and the final totals are those of the last two outcomes in one of
/// the three sequential orders (the third add reads its boundary from the ring).
#[test]
fn calls_concurrent_adds_give_exact_totals() {
    // (A's two returns, B's return, final)
    type End = (Counts, Counts, Counts, Counts);
    let allowed: Vec<End> = vec![
        // A1 A2 B
        ((1, 1, 0), (2, 2, 0), (2, 1, 0), (2, 1, 0)),
        // A1 B A2
        ((1, 1, 0), (2, 1, 0), (2, 1, 0), (2, 1, 0)),
        // B A1 A2
        ((2, 1, 0), (2, 2, 0), (1, 0, 0), (2, 2, 0)),
    ];
    let reached = Reached::new();
    let seen = reached.clone();
    let expected = allowed.clone();
    check("window/calls_concurrent_adds", None, move || {
        let w = Arc::new(Window::calls(2));
        let wa = w.clone();
        let a = thread::spawn(move || {
            let one = wa.add(0, 1, true, false, 0, true).unwrap();
            (one, wa.add(0, 1, true, false, 0, true).unwrap())
        });
        let wb = w.clone();
        let b = thread::spawn(move || wb.add(0, 1, false, false, 0, true).unwrap());
        let (a1, a2) = a.join().unwrap();
        let b = b.join().unwrap();
        seen.insert((a1, a2, b, w.totals(1, 0)), &expected);
    });
    reached.assert_all(&allowed);
}

/// Model W4 (Time). Two writers at one instant: A owns stripe 0 (a failure; its first add
/// resets the stripe inside the seqlock), C has no stripe (a slow failure, shared cell).
/// The final totals are exact; each returned total includes the writer's own outcome and
/// at most the other's (A may see C's failure before its slow mark). Both may miss the
/// other's (the writes are not ordered with respect to each other's reads: store
/// buffering), which is never more than was entered.
#[test]
fn time_concurrent_adds_give_exact_totals() {
    let must_reach: Vec<(Counts, Counts)> = vec![
        ((1, 1, 0), (2, 2, 1)),
        ((2, 2, 1), (1, 1, 1)),
        ((2, 2, 1), (2, 2, 1)),
    ];
    let allowed: Vec<(Counts, Counts)> = [(1, 1, 0), (2, 2, 0), (2, 2, 1)]
        .into_iter()
        .flat_map(|a| [(a, (1, 1, 1)), (a, (2, 2, 1))])
        .collect();
    let reached = Reached::new();
    let seen = reached.clone();
    let expected = allowed.clone();
    check("window/time_concurrent_adds", None, move || {
        let w = Arc::new(Window::time(D_US));
        let wa = w.clone();
        let a = thread::spawn(move || wa.add(0, 7, true, false, NOW, true).unwrap());
        let wc = w.clone();
        let c = thread::spawn(move || wc.add(SHARED, 7, true, true, NOW, true).unwrap());
        let (a, c) = (a.join().unwrap(), c.join().unwrap());
        assert_eq!(w.totals(7, NOW), (2, 2, 1));
        seen.insert((a, c), &expected);
    });
    reached.assert_all(&must_reach);
}

/// Model W5 (Calls, `n = 2`). Thread A enters a failure, then a success; thread B reads the
/// totals meanwhile. B sees one of the three sequential states, never more than was entered.
#[test]
fn calls_reader_never_sees_more_than_was_added() {
    let allowed: Vec<Counts> = vec![(0, 0, 0), (1, 1, 0), (2, 1, 0)];
    let reached = Reached::new();
    let seen = reached.clone();
    let expected = allowed.clone();
    check("window/calls_reader", None, move || {
        let w = Arc::new(Window::calls(2));
        let wa = w.clone();
        let a = thread::spawn(move || {
            wa.add(0, 1, true, false, 0, false);
            wa.add(0, 1, false, false, 0, false);
        });
        let wb = w.clone();
        let b = thread::spawn(move || wb.totals(1, 0));
        a.join().unwrap();
        seen.insert(b.join().unwrap(), &expected);
        assert_eq!(w.totals(1, 0), (2, 1, 0));
    });
    reached.assert_all(&allowed);
}

/// Model W6 (Time). Thread A (owning stripe 0) enters a slow success (its first add resets
/// the stripe inside the seqlock); thread C (no stripe) enters a slow failure; thread B reads
/// the totals meanwhile. B never sees more than was entered, nor a slow call without its
/// outcome.
#[test]
fn time_reader_never_sees_more_than_was_added() {
    // A's success and C's failure, each seen or not; a slow mark only with its outcome.
    let allowed: Vec<Counts> = vec![
        (0, 0, 0),
        (1, 0, 0),
        (1, 0, 1),
        (1, 1, 0),
        (1, 1, 1),
        (2, 1, 0),
        (2, 1, 1),
        (2, 1, 2),
    ];
    let must_reach: Vec<Counts> = vec![(0, 0, 0), (1, 0, 1), (1, 1, 1), (2, 1, 2)];
    let reached = Reached::new();
    let seen = reached.clone();
    let expected = allowed.clone();
    check("window/time_reader", Some(1), move || {
        let w = Arc::new(Window::time(D_US));
        let wa = w.clone();
        let a = thread::spawn(move || wa.add(0, 1, false, true, NOW, false));
        let wc = w.clone();
        let c = thread::spawn(move || wc.add(SHARED, 1, true, true, NOW, false));
        let wb = w.clone();
        let b = thread::spawn(move || wb.totals(1, NOW));
        a.join().unwrap();
        c.join().unwrap();
        seen.insert(b.join().unwrap(), &expected);
        assert_eq!(w.totals(1, NOW), (2, 1, 2));
    });
    reached.assert_all(&must_reach);
}

/// Model W7 (Time, owned stripe). Thread A, the stripe's owner, enters a failure of
/// generation 1, then a success of generation 2 (its stripe switches generation inside its
/// seqlock); thread B reads generation 1 meanwhile. B sees generation 1 empty or holding
/// A's failure, never a success of generation 2.
#[test]
fn time_owned_generation_switch_never_leaks_to_a_reader() {
    let allowed: Vec<Counts> = vec![(0, 0, 0), (1, 1, 0)];
    let reached = Reached::new();
    let seen = reached.clone();
    let expected = allowed.clone();
    check("window/time_owned_switch", None, move || {
        let w = Arc::new(Window::time(D_US));
        let wa = w.clone();
        let a = thread::spawn(move || {
            wa.add(0, 1, true, false, NOW, false);
            wa.add(0, 2, false, false, NOW, false);
        });
        let wb = w.clone();
        let b = thread::spawn(move || wb.totals(1, NOW));
        a.join().unwrap();
        seen.insert(b.join().unwrap(), &expected);
        assert_eq!(w.totals(2, NOW), (1, 0, 0));
        assert_eq!(w.totals(1, NOW), (0, 0, 0));
    });
    reached.assert_all(&allowed);
}

/// At least 60 % failures once `minimum` are held (the judge of W8).
fn trips((outcomes, failures, _): Counts, minimum: u64) -> bool {
    outcomes >= minimum && failures * 100 >= 60 * outcomes
}

/// Whether `r` is a judgment that tripped.
fn tripped(r: Recorded) -> bool {
    matches!(r, Recorded::Judged(_, true))
}

/// Model W8 (Calls, `n = 2`, skipping the sum; the judge trips at 60 % once 2 are held). The
/// window holds a success and a failure. Thread A enters a plain success: the window is
/// full, so it skips the sum, whichever CAS comes first. Thread B enters a failure, judged on
/// its own ticket's window: `F F` (B first) trips, `S F` (A first) does not. In both orders
/// the window A's success left (`F S`) does not trip: the skip hid no trip.
#[test]
fn calls_skipped_success_racing_a_failure_loses_no_trip() {
    // (B tripped, final totals)
    type End = (bool, Counts);
    let allowed: Vec<End> = vec![(true, (2, 1, 0)), (false, (2, 1, 0))];
    let reached = Reached::new();
    let seen = reached.clone();
    let expected = allowed.clone();
    check("window/calls_skip", None, move || {
        let w = Arc::new(Window::calls(2));
        assert!(!tripped(
            w.record(0, 1, false, false, 0, 2, |t| trips(t, 2))
        ));
        assert!(!tripped(w.record(0, 1, true, false, 0, 2, |t| trips(t, 2))));
        let wa = w.clone();
        let a = thread::spawn(move || wa.record(0, 1, false, false, 0, 2, |t| trips(t, 2)));
        let wb = w.clone();
        let b = thread::spawn(move || wb.record(0, 1, true, false, 0, 2, |t| trips(t, 2)));
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert_eq!(a, Recorded::Quiet, "a plain success into a full window");
        // B's totals are those of its own ticket: `F F` if first, `S F` after A.
        match b {
            Recorded::Judged(t, trip) => {
                assert!(t == (2, 2, 0) || t == (2, 1, 0), "{t:?}");
                assert_eq!(trip, t == (2, 2, 0));
            }
            other => panic!("a failure is always judged: {other:?}"),
        }
        let end = w.totals(1, 0);
        assert!(!trips(end, 2) || tripped(b), "a trip was lost");
        seen.insert((tripped(b), end), &expected);
    });
    reached.assert_all(&allowed);
}

/// Model W9 (Time, skipping the sum; the judge trips at 50 % once 2 are held). A (owner of
/// stripe 0) has judged the window at epoch 0: two successes, the minimum, no trip (its
/// `quiet` mark), and B (owner of stripe 1) a failure. Then, racing B's second failure at
/// epoch 0, A enters a plain success at epoch 0 — it skips the sum whatever B did (nothing leaves the
/// window within an epoch, and a success only lowers the rates) — and one at epoch 1 (a new
/// epoch: judged, never skipped). B's second failure is judged on what its sum saw: it trips
/// when it missed A's skipped success (`S S F F`, 50 %; with it, 40 %), and on its own two
/// failures if A's epoch-1 reset kept A's stripe out of both tries of B's read (a smaller
/// count, never a larger one). The window at epoch 0 with everything in (3 successes, 2
/// failures) does not trip: the skip hid no trip.
#[test]
fn time_skipped_success_racing_failures_and_an_epoch_change_loses_no_trip() {
    time_skip_model("window/time_skip", 0);
}

/// Model W10: W9 with A a thread without an owned stripe (the shared stripe's cells and its
/// common skip mark, set by the setup's second success).
#[test]
fn time_skipped_shared_success_racing_failures_and_an_epoch_change_loses_no_trip() {
    time_skip_model("window/time_skip_shared", SHARED);
}

/// W9 and W10, with A on stripe `a_slot`.
fn time_skip_model(name: &'static str, a_slot: usize) {
    const W: u64 = D_US / 2; // the bucket width under loom (2 buckets)
    let half = |(o, f, _): Counts| o >= 2 && f * 2 >= o;
    // (B's second failure tripped, A's epoch-1 totals)
    type End = (bool, Counts);
    let must_reach: Vec<End> = vec![(true, (6, 2, 0)), (false, (6, 2, 0)), (false, (5, 1, 0))];
    // A's epoch-1 sum sees B's first failure (entered before A started) and maybe its second.
    let allowed: Vec<End> = [true, false]
        .into_iter()
        .flat_map(|b| [(b, (5, 1, 0)), (b, (6, 2, 0))])
        .collect();
    let reached = Reached::new();
    let seen = reached.clone();
    let expected = allowed.clone();
    check(name, None, move || {
        let w = Arc::new(Window::time(D_US));
        assert!(!tripped(w.record(a_slot, 1, false, false, NOW, 2, half)));
        assert!(!tripped(w.record(a_slot, 1, false, false, NOW, 2, half)));
        assert!(!tripped(w.record(1, 1, true, false, NOW, 2, half)));
        let wa = w.clone();
        let a = thread::spawn(move || {
            let quiet = wa.record(a_slot, 1, false, false, NOW, 2, half);
            let next = wa.record(a_slot, 1, false, false, NOW + W, 2, half);
            (quiet, next)
        });
        let wb = w.clone();
        let b = thread::spawn(move || wb.record(1, 1, true, false, NOW, 2, half));
        let ((quiet, next), b2) = (a.join().unwrap(), b.join().unwrap());
        assert_eq!(
            quiet,
            Recorded::Quiet,
            "A's mark: same generation, same epoch"
        );
        let Recorded::Judged(a_totals, a_trip) = next else {
            panic!("a new epoch is always judged: {next:?}");
        };
        assert!(!a_trip, "at most 2 failures of 6");
        // B's failure (its second) trips iff its sum missed A's success of epoch 0.
        let Recorded::Judged(b_totals, b_trip) = b2 else {
            panic!("a failure is always judged: {b2:?}");
        };
        assert!(
            [(4, 2, 0), (5, 2, 0), (2, 2, 0)].contains(&b_totals),
            "{b_totals:?}"
        );
        assert_eq!(b_trip, half(b_totals));
        let end = w.totals(1, NOW);
        assert_eq!(end, (5, 2, 0));
        assert!(!half(end), "everything entered: 2 failures of 5");
        seen.insert((b_trip, a_totals), &expected);
    });
    reached.assert_all(&must_reach);
}
