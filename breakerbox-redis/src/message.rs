//! The trip report: what one replica tells the fleet when one of its breakers trips.
//!
//! # Wire format (version 1)
//!
//! One line of UTF-8 text, six fields separated by `|`, the breaker name last so that it may
//! itself contain `|`:
//!
//! ```text
//! bbx1|{fleet}|{replica}|{sequence}|{remaining_ms}|{breaker name}
//! bbx1|checkout|pod-7|1764653000000042|59998|payments
//! ```
//!
//! | field | meaning | accepted |
//! | --- | --- | --- |
//! | `bbx1` | format and version | exactly these four bytes |
//! | fleet | the key prefix of the fleet | equal to the receiver's prefix |
//! | replica | the reporting replica's id | 1..=128 bytes, no `|` |
//! | sequence | the reporter's trip counter: equal (replica, sequence) pairs are one report | decimal `u64`, digits only |
//! | remaining_ms | how long the reporter's breaker stays open, in ms, from when it wrote the report | decimal, 1..=[`MAX_REMAINING_MS`] |
//! | name | the breaker's name | 1..=1024 bytes |
//!
//! A whole report is at most [`MAX_REPORT_LEN`] bytes. The remaining time is a *duration*,
//! never a wall-clock instant: replica clocks differ, a duration only ages by the transit
//! time. Anything else (another version, a field out of range, a non-digit, an overflow,
//! invalid UTF-8, a missing field) is malformed: the receiver counts it and ignores it.

use std::fmt;
use std::time::Duration;

/// The format tag and version, the report's first field.
pub const VERSION_TAG: &str = "bbx1";

/// The longest report accepted, in bytes.
pub const MAX_REPORT_LEN: usize = 4096;

/// The longest replica id accepted, in bytes.
pub const MAX_REPLICA_LEN: usize = 128;

/// The longest breaker name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 1024;

/// The longest remaining open time a report may carry: `breakerbox::Config::MAX_DURATION`.
/// A longer one is absurd (no local config could open that long) and the report malformed;
/// the receiver caps what it accepts by its own breaker's timeout too.
pub const MAX_REMAINING_MS: u64 = breakerbox::Config::MAX_DURATION.as_millis() as u64;

/// One decoded trip report.
///
/// # Examples
///
/// ```
/// use breakerbox_redis::TripReport;
/// use std::time::Duration;
///
/// let report = TripReport {
///     fleet: "checkout".into(),
///     replica: "pod-7".into(),
///     sequence: 42,
///     remaining: Duration::from_millis(59_998),
///     name: "payments".into(),
/// };
/// let wire = report.encode();
/// assert_eq!(wire, "bbx1|checkout|pod-7|42|59998|payments");
/// assert_eq!(TripReport::decode(wire.as_bytes(), "checkout"), Ok(report));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TripReport {
    /// The fleet (key prefix) the report belongs to.
    pub fleet: String,
    /// The reporting replica's id.
    pub replica: String,
    /// The reporter's trip counter; one (replica, sequence) pair is one report.
    pub sequence: u64,
    /// How long the reporter's breaker stays open, from when the report was written
    /// (millisecond precision on the wire).
    pub remaining: Duration,
    /// The breaker's name.
    pub name: String,
}

/// Why a report was rejected by [`TripReport::decode`].
///
/// # Examples
///
/// ```
/// use breakerbox_redis::{Malformed, TripReport};
///
/// assert_eq!(TripReport::decode(b"bbx9|f|r|1|10|n", "f"), Err(Malformed::Version));
/// assert_eq!(Malformed::Version.to_string(), "unknown format or version");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// Longer than [`MAX_REPORT_LEN`].
    TooLong,
    /// Not UTF-8.
    Utf8,
    /// Fewer than six fields.
    Fields,
    /// The first field is not [`VERSION_TAG`].
    Version,
    /// The fleet is not the receiver's.
    Fleet,
    /// The replica id is empty or too long.
    Replica,
    /// The sequence is not a decimal `u64`.
    Sequence,
    /// The remaining time is not a decimal in `1..=MAX_REMAINING_MS`.
    Remaining,
    /// The breaker name is empty or too long.
    Name,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Malformed::TooLong => "report too long",
            Malformed::Utf8 => "report is not UTF-8",
            Malformed::Fields => "missing fields",
            Malformed::Version => "unknown format or version",
            Malformed::Fleet => "report of another fleet",
            Malformed::Replica => "bad replica id",
            Malformed::Sequence => "bad sequence",
            Malformed::Remaining => "bad or absurd remaining time",
            Malformed::Name => "bad breaker name",
        })
    }
}

