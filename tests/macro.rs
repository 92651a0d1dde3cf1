//! Runtime behaviour of `#[breakerbox::circuit_breaker]`, through the global registry.
//!
//! Every test uses breaker names of its own: the tests of this binary share
//! `Registry::global()` and run in parallel.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use breakerbox::{
    circuit_breaker, Backoff, CircuitBreaker, Config, Error, Registry, State, Window,
};
use futures::executor::block_on;

/// The breaker the macro created (or found) under `name`.
fn breaker(name: &str) -> std::sync::Arc<CircuitBreaker> {
    Registry::global()
        .get(name)
        .unwrap_or_else(|| panic!("no breaker named {name:?} in the global registry"))
}

#[derive(Debug, PartialEq, Eq)]
struct Down;

static OPENS_RUNS: AtomicUsize = AtomicUsize::new(0);

#[circuit_breaker("macro::opens", failure_threshold = 3)]
fn always_down() -> Result<u32, Down> {
    // Relaxed: a plain counter, read after the calls on the same thread.
    OPENS_RUNS.fetch_add(1, Ordering::Relaxed);
    Err(Down)
}

#[test]
fn failures_open_the_named_breaker_and_later_calls_skip_the_body() {
    for i in 1..=3 {
        assert!(
            matches!(always_down(), Err(Error::Inner(Down))),
            "call {i} runs the body"
        );
    }
    assert_eq!(OPENS_RUNS.load(Ordering::Relaxed), 3);
    let b = breaker("macro::opens");
    assert_eq!(b.state(), State::Open);

    match always_down() {
        Err(Error::Rejected(r)) => {
            assert_eq!(r.name(), "macro::opens");
            assert_eq!(r.state(), State::Open);
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    // The rejected call did not run the body.
    assert_eq!(OPENS_RUNS.load(Ordering::Relaxed), 3);
    let m = b.metrics();
    assert_eq!((m.failed_calls, m.rejected_calls, m.total_calls), (3, 1, 4));

    // After a reset the same function runs its body again.
    b.reset();
    assert!(matches!(always_down(), Err(Error::Inner(Down))));
    assert_eq!(OPENS_RUNS.load(Ordering::Relaxed), 4);
}

#[circuit_breaker(
    "macro::settings",
    failure_threshold = 7,
    success_threshold = 4,
    half_open_max_calls = 2,
    timeout_ms = 1500,
    half_open_timeout_secs = 45
)]
fn with_every_setting() -> Result<(), Down> {
    Ok(())
}

#[circuit_breaker(
    "macro::settings_secs_ms",
    timeout_secs = 90,
    half_open_timeout_ms = 250
)]
fn with_other_units() -> Result<(), Down> {
    Ok(())
}

#[circuit_breaker("macro::defaults")]
fn with_no_setting() -> Result<(), Down> {
    Ok(())
}

#[test]
fn settings_become_the_breakers_config() {
    assert!(Registry::global().get("macro::settings").is_none());
    with_every_setting().unwrap();
    let b = breaker("macro::settings");
    let c = b.config();
    assert_eq!(c.failure_threshold(), 7);
    assert_eq!(c.success_threshold(), 4);
    assert_eq!(c.half_open_max_calls(), 2);
    assert_eq!(c.timeout(), Duration::from_millis(1500));
    assert_eq!(c.half_open_timeout(), Duration::from_secs(45));

    with_other_units().unwrap();
    let c = breaker("macro::settings_secs_ms").config().clone();
    assert_eq!(c.timeout(), Duration::from_secs(90));
    assert_eq!(c.half_open_timeout(), Duration::from_millis(250));
    // Settings left out keep their defaults.
    let d = Config::default();
    assert_eq!(c.failure_threshold(), d.failure_threshold());
    assert_eq!(c.success_threshold(), d.success_threshold());

    with_no_setting().unwrap();
    let c = breaker("macro::defaults").config().clone();
    assert_eq!(c.failure_threshold(), d.failure_threshold());
    assert_eq!(c.success_threshold(), d.success_threshold());
    assert_eq!(c.half_open_max_calls(), d.half_open_max_calls());
    assert_eq!(c.timeout(), d.timeout());
    assert_eq!(c.half_open_timeout(), d.half_open_timeout());
}

