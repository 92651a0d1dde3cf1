//! Parsing and validation of the attribute arguments: `"name", key = value, ...`.
//!
//! Every value is checked here, when the macro expands, against the same limits that
//! `breakerbox::ConfigBuilder::build` enforces, so the generated `build()` cannot fail.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, ExprLit, ExprUnary, Ident, Lit, LitInt, LitStr, Token, UnOp};

/// Largest accepted threshold or `half_open_max_calls`: `breakerbox::Config::MAX_THRESHOLD`.
pub(crate) const MAX_THRESHOLD: u64 = 1000;

/// Longest accepted duration in seconds: `breakerbox::Config::MAX_DURATION` (366 days).
pub(crate) const MAX_DURATION_SECS: u64 = 366 * 86_400;

/// Longest accepted duration in milliseconds.
pub(crate) const MAX_DURATION_MS: u64 = MAX_DURATION_SECS * 1000;

/// Every setting the attribute accepts, in the order the error message lists them.
pub(crate) const SETTINGS: [&str; 7] = [
    "failure_threshold",
    "success_threshold",
    "half_open_max_calls",
    "timeout_secs",
    "timeout_ms",
    "half_open_timeout_secs",
    "half_open_timeout_ms",
];

/// The parsed attribute: the breaker's name and the settings given (all optional).
pub(crate) struct Args {
    /// The registry name, as written (the literal keeps its span).
    pub(crate) name: LitStr,
    /// `failure_threshold = n`.
    pub(crate) failure_threshold: Option<Setting>,
    /// `success_threshold = n`.
    pub(crate) success_threshold: Option<Setting>,
    /// `half_open_max_calls = n`.
    pub(crate) half_open_max_calls: Option<Setting>,
    /// `timeout_secs = n` or `timeout_ms = n`.
    pub(crate) timeout: Option<Setting>,
    /// `half_open_timeout_secs = n` or `half_open_timeout_ms = n`.
    pub(crate) half_open_timeout: Option<Setting>,
}

/// One validated `key = value` pair.
pub(crate) struct Setting {
    /// The key as written, for spans and for telling `_secs` from `_ms`.
    pub(crate) key: Ident,
    /// The value, already range-checked for its key.
    pub(crate) value: u64,
}

