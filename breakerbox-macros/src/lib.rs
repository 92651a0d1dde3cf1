//! The `#[circuit_breaker]` attribute macro of [breakerbox](https://docs.rs/breakerbox).
//!
//! Use it through the main crate, which re-exports it as `breakerbox::circuit_breaker`
//! (default feature `macros`); the expansion names `::breakerbox` (or the path given with
//! `crate = path`), so this crate is of no use on its own.
//!
//! ```
//! use breakerbox::{circuit_breaker, Error, Registry, State};
//!
//! #[circuit_breaker("inventory", failure_threshold = 2)]
//! fn stock(sku: &str) -> Result<u32, String> {
//!     Err(format!("{sku}: service down"))
//! }
//!
//! assert!(matches!(stock("a-1"), Err(Error::Inner(_))));
//! assert!(matches!(stock("a-1"), Err(Error::Inner(_))));
//! // Two failures in a row opened the breaker named "inventory": the body no longer runs.
//! assert!(matches!(stock("a-1"), Err(Error::Rejected(_))));
//! assert_eq!(Registry::global().get("inventory").unwrap().state(), State::Open);
//! ```
//!
//! See [`circuit_breaker`] for the settings, the expansion and the compile errors.
#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

use proc_macro::TokenStream;
use quote::ToTokens;

mod args;
mod expand;
mod settings;

