#![cfg(loom)]
//! Loom models of the registry's get-or-create protocol (src/registry.rs): under
//! `--cfg loom` the registry's store is a loom `RwLock` set and its writer shards and
//! in-flight records are loom mutexes, so these models run the real double-checked creation,
//! the wait on a creation in flight, `register` and `remove` against each other.
//!
//! Test-side bookkeeping (the `make` counters) uses `std` atomics, out of loom's view.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use breakerbox::{CircuitBreaker, Config, Registry};
use breakerbox_loom_tests::{check, Reached};
use loom::thread;

fn threshold(n: u32) -> Config {
    Config::builder().failure_threshold(n).build().unwrap()
}

/// `get_or_create_with(name, make)` that counts its `make` calls in `calls`, with a config
/// that tells which caller's `make` built the breaker.
fn create_counted(registry: &Registry, calls: &AtomicUsize, tag: u32) -> Arc<CircuitBreaker> {
    registry.get_or_create_with("shared", || {
        // SeqCst: test bookkeeping, read after every thread is joined.
        calls.fetch_add(1, Ordering::SeqCst);
        threshold(tag)
    })
}

/// Model 1. Three threads (two spawned and the main one) race `get_or_create_with` on one
/// name: one breaker, `make` runs once, everyone gets that breaker; each thread can be the
/// creator.
#[test]
fn racing_get_or_create_makes_one_breaker() {
    let reached = Reached::new();
    let seen = reached.clone();
    check(
        "registry/racing_get_or_create_makes_one_breaker",
        None,
        move || {
            let registry = Arc::new(Registry::new());
            let calls = Arc::new(AtomicUsize::new(0));
            let spawned: Vec<_> = (1..=2)
                .map(|tag| {
                    let (registry, calls) = (Arc::clone(&registry), Arc::clone(&calls));
                    thread::spawn(move || create_counted(&registry, &calls, tag))
                })
                .collect();
            let mine = create_counted(&registry, &calls, 3);
            let theirs: Vec<_> = spawned.into_iter().map(|t| t.join().unwrap()).collect();

            assert_eq!(calls.load(Ordering::SeqCst), 1, "make ran once");
            let registered = registry.get("shared").unwrap();
            assert!(Arc::ptr_eq(&mine, &registered));
            assert!(theirs.iter().all(|b| Arc::ptr_eq(b, &registered)));
            assert_eq!(registry.len(), 1);
            seen.insert(registered.config().failure_threshold(), &[1, 2, 3]);
        },
    );
    reached.assert_all(&[1, 2, 3]);
}