impl std::error::Error for Malformed {}

impl TripReport {
    /// The report's wire form (see the module docs). The remaining time is rounded up to
    /// whole milliseconds (at least 1) and capped at [`MAX_REMAINING_MS`].
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox_redis::TripReport;
    /// use std::time::Duration;
    ///
    /// let report = TripReport {
    ///     fleet: "f".into(),
    ///     replica: "a".into(),
    ///     sequence: 1,
    ///     remaining: Duration::from_micros(1_500),
    ///     name: "db|primary".into(),
    /// };
    /// assert_eq!(report.encode(), "bbx1|f|a|1|2|db|primary");
    /// ```
    pub fn encode(&self) -> String {
        format!(
            "{VERSION_TAG}|{}|{}|{}|{}|{}",
            self.fleet,
            self.replica,
            self.sequence,
            remaining_ms(self.remaining),
            self.name
        )
    }

    /// Decodes and validates a report for the fleet `fleet`.
    ///
    /// # Errors
    ///
    /// [`Malformed`] with the first rule the report breaks (see the module docs). Never
    /// panics, whatever the bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use breakerbox_redis::{Malformed, TripReport};
    /// use std::time::Duration;
    ///
    /// let report = TripReport::decode(b"bbx1|f|b|7|1500|api", "f").unwrap();
    /// assert_eq!((report.replica.as_str(), report.sequence), ("b", 7));
    /// assert_eq!(report.remaining, Duration::from_millis(1500));
    /// assert_eq!(TripReport::decode(b"bbx1|f|b|7|-5|api", "f"), Err(Malformed::Remaining));
    /// assert_eq!(TripReport::decode(b"bbx1|g|b|7|5|api", "f"), Err(Malformed::Fleet));
    /// ```
    pub fn decode(bytes: &[u8], fleet: &str) -> Result<TripReport, Malformed> {
        if bytes.len() > MAX_REPORT_LEN {
            return Err(Malformed::TooLong);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| Malformed::Utf8)?;
        let mut fields = text.splitn(6, '|');
        let mut next = || fields.next().ok_or(Malformed::Fields);
        let (tag, their_fleet, replica, sequence, remaining, name) =
            (next()?, next()?, next()?, next()?, next()?, next()?);
        if tag != VERSION_TAG {
            return Err(Malformed::Version);
        }
        if their_fleet != fleet {
            return Err(Malformed::Fleet);
        }
        if replica.is_empty() || replica.len() > MAX_REPLICA_LEN {
            return Err(Malformed::Replica);
        }
        let sequence = decimal(sequence).ok_or(Malformed::Sequence)?;
        let remaining = decimal(remaining)
            .filter(|ms| (1..=MAX_REMAINING_MS).contains(ms))
            .ok_or(Malformed::Remaining)?;
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(Malformed::Name);
        }
        Ok(TripReport {
            fleet: fleet.to_owned(),
            replica: replica.to_owned(),
            sequence,
            remaining: Duration::from_millis(remaining),
            name: name.to_owned(),
        })
    }
}

/// `d` in whole milliseconds, rounded up, within `1..=MAX_REMAINING_MS`.
pub(crate) fn remaining_ms(d: Duration) -> u64 {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms)
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_REMAINING_MS)
}

