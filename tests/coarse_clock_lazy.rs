//! The coarse clock's thread starts with the first coarse breaker and never before; then
//! one thread serves every coarse breaker, at the smallest interval asked for.
//!
//! One test in a process of its own: any other test in the same binary could start the
//! thread first.

use std::time::Duration;

use breakerbox::{coarse_clock_interval, CircuitBreaker, ClockPrecision, Config, Registry};

fn coarse(ms: u64) -> Config {
    Config::builder()
        .clock_precision(ClockPrecision::Coarse(Duration::from_millis(ms)))
        .build()
        .expect("valid")
}

/// Threads of this process named `breakerbox-tick` (Linux; `None` elsewhere).
fn tick_threads() -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let named = tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == "breakerbox-tick")
        .count();
    Some(named)
}

/// Whether `tick_threads` reaches `n` within 10 s (the thread names itself once it runs,
/// a moment after `spawn` returns); true where threads cannot be listed.
fn tick_threads_reach(n: usize) -> bool {
    let start = std::time::Instant::now();
    loop {
        match tick_threads() {
            None => return true,
            Some(k) if k == n => return true,
            Some(k) if k > n || start.elapsed() > Duration::from_secs(10) => return false,
            Some(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

#[test]
fn only_coarse_breakers_start_the_one_clock_thread() {
    // Every way to build a precise breaker: no thread.
    let _new = CircuitBreaker::new("new");
    let _config = CircuitBreaker::with_config("config", Config::default());
    let (clock, _mock) = breakerbox::quanta::Clock::mock();
    let _mocked = CircuitBreaker::with_clock("mocked", Config::default(), clock.clone());
    // `with_clock` reads the clock it is given: a coarse config starts nothing there.
    let _mocked_coarse = CircuitBreaker::with_clock("mocked_coarse", coarse(1), clock);
    let registry = Registry::new();
    let _registered = registry.get_or_create("registered", Config::default());
    assert_eq!(coarse_clock_interval(), None);
    assert!(breakerbox::coarse_clock().is_none());
    assert!(matches!(tick_threads(), None | Some(0)));

    let _first = CircuitBreaker::with_config("first", coarse(20));
    let Some(interval) = coarse_clock_interval() else {
        return; // No thread could be spawned: the breaker fell back to precise reads.
    };
    assert_eq!(interval, Duration::from_millis(20));
    assert!(tick_threads_reach(1));

    // A shorter request shortens it; a longer one leaves it; still one thread.
    let _second = registry.get_or_create("second", coarse(5));
    assert_eq!(coarse_clock_interval(), Some(Duration::from_millis(5)));
    let _third = CircuitBreaker::with_config("third", coarse(50));
    assert_eq!(coarse_clock_interval(), Some(Duration::from_millis(5)));
    drop((_first, _second, _third));
    assert_eq!(coarse_clock_interval(), Some(Duration::from_millis(5)));
    assert_eq!(tick_threads().unwrap_or(1), 1);
}
