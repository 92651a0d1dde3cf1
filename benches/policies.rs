//! Rate policies side by side, in one run: breakerbox's `Window::Calls(100)` and
//! `Window::Time(10 s)` (open at 50 % failures once 20 outcomes were seen; the time window
//! also with `ClockPrecision::Coarse(1 ms)`, `breakerbox_time10s_coarse`) next to the peers
//! configured with their own rate policies, and the floor (`floor`: one shared increment per
//! call, the least an exact count window costs):
//!
//! - `failsafe_rate`: failsafe 1.x `success_rate_over_time_window(0.5, 20, 10 s, ..)`;
//! - `recloser_ring`: recloser 1.x with a ring of the last 100 outcomes, `error_rate(0.5)`;
//! - `tower_calls100` and `tower_time10s`: tower-resilience-circuitbreaker 0.14 with its
//!   count-based window (`sliding_window_size(100)`) and its time-based window
//!   (`sliding_window_duration(10 s)`), `failure_rate_threshold(0.5)`,
//!   `minimum_number_of_calls(20)`, open for an hour. It is a tower `Service` with no
//!   synchronous API for admission or outcomes, so each call is `poll_ready` + `call` + the
//!   returned future polled: once with one thread (it is ready at once), again after the
//!   tokio lock's wake-up when the other thread held it (see [`Tower`]).
//!
//! Groups: `rate_closed_ok` (every call succeeds) and `rate_closed_mixed` (one call in ten
//! fails: 10 %, below every threshold, so all stay closed), each at 1 and 2 threads (the
//! contended harness of `common`: the per-call latency each thread sees); and `clock_read`,
//! one TSC read, the price of the precise clock.
//!
//! Run: `cargo bench -p breakerbox-benches --bench policies`.

use std::cell::RefCell;
use std::future::{Future, Ready};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::Throughput;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};
use tower_resilience_circuitbreaker as trcb;
use tower_service::Service;

// The shared harness; the peers and outlined wrappers this bench does not use stay unused.
#[allow(dead_code)]
mod common;
use common::{Calls100, Inlined, Peer, Time10s, Time10sCoarse, Variant, Way};

/// The rate rule every implementation gets: open at 50 % failures once 20 were seen
/// (breakerbox's: `common::Calls100` / `common::Time10s`).
const RATE: f64 = 50.0;
const MINIMUM: u32 = 20;
const SPAN: Duration = Duration::from_secs(10);
const OPEN_FOR: Duration = Duration::from_secs(3600);

/// breakerbox with a count window of the last 100 outcomes.
type BbCalls = Variant<Calls100>;
/// breakerbox with a time window of the last 10 s.
type BbTime = Variant<Time10s>;
/// The same with the opt-in coarse clock (`ClockPrecision::Coarse(1 ms)`).
type BbTimeCoarse = Variant<Time10sCoarse>;

/// failsafe with its success-rate-over-a-time-window policy.
struct FailsafeRate(
    failsafe::StateMachine<
        failsafe::failure_policy::SuccessRateOverTimeWindow<failsafe::backoff::Constant>,
        (),
    >,
);

impl Peer for FailsafeRate {
    const NAME: &'static str = "failsafe_rate";
    type Error = failsafe::Error<()>;
    fn closed() -> Self {
        let policy = failsafe::failure_policy::success_rate_over_time_window(
            1.0 - RATE / 100.0,
            MINIMUM,
            SPAN,
            failsafe::backoff::constant(OPEN_FOR),
        );
        FailsafeRate(failsafe::Config::new().failure_policy(policy).build())
    }
    #[inline(always)]
    fn protected<F: FnOnce() -> Result<u64, ()>>(&self, op: F) -> Result<u64, Self::Error> {
        failsafe::CircuitBreaker::call(&self.0, op)
    }
    fn is_rejected(e: &Self::Error) -> bool {
        matches!(e, failsafe::Error::Rejected)
    }
}

/// recloser with a ring of the last 100 outcomes.
struct RecloserRing(recloser::Recloser);

impl Peer for RecloserRing {
    const NAME: &'static str = "recloser_ring100";
    type Error = recloser::Error<()>;
    fn closed() -> Self {
        RecloserRing(
            recloser::Recloser::custom()
                .error_rate(0.5)
                .closed_len(100)
                .open_wait(OPEN_FOR)
                .build(),
        )
    }
    #[inline(always)]
    fn protected<F: FnOnce() -> Result<u64, ()>>(&self, op: F) -> Result<u64, Self::Error> {
        self.0.call(op)
    }
    fn is_rejected(e: &Self::Error) -> bool {
        matches!(e, recloser::Error::Rejected)
    }
}

