//! `Config` / `ConfigBuilder` / `ConfigError`: defaults, every setter, and every invalid
//! field (0 and `MAX_THRESHOLD + 1` for the thresholds and `half_open_max_calls`; zero and
//! above `MAX_DURATION` for the durations), with the exact maxima accepted.

use std::error::Error as _;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, ConfigBuilder, ConfigError};

const THRESHOLD_FIELDS: [&str; 3] = [
    "failure_threshold",
    "success_threshold",
    "half_open_max_calls",
];
const DURATION_FIELDS: [&str; 2] = ["timeout", "half_open_timeout"];

fn with_threshold(field: &str, n: u32) -> ConfigBuilder {
    let b = Config::builder();
    match field {
        "failure_threshold" => b.failure_threshold(n),
        "success_threshold" => b.success_threshold(n),
        "half_open_max_calls" => b.half_open_max_calls(n),
        _ => unreachable!("unknown field {field}"),
    }
}

fn threshold_of(config: &Config, field: &str) -> u32 {
    match field {
        "failure_threshold" => config.failure_threshold(),
        "success_threshold" => config.success_threshold(),
        "half_open_max_calls" => config.half_open_max_calls(),
        _ => unreachable!("unknown field {field}"),
    }
}

fn with_duration(field: &str, d: Duration) -> ConfigBuilder {
    let b = Config::builder();
    match field {
        "timeout" => b.timeout(d),
        "half_open_timeout" => b.half_open_timeout(d),
        _ => unreachable!("unknown field {field}"),
    }
}

fn duration_of(config: &Config, field: &str) -> Duration {
    match field {
        "timeout" => config.timeout(),
        "half_open_timeout" => config.half_open_timeout(),
        _ => unreachable!("unknown field {field}"),
    }
}

fn build_err(builder: ConfigBuilder) -> ConfigError {
    match builder.build() {
        Ok(c) => panic!("expected a ConfigError, built {c:?}"),
        Err(e) => e,
    }
}

