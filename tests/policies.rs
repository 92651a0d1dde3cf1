//! Part 2 policies, one behaviour per test: the rate rules over count and time windows,
//! slow calls, backoff, dry run, the operator overrides, classified calls and causes.

use std::sync::Arc;
use std::time::Duration;

use breakerbox::quanta::Mock;
use breakerbox::{
    Backoff, Cause, CircuitBreaker, Config, ConfigBuilder, Mode, Outcome, State, Window,
};

mod common;
use common::{assert_balanced, breaker, recorder, rejected, HALF_OPEN_TIMEOUT, TIMEOUT, US};

const MS: Duration = Duration::from_millis(1);

fn base() -> ConfigBuilder {
    Config::builder()
        .timeout(TIMEOUT)
        .half_open_timeout(HALF_OPEN_TIMEOUT)
        .success_threshold(1)
}

fn calls(n: u32, rate: f64, min: u32) -> ConfigBuilder {
    base()
        .sliding_window(Window::Calls(n))
        .failure_rate_threshold(rate)
        .minimum_calls(min)
}

fn time(d: Duration, rate: f64, min: u32) -> ConfigBuilder {
    base()
        .sliding_window(Window::Time(d))
        .failure_rate_threshold(rate)
        .minimum_calls(min)
}

fn ok(b: &CircuitBreaker) {
    b.try_acquire().expect("admitted").success();
}

fn err(b: &CircuitBreaker) {
    b.try_acquire().expect("admitted").failure();
}

/// A call that takes `d` of mock time and ends with `outcome`.
fn timed(b: &CircuitBreaker, mock: &Mock, d: Duration, outcome: Outcome) {
    let p = b.try_acquire().expect("admitted");
    mock.increment(d);
    p.record_outcome(outcome);
}

fn causes(log: &common::Log) -> Vec<Cause> {
    log.lock().unwrap().iter().map(|c| c.cause).collect()
}

#[test]
fn the_failure_rate_trips_once_the_minimum_is_reached() {
    let (b, _mock) = breaker(calls(10, 50.0, 4).build().unwrap());
    let log = recorder(&b);
    // 3 failures out of 3: above the rate, but below the minimum of 4.
    for _ in 0..3 {
        err(&b);
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().failure_rate, None, "below the minimum");
    assert_eq!(
        b.metrics().consecutive_failures,
        3,
        "the streak is tracked anyway"
    );
    // The 4th outcome, a success: 3 of 4 failed (75 % >= 50 %).
    ok(&b);
    assert_eq!(b.state(), State::Open);
    assert_eq!(causes(&log), [Cause::FailureRate]);
}

#[test]
fn a_count_window_holds_the_last_n_outcomes() {
    let (b, _mock) = breaker(calls(4, 50.0, 4).build().unwrap());
    // F S S S: 25 %.
    err(&b);
    for _ in 0..3 {
        ok(&b);
    }
    assert_eq!(b.metrics().failure_rate, Some(25.0));
    // S S S F -> the first failure left: still 25 %.
    err(&b);
    assert_eq!(b.metrics().failure_rate, Some(25.0));
    assert_eq!(b.state(), State::Closed);
    // S S F F: 50 % trips.
    err(&b);
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.metrics().failure_rate, None, "no rate outside Closed");
}

#[test]
fn with_a_window_the_consecutive_rule_applies_only_when_set() {
    let (rate_only, _m) = breaker(calls(100, 50.0, 100).build().unwrap());
    for _ in 0..50 {
        err(&rate_only);
    }
    assert_eq!(
        rate_only.state(),
        State::Closed,
        "no consecutive rule: 50 < minimum"
    );
    let both = calls(100, 50.0, 100).failure_threshold(5).build().unwrap();
    assert!(both.trips_on_consecutive_failures());
    let (b, _m) = breaker(both);
    let log = recorder(&b);
    for _ in 0..5 {
        err(&b);
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(causes(&log), [Cause::ConsecutiveFailures]);
}

#[test]
fn every_transition_into_closed_starts_an_empty_window() {
    let (b, mock) = breaker(calls(4, 50.0, 4).build().unwrap());
    err(&b);
    ok(&b);
    ok(&b);
    b.reset();
    // Had the window kept F S S, this failure would make 2 of 4.
    err(&b);
    ok(&b);
    ok(&b);
    ok(&b);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().failure_rate, Some(25.0));
    // Through half-open too.
    b.force_open();
    mock.increment(TIMEOUT);
    ok(&b); // probe closes (success_threshold 1)
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().failure_rate, None, "an empty window again");
}

