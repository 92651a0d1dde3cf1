//! A live tour of breakerbox: four simulated services behind named breakers.
//!
//! ```text
//! cargo run --release --example demo                  # about 10 seconds
//! cargo run --release --example demo -- --seconds 3 --threads 2
//! cargo run --release --example demo -- --help
//! cargo run --release --example demo -- --metrics-addr 127.0.0.1:9464  # + GET /metrics
//! ```
//!
//! The services:
//!
//! * `payments`: healthy; about 1 call in 100 fails, never enough in a row to open the breaker.
//! * `recommendations`: flaky; about 30% of calls fail at random all along, which its
//!   failure-*rate* breaker (the last 50 calls, open at 50 %, judged once 20 were seen)
//!   tolerates; from 20% to 40% of the run 70% fail, the rate crosses 50 % and it opens.
//! * `inventory`: down from 15% to 50% of the run (every call fails fast), then healthy.
//!   Its breaker opens, probes while the service is still down and reopens for longer each
//!   time (exponential backoff with jitter: 0.25 s, 0.5 s, 1 s, 2 s ...), then closes.
//! * `search`: slow. Each call has a 25 ms deadline; from 55% to 80% of the run most calls
//!   take longer and count as failures (timeouts). This one uses the guard API
//!   (`try_acquire` → `Permit::success` / `Permit::failure`) instead of `call`.
//!
//! Every breaker lives in the global registry; worker threads call the services, a display
//! thread prints the registry's status table twice a second, and `on_state_change` listeners
//! print each transition as it happens. On a terminal the table is redrawn in place; when the
//! output goes to a file or a pipe it is printed as plain text every two seconds instead.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use breakerbox::{
    Backoff, Cause, CircuitBreaker, Config, Error, Registry, StateChange, Status, Window,
};

// `--metrics-addr`: a Prometheus endpoint with no extra dependency.
#[path = "support/metrics_endpoint.rs"]
mod metrics_endpoint;

const USAGE_LINE: &str =
    "Usage: cargo run --release --example demo -- [--seconds N] [--threads N] [--metrics-addr A]";

const USAGE: &str = "\
Usage: cargo run --release --example demo -- [--seconds N] [--threads N] [--metrics-addr A]

Runs simulated services behind circuit breakers and shows their states live.

Options:
  --seconds N   how long to run, 1..=3600 (default 10)
  --threads N   worker threads calling the services, 1..=64 (default 4)
  --metrics-addr 127.0.0.1:PORT
                serve GET /metrics (Prometheus text) there while it runs (loopback only)
  -h, --help    print this help";

/// Command-line settings.
#[derive(Debug)]
struct Args {
    seconds: u64,
    threads: usize,
    metrics_addr: Option<std::net::SocketAddr>,
}

/// What the command line asked for.
enum Parsed {
    Run(Args),
    Help,
}

/// Parses `std::env::args` by hand: `--name N` and `--name=N` are both accepted.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut parsed = Args {
        seconds: 10,
        threads: 4,
        metrics_addr: None,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--metrics-addr" => {
                let value = inline
                    .or_else(|| args.next())
                    .ok_or("--metrics-addr needs a value")?;
                let addr: std::net::SocketAddr = value
                    .parse()
                    .map_err(|_| format!("--metrics-addr needs IP:PORT, got {value:?}"))?;
                if !addr.ip().is_loopback() {
                    return Err(format!(
                        "--metrics-addr must be a loopback address, got {addr}"
                    ));
                }
                parsed.metrics_addr = Some(addr);
            }
            "--seconds" | "--threads" => {
                let value = match inline.or_else(|| args.next()) {
                    Some(value) => value,
                    None => return Err(format!("{flag} needs a value")),
                };
                let (low, high) = if flag == "--seconds" {
                    (1, 3600)
                } else {
                    (1, 64)
                };
                let n: u64 = value.trim().parse().map_err(|_| {
                    format!("{flag} needs a whole number from {low} to {high}, got {value:?}")
                })?;
                if !(low..=high).contains(&n) {
                    return Err(format!("{flag} must be from {low} to {high}, got {n}"));
                }
                if flag == "--seconds" {
                    parsed.seconds = n;
                } else {
                    parsed.threads = n as usize;
                }
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(Parsed::Run(parsed))
}