impl Setting {
    /// The value as an expression of the right type: a `u32` literal for the counts, a
    /// `Duration` for the two timeouts.
    pub(crate) fn to_value_tokens(&self) -> TokenStream {
        let key = self.key.to_string();
        if key.ends_with("_secs") {
            let v = self.value;
            quote!(::core::time::Duration::from_secs(#v))
        } else if key.ends_with("_ms") {
            let v = self.value;
            quote!(::core::time::Duration::from_millis(#v))
        } else {
            // In range 1..=1000, checked by `parse_value`.
            let v = u32::try_from(self.value).unwrap_or(u32::MAX);
            quote!(#v)
        }
    }
}

/// The largest value and the unit that a key accepts, for range checks and messages.
fn limit(key: &str) -> (u64, &'static str) {
    if key.ends_with("_secs") {
        (MAX_DURATION_SECS, " (366 days)")
    } else if key.ends_with("_ms") {
        (MAX_DURATION_MS, " (366 days)")
    } else {
        (MAX_THRESHOLD, "")
    }
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(syn::Error::new(
                Span::call_site(),
                "missing breaker name: write `#[circuit_breaker(\"name\")]`, \
                 optionally followed by settings such as `failure_threshold = 3`",
            ));
        }
        let name = parse_name(input)?;
        let mut args = Args {
            name,
            failure_threshold: None,
            success_threshold: None,
            half_open_max_calls: None,
            timeout: None,
            half_open_timeout: None,
        };
        while !input.is_empty() {
            if !input.peek(Token![,]) {
                return Err(
                    input.error("expected `,` and then a setting such as `failure_threshold = 3`")
                );
            }
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break; // trailing comma
            }
            let setting = parse_setting(input)?;
            args.store(setting)?;
        }
        Ok(args)
    }
}

impl Args {
    /// Puts a setting in its slot; errors on a repeated key and on `_secs` with `_ms`.
    fn store(&mut self, setting: Setting) -> syn::Result<()> {
        let key = setting.key.to_string();
        let slot = match key.as_str() {
            "failure_threshold" => &mut self.failure_threshold,
            "success_threshold" => &mut self.success_threshold,
            "half_open_max_calls" => &mut self.half_open_max_calls,
            "timeout_secs" | "timeout_ms" => &mut self.timeout,
            "half_open_timeout_secs" | "half_open_timeout_ms" => &mut self.half_open_timeout,
            // `parse_setting` only returns known keys.
            _ => return Err(unknown_setting(&setting.key)),
        };
        if let Some(previous) = slot {
            let message = if previous.key == setting.key {
                format!("duplicate setting `{key}`")
            } else {
                format!(
                    "`{key}` conflicts with `{}`: set the duration once, in seconds or in milliseconds",
                    previous.key
                )
            };
            return Err(syn::Error::new(setting.key.span(), message));
        }
        *slot = Some(setting);
        Ok(())
    }
}

/// The first argument: a non-empty string literal.
fn parse_name(input: ParseStream<'_>) -> syn::Result<LitStr> {
    const HINT: &str = "the breaker name must come first, as a string literal: \
                        `#[circuit_breaker(\"api_service\")]`";
    if !input.peek(LitStr) {
        // Point at the offending token (an identifier, a number, `name = ...`).
        return Err(input.error(HINT));
    }
    let name: LitStr = input.parse()?;
    if name.value().is_empty() {
        return Err(syn::Error::new(
            name.span(),
            "the breaker name must not be empty",
        ));
    }
    Ok(name)
}

fn unknown_setting(key: &Ident) -> syn::Error {
    syn::Error::new(
        key.span(),
        format!(
            "unknown setting `{key}`; expected one of: {}",
            SETTINGS.join(", ")
        ),
    )
}

/// `key = <integer literal>`, with the key known and the value in range.
fn parse_setting(input: ParseStream<'_>) -> syn::Result<Setting> {
    if !input.peek(Ident) {
        return Err(input.error(format!(
            "expected a setting such as `failure_threshold = 3`; valid settings: {}",
            SETTINGS.join(", ")
        )));
    }
    let key: Ident = input.parse()?;
    let key_str = key.to_string();
    if !SETTINGS.contains(&key_str.as_str()) {
        return Err(unknown_setting(&key));
    }
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(
            key.span(),
            format!("`{key_str}` needs a value, e.g. `{key_str} = 5`"),
        ));
    }
    input.parse::<Token![=]>()?;
    let value: Expr = input.parse()?;
    let value = parse_value(&key_str, &value)?;
    Ok(Setting { key, value })
}

