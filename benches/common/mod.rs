//! Shared by `breaker.rs`, `peers.rs` and `instructions.rs` (all in benches/):
//! the criterion settings, the contended-timing harness, the two baselines (the atomic
//! floor and a plain `Mutex` breaker) and one adapter per implementation so that every
//! breaker runs exactly the same closure.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long the open state lasts in every `open_reject` fixture: far longer than any run,
/// so the breaker never reaches half-open while it is measured.
pub const LONG: Duration = Duration::from_secs(3600);

/// Consecutive failures that open the breaker, for the implementations that count them.
pub const FAILURES_TO_OPEN: u32 = 5;

/// Short runs so that `cargo bench --bench breaker --bench peers` finishes in a few minutes
/// on a 2-core machine; criterion's usual flags (`--measurement-time`, `--warm-up-time`,
/// `--sample-size`) still override these, because `criterion_group!` applies
/// `configure_from_args` after this.
pub fn criterion_config() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(40)
}

/// Thread counts for the contended groups: 1 and 2 always, 4 on machines with 4 or more
/// hardware threads (4 threads on 2 cores would measure the scheduler, not the breaker).
pub fn thread_counts() -> Vec<usize> {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let mut counts = vec![1, 2];
    if cores >= 4 {
        counts.push(4);
    }
    counts
}

/// Runs `op(shared, i)` for `i in 0..iters` on each of `threads` threads at once and returns
/// the wall time from the moment the first thread started to the moment the last one
/// finished.
///
/// Every thread does `iters` operations (not `iters / threads`), so the figure criterion
/// prints, wall time / `iters`, is the **per-call latency each thread sees while all
/// `threads` threads hammer the same object**; the aggregate throughput is
/// `threads / that figure`. Thread start-up is outside the timed span: the threads wait on
/// a `Barrier` and each reads its own start instant after it.
pub fn contended<S, F>(threads: usize, iters: u64, shared: &S, op: F) -> Duration
where
    S: Sync + ?Sized,
    F: Fn(&S, u64) + Sync,
{
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..iters {
                        op(shared, i);
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("benchmark thread panicked"))
            .collect()
    });
    let first_start = spans
        .iter()
        .map(|s| s.0)
        .min()
        .expect("at least one thread");
    let last_end = spans
        .iter()
        .map(|s| s.1)
        .max()
        .expect("at least one thread");
    last_end - first_start
}

/// One implementation under comparison, built in the state a scenario needs.
pub trait Peer: Sync + Sized {
    /// The name printed in the benchmark id.
    const NAME: &'static str;
    /// The error of the implementation's `call`: a rejection or the operation's own error.
    type Error;
    /// A closed breaker that will stay closed under every scenario's calls (at most one
    /// failure in ten).
    fn closed() -> Self;
    /// An open breaker that rejects every call for [`LONG`]; panics if it does not.
    ///
    /// By default: a closed one, failed until its first rejection (recloser computes a
    /// rate only once its ring is full, so it opens one failure later than the others).
    fn open() -> Self {
        let b = Self::closed();
        for _ in 0..4 * FAILURES_TO_OPEN {
            if !call::<Self>(&b, true) {
                break;
            }
        }
        assert_rejects(&b);
        b
    }
    /// Runs `op` through the implementation's own `call` and returns what that returns.
    ///
    /// Every implementation marks this `#[inline(always)]`: left to itself LLVM inlined the
    /// floor's tiny body into the benchmark loop but called breakerbox's out of line, which
    /// charged one of them a call and a return that the other did not pay. The
    /// `#[inline(never)]` wrappers ([`call_ok_outlined`]) put the boundary back, the same
    /// for every implementation.
    fn protected<F: FnOnce() -> Result<u64, ()>>(&self, op: F) -> Result<u64, Self::Error>;
    /// Whether `e` is a rejection (not the operation's own error).
    fn is_rejected(e: &Self::Error) -> bool;
}

/// The protected operation: fails when `fail`, else succeeds with a value as cheap as an
/// opaque value can be.
#[inline(always)]
fn op(fail: bool) -> Result<u64, ()> {
    if fail {
        Err(())
    } else {
        Ok(black_box(1))
    }
}

/// Whether call `i` of a `closed_mixed` run fails: one in ten. `black_box` so that the
/// compiler cannot unroll the loop by ten and specialise the calls.
#[inline(always)]
pub fn mixed_fails(i: u64) -> bool {
    black_box(i) % 10 == 9
}

