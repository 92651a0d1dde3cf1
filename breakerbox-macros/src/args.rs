//! Parsing and validation of the attribute arguments: `"name", key = value, ...`.
//!
//! Every value is checked here, when the macro expands, against the same limits that
//! `breakerbox::ConfigBuilder::build` enforces (the rows of
//! [`SETTINGS`](crate::settings::SETTINGS)), so the generated `build()` cannot fail.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::{Expr, ExprLit, ExprUnary, Ident, Lit, LitFloat, LitInt, LitStr, Path, Token, UnOp};

use crate::settings::{all_keys, spec, Kind, Slot, Spec, DEFAULT_TIMEOUT_MS};

/// The parsed attribute: the breaker's name, the settings given and the crate path.
pub(crate) struct Args {
    /// The registry name, as written (the literal keeps its span).
    pub(crate) name: LitStr,
    /// `crate = path`: where the expansion finds breakerbox (default `::breakerbox`).
    pub(crate) krate: Option<Path>,
    /// The settings given, in the order written; at most one per [`Slot`].
    pub(crate) settings: Vec<Setting>,
}

/// One validated `key = value` pair.
pub(crate) struct Setting {
    /// Its row of the table.
    pub(crate) spec: &'static Spec,
    /// The key as written, for spans.
    pub(crate) key: Ident,
    /// The value as written, for spans.
    pub(crate) expr: Expr,
    /// The value, already range-checked for its key.
    pub(crate) value: Value,
}

/// A checked value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value {
    /// A count, or a duration in the setting's unit.
    Int(u64),
    /// A percentage or a factor (finite).
    Float(f64),
    /// A flag.
    Bool(bool),
}

impl Args {
    /// The setting given for `slot`, if any.
    pub(crate) fn get(&self, slot: Slot) -> Option<&Setting> {
        self.settings.iter().find(|s| s.spec.slot == slot)
    }

    /// The path the expansion names the crate by.
    pub(crate) fn krate(&self) -> TokenStream {
        match &self.krate {
            Some(path) => path.to_token_stream(),
            None => quote!(::breakerbox),
        }
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
            krate: None,
            settings: Vec::new(),
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
            if input.peek(Token![crate]) {
                args.parse_crate(input)?;
                continue;
            }
            let setting = parse_setting(input)?;
            args.store(setting)?;
        }
        args.check_together()?;
        Ok(args)
    }
}

