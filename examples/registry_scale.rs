//! A registry of 1,000,000 breakers: how long it takes to build, how much memory each
//! registered breaker costs, and how long a `get` of an existing name takes (O(1): the same
//! at 1,000 and at 1,000,000 breakers, apart from cache misses).
//!
//! Memory is measured two ways: the live heap bytes seen by a counting `#[global_allocator]`
//! wrapped around `System` (exact, allocator bookkeeping excluded), and the resident set
//! size from `/proc/self/statm` (Linux; what the process really holds, allocator slack
//! included). The breaker alone is measured too, so the registry's own share shows.
//!
//! Then the memory table of the README's "Memory at scale": for simulated machines of 2,
//! 16, 64 and 128 CPUs (each in a child process of this example with `BREAKERBOX_CPUS` set,
//! since the crate reads it once per process), the bytes of one breaker
//! (`CircuitBreaker::footprint`) and of one registry entry (live heap per registered
//! breaker), *cold* (never called from two threads: no stripe table) and *hot* (every
//! breaker called by two threads alive at once: the table allocated). Cold is measured on
//! the full count of breakers; hot on a tenth of it (a hot breaker of a 128-CPU table takes
//! about 9.7 KB, so a full hot million would need ~10 GB here), and the per-breaker figure
//! is multiplied up. The "before" column is what the design before issue 13 took for the
//! same breaker: 256 bytes plus `min(CPUs + 1, 32) + 1` stripes of 64 bytes.
//!
//! Run: `cargo run --release --example registry_scale` (a minute or so; pass a number to
//! change the count, e.g. `-- 100000`). `-- 1000000 --memory-only` prints only the table.
//!
//! `unsafe` here is unavoidable: `GlobalAlloc` is an `unsafe` trait, and a counting
//! allocator cannot be written without implementing it. Each block forwards to `System`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::process::Command;

use breakerbox::{CircuitBreaker, Config, Registry};

/// Live heap bytes (allocated minus freed), all threads.
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// `System`, keeping [`LIVE`] up to date.
struct Counting;