/// One call of the operation that fails when `fail`, inlined into the caller; true when it
/// was admitted.
#[inline(always)]
pub fn call<P: Peer>(p: &P, fail: bool) -> bool {
    match p.protected(|| op(fail)) {
        Ok(_) => true,
        Err(e) => !P::is_rejected(&e),
    }
}

/// One call of the succeeding operation through a function the caller cannot inline, as
/// code in another crate calls `call` when the compiler keeps it out of line: the
/// implementation's whole `Result` is returned across the boundary.
#[inline(never)]
pub fn call_ok_outlined<P: Peer>(p: &P) -> Result<u64, P::Error> {
    p.protected(|| op(false))
}

/// [`call_ok_outlined`] for the failing operation.
#[inline(never)]
pub fn call_err_outlined<P: Peer>(p: &P) -> Result<u64, P::Error> {
    p.protected(|| op(true))
}

/// One call of the operation that fails when `fail`, through [`call_ok_outlined`] or
/// [`call_err_outlined`]; true when it was admitted.
#[inline(always)]
pub fn call_outlined<P: Peer>(p: &P, fail: bool) -> bool {
    let r = if fail {
        call_err_outlined(p)
    } else {
        call_ok_outlined(p)
    };
    match r {
        Ok(_) => true,
        Err(e) => !P::is_rejected(&e),
    }
}

/// breakerbox's guard API inlined: `try_acquire`, then `Permit::failure` when `fail`, else
/// `Permit::success`; true when admitted.
#[inline(always)]
pub fn permit(b: &breakerbox::CircuitBreaker, fail: bool) -> bool {
    match b.try_acquire() {
        Ok(permit) => {
            if fail {
                permit.failure();
            } else {
                permit.success();
            }
            true
        }
        Err(_) => false,
    }
}

/// `try_acquire` through a function the caller cannot inline (see [`call_ok_outlined`]):
/// the permit or the rejection is returned across the boundary.
#[inline(never)]
pub fn try_acquire_outlined(
    b: &breakerbox::CircuitBreaker,
) -> Result<breakerbox::Permit<'_>, breakerbox::Rejected> {
    b.try_acquire()
}

/// [`permit`] with `try_acquire` through [`try_acquire_outlined`].
#[inline(always)]
pub fn permit_outlined(b: &breakerbox::CircuitBreaker, fail: bool) -> bool {
    match try_acquire_outlined(b) {
        Ok(permit) => {
            if fail {
                permit.failure();
            } else {
                permit.success();
            }
            true
        }
        Err(_) => false,
    }
}

/// How a benchmark loop reaches `P`: one call, `fail` telling whether the operation fails;
/// true when the call was admitted.
///
/// A trait with an `#[inline(always)]` method rather than a closure or a `fn` item passed
/// as `impl Fn`: LLVM called a `fn` item's `Fn::call` shim out of line from the benchmark
/// loop (20 instructions per call more on breakerbox's closed path), which charged the
/// loop a call boundary that is not the one measured.
pub trait Way<P: Peer> {
    /// The suffix of the benchmark id after the implementation's name.
    const SUFFIX: &'static str;
    fn run(p: &P, fail: bool) -> bool;
}

/// The implementation's `call`, inlined ([`call`]).
pub struct Inlined;
/// The implementation's `call` through an `#[inline(never)]` wrapper ([`call_outlined`]).
pub struct Outlined;
/// breakerbox's `try_acquire` + `Permit::success`/`failure`, inlined ([`permit`]).
pub struct Guard;
/// [`Guard`] with `try_acquire` through an `#[inline(never)]` wrapper ([`permit_outlined`]).
pub struct GuardOutlined;

impl<P: Peer> Way<P> for Inlined {
    const SUFFIX: &'static str = "";
    #[inline(always)]
    fn run(p: &P, fail: bool) -> bool {
        call(p, fail)
    }
}

impl<P: Peer> Way<P> for Outlined {
    const SUFFIX: &'static str = "_outlined";
    #[inline(always)]
    fn run(p: &P, fail: bool) -> bool {
        call_outlined(p, fail)
    }
}

impl Way<breakerbox::CircuitBreaker> for Guard {
    const SUFFIX: &'static str = "_permit";
    #[inline(always)]
    fn run(p: &breakerbox::CircuitBreaker, fail: bool) -> bool {
        permit(p, fail)
    }
}

