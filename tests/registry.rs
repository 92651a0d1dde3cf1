//! The registry: every method, the once-per-name creation race, statuses and `reset_all`
//! under traffic, and unusual names.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

use breakerbox::{
    global_registry, AlreadyRegistered, CircuitBreaker, Config, Metrics, Registry, State, Status,
};

fn threshold(n: u32) -> Config {
    Config::builder().failure_threshold(n).build().unwrap()
}

/// A config whose breaker opens after two failures and goes half-open after 1 ms, so that
/// traffic from a few threads walks it through every state.
fn twitchy() -> Config {
    Config::builder()
        .failure_threshold(2)
        .success_threshold(1)
        .timeout(Duration::from_millis(1))
        .half_open_max_calls(1)
        .build()
        .unwrap()
}

fn assert_quiescent_invariant(m: &Metrics) {
    assert_eq!(
        m.total_calls,
        m.successful_calls + m.failed_calls + m.ignored_calls + m.rejected_calls,
        "{m:?}"
    );
}

/// The per-status consistency that `Status` documents.
fn assert_status_consistent(s: &Status) {
    assert_eq!(s.state, s.metrics.state, "{s:?}");
    match s.state {
        State::Closed => assert!(s.is_available, "{s:?}"),
        State::Open => assert!(!s.is_available, "{s:?}"),
        State::HalfOpen => {}
    }
}

#[test]
fn registry_is_send_sync_and_static() {
    fn check<T: Send + Sync + 'static>() {}
    check::<Registry>();
    check::<Status>();
    check::<AlreadyRegistered>();
}

#[test]
fn new_and_default_are_empty() {
    for registry in [Registry::new(), Registry::default()] {
        assert!(registry.is_empty());
        assert_eq!(registry.len(), 0);
        assert!(registry.names().is_empty());
        assert!(registry.statuses().is_empty());
        assert!(registry.get("anything").is_none());
    }
}

#[test]
fn debug_shows_the_number_of_breakers() {
    let registry = Registry::new();
    registry.get_or_create("a", Config::default());
    registry.get_or_create("b", Config::default());
    let text = format!("{registry:?}");
    assert!(text.starts_with("Registry"), "{text}");
    assert!(text.contains("len: 2"), "{text}");
}

#[test]
fn register_creates_with_the_given_config() {
    let registry = Registry::new();
    let breaker = registry.register("db", threshold(3)).unwrap();
    assert_eq!(breaker.name(), "db");
    assert_eq!(breaker.config().failure_threshold(), 3);
    assert_eq!(breaker.state(), State::Closed);
    assert!(Arc::ptr_eq(&breaker, &registry.get("db").unwrap()));
    assert_eq!(registry.len(), 1);
}

#[test]
fn register_accepts_string_and_str() {
    let registry = Registry::new();
    registry
        .register(String::from("owned"), Config::default())
        .unwrap();
    registry.register("borrowed", Config::default()).unwrap();
    assert_eq!(registry.names(), ["borrowed", "owned"]);
}

#[test]
fn register_never_replaces_a_live_breaker() {
    let registry = Registry::new();
    let first = registry.register("db", threshold(3)).unwrap();
    first.force_open();

    let err = registry.register("db", threshold(7)).unwrap_err();
    assert_eq!(err.name(), "db");
    assert_eq!(err, AlreadyRegistered::clone(&err));

    let kept = registry.get("db").unwrap();
    assert!(Arc::ptr_eq(&first, &kept));
    assert_eq!(kept.config().failure_threshold(), 3);
    assert_eq!(
        kept.state(),
        State::Open,
        "the kept breaker's state is untouched"
    );
    assert_eq!(registry.len(), 1);
}

#[test]
fn register_refuses_a_name_made_by_get_or_create() {
    let registry = Registry::new();
    let made = registry.get_or_create("cache", threshold(4));
    let err = registry.register("cache", threshold(9)).unwrap_err();
    assert_eq!(err.name(), "cache");
    assert!(Arc::ptr_eq(&made, &registry.get("cache").unwrap()));
}