/// A plain decimal `u64`: ASCII digits only (no sign, no space), no overflow.
fn decimal(field: &str) -> Option<u64> {
    if field.is_empty() || field.len() > 20 || !field.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    field.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(name: &str, ms: u64) -> TripReport {
        TripReport {
            fleet: "fleet".into(),
            replica: "r1".into(),
            sequence: u64::MAX,
            remaining: Duration::from_millis(ms),
            name: name.into(),
        }
    }

    #[test]
    fn round_trips_including_names_with_separators() {
        for name in ["a", "db|primary", "x:y:z", "ünïcode", "|", "||"] {
            let r = report(name, MAX_REMAINING_MS);
            assert_eq!(TripReport::decode(r.encode().as_bytes(), "fleet"), Ok(r));
        }
    }

    #[test]
    fn rejects_each_broken_rule() {
        let cases: &[(&[u8], Malformed)] = &[
            (b"", Malformed::Fields),
            (b"bbx1|fleet|r|1|10", Malformed::Fields),
            (b"bbx2|fleet|r|1|10|n", Malformed::Version),
            (b"BBX1|fleet|r|1|10|n", Malformed::Version),
            (b"bbx1|other|r|1|10|n", Malformed::Fleet),
            (b"bbx1|fleet||1|10|n", Malformed::Replica),
            (b"bbx1|fleet|r||10|n", Malformed::Sequence),
            (b"bbx1|fleet|r|+1|10|n", Malformed::Sequence),
            (
                b"bbx1|fleet|r|18446744073709551616|10|n",
                Malformed::Sequence,
            ),
            (b"bbx1|fleet|r|1|0|n", Malformed::Remaining),
            (b"bbx1|fleet|r|1|-1|n", Malformed::Remaining),
            (b"bbx1|fleet|r|1|NaN|n", Malformed::Remaining),
            (b"bbx1|fleet|r|1|1.5|n", Malformed::Remaining),
            (b"bbx1|fleet|r|1|1e3|n", Malformed::Remaining),
            (b"bbx1|fleet|r|1| 10|n", Malformed::Remaining),
            (
                b"bbx1|fleet|r|1|99999999999999999999999|n",
                Malformed::Remaining,
            ),
            (b"bbx1|fleet|r|1|10|", Malformed::Name),
            (b"bbx1|fleet|r|1|10|\xff", Malformed::Utf8),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                TripReport::decode(bytes, "fleet"),
                Err(*want),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        let absurd = format!("bbx1|fleet|r|1|{}|n", MAX_REMAINING_MS + 1);
        assert_eq!(
            TripReport::decode(absurd.as_bytes(), "fleet"),
            Err(Malformed::Remaining)
        );
        let long_replica = format!("bbx1|fleet|{}|1|10|n", "r".repeat(MAX_REPLICA_LEN + 1));
        assert_eq!(
            TripReport::decode(long_replica.as_bytes(), "fleet"),
            Err(Malformed::Replica)
        );
        let long_name = format!("bbx1|fleet|r|1|10|{}", "n".repeat(MAX_NAME_LEN + 1));
        assert_eq!(
            TripReport::decode(long_name.as_bytes(), "fleet"),
            Err(Malformed::Name)
        );
        let huge = vec![b'|'; MAX_REPORT_LEN + 1];
        assert_eq!(TripReport::decode(&huge, "fleet"), Err(Malformed::TooLong));
    }

    #[test]
    fn encode_rounds_up_and_caps() {
        assert_eq!(remaining_ms(Duration::ZERO), 1);
        assert_eq!(remaining_ms(Duration::from_nanos(1)), 1);
        assert_eq!(remaining_ms(Duration::from_nanos(1_000_001)), 2);
        assert_eq!(remaining_ms(Duration::MAX), MAX_REMAINING_MS);
    }

    #[test]
    fn random_bytes_never_panic_and_decoded_reports_are_in_range() {
        // xorshift: reproducible noise around a valid report's shape.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = b"bx1|fleet0123456789-\xff\x00";
        let mut decoded = 0;
        for _ in 0..20_000 {
            let len = (rand() % 40) as usize;
            let mut bytes: Vec<u8> = b"bbx1|fleet|".to_vec();
            bytes.extend((0..len).map(|_| alphabet[(rand() % alphabet.len() as u64) as usize]));
            if let Ok(r) = TripReport::decode(&bytes, "fleet") {
                decoded += 1;
                assert!(r.remaining >= Duration::from_millis(1));
                assert!(r.remaining <= Duration::from_millis(MAX_REMAINING_MS));
                assert!(!r.name.is_empty() && !r.replica.is_empty());
            }
        }
        assert!(decoded > 0, "the generator must reach valid reports too");
    }
}