/// Checks that `expr` is an integer literal in the range `key` accepts.
fn parse_value(key: &str, expr: &Expr) -> syn::Result<u64> {
    let (max, note) = limit(key);
    let range = format!("an integer from 1 to {max}{note}");
    let lit: &LitInt = match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => lit,
        Expr::Lit(ExprLit {
            lit: Lit::Float(_), ..
        }) if key.ends_with("_secs") => {
            let ms = key.replace("_secs", "_ms");
            return Err(syn::Error::new_spanned(
                expr,
                format!("`{key}` must be {range}; for fractions of a second use `{ms}`"),
            ));
        }
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_), ..
        }) => {
            return Err(syn::Error::new_spanned(
                expr,
                format!("`{key}` must be {range}, not negative"),
            ));
        }
        Expr::Lit(ExprLit {
            lit: Lit::Str(_), ..
        }) => {
            return Err(syn::Error::new_spanned(
                expr,
                format!("`{key}` must be {range}, not a string"),
            ));
        }
        Expr::Lit(_) => {
            return Err(syn::Error::new_spanned(
                expr,
                format!("`{key}` must be {range}"),
            ));
        }
        _ => {
            return Err(syn::Error::new_spanned(
                expr,
                format!(
                    "`{key}` must be {range}, written as a literal: \
                     the macro checks values when it expands, so constants and \
                     expressions are not accepted"
                ),
            ));
        }
    };
    if !matches!(
        lit.suffix(),
        "" | "u8"
            | "u16"
            | "u32"
            | "u64"
            | "u128"
            | "usize"
            | "i8"
            | "i16"
            | "i32"
            | "i64"
            | "i128"
            | "isize"
    ) {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "`{key}` must be {range}; unexpected suffix `{}`",
                lit.suffix()
            ),
        ));
    }
    let value: u64 = lit.base10_parse().map_err(|_| {
        syn::Error::new(lit.span(), format!("`{key}` must be {range}, found {lit}"))
    })?;
    if value == 0 || value > max {
        return Err(syn::Error::new(
            lit.span(),
            format!("`{key}` must be {range}, found {value}"),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tokens: TokenStream) -> syn::Result<Args> {
        syn::parse2(tokens)
    }

    fn err(tokens: TokenStream) -> String {
        match parse(tokens) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn name_only() {
        let args = parse(quote!("api_service")).unwrap();
        assert_eq!(args.name.value(), "api_service");
        assert!(args.failure_threshold.is_none());
        assert!(args.timeout.is_none());
    }

    #[test]
    fn all_settings_in_range() {
        let args = parse(quote!(
            "db",
            failure_threshold = 3,
            success_threshold = 1000,
            half_open_max_calls = 1,
            timeout_secs = 31_622_400,
            half_open_timeout_ms = 250,
        ))
        .unwrap();
        assert_eq!(args.failure_threshold.unwrap().value, 3);
        assert_eq!(args.success_threshold.unwrap().value, 1000);
        assert_eq!(args.half_open_max_calls.unwrap().value, 1);
        let timeout = args.timeout.unwrap();
        assert_eq!(timeout.value, MAX_DURATION_SECS);
        assert_eq!(timeout.key, "timeout_secs");
        let hot = args.half_open_timeout.unwrap();
        assert_eq!(hot.value, 250);
        assert_eq!(hot.key, "half_open_timeout_ms");
    }

    #[test]
    fn missing_or_bad_name() {
        assert!(err(quote!()).contains("missing breaker name"));
        assert!(err(quote!(api)).contains("string literal"));
        assert!(err(quote!(42)).contains("string literal"));
        assert!(err(quote!(failure_threshold = 3)).contains("string literal"));
        assert!(err(quote!("")).contains("must not be empty"));
    }

    #[test]
    fn unknown_and_malformed_settings() {
        let e = err(quote!("x", failure_treshold = 3));
        assert!(e.contains("unknown setting `failure_treshold`"), "{e}");
        for key in SETTINGS {
            assert!(e.contains(key), "{e} should list {key}");
        }
        assert!(err(quote!("x", failure_threshold)).contains("needs a value"));
        assert!(err(quote!("x" failure_threshold = 3)).contains("expected `,`"));
        assert!(err(quote!("x", 3)).contains("expected a setting"));
    }

    #[test]
    fn out_of_range_values() {
        for bad in [
            quote!(0),
            quote!(1001),
            quote!(-1),
            quote!(1.5),
            quote!("3"),
            quote!(N),
        ] {
            let e = err(quote!("x", failure_threshold = #bad));
            assert!(e.contains("from 1 to 1000"), "{bad}: {e}");
        }
        let e = err(quote!("x", timeout_secs = 31_622_401));
        assert!(e.contains("from 1 to 31622400 (366 days)"), "{e}");
        let e = err(quote!("x", timeout_ms = 31_622_400_001));
        assert!(e.contains("from 1 to 31622400000"), "{e}");
        assert!(err(quote!("x", timeout_ms = 99999999999999999999999)).contains("must be"));
        assert!(err(quote!("x", timeout_secs = 0.5)).contains("use `timeout_ms`"));
        assert!(err(quote!("x", timeout_secs = 5f32)).contains("unexpected suffix"));
        assert!(parse(quote!("x", timeout_secs = 5u64)).is_ok());
    }

    #[test]
    fn duplicates_and_conflicts() {
        let e = err(quote!("x", failure_threshold = 3, failure_threshold = 4));
        assert!(e.contains("duplicate setting `failure_threshold`"), "{e}");
        let e = err(quote!("x", timeout_secs = 3, timeout_ms = 4));
        assert!(
            e.contains("`timeout_ms` conflicts with `timeout_secs`"),
            "{e}"
        );
        let e = err(quote!(
            "x",
            half_open_timeout_ms = 3,
            half_open_timeout_secs = 4
        ));
        assert!(
            e.contains("`half_open_timeout_secs` conflicts with `half_open_timeout_ms`"),
            "{e}"
        );
        // Different durations may mix units.
        assert!(parse(quote!("x", timeout_secs = 3, half_open_timeout_ms = 4)).is_ok());
    }
}