#[circuit_breaker("macro::shared", failure_threshold = 2)]
fn shared_a(fail: bool) -> Result<&'static str, Down> {
    if fail {
        Err(Down)
    } else {
        Ok("a")
    }
}

// Same name, other settings: the breaker already exists when this runs, so they are unused.
#[circuit_breaker("macro::shared", failure_threshold = 50)]
fn shared_b() -> Result<&'static str, Down> {
    Ok("b")
}

#[test]
fn functions_with_the_same_name_share_one_breaker() {
    assert_eq!(shared_a(false).unwrap(), "a");
    assert_eq!(shared_b().unwrap(), "b");
    assert!(shared_a(true).is_err());
    assert!(shared_a(true).is_err());
    // `shared_a`'s failures opened the breaker `shared_b` runs through.
    assert!(matches!(shared_b(), Err(Error::Rejected(_))));
    let b = breaker("macro::shared");
    assert_eq!(b.config().failure_threshold(), 2);
    assert_eq!(b.metrics().successful_calls, 2);
}

#[derive(Debug, PartialEq, Eq)]
enum AppError {
    Parse(std::num::ParseIntError),
    Negative,
}

impl From<std::num::ParseIntError> for AppError {
    fn from(e: std::num::ParseIntError) -> Self {
        AppError::Parse(e)
    }
}

/// Parses a count. `?` converts the parse error; `return` leaves early.
#[circuit_breaker("macro::question_mark", failure_threshold = 100)]
fn parse_count(s: &str) -> Result<u32, AppError> {
    if s.is_empty() {
        return Ok(0);
    }
    let n: i64 = s.trim().parse()?;
    if n < 0 {
        return Err(AppError::Negative);
    }
    Ok(n as u32 * 2)
}

#[test]
fn question_mark_and_early_return_leave_the_original_body() {
    assert_eq!(parse_count("21").unwrap(), 42);
    assert_eq!(parse_count("").unwrap(), 0);
    match parse_count("x") {
        Err(Error::Inner(AppError::Parse(_))) => {}
        other => panic!("expected the converted parse error, got {other:?}"),
    }
    assert!(matches!(
        parse_count("-3"),
        Err(Error::Inner(AppError::Negative))
    ));
    // Early `return Ok` is a success, early `return Err` and `?` are failures.
    let m = breaker("macro::question_mark").metrics();
    assert_eq!((m.successful_calls, m.failed_calls), (2, 2));
}

static ASYNC_RUNS: AtomicUsize = AtomicUsize::new(0);

async fn fetch(ok: bool) -> Result<u32, Down> {
    if ok {
        Ok(5)
    } else {
        Err(Down)
    }
}

#[circuit_breaker("macro::async", failure_threshold = 2)]
async fn remote(ok: bool) -> Result<u32, Down> {
    // Relaxed: a plain counter, read after `block_on` returns on the same thread.
    ASYNC_RUNS.fetch_add(1, Ordering::Relaxed);
    let v = fetch(ok).await?;
    if v > 100 {
        return Ok(100);
    }
    Ok(v * 10)
}

#[test]
fn async_fn_goes_through_the_breaker() {
    assert_eq!(block_on(remote(true)).unwrap(), 50);
    let not_polled = remote(false);
    // Admission happens when the future is first polled: nothing recorded yet.
    assert_eq!(breaker("macro::async").metrics().total_calls, 1);
    assert!(matches!(block_on(not_polled), Err(Error::Inner(Down))));
    assert!(matches!(block_on(remote(false)), Err(Error::Inner(Down))));
    assert_eq!(breaker("macro::async").state(), State::Open);
    assert_eq!(ASYNC_RUNS.load(Ordering::Relaxed), 3);

    assert!(matches!(block_on(remote(true)), Err(Error::Rejected(_))));
    assert_eq!(
        ASYNC_RUNS.load(Ordering::Relaxed),
        3,
        "rejected: body not run"
    );
    let m = breaker("macro::async").metrics();
    assert_eq!(
        (m.successful_calls, m.failed_calls, m.rejected_calls),
        (1, 2, 1)
    );
}

