//! The `serde` feature: `Status`, `Metrics`, `State`, `Mode` and `Cause` as JSON, the way a
//! service exposes `Registry::statuses()` (see `examples/axum_service.rs`), and back.

use breakerbox::{Cause, Config, Mode, Registry, State, Status};

#[test]
fn statuses_round_trip_through_json() {
    let registry = Registry::new();
    let api = registry.get_or_create("api", Config::default());
    let _ = api.call(|| Ok::<_, ()>(()));
    let _ = api.call(|| Err::<(), _>(()));
    registry.get_or_create("db", Config::default()).force_open();

    let statuses = registry.statuses();
    let json = serde_json::to_value(&statuses).unwrap();
    assert_eq!(json[0]["name"], "api");
    assert_eq!(json[0]["state"], "closed");
    assert_eq!(json[0]["is_available"], true);
    assert_eq!(json[0]["mode"], "normal");
    assert_eq!(json[0]["metrics"]["total_calls"], 2);
    assert_eq!(json[0]["metrics"]["failed_calls"], 1);
    assert_eq!(json[0]["metrics"]["failure_rate"], serde_json::Value::Null);
    assert_eq!(json[1]["state"], "open");
    assert_eq!(json[1]["metrics"]["state_transitions"], 1);

    let back: Vec<Status> = serde_json::from_value(json).unwrap();
    assert_eq!(back, statuses);
}

#[test]
fn enums_use_their_as_str_names() {
    for state in [State::Closed, State::Open, State::HalfOpen] {
        assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        assert_eq!(
            serde_json::from_value::<State>(state.as_str().into()).unwrap(),
            state
        );
    }
    for mode in [Mode::Normal, Mode::Isolated, Mode::Disabled] {
        assert_eq!(serde_json::to_value(mode).unwrap(), mode.as_str());
    }
    for cause in [
        Cause::ConsecutiveFailures,
        Cause::HalfOpenExpired,
        Cause::ForceOpen,
    ] {
        assert_eq!(serde_json::to_value(cause).unwrap(), cause.as_str());
        assert_eq!(
            serde_json::from_value::<Cause>(cause.as_str().into()).unwrap(),
            cause
        );
    }
}
