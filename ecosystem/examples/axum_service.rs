//! An axum service that calls a flaky upstream through `CircuitBreakerLayer`, answers with a
//! fallback while the breaker is open, and serves every breaker's status as JSON (serde).
//!
//! ```text
//! cargo run -p breakerbox-ecosystem --example axum_service             # scripted, then exits
//! cargo run -p breakerbox-ecosystem --example axum_service -- --serve  # until Ctrl-C
//! curl -s http://127.0.0.1:PORT/quote; curl -s http://127.0.0.1:PORT/statuses
//! ```
//!
//! Routes:
//! * `GET /quote`: calls the upstream (a local server the example starts and scripts)
//!   through a hyper-util client stack with the breaker; an open breaker answers at once
//!   with a fallback quote and `Retry-After`.
//! * `GET /report`: a handler guarded on the server side with `route_layer` (5xx answers
//!   count as failures; an open breaker sheds the route with a 503).
//! * `GET /statuses`: `Registry::global().statuses()` as JSON.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use breakerbox::tower::{
    http_server_errors, CircuitBreakerLayer, CircuitBreakerService, HttpServerErrors,
};
use breakerbox::{Config, Error, Registry};
use breakerbox_ecosystem::{Behaviour, FlakyServer};
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::timeout::Timeout;
use tower::{ServiceBuilder, ServiceExt};

/// The upstream client stack: breaker over timeout over hyper-util's client.
/// (`HttpServerErrors` is `http_server_errors` as a type that can be written out.)
type Upstream =
    CircuitBreakerService<Timeout<Client<HttpConnector, Empty<Bytes>>>, HttpServerErrors>;

#[derive(Clone)]
struct App {
    upstream: Upstream,
    quote_url: http::Uri,
}

async fn quote(State(app): State<App>) -> Response {
    let req = http::Request::get(app.quote_url.clone())
        .body(Empty::new())
        .expect("a valid request");
    match app.upstream.oneshot(req).await {
        Ok(r) if r.status().is_success() => {
            (StatusCode::OK, "fresh quote: 42.00\n").into_response()
        }
        Ok(r) => (
            StatusCode::BAD_GATEWAY,
            format!("upstream answered {}\n", r.status()),
        )
            .into_response(),
        Err(Error::Inner(e)) => {
            (StatusCode::BAD_GATEWAY, format!("upstream failed: {e}\n")).into_response()
        }
        // The fallback: answer at once, from what we have, and say when to come back.
        Err(Error::Rejected(r)) => {
            let retry = r
                .retry_after()
                .unwrap_or(Duration::from_secs(1))
                .as_secs()
                .max(1);
            (
                StatusCode::OK,
                [(header::RETRY_AFTER, retry.to_string())],
                "cached quote: 41.50 (upstream breaker open)\n",
            )
                .into_response()
        }
    }
}

async fn statuses() -> Json<Vec<breakerbox::Status>> {
    Json(Registry::global().statuses())
}

/// A handler that fails while `REPORT_BROKEN` is set.
static REPORT_BROKEN: AtomicBool = AtomicBool::new(false);

async fn report() -> Result<&'static str, StatusCode> {
    // Relaxed: a demo switch.
    if REPORT_BROKEN.load(Ordering::Relaxed) {
        Err(StatusCode::INTERNAL_SERVER_ERROR)
    } else {
        Ok("report ready\n")
    }
}

/// Maps the guarded route's breaker error to a response: axum routes must not fail.
async fn shed(err: Error<Infallible>) -> Response {
    match err {
        Error::Rejected(r) => (StatusCode::SERVICE_UNAVAILABLE, format!("{r}\n")).into_response(),
        Error::Inner(never) => match never {},
    }
}

fn config() -> Config {
    Config::builder()
        .failure_threshold(3)
        .success_threshold(1)
        .timeout(Duration::from_secs(1))
        .build()
        .expect("valid settings")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let serve_forever = std::env::args().any(|a| a == "--serve");
    let upstream_server = FlakyServer::start().await?;

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let upstream = ServiceBuilder::new()
        .layer(
            CircuitBreakerLayer::new(Registry::global().get_or_create("quotes-upstream", config()))
                .classify(HttpServerErrors),
        )
        .timeout(Duration::from_millis(500))
        .service(client);
    let app = App {
        upstream,
        quote_url: upstream_server.url("/quote"),
    };

    let guard = Registry::global().get_or_create("report-handler", config());
    let router = Router::new()
        .route("/quote", get(quote))
        .route(
            "/report",
            get(report).route_layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(shed))
                    .layer(
                        CircuitBreakerLayer::new(guard)
                            .classify(http_server_errors::<Body, Infallible>),
                    ),
            ),
        )
        .route("/statuses", get(statuses))
        .with_state(app);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    println!("serving http://{addr} (/quote, /report, /statuses)");

    let fetch = |path: &'static str| async move {
        let (status, body) =
            breakerbox_ecosystem::get(format!("http://{addr}{path}").parse()?).await?;
        println!("  GET {path:<9} {status} {}", body.trim_end());
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(body)
    };

    println!("upstream healthy:");
    fetch("/quote").await?;
    println!("upstream failing: three 500s open the breaker, then the fallback answers at once:");
    upstream_server.set(Behaviour::Failing);
    for _ in 0..5 {
        fetch("/quote").await?;
    }
    println!("upstream back; after the 1 s open period a probe closes it:");
    upstream_server.set(Behaviour::Healthy);
    tokio::time::sleep(Duration::from_millis(1050)).await;
    fetch("/quote").await?;

    println!("a guarded route: its own 5xx open its breaker, which then sheds it:");
    REPORT_BROKEN.store(true, Ordering::Relaxed);
    for _ in 0..4 {
        fetch("/report").await?;
    }
    REPORT_BROKEN.store(false, Ordering::Relaxed);

    println!("statuses as JSON:");
    let json = fetch("/statuses").await?;
    let parsed: Vec<breakerbox::Status> = serde_json::from_str(&json)?;
    assert_eq!(parsed.len(), Registry::global().len());

    if serve_forever {
        println!("serving until Ctrl-C");
        tokio::signal::ctrl_c().await?;
    }
    server.abort();
    Ok(())
}