#[test]
fn already_registered_display_and_error() {
    let registry = Registry::new();
    registry.register("payments", Config::default()).unwrap();
    let err = registry
        .register("payments", Config::default())
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("\"payments\""), "{text}");
    assert!(text.contains("already registered"), "{text}");
    let as_error: &dyn std::error::Error = &err;
    assert!(as_error.source().is_none());
    assert!(format!("{err:?}").contains("payments"));
}

#[test]
fn get_returns_the_same_breaker_every_time() {
    let registry = Registry::new();
    assert!(registry.get("x").is_none());
    let created = registry.get_or_create("x", Config::default());
    for _ in 0..3 {
        assert!(Arc::ptr_eq(&created, &registry.get("x").unwrap()));
    }
    assert!(registry.get("X").is_none(), "names are case-sensitive");
    assert!(registry.get("x ").is_none());
}

#[test]
fn get_or_create_keeps_the_existing_config() {
    let registry = Registry::new();
    let first = registry.get_or_create("mail", threshold(2));
    let second = registry.get_or_create("mail", threshold(8));
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(second.config().failure_threshold(), 2);
    assert_eq!(registry.len(), 1);
}

#[test]
fn get_or_create_with_does_not_call_make_for_an_existing_name() {
    let registry = Registry::new();
    let calls = AtomicUsize::new(0);
    let make = || {
        calls.fetch_add(1, Ordering::Relaxed);
        threshold(6)
    };
    let first = registry.get_or_create_with("geo", make);
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(first.config().failure_threshold(), 6);
    let second = registry.get_or_create_with("geo", || panic!("make called for a present name"));
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

#[test]
fn remove_returns_the_breaker_and_frees_the_name() {
    let registry = Registry::new();
    let old = registry.get_or_create("old", threshold(2));
    registry.get_or_create("other", Config::default());

    let removed = registry.remove("old").unwrap();
    assert!(Arc::ptr_eq(&old, &removed));
    assert!(registry.get("old").is_none());
    assert!(registry.remove("old").is_none());
    assert!(registry.remove("never").is_none());
    assert_eq!(registry.names(), ["other"]);

    // The removed breaker still works for its holders.
    old.force_open();
    assert_eq!(old.state(), State::Open);

    // A later creation builds a new breaker and runs `make` again.
    let calls = AtomicUsize::new(0);
    let new = registry.get_or_create_with("old", || {
        calls.fetch_add(1, Ordering::Relaxed);
        threshold(9)
    });
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert!(!Arc::ptr_eq(&old, &new));
    assert_eq!(new.state(), State::Closed);
    assert_eq!(new.config().failure_threshold(), 9);
    // And register works for a removed name.
    registry.remove("old").unwrap();
    registry.register("old", Config::default()).unwrap();
}

#[test]
fn reset_one_breaker() {
    let registry = Registry::new();
    let api = registry.get_or_create("api", Config::default());
    let other = registry.get_or_create("other", Config::default());
    api.force_open();
    other.force_open();
    assert!(registry.reset("api"));
    assert_eq!(api.state(), State::Closed);
    assert_eq!(
        other.state(),
        State::Open,
        "only the named breaker is reset"
    );
    assert!(!registry.reset("missing"));
}

#[test]
fn reset_keeps_metrics() {
    let registry = Registry::new();
    let api = registry.get_or_create("api", threshold(1));
    let _ = api.call(|| Err::<(), _>("boom"));
    assert_eq!(api.state(), State::Open);
    assert!(registry.reset("api"));
    let m = api.metrics();
    assert_eq!(m.state, State::Closed);
    assert_eq!(m.failed_calls, 1);
    assert_eq!(m.total_calls, 1);
}

#[test]
fn reset_all_closes_every_breaker() {
    let registry = Registry::new();
    let breakers: Vec<_> = (0..20)
        .map(|i| registry.get_or_create(&format!("b{i}"), Config::default()))
        .collect();
    for b in breakers.iter().step_by(2) {
        b.force_open();
    }
    registry.reset_all();
    assert!(breakers.iter().all(|b| b.state() == State::Closed));
    Registry::new().reset_all(); // empty: nothing to do
}

#[test]
fn statuses_and_names_are_sorted_and_complete() {
    let registry = Registry::new();
    let names = ["delta", "alpha", "charlie", "bravo", "Zulu", "alpha2", "a"];
    for name in names {
        registry.get_or_create(name, Config::default());
    }
    registry.get("charlie").unwrap().force_open();

    let mut expected: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(registry.names(), expected);

    let statuses = registry.statuses();
    let status_names: Vec<&str> = statuses.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(status_names, expected);
    for s in &statuses {
        assert_status_consistent(s);
        let breaker = registry.get(&s.name).unwrap();
        assert_eq!(s.metrics, breaker.metrics());
        assert_eq!(s.is_available, breaker.is_available());
        if s.name == "charlie" {
            assert_eq!(s.state, State::Open);
            assert!(!s.is_available);
        } else {
            assert_eq!(s.state, State::Closed);
        }
    }
}

#[test]
fn statuses_report_half_open_availability() {
    let registry = Registry::new();
    // A 1 ns open timeout: the breaker is effectively half-open right after opening.
    let config = Config::builder()
        .failure_threshold(1)
        .timeout(Duration::from_nanos(1))
        .half_open_max_calls(1)
        .build()
        .unwrap();
    let b = registry.get_or_create("probe", config);
    b.force_open();
    while b.state() != State::HalfOpen {
        std::hint::spin_loop(); // a few nanoseconds at most
    }
    let s = registry.statuses().remove(0);
    assert_eq!((s.state, s.is_available), (State::HalfOpen, true));

    let probe = b.try_acquire().unwrap();
    let s = registry.statuses().remove(0);
    assert_status_consistent(&s);
    assert_eq!(s.state, State::HalfOpen);
    assert!(!s.is_available, "the only probe slot is taken");

    drop(probe); // Ignored: frees the slot
    let s = registry.statuses().remove(0);
    assert_eq!((s.state, s.is_available), (State::HalfOpen, true));
    assert_eq!(s.metrics.ignored_calls, 1);
    assert_quiescent_invariant(&s.metrics);
}

#[test]
fn len_and_is_empty_track_changes() {
    let registry = Registry::new();
    for i in 0..100 {
        registry.get_or_create(&i.to_string(), Config::default());
        assert_eq!(registry.len(), i + 1);
    }
    registry.get_or_create("7", Config::default());
    assert_eq!(registry.len(), 100);
    for i in 0..100 {
        registry.remove(&i.to_string()).unwrap();
    }
    assert!(registry.is_empty());
}

#[test]
fn global_is_one_registry() {
    assert!(std::ptr::eq(Registry::global(), global_registry()));
    let name = "tests/registry.rs global_is_one_registry";
    let a = global_registry().get_or_create(name, Config::default());
    let b = thread::spawn(move || Registry::global().get(name).unwrap())
        .join()
        .unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert!(Registry::global().names().iter().any(|n| n == name));
    assert!(Registry::new().get(name).is_none(), "new() is independent");
}

#[test]
fn concurrent_get_or_create_with_makes_one_breaker() {
    const THREADS: usize = 8;
    for round in 0..50 {
        let registry = Registry::new();
        let name = format!("race-{round}");
        let calls = AtomicUsize::new(0);
        let barrier = Barrier::new(THREADS);
        let got: Vec<Arc<CircuitBreaker>> = thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (registry, name, calls, barrier) = (&registry, &name, &calls, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        registry.get_or_create_with(name, || {
                            calls.fetch_add(1, Ordering::SeqCst);
                            // Each thread offers a different config: only the winner's is used.
                            threshold(t as u32 + 1)
                        })
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1, "round {round}");
        let registered = registry.get(&name).unwrap();
        assert!(
            got.iter().all(|b| Arc::ptr_eq(b, &registered)),
            "round {round}"
        );
        assert_eq!(registry.len(), 1);
    }
}

#[test]
fn concurrent_creation_of_many_names_makes_each_once() {
    const THREADS: usize = 8;
    const NAMES: usize = 200;
    let registry = Registry::new();
    let calls: Vec<AtomicUsize> = (0..NAMES).map(|_| AtomicUsize::new(0)).collect();
    let barrier = Barrier::new(THREADS);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (registry, calls, barrier) = (&registry, &calls, &barrier);
            s.spawn(move || {
                barrier.wait();
                // Threads walk the names in different orders.
                for k in 0..NAMES {
                    let i = (k * (2 * t + 1)) % NAMES;
                    let b = registry.get_or_create_with(&format!("n{i}"), || {
                        calls[i].fetch_add(1, Ordering::SeqCst);
                        Config::default()
                    });
                    assert_eq!(b.name(), format!("n{i}"));
                }
            });
        }
    });
    assert!(calls.iter().all(|c| c.load(Ordering::SeqCst) == 1));
    assert_eq!(registry.len(), NAMES);
}

