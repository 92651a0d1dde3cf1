//! The `tracing` feature: one event per transition, from the thread that made it, target
//! `breakerbox`, fields name / from / to / cause, WARN on open and INFO otherwise; nothing
//! per call or per rejection. Captured with a subscriber that records every event.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breakerbox::{quanta, CircuitBreaker, Config, State};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

#[derive(Clone, Debug, PartialEq)]
struct Captured {
    target: String,
    level: Level,
    fields: BTreeMap<String, String>,
}

impl Captured {
    fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

impl Capture {
    fn take(&self) -> Vec<Captured> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(Captured {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            fields,
        });
    }
}

/// Runs `f` with a capturing subscriber as this thread's default; returns what it caught.
fn capture(f: impl FnOnce()) -> Vec<Captured> {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    tracing::subscriber::with_default(subscriber, f);
    capture.take()
}

fn config() -> Config {
    Config::builder()
        .failure_threshold(2)
        .success_threshold(1)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[test]
fn one_event_per_transition_warn_on_open_info_otherwise() {
    let (clock, mock) = quanta::Clock::mock();
    let breaker = CircuitBreaker::with_clock("tracing::cycle", config(), clock);
    let events = capture(|| {
        let _ = breaker.call(|| Ok::<_, ()>(()));
        for _ in 0..2 {
            let _ = breaker.call(|| Err::<(), _>(()));
        }
        for _ in 0..5 {
            assert!(breaker.call(|| Ok::<_, ()>(())).unwrap_err().is_rejected());
        }
        mock.increment(Duration::from_secs(10));
        let _ = breaker.call(|| Ok::<_, ()>(())); // the probe: half-open, then closed
    });
    let seen: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.level,
                e.field("from").to_owned(),
                e.field("to").to_owned(),
                e.field("cause").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                Level::WARN,
                "closed".into(),
                "open".into(),
                "consecutive_failures".into()
            ),
            (
                Level::INFO,
                "open".into(),
                "half_open".into(),
                "open_period_ended".into()
            ),
            (
                Level::INFO,
                "half_open".into(),
                "closed".into(),
                "probes_succeeded".into()
            ),
        ]
    );
    for e in &events {
        assert_eq!(e.target, "breakerbox");
        assert_eq!(e.field("name"), "tracing::cycle");
    }
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn calls_and_rejections_emit_nothing() {
    let breaker = CircuitBreaker::with_config("tracing::quiet", config());
    breaker.force_open();
    let events = capture(|| {
        for _ in 0..100 {
            let _ = breaker.call(|| Ok::<_, ()>(()));
        }
    });
    assert!(events.is_empty(), "{events:?}");
    let closed = CircuitBreaker::new("tracing::quiet_closed");
    let events = capture(|| {
        for i in 0..100 {
            let _ = closed.call(|| if i % 3 == 0 { Err(()) } else { Ok(()) });
        }
    });
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn operator_transitions_carry_their_cause_and_need_no_listener() {
    let breaker = CircuitBreaker::new("tracing::operator");
    let events = capture(|| {
        breaker.force_open();
        breaker.force_open(); // already open: no transition, no event
        breaker.reset();
    });
    let seen: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.level,
                e.field("to").to_owned(),
                e.field("cause").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (Level::WARN, "open".into(), "force_open".into()),
            (Level::INFO, "closed".into(), "reset".into()),
        ]
    );
}

#[test]
fn the_event_comes_from_the_thread_that_made_the_transition() {
    let breaker = Arc::new(CircuitBreaker::with_config("tracing::threads", config()));
    let other = Arc::clone(&breaker);
    let mut theirs = Vec::new();
    let ours = capture(|| {
        theirs = std::thread::spawn(move || {
            capture(|| {
                for _ in 0..2 {
                    let _ = other.call(|| Err::<(), _>(()));
                }
            })
        })
        .join()
        .unwrap();
    });
    assert!(ours.is_empty(), "{ours:?}");
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].field("to"), "open");
}
