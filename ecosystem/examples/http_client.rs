//! An HTTP client behind a breaker, against a real server on loopback that the example
//! starts itself and scripts: `404`s do not count, `5xx`, timeouts and refused connections
//! do; while open, requests are not sent (no TCP connection is made); after the open
//! period, probes close it again.
//!
//! ```text
//! cargo run -p breakerbox-ecosystem --example http_client
//! ```
//!
//! The client is a hyper-util legacy `Client` in a tower stack:
//! `CircuitBreakerLayer` (classifying with `http_server_errors`) over `tower::timeout`.

use std::sync::Arc;
use std::time::Duration;

use breakerbox::tower::{http_server_errors, CircuitBreakerLayer};
use breakerbox::{CircuitBreaker, Config, Error, StateChange};
use breakerbox_ecosystem::{Behaviour, FlakyServer};
use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let server = FlakyServer::start().await?;
    println!("upstream listening on http://{}", server.addr());

    let config = Config::builder()
        .failure_threshold(3)
        .success_threshold(2)
        .timeout(Duration::from_secs(1))
        .build()?;
    let breaker = Arc::new(CircuitBreaker::with_config("upstream", config));
    breaker.on_state_change(|change: &StateChange| {
        println!(
            "        [breaker {}: {} -> {} ({})]",
            change.name, change.from, change.to, change.cause
        );
    });

    // The client stack: breaker outside, timeout inside (a timeout is a failure).
    // No idle connections are kept, so every request that is sent opens a connection.
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http::<Empty<Bytes>>();
    let stack = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()).classify(http_server_errors))
        .timeout(Duration::from_millis(300))
        .service(client);

    let get = |path: &'static str| {
        let stack = stack.clone();
        let uri = server.url(path);
        let breaker = breaker.clone();
        async move {
            let req = Request::get(uri)
                .body(Empty::new())
                .expect("a valid request");
            let text = match stack.oneshot(req).await {
                Ok(r) if r.status().is_server_error() => {
                    format!("{} (counts as a failure)", r.status())
                }
                Ok(r) => format!("{} (the server answered)", r.status()),
                Err(Error::Rejected(r)) => format!(
                    "not sent: breaker {}, retry in {} ms",
                    r.state(),
                    r.retry_after().unwrap_or_default().as_millis()
                ),
                Err(Error::Inner(e)) => format!("{e} (counts as a failure)"),
            };
            println!(
                "  GET {path:<10} {text:<52} state {:<9}",
                breaker.state().as_str()
            );
        }
    };

    println!("client errors do not open the breaker:");
    server.set(Behaviour::NotFound);
    for _ in 0..4 {
        get("/users/9").await;
    }
    assert_eq!(breaker.metrics().failed_calls, 0);

    println!("server errors and timeouts do:");
    server.set(Behaviour::Failing);
    get("/orders").await;
    get("/orders").await;
    server.set(Behaviour::Slow(Duration::from_secs(5)));
    get("/orders").await;
    assert!(!breaker.is_available());

    println!("while open, requests are not sent:");
    let connections = server.connections();
    get("/orders").await;
    get("/health").await;
    assert_eq!(server.connections(), connections, "no connection was made");

    println!("after the 1 s open period, two good probes close it:");
    server.set(Behaviour::Healthy);
    tokio::time::sleep(Duration::from_millis(1050)).await;
    get("/health").await;
    get("/orders").await;

    println!("the server goes down: refused connections open it again:");
    server.down().await;
    for _ in 0..4 {
        get("/orders").await;
    }

    println!("it comes back; after the open period, probes close it:");
    server.up().await?;
    tokio::time::sleep(Duration::from_millis(1050)).await;
    get("/health").await;
    get("/orders").await;

    let m = breaker.metrics();
    println!(
        "{} calls: {} ok (404s included), {} failed, {} rejected; {} transitions; {} TCP connections; state {}",
        m.total_calls,
        m.successful_calls,
        m.failed_calls,
        m.rejected_calls,
        m.state_transitions,
        server.connections(),
        m.state
    );
    Ok(())
}