#[test]
fn a_time_window_forgets_old_outcomes_by_bucket() {
    let d = Duration::from_secs(10);
    let config = time(d, 50.0, 4).build().unwrap();
    let (b, mock) = breaker(config);
    err(&b);
    err(&b);
    err(&b);
    // Ten seconds later the failures have left the window (P4: by d at the latest).
    mock.increment(d);
    for _ in 0..4 {
        ok(&b);
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().failure_rate, Some(0.0));
    // Within the window they count: 4 successes + 4 failures now = 50 %.
    for _ in 0..3 {
        err(&b);
    }
    assert_eq!(b.state(), State::Closed, "3 of 7");
    err(&b);
    assert_eq!(b.state(), State::Open);
}

/// P3 over a time window: a plain success trips it once older successes have left, even
/// when the successes before it (in one bucket) skipped the sum.
#[test]
fn a_success_trips_a_time_window_once_older_successes_left() {
    let d = Duration::from_secs(10);
    let config = time(d, 50.0, 4).build().unwrap();
    let (b, mock) = breaker(config);
    let log = recorder(&b);
    for _ in 0..6 {
        ok(&b);
    }
    mock.increment(d / 2);
    for _ in 0..3 {
        err(&b);
    }
    ok(&b);
    assert_eq!(b.state(), State::Closed, "3 failures of 10");
    // The six successes of 0 s have left: 3 failures, 1 success, and this success.
    mock.increment(d / 2);
    assert_eq!(b.metrics().failure_rate, Some(75.0));
    ok(&b);
    assert_eq!(b.state(), State::Open, "3 failures of 5");
    assert_eq!(causes(&log), [Cause::FailureRate]);
}

/// P3 over a time window: the success that brings it to its minimum trips it.
#[test]
fn a_success_reaching_the_minimum_trips_a_time_window() {
    let config = time(Duration::from_secs(10), 50.0, 4).build().unwrap();
    let (b, _mock) = breaker(config);
    for _ in 0..3 {
        err(&b);
    }
    assert_eq!(b.state(), State::Closed, "below the minimum");
    ok(&b);
    assert_eq!(b.state(), State::Open, "3 failures of 4");
}

#[test]
fn slow_calls_trip_on_their_rate_and_are_counted() {
    let config = calls(4, 100.0, 4)
        .slow_call_duration(10 * MS)
        .slow_call_rate_threshold(50.0)
        .build()
        .unwrap();
    let (b, mock) = breaker(config);
    let log = recorder(&b);
    timed(&b, &mock, 11 * MS, Outcome::Success);
    timed(&b, &mock, 10 * MS, Outcome::Success); // exactly the limit: not slow
    timed(&b, &mock, MS, Outcome::Success);
    assert_eq!(b.metrics().slow_calls, 1);
    timed(&b, &mock, 20 * MS, Outcome::Failure);
    // 2 slow of 4.
    assert_eq!(b.state(), State::Open);
    assert_eq!(causes(&log), [Cause::SlowCallRate]);
    assert_eq!(b.metrics().slow_calls, 2);
}