#[test]
fn async_fn_future_is_send_when_its_body_is() {
    fn assert_send<F: std::future::Future + Send>(f: F) -> F {
        f
    }
    let fut = assert_send(remote(true));
    drop(fut); // never polled: no call recorded
}

struct Account {
    balance: u64,
    log: Vec<String>,
}

#[derive(Debug, PartialEq, Eq)]
struct Insufficient(u64);

impl Account {
    #[circuit_breaker("macro::methods", failure_threshold = 10)]
    fn balance(&self) -> Result<&u64, Insufficient> {
        Ok(&self.balance)
    }

    #[circuit_breaker("macro::methods", failure_threshold = 10)]
    fn withdraw(&mut self, amount: u64) -> Result<u64, Insufficient> {
        if amount > self.balance {
            return Err(Insufficient(self.balance));
        }
        self.balance -= amount;
        self.log.push(format!("-{amount}"));
        Ok(self.balance)
    }

    #[circuit_breaker("macro::methods", failure_threshold = 10)]
    fn close(self) -> Result<Vec<String>, Insufficient> {
        Ok(self.log)
    }

    #[circuit_breaker("macro::methods", failure_threshold = 10)]
    fn open(balance: u64) -> Result<Self, Insufficient> {
        Ok(Account {
            balance,
            log: Vec::new(),
        })
    }

    #[circuit_breaker("macro::methods_async")]
    async fn deposit(&mut self, amount: u64) -> Result<u64, Insufficient> {
        self.balance += amount;
        Ok(self.balance)
    }
}

#[test]
fn methods_with_every_receiver() {
    let mut acc = Account::open(10).unwrap();
    assert_eq!(*acc.balance().unwrap(), 10);
    assert_eq!(acc.withdraw(4).unwrap(), 6);
    assert!(matches!(
        acc.withdraw(7),
        Err(Error::Inner(Insufficient(6)))
    ));
    assert_eq!(block_on(acc.deposit(4)).unwrap(), 10);
    assert_eq!(acc.close().unwrap(), vec!["-4".to_string()]);
    let m = breaker("macro::methods").metrics();
    assert_eq!((m.successful_calls, m.failed_calls), (4, 1));
    assert_eq!(
        breaker("macro::methods_async").metrics().successful_calls,
        1
    );
}

#[circuit_breaker("macro::generic")]
fn first<T, I>(items: I) -> Result<T, String>
where
    I: IntoIterator<Item = T>,
    T: Clone,
{
    items.into_iter().next().ok_or_else(|| "empty".to_string())
}

#[test]
fn generic_functions() {
    assert_eq!(first(vec![3, 4]).unwrap(), 3);
    assert_eq!(first("ab".chars()).unwrap(), 'a');
    match first(Vec::<u8>::new()) {
        Err(Error::Inner(e)) => assert_eq!(e, "empty"),
        other => panic!("expected the inner error, got {other:?}"),
    }
    let m = breaker("macro::generic").metrics();
    assert_eq!((m.successful_calls, m.failed_calls), (2, 1));
}

/// Documented, public, `#[must_use]` and `#[inline]`: the macro keeps all of it.
#[circuit_breaker("macro::attrs")]
#[must_use = "the result says whether the call ran"]
#[inline]
pub(crate) fn attributed(x: u8) -> std::result::Result<u8, std::io::Error> {
    Ok(x)
}

