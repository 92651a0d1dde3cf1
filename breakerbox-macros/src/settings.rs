//! The one table of settings: every `key = value` the attribute accepts, what kind of
//! value it takes and in which range, and which `ConfigBuilder` call it becomes.
//!
//! Parsing ([`crate::args`]), the error messages, the code generation ([`crate::expand`])
//! and the compile-time cross-check against the crate's constants are all driven by
//! [`SETTINGS`]. Adding a setting is adding a row here and a row to the docs' table (a
//! unit test checks that the two agree); only a setting that sets something new also
//! needs a [`Slot`], and one that is not a plain `.method(value)` a [`Call`].

use proc_macro2::TokenStream;
use quote::quote;

/// What a setting sets in the builder. Settings that share a slot exclude each other
/// (`timeout_secs` / `timeout_ms`, `window_calls` / `window_secs` / `window_ms`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    FailureThreshold,
    SuccessThreshold,
    HalfOpenMaxCalls,
    Timeout,
    HalfOpenTimeout,
    Window,
    FailureRate,
    MinimumCalls,
    SlowCall,
    SlowCallRate,
    DryRun,
    BackoffMultiplier,
    BackoffMax,
}

impl Slot {
    /// Why two settings of this slot cannot both be given (the end of the error message).
    pub(crate) fn conflict_hint(self) -> &'static str {
        match self {
            Slot::Window => {
                "a breaker has one sliding window, counted in calls (`window_calls`) \
                 or in time (`window_secs` / `window_ms`)"
            }
            _ => "set the duration once, in seconds or in milliseconds",
        }
    }

    /// The settings of this slot, for "needs ..." messages: "`window_calls`, `window_secs`
    /// or `window_ms`".
    pub(crate) fn keys(self) -> String {
        let keys: Vec<String> = SETTINGS
            .iter()
            .filter(|s| s.slot == self)
            .map(|s| format!("`{}`", s.key))
            .collect();
        match keys.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

/// A limit that `ConfigBuilder::build` enforces: its value as the macro knows it, and the
/// crate's constant that the generated code re-checks it against.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Bound {
    /// `Config::MAX_THRESHOLD`, a count.
    MaxThreshold,
    /// `Config::MAX_WINDOW_CALLS`, a count.
    MaxWindowCalls,
    /// `Config::MAX_DURATION`, 366 days.
    MaxDuration,
    /// `Config::MIN_WINDOW_TIME`, one second.
    MinWindowTime,
    /// `Config::MAX_WINDOW_TIME`, one hour.
    MaxWindowTime,
}

impl Bound {
    /// The limit in the macro's units: a count, or milliseconds for a duration.
    pub(crate) const fn value(self) -> u64 {
        match self {
            Bound::MaxThreshold => 1000,
            Bound::MaxWindowCalls => 10_000,
            Bound::MaxDuration => 366 * 86_400 * 1000,
            Bound::MinWindowTime => 1000,
            Bound::MaxWindowTime => 3_600 * 1000,
        }
    }

    /// The name of the crate's constant.
    pub(crate) const fn constant_name(self) -> &'static str {
        match self {
            Bound::MaxThreshold => "MAX_THRESHOLD",
            Bound::MaxWindowCalls => "MAX_WINDOW_CALLS",
            Bound::MaxDuration => "MAX_DURATION",
            Bound::MinWindowTime => "MIN_WINDOW_TIME",
            Bound::MaxWindowTime => "MAX_WINDOW_TIME",
        }
    }

    /// A duration bound in words, for messages.
    pub(crate) const fn words(self) -> &'static str {
        match self {
            Bound::MaxDuration => "366 days",
            Bound::MinWindowTime => "1 second",
            Bound::MaxWindowTime => "1 hour",
            Bound::MaxThreshold | Bound::MaxWindowCalls => "",
        }
    }

    /// The crate's constant as an expression comparable with a generated value: the `u32`
    /// itself for a count, its nanoseconds (`u128`) for a duration.
    pub(crate) fn constant(self, krate: &TokenStream) -> TokenStream {
        let name = quote::format_ident!("{}", self.constant_name());
        match self {
            Bound::MaxThreshold | Bound::MaxWindowCalls => quote!(#krate::Config::#name),
            Bound::MaxDuration | Bound::MinWindowTime | Bound::MaxWindowTime => {
                quote!(#krate::Config::#name.as_nanos())
            }
        }
    }
}

/// The unit of a duration setting, told by its key's suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    Secs,
    Ms,
}