#[test]
fn the_failure_rate_names_the_cause_when_both_rates_fire() {
    let config = calls(2, 50.0, 2)
        .slow_call_duration(MS)
        .slow_call_rate_threshold(50.0)
        .build()
        .unwrap();
    let (b, mock) = breaker(config);
    let log = recorder(&b);
    timed(&b, &mock, 2 * MS, Outcome::Failure);
    timed(&b, &mock, 2 * MS, Outcome::Success);
    assert_eq!(causes(&log), [Cause::FailureRate]);
}

#[test]
fn a_slow_probe_success_reopens_the_breaker() {
    let config = base()
        .failure_threshold(1)
        .slow_call_duration(10 * MS)
        .build()
        .unwrap();
    let (b, mock) = breaker(config);
    let log = recorder(&b);
    err(&b);
    mock.increment(TIMEOUT);
    timed(&b, &mock, 11 * MS, Outcome::Success);
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        causes(&log),
        [
            Cause::ConsecutiveFailures,
            Cause::OpenPeriodEnded,
            Cause::ProbeFailed
        ]
    );
}

#[test]
fn a_permit_abandoned_after_the_slow_limit_is_a_slow_failure() {
    let config = base()
        .failure_threshold(2)
        .slow_call_duration(10 * MS)
        .build()
        .unwrap();
    let (b, mock) = breaker(config);
    // Dropped quickly: Ignored.
    drop(b.try_acquire().unwrap());
    assert_eq!(b.metrics().ignored_calls, 1);
    // Dropped after running longer than slow_call_duration (an outer timeout): a slow failure.
    for _ in 0..2 {
        let p = b.try_acquire().unwrap();
        mock.increment(11 * MS);
        drop(p);
    }
    let m = b.metrics();
    assert_eq!((m.failed_calls, m.slow_calls, m.ignored_calls), (2, 2, 1));
    assert_eq!(b.state(), State::Open, "two hung calls trip it");
    assert_balanced(&m);
}

#[test]
fn an_abandoned_call_future_after_the_slow_limit_is_a_slow_failure() {
    let config = base()
        .failure_threshold(1)
        .slow_call_duration(10 * MS)
        .build()
        .unwrap();
    let (b, mock) = breaker(config);
    let mut fut = Box::pin(b.call_future(std::future::pending::<Result<(), ()>>()));
    assert!(common::poll_once(fut.as_mut()).is_pending());
    mock.increment(11 * MS);
    drop(fut); // what tokio::time::timeout does when it fires
    let m = b.metrics();
    assert_eq!((m.failed_calls, m.slow_calls), (1, 1));
    assert_eq!(b.state(), State::Open);
}

#[test]
fn exponential_backoff_grows_caps_and_starts_over_when_closed() {
    let config = base()
        .failure_threshold(1)
        .timeout(Duration::from_secs(1))
        .backoff(Backoff::exponential(2.0, Duration::from_secs(5)))
        .build()
        .unwrap();
    let (b, mock) = breaker(config);
    err(&b);
    assert_eq!(rejected(&b).retry_after(), Some(Duration::from_secs(1)));
    let mut periods = Vec::new();
    for _ in 0..4 {
        mock.increment(b.retry_after().unwrap());
        err(&b); // the probe fails
        periods.push(b.retry_after().unwrap().as_secs());
    }
    assert_eq!(periods, [2, 4, 5, 5]);
    mock.increment(Duration::from_secs(5));
    ok(&b); // closes
    err(&b);
    assert_eq!(
        b.retry_after(),
        Some(Duration::from_secs(1)),
        "the streak starts over"
    );
}

#[test]
fn an_expired_half_open_period_counts_in_the_streak() {
    let config = base()
        .failure_threshold(1)
        .timeout(Duration::from_secs(1))
        .backoff(Backoff::exponential(3.0, Duration::from_secs(60)))
        .build()
        .unwrap();
    let (b, mock) = breaker(config);
    let log = recorder(&b);
    err(&b);
    mock.increment(Duration::from_secs(1));
    let stuck = b.try_acquire().expect("probe");
    mock.increment(HALF_OPEN_TIMEOUT);
    // The second open period (3 s) started when the half-open period expired.
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.retry_after(), Some(Duration::from_secs(3)));
    mock.increment(Duration::from_secs(3) - US);
    assert_eq!(b.state(), State::Open);
    mock.increment(US);
    assert!(b.is_available());
    stuck.success(); // late
    ok(&b);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        causes(&log),
        [
            Cause::ConsecutiveFailures,
            Cause::OpenPeriodEnded,
            Cause::HalfOpenExpired,
            Cause::OpenPeriodEnded,
            Cause::ProbesSucceeded
        ]
    );
}

