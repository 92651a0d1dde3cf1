//! `Error<E>` and `Rejected`: Display, `source`, the accessors, `is_rejected`,
//! `into_inner` and `From<Rejected>`.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use breakerbox::quanta::Mock;
use breakerbox::{CircuitBreaker, Config, Error, Rejected, State};

mod common;
use common::{breaker_named, rejected};

const TIMEOUT: Duration = Duration::from_secs(30);

/// A breaker called `name` that opens on one failure, with a 30 s open timeout, room for
/// `max_calls` probes and the default half-open timeout.
fn breaker(name: &str, max_calls: u32) -> (CircuitBreaker, Arc<Mock>) {
    let config = Config::builder()
        .failure_threshold(1)
        .success_threshold(1)
        .timeout(TIMEOUT)
        .half_open_max_calls(max_calls)
        .build()
        .expect("valid test config");
    breaker_named(name, config)
}

#[derive(Debug, PartialEq)]
struct Backend(&'static str);

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "backend said {}", self.0)
    }
}

impl StdError for Backend {}

#[test]
fn rejected_accessors_when_open() {
    let (b, mock) = breaker("payments", 1);
    b.force_open();
    mock.increment(Duration::from_millis(12_345));
    let r = rejected(&b);
    assert_eq!(r.name(), "payments");
    assert_eq!(r.state(), State::Open);
    assert_eq!(
        r.retry_after(),
        Some(TIMEOUT - Duration::from_millis(12_345))
    );
}

#[test]
fn rejected_accessors_when_half_open_is_full() {
    let (b, mock) = breaker("payments", 1);
    b.force_open();
    mock.increment(TIMEOUT);
    let _probe = b.try_acquire().expect("probe");
    let r = rejected(&b);
    assert_eq!(r.name(), "payments");
    assert_eq!(r.state(), State::HalfOpen);
    assert_eq!(r.retry_after(), None);
}

#[test]
fn rejected_display_names_the_breaker() {
    let (b, mock) = breaker("payments", 1);
    b.force_open();
    let open = rejected(&b);
    let text = open.to_string();
    assert!(text.contains("payments"), "{text:?}");
    mock.increment(TIMEOUT);
    let _probe = b.try_acquire().expect("probe");
    let full = rejected(&b);
    assert!(full.to_string().contains("payments"), "{full}");
}

#[test]
fn rejected_is_a_clonable_comparable_std_error() {
    let (b, _mock) = breaker("svc", 1);
    b.force_open();
    let r1 = rejected(&b);
    let r2 = rejected(&b);
    assert_eq!(r1, r2); // same name, state and retry_after under a still clock
    assert_eq!(r1.clone(), r1);
    let boxed: Box<dyn StdError + Send + Sync + 'static> = Box::new(r1.clone());
    assert_eq!(boxed.to_string(), r1.to_string());
    assert!(r1.source().is_none());
}

#[test]
fn rejected_values_differ_by_retry_after() {
    let (b, mock) = breaker("svc", 1);
    b.force_open();
    let r1 = rejected(&b);
    mock.increment(Duration::from_secs(1));
    let r2 = rejected(&b);
    assert_ne!(r1, r2);
}

#[test]
fn error_inner_display_source_and_into_inner() {
    let (b, _mock) = breaker("svc", 1);
    let e = b
        .call(|| Err::<(), _>(Backend("503")))
        .expect_err("inner error");
    assert!(!e.is_rejected());
    assert!(
        e.to_string().contains("backend said 503"),
        "{e} should show the inner error"
    );
    // Transparent (API.md, revised): the inner error's own source, here none, so a report
    // walking the chain prints "backend said 503" once.
    assert!(e.source().is_none());
    assert_eq!(e.into_inner(), Some(Backend("503")));
}

#[test]
fn a_report_walking_the_chain_prints_each_message_once() {
    #[derive(Debug)]
    struct Wrapped(std::io::Error);
    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("query failed")
        }
    }
    impl StdError for Wrapped {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }
    let (b, _mock) = breaker("svc", 5);
    let e = b
        .call(|| Err::<(), _>(Wrapped(std::io::Error::other("connection reset"))))
        .expect_err("inner error");
    let mut report = vec![e.to_string()];
    report.extend(std::iter::successors(e.source(), |e| (*e).source()).map(|e| e.to_string()));
    assert_eq!(report, ["query failed", "connection reset"]);
}

#[test]
fn error_rejected_display_is_and_into_inner() {
    let (b, _mock) = breaker("svc", 1);
    b.force_open();
    let r = rejected(&b);
    let e = b.call(|| Ok::<_, Backend>(())).expect_err("rejected");
    assert!(e.is_rejected());
    match &e {
        Error::Rejected(inner) => assert_eq!(*inner, r),
        Error::Inner(other) => panic!("unexpected inner error {other}"),
    }
    assert!(e.to_string().contains(&r.to_string()), "{e}");
    assert_eq!(e.into_inner(), None);
}

#[test]
fn from_rejected() {
    let (b, _mock) = breaker("svc", 1);
    b.force_open();
    let r = rejected(&b);
    let e: Error<Backend> = r.clone().into();
    assert!(e.is_rejected());
    assert!(matches!(&e, Error::Rejected(x) if *x == r));
    assert_eq!(Error::<Backend>::from(r.clone()).into_inner(), None);

    // `?` converts a rejection from the guard API into the call API's error type.
    fn guarded(b: &CircuitBreaker) -> Result<u8, Error<Backend>> {
        let permit = b.try_acquire()?;
        permit.success();
        Ok(1)
    }
    let e = guarded(&b).expect_err("open");
    assert!(e.is_rejected());
    b.reset();
    assert_eq!(guarded(&b).ok(), Some(1));
}

#[test]
fn error_works_as_a_boxed_std_error() {
    fn assert_error<T: StdError + Send + Sync + 'static>() {}
    assert_error::<Error<Backend>>();
    assert_error::<Error<std::io::Error>>();
    assert_error::<Rejected>();

    let (b, _mock) = breaker("svc", 1);
    let run = || -> Result<(), Box<dyn StdError + Send + Sync>> {
        b.call(|| Err::<(), _>(Backend("down")))?;
        Ok(())
    };
    let err = run().expect_err("inner error");
    assert!(err.to_string().contains("backend said down"));
    let run = || -> Result<(), Box<dyn StdError + Send + Sync>> {
        b.call(|| Ok::<_, Backend>(()))?;
        Ok(())
    };
    let err = run().expect_err("open after one failure");
    assert!(err.to_string().contains("svc"), "{err}");
    let source_chain: Vec<String> = std::iter::successors(err.source(), |e| (*e).source())
        .map(|e| e.to_string())
        .collect();
    assert!(!source_chain.iter().any(|s| s.contains("backend said")));
}

#[test]
fn error_debug_is_informative() {
    let (b, _mock) = breaker("svc", 1);
    let e = b.call(|| Err::<(), _>(Backend("x"))).expect_err("inner");
    assert!(format!("{e:?}").contains("Inner"));
    let e = b.call(|| Ok::<_, Backend>(())).expect_err("rejected");
    assert!(format!("{e:?}").contains("Rejected"));
}
