//! Faults and extremes: a probe permit leaked with `mem::forget`, a clock that stands
//! still or jumps far ahead, thresholds at `Config::MAX_THRESHOLD`, durations at
//! `Config::MAX_DURATION`, and very many generations.

use std::mem;
use std::sync::Arc;
use std::time::Duration;

use breakerbox::{Config, Outcome, State};

mod common;
use common::{breaker, config, fail, rejected, succeed, HALF_OPEN_TIMEOUT, NS, TIMEOUT, US};

const DAY: Duration = Duration::from_secs(86_400);

#[test]
fn a_leaked_probe_is_freed_by_the_half_open_timeout() {
    let (b, mock) = breaker(config(1, 1, 1));
    fail(&b);
    mock.increment(TIMEOUT);
    mem::forget(b.try_acquire().expect("probe"));
    let r = rejected(&b);
    assert_eq!(r.state(), State::HalfOpen);
    assert_eq!(r.retry_after(), None);

    mock.increment(HALF_OPEN_TIMEOUT);
    assert_eq!(b.state(), State::Open);
    let r = rejected(&b);
    assert_eq!(r.state(), State::Open);
    assert_eq!(r.retry_after(), Some(TIMEOUT));

    mock.increment(TIMEOUT);
    assert!(b.is_available());
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    // The leaked permit is in total_calls and nowhere else.
    assert_eq!(
        m.total_calls,
        m.successful_calls + m.failed_calls + m.ignored_calls + m.rejected_calls + 1
    );
    assert_eq!(m.state_transitions, 5);
}

