//! The hot paths never touch the heap.
//!
//! A counting global allocator wraps `System` and counts, per thread, every allocation,
//! reallocation and deallocation. Each test warms the operation up once on its own thread
//! (so that any one-time, per-thread or lazily created state is in place, e.g. the
//! counter-stripe id a thread claims on its first call) and then asserts that many more of
//! the same operations cause no allocator call at all. Counting per thread keeps the tests
//! independent when the harness runs them in parallel.
//!
//! The warm-up is a precaution, not a need today: claiming the stripe id touches only
//! `const`-initialised thread-locals, and `first_calls_on_a_fresh_thread` checks that even
//! the very first operations of a new thread stay off the heap.
//!
//! `counter_sees_a_string_allocation` shows that the counter is live: a `String` built in
//! a hot path would make these tests fail.
//!
//! `unsafe` here is unavoidable: `GlobalAlloc` is an `unsafe` trait, and a counting
//! allocator cannot be written without implementing it. Each block forwards to `System`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, Outcome, State};

/// Allocator calls made by the current thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    allocs: u64,
    deallocs: u64,
}

thread_local! {
    // `const` initialisation of a `Cell<Counts>`: no lazy initialiser and no destructor,
    // so touching it from inside the allocator can never allocate or recurse.
    static COUNTS: Cell<Counts> = const { Cell::new(Counts { allocs: 0, deallocs: 0 }) };
}

fn bump(f: fn(&mut Counts)) {
    // `try_with`: during thread teardown the slot may be gone; those calls are not ours.
    let _ = COUNTS.try_with(|c| {
        let mut counts = c.get();
        f(&mut counts);
        c.set(counts);
    });
}

/// `System`, counting each call per thread.
struct Counting;

// SAFETY: every method forwards its arguments unchanged to `System`, which meets the
// `GlobalAlloc` contract; the only addition is updating a thread-local `Cell`, which
// neither allocates, nor unwinds, nor touches the memory being managed.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump(|c| c.allocs += 1);
        // SAFETY: the caller's guarantees for `alloc` are passed on as they are.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump(|c| c.allocs += 1);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump(|c| c.allocs += 1);
        // SAFETY: `ptr` and `layout` come from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        bump(|c| c.deallocs += 1);
        // SAFETY: `ptr` and `layout` come from this allocator, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// How many times each operation runs after its warm-up; below `Config::MAX_THRESHOLD`, so
/// that `ROUNDS + 1` consecutive failures do not open a [`never_opens`] breaker.
const ROUNDS: u64 = 500;

/// Runs `f` once to warm up, then `ROUNDS` times; returns the allocator calls of the
/// measured rounds (this thread only).
fn allocator_calls(mut f: impl FnMut()) -> Counts {
    f();
    let before = COUNTS.with(Cell::get);
    for _ in 0..ROUNDS {
        f();
    }
    let after = COUNTS.with(Cell::get);
    Counts {
        allocs: after.allocs - before.allocs,
        deallocs: after.deallocs - before.deallocs,
    }
}

fn assert_no_heap(what: &str, f: impl FnMut()) {
    let counts = allocator_calls(f);
    assert_eq!(counts, Counts::default(), "{what} used the heap");
}

/// A closed breaker that no sequence of these tests can open.
fn never_opens() -> CircuitBreaker {
    let config = Config::builder()
        .failure_threshold(Config::MAX_THRESHOLD)
        .build()
        .unwrap();
    CircuitBreaker::with_config("alloc", config)
}

#[test]
fn counter_sees_a_string_allocation() {
    let counts = allocator_calls(|| {
        black_box(String::from(black_box("hot path")));
    });
    assert_eq!(counts.allocs, ROUNDS);
    assert_eq!(counts.deallocs, ROUNDS);
}

#[test]
fn call_success_on_closed_breaker() {
    let cb = never_opens();
    let mut admitted = 0u64;
    assert_no_heap("call (success, closed)", || {
        admitted += u64::from(cb.call(|| Ok::<u64, ()>(black_box(7))).is_ok());
    });
    assert_eq!(admitted, ROUNDS + 1);
    assert_eq!(cb.metrics().successful_calls, ROUNDS + 1);
}