impl Way<breakerbox::CircuitBreaker> for GuardOutlined {
    const SUFFIX: &'static str = "_permit_outlined";
    #[inline(always)]
    fn run(p: &breakerbox::CircuitBreaker, fail: bool) -> bool {
        permit_outlined(p, fail)
    }
}

/// The benchmark id of `P` reached by `W`: `breakerbox`, `breakerbox_outlined`, ...
pub fn id<P: Peer, W: Way<P>>() -> String {
    format!("{}{}", P::NAME, W::SUFFIX)
}

/// Panics unless `p` rejects its next call: the `open_reject` figures must measure rejection.
fn assert_rejects<P: Peer>(p: &P) {
    assert!(
        !call(p, false),
        "{}: the open fixture admitted a call",
        P::NAME
    );
}

// ---------------------------------------------------------------------------------------
// The floor.

/// The floor: the least any breaker that counts its calls must do per call, one load of a
/// shared state word and one increment of a shared counter, both `Relaxed`, with no
/// ordering, no clock and no state machine. The two atomics share a cache line, as the
/// fields of a small struct do.
#[derive(Debug)]
pub struct Floor {
    state: AtomicU64,
    calls: AtomicU64,
}

const FLOOR_CLOSED: u64 = 0;
const FLOOR_OPEN: u64 = 1;

impl Floor {
    fn with_state(state: u64) -> Self {
        Floor {
            state: AtomicU64::new(state),
            calls: AtomicU64::new(0),
        }
    }

    /// Admits `f` when the state word says closed; counts the call either way.
    #[inline]
    pub fn call<T, E, F: FnOnce() -> Result<T, E>>(&self, f: F) -> Result<T, Option<E>> {
        // Relaxed: the floor is by definition the cheapest read; it orders nothing.
        let closed = self.state.load(Ordering::Relaxed) == FLOOR_CLOSED;
        // Relaxed: a statistics counter; nothing is published through it.
        self.calls.fetch_add(1, Ordering::Relaxed);
        if closed {
            f().map_err(Some)
        } else {
            Err(None)
        }
    }
}

impl Peer for Floor {
    const NAME: &'static str = "floor";
    type Error = Option<()>;
    fn closed() -> Self {
        Floor::with_state(FLOOR_CLOSED)
    }
    fn open() -> Self {
        let f = Floor::with_state(FLOOR_OPEN);
        assert_rejects(&f);
        f
    }
    #[inline(always)]
    fn protected<F: FnOnce() -> Result<u64, ()>>(&self, op: F) -> Result<u64, Option<()>> {
        self.call(op)
    }
    fn is_rejected(e: &Option<()>) -> bool {
        e.is_none()
    }
}

// ---------------------------------------------------------------------------------------
// The breaker a user would write with a Mutex.

