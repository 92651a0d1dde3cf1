//! End to end over real HTTP on loopback: a hyper-util client stack behind
//! `CircuitBreakerLayer` + `http_server_errors` + `tower::timeout`, against a server that is
//! switched healthy / failing (500) / slow / down. The breaker trips on 5xx, timeouts and
//! refused connections, rejects without making a TCP connection while open, probes and
//! recovers. The breaker's clock is mocked, so no test waits out an open period; the whole
//! test is bounded by a timeout and its server stops with it.

use std::sync::Arc;
use std::time::Duration;

use breakerbox::tower::{http_server_errors, CircuitBreakerLayer};
use breakerbox::{quanta, CircuitBreaker, Config, Error, State};
use breakerbox_ecosystem::{Behaviour, FlakyServer};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

const OPEN_FOR: Duration = Duration::from_secs(30);
const CLIENT_TIMEOUT: Duration = Duration::from_millis(250);

/// What one request through the stack came to.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Status(StatusCode),
    TimedOut,
    Refused,
    Rejected,
}

async fn send<S>(client: &mut S, server: &FlakyServer) -> Got
where
    S: Service<Request<Empty<Bytes>>, Response = Response<Incoming>, Error = Error<BoxError>>,
{
    let req = Request::get(server.url("/")).body(Empty::new()).unwrap();
    match client.ready().await {
        Ok(client) => match client.call(req).await {
            Ok(response) => Got::Status(response.status()),
            Err(Error::Rejected(_)) => Got::Rejected,
            Err(Error::Inner(e)) if e.is::<tower::timeout::error::Elapsed>() => Got::TimedOut,
            Err(Error::Inner(e)) => {
                let e = e
                    .downcast::<hyper_util::client::legacy::Error>()
                    .expect("a client error");
                assert!(e.is_connect(), "{e:?}");
                Got::Refused
            }
        },
        Err(e) => panic!("poll_ready failed: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trips_on_5xx_rejects_without_connecting_probes_and_recovers() {
    tokio::time::timeout(Duration::from_secs(60), scenario())
        .await
        .expect("the scenario finishes in time");
}

async fn scenario() {
    let server = FlakyServer::start().await.unwrap();
    let (clock, mock) = quanta::Clock::mock();
    let config = Config::builder()
        .failure_threshold(3)
        .success_threshold(2)
        .timeout(OPEN_FOR)
        .build()
        .unwrap();
    let breaker = Arc::new(CircuitBreaker::with_clock("http::upstream", config, clock));

    // No idle pool: every request that reaches the network opens its own TCP connection,
    // so the server's accepted-connection count is the number of requests that left.
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http::<Empty<Bytes>>();
    let mut stack = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()).classify(http_server_errors))
        .timeout(CLIENT_TIMEOUT)
        .service(client);

    // Healthy.
    for _ in 0..3 {
        assert_eq!(send(&mut stack, &server).await, Got::Status(StatusCode::OK));
    }
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(server.connections(), 3);

    // 500s: three in a row trip it; the 500 responses are handed back as they came.
    server.set(Behaviour::Failing);
    for _ in 0..3 {
        assert_eq!(
            send(&mut stack, &server).await,
            Got::Status(StatusCode::INTERNAL_SERVER_ERROR)
        );
    }
    assert_eq!(breaker.state(), State::Open);

    // Open: rejected, and nothing leaves the process.
    let (connections, requests) = (server.connections(), server.requests());
    for _ in 0..50 {
        assert_eq!(send(&mut stack, &server).await, Got::Rejected);
    }
    assert_eq!(
        server.connections(),
        connections,
        "no TCP connection while open"
    );
    assert_eq!(server.requests(), requests);
    assert_eq!(breaker.metrics().rejected_calls, 50);

    // The open period ends; the server is healthy again: two probes close it.
    server.set(Behaviour::Healthy);
    mock.increment(OPEN_FOR);
    assert_eq!(breaker.state(), State::HalfOpen);
    for _ in 0..2 {
        assert_eq!(send(&mut stack, &server).await, Got::Status(StatusCode::OK));
    }
    assert_eq!(breaker.state(), State::Closed);

    // Slow: the client's timeout fires, and each timeout is a failure.
    server.set(Behaviour::Slow(Duration::from_secs(30)));
    for _ in 0..3 {
        assert_eq!(send(&mut stack, &server).await, Got::TimedOut);
    }
    assert_eq!(breaker.state(), State::Open);

    // Down: the probe's connection is refused, which reopens the breaker.
    server.down().await;
    server.set(Behaviour::Healthy);
    mock.increment(OPEN_FOR);
    let connections = server.connections();
    assert_eq!(send(&mut stack, &server).await, Got::Refused);
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(server.connections(), connections);
    assert_eq!(send(&mut stack, &server).await, Got::Rejected);

    // Back up: the next probes get through and close it.
    server.up().await.unwrap();
    mock.increment(OPEN_FOR);
    for _ in 0..2 {
        assert_eq!(send(&mut stack, &server).await, Got::Status(StatusCode::OK));
    }
    assert_eq!(breaker.state(), State::Closed);

    let m = breaker.metrics();
    assert_eq!(m.total_calls, 3 + 3 + 50 + 2 + 3 + 1 + 1 + 2);
    assert_eq!(m.failed_calls, 3 + 3 + 1);
    assert_eq!(m.rejected_calls, 51);
    assert_eq!(
        m.total_calls,
        m.successful_calls + m.failed_calls + m.ignored_calls + m.rejected_calls
    );
}