#[test]
fn leaked_owned_probes_fill_every_slot_until_the_half_open_timeout() {
    let (b, mock) = breaker(config(1, 2, 3));
    let b = Arc::new(b);
    fail(&b);
    mock.increment(TIMEOUT);
    for _ in 0..3 {
        mem::forget(b.try_acquire_owned().expect("probe"));
    }
    for _ in 0..5 {
        assert_eq!(rejected(&b).state(), State::HalfOpen);
    }
    mock.increment(HALF_OPEN_TIMEOUT - NS);
    assert_eq!(rejected(&b).state(), State::HalfOpen);
    mock.increment(NS);
    assert_eq!(rejected(&b).state(), State::Open);
    mock.increment(TIMEOUT);
    succeed(&b);
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_leaked_permit_in_closed_does_not_block_anything() {
    let (b, mock) = breaker(config(2, 1, 1));
    mem::forget(b.try_acquire().expect("closed"));
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    mock.increment(TIMEOUT);
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_clock_standing_still_keeps_an_open_breaker_open() {
    let (b, _mock) = breaker(config(1, 1, 1));
    fail(&b);
    for _ in 0..1000 {
        let r = rejected(&b);
        assert_eq!(r.state(), State::Open);
        assert_eq!(r.retry_after(), Some(TIMEOUT));
    }
    assert_eq!(b.state(), State::Open);
    let m = b.metrics();
    assert_eq!(m.rejected_calls, 1000);
    assert_eq!(m.state_transitions, 1);
}

#[test]
fn a_clock_standing_still_never_expires_half_open() {
    let (b, mock) = breaker(config(1, 3, 1));
    fail(&b);
    mock.increment(TIMEOUT);
    for _ in 0..100 {
        let p = b.try_acquire().expect("probe");
        p.record_outcome(Outcome::Ignored);
    }
    assert_eq!(b.state(), State::HalfOpen);
    succeed(&b);
    succeed(&b);
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().state_transitions, 3);
}

#[test]
fn a_jump_of_300_days_ends_the_open_timeout() {
    let (b, mock) = breaker(config(1, 1, 1));
    fail(&b);
    mock.increment(DAY * 300);
    assert_eq!(b.state(), State::HalfOpen);
    assert!(b.is_available());
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_jump_of_300_days_ends_the_half_open_period() {
    let (b, mock) = breaker(config(1, 2, 2));
    fail(&b);
    mock.increment(TIMEOUT);
    succeed(&b);
    mock.increment(DAY * 300);
    // The half-open period expired long ago, and so did the open period that started then
    // (revised Semantics 4): half-open again, with no call needed.
    assert_eq!(b.state(), State::HalfOpen);
    assert!(b.is_available());
    // The next call records both moves and is the first probe of a new period.
    succeed(&b);
    assert_eq!(b.state(), State::HalfOpen);
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
    // C→O, O→H, H→O (expired), O→H, H→C.
    assert_eq!(b.metrics().state_transitions, 5);
}

#[test]
fn repeated_long_jumps_over_years() {
    let (b, mock) = breaker(config(1, 1, 1));
    for year in 0..10 {
        fail(&b);
        assert_eq!(rejected(&b).retry_after(), Some(TIMEOUT), "year {year}");
        mock.increment(DAY * 300);
        assert_eq!(b.state(), State::HalfOpen);
        let p = b.try_acquire().expect("probe");
        mock.increment(HALF_OPEN_TIMEOUT);
        assert_eq!(b.state(), State::Open);
        p.success(); // too late: neither closes nor reopens
        assert_eq!(rejected(&b).retry_after(), Some(TIMEOUT));
        mock.increment(DAY * 65);
        assert_eq!(b.state(), State::HalfOpen);
        succeed(&b);
        assert_eq!(b.state(), State::Closed);
    }
    assert_eq!(b.metrics().state_transitions, 10 * 5);
}

#[test]
fn a_closed_breaker_is_unaffected_by_a_long_jump() {
    let (b, mock) = breaker(config(2, 1, 1));
    fail(&b);
    mock.increment(DAY * 300);
    // The streak is about consecutive outcomes, not time.
    assert_eq!(b.metrics().consecutive_failures, 1);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    assert_eq!(rejected(&b).retry_after(), Some(TIMEOUT));
}

#[test]
fn max_threshold_failures_open() {
    const { assert!(Config::MAX_THRESHOLD >= 1000) };
    let max = Config::MAX_THRESHOLD;
    let (b, _mock) = breaker(config(max, 1, 1));
    for i in 1..max {
        fail(&b);
        assert_eq!(b.metrics().consecutive_failures, i);
    }
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    let m = b.metrics();
    assert_eq!(m.failed_calls, u64::from(max));
    assert_eq!(m.consecutive_failures, 0);
}

#[test]
fn max_threshold_probes_and_successes() {
    let max = Config::MAX_THRESHOLD;
    let (b, mock) = breaker(config(1, max, max));
    fail(&b);
    mock.increment(TIMEOUT);
    let permits: Vec<_> = (0..max).map(|_| b.try_acquire().expect("probe")).collect();
    let r = rejected(&b);
    assert_eq!(r.state(), State::HalfOpen);
    assert_eq!(r.retry_after(), None);
    let mut permits = permits.into_iter();
    for _ in 0..max - 1 {
        permits.next().expect("permit").success();
        assert_eq!(b.state(), State::HalfOpen);
    }
    // Each success freed its slot: a new probe is admitted.
    let extra = b.try_acquire().expect("a freed slot");
    permits.next().expect("last permit").success();
    assert_eq!(b.state(), State::Closed);
    drop(extra); // stale
    let m = b.metrics();
    assert_eq!(m.successful_calls, u64::from(max));
    assert_eq!(m.state_transitions, 3);
}

#[test]
fn max_threshold_reopens_on_one_failure() {
    let max = Config::MAX_THRESHOLD;
    let (b, mock) = breaker(config(max, max, max));
    for _ in 0..max {
        fail(&b);
    }
    mock.increment(TIMEOUT);
    for _ in 0..max - 1 {
        succeed(&b);
    }
    fail(&b);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn max_duration_timeouts() {
    let max = Config::MAX_DURATION;
    assert!(max >= DAY * 365);
    let config = Config::builder()
        .failure_threshold(1)
        .success_threshold(1)
        .timeout(max)
        .half_open_timeout(max)
        .build()
        .expect("MAX_DURATION is accepted");
    let (b, mock) = breaker(config);
    fail(&b);
    assert_eq!(rejected(&b).retry_after(), Some(max));
    mock.increment(max - US);
    assert_eq!(rejected(&b).retry_after(), Some(US));
    mock.increment(US - NS);
    assert_eq!(b.state(), State::Open);
    mock.increment(NS);
    assert_eq!(b.state(), State::HalfOpen);
    let p = b.try_acquire().expect("probe");
    mock.increment(max - NS);
    assert_eq!(b.state(), State::HalfOpen);
    mock.increment(NS);
    assert_eq!(b.state(), State::Open);
    p.success(); // too late
    let r = rejected(&b);
    assert_eq!(r.state(), State::Open);
    assert_eq!(r.retry_after(), Some(max));
    mock.increment(max);
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn stale_permits_stay_stale_across_very_many_generations() {
    // Each reset of a closed breaker starts a new generation; a narrow generation
    // counter that wraps would make an old permit look current again.
    let (b, _mock) = breaker(config(1, 1, 1));
    let checkpoints = [1u32 << 8, 1 << 16, 1 << 20];
    let mut permits: Vec<_> = checkpoints
        .iter()
        .map(|_| b.try_acquire().expect("closed"))
        .collect();
    let mut done = 0u32;
    for &gens in &checkpoints {
        while done < gens {
            b.reset();
            done += 1;
        }
        permits.remove(0).failure(); // threshold 1: opens if it counts
        assert_eq!(b.state(), State::Closed, "after {gens} generations");
    }
    assert_eq!(b.metrics().state_transitions, 0);
}

/// Numbers of closed-state generations (one per `reset` of a closed breaker) around the
/// wrap points of narrow generation tags (8, 12 and 16 bits), so that a deadline or a
/// permit of one generation cannot be mistaken for one of a later generation.
fn generation_counts_near_wraps() -> impl Iterator<Item = u32> {
    [8u32, 12, 16]
        .into_iter()
        .flat_map(|bits| (1u32 << bits) - 3..=(1u32 << bits) + 1)
}

#[test]
fn the_first_open_period_after_many_resets_has_a_fresh_timeout() {
    for resets in generation_counts_near_wraps() {
        let (b, mock) = breaker(config(1, 1, 1));
        mock.increment(DAY);
        for _ in 0..resets {
            b.reset();
        }
        fail(&b);
        assert_eq!(b.state(), State::Open, "after {resets} resets");
        let r = rejected(&b);
        assert_eq!(r.state(), State::Open, "after {resets} resets");
        assert_eq!(r.retry_after(), Some(TIMEOUT), "after {resets} resets");
        mock.increment(TIMEOUT);
        assert_eq!(b.state(), State::HalfOpen, "after {resets} resets");
        succeed(&b);
        assert_eq!(b.state(), State::Closed, "after {resets} resets");
    }
}

#[test]
fn a_later_open_period_never_reuses_an_old_deadline() {
    for resets in generation_counts_near_wraps() {
        let (b, mock) = breaker(config(1, 1, 1));
        b.force_open(); // a deadline at TIMEOUT
        b.reset();
        mock.increment(DAY); // that deadline is long past
        for _ in 0..resets {
            b.reset();
        }
        fail(&b);
        assert_eq!(b.state(), State::Open, "after {resets} resets");
        let r = rejected(&b);
        assert_eq!(r.retry_after(), Some(TIMEOUT), "after {resets} resets");
        assert!(!b.is_available(), "after {resets} resets");
    }
}