impl Args {
    /// `crate = path`.
    fn parse_crate(&mut self, input: ParseStream<'_>) -> syn::Result<()> {
        let kw: Token![crate] = input.parse()?;
        if self.krate.is_some() {
            return Err(syn::Error::new(kw.span, "duplicate setting `crate`"));
        }
        if !input.peek(Token![=]) {
            return Err(syn::Error::new(
                kw.span,
                "`crate` needs a path, e.g. `crate = ::my_crate::breakerbox`",
            ));
        }
        input.parse::<Token![=]>()?;
        let path: Path = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "`crate` needs a path to breakerbox, e.g. `crate = ::my_crate::breakerbox`",
            )
        })?;
        self.krate = Some(path);
        Ok(())
    }

    /// Adds a setting; errors on a repeated key and on two settings of one slot.
    fn store(&mut self, setting: Setting) -> syn::Result<()> {
        if let Some(previous) = self.get(setting.spec.slot) {
            let key = &setting.key;
            let message = if previous.key == *key {
                format!("duplicate setting `{key}`")
            } else {
                format!(
                    "`{key}` conflicts with `{}`: {}",
                    previous.key,
                    setting.spec.slot.conflict_hint()
                )
            };
            return Err(syn::Error::new(key.span(), message));
        }
        self.settings.push(setting);
        Ok(())
    }

    /// Settings that need others (the `requires` of their row), and the backoff's cap,
    /// which must be at least the timeout.
    fn check_together(&self) -> syn::Result<()> {
        for s in &self.settings {
            for &needed in s.spec.requires {
                if self.get(needed).is_none() {
                    let why = match needed {
                        Slot::Window => "the rates are evaluated over a sliding window",
                        Slot::SlowCall => "it needs a slow-call duration to tell slow calls",
                        _ => "exponential backoff takes a growth factor and a cap",
                    };
                    return Err(syn::Error::new(
                        s.key.span(),
                        format!("`{}` needs {} too: {why}", s.key, needed.keys()),
                    ));
                }
            }
        }
        if let Some(max) = self.get(Slot::BackoffMax) {
            let timeout = self.get(Slot::Timeout);
            let timeout_ms = timeout.map_or(DEFAULT_TIMEOUT_MS, Setting::millis);
            if max.millis() < timeout_ms {
                let timeout = match timeout {
                    Some(t) => format!("`{} = {}`", t.key, t.expr.to_token_stream()),
                    None => "60 seconds, the default".to_string(),
                };
                return Err(syn::Error::new_spanned(
                    &max.expr,
                    format!(
                        "`{}` must be at least the timeout ({timeout}): the open period \
                         grows from the timeout up to this cap",
                        max.key
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Setting {
    /// A duration setting's value in milliseconds (0 for other kinds).
    pub(crate) fn millis(&self) -> u64 {
        match (self.spec.kind, self.value) {
            (Kind::Duration { unit, .. }, Value::Int(n)) => n * unit.ms(),
            _ => 0,
        }
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
        format!("unknown setting `{key}`; expected one of: {}", all_keys()),
    )
}

/// `key = <literal>`, with the key known and the value in range.
fn parse_setting(input: ParseStream<'_>) -> syn::Result<Setting> {
    if !input.peek(Ident) {
        return Err(input.error(format!(
            "expected a setting such as `failure_threshold = 3`; valid settings: {}",
            all_keys()
        )));
    }
    let key: Ident = input.parse()?;
    let key_str = key.to_string();
    let Some(spec) = spec(&key_str) else {
        return Err(unknown_setting(&key));
    };
    if !input.peek(Token![=]) {
        let example = match spec.kind {
            Kind::Flag => "true",
            Kind::Percent => "50",
            _ => "5",
        };
        return Err(syn::Error::new(
            key.span(),
            format!("`{key_str}` needs a value, e.g. `{key_str} = {example}`"),
        ));
    }
    input.parse::<Token![=]>()?;
    let expr: Expr = input.parse()?;
    let value = parse_value(spec, &expr)?;
    Ok(Setting {
        spec,
        key,
        expr,
        value,
    })
}

/// Checks that `expr` is a literal of the kind and in the range `spec` accepts.
fn parse_value(spec: &Spec, expr: &Expr) -> syn::Result<Value> {
    let key = spec.key;
    let accepts = spec.kind.accepts();
    let error = |what: String| syn::Error::new_spanned(expr, format!("`{key}` must be {what}"));
    let lit = match expr {
        Expr::Lit(ExprLit { lit, .. }) => lit,
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_), ..
        }) => return Err(error(format!("{accepts}, not negative"))),
        _ => {
            return Err(error(format!(
                "{accepts}, written as a literal: the macro checks values when it expands, \
                 so constants and expressions are not accepted"
            )))
        }
    };
    match (spec.kind, lit) {
        (Kind::Flag, Lit::Bool(b)) => Ok(Value::Bool(b.value)),
        (Kind::Flag, _) => Err(error(accepts)),
        (_, Lit::Str(_)) => Err(error(format!("{accepts}, not a string"))),
        (Kind::Count { .. } | Kind::Duration { .. }, Lit::Int(lit)) => {
            let n = int_literal(key, &accepts, lit)?;
            let (min, max) = spec.kind.int_range().unwrap_or((1, u64::MAX));
            if n < min || n > max {
                return Err(syn::Error::new(
                    lit.span(),
                    format!("`{key}` must be {accepts}, found {n}"),
                ));
            }
            Ok(Value::Int(n))
        }
        (Kind::Count { .. } | Kind::Duration { .. }, Lit::Float(_)) => {
            if key.ends_with("_secs") {
                let ms = key.replace("_secs", "_ms");
                Err(error(format!(
                    "{accepts}; for fractions of a second use `{ms}`"
                )))
            } else {
                Err(error(format!("{accepts}, not a float")))
            }
        }
        (Kind::Percent | Kind::Factor, Lit::Int(lit)) => {
            let x = match lit.suffix() {
                // `50f64` is lexed as an integer with a float suffix: it is a float.
                "f64" => lit.base10_digits().parse::<f64>().unwrap_or(f64::NAN),
                "f32" => lit
                    .base10_digits()
                    .parse::<f32>()
                    .map_or(f64::NAN, f64::from),
                _ => int_literal(key, &accepts, lit)? as f64,
            };
            check_number(spec, lit.span(), x, &lit.to_string())
        }
        (Kind::Percent | Kind::Factor, Lit::Float(lit)) => {
            let x = float_literal(key, &accepts, lit)?;
            check_number(spec, lit.span(), x, &lit.to_string())
        }
        _ => Err(error(accepts)),
    }
}

/// A percentage in (0, 100] or a factor that is finite and at least 1, as `build` wants.
fn check_number(spec: &Spec, span: Span, x: f64, written: &str) -> syn::Result<Value> {
    let ok = match spec.kind {
        // NaN fails both comparisons; an infinity fails the upper bound.
        Kind::Percent => x > 0.0 && x <= 100.0,
        _ => x.is_finite() && x >= 1.0,
    };
    if ok {
        Ok(Value::Float(x))
    } else {
        let note = if x.is_finite() {
            ""
        } else {
            " (not a finite number)"
        };
        Err(syn::Error::new(
            span,
            format!(
                "`{}` must be {}, found {written}{note}",
                spec.key,
                spec.kind.accepts()
            ),
        ))
    }
}

/// What an integer setting accepts as a literal, for suffix errors.
const INT_FORMS: &str = "an integer literal (decimal, `0x`, `0o` or `0b`), unsuffixed or with \
                         an integer-type suffix its value fits in, such as `500u32`";

/// The value of an integer literal: any base; a suffix only if it is an integer type the
/// value fits in (`1000u8` is rejected, as rustc would reject it).
fn int_literal(key: &str, accepts: &str, lit: &LitInt) -> syn::Result<u64> {
    let suffix = lit.suffix();
    let type_max: Option<u128> = match suffix {
        "" => None,
        "u8" => Some(u8::MAX.into()),
        "u16" => Some(u16::MAX.into()),
        "u32" => Some(u32::MAX.into()),
        "u64" | "usize" => Some(u64::MAX.into()),
        "u128" => Some(u128::MAX),
        "i8" => Some(i8::MAX as u128),
        "i16" => Some(i16::MAX as u128),
        "i32" => Some(i32::MAX as u128),
        "i64" | "isize" => Some(i64::MAX as u128),
        "i128" => Some(i128::MAX as u128),
        "f32" | "f64" => {
            return Err(syn::Error::new(
                lit.span(),
                format!("`{key}` must be {accepts}: `{lit}` is a float; write {INT_FORMS}"),
            ))
        }
        "s" | "sec" | "secs" | "ms" | "us" | "ns" | "m" | "min" | "h" => {
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "`{key}` must be {accepts}: unexpected suffix `{suffix}`; the unit is in \
                     the setting's name: write `{key} = {}`",
                    lit.base10_digits()
                ),
            ))
        }
        _ => {
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "`{key}` must be {accepts}: unexpected suffix `{suffix}`; write {INT_FORMS}"
                ),
            ))
        }
    };
    // `base10_digits` has already converted `0x`/`0o`/`0b` and dropped `_`.
    let Ok(n) = lit.base10_digits().parse::<u128>() else {
        return Err(syn::Error::new(
            lit.span(),
            format!("`{key}` must be {accepts}, found {lit}"),
        ));
    };
    if let Some(type_max) = type_max {
        if n > type_max {
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "`{key}` must be {accepts}: `{lit}` does not fit in its suffix type \
                     `{suffix}` (at most {type_max}); write {INT_FORMS}"
                ),
            ));
        }
    }
    u64::try_from(n)
        .map_err(|_| syn::Error::new(lit.span(), format!("`{key}` must be {accepts}, found {n}")))
}