/// Runs the function's body through the named breaker of `breakerbox::Registry::global()`.
///
/// ```text
/// #[circuit_breaker("name")]
/// #[circuit_breaker("name", setting = value, ...)]
/// ```
///
/// The function must return `Result<T, E>` (written out: an alias such as `io::Result<T>`
/// hides `E`); it then returns `Result<T, breakerbox::Error<E>>`:
/// `Err(Error::Inner(e))` when the body failed, `Err(Error::Rejected(_))` when the breaker
/// did not admit the call (the body did not run). Every `Err` of the body counts as a
/// failure; every `Ok` as a success.
///
/// The breaker is `Registry::global().get_or_create_with(name, ..)`: created on the first
/// call with a `Config` made from the settings, then shared by every function and every
/// caller that uses the same name (later settings for an existing name are not applied).
/// Each decorated function looks it up once and keeps it in a `static`, so a call costs no
/// registry lookup and no shared reference-count write; a breaker later `remove`d from the
/// registry therefore stays in use by the functions that already looked it up.
///
/// # Settings
///
/// All optional; what is left out keeps the `Config::default()` value. Values are literals,
/// checked when the macro expands against the same ranges as `ConfigBuilder::build`, so
/// the generated `build()` cannot fail.
///
/// | setting | `ConfigBuilder` call | accepted values |
/// |---|---|---|
/// | `failure_threshold` | `failure_threshold(n)` | 1 to 1_000 |
/// | `success_threshold` | `success_threshold(n)` | 1 to 1_000 |
/// | `half_open_max_calls` | `half_open_max_calls(n)` | 1 to 1_000 |
/// | `timeout_secs` / `timeout_ms` | `timeout(d)` | 1 to 31_622_400 s or 31_622_400_000 ms (366 days) |
/// | `half_open_timeout_secs` / `half_open_timeout_ms` | `half_open_timeout(d)` | 1 to 31_622_400 s or 31_622_400_000 ms |
/// | `window_calls` | `sliding_window(Window::Calls(n))` | 1 to 10_000 |
/// | `window_secs` / `window_ms` | `sliding_window(Window::Time(d))` | 1 to 3_600 s, or 1_000 to 3_600_000 ms |
/// | `failure_rate` | `failure_rate_threshold(p)` | percent, above 0 and at most 100; needs a window |
/// | `minimum_calls` | `minimum_calls(n)` | 1 to 10_000; needs a window |
/// | `slow_call_secs` / `slow_call_ms` | `slow_call_duration(d)` | 1 to 31_622_400 s or 31_622_400_000 ms |
/// | `slow_call_rate` | `slow_call_rate_threshold(p)` | percent, above 0 and at most 100; needs a window and `slow_call_*` |
/// | `dry_run` | `dry_run(b)` | `true` or `false` |
/// | `backoff_multiplier` | `backoff(Backoff::exponential(m, max))` | finite, at least 1; needs `backoff_max_*` |
/// | `backoff_max_secs` / `backoff_max_ms` | the `max` of that `backoff` | the timeout (60 s by default) up to 31_622_400 s or 31_622_400_000 ms |
///
/// - Each duration is given once, in seconds or in milliseconds; a breaker has one window,
///   counted in calls (`window_calls`) or in time (`window_secs` / `window_ms`).
/// - Counts and durations are integer literals: decimal, `0x`, `0o` or `0b`, unsuffixed or
///   with an integer-type suffix the value fits in (`500u32`; `1000u8` is an error).
///   Percentages and the multiplier may also be float literals (`12.5`).
/// - With a window, the breaker trips on the failure rate (and the slow-call rate when
///   `slow_call_*` is set); the consecutive-failure rule then applies too only if
///   `failure_threshold` is given (`Config::trips_on_consecutive_failures`).
///
/// ```
/// use breakerbox::{circuit_breaker, Error, Registry, State, Window};
///
/// // Open when at least half of the last 10 calls failed, once 4 were seen.
/// #[circuit_breaker("search", window_calls = 10, failure_rate = 50, minimum_calls = 4)]
/// fn search(ok: bool) -> Result<(), String> {
///     if ok { Ok(()) } else { Err("timeout".into()) }
/// }
///
/// for ok in [true, false, true] {
///     let _ = search(ok); // 1 failure in 3 calls: fewer than 4 seen
/// }
/// assert!(matches!(search(false), Err(Error::Inner(_)))); // 2 of 4 failed: 50 %
/// assert!(matches!(search(true), Err(Error::Rejected(_))));
/// let breaker = Registry::global().get("search").unwrap();
/// assert_eq!(breaker.state(), State::Open);
/// assert_eq!(breaker.config().sliding_window(), Some(Window::Calls(10)));
/// ```
///
/// `crate = path` names breakerbox for a crate that re-exports it (the expansion otherwise
/// names `::breakerbox`): `#[circuit_breaker("name", crate = ::my_sdk::breakerbox)]`.
///
/// # What it works on
///
/// Free functions, `async fn`, methods taking `&self`, `&mut self` or `self`, generic
/// functions, and `Result<impl Trait, E>` returns (`E` must be a named type). Attributes, doc comments, visibility, generics and `where` clauses are kept.
/// The body moves into a closure (`async` block for an `async fn`) whose type is the
/// original `Result<T, E>`, so `return` and `?` inside it behave as before: they leave the
/// body with a `Result<T, E>`, which the breaker then records and wraps.
///
/// ```
/// use breakerbox::{circuit_breaker, Error};
/// # #[derive(Debug)] struct DbError;
///
/// struct Repo { rows: Vec<u32> }
///
/// impl Repo {
///     /// Looks a row up; opens the `"db"` breaker after 3 failures, for 30 seconds.
///     #[circuit_breaker("db", failure_threshold = 3, timeout_secs = 30)]
///     pub fn row(&self, i: usize) -> Result<u32, DbError> {
///         let row = self.rows.get(i).ok_or(DbError)?;
///         if *row == 0 {
///             return Ok(1);
///         }
///         Ok(*row)
///     }
/// }
///
/// let repo = Repo { rows: vec![0, 7] };
/// assert_eq!(repo.row(0).unwrap(), 1);
/// assert_eq!(repo.row(1).unwrap(), 7);
/// assert!(matches!(repo.row(9), Err(Error::Inner(DbError))));
/// let breaker = breakerbox::Registry::global().get("db").unwrap();
/// assert_eq!(breaker.config().failure_threshold(), 3);
/// assert_eq!(breaker.config().timeout(), std::time::Duration::from_secs(30));
/// ```
///
/// An `async fn` goes through `CircuitBreaker::call_future`: admission when the returned
/// future is first polled, the outcome when the body completes.
///
/// ```
/// use breakerbox::circuit_breaker;
///
/// #[circuit_breaker("pricing", timeout_ms = 1500)]
/// async fn price(id: u64) -> Result<u64, std::io::Error> {
///     Ok(id * 100)
/// }
///
/// assert_eq!(futures::executor::block_on(price(3)).unwrap(), 300);
/// ```
///
/// # Expansion
///
/// Roughly, for `#[circuit_breaker("db", failure_threshold = 3)]` on
/// `fn f(x: u32) -> Result<u32, E> { body }`:
///
/// ```text
/// fn f(x: u32) -> Result<u32, ::breakerbox::Error<E>> {
///     static BREAKER: OnceLock<Arc<::breakerbox::CircuitBreaker>> = OnceLock::new();
///     let breaker = BREAKER.get_or_init(|| {
///         ::breakerbox::Registry::global().get_or_create_with("db", || {
///             ::breakerbox::Config::builder().failure_threshold(3u32).build() /* Ok, or panic */
///         })
///     });
///     breaker.call(move || -> Result<u32, E> { body })
/// }
/// ```
///
/// `build()` cannot fail because every value was checked when the macro expanded (the
/// expansion still panics with a message rather than hide a bug); a `const` assertion
/// also checks them against `Config::MAX_THRESHOLD`, `MAX_DURATION`, `MAX_WINDOW_CALLS`,
/// `MIN_WINDOW_TIME` and `MAX_WINDOW_TIME` when the caller compiles. The expansion names
/// the crate `::breakerbox`, or the path given with `crate = path`.
///
/// # Compile errors
///
/// Each with a message naming the problem, pointed at the offending tokens:
///
/// - a return type that is not `Result<T, E>`, or no return type (the error points at the
///   signature);
/// - a missing, empty or non-string breaker name;
/// - an unknown setting (the message lists the valid ones), a setting without a value, a
///   repeated setting, both `_secs` and `_ms` for the same duration, or two windows;
/// - a setting without the ones it needs (`failure_rate`, `minimum_calls` or
///   `slow_call_rate` without a window, `slow_call_rate` without `slow_call_*`, half of the
///   backoff), or a backoff cap below the timeout;
/// - a value that is not a literal of its kind, is out of its range, or has a suffix that
///   is not an integer type it fits in;
/// - `impl Trait` in the error type;
/// - a `const fn`, a variadic function, or anything that is not a function with a body
///   (a trait method without a default body, a struct, ...).
#[proc_macro_attribute]
pub fn circuit_breaker(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item2 = proc_macro2::TokenStream::from(item.clone());
    let func: syn::ItemFn = match syn::parse(item) {
        Ok(func) => func,
        Err(e) => {
            let err = syn::Error::new(
                e.span(),
                format!(
                    "#[circuit_breaker] applies to a function with a body \
                     (`fn`, `async fn` or a method): {e}"
                ),
            );
            return with_original(err, item2);
        }
    };
    let args: args::Args = match syn::parse(attr) {
        Ok(args) => args,
        Err(e) => return with_original(e, func.into_token_stream()),
    };
    match expand::expand(&args, func) {
        Ok(tokens) => tokens.into(),
        Err(e) => with_original(e, item2),
    }
}

/// The error, plus the item unchanged so that code using it does not pile up more errors.
fn with_original(err: syn::Error, item: proc_macro2::TokenStream) -> TokenStream {
    let mut out = err.to_compile_error();
    out.extend(item);
    out.into()
}
