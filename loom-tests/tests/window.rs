#![cfg(loom)]
//! Loom models of the rate window (`src/window.rs`), through its loom-only hook
//! `breakerbox::__window`: the real code, with its 128-bit words on the loom stand-in of
//! `sync::AtomicU128` (one modelled lock per operation).
//!
//! Racing work runs on spawned threads; every model whose end depends on the interleaving
//! records it in a `Reached` set and asserts that each sequential order was reached.

use std::sync::Arc;

use breakerbox::__window::{Counts, Window};
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