#[test]
fn jitter_is_fixed_per_period_and_stays_in_its_band() {
    let config = |seed| {
        base()
            .failure_threshold(1)
            .timeout(Duration::from_secs(10))
            .backoff(Backoff::constant().jitter(0.5))
            .jitter_seed(seed)
            .build()
            .unwrap()
    };
    let mut lengths = Vec::new();
    for seed in 0..20 {
        let (b, mock) = breaker(config(seed));
        err(&b);
        let first = b.retry_after().unwrap();
        assert!(
            first >= Duration::from_secs(5) && first <= Duration::from_secs(15),
            "{first:?}"
        );
        // Read again later: the same period, not a new draw.
        mock.increment(Duration::from_secs(1));
        assert_eq!(b.retry_after().unwrap(), first - Duration::from_secs(1));
        lengths.push(first);
        // The same seed draws the same period.
        let (again, _m) = breaker(config(seed));
        err(&again);
        assert_eq!(again.retry_after().unwrap(), first);
    }
    lengths.sort();
    lengths.dedup();
    assert!(
        lengths.len() >= 15,
        "20 seeds gave {} distinct periods",
        lengths.len()
    );
}

#[test]
fn force_open_uses_the_timeout_and_keeps_the_streak() {
    let config = base()
        .failure_threshold(1)
        .timeout(Duration::from_secs(1))
        .backoff(Backoff::exponential(2.0, Duration::from_secs(60)))
        .build()
        .unwrap();
    let (b, mock) = breaker(config);
    err(&b);
    mock.increment(Duration::from_secs(1));
    err(&b); // probe fails: period 2 (2 s)
    assert_eq!(b.retry_after(), Some(Duration::from_secs(2)));
    b.force_open();
    assert_eq!(
        b.retry_after(),
        Some(Duration::from_secs(1)),
        "force_open: the timeout"
    );
    mock.increment(Duration::from_secs(1));
    err(&b); // the streak was kept: period 3 (4 s)
    assert_eq!(b.retry_after(), Some(Duration::from_secs(4)));
}

#[test]
fn dry_run_rejects_nothing_but_runs_the_machine() {
    let (b, mock) = breaker(base().failure_threshold(2).dry_run(true).build().unwrap());
    let log = recorder(&b);
    err(&b);
    err(&b);
    assert_eq!(b.state(), State::Open);
    assert!(b.is_available());
    // Admitted although open; its outcome is counted like a stale one.
    ok(&b);
    err(&b);
    let m = b.metrics();
    assert_eq!((m.would_reject_calls, m.rejected_calls), (2, 0));
    assert_eq!((m.successful_calls, m.failed_calls), (1, 3));
    assert_eq!(
        b.state(),
        State::Open,
        "shadow outcomes never drive the machine"
    );
    assert_balanced(&m);
    mock.increment(TIMEOUT);
    ok(&b); // a real probe
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        causes(&log),
        [
            Cause::ConsecutiveFailures,
            Cause::OpenPeriodEnded,
            Cause::ProbesSucceeded
        ]
    );
}