impl Unit {
    /// Milliseconds in one unit.
    pub(crate) const fn ms(self) -> u64 {
        match self {
            Unit::Secs => 1000,
            Unit::Ms => 1,
        }
    }
}

/// The value a setting takes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// A `u32` count from 1 to `max`.
    Count { max: Bound },
    /// A whole number of `unit`s, from `min` (1 unit when `None`) to `max`.
    Duration {
        unit: Unit,
        min: Option<Bound>,
        max: Bound,
    },
    /// A percentage above 0 and at most 100, as an integer or float literal.
    Percent,
    /// A growth factor, finite and at least 1, as an integer or float literal.
    Factor,
    /// `true` or `false`.
    Flag,
}

impl Kind {
    /// The smallest and largest accepted value of a count or duration, in the setting's
    /// own unit (the minimum rounded up, the maximum down).
    pub(crate) fn int_range(self) -> Option<(u64, u64)> {
        match self {
            Kind::Count { max } => Some((1, max.value())),
            Kind::Duration { unit, min, max } => {
                let min = min.map_or(1, |b| b.value().div_ceil(unit.ms()));
                Some((min, max.value() / unit.ms()))
            }
            Kind::Percent | Kind::Factor | Kind::Flag => None,
        }
    }

    /// What the setting accepts, in words: "an integer from 1 to 1000".
    pub(crate) fn accepts(self) -> String {
        match (self, self.int_range()) {
            (Kind::Count { .. }, Some((min, max))) => format!("an integer from {min} to {max}"),
            (Kind::Duration { min, max, .. }, Some((lo, hi))) => match min {
                None => format!("an integer from {lo} to {hi} ({})", max.words()),
                Some(min) => format!(
                    "an integer from {lo} to {hi} ({} to {})",
                    min.words(),
                    max.words()
                ),
            },
            (Kind::Percent, _) => "a percentage above 0 and at most 100 (an integer or float \
                                   literal such as `50` or `12.5`)"
                .to_string(),
            (Kind::Factor, _) => {
                "a finite number of at least 1 (an integer or float literal such as `2` or `1.5`)"
                    .to_string()
            }
            _ => "`true` or `false`".to_string(),
        }
    }
}

/// What a setting becomes in the generated `Config::builder()` chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    /// `.method(value)`.
    Method(&'static str),
    /// `.sliding_window(Window::Calls(value))`.
    WindowCalls,
    /// `.sliding_window(Window::Time(value))`.
    WindowTime,
    /// The multiplier of `.backoff(Backoff::exponential(multiplier, max))`.
    BackoffMultiplier,
    /// The cap of `.backoff(Backoff::exponential(multiplier, max))`.
    BackoffMax,
}

/// One row of the table.
#[derive(Debug)]
pub(crate) struct Spec {
    /// The key as written in the attribute.
    pub(crate) key: &'static str,
    /// What it sets; settings sharing a slot exclude each other.
    pub(crate) slot: Slot,
    /// Its value and range.
    pub(crate) kind: Kind,
    /// The builder call it becomes.
    pub(crate) call: Call,
    /// Slots that must be set too, else the setting would have no effect (or, for the
    /// backoff, no complete `Backoff::exponential`).
    pub(crate) requires: &'static [Slot],
}