/// A tiny xorshift64* generator: enough randomness for a simulation, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // Mix the seed so that seeds 1, 2, 3… do not start with similar streams; never zero.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// A whole number in `low..=high`.
    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }
}

/// The errors the simulated services return.
#[derive(Debug)]
enum ServiceError {
    /// The service answered with an error.
    Failed,
    /// The service did not answer at all.
    Unreachable,
    /// The call took longer than its deadline.
    TimedOut(Duration),
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceError::Failed => f.write_str("internal error"),
            ServiceError::Unreachable => f.write_str("connection refused"),
            ServiceError::TimedOut(d) => write!(f, "timed out after {} ms", d.as_millis()),
        }
    }
}

/// The simulated services; see the module docs.
#[derive(Clone, Copy, Debug)]
enum Service {
    Payments,
    Recommendations,
    Inventory,
    Search,
}

const SERVICES: [Service; 4] = [
    Service::Payments,
    Service::Recommendations,
    Service::Inventory,
    Service::Search,
];

/// The deadline of one `search` call.
const SEARCH_DEADLINE: Duration = Duration::from_millis(25);

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Payments => "payments",
            Service::Recommendations => "recommendations",
            Service::Inventory => "inventory",
            Service::Search => "search",
        }
    }

    /// Each breaker's settings: short timeouts so the whole cycle fits in a few seconds.
    fn config(self) -> Config {
        let builder = Config::builder()
            .timeout(Duration::from_secs(1))
            .half_open_timeout(Duration::from_secs(2));
        let builder = match self {
            Service::Payments => builder.failure_threshold(5).success_threshold(2),
            // A rate breaker: random failures at 30 % never trip it; a spell at 70 % does.
            Service::Recommendations => builder
                .sliding_window(Window::Calls(50))
                .failure_rate_threshold(50.0)
                .minimum_calls(20)
                .success_threshold(2),
            // Each failed probe doubles the next open period, up to 4 s, +-10 % jitter.
            Service::Inventory => builder
                .failure_threshold(3)
                .success_threshold(3)
                .timeout(Duration::from_millis(250))
                .backoff(Backoff::exponential(2.0, Duration::from_secs(4)).jitter(0.1)),
            Service::Search => builder.failure_threshold(3).success_threshold(2),
        };
        builder.build().expect("the demo's settings are valid")
    }

    /// One call to the service at `progress` (0.0 = start of the run, 1.0 = end).
    fn call(self, rng: &mut Rng, progress: f64) -> Result<u32, ServiceError> {
        let answer = rng.next_u64() as u32;
        match self {
            Service::Payments => {
                sleep_ms(rng.range(1, 3));
                if rng.chance(0.01) {
                    Err(ServiceError::Failed)
                } else {
                    Ok(answer)
                }
            }
            Service::Recommendations => {
                sleep_ms(rng.range(1, 4));
                let bad_spell = (0.20..0.40).contains(&progress);
                if rng.chance(if bad_spell { 0.70 } else { 0.30 }) {
                    Err(ServiceError::Failed)
                } else {
                    Ok(answer)
                }
            }
            Service::Inventory => {
                if (0.15..0.50).contains(&progress) {
                    // Down: connections are refused at once.
                    sleep_ms(1);
                    Err(ServiceError::Unreachable)
                } else {
                    sleep_ms(rng.range(1, 3));
                    Ok(answer)
                }
            }
            Service::Search => {
                let slow_spell = (0.55..0.80).contains(&progress);
                let latency = if slow_spell && rng.chance(0.8) {
                    Duration::from_millis(rng.range(20, 60))
                } else {
                    Duration::from_millis(rng.range(2, 10))
                };
                if latency > SEARCH_DEADLINE {
                    // The caller gives up at its deadline.
                    thread::sleep(SEARCH_DEADLINE);
                    Err(ServiceError::TimedOut(SEARCH_DEADLINE))
                } else {
                    thread::sleep(latency);
                    Ok(answer)
                }
            }
        }
    }
}

fn sleep_ms(ms: u64) {
    thread::sleep(Duration::from_millis(ms));
}

