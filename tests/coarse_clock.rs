//! The opt-in coarse clock (`ClockPrecision::Coarse`): its validation, its determinism on a
//! mock clock, and, with the real process-wide clock thread, that an open period ends
//! within the documented bound (one interval either way, plus the thread's wake-up delay),
//! and that a coarse time window lets its outcomes go about `d` after they entered.
//! Whether the thread starts only for coarse breakers is `tests/coarse_clock_lazy.rs` (a
//! process of its own).

use std::thread;
use std::time::Duration;

use breakerbox::quanta::{self, Clock};
use breakerbox::{CircuitBreaker, ClockPrecision, Config, State};

mod common;
use common::{NS, US};

const MS: Duration = Duration::from_millis(1);

fn coarse(interval: Duration) -> ClockPrecision {
    ClockPrecision::Coarse(interval)
}

#[test]
fn precise_is_the_default() {
    assert_eq!(Config::default().clock_precision(), ClockPrecision::Precise);
    assert_eq!(ClockPrecision::default(), ClockPrecision::Precise);
    let built = Config::builder().build().expect("defaults are valid");
    assert_eq!(built.clock_precision(), ClockPrecision::Precise);
    let set = Config::builder().clock_precision(coarse(MS)).build();
    assert_eq!(set.expect("1 ms is valid").clock_precision(), coarse(MS));
}

#[test]
fn intervals_out_of_range_are_rejected_naming_the_field() {
    for bad in [
        Duration::ZERO,
        NS,
        Config::MIN_COARSE_INTERVAL - NS,
        Config::MAX_COARSE_INTERVAL + NS,
        Duration::MAX,
    ] {
        let err = Config::builder()
            .clock_precision(coarse(bad))
            .build()
            .expect_err("out of range");
        assert_eq!(err.field(), "clock_precision");
        let msg = err.to_string();
        assert!(msg.contains("clock_precision"), "{msg}");
        assert!(msg.contains(&format!("{bad:?}")), "{msg}");
        assert!(msg.contains("100µs") && msg.contains("1s"), "{msg}");
    }
    for good in [Config::MIN_COARSE_INTERVAL, MS, Config::MAX_COARSE_INTERVAL] {
        let config = Config::builder().clock_precision(coarse(good)).build();
        assert_eq!(config.expect("in range").clock_precision(), coarse(good));
    }
    // The last setting wins, like every other builder setting.
    let back = Config::builder()
        .clock_precision(coarse(Duration::ZERO))
        .clock_precision(ClockPrecision::Precise)
        .build();
    assert_eq!(
        back.expect("precise").clock_precision(),
        ClockPrecision::Precise
    );
}

/// `with_clock` reads the clock it is given whatever the precision: with a mock, a coarse
/// config steps exactly like a precise one, to the microsecond at the deadline, with an exact
/// `retry_after`.
#[test]
fn with_a_mock_a_coarse_config_stays_deterministic() {
    let timeout = Duration::from_secs(20);
    let config = Config::builder()
        .failure_threshold(2)
        .success_threshold(1)
        .timeout(timeout)
        .clock_precision(coarse(Duration::from_millis(500)))
        .build()
        .expect("valid");
    let (clock, mock) = Clock::mock();
    mock.increment(Duration::from_secs(1_000));
    let breaker = CircuitBreaker::with_clock("mocked", config, clock);
    mock.increment(Duration::from_millis(3));
    for _ in 0..2 {
        let _ = breaker.call(|| Err::<(), _>("down"));
    }
    assert_eq!(breaker.state(), State::Open);

    mock.increment(timeout - US);
    let r = breaker.try_acquire().expect_err("open until the deadline");
    assert_eq!(r.state(), State::Open);
    assert_eq!(r.retry_after(), Some(US));
    // Below a microsecond nothing changes (readings round down).
    mock.increment(US - NS);
    assert_eq!(breaker.state(), State::Open);
    mock.increment(NS);
    assert_eq!(breaker.state(), State::HalfOpen);
    breaker.try_acquire().expect("the first probe").success();
    assert_eq!(breaker.state(), State::Closed);
}

/// The coarse clock handed out by `coarse_clock()` is the one coarse breakers read: never
/// ahead of quanta's clock, and moving.
#[test]
fn the_coarse_clock_trails_the_tsc_clock_and_moves() {
    let config = Config::builder()
        .clock_precision(coarse(MS))
        .build()
        .expect("valid");
    let _breaker = CircuitBreaker::with_config("trails", config);
    let Some(clock) = breakerbox::coarse_clock() else {
        return; // The thread could not start: the breaker is precise (documented).
    };
    let first = clock.now();
    assert!(first <= quanta::Instant::now());
    let started = std::time::Instant::now();
    while clock.now() <= first {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the coarse clock stood still"
        );
        thread::sleep(Duration::from_micros(200));
    }
    assert!(clock.now() <= quanta::Instant::now());
}

