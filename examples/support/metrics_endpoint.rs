//! `--metrics-addr` of the demo: `GET /metrics` in the Prometheus text format, rendered by
//! hand from `Registry::global().statuses()` on a plain `std::net::TcpListener` thread, so
//! the demo needs no HTTP server, no runtime and no `metrics` crate. The series and labels
//! are those of `breakerbox::metrics::export` (feature `metrics`), which a real service
//! should use with its exporter of choice (see `ecosystem/examples/prometheus.rs`).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use breakerbox::{Registry, State, Status};

/// Binds `addr` (loopback only) and serves `/metrics` from a background thread for the rest
/// of the process; returns the bound address.
pub fn serve(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("--metrics-addr {addr}: only loopback addresses are served"),
        ));
    }
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("metrics-endpoint".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                // One scrape at a time is plenty for a demo; a stuck client is dropped.
                let _ = answer(stream);
            }
        })?;
    Ok(bound)
}

fn answer(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut request_line = String::new();
    let mut reader = BufReader::new(stream.try_clone()?);
    reader.read_line(&mut request_line)?;
    // Skip the headers.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let (status, body) = match request_line.split_whitespace().take(2).collect::<Vec<_>>()[..] {
        ["GET", "/metrics"] => ("200 OK", render(&Registry::global().statuses())),
        _ => ("404 Not Found", "try GET /metrics\n".to_owned()),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The exposition text of `statuses`, series as in `breakerbox::metrics::export`.
pub fn render(statuses: &[Status]) -> String {
    let mut out = String::new();
    let mut family =
        |name: &str, kind: &str, help: &str, samples: &mut dyn Iterator<Item = (String, f64)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        };
    let label = |s: &Status| format!("name=\"{}\"", escape(&s.name));
    family(
        "breakerbox_calls_total",
        "counter",
        "Calls through the breaker, by outcome (rejected: not admitted).",
        &mut statuses.iter().flat_map(|s| {
            let m = &s.metrics;
            [
                ("success", m.successful_calls),
                ("failure", m.failed_calls),
                ("ignored", m.ignored_calls),
                ("rejected", m.rejected_calls),
            ]
            .map(|(outcome, n)| (format!("{},outcome=\"{outcome}\"", label(s)), n as f64))
        }),
    );
    family(
        "breakerbox_slow_calls_total",
        "counter",
        "Calls slower than the breaker's slow_call_duration.",
        &mut statuses
            .iter()
            .map(|s| (label(s), s.metrics.slow_calls as f64)),
    );
    family(
        "breakerbox_transitions_total",
        "counter",
        "State changes of the breaker.",
        &mut statuses
            .iter()
            .map(|s| (label(s), s.metrics.state_transitions as f64)),
    );
    family(
        "breakerbox_state",
        "gauge",
        "1 for the breaker's current state, 0 for the other two.",
        &mut statuses.iter().flat_map(|s| {
            [State::Closed, State::Open, State::HalfOpen].map(|state| {
                let value = if state == s.state { 1.0 } else { 0.0 };
                (format!("{},state=\"{}\"", label(s), state.as_str()), value)
            })
        }),
    );
    family(
        "breakerbox_failure_rate",
        "gauge",
        "Failure rate over the breaker's sliding window, percent.",
        &mut statuses
            .iter()
            .filter_map(|s| s.metrics.failure_rate.map(|r| (label(s), r))),
    );
    family(
        "breakerbox_slow_call_rate",
        "gauge",
        "Slow-call rate over the breaker's sliding window, percent.",
        &mut statuses
            .iter()
            .filter_map(|s| s.metrics.slow_call_rate.map(|r| (label(s), r))),
    );
    out
}

/// A label value as the text format wants it: backslash, quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