// ---------------------------------------------------------------------------------------
// tower-resilience-circuitbreaker 0.14: a tower `Layer`/`Service`.

/// The inner service a tower user puts behind the breaker, here the protected operation:
/// it answers with the outcome it is handed as its request, in a future that is ready at
/// once (`std::future::Ready`, no allocation).
#[derive(Clone, Copy)]
struct Echo;

impl Service<Result<u64, ()>> for Echo {
    type Response = u64;
    type Error = ();
    type Future = Ready<Result<u64, ()>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, outcome: Result<u64, ()>) -> Self::Future {
        std::future::ready(outcome)
    }
}

/// The breaker service around [`Echo`]; its `Future` is a `BoxFuture`.
type TowerService = trcb::CircuitBreaker<Echo, trcb::DefaultClassifier>;

/// One tower-resilience breaker: the layer every thread makes its own service from (all of
/// them share one circuit: `build_with_handle`), and the handle that reads the circuit.
///
/// How a call is driven, the cheapest faithful way. The crate has no synchronous API to ask
/// for admission or record an outcome (`Circuit` and its `try_acquire` / `record_*` are
/// private; the handle only reads the state and forces it), so a call is what a tower user
/// pays: `poll_ready` (closed: one `Acquire` load, then `Echo`'s readiness), `call` (two
/// `Arc` clones and one boxed `async` block) and the future polled until ready (see
/// [`drive`]). That future locks the circuit's `tokio::sync::Mutex` to admit, reads
/// `Instant::now()` around the inner call, and locks it again to record; admitting and
/// recording each build an event (a clone of the breaker's name `String`, one more
/// `Instant::now()`) even with no listener. With one thread the lock is always free and the
/// future is ready at its first poll ([`Tower::check`] asserts it), so the executor is one
/// poll. With two threads the other thread can hold the lock: the future is `Pending`,
/// queued on tokio's semaphore, which hands the lock over on release and wakes the waker.
/// The executor then waits for that wake-up (spinning on a flag, yielding the core after a
/// while) and polls again, as any executor does; it never parks, so the peer is not charged
/// for a real executor's sleep and wake-up.
///
/// Two differences from the other implementations' harness, both against this peer by at
/// most a few ns: tower services are `&mut self`, so each thread keeps its own clone of the
/// service in a thread-local (as each task of a server owns a clone), reached through a
/// `RefCell` on every call and made on the thread's first call (inside the timed span, once
/// per thread and sample); and the operation runs before the breaker admits it, its outcome
/// passed in as the request (a tower request must be `'static` and `Send`, and the
/// harness's closure borrows). The scenarios keep the breaker closed, so every call is
/// admitted and the same work is done.
struct Tower {
    /// Tells this breaker's service apart from another's in a thread's slot.
    id: u64,
    layer: trcb::CircuitBreakerLayer,
    handle: trcb::CircuitBreakerHandle,
}

static NEXT_TOWER_ID: AtomicU64 = AtomicU64::new(0);
/// Calls whose future was `Pending` at its first poll since the last [`Tower::check`].
/// Touched only when `Pending`.
static PENDING: AtomicU64 = AtomicU64::new(0);

/// A thread's service and its executor's waker.
struct Slot {
    /// The [`Tower::id`] this service was made for.
    id: u64,
    service: TowerService,
    woken: Arc<Woken>,
    waker: Waker,
}

thread_local! {
    static SERVICE: RefCell<Option<Slot>> = const { RefCell::new(None) };
}

/// The executor's waker: a flag, set when tokio's semaphore hands the lock to the waiting
/// future.
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        // Release: pairs with the waiting thread's Acquire load (tokio's own lock orders the
        // hand-off of the circuit; this only ends the wait).
        self.0.store(true, Ordering::Release);
    }
}

impl Tower {
    fn new(
        name: &str,
        window: impl FnOnce(trcb::CircuitBreakerConfigBuilder) -> trcb::CircuitBreakerConfigBuilder,
    ) -> Self {
        let builder = trcb::CircuitBreakerLayer::builder()
            .name(name)
            .failure_rate_threshold(RATE / 100.0)
            .minimum_number_of_calls(MINIMUM as usize)
            .wait_duration_in_open(OPEN_FOR);
        let (layer, handle) = window(builder).build_with_handle().expect("valid");
        Tower {
            id: NEXT_TOWER_ID.fetch_add(1, Ordering::Relaxed),
            layer,
            handle,
        }
    }