#[test]
fn attributes_and_visibility_are_kept() {
    // The rewritten signature: the caller sees `breakerbox::Error<E>`.
    let r: Result<u8, Error<std::io::Error>> = attributed(1);
    assert_eq!(r.unwrap(), 1);
    // The error type keeps `std::error::Error`; `Inner` is transparent (its Display is the
    // inner error's, its source the inner error's source).
    let e = Error::Inner(std::io::Error::other("x"));
    assert_eq!(e.to_string(), "x");
    assert!(std::error::Error::source(&e).is_none());
}

#[circuit_breaker("macro::panics", failure_threshold = 1)]
fn panics() -> Result<(), Down> {
    panic!("boom")
}

#[test]
fn a_panicking_body_counts_as_a_failure() {
    let caught = std::panic::catch_unwind(panics);
    assert!(caught.is_err());
    let b = breaker("macro::panics");
    assert_eq!(b.metrics().failed_calls, 1);
    assert_eq!(b.state(), State::Open);
    assert!(matches!(panics(), Err(Error::Rejected(_))));
}

static RATE_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Opens when at least 40 % of the last 10 calls failed, once 5 were seen; consecutive
/// failures alone do not (no `failure_threshold` given: P1).
#[circuit_breaker("macro::rate", window_calls = 10, failure_rate = 40, minimum_calls = 5)]
fn rated(fail: bool) -> Result<(), Down> {
    // Relaxed: a plain counter, read on the same thread.
    RATE_RUNS.fetch_add(1, Ordering::Relaxed);
    if fail {
        Err(Down)
    } else {
        Ok(())
    }
}

#[test]
fn a_rate_breaker_trips_on_the_rate_not_on_a_streak() {
    // Two failures in a row, then successes: 2 of 4, but fewer than 5 seen.
    for fail in [true, true, false, false] {
        let r = rated(fail);
        assert_eq!(r.is_err(), fail);
        assert!(!matches!(r, Err(Error::Rejected(_))));
    }
    let b = breaker("macro::rate");
    assert_eq!(b.state(), State::Closed);
    assert!(!b.config().trips_on_consecutive_failures());
    // The fifth: 2 failures in 5 = 40 %, at the threshold.
    assert!(rated(false).is_ok());
    assert_eq!(b.state(), State::Open, "2 failures in 5 calls is 40 %");
    assert!(matches!(rated(false), Err(Error::Rejected(_))));
    assert_eq!(
        RATE_RUNS.load(Ordering::Relaxed),
        5,
        "the rejected body did not run"
    );
    let m = b.metrics();
    assert_eq!(
        (m.failed_calls, m.successful_calls, m.rejected_calls),
        (2, 3, 1)
    );
}

/// Below the rate: 1 failure in 5 (20 %) keeps it closed.
#[circuit_breaker(
    "macro::rate_below",
    window_calls = 5,
    failure_rate = 40.0,
    minimum_calls = 5
)]
fn rated_below(fail: bool) -> Result<(), Down> {
    if fail {
        Err(Down)
    } else {
        Ok(())
    }
}

#[test]
fn a_rate_below_the_threshold_keeps_it_closed() {
    for fail in [true, false, false, false, false, false, false, true] {
        let _ = rated_below(fail);
    }
    // Every 5 consecutive calls here hold at most 1 failure: 20 %, under 40 %.
    let b = breaker("macro::rate_below");
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().failure_rate, Some(20.0));
}

#[circuit_breaker(
    "macro::time_window",
    window_secs = 30,
    failure_rate = 25.5,
    minimum_calls = 50,
    slow_call_ms = 750,
    slow_call_rate = 80,
    failure_threshold = 9
)]
fn time_windowed() -> Result<(), Down> {
    Ok(())
}

#[circuit_breaker(
    "macro::backoff",
    timeout_secs = 5,
    backoff_multiplier = 1.5,
    backoff_max_ms = 0x7530
)]
fn backed_off() -> Result<(), Down> {
    Ok(())
}