#[test]
fn concurrent_register_has_one_winner() {
    const THREADS: usize = 8;
    for round in 0..50 {
        let registry = Registry::new();
        let barrier = Barrier::new(THREADS);
        let results: Vec<_> = thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    let (registry, barrier) = (&registry, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        registry.register("one", Config::default())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}");
        assert!(Arc::ptr_eq(winners[0], &registry.get("one").unwrap()));
        for r in &results {
            if let Err(e) = r {
                assert_eq!(e.name(), "one");
            }
        }
    }
}

#[test]
fn gets_see_a_registered_breaker_while_others_create_and_remove() {
    let registry = Registry::new();
    let stable = registry.get_or_create("stable", Config::default());
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let name = format!("churn-{}", i % 64);
                registry.get_or_create(&name, Config::default());
                registry.remove(&name);
                i += 1;
            }
        });
        for _ in 0..20_000 {
            let got = registry
                .get("stable")
                .expect("a registered name is always found");
            assert!(Arc::ptr_eq(&got, &stable));
        }
        stop.store(true, Ordering::Relaxed);
    });
}

#[test]
fn make_may_use_the_registry_for_other_names() {
    let registry = Registry::new();
    for i in 0..200 {
        let outer = registry.get_or_create_with(&format!("outer-{i}"), || {
            let inner = registry.get_or_create(&format!("inner-{i}"), threshold(3));
            assert_eq!(inner.name(), format!("inner-{i}"));
            assert!(
                registry.get(&format!("outer-{i}")).is_none(),
                "not yet published"
            );
            Config::default()
        });
        assert_eq!(outer.name(), format!("outer-{i}"));
    }
    assert_eq!(registry.len(), 400);
}

