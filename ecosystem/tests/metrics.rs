//! `breakerbox::metrics::export`: the series and labels of API.md, checked with
//! metrics-util's debugging recorder; and a recorder that counts every facade call proves
//! that the call path (calls, rejections, transitions, the tower layer) never touches it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Context;

use breakerbox::tower::CircuitBreakerLayer;
use breakerbox::{Config, Registry};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tower::{Layer, Service};

/// `(series, sorted labels)` -> value, from one export into a fresh debugging recorder.
type Snapshot = HashMap<(String, Vec<(String, String)>), DebugValue>;

fn export_into(recorder: &DebuggingRecorder, registry: &Registry) -> Snapshot {
    metrics::with_local_recorder(recorder, || breakerbox::metrics::export(registry));
    recorder
        .snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<_> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            ((key.name().to_owned(), labels), value)
        })
        .collect()
}

fn get<'a>(
    snapshot: &'a Snapshot,
    series: &str,
    labels: &[(&str, &str)],
) -> Option<&'a DebugValue> {
    let mut labels: Vec<_> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels.sort();
    snapshot.get(&(series.to_owned(), labels))
}

fn gauge(value: Option<&DebugValue>) -> f64 {
    match value {
        Some(DebugValue::Gauge(v)) => v.into_inner(),
        other => panic!("not a gauge: {other:?}"),
    }
}

fn counter(value: Option<&DebugValue>) -> u64 {
    match value {
        Some(DebugValue::Counter(v)) => *v,
        other => panic!("not a counter: {other:?}"),
    }
}

#[test]
fn every_series_with_its_labels() {
    let registry = Registry::new();
    let config = Config::builder().failure_threshold(2).build().unwrap();
    let api = registry.get_or_create("api", config);
    let _ = api.call(|| Ok::<_, ()>(()));
    for _ in 0..2 {
        let _ = api.call(|| Err::<(), _>(()));
    }
    let _ = api.call(|| Ok::<_, ()>(())); // rejected
    drop(
        registry
            .get_or_create("idle", Config::default())
            .try_acquire(),
    ); // ignored

    let recorder = DebuggingRecorder::new();
    let snap = export_into(&recorder, &registry);
    let calls = |name, outcome| {
        counter(get(
            &snap,
            "breakerbox_calls_total",
            &[("name", name), ("outcome", outcome)],
        ))
    };
    assert_eq!(
        [
            calls("api", "success"),
            calls("api", "failure"),
            calls("api", "ignored"),
            calls("api", "rejected")
        ],
        [1, 2, 0, 1]
    );
    assert_eq!(calls("idle", "ignored"), 1);
    assert_eq!(
        counter(get(
            &snap,
            "breakerbox_transitions_total",
            &[("name", "api")]
        )),
        1
    );
    assert_eq!(
        counter(get(
            &snap,
            "breakerbox_slow_calls_total",
            &[("name", "api")]
        )),
        0
    );
    let state = |name, state| {
        gauge(get(
            &snap,
            "breakerbox_state",
            &[("name", name), ("state", state)],
        ))
    };
    assert_eq!(
        [
            state("api", "closed"),
            state("api", "open"),
            state("api", "half_open")
        ],
        [0.0, 1.0, 0.0]
    );
    assert_eq!(
        [
            state("idle", "closed"),
            state("idle", "open"),
            state("idle", "half_open")
        ],
        [1.0, 0.0, 0.0]
    );
    // No window configured: the rates are unknown and not exported.
    assert!(get(&snap, "breakerbox_failure_rate", &[("name", "api")]).is_none());
    assert!(get(&snap, "breakerbox_slow_call_rate", &[("name", "api")]).is_none());
    // 4 calls + 1 slow + 1 transitions + 3 states, per breaker.
    assert_eq!(snap.len(), 2 * 9);
}

#[test]
fn repeated_exports_do_not_double_count_and_move_the_state_gauges() {
    let registry = Registry::new();
    let db = registry.get_or_create("db", Config::default());
    let _ = db.call(|| Ok::<_, ()>(()));
    let recorder = DebuggingRecorder::new();
    let first = export_into(&recorder, &registry);
    let second = export_into(&recorder, &registry);
    let success = [("name", "db"), ("outcome", "success")];
    assert_eq!(counter(get(&first, "breakerbox_calls_total", &success)), 1);
    assert_eq!(counter(get(&second, "breakerbox_calls_total", &success)), 1);

    db.force_open();
    let third = export_into(&recorder, &registry);
    let state = |s| {
        gauge(get(
            &third,
            "breakerbox_state",
            &[("name", "db"), ("state", s)],
        ))
    };
    assert_eq!(
        [state("closed"), state("open"), state("half_open")],
        [0.0, 1.0, 0.0]
    );
    db.reset();
    let fourth = export_into(&recorder, &registry);
    let state = |s| {
        gauge(get(
            &fourth,
            "breakerbox_state",
            &[("name", "db"), ("state", s)],
        ))
    };
    assert_eq!(
        [state("closed"), state("open"), state("half_open")],
        [1.0, 0.0, 0.0]
    );
}

/// Counts every call into the facade.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicUsize>);

impl Counting {
    fn count(&self) -> usize {
        // Relaxed: read after the work it counts, on the same thread.
        self.0.load(Ordering::Relaxed)
    }
    fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Recorder for Counting {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {
        self.bump();
    }
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {
        self.bump();
    }
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {
        self.bump();
    }
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        self.bump();
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        self.bump();
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        self.bump();
        Histogram::noop()
    }
}

#[test]
fn nothing_touches_the_facade_on_the_call_path() {
    let registry = Registry::new();
    let config = Config::builder().failure_threshold(3).build().unwrap();
    let breaker = registry.get_or_create("hot", config);
    let counting = Counting::default();
    metrics::with_local_recorder(&counting, || {
        for i in 0..1_000 {
            let _ = breaker.call(|| if i % 7 == 0 { Err(()) } else { Ok(()) });
        }
        let service = tower::service_fn(|n: u32| async move {
            if n % 2 == 0 {
                Ok(n)
            } else {
                Err("odd")
            }
        });
        let mut service = CircuitBreakerLayer::new(breaker.clone()).layer(service);
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        for n in 0..1_000 {
            let _ = service.poll_ready(&mut cx);
            let _ = futures::executor::block_on(service.call(n));
        }
        // Transitions too: a trip, a rejection, operator calls.
        for _ in 0..3 {
            let _ = breaker.call(|| Err::<(), _>(()));
        }
        assert!(breaker.call(|| Ok::<_, ()>(())).unwrap_err().is_rejected());
        breaker.reset();
        breaker.force_open();
        breaker.reset();
    });
    assert_eq!(breaker.metrics().state_transitions, 4);
    assert_eq!(
        counting.count(),
        0,
        "the call path wrote to the metrics facade"
    );

    // The recorder does see the export: that is the only writer.
    metrics::with_local_recorder(&counting, || breakerbox::metrics::export(&registry));
    assert!(counting.count() > 0);
}
