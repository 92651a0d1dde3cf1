//! Support shared by the ecosystem tests and examples (one copy, used by both):
//!
//! * [`FlakyServer`]: a real HTTP/1 server on `127.0.0.1:0` whose answers can be switched
//!   between healthy, not found (404), failing (500), slow and down (listener and connections closed), and
//!   that counts the TCP connections it accepted and the requests it answered.
//! * [`prometheus`]: the Prometheus endpoint of `examples/prometheus.rs`, a
//!   `metrics-exporter-prometheus` recorder rendered on `GET /metrics`, with
//!   `breakerbox::metrics::export` on an interval and before every scrape.
//! * [`get`]: a minimal one-shot HTTP GET for tests that scrape an endpoint.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// How [`FlakyServer`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// `200 OK`, body `ok`.
    Healthy,
    /// `404 Not Found`: the server answering a wrong request.
    NotFound,
    /// `500 Internal Server Error`.
    Failing,
    /// `200 OK` after the given delay.
    Slow(Duration),
}

#[derive(Debug)]
struct Shared {
    behaviour: Mutex<Behaviour>,
    // Relaxed everywhere: plain event counts, read after the awaited requests completed.
    connections: AtomicUsize,
    requests: AtomicUsize,
}

/// A real HTTP/1 server on loopback whose behaviour a test switches; see the crate docs.
///
/// It stops when dropped (its tasks are aborted), so a test that panics leaves nothing
/// running.
#[derive(Debug)]
pub struct FlakyServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl FlakyServer {
    /// Binds `127.0.0.1:0` and serves, healthy. Call inside a tokio runtime.
    pub async fn start() -> std::io::Result<FlakyServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            behaviour: Mutex::new(Behaviour::Healthy),
            connections: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(FlakyServer {
            addr,
            shared,
            task: Mutex::new(Some(task)),
        })
    }

    /// The address it listens on (always loopback).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> http::Uri {
        format!("http://{}{path}", self.addr)
            .parse()
            .expect("a valid URI")
    }

    /// Switches how the following requests are answered.
    pub fn set(&self, behaviour: Behaviour) {
        *self
            .shared
            .behaviour
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = behaviour;
    }

    /// Closes the listener and every open connection: connections are refused until
    /// [`up`](Self::up). Returns once the listener is closed (before that, the kernel would
    /// still complete handshakes into its backlog).
    pub async fn down(&self) {
        let task = self.task().take();
        if let Some(task) = task {
            // Aborting the accept loop drops the listener and its JoinSet of connections,
            // which aborts them all; awaiting it waits until the drop has happened.
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same address after [`down`](Self::down).
    pub async fn up(&self) -> std::io::Result<()> {
        if self.task().is_some() {
            return Ok(());
        }
        // The port was ours a moment ago; retry briefly in case the kernel lags.
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(e) if tries >= 50 => return Err(e),
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        };
        *self.task() = Some(tokio::spawn(accept_loop(
            listener,
            Arc::clone(&self.shared),
        )));
        Ok(())
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Requests answered (or being answered) so far.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::Relaxed)
    }

    fn task(&self) -> std::sync::MutexGuard<'_, Option<JoinHandle<()>>> {
        self.task.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for FlakyServer {
    fn drop(&mut self) {
        if let Some(task) = self.task().take() {
            task.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        shared.connections.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(&shared);
        let service = hyper::service::service_fn(move |req| answer(Arc::clone(&shared), req));
        connections.spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
}

async fn answer(
    shared: Arc<Shared>,
    _req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let behaviour = *shared
        .behaviour
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let (status, body) = match behaviour {
        Behaviour::Healthy => (StatusCode::OK, "ok"),
        Behaviour::NotFound => (StatusCode::NOT_FOUND, "no such thing"),
        Behaviour::Failing => (StatusCode::INTERNAL_SERVER_ERROR, "boom"),
        Behaviour::Slow(delay) => {
            tokio::time::sleep(delay).await;
            (StatusCode::OK, "ok, slowly")
        }
    };
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    Ok(response)
}

/// One HTTP/1 GET on a fresh connection: the status and the body as text.
pub async fn get(
    uri: http::Uri,
) -> Result<(StatusCode, String), Box<dyn std::error::Error + Send + Sync>> {
    let authority = uri.authority().ok_or("no authority")?.clone();
    let stream = tokio::net::TcpStream::connect(authority.as_str()).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);
    let req = Request::get(uri)
        .header(http::header::HOST, authority.as_str())
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(req).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    driver.abort();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

pub mod prometheus {
    //! The Prometheus endpoint of `examples/prometheus.rs` (and of `tests/prometheus.rs`).

    use std::net::SocketAddr;
    use std::time::Duration;

    use axum::routing::get;
    use axum::Router;
    use breakerbox::Registry;
    use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
    use tokio::net::TcpListener;
    use tokio::task::JoinHandle;

    /// Installs a Prometheus recorder as the process's global `metrics` recorder and returns
    /// the handle that renders it.
    ///
    /// # Panics
    ///
    /// If a global recorder is already installed.
    pub fn install_recorder() -> PrometheusHandle {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("no other global metrics recorder")
    }

    /// A running endpoint: `GET /metrics` on `addr`, exporting `registry` every `interval`
    /// and before every scrape. Stops when dropped.
    #[derive(Debug)]
    pub struct Endpoint {
        addr: SocketAddr,
        tasks: [JoinHandle<()>; 2],
    }

    impl Endpoint {
        /// Serves on `listener` (bind it on loopback). Call inside a tokio runtime.
        pub fn serve(
            listener: TcpListener,
            handle: PrometheusHandle,
            registry: &'static Registry,
            interval: Duration,
        ) -> std::io::Result<Endpoint> {
            let addr = listener.local_addr()?;
            let exporter = tokio::spawn(async move {
                let mut ticks = tokio::time::interval(interval);
                loop {
                    ticks.tick().await;
                    breakerbox::metrics::export(registry);
                }
            });
            let app = Router::new().route(
                "/metrics",
                get(move || {
                    let handle = handle.clone();
                    async move {
                        breakerbox::metrics::export(registry);
                        handle.render()
                    }
                }),
            );
            let server = tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            Ok(Endpoint {
                addr,
                tasks: [exporter, server],
            })
        }

        /// The address it serves on.
        pub fn addr(&self) -> SocketAddr {
            self.addr
        }
    }

    impl Drop for Endpoint {
        fn drop(&mut self) {
            for task in &self.tasks {
                task.abort();
            }
        }
    }
}