#[test]
fn new_settings_become_the_breakers_config() {
    time_windowed().unwrap();
    let c = breaker("macro::time_window").config().clone();
    assert_eq!(
        c.sliding_window(),
        Some(Window::Time(Duration::from_secs(30)))
    );
    assert_eq!(c.failure_rate_threshold(), 25.5);
    assert_eq!(c.minimum_calls(), 50);
    assert_eq!(c.slow_call_duration(), Some(Duration::from_millis(750)));
    assert_eq!(c.slow_call_rate_threshold(), 80.0);
    assert_eq!(c.failure_threshold(), 9);
    assert!(
        c.trips_on_consecutive_failures(),
        "failure_threshold given: P1"
    );
    assert!(!c.dry_run());

    backed_off().unwrap();
    let c = breaker("macro::backoff").config().clone();
    assert_eq!(c.timeout(), Duration::from_secs(5));
    assert_eq!(
        c.backoff(),
        Backoff::exponential(1.5, Duration::from_millis(30_000))
    );
}

#[circuit_breaker("macro::dry_run", failure_threshold = 1, dry_run = true)]
fn dry(fail: bool) -> Result<(), Down> {
    if fail {
        Err(Down)
    } else {
        Ok(())
    }
}

#[test]
fn dry_run_opens_but_never_rejects() {
    assert!(matches!(dry(true), Err(Error::Inner(Down))));
    let b = breaker("macro::dry_run");
    assert!(b.config().dry_run());
    assert_eq!(b.state(), State::Open);
    // Open, yet the body runs.
    assert!(dry(false).is_ok());
    let m = b.metrics();
    assert_eq!((m.rejected_calls, m.would_reject_calls), (0, 1));
}

// The extremes of every range: each must build (the generated code panics otherwise).
#[circuit_breaker(
    "macro::extremes_max",
    failure_threshold = 1000,
    success_threshold = 1000,
    half_open_max_calls = 1000,
    timeout_ms = 31_622_400_000,
    half_open_timeout_secs = 31_622_400,
    window_calls = 10_000,
    failure_rate = 100,
    minimum_calls = 10_000,
    slow_call_secs = 31_622_400,
    slow_call_rate = 100.0,
    dry_run = false,
    backoff_multiplier = 1e300,
    backoff_max_secs = 31_622_400
)]
fn extremes_max() -> Result<(), Down> {
    Ok(())
}

#[circuit_breaker(
    "macro::extremes_min",
    failure_threshold = 1,
    success_threshold = 1,
    half_open_max_calls = 1,
    timeout_secs = 1,
    half_open_timeout_ms = 1,
    window_ms = 1000,
    failure_rate = 0.000_001,
    minimum_calls = 1,
    slow_call_ms = 1,
    slow_call_rate = 1e-9,
    backoff_multiplier = 1,
    backoff_max_ms = 1000
)]
fn extremes_min() -> Result<(), Down> {
    Ok(())
}

#[circuit_breaker("macro::extremes_time_max", window_secs = 3600)]
fn extremes_time_max() -> Result<(), Down> {
    Ok(())
}

#[circuit_breaker("macro::extremes_time_ms_max", window_ms = 3_600_000)]
fn extremes_time_ms_max() -> Result<(), Down> {
    Ok(())
}

// The smallest cap the macro accepts without a timeout: the default timeout itself.
#[circuit_breaker(
    "macro::extremes_default_timeout",
    backoff_multiplier = 2,
    backoff_max_secs = 60
)]
fn extremes_default_timeout() -> Result<(), Down> {
    Ok(())
}