    #[inline(always)]
    fn call<F: FnOnce() -> Result<u64, ()>>(
        &self,
        op: F,
    ) -> Result<u64, trcb::CircuitBreakerError<()>> {
        let outcome = op();
        SERVICE.with(|slot| {
            let mut slot = slot.borrow_mut();
            if !matches!(&*slot, Some(s) if s.id == self.id) {
                let woken = Arc::new(Woken(AtomicBool::new(false)));
                *slot = Some(Slot {
                    id: self.id,
                    service: self.layer.layer_fn(Echo),
                    waker: Waker::from(Arc::clone(&woken)),
                    woken,
                });
            }
            let Some(slot) = &mut *slot else {
                unreachable!("the slot was just filled")
            };
            drive(slot, outcome)
        })
    }

    /// After each thread count's run: prints what the circuit holds and, unless the bench
    /// was filtered out, checks that the calls were recorded with the scenario's outcomes
    /// and, for one thread, that no call's future waited.
    fn check(&self, id: &str, threads: usize, fails: fn(u64) -> bool) {
        let metrics = poll_now(self.handle.metrics());
        let pending = PENDING.swap(0, Ordering::Relaxed);
        eprintln!(
            "{id}/{threads}: the window holds {} outcomes, {} failures ({:.1} %); {pending} \
             futures were Pending at their first poll",
            metrics.total_calls,
            metrics.failure_count,
            100.0 * metrics.failure_rate,
        );
        assert_eq!(metrics.state, trcb::CircuitState::Closed, "{id}: opened");
        if metrics.total_calls < MINIMUM as usize {
            // Filtered out, or criterion's `--test`: nothing was measured.
            return;
        }
        assert_eq!(
            metrics.failure_count > 0,
            (0..10).any(fails),
            "{id}: the failures recorded do not match the scenario"
        );
        if threads == 1 {
            assert_eq!(
                pending, 0,
                "{id}: a 1-thread call's future was not ready at once"
            );
        }
    }
}

/// One call through a tower service: `poll_ready`, `call`, the future polled until ready.
/// When it is `Pending` (two threads, the circuit's lock held by the other), waits for the
/// wake-up before polling again: polling a queued tokio lock without one takes the lock's
/// wait-queue mutex each time, against the thread that is releasing it.
#[inline(always)]
fn drive(slot: &mut Slot, outcome: Result<u64, ()>) -> Result<u64, trcb::CircuitBreakerError<()>> {
    let mut cx = Context::from_waker(&slot.waker);
    // Closed: one atomic load, then `Echo`'s readiness. (Open, it is ready too: the rejection
    // is then the future's output.)
    assert!(
        matches!(slot.service.poll_ready(&mut cx), Poll::Ready(Ok(()))),
        "tower-resilience: poll_ready was not ready"
    );
    let mut future = slot.service.call(outcome);
    let mut waited = false;
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(result) => return result,
            Poll::Pending => {
                if !waited {
                    waited = true;
                    // Relaxed: a statistic read after the threads were joined.
                    PENDING.fetch_add(1, Ordering::Relaxed);
                }
                let mut spins = 0u32;
                // Acquire: pairs with `Woken::wake_by_ref`.
                while !slot.woken.0.load(Ordering::Acquire) {
                    if spins < 128 {
                        spins += 1;
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
                // Relaxed: no other wake-up comes before the next poll registers again.
                slot.woken.0.store(false, Ordering::Relaxed);
            }
        }
    }
}

/// The output of a future that must be ready at its first poll (an uncontended tokio lock).
fn poll_now<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("tower-resilience: an uncontended lock was not ready"),
    }
}

/// tower-resilience with its count-based window: `sliding_window_size(100)`. Its counts are
/// totals since the last transition, not a ring: the window's size only delays the first
/// evaluation until 100 outcomes were seen.
struct TowerCalls(Tower);