/// Whether `msg` names the field as a whole word (so that "timeout" is not found inside
/// "half_open_timeout").
fn names_field(msg: &str, field: &str) -> bool {
    msg.match_indices(field).any(|(i, _)| {
        let before = msg[..i].chars().next_back();
        let after = msg[i + field.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !word(before) && !word(after)
    })
}

/// Whether `msg` contains the number `n` as a whole number (not as part of a larger one).
fn names_number(msg: &str, n: &str) -> bool {
    msg.match_indices(n).any(|(i, _)| {
        let before = msg[..i].chars().next_back();
        let after = msg[i + n.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

/// Common renderings of a duration in a message.
fn names_duration(msg: &str, d: Duration) -> bool {
    let renderings = [
        format!("{d:?}"),
        d.as_nanos().to_string(),
        d.as_millis().to_string(),
        format!("{}s", d.as_secs()),
        format!("{} s", d.as_secs()),
    ];
    renderings.iter().any(|r| msg.contains(r.as_str()))
}

#[test]
fn limits_are_at_least_the_documented_ones() {
    const { assert!(Config::MAX_THRESHOLD >= 1000) };
    assert!(Config::MAX_DURATION >= Duration::from_secs(365 * 86_400));
}

#[test]
fn defaults() {
    let c = Config::default();
    assert_eq!(c.failure_threshold(), 5);
    assert_eq!(c.success_threshold(), 2);
    assert_eq!(c.timeout(), Duration::from_secs(60));
    assert_eq!(c.half_open_timeout(), Duration::from_secs(30));
    assert_eq!(c.half_open_max_calls(), 2);

    let built = Config::builder().build().expect("the defaults are valid");
    assert_eq!(built.failure_threshold(), c.failure_threshold());
    assert_eq!(built.success_threshold(), c.success_threshold());
    assert_eq!(built.timeout(), c.timeout());
    assert_eq!(built.half_open_timeout(), c.half_open_timeout());
    assert_eq!(built.half_open_max_calls(), c.half_open_max_calls());
}

#[test]
fn every_setter_is_kept() {
    let c = Config::builder()
        .failure_threshold(7)
        .success_threshold(4)
        .timeout(Duration::from_millis(1500))
        .half_open_timeout(Duration::from_millis(250))
        .half_open_max_calls(9)
        .build()
        .expect("valid");
    assert_eq!(c.failure_threshold(), 7);
    assert_eq!(c.success_threshold(), 4);
    assert_eq!(c.timeout(), Duration::from_millis(1500));
    assert_eq!(c.half_open_timeout(), Duration::from_millis(250));
    assert_eq!(c.half_open_max_calls(), 9);
    let copy = c.clone();
    assert_eq!(copy.half_open_max_calls(), 9);
}

#[test]
fn half_open_max_calls_defaults_to_the_success_threshold() {
    for n in [1, 3, 17, Config::MAX_THRESHOLD] {
        let c = Config::builder()
            .success_threshold(n)
            .build()
            .expect("valid");
        assert_eq!(c.half_open_max_calls(), n);
    }
    // The order of the setters does not matter.
    let c = Config::builder()
        .half_open_max_calls(4)
        .success_threshold(6)
        .build()
        .expect("valid");
    assert_eq!(c.half_open_max_calls(), 4);
    assert_eq!(c.success_threshold(), 6);
}

#[test]
fn fewer_probe_slots_than_the_success_threshold_is_accepted() {
    let c = Config::builder()
        .success_threshold(5)
        .half_open_max_calls(1)
        .build()
        .expect("only the documented cases are rejected");
    assert_eq!(c.half_open_max_calls(), 1);
    assert_eq!(c.success_threshold(), 5);
}

#[test]
fn thresholds_accept_one_and_exactly_the_maximum() {
    for field in THRESHOLD_FIELDS {
        for n in [1, 2, Config::MAX_THRESHOLD - 1, Config::MAX_THRESHOLD] {
            let c = with_threshold(field, n)
                .build()
                .unwrap_or_else(|e| panic!("{field} = {n} rejected: {e}"));
            assert_eq!(threshold_of(&c, field), n, "{field}");
        }
    }
}

#[test]
fn thresholds_reject_zero_and_above_the_maximum() {
    let max = Config::MAX_THRESHOLD;
    for field in THRESHOLD_FIELDS {
        for n in [0, max + 1, max + 1000, u32::MAX] {
            let e = build_err(with_threshold(field, n));
            assert_eq!(e.field(), field, "{field} = {n}");
            let msg = e.to_string();
            assert!(names_field(&msg, field), "{msg:?} does not name {field}");
            assert!(
                names_number(&msg, &n.to_string()),
                "{msg:?} does not name the value {n}"
            );
            assert!(
                names_number(&msg, &max.to_string()),
                "{msg:?} does not name the upper bound {max}"
            );
            assert!(
                names_number(&msg, "1"),
                "{msg:?} does not name the lower bound 1"
            );
        }
    }
}

#[test]
fn an_invalid_success_threshold_is_reported_as_such() {
    // half_open_max_calls defaults to the success threshold, but the error names the
    // field the user set.
    let e = build_err(Config::builder().success_threshold(0));
    assert_eq!(e.field(), "success_threshold");
    let e = build_err(Config::builder().success_threshold(Config::MAX_THRESHOLD + 1));
    assert_eq!(e.field(), "success_threshold");
}

#[test]
fn durations_accept_one_nanosecond_and_exactly_the_maximum() {
    for field in DURATION_FIELDS {
        for d in [
            Duration::from_nanos(1),
            Duration::from_secs(1),
            Config::MAX_DURATION,
        ] {
            let c = with_duration(field, d)
                .build()
                .unwrap_or_else(|e| panic!("{field} = {d:?} rejected: {e}"));
            assert_eq!(duration_of(&c, field), d, "{field}");
        }
    }
}

#[test]
fn durations_reject_zero() {
    for field in DURATION_FIELDS {
        let e = build_err(with_duration(field, Duration::ZERO));
        assert_eq!(e.field(), field);
        let msg = e.to_string();
        assert!(names_field(&msg, field), "{msg:?} does not name {field}");
        assert!(
            names_duration(&msg, Duration::ZERO),
            "{msg:?} does not name the value 0"
        );
        assert!(
            names_duration(&msg, Config::MAX_DURATION),
            "{msg:?} does not name the upper bound"
        );
    }
}

#[test]
fn durations_reject_above_the_maximum() {
    let over = [
        Config::MAX_DURATION + Duration::from_nanos(1),
        Config::MAX_DURATION + Duration::from_secs(1),
        Duration::from_secs(u64::MAX),
        Duration::MAX,
    ];
    for field in DURATION_FIELDS {
        for d in over {
            let e = build_err(with_duration(field, d));
            assert_eq!(e.field(), field, "{field} = {d:?}");
            let msg = e.to_string();
            assert!(names_field(&msg, field), "{msg:?} does not name {field}");
            assert!(
                names_duration(&msg, d),
                "{msg:?} does not name the value {d:?}"
            );
            assert!(
                names_duration(&msg, Config::MAX_DURATION),
                "{msg:?} does not name the upper bound"
            );
        }
    }
}

#[test]
fn config_error_is_a_std_error_and_comparable() {
    let a = build_err(Config::builder().failure_threshold(0));
    let b = build_err(Config::builder().failure_threshold(0));
    let c = build_err(Config::builder().failure_threshold(Config::MAX_THRESHOLD + 1));
    let d = build_err(Config::builder().timeout(Duration::ZERO));
    assert_eq!(a, b);
    assert_eq!(a.clone(), a);
    assert_ne!(a, c);
    assert_ne!(a, d);
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(a.clone());
    assert_eq!(boxed.to_string(), a.to_string());
    assert!(a.source().is_none());
    assert!(format!("{a:?}").contains("failure_threshold"));
}

#[test]
fn a_built_config_reaches_the_breaker() {
    let c = Config::builder()
        .failure_threshold(2)
        .success_threshold(3)
        .timeout(Duration::from_secs(7))
        .half_open_timeout(Duration::from_secs(4))
        .half_open_max_calls(5)
        .build()
        .expect("valid");
    let b = CircuitBreaker::with_config("cfg", c);
    assert_eq!(b.name(), "cfg");
    let got = b.config();
    assert_eq!(got.failure_threshold(), 2);
    assert_eq!(got.success_threshold(), 3);
    assert_eq!(got.timeout(), Duration::from_secs(7));
    assert_eq!(got.half_open_timeout(), Duration::from_secs(4));
    assert_eq!(got.half_open_max_calls(), 5);

    let d = CircuitBreaker::new(String::from("dflt"));
    assert_eq!(d.name(), "dflt");
    assert_eq!(d.config().failure_threshold(), 5);
    assert_eq!(d.config().half_open_max_calls(), 2);
}