#[test]
fn the_extremes_the_macro_accepts_build() {
    extremes_max().unwrap();
    let c = breaker("macro::extremes_max").config().clone();
    assert_eq!(c.timeout(), Config::MAX_DURATION);
    assert_eq!(c.half_open_timeout(), Config::MAX_DURATION);
    assert_eq!(
        c.sliding_window(),
        Some(Window::Calls(Config::MAX_WINDOW_CALLS))
    );
    assert_eq!(c.minimum_calls(), Config::MAX_WINDOW_CALLS);
    assert_eq!(c.failure_threshold(), Config::MAX_THRESHOLD);
    assert_eq!(c.slow_call_duration(), Some(Config::MAX_DURATION));
    assert_eq!(
        c.backoff(),
        Backoff::exponential(1e300, Config::MAX_DURATION)
    );

    extremes_min().unwrap();
    let c = breaker("macro::extremes_min").config().clone();
    assert_eq!(
        c.sliding_window(),
        Some(Window::Time(Config::MIN_WINDOW_TIME))
    );
    assert_eq!(c.half_open_timeout(), Duration::from_millis(1));
    assert_eq!(c.failure_rate_threshold(), 0.000_001);
    assert_eq!(c.slow_call_rate_threshold(), 1e-9);
    assert_eq!(
        c.backoff(),
        Backoff::exponential(1.0, Duration::from_secs(1))
    );

    extremes_time_max().unwrap();
    extremes_time_ms_max().unwrap();
    for name in ["macro::extremes_time_max", "macro::extremes_time_ms_max"] {
        assert_eq!(
            breaker(name).config().sliding_window(),
            Some(Window::Time(Config::MAX_WINDOW_TIME))
        );
    }

    extremes_default_timeout().unwrap();
    let c = breaker("macro::extremes_default_timeout").config().clone();
    // The macro assumes this default when no timeout is given (its `DEFAULT_TIMEOUT_MS`).
    assert_eq!(c.timeout(), Config::default().timeout());
    assert_eq!(c.backoff().max(), Some(Duration::from_secs(60)));
}

#[circuit_breaker(
    "macro::literals",
    failure_threshold = 0x0a,
    timeout_ms = 0b1000u16,
    success_threshold = 0o7
)]
fn literal_forms() -> Result<(), Down> {
    Ok(())
}

#[test]
fn hex_octal_binary_and_fitting_suffixes() {
    literal_forms().unwrap();
    let c = breaker("macro::literals").config().clone();
    assert_eq!(c.failure_threshold(), 10);
    assert_eq!(c.timeout(), Duration::from_millis(8));
    assert_eq!(c.success_threshold(), 7);
}

#[circuit_breaker("macro::impl_trait")]
fn shown(n: u32) -> Result<impl std::fmt::Display, Down> {
    if n == 0 {
        return Err(Down);
    }
    let half = n.checked_div(2).ok_or(Down)?;
    Ok(format!("{n}/2 = {half}"))
}

#[circuit_breaker("macro::impl_trait_async")]
async fn shown_later(n: u32) -> Result<Vec<impl std::fmt::Debug>, Down> {
    let v = fetch(n > 0).await?;
    Ok(vec![v, n])
}

#[test]
fn impl_trait_in_the_ok_type() {
    assert_eq!(shown(6).unwrap().to_string(), "6/2 = 3");
    assert!(matches!(shown(0), Err(Error::Inner(Down))));
    assert_eq!(breaker("macro::impl_trait").metrics().failed_calls, 1);
    assert_eq!(format!("{:?}", block_on(shown_later(1)).unwrap()), "[5, 1]");
    assert!(matches!(block_on(shown_later(0)), Err(Error::Inner(Down))));
}

mod reexported {
    /// A crate that re-exports breakerbox under its own path.
    pub mod sdk {
        pub use breakerbox as cb;
    }
}

#[breakerbox::circuit_breaker("macro::crate_path", crate = crate::reexported::sdk::cb, failure_threshold = 1)]
fn through_a_reexport() -> Result<(), Down> {
    Err(Down)
}

#[test]
fn crate_path_names_a_reexport() {
    assert!(matches!(through_a_reexport(), Err(Error::Inner(Down))));
    assert!(matches!(through_a_reexport(), Err(Error::Rejected(_))));
    assert_eq!(breaker("macro::crate_path").config().failure_threshold(), 1);
}
