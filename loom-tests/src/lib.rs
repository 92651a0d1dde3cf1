//! Shared scaffolding for the [loom](https://docs.rs/loom) models in `tests/`.
//!
//! The models drive breakerbox's real code: the crate imports every atomic, lock and
//! thread-local from its `sync` module, which switches to loom's checked primitives under
//! `--cfg loom`. Run them all with `loom-tests/run.sh`. Without `--cfg loom` this crate and
//! its tests are empty, so a plain `cargo test --workspace` builds nothing here.
//!
//! What lives here:
//! - `check`: runs one model under a bounded `loom::model::Builder` and prints how many
//!   executions loom explored and how long it took;
//! - `Fixture`: a breaker on a mock clock, shared with `std::sync::Arc` (the receiver
//!   type of `try_acquire_owned`), with a `Transitions` recorder attached as its listener;
//! - `Reached`: the set of end observations seen across all executions of a model, so a
//!   test can assert that every sequential order it enumerated is actually reached;
//! - `config`: a builder preset with tiny thresholds and the model timeouts.
//!
//! # Coverage, and a loom limitation the models work around
//!
//! loom 0.7's DPOR can skip interleavings when a thread's first loom operation is a load
//! (tokio-rs/loom#392) or when a thread's own load hides another thread's earlier load from
//! its later CAS (tokio-rs/loom#166). Every breaker operation starts with a load of the
//! state word, so a model whose main thread races a spawned one may run a single execution.
//! Hence: racing work runs on spawned threads (the main thread sets up, joins, checks), and
//! every model whose end state depends on the interleaving inserts its end observation in a
//! `Reached` set and asserts after `check` that *every* sequential order it enumerated
//! was reached, so a silently unexplored order fails the test instead of passing it.
//!
//! Test-side bookkeeping (listener log, reached set, execution counter) uses `std` types on
//! purpose: loom runs a model's threads as coroutines on one OS thread and switches only at
//! loom operations, so a `std` lock that is never held across one cannot block, and keeping
//! it out of loom's view keeps the explored state space on the breaker's own atomics.
#![cfg(loom)]

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use breakerbox::quanta::{Clock, Mock};
use breakerbox::{Cause, CircuitBreaker, Config, ConfigBuilder, State, StateChange};

/// The `timeout` (open → half-open) of every model breaker.
pub const TIMEOUT: Duration = Duration::from_millis(10);

/// The `half_open_timeout` of every model breaker.
pub const HALF_OPEN_TIMEOUT: Duration = Duration::from_millis(5);

/// How far a model advances the mock clock to get past [`TIMEOUT`].
pub const PAST_TIMEOUT: Duration = Duration::from_millis(11);

/// How far a model advances the mock clock to get past [`HALF_OPEN_TIMEOUT`].
pub const PAST_HALF_OPEN_TIMEOUT: Duration = Duration::from_millis(6);

/// `retry_after` of a call made [`PAST_HALF_OPEN_TIMEOUT`] into a half-open period that
/// expired at [`HALF_OPEN_TIMEOUT`]: the open period began at the expiry (API.md
/// Semantics 4, revised).
pub const AFTER_EXPIRY: Duration = Duration::from_millis(9);

/// Preemption bound used when `LOOM_MAX_PREEMPTIONS` is not set (tokio CI uses the same).
pub const DEFAULT_PREEMPTIONS: usize = 2;

/// A config builder with every threshold and `half_open_max_calls` at 1 and the model
/// timeouts ([`TIMEOUT`], [`HALF_OPEN_TIMEOUT`]); models override what they need.
pub fn config() -> ConfigBuilder {
    Config::builder()
        .failure_threshold(1)
        .success_threshold(1)
        .half_open_max_calls(1)
        .timeout(TIMEOUT)
        .half_open_timeout(HALF_OPEN_TIMEOUT)
}

/// Runs `model` under loom, exploring its interleavings with a preemption bound of
/// `LOOM_MAX_PREEMPTIONS` (default [`DEFAULT_PREEMPTIONS`]), lowered to `max_preemptions`
/// when given (for heavy models). Prints the number of executions and the elapsed time.
pub fn check<F>(name: &str, max_preemptions: Option<usize>, model: F)
where
    F: Fn() + Send + Sync + 'static,
{
    let mut builder = loom::model::Builder::new();
    let bound = builder.preemption_bound.unwrap_or(DEFAULT_PREEMPTIONS);
    let bound = max_preemptions.map_or(bound, |cap| bound.min(cap));
    builder.preemption_bound = Some(bound);

    let executions = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&executions);
    let started = Instant::now();
    builder.check(move || {
        // Relaxed: a plain tally, read only after `check` has returned on this thread.
        counter.fetch_add(1, Ordering::Relaxed);
        model();
    });
    eprintln!(
        "loom model {name}: {} executions, preemption bound {bound}, {:.2?}",
        // Relaxed: every execution ran on this OS thread and has finished.
        executions.load(Ordering::Relaxed),
        started.elapsed()
    );
}