// SAFETY: every method forwards its arguments unchanged to `System`, which meets the
// `GlobalAlloc` contract; the only addition is an atomic add, which neither allocates, nor
// unwinds, nor touches the memory being managed.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Relaxed: a statistic, read after the work it measures on the same thread.
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's guarantees for `alloc` are passed on as they are.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // Relaxed: as in `alloc`.
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Relaxed: as in `alloc`.
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: `ptr` and `layout` come from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Relaxed: as in `alloc`.
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` and `layout` come from this allocator, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live_bytes() -> isize {
    // Relaxed: the measured work ran on this thread.
    LIVE.load(Ordering::Relaxed)
}

/// Resident set size in bytes, from `/proc/self/statm` (field 2, in 4 KiB pages); `None`
/// off Linux.
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// The name of breaker `i`, written into `buf` (reused, so naming allocates nothing).
fn name_of(buf: &mut String, i: usize) -> &str {
    buf.clear();
    write!(buf, "service-{i:07}").unwrap();
    buf
}

/// Nanoseconds per `get` over `lookups` existing names visited in a scattered order (a
/// stride coprime with `n`), and of one name looked up again and again.
fn time_gets(registry: &Registry, n: usize, lookups: usize) -> (f64, f64) {
    // Precomputed names, so the timed loop does only the lookups.
    let mut buf = String::new();
    let stride = 7_919; // prime, so coprime with every n used here unless n is a multiple
    let names: Vec<String> = (0..lookups.min(n))
        .map(|k| name_of(&mut buf, (k * stride) % n).to_owned())
        .collect();
    let start = Instant::now();
    for k in 0..lookups {
        let breaker = registry.get(black_box(&names[k % names.len()]));
        black_box(breaker.expect("every name is registered"));
    }
    let scattered = start.elapsed().as_nanos() as f64 / lookups as f64;

    let one = &names[0];
    let start = Instant::now();
    for _ in 0..lookups {
        black_box(registry.get(black_box(one)).expect("registered"));
    }
    let same = start.elapsed().as_nanos() as f64 / lookups as f64;
    (scattered, same)
}

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

/// The simulated CPU counts of the memory table.
const CPUS: [usize; 4] = [2, 16, 64, 128];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, n, hot_n] = args.as_slice() {
        if flag == "--memory-child" {
            let parse = |a: &str| a.parse().expect("a breaker count");
            println!("{}", memory_child(parse(n), parse(hot_n)));
            return;
        }
    }
    let n: usize = args
        .first()
        .map(|a| a.parse().expect("the argument is a breaker count"))
        .unwrap_or(1_000_000);
    if !args.iter().any(|a| a == "--memory-only") {
        lookups(n);
    }
    memory_table(n);
}

/// Registers `n` breakers and reports build time, memory and lookup times.
fn lookups(n: usize) {
    let mut buf = String::with_capacity(32);

    // One breaker on its own, in its `Arc` as the registry holds it, for comparison (its name
    // is as long as the registry's).
    let before = live_bytes();
    let alone = Arc::new(CircuitBreaker::with_config(
        name_of(&mut buf, 0),
        Config::default(),
    ));
    let breaker_bytes = live_bytes() - before;
    drop(alone);

    // Small registry first: `get` should cost about the same at 1k as at n.
    let small = Registry::new();
    for i in 0..1_000 {
        small.get_or_create(name_of(&mut buf, i), Config::default());
    }
    let (small_scattered, small_same) = time_gets(&small, 1_000, 1_000_000);
    drop(small);

    let rss_before = rss_bytes();
    let heap_before = live_bytes();
    let start = Instant::now();
    let registry = Registry::new();
    for i in 0..n {
        registry.get_or_create(name_of(&mut buf, i), Config::default());
    }
    let build = start.elapsed();
    let heap = (live_bytes() - heap_before) as f64;
    let rss = match (rss_before, rss_bytes()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64),
        _ => None,
    };
    assert_eq!(registry.len(), n);

    let (scattered, same) = time_gets(&registry, n, 2_000_000);

    let start = Instant::now();
    let names = registry.names();
    let names_time = start.elapsed();
    assert_eq!(names.len(), n);
    drop(names);

    println!("registry_scale: {n} breakers (Config::default(), names like \"service-0000042\")");
    println!(
        "  build: {:.2?} total, {:.0} ns per get_or_create",
        build,
        build.as_nanos() as f64 / n as f64
    );
    println!(
        "  heap:  {:.1} MiB live, {:.0} bytes per registered breaker \
         (the breaker alone: {breaker_bytes} bytes; registry share: {:.0} bytes)",
        mib(heap),
        heap / n as f64,
        heap / n as f64 - breaker_bytes as f64
    );
    match rss {
        Some(rss) => println!(
            "  RSS:   +{:.1} MiB, {:.0} bytes per registered breaker",
            mib(rss),
            rss / n as f64
        ),
        None => println!("  RSS:   not available (no /proc/self/statm)"),
    }
    println!(
        "  get (existing name, 1 thread): {scattered:.1} ns scattered over {n} names, \
         {same:.1} ns for one name again and again"
    );
    println!(
        "  get at 1,000 breakers:          {small_scattered:.1} ns scattered, \
         {small_same:.1} ns one name"
    );
    println!("  names() (allocates and sorts all {n}): {names_time:.2?}");

    let start = Instant::now();
    drop(registry);
    let teardown: Duration = start.elapsed();
    println!("  drop: {teardown:.2?}");
}

/// Bytes per breaker and per registry entry, cold and hot: one line of numbers, in a child
/// process whose `BREAKERBOX_CPUS` the parent set. Cold over `n` breakers, hot over `hot_n`.
fn memory_child(n: usize, hot_n: usize) -> String {
    let mut buf = String::with_capacity(32);
    let before = live_bytes();
    let registry = Registry::new();
    for i in 0..n {
        registry.get_or_create(name_of(&mut buf, i), Config::default());
    }
    let cold_entry = (live_bytes() - before) as f64 / n as f64;
    let cold_breaker = registry
        .get(name_of(&mut buf, 0))
        .expect("registered")
        .footprint();
    drop(registry);

    let before = live_bytes();
    let registry = Registry::new();
    for i in 0..hot_n {
        registry.get_or_create(name_of(&mut buf, i), Config::default());
    }
    // Two threads, alive at once (so with two different slot ids), each call every breaker:
    // the second to count on a breaker allocates its stripe table.
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (registry, barrier) = (&registry, &barrier);
            s.spawn(move || {
                let mut buf = String::with_capacity(32);
                barrier.wait();
                for i in 0..hot_n {
                    let breaker = registry.get(name_of(&mut buf, i)).expect("registered");
                    breaker.try_acquire().expect("closed").success();
                }
                barrier.wait();
            });
        }
    });
    let hot_entry = (live_bytes() - before) as f64 / hot_n as f64;
    let hot_breaker = registry
        .get(name_of(&mut buf, 0))
        .expect("registered")
        .footprint();
    format!("{cold_breaker} {cold_entry:.0} {hot_breaker} {hot_entry:.0}")
}

/// Runs [`memory_child`] for each simulated CPU count and prints the README's table.
fn memory_table(n: usize) {
    let exe = std::env::current_exe().expect("the example's own path");
    let hot_n = (n / 10).max(1);
    println!();
    println!(
        "Memory at scale: {n} breakers (hot: measured on {hot_n}, per breaker figures \
         multiplied up); heap bytes, Config::default(), names like \"service-0000042\""
    );
    println!();
    println!(
        "| CPUs | breaker, cold | breaker, hot | before issue 13 | registry entry, cold | \
         registry entry, hot | {n} entries, cold | {n} entries, hot |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for cpus in CPUS {
        let out = Command::new(&exe)
            .env("BREAKERBOX_CPUS", cpus.to_string())
            .args(["--memory-child", &n.to_string(), &hot_n.to_string()])
            .output()
            .expect("the child runs");
        assert!(
            out.status.success(),
            "child for {cpus} CPUs failed: {out:?}"
        );
        let line = String::from_utf8(out.stdout).expect("UTF-8");
        let v: Vec<f64> = line
            .split_whitespace()
            .map(|x| x.parse().expect("a number"))
            .collect();
        let [cold_breaker, cold_entry, hot_breaker, hot_entry] = v[..] else {
            panic!("child for {cpus} CPUs printed {line:?}");
        };
        let before = 256 + ((cpus + 1).min(32) + 1) * 64;
        println!(
            "| {cpus} | {cold_breaker:.0} B | {hot_breaker:.0} B | {before} B | \
             {cold_entry:.0} B | {hot_entry:.0} B | {} | {} |",
            size(cold_entry * n as f64),
            size(hot_entry * n as f64),
        );
    }
}

/// `bytes` in MB or GB (powers of ten), for the table.
fn size(bytes: f64) -> String {
    if bytes >= 1e9 {
        format!("{:.2} GB", bytes / 1e9)
    } else {
        format!("{:.0} MB", bytes / 1e6)
    }
}