#[test]
fn a_panicking_make_registers_nothing_and_can_be_retried() {
    let registry = Registry::new();
    let result = catch_unwind(AssertUnwindSafe(|| {
        registry.get_or_create_with("flaky", || panic!("config source down"))
    }));
    assert!(result.is_err());
    assert!(registry.get("flaky").is_none());
    assert!(registry.is_empty());

    let b = registry.get_or_create_with("flaky", || threshold(4));
    assert_eq!(b.config().failure_threshold(), 4);
    // The registry stays usable for every operation.
    assert!(registry.register("flaky", Config::default()).is_err());
    assert_eq!(registry.names(), ["flaky"]);
}

#[test]
fn a_waiter_takes_over_when_the_creator_panics() {
    let registry = Registry::new();
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let waiter_calls = AtomicUsize::new(0);
    let (registry, waiter_calls) = (&registry, &waiter_calls);
    thread::scope(|s| {
        let creator = s.spawn(move || {
            catch_unwind(AssertUnwindSafe(|| {
                registry.get_or_create_with("contested", || {
                    started_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    panic!("creator fails");
                })
            }))
        });
        started_rx.recv().unwrap(); // the creator is inside `make`
        let waiter = s.spawn(move || {
            registry.get_or_create_with("contested", || {
                waiter_calls.fetch_add(1, Ordering::SeqCst);
                threshold(8)
            })
        });
        go_tx.send(()).unwrap();
        assert!(creator.join().unwrap().is_err());
        let b = waiter.join().unwrap();
        assert_eq!(b.config().failure_threshold(), 8);
        assert!(Arc::ptr_eq(&b, &registry.get("contested").unwrap()));
    });
    assert_eq!(waiter_calls.load(Ordering::SeqCst), 1);
}

