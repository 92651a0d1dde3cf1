//! Scrapes the Prometheus endpoint of `examples/prometheus.rs` (the same code, from the
//! support crate) over real HTTP on loopback and checks the exposition text: every series
//! present, and the state gauges right after a trip and after a reset.
//!
//! One test in this binary: it installs the process's global `metrics` recorder.

use std::time::Duration;

use breakerbox::{Config, Registry};
use breakerbox_ecosystem::prometheus::{install_recorder, Endpoint};

/// The sample value of the line `series{labels...}` whose labels include all of `labels`.
fn sample(text: &str, series: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (head, value) = line.rsplit_once(' ')?;
            let (name, rest) = head.split_once('{').unwrap_or((head, ""));
            let all = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            (name == series && all).then(|| value.parse().ok())?
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_serves_every_series_and_the_state_after_a_trip() {
    tokio::time::timeout(Duration::from_secs(30), scenario())
        .await
        .expect("finishes in time");
}

async fn scenario() {
    let handle = install_recorder();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    // A long interval: the scrape itself exports, which is what this test relies on.
    let endpoint = Endpoint::serve(
        listener,
        handle,
        Registry::global(),
        Duration::from_secs(3600),
    )
    .unwrap();
    let url: http::Uri = format!("http://{}/metrics", endpoint.addr())
        .parse()
        .unwrap();

    let config = Config::builder().failure_threshold(2).build().unwrap();
    let orders = Registry::global().get_or_create("prom::orders", config);
    let stock = Registry::global().get_or_create("prom::stock", Config::default());
    for _ in 0..5 {
        let _ = stock.call(|| Ok::<_, ()>(()));
    }
    let _ = orders.call(|| Ok::<_, ()>(()));
    for _ in 0..2 {
        let _ = orders.call(|| Err::<(), _>(()));
    }
    for _ in 0..3 {
        assert!(orders.call(|| Ok::<_, ()>(())).unwrap_err().is_rejected());
    }

    let (status, text) = breakerbox_ecosystem::get(url.clone()).await.unwrap();
    assert_eq!(status, 200);
    for series in [
        "breakerbox_calls_total",
        "breakerbox_slow_calls_total",
        "breakerbox_transitions_total",
        "breakerbox_state",
    ] {
        assert!(
            text.contains(&format!("# TYPE {series} ")),
            "{series} missing:\n{text}"
        );
    }
    let orders_state = |text: &str, s| {
        sample(
            text,
            "breakerbox_state",
            &[("name", "prom::orders"), ("state", s)],
        )
    };
    assert_eq!(orders_state(&text, "open"), Some(1.0), "{text}");
    assert_eq!(orders_state(&text, "closed"), Some(0.0));
    assert_eq!(orders_state(&text, "half_open"), Some(0.0));
    let calls = |text: &str, name, outcome| {
        sample(
            text,
            "breakerbox_calls_total",
            &[("name", name), ("outcome", outcome)],
        )
    };
    assert_eq!(calls(&text, "prom::orders", "rejected"), Some(3.0));
    assert_eq!(calls(&text, "prom::orders", "failure"), Some(2.0));
    assert_eq!(calls(&text, "prom::stock", "success"), Some(5.0));
    assert_eq!(
        sample(
            &text,
            "breakerbox_transitions_total",
            &[("name", "prom::orders")]
        ),
        Some(1.0)
    );

    // Reset: the next scrape moves the gauges, and the counters do not double.
    orders.reset();
    let (_, text) = breakerbox_ecosystem::get(url).await.unwrap();
    assert_eq!(orders_state(&text, "closed"), Some(1.0), "{text}");
    assert_eq!(orders_state(&text, "open"), Some(0.0));
    assert_eq!(calls(&text, "prom::orders", "rejected"), Some(3.0));
    assert_eq!(calls(&text, "prom::stock", "success"), Some(5.0));
}