const fn count(key: &'static str, slot: Slot, max: Bound, call: Call) -> Spec {
    Spec {
        key,
        slot,
        kind: Kind::Count { max },
        call,
        requires: &[],
    }
}

const fn duration(key: &'static str, slot: Slot, unit: Unit, method: &'static str) -> Spec {
    Spec {
        key,
        slot,
        kind: Kind::Duration {
            unit,
            min: None,
            max: Bound::MaxDuration,
        },
        call: Call::Method(method),
        requires: &[],
    }
}

const fn window_time(key: &'static str, unit: Unit) -> Spec {
    Spec {
        key,
        slot: Slot::Window,
        kind: Kind::Duration {
            unit,
            min: Some(Bound::MinWindowTime),
            max: Bound::MaxWindowTime,
        },
        call: Call::WindowTime,
        requires: &[],
    }
}

const fn backoff_max(key: &'static str, unit: Unit) -> Spec {
    Spec {
        key,
        slot: Slot::BackoffMax,
        kind: Kind::Duration {
            unit,
            min: None,
            max: Bound::MaxDuration,
        },
        call: Call::BackoffMax,
        requires: &[Slot::BackoffMultiplier],
    }
}

/// Every setting, in the order the error messages and the docs list them.
pub(crate) const SETTINGS: &[Spec] = &[
    count(
        "failure_threshold",
        Slot::FailureThreshold,
        Bound::MaxThreshold,
        Call::Method("failure_threshold"),
    ),
    count(
        "success_threshold",
        Slot::SuccessThreshold,
        Bound::MaxThreshold,
        Call::Method("success_threshold"),
    ),
    count(
        "half_open_max_calls",
        Slot::HalfOpenMaxCalls,
        Bound::MaxThreshold,
        Call::Method("half_open_max_calls"),
    ),
    duration("timeout_secs", Slot::Timeout, Unit::Secs, "timeout"),
    duration("timeout_ms", Slot::Timeout, Unit::Ms, "timeout"),
    duration(
        "half_open_timeout_secs",
        Slot::HalfOpenTimeout,
        Unit::Secs,
        "half_open_timeout",
    ),
    duration(
        "half_open_timeout_ms",
        Slot::HalfOpenTimeout,
        Unit::Ms,
        "half_open_timeout",
    ),
    count(
        "window_calls",
        Slot::Window,
        Bound::MaxWindowCalls,
        Call::WindowCalls,
    ),
    window_time("window_secs", Unit::Secs),
    window_time("window_ms", Unit::Ms),
    Spec {
        key: "failure_rate",
        slot: Slot::FailureRate,
        kind: Kind::Percent,
        call: Call::Method("failure_rate_threshold"),
        requires: &[Slot::Window],
    },
    Spec {
        key: "minimum_calls",
        slot: Slot::MinimumCalls,
        kind: Kind::Count {
            max: Bound::MaxWindowCalls,
        },
        call: Call::Method("minimum_calls"),
        requires: &[Slot::Window],
    },
    duration(
        "slow_call_secs",
        Slot::SlowCall,
        Unit::Secs,
        "slow_call_duration",
    ),
    duration(
        "slow_call_ms",
        Slot::SlowCall,
        Unit::Ms,
        "slow_call_duration",
    ),
    Spec {
        key: "slow_call_rate",
        slot: Slot::SlowCallRate,
        kind: Kind::Percent,
        call: Call::Method("slow_call_rate_threshold"),
        requires: &[Slot::Window, Slot::SlowCall],
    },
    Spec {
        key: "dry_run",
        slot: Slot::DryRun,
        kind: Kind::Flag,
        call: Call::Method("dry_run"),
        requires: &[],
    },
    Spec {
        key: "backoff_multiplier",
        slot: Slot::BackoffMultiplier,
        kind: Kind::Factor,
        call: Call::BackoffMultiplier,
        requires: &[Slot::BackoffMax],
    },
    backoff_max("backoff_max_secs", Unit::Secs),
    backoff_max("backoff_max_ms", Unit::Ms),
];