/// The circuit breaker a user writes in an afternoon: state and counters behind one
/// `std::sync::Mutex`, locked once to admit and once to record (never across the call),
/// and `Instant::now()` read on the open path to see whether the timeout has passed.
#[derive(Debug)]
pub struct MutexBreaker {
    inner: Mutex<MutexInner>,
    failure_threshold: u32,
    timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MutexState {
    Closed,
    Open,
    HalfOpen { probing: bool },
}

#[derive(Debug)]
struct MutexInner {
    state: MutexState,
    consecutive_failures: u32,
    opened_at: Instant,
    total_calls: u64,
    successful_calls: u64,
    failed_calls: u64,
    rejected_calls: u64,
}

/// The error of [`MutexBreaker::call`].
#[derive(Debug)]
pub enum MutexError<E> {
    /// The breaker did not admit the call.
    Rejected,
    /// The call ran and failed.
    Inner(E),
}

impl MutexBreaker {
    /// A closed breaker.
    pub fn new(failure_threshold: u32, timeout: Duration) -> Self {
        MutexBreaker {
            inner: Mutex::new(MutexInner {
                state: MutexState::Closed,
                consecutive_failures: 0,
                opened_at: Instant::now(),
                total_calls: 0,
                successful_calls: 0,
                failed_calls: 0,
                rejected_calls: 0,
            }),
            failure_threshold,
            timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MutexInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` if admitted; every `Err` counts as a failure.
    pub fn call<T, E, F: FnOnce() -> Result<T, E>>(&self, f: F) -> Result<T, MutexError<E>> {
        {
            let mut g = self.lock();
            g.total_calls += 1;
            match g.state {
                MutexState::Closed => {}
                MutexState::Open => {
                    if g.opened_at.elapsed() >= self.timeout {
                        g.state = MutexState::HalfOpen { probing: true };
                    } else {
                        g.rejected_calls += 1;
                        return Err(MutexError::Rejected);
                    }
                }
                MutexState::HalfOpen { probing: true } => {
                    g.rejected_calls += 1;
                    return Err(MutexError::Rejected);
                }
                MutexState::HalfOpen { probing: false } => {
                    g.state = MutexState::HalfOpen { probing: true };
                }
            }
        }
        let result = f();
        let mut g = self.lock();
        match &result {
            Ok(_) => {
                g.successful_calls += 1;
                g.consecutive_failures = 0;
                if g.state != MutexState::Closed {
                    g.state = MutexState::Closed;
                }
            }
            Err(_) => {
                g.failed_calls += 1;
                g.consecutive_failures += 1;
                let half_open = matches!(g.state, MutexState::HalfOpen { .. });
                if half_open || g.consecutive_failures >= self.failure_threshold {
                    g.state = MutexState::Open;
                    g.opened_at = Instant::now();
                }
            }
        }
        drop(g);
        result.map_err(MutexError::Inner)
    }
}

impl Peer for MutexBreaker {
    const NAME: &'static str = "mutex";
    type Error = MutexError<()>;
    fn closed() -> Self {
        MutexBreaker::new(FAILURES_TO_OPEN, LONG)
    }
    #[inline(always)]
    fn protected<F: FnOnce() -> Result<u64, ()>>(&self, op: F) -> Result<u64, Self::Error> {
        self.call(op)
    }
    fn is_rejected(e: &Self::Error) -> bool {
        matches!(e, MutexError::Rejected)
    }
}

// ---------------------------------------------------------------------------------------
// breakerbox.

impl Peer for breakerbox::CircuitBreaker {
    const NAME: &'static str = "breakerbox";
    type Error = breakerbox::Error<()>;
    fn closed() -> Self {
        breakerbox_with(|b| b.failure_threshold(FAILURES_TO_OPEN))
    }
    fn open() -> Self {
        let b = Self::closed();
        b.force_open();
        assert_rejects(&b);
        b
    }
    #[inline(always)]
    fn protected<F: FnOnce() -> Result<u64, ()>>(&self, op: F) -> Result<u64, Self::Error> {
        self.call(op)
    }
    fn is_rejected(e: &Self::Error) -> bool {
        e.is_rejected()
    }
}

/// A breakerbox fixture: open for [`LONG`] when it opens, with `more` settings on top.
fn breakerbox_with(
    more: impl FnOnce(breakerbox::ConfigBuilder) -> breakerbox::ConfigBuilder,
) -> breakerbox::CircuitBreaker {
    let builder = breakerbox::Config::builder().timeout(LONG);
    let config = more(builder).build().expect("valid config");
    breakerbox::CircuitBreaker::with_config("bench", config)
}

/// A breakerbox setting measured as an implementation of its own ([`Variant`]).
pub trait Setting: Sync {
    /// The implementation's name.
    const NAME: &'static str;
    /// The settings, on top of an open period of [`LONG`].
    fn apply(b: breakerbox::ConfigBuilder) -> breakerbox::ConfigBuilder;
}

/// breakerbox with one more [`Setting`]: same calls, same fixtures, its own name.
#[derive(Debug)]
pub struct Variant<S>(pub breakerbox::CircuitBreaker, std::marker::PhantomData<S>);

impl<S: Setting> Peer for Variant<S> {
    const NAME: &'static str = S::NAME;
    type Error = breakerbox::Error<()>;
    fn closed() -> Self {
        Variant(breakerbox_with(S::apply), std::marker::PhantomData)
    }
    fn open() -> Self {
        let b = Self::closed();
        b.0.force_open();
        assert_rejects(&b);
        b
    }
    #[inline(always)]
    fn protected<F: FnOnce() -> Result<u64, ()>>(&self, op: F) -> Result<u64, Self::Error> {
        self.0.call(op)
    }
    fn is_rejected(e: &Self::Error) -> bool {
        e.is_rejected()
    }
}

/// The coarse clock's interval in the `breakerbox_coarse` fixtures.
pub const COARSE_INTERVAL: Duration = Duration::from_millis(1);

/// The opt-in coarse clock (`ClockPrecision::Coarse`, [`COARSE_INTERVAL`]): a rejection
/// reads the process's coarse time (one atomic load) instead of the TSC. Its fixtures start
/// the process's clock thread, which ticks in the background while measured.
#[derive(Debug)]
pub struct Coarse;

impl Setting for Coarse {
    const NAME: &'static str = "breakerbox_coarse";
    fn apply(b: breakerbox::ConfigBuilder) -> breakerbox::ConfigBuilder {
        b.failure_threshold(FAILURES_TO_OPEN)
            .clock_precision(breakerbox::ClockPrecision::Coarse(COARSE_INTERVAL))
    }
}

/// A count window of the last 100 outcomes, open at 50 % failures once 20 were seen (the
/// rate rule alone: `failure_threshold` is not set, P1).
#[derive(Debug)]
pub struct Calls100;

impl Setting for Calls100 {
    const NAME: &'static str = "breakerbox_calls100";
    fn apply(b: breakerbox::ConfigBuilder) -> breakerbox::ConfigBuilder {
        b.sliding_window(breakerbox::Window::Calls(100))
            .failure_rate_threshold(50.0)
            .minimum_calls(20)
    }
}

/// A time window of 10 s, open at 50 % failures once 20 were seen.
#[derive(Debug)]
pub struct Time10s;

impl Setting for Time10s {
    const NAME: &'static str = "breakerbox_time10s";
    fn apply(b: breakerbox::ConfigBuilder) -> breakerbox::ConfigBuilder {
        b.sliding_window(breakerbox::Window::Time(Duration::from_secs(10)))
            .failure_rate_threshold(50.0)
            .minimum_calls(20)
    }
}

/// [`Time10s`] with the coarse clock ([`COARSE_INTERVAL`]): a success is filed by the coarse
/// reading whenever that fixes its bucket, so it almost never reads the hardware clock.
#[derive(Debug)]
pub struct Time10sCoarse;

impl Setting for Time10sCoarse {
    const NAME: &'static str = "breakerbox_time10s_coarse";
    fn apply(b: breakerbox::ConfigBuilder) -> breakerbox::ConfigBuilder {
        Time10s::apply(b).clock_precision(breakerbox::ClockPrecision::Coarse(COARSE_INTERVAL))
    }
}

/// breakerbox with the coarse clock (the `breakerbox_coarse` rows).
pub type BreakerboxCoarse = Variant<Coarse>;

// ---------------------------------------------------------------------------------------
// failsafe 1.x: `StateMachine` behind a `parking_lot::Mutex`, consecutive-failures policy.

/// failsafe's breaker with the consecutive-failures policy and a constant backoff.
pub type Failsafe = failsafe::StateMachine<
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
    (),
>;

impl Peer for Failsafe {
    const NAME: &'static str = "failsafe";
    type Error = failsafe::Error<()>;
    fn closed() -> Self {
        let policy = failsafe::failure_policy::consecutive_failures(
            FAILURES_TO_OPEN,
            failsafe::backoff::constant(LONG),
        );
        failsafe::Config::new().failure_policy(policy).build()
    }
    #[inline(always)]
    fn protected<F: FnOnce() -> Result<u64, ()>>(&self, op: F) -> Result<u64, Self::Error> {
        failsafe::CircuitBreaker::call(self, op)
    }
    fn is_rejected(e: &Self::Error) -> bool {
        matches!(e, failsafe::Error::Rejected)
    }
}

// ---------------------------------------------------------------------------------------
// recloser 1.x: an epoch-managed state pointer and a spin-locked ring buffer of outcomes.

impl Peer for recloser::Recloser {
    const NAME: &'static str = "recloser";
    type Error = recloser::Error<()>;
    fn closed() -> Self {
        // A ring of the last 5 outcomes that opens at a failure rate of 1.0: "5 consecutive
        // failures", the closest match to the other breakers' policy.
        recloser::Recloser::custom()
            .error_rate(1.0)
            .closed_len(FAILURES_TO_OPEN as usize)
            .open_wait(LONG)
            .build()
    }
    #[inline(always)]
    fn protected<F: FnOnce() -> Result<u64, ()>>(&self, op: F) -> Result<u64, Self::Error> {
        self.call(op)
    }
    fn is_rejected(e: &Self::Error) -> bool {
        matches!(e, recloser::Error::Rejected)
    }
}