#[test]
fn call_failure_on_closed_breaker() {
    let cb = never_opens();
    let mut failed = 0u64;
    assert_no_heap("call (failure, closed)", || {
        let r = cb.call(|| Err::<(), u32>(black_box(7)));
        failed += u64::from(matches!(r, Err(breakerbox::Error::Inner(7))));
    });
    assert_eq!(failed, ROUNDS + 1);
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn try_acquire_then_success() {
    let cb = never_opens();
    assert_no_heap("try_acquire + success", || {
        cb.try_acquire().expect("closed").success();
    });
    assert_eq!(cb.metrics().successful_calls, ROUNDS + 1);
}

#[test]
fn try_acquire_then_failure() {
    let cb = never_opens();
    assert_no_heap("try_acquire + failure", || {
        cb.try_acquire().expect("closed").failure();
    });
    assert_eq!(cb.metrics().failed_calls, ROUNDS + 1);
}

#[test]
fn try_acquire_then_drop() {
    let cb = never_opens();
    assert_no_heap("try_acquire + drop", || {
        drop(cb.try_acquire().expect("closed"));
    });
    assert_eq!(cb.metrics().ignored_calls, ROUNDS + 1);
}

#[test]
fn queries() {
    let cb = never_opens();
    let mut available = 0u64;
    assert_no_heap("is_available", || {
        available += u64::from(black_box(cb.is_available()));
    });
    assert_eq!(available, ROUNDS + 1);
    let mut closed = 0u64;
    assert_no_heap("state", || {
        closed += u64::from(black_box(cb.state()) == State::Closed);
    });
    assert_eq!(closed, ROUNDS + 1);
}

#[test]
fn metrics_read() {
    let cb = never_opens();
    cb.call(|| Err::<(), ()>(())).unwrap_err();
    assert_no_heap("metrics", || {
        black_box(cb.metrics());
    });
}

#[test]
fn rejection_by_open_breaker() {
    let config = Config::builder()
        .timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    let cb = CircuitBreaker::with_config("alloc", config);
    cb.force_open();
    let mut rejected = 0u64;
    assert_no_heap("call rejected (open)", || {
        let r = cb.call(|| Ok::<(), ()>(()));
        rejected += u64::from(matches!(r, Err(e) if e.is_rejected()));
    });
    assert_eq!(rejected, ROUNDS + 1);
    let mut refused = 0u64;
    assert_no_heap("try_acquire rejected (open)", || {
        refused += u64::from(cb.try_acquire().is_err());
    });
    assert_eq!(refused, ROUNDS + 1);
}

#[test]
fn half_open_probe_and_rejection() {
    let config = Config::builder()
        .timeout(Duration::from_secs(1))
        .success_threshold(Config::MAX_THRESHOLD)
        .half_open_max_calls(1)
        .build()
        .unwrap();
    let (clock, mock) = breakerbox::quanta::Clock::mock();
    let cb = CircuitBreaker::with_clock("alloc", config, clock);
    cb.force_open();
    mock.increment(Duration::from_secs(2));
    let mut cycles = 0u64;
    assert_no_heap("half-open probe + rejected second + ignored", || {
        let probe = cb.try_acquire().expect("probe admitted");
        let second = cb.try_acquire();
        cycles += u64::from(matches!(second, Err(ref r) if r.state() == State::HalfOpen));
        drop(second);
        probe.record_outcome(Outcome::Ignored);
    });
    assert_eq!(cycles, ROUNDS + 1);
    assert_eq!(cb.state(), State::HalfOpen);
}

#[test]
fn first_calls_on_a_fresh_thread() {
    let closed = never_opens();
    let open = CircuitBreaker::with_config(
        "alloc",
        Config::builder()
            .timeout(Duration::from_secs(3600))
            .build()
            .unwrap(),
    );
    open.force_open();
    let (counts, admitted, rejected) = std::thread::scope(|s| {
        s.spawn(|| {
            let before = COUNTS.with(Cell::get);
            let admitted = closed.call(|| Ok::<u32, ()>(black_box(1))).is_ok()
                && closed.try_acquire().map(|p| p.success()).is_ok()
                && closed.is_available();
            let rejected = open.call(|| Ok::<u32, ()>(1)).is_err() && open.try_acquire().is_err();
            let after = COUNTS.with(Cell::get);
            let counts = Counts {
                allocs: after.allocs - before.allocs,
                deallocs: after.deallocs - before.deallocs,
            };
            (counts, admitted, rejected)
        })
        .join()
        .unwrap()
    });
    assert!(admitted && rejected);
    assert_eq!(
        counts,
        Counts::default(),
        "a thread's first calls used the heap"
    );
}