/// With the real clock thread (1 ms): an open breaker rejects every call before its
/// deadline, and admits one no later than the deadline plus one interval plus scheduling
/// slack; its state reads the precise clock.
///
/// Exact reasoning, not timing luck: the deadline is set from the precise clock, read
/// between `before` and `opened` (quanta's time just before and just after `force_open`),
/// so the period surely lasts while quanta's time is below `before + timeout`. A rejection
/// is decided on the coarse reading plus one interval only while that bound is below the
/// deadline, else on the precise clock: never early. Admission comes once the bound reaches
/// the deadline, which it does at the latest one interval plus the thread's wake-up delay
/// after the deadline. Bounded: an attempt gives up half a second after the deadline.
#[test]
fn a_real_coarse_clock_rejects_until_the_deadline_and_admits_within_one_interval() {
    const TIMEOUT: Duration = Duration::from_millis(20);
    const INTERVAL: Duration = Duration::from_millis(1);
    // Scheduling delays of this thread and the clock thread on a loaded machine.
    const SLACK: Duration = Duration::from_millis(500);
    // Microsecond rounding of the readings and of the timeout.
    const ROUNDING: Duration = Duration::from_micros(3);
    let config = Config::builder()
        .timeout(TIMEOUT)
        .clock_precision(coarse(INTERVAL))
        .build()
        .expect("valid");

    // A run proves "rejected before the deadline" only if this thread sampled the breaker
    // before it; on a badly loaded machine it may not have: try again, a few times.
    for attempt in 0..5 {
        let breaker = CircuitBreaker::with_config("coarse", config.clone());
        if breakerbox::coarse_clock_interval().is_none() {
            return; // The thread could not start: the breaker is precise (documented).
        }
        assert!(breakerbox::coarse_clock_interval().is_some_and(|i| i <= INTERVAL));
        let before = quanta::Instant::now();
        breaker.force_open();
        let opened = quanta::Instant::now();
        let surely_open_until = before + TIMEOUT - ROUNDING;
        let admitted_by = opened + TIMEOUT + INTERVAL + SLACK;
        let mut open_samples = 0;
        loop {
            let sampled = quanta::Instant::now();
            let tried = breaker.try_acquire();
            let state = breaker.state();
            let after = quanta::Instant::now();
            match tried {
                Err(r) => {
                    let left = r.retry_after().expect("open: a retry_after");
                    // A coarse rejection's `retry_after` is measured from the coarse bound:
                    // up to one interval short, or long by the clock thread's lateness
                    // (documented); never more than that.
                    assert!(left <= TIMEOUT + SLACK, "{left:?}");
                    assert!(
                        sampled <= admitted_by,
                        "still rejecting {:?} after the deadline",
                        sampled - (opened + TIMEOUT)
                    );
                }
                Ok(probe) => {
                    assert!(
                        sampled >= surely_open_until,
                        "admitted {:?} early",
                        surely_open_until - sampled
                    );
                    assert_eq!(state, State::HalfOpen);
                    probe.success();
                    break;
                }
            }
            if after < surely_open_until {
                assert_eq!(state, State::Open, "{:?} early", surely_open_until - after);
                open_samples += 1;
            }
            thread::sleep(Duration::from_micros(200));
        }
        if open_samples > 0 {
            return;
        }
        eprintln!("attempt {attempt}: no sample before the deadline (a loaded machine); again");
    }
    panic!("never sampled the breaker before its deadline in 5 attempts");
}

/// With the real clock thread, a coarse breaker's time window files a success by the coarse
/// reading (when it fixes the bucket) and lets its outcomes go after about `d` (between
/// `d - d/10` and `d`, earlier by the thread's lateness if it is late): a reading that did
/// not move would keep them.
#[test]
fn a_real_coarse_time_window_forgets_its_outcomes() {
    use breakerbox::Window;
    const SPAN: Duration = Duration::from_secs(1);
    // Scheduling delays of this thread and the clock thread on a loaded machine.
    const SLACK: Duration = Duration::from_secs(5);
    let config = Config::builder()
        .sliding_window(Window::Time(SPAN))
        .failure_rate_threshold(100.0)
        .minimum_calls(2)
        .clock_precision(coarse(MS))
        .build()
        .expect("valid");
    let breaker = CircuitBreaker::with_config("coarse-window", config);
    if breakerbox::coarse_clock_interval().is_none() {
        return; // The thread could not start: the breaker is precise (documented).
    }
    breaker.try_acquire().expect("closed").failure();
    breaker.try_acquire().expect("closed").success();
    let recorded = quanta::Instant::now();
    assert_eq!(breaker.metrics().failure_rate, Some(50.0));
    while breaker.metrics().failure_rate.is_some() {
        assert!(
            recorded.elapsed() < SPAN + SLACK,
            "outcomes still in a {SPAN:?} window after {:?}",
            recorded.elapsed()
        );
        thread::sleep(10 * MS);
    }
    let gone_after = recorded.elapsed();
    assert!(
        gone_after >= SPAN - SPAN / 10 - SLACK.min(SPAN / 2),
        "{gone_after:?}"
    );
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.metrics().failed_calls, 1);
}