#[test]
fn isolate_holds_open_until_reset_even_in_dry_run() {
    let (b, mock) = breaker(base().dry_run(true).build().unwrap());
    let log = recorder(&b);
    b.isolate();
    assert_eq!((b.state(), b.mode()), (State::Open, Mode::Isolated));
    assert!(!b.is_available());
    mock.increment(Duration::from_secs(365 * 86_400));
    let r = rejected(&b);
    assert_eq!((r.state(), r.retry_after()), (State::Open, None));
    assert_eq!(b.retry_after(), None);
    b.force_open();
    assert_eq!(b.mode(), Mode::Isolated, "force_open leaves it isolated");
    b.reset();
    assert_eq!((b.state(), b.mode()), (State::Closed, Mode::Normal));
    assert_eq!(causes(&log), [Cause::Isolate, Cause::Reset]);
}

#[test]
fn disable_admits_everything_and_never_trips() {
    let (b, _mock) = breaker(calls(2, 50.0, 2).failure_threshold(1).build().unwrap());
    let log = recorder(&b);
    err(&b);
    assert_eq!(b.state(), State::Open);
    b.disable();
    assert_eq!((b.state(), b.mode()), (State::Closed, Mode::Disabled));
    for _ in 0..10 {
        err(&b);
    }
    let m = b.metrics();
    assert_eq!(
        (m.state, m.failed_calls, m.consecutive_failures),
        (State::Closed, 11, 0)
    );
    assert_eq!(m.failure_rate, None, "no window while disabled");
    // A peer's report does not override the operator.
    b.open_remote(Duration::from_secs(5));
    assert_eq!(b.mode(), Mode::Disabled);
    // force_open ends the override.
    b.force_open();
    assert_eq!((b.state(), b.mode()), (State::Open, Mode::Normal));
    assert_eq!(
        causes(&log),
        [Cause::ConsecutiveFailures, Cause::Disable, Cause::ForceOpen]
    );
}

#[test]
fn an_operator_call_records_an_expired_half_open_period_first() {
    let (b, mock) = breaker(base().failure_threshold(1).build().unwrap());
    let log = recorder(&b);
    err(&b);
    mock.increment(TIMEOUT);
    let _stuck = b.try_acquire().expect("probe");
    mock.increment(HALF_OPEN_TIMEOUT);
    b.isolate();
    assert_eq!(
        causes(&log),
        [
            Cause::ConsecutiveFailures,
            Cause::OpenPeriodEnded,
            Cause::HalfOpenExpired
        ],
        "half-open -> open (expired); open -> isolated is no state change"
    );
    assert_eq!(b.metrics().state_transitions, 3);
}

#[test]
fn open_remote_is_capped_by_the_local_config() {
    let (b, _mock) = breaker(base().timeout(Duration::from_secs(30)).build().unwrap());
    let log = recorder(&b);
    b.open_remote(Duration::from_secs(3600));
    assert_eq!(b.retry_after(), Some(Duration::from_secs(30)));
    b.open_remote(Duration::from_secs(5));
    assert_eq!(b.retry_after(), Some(Duration::from_secs(5)));
    assert_eq!(causes(&log), [Cause::Remote]);
}

#[test]
fn classified_calls_see_the_whole_result() {
    let (b, _mock) = breaker(base().failure_threshold(2).build().unwrap());
    let empty_is_failure = |r: &Result<Vec<u8>, String>| match r {
        Ok(v) if v.is_empty() => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Ignored,
    };
    assert!(b.call_classified(empty_is_failure, || Ok(vec![])).is_ok());
    assert!(b
        .call_classified(empty_is_failure, || Err("bad request".to_string()))
        .is_err());
    assert!(b.call_classified(empty_is_failure, || Ok(vec![])).is_ok());
    assert_eq!(b.state(), State::Open, "two Ok-but-empty answers");
    let m = b.metrics();
    assert_eq!((m.failed_calls, m.ignored_calls), (2, 1));
}