#[test]
fn statuses_under_concurrent_traffic_are_consistent() {
    const WORKERS: usize = 3;
    const BREAKERS: usize = 8;
    let registry = Registry::new();
    for i in 0..BREAKERS {
        registry.get_or_create(&format!("svc-{i}"), twitchy());
    }
    let stop = AtomicBool::new(false);
    let snapshots = AtomicUsize::new(0);
    thread::scope(|s| {
        for w in 0..WORKERS {
            let (registry, stop) = (&registry, &stop);
            s.spawn(move || {
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let b = registry.get(&format!("svc-{}", i % BREAKERS)).unwrap();
                    if let Ok(permit) = b.try_acquire() {
                        match i % 3 {
                            0 => permit.success(),
                            1 => permit.failure(),
                            _ => drop(permit), // ignored
                        }
                    }
                    i += 7;
                }
            });
        }
        let reader = s.spawn(|| {
            let mut seen = HashSet::new();
            for _ in 0..300 {
                let statuses = registry.statuses();
                assert_eq!(statuses.len(), BREAKERS);
                assert!(statuses.windows(2).all(|w| w[0].name < w[1].name));
                for st in &statuses {
                    assert_status_consistent(st);
                    seen.insert(st.state);
                }
                snapshots.fetch_add(1, Ordering::Relaxed);
            }
            seen
        });
        let seen = reader.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        assert!(!seen.is_empty());
    });
    assert_eq!(snapshots.load(Ordering::Relaxed), 300);
    // Quiescent: no permit outstanding, so the metrics invariant holds exactly.
    let statuses = registry.statuses();
    let mut total = 0;
    for st in &statuses {
        assert_status_consistent(st);
        assert_quiescent_invariant(&st.metrics);
        total += st.metrics.total_calls;
    }
    assert!(total > 0, "the workers made calls");
}

#[test]
fn reset_all_while_other_threads_call() {
    const WORKERS: usize = 3;
    let registry = Registry::new();
    let names: Vec<String> = (0..6).map(|i| format!("busy-{i}")).collect();
    for n in &names {
        registry.get_or_create(n, threshold(2));
    }
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        for w in 0..WORKERS {
            let (registry, stop, names) = (&registry, &stop, &names);
            s.spawn(move || {
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let b = registry.get(&names[i % names.len()]).unwrap();
                    // Mostly failures, so the breakers keep opening.
                    let _ = b.call(|| if i % 4 == 0 { Ok(()) } else { Err(()) });
                    i += 1;
                }
            });
        }
        for _ in 0..500 {
            registry.reset_all();
        }
        stop.store(true, Ordering::Relaxed);
    });
    for st in registry.statuses() {
        assert_quiescent_invariant(&st.metrics);
    }
    registry.reset_all();
    for st in registry.statuses() {
        assert_eq!(st.state, State::Closed, "{st:?}");
        assert!(st.is_available);
        assert_eq!(st.metrics.consecutive_failures, 0);
        assert_quiescent_invariant(&st.metrics);
    }
}

#[test]
fn empty_name_is_a_name() {
    let registry = Registry::new();
    let b = registry.get_or_create("", threshold(3));
    assert_eq!(b.name(), "");
    assert!(Arc::ptr_eq(&b, &registry.get("").unwrap()));
    assert_eq!(
        registry.register("", Config::default()).unwrap_err().name(),
        ""
    );
    assert_eq!(registry.names(), [""]);
    registry.get_or_create("a", Config::default());
    assert_eq!(registry.names(), ["", "a"]);
    assert!(registry.reset(""));
    assert!(registry.remove("").is_some());
    assert!(registry.get("").is_none());
}