impl Peer for TowerCalls {
    const NAME: &'static str = "tower_calls100";
    type Error = trcb::CircuitBreakerError<()>;
    fn closed() -> Self {
        TowerCalls(Tower::new("calls", |b| {
            b.sliding_window_type(trcb::SlidingWindowType::CountBased)
                .sliding_window_size(100)
        }))
    }
    #[inline(always)]
    fn protected<F: FnOnce() -> Result<u64, ()>>(&self, op: F) -> Result<u64, Self::Error> {
        self.0.call(op)
    }
    fn is_rejected(e: &Self::Error) -> bool {
        e.is_circuit_open()
    }
}

/// tower-resilience with its time-based window: `sliding_window_duration(10 s)`. It keeps
/// one record per outcome of the last 10 s in a `VecDeque` and counts them all on every
/// outcome, so a call costs in proportion to the calls of the last 10 s: its figure depends
/// on the call rate and on how long the breaker has been called (the line printed after
/// each run gives the window's size).
struct TowerTime(Tower);

impl Peer for TowerTime {
    const NAME: &'static str = "tower_time10s";
    type Error = trcb::CircuitBreakerError<()>;
    fn closed() -> Self {
        TowerTime(Tower::new("time", |b| {
            b.sliding_window_type(trcb::SlidingWindowType::TimeBased)
                .sliding_window_duration(SPAN)
        }))
    }
    #[inline(always)]
    fn protected<F: FnOnce() -> Result<u64, ()>>(&self, op: F) -> Result<u64, Self::Error> {
        self.0.call(op)
    }
    fn is_rejected(e: &Self::Error) -> bool {
        e.is_circuit_open()
    }
}

/// Benchmarks `P` as `<name>/<threads>` with call `i` failing when `fails(i)`; checks
/// afterwards that the breaker is still closed (10 % failures never reach 50 %). `after` runs
/// after each thread count's run, outside the timing.
fn bench<P: Peer>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    fails: fn(u64) -> bool,
    after: impl Fn(&P, usize),
) {
    let breaker = P::closed();
    let id = common::id::<P, Inlined>();
    for threads in common::thread_counts().into_iter().filter(|&t| t <= 2) {
        let bench_id = BenchmarkId::new(&id, threads);
        if threads == 1 {
            g.bench_function(bench_id, |b| {
                let mut i = 0u64;
                b.iter(|| {
                    i = i.wrapping_add(1);
                    black_box(Inlined::run(&breaker, fails(i)))
                })
            });
        } else {
            g.bench_function(bench_id, |b| {
                b.iter_custom(|iters| {
                    common::contended(threads, iters, &breaker, |p, i| {
                        black_box(Inlined::run(p, fails(i)));
                    })
                })
            });
        }
        after(&breaker, threads);
    }
    assert!(common::call(&breaker, false), "{id}: opened while measured");
}

fn group(c: &mut Criterion, name: &str, fails: fn(u64) -> bool) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1));
    bench::<BbCalls>(&mut g, fails, |_, _| {});
    bench::<BbTime>(&mut g, fails, |_, _| {});
    bench::<BbTimeCoarse>(&mut g, fails, |_, _| {});
    bench::<FailsafeRate>(&mut g, fails, |_, _| {});
    bench::<RecloserRing>(&mut g, fails, |_, _| {});
    // One shared read-modify-write per call and nothing else: the least an exact count
    // window can cost (issue 9), in the same run as the rest.
    bench::<common::Floor>(&mut g, fails, |_, _| {});
    bench::<TowerCalls>(&mut g, fails, |t, threads| {
        t.0.check(&format!("{name}/{}", TowerCalls::NAME), threads, fails)
    });
    bench::<TowerTime>(&mut g, fails, |t, threads| {
        t.0.check(&format!("{name}/{}", TowerTime::NAME), threads, fails)
    });
    g.finish();
}

fn rate_closed_ok(c: &mut Criterion) {
    group(c, "rate_closed_ok", |_| false);
}

fn rate_closed_mixed(c: &mut Criterion) {
    group(c, "rate_closed_mixed", common::mixed_fails);
}

/// What one TSC read costs here (`quanta::Clock::raw`, the `rdtsc` behind every precise
/// clock read): the price a `Window::Time` outcome pays on the precise clock.
fn clock_read(c: &mut Criterion) {
    let mut g = c.benchmark_group("clock_read");
    let clock = breakerbox::quanta::Clock::new();
    g.bench_function("quanta_raw", |b| b.iter(|| black_box(clock.raw())));
    g.finish();
}

criterion_group! {
    name = policies;
    config = common::criterion_config();
    targets = rate_closed_ok, rate_closed_mixed, clock_read
}
criterion_main!(policies);