/// Everything written to stdout goes through here, so that transition lines and the status
/// table never interleave, and so that on a terminal the table stays at the bottom.
struct Screen {
    /// Redraw the table in place (stdout is a terminal).
    live: bool,
    /// The table as last drawn (live mode), and how many lines it took.
    table: String,
    table_lines: usize,
}

impl Screen {
    /// Moves the cursor to where the live table starts and clears from there down.
    fn erase_table(&mut self, out: &mut impl Write) {
        if self.live && self.table_lines > 0 {
            // CSI n F: cursor to the start of the line n lines up; CSI J: clear to the end.
            let _ = write!(out, "\x1b[{}F\x1b[J", self.table_lines);
        }
    }

    /// Prints one line of the event log; when live, above a redrawn `table`.
    fn event(&mut self, line: &str, table: Option<String>) {
        let mut out = std::io::stdout().lock();
        self.erase_table(&mut out);
        let _ = writeln!(out, "{line}");
        if self.live {
            if let Some(table) = table {
                self.table_lines = table.lines().count();
                self.table = table;
            }
            let _ = out.write_all(self.table.as_bytes());
        }
        let _ = out.flush();
    }

    /// Prints a status table: in place when live, else as a new block.
    fn table(&mut self, table: String) {
        let mut out = std::io::stdout().lock();
        self.erase_table(&mut out);
        let _ = out.write_all(table.as_bytes());
        let _ = out.flush();
        if self.live {
            self.table_lines = table.lines().count();
            self.table = table;
        }
    }

    /// Leaves the last live table on screen as ordinary output.
    fn finish(&mut self) {
        self.table_lines = 0;
        self.table.clear();
    }
}

/// Renders the registry's statuses as a table, with a title line.
fn render_table(title: &str, statuses: &[Status]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "{title}");
    let _ = writeln!(
        s,
        "  {:<16} {:<9} {:<9} {:>7} {:>7} {:>7} {:>8} {:>11} {:>7}",
        "name", "state", "available", "calls", "ok", "failed", "rejected", "transitions", "fail %"
    );
    for st in statuses {
        let m = &st.metrics;
        let _ = writeln!(
            s,
            "  {:<16} {:<9} {:<9} {:>7} {:>7} {:>7} {:>8} {:>11} {:>7}",
            st.name,
            st.state.as_str(),
            if st.is_available { "yes" } else { "no" },
            m.total_calls,
            m.successful_calls,
            m.failed_calls,
            m.rejected_calls,
            m.state_transitions,
            // The rate breaker's window, once it holds its minimum.
            m.failure_rate
                .map_or_else(|| "-".to_string(), |r| format!("{r:.0}")),
        );
    }
    s
}

/// The live table (terminal mode), from the registry's statuses now.
fn live_table(start: Instant) -> String {
    let title = format!(
        "status at {:.1} s (refreshed twice a second):",
        start.elapsed().as_secs_f64()
    );
    render_table(&title, &Registry::global().statuses())
}

/// What a transition means, for the event log.
fn describe(change: &StateChange, breaker: Option<&CircuitBreaker>) -> String {
    // Listeners run after the transition is published: the period it chose is readable.
    let period = breaker
        .and_then(|b| b.retry_after())
        .map(|d| format!("; rejecting calls for {}", secs(d)))
        .unwrap_or_default();
    let rate = breaker
        .and_then(|b| b.config().sliding_window())
        .map(|w| match w {
            Window::Calls(n) => format!("of the last {n} calls"),
            Window::Time(d) => format!("of the last {}", secs(d)),
            _ => "of the window".to_string(),
        })
        .unwrap_or_default();
    match change.cause {
        Cause::ConsecutiveFailures => format!("too many failures in a row{period}"),
        Cause::FailureRate => format!("failure rate over the threshold {rate}{period}"),
        Cause::SlowCallRate => format!("too many slow calls {rate}{period}"),
        Cause::ProbeFailed => format!("a probe failed; open again, backing off{period}"),
        Cause::HalfOpenExpired => format!("probing took too long; open again{period}"),
        Cause::OpenPeriodEnded => "open period over; letting probe calls through".to_string(),
        Cause::ProbesSucceeded => "probes succeeded; recovered".to_string(),
        Cause::Reset => "reset".to_string(),
        Cause::ForceOpen => format!("forced open{period}"),
        cause => cause.to_string(),
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Per-service counts of what the callers saw (the breakers count the rest).
#[derive(Default)]
struct Seen {
    /// Errors by kind, as the callers saw them.
    failed: AtomicU64,
    unreachable: AtomicU64,
    timed_out: AtomicU64,
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE_LINE}\n\nFor more information, try '--help'.");
            return ExitCode::from(2);
        }
    };
    run(args);
    ExitCode::SUCCESS
}