#[test]
fn one_mebibyte_name() {
    let registry = Registry::new();
    let long = "x".repeat(1 << 20);
    let mut almost = long.clone();
    almost.pop();
    almost.push('y');

    let b = registry.get_or_create(&long, Config::default());
    assert_eq!(b.name().len(), 1 << 20);
    assert!(registry.get(&almost).is_none(), "differs in the last byte");
    let c = registry.get_or_create(&almost, Config::default());
    assert!(!Arc::ptr_eq(&b, &c));
    assert!(Arc::ptr_eq(&b, &registry.get(&long).unwrap()));
    assert_eq!(registry.names(), [long.clone(), almost.clone()]);
    assert_eq!(registry.statuses()[0].name, long);
    let err = registry
        .register(long.clone(), Config::default())
        .unwrap_err();
    assert_eq!(err.name(), long);
    assert!(registry.remove(&long).is_some());
    assert_eq!(registry.len(), 1);
}

#[test]
fn unusual_unicode_names_are_distinct_and_sorted_by_bytes() {
    let registry = Registry::new();
    let names = [
        "日本語",
        "🚦 traffic",
        "\u{e9}",     // é, precomposed
        "e\u{301}",   // e + combining acute: looks the same, a different name
        "שלום",       // right-to-left
        "a\u{200d}b", // zero-width joiner
        "a\0b",       // NUL inside
        "\u{10ffff}", // the largest scalar value
        "\u{2126}",   // OHM SIGN
        "\u{3a9}",    // GREEK CAPITAL LETTER OMEGA: looks the same, a different name
        " ",
        "\n",
    ];
    for (i, name) in names.iter().enumerate() {
        registry.register(*name, threshold(i as u32 + 1)).unwrap();
    }
    assert_eq!(registry.len(), names.len());
    for (i, name) in names.iter().enumerate() {
        let b = registry.get(name).unwrap();
        assert_eq!(b.name(), *name);
        assert_eq!(b.config().failure_threshold(), i as u32 + 1);
    }
    let mut sorted: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    sorted.sort();
    assert_eq!(registry.names(), sorted);
    let status_names: Vec<String> = registry.statuses().into_iter().map(|s| s.name).collect();
    assert_eq!(status_names, sorted);
    assert!(registry.get("ab").is_none());
    assert!(registry.get("e").is_none());
}

// ---------------------------------------------------------------------------------------
// Lookups by `&str` allocate nothing: a counting allocator, per thread.
//
// `unsafe` here is unavoidable: `GlobalAlloc` is an `unsafe` trait, and a counting
// allocator cannot be written without implementing it. Each block forwards to `System`.

mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        // `const` initialisation, no destructor: touching it from the allocator never
        // allocates or recurses.
        static ALLOCS: Cell<u64> = const { Cell::new(0) };
    }

    /// Allocations and reallocations made by this thread so far.
    pub(crate) fn allocs() -> u64 {
        ALLOCS.with(Cell::get)
    }

    fn bump() {
        // `try_with`: during thread teardown the slot may be gone; those calls are not ours.
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
    }

    pub(crate) struct Counting;

    // SAFETY: every method forwards its arguments unchanged to `System`, which meets the
    // `GlobalAlloc` contract; the only addition is updating a thread-local `Cell`, which
    // neither allocates, nor unwinds, nor touches the memory being managed.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            bump();
            // SAFETY: the caller's guarantees for `alloc` are passed on as they are.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            bump();
            // SAFETY: as for `alloc`.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            bump();
            // SAFETY: `ptr` and `layout` come from this allocator, i.e. from `System`.
            unsafe { System.realloc(ptr, layout, new_size) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` and `layout` come from this allocator, i.e. from `System`.
            unsafe { System.dealloc(ptr, layout) }
        }
    }
}

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

#[test]
fn lookups_of_existing_names_allocate_nothing() {
    let registry = Registry::new();
    let names: Vec<String> = (0..1000).map(|i| format!("svc-{i}")).collect();
    for name in &names {
        registry.get_or_create(name, Config::default());
    }
    // Warm-up: per-thread state of the map's reclamation scheme is set up on first use.
    for name in &names {
        registry.get(name).unwrap();
        registry.reset(name);
    }
    let before = counting::allocs();
    for _ in 0..10 {
        for name in &names {
            assert!(registry.get(name).is_some());
            let b = registry.get_or_create(name, Config::default());
            drop(registry.get_or_create_with(name, || panic!("present")));
            assert!(registry.reset(name));
            drop(b);
        }
        assert!(registry.get("absent").is_none());
        assert!(!registry.reset("absent"));
    }
    assert_eq!(counting::allocs() - before, 0, "lookups allocated");
}

#[test]
fn counting_allocator_is_live() {
    let before = counting::allocs();
    let registry = Registry::new();
    registry.get_or_create("counted", Config::default());
    assert!(counting::allocs() > before, "creating a breaker allocates");
}

#[test]
fn a_removed_breaker_is_dropped_once_the_registry_lets_go() {
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let registry = Registry::new();
    let breaker = registry.get_or_create("leaving", Config::default());
    // The listener (and the flag it owns) lives as long as the breaker.
    let flag = Flag(Arc::clone(&dropped));
    breaker.on_state_change(move |_| {
        let _ = &flag;
    });
    let removed = registry.remove("leaving").unwrap();
    assert!(Arc::ptr_eq(&breaker, &removed));
    drop((breaker, removed));
    // Many more creations and removals on this thread: reclamation is deferred, not lost.
    for i in 0..1000 {
        let name = format!("churn-{i}");
        registry.get_or_create(&name, Config::default());
        registry.remove(&name);
    }
    assert!(
        dropped.load(Ordering::SeqCst),
        "not reclaimed after 1000 later removals"
    );
    drop(registry);
    assert!(
        dropped.load(Ordering::SeqCst),
        "the breaker was never dropped"
    );
}

#[test]
fn dropping_a_registry_drops_its_breakers() {
    let registry = Registry::new();
    let kept = registry.get_or_create("kept", Config::default());
    assert!(Arc::strong_count(&kept) >= 2);
    drop(registry);
    assert_eq!(
        Arc::strong_count(&kept),
        1,
        "the registry released its reference"
    );
}

#[test]
fn with_borrows_the_named_breaker_and_may_use_the_registry() {
    let registry = Registry::new();
    let a = registry.get_or_create("with-a", Config::default());
    assert_eq!(
        registry.with("with-a", |b| b.name().to_owned()),
        Some("with-a".to_owned())
    );
    assert!(registry.with("with-missing", |_| ()).is_none());
    // `f` may call back into the registry, writes included, without deadlock.
    let removed = registry.with("with-a", |b| {
        b.force_open();
        registry.get_or_create("with-b", Config::default());
        registry.remove("with-a").is_some()
    });
    assert_eq!(removed, Some(true));
    assert_eq!(a.state(), breakerbox::State::Open);
    assert!(registry.get("with-b").is_some());
    assert!(registry.get("with-a").is_none());
}

/// A `make` that asks for the name it is creating panics with a message (it would wait for
/// itself forever); nothing is registered, the name can be created afterwards, and asking
/// for other names (or the same name in another registry) from `make` still works.
#[test]
fn make_asking_for_its_own_name_panics_instead_of_deadlocking() {
    let registry = Registry::new();
    let other = Registry::new();
    for via_register in [false, true] {
        let result = catch_unwind(AssertUnwindSafe(|| {
            registry.get_or_create_with("selfish", || {
                registry.get_or_create("helper", Config::default());
                other.get_or_create("selfish", Config::default());
                if via_register {
                    let _ = registry.register("selfish", Config::default());
                } else {
                    registry.get_or_create("selfish", Config::default());
                }
                Config::default()
            })
        }));
        let payload = result.expect_err("the recursive creation must panic");
        let message = payload
            .downcast_ref::<String>()
            .expect("a formatted panic message");
        assert!(
            message.contains("\"selfish\"") && message.contains("wait for itself forever"),
            "{message}"
        );
        assert!(registry.get("selfish").is_none());
        assert!(registry.get("helper").is_some());
        assert!(other.get("selfish").is_some());
    }
    let created = registry.get_or_create("selfish", threshold(2));
    assert_eq!(created.config().failure_threshold(), 2);
    assert_eq!(registry.len(), 2);
}
