//! The table of trip reports heard in the current open periods: deduplication and quorum.
//!
//! A pure structure (time is passed in), owned by the background task.

use std::collections::HashMap;
use std::time::Instant;

/// Reports kept per breaker name at most: one per distinct replica, so a hostile flood of
/// made-up replica ids cannot grow the table without bound.
pub(crate) const MAX_REPLICAS_PER_NAME: usize = 1024;

/// What recording a report decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// This (replica, sequence) was already counted in a live period: nothing to do.
    Duplicate,
    /// Counted; fewer than the quorum of distinct replicas have reported.
    Below,
    /// Counted; the quorum is reached (at least `quorum` distinct replicas with live reports).
    Reached,
    /// The name already holds [`MAX_REPLICAS_PER_NAME`] live reports: not counted.
    Full,
}

#[derive(Debug)]
struct Entry {
    replica: Box<str>,
    sequence: u64,
    expires: Instant,
}

/// Live reports by breaker name.
#[derive(Debug, Default)]
pub(crate) struct Reports {
    by_name: HashMap<Box<str>, Vec<Entry>>,
}

impl Reports {
    /// Records `replica`'s report `sequence` for `name`, live until `expires`, and says
    /// whether `quorum` distinct replicas now have live reports. A replica's newer report
    /// replaces its older one; an expired report no longer counts.
    pub(crate) fn record(
        &mut self,
        name: &str,
        replica: &str,
        sequence: u64,
        expires: Instant,
        now: Instant,
        quorum: usize,
    ) -> Verdict {
        let entries = match self.by_name.get_mut(name) {
            Some(entries) => entries,
            None => self.by_name.entry(name.into()).or_default(),
        };
        entries.retain(|e| e.expires > now);
        let full = entries.len() >= MAX_REPLICAS_PER_NAME;
        match entries.iter_mut().find(|e| &*e.replica == replica) {
            Some(e) if e.sequence == sequence => return Verdict::Duplicate,
            Some(e) => {
                e.sequence = sequence;
                e.expires = expires;
            }
            None if full => return Verdict::Full,
            None => entries.push(Entry {
                replica: replica.into(),
                sequence,
                expires,
            }),
        }
        if expires <= now {
            // Counted as seen (so a copy is a duplicate) but already over.
            return Verdict::Below;
        }
        if entries.len() >= quorum {
            Verdict::Reached
        } else {
            Verdict::Below
        }
    }

    /// Drops every expired report, and names left with none.
    pub(crate) fn prune(&mut self, now: Instant) {
        self.by_name.retain(|_, entries| {
            entries.retain(|e| e.expires > now);
            !entries.is_empty()
        });
    }

    /// Number of names with reports (live or not yet pruned).
    #[cfg(test)]
    pub(crate) fn names(&self) -> usize {
        self.by_name.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn quorum_one_is_reached_by_the_first_report() {
        let t0 = Instant::now();
        let mut r = Reports::default();
        assert_eq!(r.record("db", "a", 1, at(t0, 100), t0, 1), Verdict::Reached);
    }

    #[test]
    fn quorum_two_needs_two_distinct_live_replicas() {
        let t0 = Instant::now();
        let mut r = Reports::default();
        assert_eq!(r.record("db", "a", 1, at(t0, 100), t0, 2), Verdict::Below);
        // The same replica again, even with a new trip, is still one replica.
        assert_eq!(r.record("db", "a", 2, at(t0, 100), t0, 2), Verdict::Below);
        // Another name does not count.
        assert_eq!(
            r.record("cache", "b", 1, at(t0, 100), t0, 2),
            Verdict::Below
        );
        assert_eq!(r.record("db", "b", 1, at(t0, 100), t0, 2), Verdict::Reached);
    }

    #[test]
    fn an_expired_report_no_longer_counts() {
        let t0 = Instant::now();
        let mut r = Reports::default();
        assert_eq!(r.record("db", "a", 1, at(t0, 100), t0, 2), Verdict::Below);
        assert_eq!(
            r.record("db", "b", 1, at(t0, 300), at(t0, 200), 2),
            Verdict::Below
        );
    }

    #[test]
    fn a_copy_of_a_live_report_is_a_duplicate() {
        let t0 = Instant::now();
        let mut r = Reports::default();
        assert_eq!(r.record("db", "a", 7, at(t0, 100), t0, 1), Verdict::Reached);
        assert_eq!(
            r.record("db", "a", 7, at(t0, 90), at(t0, 10), 1),
            Verdict::Duplicate
        );
        assert_eq!(
            r.record("db", "a", 8, at(t0, 90), at(t0, 10), 1),
            Verdict::Reached
        );
    }

    #[test]
    fn a_report_already_over_is_remembered_but_never_reaches() {
        let t0 = Instant::now();
        let mut r = Reports::default();
        assert_eq!(r.record("db", "a", 1, t0, t0, 1), Verdict::Below);
    }

    #[test]
    fn replicas_per_name_are_bounded_and_prune_frees_everything() {
        let t0 = Instant::now();
        let mut r = Reports::default();
        for i in 0..MAX_REPLICAS_PER_NAME {
            let v = r.record("db", &format!("r{i}"), 1, at(t0, 100), t0, usize::MAX);
            assert_eq!(v, Verdict::Below);
        }
        assert_eq!(
            r.record("db", "one-more", 1, at(t0, 100), t0, 1),
            Verdict::Full
        );
        r.prune(at(t0, 50));
        assert_eq!(r.names(), 1);
        r.prune(at(t0, 100));
        assert_eq!(r.names(), 0);
    }
}