/// One call of a state-change listener: the transition and the loom thread that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// State before the transition.
    pub from: State,
    /// State after the transition.
    pub to: State,
    /// The loom thread the listener ran on (the one that made the transition).
    pub thread: loom::thread::ThreadId,
    /// Why it happened.
    pub cause: Cause,
}

/// Records every listener call of one breaker, in call order.
#[derive(Clone, Debug, Default)]
pub struct Transitions(Arc<Mutex<Vec<Seen>>>);

impl Transitions {
    /// Registers a recording listener on `breaker` and returns the log.
    pub fn attach(breaker: &CircuitBreaker) -> Self {
        let log = Self::default();
        let sink = log.clone();
        breaker.on_state_change(move |change: &StateChange| {
            sink.lock().push(Seen {
                from: change.from,
                to: change.to,
                thread: loom::thread::current().id(),
                cause: change.cause,
            });
        });
        log
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Seen>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every listener call so far, in call order.
    pub fn all(&self) -> Vec<Seen> {
        self.lock().clone()
    }

    /// The transitions as a sorted multiset of `(from, to)` names.
    ///
    /// Listeners run after the transition is published, on the thread that made it, so two
    /// threads' listener calls may come in either order: models compare the multiset.
    pub fn sorted(&self) -> Vec<(&'static str, &'static str)> {
        let mut pairs: Vec<_> = self
            .lock()
            .iter()
            .map(|s| (s.from.as_str(), s.to.as_str()))
            .collect();
        pairs.sort_unstable();
        pairs
    }

    /// The causes of every listener call so far, in call order.
    pub fn causes(&self) -> Vec<Cause> {
        self.lock().iter().map(|s| s.cause).collect()
    }

    /// How many listener calls reported `from → to`.
    pub fn count(&self, from: State, to: State) -> usize {
        self.lock()
            .iter()
            .filter(|s| s.from == from && s.to == to)
            .count()
    }
}

/// Sorts a list of `(from, to)` transitions the way [`Transitions::sorted`] does.
pub fn sorted(pairs: &[(State, State)]) -> Vec<(&'static str, &'static str)> {
    let mut pairs: Vec<_> = pairs
        .iter()
        .map(|(from, to)| (from.as_str(), to.as_str()))
        .collect();
    pairs.sort_unstable();
    pairs
}

/// A breaker on a mock clock, with a transition recorder attached.
#[derive(Debug)]
pub struct Fixture {
    /// The breaker under test, shared with the model threads.
    pub breaker: Arc<CircuitBreaker>,
    /// The mock time source behind the breaker's clock.
    pub mock: Arc<Mock>,
    /// Every listener call of `breaker`.
    pub transitions: Transitions,
}

impl Fixture {
    /// A fresh breaker named `"loom"` with `config`, its clock at mock time 0.
    pub fn new(config: Config) -> Self {
        let (clock, mock) = Clock::mock();
        let breaker = Arc::new(CircuitBreaker::with_clock("loom", config, clock));
        let transitions = Transitions::attach(&breaker);
        Self {
            breaker,
            mock,
            transitions,
        }
    }

    /// Opens a closed breaker with `failure_threshold` admitted failures.
    pub fn trip(&self) {
        for _ in 0..self.breaker.config().failure_threshold() {
            self.breaker
                .try_acquire()
                .expect("a closed breaker admits every call")
                .failure();
        }
        assert_eq!(self.breaker.state(), State::Open);
    }

    /// Opens the breaker with failures, then lets its timeout pass: the stored state is still
    /// Open, the effective state HalfOpen.
    pub fn trip_and_wait(&self) {
        self.trip();
        self.mock.increment(PAST_TIMEOUT);
        assert_eq!(self.breaker.state(), State::HalfOpen);
        assert!(self.breaker.is_available());
    }
}

/// The set of end observations reached across all executions of one model.
///
/// A model inserts its end observation in every execution; after [`check`] returns, the test
/// asserts the set equals the outcomes it enumerated from the sequential orders, which shows
/// both that nothing else happens and that loom did explore each order.
#[derive(Debug)]
pub struct Reached<T>(Arc<Mutex<BTreeSet<T>>>);

impl<T> Clone for Reached<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: Ord + Clone + Debug> Default for Reached<T> {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(BTreeSet::new())))
    }
}

impl<T: Ord + Clone + Debug> Reached<T> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks that `outcome` is one of `allowed`, then records it.
    pub fn insert(&self, outcome: T, allowed: &[T]) {
        assert!(
            allowed.contains(&outcome),
            "end state {outcome:?} is explained by no sequential order; allowed: {allowed:#?}"
        );
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(outcome);
    }

    /// Asserts that every outcome in `allowed` was reached by some execution.
    pub fn assert_all(&self, allowed: &[T]) {
        let reached = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let missing: Vec<_> = allowed.iter().filter(|o| !reached.contains(*o)).collect();
        assert!(
            missing.is_empty(),
            "no execution reached {missing:#?}; reached: {reached:#?}"
        );
    }
}