fn run(args: Args) {
    let live = std::io::stdout().is_terminal();
    let screen = Arc::new(Mutex::new(Screen {
        live,
        table: String::new(),
        table_lines: 0,
    }));
    let start = Instant::now();
    let run_for = Duration::from_secs(args.seconds);

    let at = |fraction: f64| fraction * args.seconds as f64;
    if let Some(addr) = args.metrics_addr {
        match metrics_endpoint::serve(addr) {
            Ok(bound) => println!("metrics: http://{bound}/metrics"),
            Err(e) => eprintln!("metrics endpoint not started: {e}"),
        }
    }
    println!(
        "breakerbox demo: {} services, {} worker threads, {} s; each breaker stays open 1 s, then probes",
        SERVICES.len(),
        args.threads,
        args.seconds
    );
    println!("  payments         healthy, about 1% errors");
    println!("  recommendations  flaky, about 30% errors");
    println!(
        "  inventory        down from {:.1} s to {:.1} s, then healthy",
        at(0.15),
        at(0.50)
    );
    println!(
        "  search           slow from {:.1} s to {:.1} s; calls over {} ms time out",
        at(0.55),
        at(0.80),
        SEARCH_DEADLINE.as_millis()
    );
    println!();

    // The breakers, in the global registry, each with a listener that logs its transitions.
    let transitions_seen = Arc::new(AtomicU64::new(0));
    for service in SERVICES {
        let breaker = Registry::global().get_or_create(service.name(), service.config());
        let screen = Arc::clone(&screen);
        let counter = Arc::clone(&transitions_seen);
        breaker.on_state_change(move |change: &StateChange| {
            // Relaxed: a plain event counter, read after the workers are joined.
            counter.fetch_add(1, Ordering::Relaxed);
            // A listener may call back into the breaker and the registry (no lock is held).
            let breaker = Registry::global().get(&change.name);
            let line = format!(
                "[{:>6.2}s] {:<16} {:>9} -> {:<9} {}",
                start.elapsed().as_secs_f64(),
                change.name,
                change.from.as_str(),
                change.to.as_str(),
                describe(change, breaker.as_deref()),
            );
            // When live, redraw the table with the new state (read before taking the screen
            // lock, which the display thread also takes).
            let table = live.then(|| live_table(start));
            screen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .event(&line, table);
        });
    }

    let stop = Arc::new(AtomicBool::new(false));
    let seen: Arc<Vec<Seen>> = Arc::new(SERVICES.iter().map(|_| Seen::default()).collect());

    // Worker threads: pick a service at random, call it through its breaker, repeat.
    let workers: Vec<_> = (0..args.threads)
        .map(|index| {
            let stop = Arc::clone(&stop);
            let seen = Arc::clone(&seen);
            thread::Builder::new()
                .name(format!("worker-{index}"))
                .spawn(move || {
                    let mut rng = Rng::new(index as u64 + 1);
                    let breakers: Vec<_> = SERVICES
                        .iter()
                        .map(|s| Registry::global().get_or_create(s.name(), s.config()))
                        .collect();
                    // Relaxed: the flag carries no data; the threads are joined afterwards.
                    while !stop.load(Ordering::Relaxed) {
                        let which = rng.range(0, SERVICES.len() as u64 - 1) as usize;
                        let (service, breaker) = (SERVICES[which], &breakers[which]);
                        let progress = start.elapsed().as_secs_f64() / run_for.as_secs_f64();
                        let result = match service {
                            // The guard API: admission, then the outcome, recorded by hand.
                            Service::Search => match breaker.try_acquire() {
                                Ok(permit) => match service.call(&mut rng, progress) {
                                    Ok(v) => {
                                        permit.success();
                                        Ok(v)
                                    }
                                    Err(e) => {
                                        permit.failure();
                                        Err(Error::Inner(e))
                                    }
                                },
                                Err(rejected) => Err(Error::Rejected(rejected)),
                            },
                            // `call`: every Err counts as a failure.
                            _ => breaker.call(|| service.call(&mut rng, progress)),
                        };
                        let counts = &seen[which];
                        // Relaxed: plain counters, read after the workers are joined.
                        match result {
                            Ok(_) => {}
                            Err(Error::Rejected(_)) => {
                                // Rejected at once: a real caller would serve a fallback
                                // here. Pause briefly instead of spinning on the rejection.
                                sleep_ms(1);
                            }
                            Err(Error::Inner(ServiceError::Failed)) => {
                                counts.failed.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(Error::Inner(ServiceError::Unreachable)) => {
                                counts.unreachable.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(Error::Inner(ServiceError::TimedOut(_))) => {
                                counts.timed_out.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        // Think time between calls.
                        sleep_ms(rng.range(1, 4));
                    }
                })
                .expect("spawn a worker thread")
        })
        .collect();

    // The display: twice a second on a terminal; every two seconds into a log.
    let tick = Duration::from_millis(500);
    let print_every = if live { 1 } else { 4 };
    let mut ticks = 0u64;
    while start.elapsed() < run_for {
        let next = start + tick * (ticks as u32 + 1);
        thread::sleep(next.saturating_duration_since(Instant::now()));
        ticks += 1;
        if ticks % print_every == 0 && start.elapsed() < run_for {
            // Read the registry before taking the screen lock: listeners also take it.
            let table = if live {
                live_table(start)
            } else {
                let title = format!("status at {:.1} s:", start.elapsed().as_secs_f64());
                render_table(&title, &Registry::global().statuses()) + "\n"
            };
            screen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .table(table);
        }
    }
    // Relaxed: see the workers' load; join() below is the synchronisation.
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().expect("a worker thread panicked");
    }

    // The final summary.
    let elapsed = start.elapsed();
    let statuses = Registry::global().statuses();
    {
        let mut screen = screen.lock().unwrap_or_else(|e| e.into_inner());
        let title = format!("final status after {:.1} s:", elapsed.as_secs_f64());
        screen.table(render_table(&title, &statuses));
        screen.finish();
    }
    println!();
    println!("summary:");
    let (mut total_calls, mut total_rejected) = (0, 0);
    for status in &statuses {
        let m = &status.metrics;
        total_calls += m.total_calls;
        total_rejected += m.rejected_calls;
        let Some(which) = SERVICES.iter().position(|s| s.name() == status.name) else {
            continue;
        };
        let counts = &seen[which];
        // Relaxed: the workers are joined; join() ordered their writes before these reads.
        let (failed, unreachable, timed_out) = (
            counts.failed.load(Ordering::Relaxed),
            counts.unreachable.load(Ordering::Relaxed),
            counts.timed_out.load(Ordering::Relaxed),
        );
        let admitted = m.total_calls - m.rejected_calls;
        let mut errors = Vec::new();
        if failed > 0 {
            errors.push(plural(failed, "error"));
        }
        if unreachable > 0 {
            errors.push(format!("{unreachable} refused"));
        }
        if timed_out > 0 {
            errors.push(plural(timed_out, "timeout"));
        }
        let errors = if errors.is_empty() {
            "no errors".to_string()
        } else {
            errors.join(", ")
        };
        println!(
            "  {:<16} {:>6} calls made, {:>5.1}% ok ({}); {} rejected at once; {}",
            status.name,
            admitted,
            percent(m.successful_calls, admitted),
            errors,
            m.rejected_calls,
            plural(m.state_transitions, "transition"),
        );
    }
    println!(
        "  {} calls in {:.1} s ({:.0} per second), {} of them not made because a breaker \
         was open; {} logged",
        total_calls,
        elapsed.as_secs_f64(),
        total_calls as f64 / elapsed.as_secs_f64(),
        total_rejected,
        // Relaxed: all listeners ran on the joined workers.
        plural(transitions_seen.load(Ordering::Relaxed), "state change"),
    );
}

/// "1 error", "2 errors".
fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        100.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}