#[test]
fn a_panicking_classifier_records_a_failure() {
    let (b, _mock) = breaker(base().failure_threshold(1).build().unwrap());
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = b.call_classified(|_: &Result<(), ()>| panic!("classifier bug"), || Ok(()));
    }));
    assert!(r.is_err());
    assert_eq!(b.metrics().failed_calls, 1);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn owned_call_futures_are_static_and_send() {
    fn assert_static_send<T: Send + 'static>(_: &T) {}
    let (b, _mock) = common::shared_breaker(base().build().unwrap());
    let fut = b.call_future_owned(async { Ok::<_, ()>(5) });
    assert_static_send(&fut);
    let b2 = Arc::clone(&b);
    let out = std::thread::spawn(move || futures::executor::block_on(fut))
        .join()
        .unwrap();
    assert_eq!(out.unwrap(), 5);
    assert_eq!(b2.metrics().successful_calls, 1);
    let classified = b.call_future_classified(
        |r: &Result<u8, ()>| {
            if r.is_ok() {
                Outcome::Failure
            } else {
                Outcome::Success
            }
        },
        async { Ok::<u8, ()>(1) },
    );
    assert_eq!(futures::executor::block_on(classified).unwrap(), 1);
    assert_eq!(b.metrics().failed_calls, 1);
}

#[test]
fn every_new_setting_is_validated_by_field() {
    let cases: Vec<(ConfigBuilder, &str)> = vec![
        (base().sliding_window(Window::Calls(0)), "sliding_window"),
        (
            base().sliding_window(Window::Calls(Config::MAX_WINDOW_CALLS + 1)),
            "sliding_window",
        ),
        (
            base().sliding_window(Window::Time(Config::MIN_WINDOW_TIME - US)),
            "sliding_window",
        ),
        (
            base().sliding_window(Window::Time(Config::MAX_WINDOW_TIME + US)),
            "sliding_window",
        ),
        (base().failure_rate_threshold(0.0), "failure_rate_threshold"),
        (
            base().failure_rate_threshold(100.5),
            "failure_rate_threshold",
        ),
        (
            base().failure_rate_threshold(f64::NAN),
            "failure_rate_threshold",
        ),
        (
            base().failure_rate_threshold(f64::INFINITY),
            "failure_rate_threshold",
        ),
        (base().minimum_calls(0), "minimum_calls"),
        (
            base().minimum_calls(Config::MAX_WINDOW_CALLS + 1),
            "minimum_calls",
        ),
        (
            base().slow_call_duration(Duration::ZERO),
            "slow_call_duration",
        ),
        (
            base().slow_call_duration(Config::MAX_DURATION + US),
            "slow_call_duration",
        ),
        (
            base().slow_call_rate_threshold(-1.0),
            "slow_call_rate_threshold",
        ),
        (
            base().slow_call_rate_threshold(f64::NEG_INFINITY),
            "slow_call_rate_threshold",
        ),
        (
            base().backoff(Backoff::exponential(0.9, TIMEOUT)),
            "backoff",
        ),
        (
            base().backoff(Backoff::exponential(f64::NAN, TIMEOUT)),
            "backoff",
        ),
        (
            base().backoff(Backoff::exponential(2.0, TIMEOUT - US)),
            "backoff",
        ),
        (
            base().backoff(Backoff::exponential(2.0, Config::MAX_DURATION + US)),
            "backoff",
        ),
        (base().backoff(Backoff::constant().jitter(1.0)), "backoff"),
        (
            base().backoff(Backoff::constant().jitter(f64::NAN)),
            "backoff",
        ),
    ];
    for (builder, field) in cases {
        let err = builder.build().expect_err(field);
        assert_eq!(err.field(), field, "{err}");
        assert!(err.to_string().contains(field), "{err}");
    }
    // The extremes are accepted.
    let ok = base()
        .sliding_window(Window::Calls(Config::MAX_WINDOW_CALLS))
        .failure_rate_threshold(100.0)
        .minimum_calls(Config::MAX_WINDOW_CALLS)
        .slow_call_duration(Config::MAX_DURATION)
        .slow_call_rate_threshold(f64::MIN_POSITIVE)
        .backoff(Backoff::exponential(1.0, Config::MAX_DURATION).jitter(0.999))
        .build();
    assert!(ok.is_ok(), "{ok:?}");
}