/// `Config::default().timeout()` in milliseconds: the floor of `backoff_max_*` when no
/// `timeout_*` is given (`build` requires `timeout <= max`). A test of the main crate
/// (`tests/macro.rs`) builds the smallest accepted cap without a timeout, so a larger
/// default would fail it.
pub(crate) const DEFAULT_TIMEOUT_MS: u64 = 60_000;

/// The row for `key`, if it is a setting.
pub(crate) fn spec(key: &str) -> Option<&'static Spec> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// Every key, for "expected one of" messages, with the `crate = path` option last.
pub(crate) fn all_keys() -> String {
    let mut keys: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
    keys.push("crate");
    keys.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_units_match_their_suffix() {
        for (i, s) in SETTINGS.iter().enumerate() {
            assert!(
                SETTINGS[i + 1..].iter().all(|t| t.key != s.key),
                "{} twice",
                s.key
            );
            if let Kind::Duration { unit, .. } = s.kind {
                let suffix = match unit {
                    Unit::Secs => "_secs",
                    Unit::Ms => "_ms",
                };
                assert!(s.key.ends_with(suffix), "{}", s.key);
            }
        }
    }

    #[test]
    fn ranges_in_each_unit() {
        let range = |key| spec(key).unwrap().kind.int_range().unwrap();
        assert_eq!(range("failure_threshold"), (1, 1000));
        assert_eq!(range("window_calls"), (1, 10_000));
        assert_eq!(range("minimum_calls"), (1, 10_000));
        assert_eq!(range("timeout_secs"), (1, 31_622_400));
        assert_eq!(range("timeout_ms"), (1, 31_622_400_000));
        assert_eq!(range("window_secs"), (1, 3600));
        assert_eq!(range("window_ms"), (1000, 3_600_000));
        assert_eq!(range("slow_call_ms"), (1, 31_622_400_000));
        assert_eq!(range("backoff_max_secs"), (1, 31_622_400));
    }

    #[test]
    fn slot_keys_read_as_a_list() {
        assert_eq!(
            Slot::Window.keys(),
            "`window_calls`, `window_secs` or `window_ms`"
        );
        assert_eq!(Slot::SlowCall.keys(), "`slow_call_secs` or `slow_call_ms`");
        assert_eq!(Slot::DryRun.keys(), "`dry_run`");
    }

    /// The table of settings in the docs of `#[circuit_breaker]` (lib.rs) has one row per
    /// setting, in the table's order, with the range the macro enforces.
    #[test]
    fn docs_list_every_setting_with_its_range() {
        let docs = include_str!("lib.rs");
        let rows: Vec<&str> = docs
            .lines()
            .map(|l| l.trim_start_matches("///").trim())
            .filter(|l| l.starts_with("| `"))
            .collect();
        let mut keys_in_docs = Vec::new();
        for row in &rows {
            let first = row.split('|').nth(1).unwrap();
            for key in first.split('/') {
                keys_in_docs.push(key.trim().trim_matches('`').to_string());
            }
        }
        let keys: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
        assert_eq!(keys_in_docs, keys, "the docs' table lists other settings");
        for s in SETTINGS {
            let row = rows.iter().find(|r| r.contains(&format!("`{}`", s.key)));
            let row = row.unwrap();
            if let Some((lo, hi)) = s.kind.int_range() {
                let (lo, hi) = (group(lo), group(hi));
                assert!(
                    row.contains(&lo) && row.contains(&hi),
                    "{}: the docs should give {lo} and {hi}: {row}",
                    s.key
                );
            }
        }
    }

    /// `31622400` as the docs write it: `31_622_400`.
    fn group(n: u64) -> String {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push('_');
            }
            out.push(c);
        }
        out
    }
}