/// The value of a float literal, read as its suffix type says (`f64` when unsuffixed).
fn float_literal(key: &str, accepts: &str, lit: &LitFloat) -> syn::Result<f64> {
    let parsed = match lit.suffix() {
        "" | "f64" => lit.base10_digits().parse::<f64>().ok(),
        "f32" => lit.base10_digits().parse::<f32>().ok().map(f64::from),
        suffix => {
            return Err(syn::Error::new(
                lit.span(),
                format!("`{key}` must be {accepts}: unexpected suffix `{suffix}`"),
            ))
        }
    };
    parsed.ok_or_else(|| {
        syn::Error::new(
            lit.span(),
            format!("`{key}` must be {accepts}, found {lit}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::SETTINGS;

    fn parse(tokens: TokenStream) -> syn::Result<Args> {
        syn::parse2(tokens)
    }

    fn err(tokens: TokenStream) -> String {
        match parse(tokens) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    fn value(args: &Args, slot: Slot) -> Value {
        args.get(slot).unwrap().value
    }

    #[test]
    fn name_only() {
        let args = parse(quote!("api_service")).unwrap();
        assert_eq!(args.name.value(), "api_service");
        assert!(args.settings.is_empty());
        assert!(args.krate.is_none());
        assert_eq!(args.krate().to_string(), ":: breakerbox");
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
            window_calls = 10_000,
            failure_rate = 12.5,
            minimum_calls = 20,
            slow_call_ms = 500,
            slow_call_rate = 100,
            dry_run = true,
            backoff_multiplier = 2,
            backoff_max_secs = 31_622_400,
        ))
        .unwrap();
        assert_eq!(value(&args, Slot::FailureThreshold), Value::Int(3));
        assert_eq!(value(&args, Slot::SuccessThreshold), Value::Int(1000));
        assert_eq!(value(&args, Slot::HalfOpenMaxCalls), Value::Int(1));
        let timeout = args.get(Slot::Timeout).unwrap();
        assert_eq!(timeout.value, Value::Int(31_622_400));
        assert_eq!(timeout.key, "timeout_secs");
        assert_eq!(timeout.millis(), 31_622_400_000);
        let hot = args.get(Slot::HalfOpenTimeout).unwrap();
        assert_eq!((hot.value, hot.millis()), (Value::Int(250), 250));
        assert_eq!(value(&args, Slot::Window), Value::Int(10_000));
        assert_eq!(value(&args, Slot::FailureRate), Value::Float(12.5));
        assert_eq!(value(&args, Slot::MinimumCalls), Value::Int(20));
        assert_eq!(value(&args, Slot::SlowCallRate), Value::Float(100.0));
        assert_eq!(value(&args, Slot::DryRun), Value::Bool(true));
        assert_eq!(value(&args, Slot::BackoffMultiplier), Value::Float(2.0));
        assert_eq!(args.settings.len(), 13);
    }

    #[test]
    fn time_windows_and_their_bounds() {
        for ok in [
            quote!(window_secs = 1),
            quote!(window_secs = 3600),
            quote!(window_ms = 1000),
            quote!(window_ms = 3_600_000),
        ] {
            assert!(parse(quote!("x", #ok)).is_ok(), "{ok}");
        }
        let e = err(quote!("x", window_ms = 999));
        assert!(
            e.contains("from 1000 to 3600000 (1 second to 1 hour), found 999"),
            "{e}"
        );
        let e = err(quote!("x", window_secs = 3601));
        assert!(e.contains("from 1 to 3600 (1 second to 1 hour)"), "{e}");
        let e = err(quote!("x", window_calls = 10_001));
        assert!(e.contains("from 1 to 10000, found 10001"), "{e}");
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
        for s in SETTINGS {
            assert!(e.contains(s.key), "{e} should list {}", s.key);
        }
        assert!(e.ends_with(", crate"), "{e}");
        assert!(err(quote!("x", failure_threshold)).contains("needs a value"));
        assert!(err(quote!("x", dry_run)).contains("`dry_run = true`"));
        assert!(err(quote!("x" failure_threshold = 3)).contains("expected `,`"));
        assert!(err(quote!("x", 3)).contains("expected a setting"));
    }

    #[test]
    fn out_of_range_counts_and_durations() {
        for bad in [
            quote!(0),
            quote!(1001),
            quote!(-1),
            quote!(1.5),
            quote!("3"),
            quote!(N),
            quote!(true),
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
        assert!(err(quote!("x", slow_call_ms = 0.5)).contains("not a float"));
    }

    #[test]
    fn integer_literal_forms() {
        let int = |tokens: TokenStream| match parse(quote!("x", timeout_ms = #tokens)) {
            Ok(args) => value(&args, Slot::Timeout),
            Err(e) => panic!("{tokens}: {e}"),
        };
        assert_eq!(int(quote!(0x10)), Value::Int(16));
        assert_eq!(int(quote!(0o17)), Value::Int(15));
        assert_eq!(int(quote!(0b101)), Value::Int(5));
        assert_eq!(int(quote!(1_500)), Value::Int(1500));
        assert_eq!(int(quote!(255u8)), Value::Int(255));
        assert_eq!(int(quote!(0xffu8)), Value::Int(255));
        assert_eq!(int(quote!(127i8)), Value::Int(127));
        assert_eq!(int(quote!(31_622_400_000u64)), Value::Int(31_622_400_000));
        assert_eq!(int(quote!(5usize)), Value::Int(5));

        let e = err(quote!("x", failure_threshold = 1000u8));
        assert!(
            e.contains("`1000u8` does not fit in its suffix type `u8` (at most 255)"),
            "{e}"
        );
        let e = err(quote!("x", failure_threshold = 128i8));
        assert!(e.contains("(at most 127)"), "{e}");
        let e = err(quote!("x", timeout_ms = 0x1_0000u16));
        assert!(e.contains("does not fit in its suffix type `u16`"), "{e}");
        let e = err(quote!("x", timeout_secs = 5f32));
        assert!(e.contains("`5f32` is a float"), "{e}");
        let e = err(quote!("x", minimum_calls = 5u7));
        assert!(e.contains("unexpected suffix `u7`"), "{e}");
        assert!(e.contains("0x"), "the message says what is accepted: {e}");
    }

    #[test]
    fn percentages() {
        let rate = |tokens: TokenStream| {
            parse(quote!("x", window_calls = 10, failure_rate = #tokens))
                .map(|args| value(&args, Slot::FailureRate))
        };
        assert_eq!(rate(quote!(50)).unwrap(), Value::Float(50.0));
        assert_eq!(rate(quote!(100)).unwrap(), Value::Float(100.0));
        assert_eq!(rate(quote!(0.001)).unwrap(), Value::Float(0.001));
        assert_eq!(rate(quote!(12.5f64)).unwrap(), Value::Float(12.5));
        assert_eq!(rate(quote!(50u8)).unwrap(), Value::Float(50.0));
        assert_eq!(rate(quote!(0x32)).unwrap(), Value::Float(50.0));
        assert_eq!(rate(quote!(0.5f32)).unwrap(), Value::Float(0.5));
        assert_eq!(rate(quote!(50f32)).unwrap(), Value::Float(50.0));
        for bad in [
            quote!(0),
            quote!(0.0),
            quote!(150),
            quote!(100.01),
            quote!(1e400),
            quote!(-5),
            quote!(f64::NAN),
            quote!("50"),
            quote!(50u7),
        ] {
            let e = rate(bad.clone()).err().unwrap().to_string();
            assert!(e.contains("above 0 and at most 100"), "{bad}: {e}");
        }
        let e = rate(quote!(1e400)).err().unwrap().to_string();
        assert!(e.contains("found 1e400 (not a finite number)"), "{e}");
        let e = err(quote!("x", timeout_ms = 500ms));
        assert!(
            e.contains("the unit is in the setting's name: write `timeout_ms = 500`"),
            "{e}"
        );
    }

    #[test]
    fn flags_and_factors() {
        let args = parse(quote!("x", dry_run = false)).unwrap();
        assert_eq!(value(&args, Slot::DryRun), Value::Bool(false));
        for bad in [quote!(1), quote!("true"), quote!(yes)] {
            let e = err(quote!("x", dry_run = #bad));
            assert!(
                e.contains("`dry_run` must be `true` or `false`"),
                "{bad}: {e}"
            );
        }
        let factor = |tokens: TokenStream| {
            parse(quote!("x", backoff_multiplier = #tokens, backoff_max_secs = 600))
                .map(|args| value(&args, Slot::BackoffMultiplier))
        };
        assert_eq!(factor(quote!(1)).unwrap(), Value::Float(1.0));
        assert_eq!(factor(quote!(1.5)).unwrap(), Value::Float(1.5));
        for bad in [quote!(0.5), quote!(0), quote!(1e999)] {
            let e = factor(bad.clone()).err().unwrap().to_string();
            assert!(e.contains("finite number of at least 1"), "{bad}: {e}");
        }
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
        let e = err(quote!("x", window_calls = 100, window_secs = 60));
        assert!(
            e.contains(
                "`window_secs` conflicts with `window_calls`: a breaker has one sliding window"
            ),
            "{e}"
        );
        let e = err(quote!("x", slow_call_ms = 100, slow_call_secs = 1));
        assert!(
            e.contains("`slow_call_secs` conflicts with `slow_call_ms`"),
            "{e}"
        );
        // Different durations may mix units.
        assert!(parse(quote!("x", timeout_secs = 3, half_open_timeout_ms = 4)).is_ok());
    }

    #[test]
    fn settings_that_need_others() {
        let e = err(quote!("x", failure_rate = 50));
        assert!(
            e.contains("`failure_rate` needs `window_calls`, `window_secs` or `window_ms` too"),
            "{e}"
        );
        let e = err(quote!("x", minimum_calls = 5));
        assert!(e.contains("`minimum_calls` needs `window_calls`"), "{e}");
        let e = err(quote!("x", window_secs = 10, slow_call_rate = 50));
        assert!(
            e.contains("`slow_call_rate` needs `slow_call_secs` or `slow_call_ms` too"),
            "{e}"
        );
        let e = err(quote!("x", backoff_multiplier = 2));
        assert!(
            e.contains("`backoff_multiplier` needs `backoff_max_secs` or `backoff_max_ms`"),
            "{e}"
        );
        let e = err(quote!("x", backoff_max_ms = 60_000));
        assert!(
            e.contains("`backoff_max_ms` needs `backoff_multiplier`"),
            "{e}"
        );
        // A slow-call duration alone is useful (P6, P9): no window needed.
        assert!(parse(quote!("x", slow_call_ms = 500)).is_ok());
    }

    #[test]
    fn backoff_cap_is_at_least_the_timeout() {
        let ok = |t: TokenStream| parse(quote!("x", backoff_multiplier = 2, #t)).is_ok();
        assert!(ok(quote!(backoff_max_secs = 60)), "the default timeout");
        assert!(ok(quote!(backoff_max_ms = 60_000)));
        assert!(!ok(quote!(backoff_max_ms = 59_999)));
        assert!(ok(quote!(backoff_max_ms = 500, timeout_ms = 500)));
        assert!(ok(quote!(timeout_secs = 1, backoff_max_ms = 1000)));
        let e = err(quote!(
            "x",
            timeout_secs = 90,
            backoff_multiplier = 2,
            backoff_max_secs = 89
        ));
        assert!(
            e.contains("`backoff_max_secs` must be at least the timeout (`timeout_secs = 90`)"),
            "{e}"
        );
        let e = err(quote!("x", backoff_multiplier = 2, backoff_max_secs = 30));
        assert!(e.contains("(60 seconds, the default)"), "{e}");
    }

    #[test]
    fn crate_path() {
        let args = parse(quote!(
            "x",
            crate = ::my_reexport::breakerbox,
            failure_threshold = 2
        ))
        .unwrap();
        assert_eq!(args.krate().to_string(), ":: my_reexport :: breakerbox");
        assert_eq!(args.settings.len(), 1);
        let args = parse(quote!("x", crate = bb)).unwrap();
        assert_eq!(args.krate().to_string(), "bb");
        assert!(err(quote!("x", crate = a, crate = b)).contains("duplicate setting `crate`"));
        assert!(err(quote!("x", crate)).contains("`crate` needs a path"));
        assert!(err(quote!("x", crate = 5)).contains("`crate` needs a path"));
    }
}
