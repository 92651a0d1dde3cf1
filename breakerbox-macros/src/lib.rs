//! The `#[circuit_breaker]` attribute macro of [breakerbox](https://docs.rs/breakerbox).
//!
//! Use it through the main crate, which re-exports it as `breakerbox::circuit_breaker`
//! (default feature `macros`); the expansion names `::breakerbox`, so this crate is of no use
//! on its own.
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
/// All optional; what is left out keeps the `Config::default()` value. Values are integer
/// literals, checked when the macro expands.
///
/// | setting | `ConfigBuilder` method | accepted values |
/// |---|---|---|
/// | `failure_threshold` | `failure_threshold` | 1 to 1000 |
/// | `success_threshold` | `success_threshold` | 1 to 1000 |
/// | `half_open_max_calls` | `half_open_max_calls` | 1 to 1000 |
/// | `timeout_secs` / `timeout_ms` | `timeout` | 1 up to 366 days |
/// | `half_open_timeout_secs` / `half_open_timeout_ms` | `half_open_timeout` | 1 up to 366 days |
///
/// Each duration is given once, in seconds or in milliseconds.
///
/// # What it works on
///
/// Free functions, `async fn`, methods taking `&self`, `&mut self` or `self`, and generic
/// functions. Attributes, doc comments, visibility, generics and `where` clauses are kept.
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
///             ::breakerbox::Config::builder().failure_threshold(3).build().unwrap_or_default()
///         })
///     });
///     breaker.call(move || -> Result<u32, E> { body })
/// }
/// ```
///
/// `build()` cannot fail because every value was checked when the macro expanded; a
/// `const` assertion also checks them against `Config::MAX_THRESHOLD` and
/// `Config::MAX_DURATION` when the caller compiles. The expansion names the crate as
/// `::breakerbox`, so a renamed dependency is not supported.
///
/// # Compile errors
///
/// Each with a message naming the problem, pointed at the offending tokens:
///
/// - a return type that is not `Result<T, E>`, or no return type (the error points at the
///   signature);
/// - a missing, empty or non-string breaker name;
/// - an unknown setting (the message lists the valid ones), a setting without a value, a
///   repeated setting, or both `_secs` and `_ms` for the same duration;
/// - a value that is not an integer literal, is 0, or is above its maximum;
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
