//! An HTTP-client-style wrapper: a client struct owning an `Arc<CircuitBreaker>`.
//!
//! ```text
//! cargo run --example http_client
//! ```
//!
//! The point is error classification with `call_with`: a `404 Not Found` or a `400 Bad
//! Request` means the server is up and answered, so it must not count against the breaker,
//! while `5xx` answers and timeouts mean the server is in trouble. No network is used: the
//! server is simulated and scripted.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, Error, Metrics, StateChange};

/// A response from the (simulated) server.
#[derive(Debug, Clone)]
struct Response {
    status: u16,
    body: String,
}

/// What can go wrong with a request.
#[derive(Debug, Clone, PartialEq)]
enum HttpError {
    /// The server answered with an error status.
    Status(u16),
    /// No answer before the deadline.
    Timeout(Duration),
}

impl HttpError {
    /// Does this error say the server is unhealthy? 4xx: no, the request was wrong.
    fn is_server_failure(&self) -> bool {
        match self {
            HttpError::Status(code) => *code >= 500,
            HttpError::Timeout(_) => true,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Status(code) => write!(f, "HTTP {code}"),
            HttpError::Timeout(d) => write!(f, "timed out after {} ms", d.as_millis()),
        }
    }
}

impl std::error::Error for HttpError {}

/// How the simulated server answers its next request.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    Ok,
    NotFound,
    ServerError,
    Timeout,
}

/// A scripted server: answers with the queued behaviours, then `Ok` forever.
#[derive(Debug, Default)]
struct SimulatedServer {
    script: Mutex<VecDeque<Behaviour>>,
    requests: Mutex<u32>,
}

impl SimulatedServer {
    fn then(&self, behaviour: Behaviour, times: usize) {
        let mut script = self.script.lock().unwrap();
        for _ in 0..times {
            script.push_back(behaviour);
        }
    }

    fn handle(&self, path: &str) -> Result<Response, HttpError> {
        *self.requests.lock().unwrap() += 1;
        let next = self.script.lock().unwrap().pop_front();
        match next.unwrap_or(Behaviour::Ok) {
            Behaviour::Ok => Ok(Response {
                status: 200,
                body: format!("contents of {path}"),
            }),
            Behaviour::NotFound => Err(HttpError::Status(404)),
            Behaviour::ServerError => Err(HttpError::Status(503)),
            Behaviour::Timeout => Err(HttpError::Timeout(Duration::from_millis(500))),
        }
    }

    fn requests(&self) -> u32 {
        *self.requests.lock().unwrap()
    }
}

/// The client: every request goes through the breaker of its host.
struct HttpClient {
    breaker: Arc<CircuitBreaker>,
    server: SimulatedServer,
}

impl HttpClient {
    fn new(host: &str, config: Config) -> Self {
        let breaker = Arc::new(CircuitBreaker::with_config(host, config));
        breaker.on_state_change(|change: &StateChange| {
            println!(
                "        [breaker {}: {} -> {}]",
                change.name, change.from, change.to
            );
        });
        HttpClient {
            breaker,
            server: SimulatedServer::default(),
        }
    }

    /// `GET path`. 4xx errors come back to the caller but count as successes for the
    /// breaker (the server answered); 5xx and timeouts count as failures.
    fn get(&self, path: &str) -> Result<Response, Error<HttpError>> {
        self.breaker
            .call_with(HttpError::is_server_failure, || self.server.handle(path))
    }

    fn metrics(&self) -> Metrics {
        self.breaker.metrics()
    }
}

/// "breaker open, retry in 999 ms": a short text for a rejection.
fn rejection(r: &breakerbox::Rejected) -> String {
    match r.retry_after() {
        Some(wait) => format!("breaker {}, retry in {} ms", r.state(), wait.as_millis()),
        None => format!("breaker {}, no probe slot free", r.state()),
    }
}

fn show(client: &HttpClient, path: &str) {
    let result = client.get(path);
    let text = match &result {
        Ok(r) => format!("{} {}", r.status, r.body),
        Err(Error::Inner(e)) if e.is_server_failure() => format!("{e} (counts as a failure)"),
        Err(Error::Inner(e)) => format!("{e} (the server answered: not a failure)"),
        Err(Error::Rejected(r)) => format!("not sent: {}", rejection(r)),
    };
    let m = client.metrics();
    println!(
        "  GET {path:<14} {text:<48} state {:<9} streak {}",
        m.state.as_str(),
        m.consecutive_failures
    );
}

fn main() {
    let config = Config::builder()
        .failure_threshold(3)
        .success_threshold(2)
        .timeout(Duration::from_secs(1))
        .build()
        .expect("valid settings");
    let client = HttpClient::new("api.example.com", config);

    println!("client errors do not open the breaker:");
    client.server.then(Behaviour::NotFound, 4);
    for path in ["/users/1", "/users/2", "/users/3", "/users/4", "/users/5"] {
        show(&client, path);
    }
    assert_eq!(client.metrics().failed_calls, 0);

    println!("server errors and timeouts do:");
    client.server.then(Behaviour::ServerError, 2);
    client.server.then(Behaviour::Timeout, 1);
    for path in ["/orders", "/orders", "/orders"] {
        show(&client, path);
    }
    assert!(!client.breaker.is_available());

    println!("while open, requests are not sent:");
    let sent_before = client.server.requests();
    show(&client, "/orders");
    show(&client, "/health");
    assert_eq!(client.server.requests(), sent_before);

    println!("after the 1 s timeout, two good probes close it:");
    std::thread::sleep(Duration::from_millis(1050));
    show(&client, "/health");
    show(&client, "/orders");
    show(&client, "/orders");

    let m = client.metrics();
    println!(
        "metrics for {}: {} calls: {} ok (404s included), {} failed, {} rejected; \
         {} transitions; state {}",
        client.breaker.name(),
        m.total_calls,
        m.successful_calls,
        m.failed_calls,
        m.rejected_calls,
        m.state_transitions,
        m.state
    );
    assert_eq!(m.failed_calls, 3);
    assert_eq!(m.rejected_calls, 2);
}
