//! The README's "Using it in a service" snippets, compiled and run: each region between
//! `// README: <name>` and `// README: end` is the README's code block of that name, word
//! for word (`tests/readme.rs` checks that they match).
//!
//! ```text
//! cargo run -p breakerbox-ecosystem --example readme
//! ```

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

async fn report() -> &'static str {
    "report ready\n"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let hyper_util_client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();

    // README: tower
    use axum::{error_handling::HandleErrorLayer, http::StatusCode, routing::get, Router};
    use breakerbox::tower::{http_server_errors, CircuitBreakerLayer};
    use breakerbox::{Config, Error, Registry};
    use std::convert::Infallible;
    use tower::ServiceBuilder;

    // A client: the breaker outside, a timeout inside (a timeout counts as a failure).
    let upstream = Registry::global().get_or_create("upstream", Config::default());
    let client = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(upstream).classify(http_server_errors))
        .timeout(Duration::from_secs(2))
        .service(hyper_util_client);

    // A route guarded on the server side: its 5xx count, an open breaker sheds it (503).
    let reports = Registry::global().get_or_create("report", Config::default());
    let guard = CircuitBreakerLayer::new(reports);
    let app: Router = Router::new().route(
        "/report",
        get(report).route_layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|e: Error<Infallible>| async move {
                    (StatusCode::SERVICE_UNAVAILABLE, e.to_string())
                }))
                .layer(guard.classify(http_server_errors)),
        ),
    );
    // README: end

    // README: tracing
    // features = ["tracing"]: one event per transition, target "breakerbox".
    tracing_subscriber::fmt().init();
    // WARN breakerbox: circuit breaker opened name="upstream" from="closed" to="open" ...
    // README: end

    // README: prometheus
    // features = ["metrics"], with any `metrics` exporter, e.g. metrics-exporter-prometheus:
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    // On an interval, or in the /metrics handler before rendering:
    breakerbox::metrics::export(breakerbox::Registry::global());
    let text = handle.render(); // breakerbox_calls_total{name="...",outcome="..."} ...
                                // README: end

    // Run both: the client against a local server, the app on loopback.
    let server = breakerbox_ecosystem::FlakyServer::start().await?;
    let req = http::Request::get(server.url("/")).body(Empty::new())?;
    let response = tower::ServiceExt::oneshot(client, req)
        .await
        .map_err(|e| e.to_string())?;
    println!("client: {}", response.status());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let serving = tokio::spawn(async move { axum::serve(listener, app).await });
    let (status, body) =
        breakerbox_ecosystem::get(format!("http://{addr}/report").parse()?).await?;
    println!("app: {status} {}", body.trim_end());
    serving.abort();

    // A transition: logged by the subscriber, then seen by the next export.
    breakerbox::Registry::global()
        .get("upstream")
        .unwrap()
        .force_open();
    breakerbox::metrics::export(breakerbox::Registry::global());
    let states = handle.render();
    let states: Vec<_> = states
        .lines()
        .filter(|l| l.starts_with("breakerbox_state"))
        .collect();
    println!(
        "first render: {} lines; now:\n{}",
        text.lines().count(),
        states.join("\n")
    );
    Ok(())
}
