//! A Prometheus endpoint for breakerbox: `metrics-exporter-prometheus` as the `metrics`
//! recorder, `GET /metrics` on loopback, `breakerbox::metrics::export` every second (and
//! before every scrape), and a few breakers under load, one of which trips and recovers.
//!
//! ```text
//! cargo run -p breakerbox-ecosystem --example prometheus             # 20 s on 127.0.0.1:9464
//! cargo run -p breakerbox-ecosystem --example prometheus -- --seconds 0 --addr 127.0.0.1:0
//! curl -s http://127.0.0.1:9464/metrics | grep breakerbox_
//! ```
//!
//! `--seconds 0` runs until Ctrl-C. The address must be a loopback one.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breakerbox::{Config, Registry};
use breakerbox_ecosystem::prometheus::{install_recorder, Endpoint};

fn parse() -> Result<(SocketAddr, u64), String> {
    let mut addr: SocketAddr = "127.0.0.1:9464".parse().unwrap();
    let mut seconds = 20;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--addr" => addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--seconds" => seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            other => {
                return Err(format!(
                    "unknown argument {other:?} (--addr A, --seconds N)"
                ))
            }
        }
    }
    if !addr.ip().is_loopback() {
        return Err(format!("--addr {addr}: only loopback addresses are served"));
    }
    Ok((addr, seconds))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (addr, seconds) = parse()?;
    let handle = install_recorder();
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let endpoint = Endpoint::serve(listener, handle, Registry::global(), Duration::from_secs(1))?;
    println!("serving http://{}/metrics", endpoint.addr());

    let stop = Arc::new(AtomicBool::new(false));
    let config = |threshold| {
        Config::builder()
            .failure_threshold(threshold)
            .timeout(Duration::from_secs(3))
            .build()
            .unwrap()
    };
    // Three breakers: a healthy one, one failing 1 call in 10, and one whose dependency
    // goes down for a while every 10 s (it trips, rejects, probes and recovers).
    let mut load = Vec::new();
    for (name, threshold) in [("catalog", 5), ("search", 5), ("payments", 3)] {
        let breaker = Registry::global().get_or_create(name, config(threshold));
        let stop = Arc::clone(&stop);
        load.push(tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let mut i = 0_u64;
            // Relaxed: a stop flag; the loop only needs to see it eventually.
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let elapsed = started.elapsed().as_secs();
                let ok = match name {
                    "search" => i % 10 != 0,
                    "payments" => elapsed % 10 >= 4,
                    _ => true,
                };
                let _ = breaker.call(|| if ok { Ok(()) } else { Err("dependency down") });
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }

    if seconds == 0 {
        tokio::signal::ctrl_c().await?;
    } else {
        tokio::time::sleep(Duration::from_secs(seconds)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await?;
    }
    let (_, text) =
        breakerbox_ecosystem::get(format!("http://{}/metrics", endpoint.addr()).parse()?).await?;
    println!("last scrape:");
    let mut lines: Vec<_> = text
        .lines()
        .filter(|l| l.starts_with("breakerbox_state") || l.starts_with("breakerbox_calls_total"))
        .collect();
    lines.sort_unstable();
    for line in lines {
        println!("  {line}");
    }
    Ok(())
}
