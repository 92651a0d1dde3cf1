//! `metrics::export`: a snapshot of a registry into the [`metrics`] facade (feature
//! `metrics`).

use ::metrics::{counter, describe_counter, describe_gauge, gauge, Unit};

use crate::{Registry, State};

/// Writes one snapshot of every breaker in `registry` into the [`metrics`] facade's
/// recorder: call it before a scrape, or on an interval. Nothing is written to the facade on
/// the call path; this is the only place breakerbox touches it.
///
/// Series, each labelled `name` (the breaker's):
///
/// | series | kind | labels, value |
/// | --- | --- | --- |
/// | `breakerbox_calls_total` | counter | `outcome` = `success`, `failure`, `ignored`, `rejected` |
/// | `breakerbox_slow_calls_total` | counter | calls slower than `slow_call_duration` |
/// | `breakerbox_transitions_total` | counter | state changes |
/// | `breakerbox_state` | gauge | `state` = `closed`, `open`, `half_open`: 1 for the effective state, 0 for the other two (all three are set every export, so no stale state stays at 1) |
/// | `breakerbox_failure_rate` | gauge | percent, only while known (`Metrics::failure_rate`) |
/// | `breakerbox_slow_call_rate` | gauge | percent, only while known (`Metrics::slow_call_rate`) |
///
/// Counters are set with `absolute` to the breaker's own totals, so exporting twice never
/// counts twice. A breaker removed from the registry is no longer exported; its last
/// values stay in the recorder until the recorder forgets them (e.g. the Prometheus
/// exporter's idle timeout).
///
/// # Examples
///
/// ```
/// use breakerbox::{Config, Registry};
///
/// let registry = Registry::new();
/// let api = registry.get_or_create("api", Config::default());
/// let _ = api.call(|| Ok::<_, ()>(()));
/// // With a recorder installed (e.g. metrics-exporter-prometheus), on an interval:
/// breakerbox::metrics::export(&registry);
/// ```
pub fn export(registry: &Registry) {
    describe();
    for status in registry.statuses() {
        let m = &status.metrics;
        let name = status.name;
        for (outcome, value) in [
            ("success", m.successful_calls),
            ("failure", m.failed_calls),
            ("ignored", m.ignored_calls),
            ("rejected", m.rejected_calls),
        ] {
            counter!("breakerbox_calls_total", "name" => name.clone(), "outcome" => outcome)
                .absolute(value);
        }
        counter!("breakerbox_slow_calls_total", "name" => name.clone()).absolute(m.slow_calls);
        counter!("breakerbox_transitions_total", "name" => name.clone())
            .absolute(m.state_transitions);
        for state in [State::Closed, State::Open, State::HalfOpen] {
            let value = if state == status.state { 1.0 } else { 0.0 };
            gauge!("breakerbox_state", "name" => name.clone(), "state" => state.as_str())
                .set(value);
        }
        if let Some(rate) = m.failure_rate {
            gauge!("breakerbox_failure_rate", "name" => name.clone()).set(rate);
        }
        if let Some(rate) = m.slow_call_rate {
            gauge!("breakerbox_slow_call_rate", "name" => name.clone()).set(rate);
        }
    }
}

/// The series' descriptions (Prometheus `# HELP` lines). Cheap, and repeated every export
/// so that a recorder installed after the first export still gets them.
fn describe() {
    describe_counter!(
        "breakerbox_calls_total",
        Unit::Count,
        "Calls through the breaker, by outcome (rejected: not admitted)."
    );
    describe_counter!(
        "breakerbox_slow_calls_total",
        Unit::Count,
        "Calls slower than the breaker's slow_call_duration."
    );
    describe_counter!(
        "breakerbox_transitions_total",
        Unit::Count,
        "State changes of the breaker."
    );
    describe_gauge!(
        "breakerbox_state",
        "1 for the breaker's current state, 0 for the other two."
    );
    describe_gauge!(
        "breakerbox_failure_rate",
        Unit::Percent,
        "Failure rate over the breaker's sliding window, percent."
    );
    describe_gauge!(
        "breakerbox_slow_call_rate",
        Unit::Percent,
        "Slow-call rate over the breaker's sliding window, percent."
    );
}
