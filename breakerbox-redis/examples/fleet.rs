//! One replica of a fleet, to run as several OS processes against one Redis server:
//!
//! ```sh
//! redis-server --save '' --appendonly no --port 6390 --bind 127.0.0.1 &
//! cargo run -p breakerbox-redis --example fleet -- --redis redis://127.0.0.1:6390 --replica 1 --seconds 6 --trip-at 2 &
//! cargo run -p breakerbox-redis --example fleet -- --redis redis://127.0.0.1:6390 --replica 2 --seconds 6
//! ```
//!
//! Each replica drives one breaker named `upstream` with a successful call every 10 ms; with
//! `--trip-at S` it records failures from second S until its breaker opens. It prints exactly
//! one line per state change of its breaker on stdout:
//!
//! ```text
//! replica=1 breaker=upstream from=closed to=open origin=local
//! replica=2 breaker=upstream from=closed to=open origin=remote
//! ```
//!
//! and exits 0 after `--seconds N`, also when the Redis server died meanwhile. The breaker
//! opens for `--open-secs` (default 2) after 3 consecutive failures. The fleet's counters go
//! to stderr at the end.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use breakerbox::{Cause, Config, Registry, State};
use breakerbox_redis::{Fleet, FleetConfig};

struct Args {
    redis: String,
    replica: String,
    seconds: f64,
    trip_at: Option<f64>,
    open_secs: f64,
}

const USAGE: &str =
    "usage: fleet --redis URL --replica ID --seconds N [--trip-at S] [--open-secs T]";

fn parse() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut redis, mut replica, mut seconds, mut trip_at, mut open_secs) =
        (None, None, None, None, 2.0);
    let number = |v: Option<String>, flag: &str| -> Result<f64, String> {
        v.and_then(|v| v.parse::<f64>().ok())
            .filter(|n| n.is_finite() && *n >= 0.0 && *n < 86_400.0)
            .ok_or_else(|| format!("{flag} needs a number of seconds"))
    };
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--redis" => redis = args.next(),
            "--replica" => replica = args.next(),
            "--seconds" => seconds = Some(number(args.next(), "--seconds")?),
            "--trip-at" => trip_at = Some(number(args.next(), "--trip-at")?),
            "--open-secs" => open_secs = number(args.next(), "--open-secs")?.max(0.01),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Args {
        redis: redis.ok_or(USAGE)?,
        replica: replica.ok_or(USAGE)?,
        seconds: seconds.ok_or(USAGE)?,
        trip_at,
        open_secs,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let registry = Arc::new(Registry::new());
    let config = Config::builder()
        .failure_threshold(3)
        .success_threshold(1)
        .timeout(Duration::from_secs_f64(args.open_secs))
        .build()
        .expect("valid breaker config");
    let upstream = registry.get_or_create("upstream", config);
    let id = args.replica.clone();
    upstream.on_state_change(move |change| {
        let origin = if change.cause == Cause::Remote {
            "remote"
        } else {
            "local"
        };
        println!(
            "replica={id} breaker={} from={} to={} origin={origin}",
            change.name,
            change.from.as_str(),
            change.to.as_str()
        );
    });
    let fleet_config =
        FleetConfig::new(args.redis.as_str(), "fleet-example", args.replica.as_str())
            .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(500))
            .op_timeout(Duration::from_millis(500));
    let fleet = match Fleet::attach(Arc::clone(&registry), fleet_config) {
        Ok(fleet) => fleet,
        Err(e) => {
            eprintln!("fleet: {e}");
            return ExitCode::from(2);
        }
    };

    let start = Instant::now();
    let end = Duration::from_secs_f64(args.seconds);
    let mut failing_done = false;
    while start.elapsed() < end {
        let failing = !failing_done
            && args
                .trip_at
                .is_some_and(|s| start.elapsed() >= Duration::from_secs_f64(s));
        if failing && upstream.state() == State::Open {
            failing_done = true;
        }
        let _ = upstream.call(|| {
            if failing {
                Err("upstream down")
            } else {
                Ok(())
            }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    eprintln!("replica={} {:?}", args.replica, fleet.stats());
    let _ = tokio::time::timeout(Duration::from_secs(2), fleet.shutdown()).await;
    ExitCode::SUCCESS
}