/// Model 2. `register` races `get_or_create_with` on one name: exactly one breaker is built;
/// if `register` wins, `make` never runs and the other caller gets the registered breaker;
/// if `get_or_create_with` wins, `register` fails with `AlreadyRegistered`.
#[test]
fn register_races_get_or_create() {
    // true: register won.
    let reached = Reached::new();
    let seen = reached.clone();
    check("registry/register_races_get_or_create", None, move || {
        let registry = Arc::new(Registry::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let creator = {
            let (registry, calls) = (Arc::clone(&registry), Arc::clone(&calls));
            thread::spawn(move || create_counted(&registry, &calls, 1))
        };
        let registered = registry.register("shared", threshold(2));
        let created = creator.join().unwrap();

        let present = registry.get("shared").unwrap();
        assert!(Arc::ptr_eq(&created, &present));
        assert_eq!(registry.len(), 1);
        match registered {
            Ok(breaker) => {
                assert!(Arc::ptr_eq(&breaker, &present));
                assert_eq!(
                    calls.load(Ordering::SeqCst),
                    0,
                    "make not run for a present name"
                );
                assert_eq!(present.config().failure_threshold(), 2);
                seen.insert(true, &[true, false]);
            }
            Err(err) => {
                assert_eq!(err.name(), "shared");
                assert_eq!(calls.load(Ordering::SeqCst), 1);
                assert_eq!(present.config().failure_threshold(), 1);
                seen.insert(false, &[true, false]);
            }
        }
    });
    reached.assert_all(&[true, false]);
}

/// Model 3. `remove` races a creation of the name: `make` runs once; either the removal
/// comes first (finds nothing, the breaker stays registered) or it removes exactly the
/// breaker that was created (the registry ends empty).
#[test]
fn remove_races_get_or_create() {
    // true: the removal took the created breaker.
    let reached = Reached::new();
    let seen = reached.clone();
    check("registry/remove_races_get_or_create", None, move || {
        let registry = Arc::new(Registry::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let creator = {
            let (registry, calls) = (Arc::clone(&registry), Arc::clone(&calls));
            thread::spawn(move || create_counted(&registry, &calls, 1))
        };
        let removed = registry.remove("shared");
        let created = creator.join().unwrap();

        assert_eq!(calls.load(Ordering::SeqCst), 1);
        match removed {
            Some(removed) => {
                assert!(Arc::ptr_eq(&removed, &created));
                assert!(registry.get("shared").is_none());
                assert!(registry.is_empty());
                seen.insert(true, &[true, false]);
            }
            None => {
                assert!(Arc::ptr_eq(&registry.get("shared").unwrap(), &created));
                assert_eq!(registry.len(), 1);
                seen.insert(false, &[true, false]);
            }
        }
    });
    reached.assert_all(&[true, false]);
}

/// Model 4. Two names created concurrently. Under loom the registry has one writer shard, so
/// the two creations share its lock and its in-flight table (each with its own in-flight
/// record): each `make` runs once, neither waits for the other's, both are registered.
#[test]
fn two_names_are_created_independently() {
    check("registry/two_names_are_created_independently", None, || {
        let registry = Arc::new(Registry::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let other = {
            let (registry, calls) = (Arc::clone(&registry), Arc::clone(&calls));
            thread::spawn(move || {
                registry.get_or_create_with("a", || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Config::default()
                })
            })
        };
        let b = registry.get_or_create_with("b", || {
            calls.fetch_add(1, Ordering::SeqCst);
            Config::default()
        });
        let a = other.join().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(registry.names(), ["a", "b"]);
        assert!(Arc::ptr_eq(&a, &registry.get("a").unwrap()));
        assert!(Arc::ptr_eq(&b, &registry.get("b").unwrap()));
    });
}

/// Model 5. `Registry::global()` works under loom, fresh in every execution: two threads
/// create one name in it and get one breaker.
#[test]
fn global_registry_is_fresh_per_execution() {
    check(
        "registry/global_registry_is_fresh_per_execution",
        None,
        || {
            assert!(breakerbox::global_registry().is_empty());
            let other = thread::spawn(|| Registry::global().get_or_create("g", Config::default()));
            let mine = Registry::global().get_or_create("g", Config::default());
            let theirs = other.join().unwrap();
            assert!(Arc::ptr_eq(&mine, &theirs));
            assert_eq!(Registry::global().len(), 1);
        },
    );
}

/// Model 6. A creator whose `make` panics races another caller of the same name: the panic
/// leaves no breaker and no stale in-flight record behind, so the other caller either finds
/// nothing and creates (its `make` runs once), or is waiting on the failed creation and
/// takes over; if it came first, the would-be creator just gets its breaker (no panic).
#[test]
fn a_panicking_make_hands_over_to_a_waiter() {
    // true: the panicking `make` ran (and its thread saw the panic).
    let reached = Reached::new();
    let seen = reached.clone();
    check(
        "registry/a_panicking_make_hands_over_to_a_waiter",
        None,
        move || {
            let registry = Arc::new(Registry::new());
            let calls = Arc::new(AtomicUsize::new(0));
            let failing = {
                let registry = Arc::clone(&registry);
                thread::spawn(move || {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        registry.get_or_create_with("shared", || {
                            // `resume_unwind` skips the panic hook: no message per execution.
                            std::panic::resume_unwind(Box::new("make failed"))
                        })
                    }))
                })
            };
            let mine = create_counted(&registry, &calls, 7);
            let theirs = failing.join().unwrap();

            assert_eq!(
                calls.load(Ordering::SeqCst),
                1,
                "the surviving make ran once"
            );
            assert_eq!(mine.config().failure_threshold(), 7);
            assert!(Arc::ptr_eq(&mine, &registry.get("shared").unwrap()));
            assert_eq!(registry.len(), 1);
            match theirs {
                Ok(breaker) => {
                    assert!(Arc::ptr_eq(&breaker, &mine));
                    seen.insert(false, &[true, false]);
                }
                Err(_) => seen.insert(true, &[true, false]),
            }
        },
    );
    reached.assert_all(&[true, false]);
}
