//! The sliding window behind the rate rules, as the engine uses it: which window a config
//! asks for.
//!
//! `Locked` is the plain reference implementation (a mutex around a deque): simple enough
//! to be obviously right, and the oracle the lock-free window is tested against.

use std::collections::VecDeque;

use crate::clock::to_us;
use crate::engine::Window;
use crate::sync::{lock, Mutex};
use crate::{Config, Window as Kind};

/// The window `config` asks for, if any.
pub(crate) fn for_config(config: &Config) -> Option<Box<dyn Window>> {
    config
        .sliding_window()
        .map(|kind| Box::new(Locked::new(kind)) as Box<dyn Window>)
}

/// A window behind one lock: the reference implementation.
#[derive(Debug)]
pub(crate) struct Locked {
    kind: Kind,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    generation: u64,
    /// (time µs, failure, slow), oldest first.
    list: VecDeque<(u64, bool, bool)>,
}

impl Locked {
    pub(crate) fn new(kind: Kind) -> Locked {
        Locked {
            kind,
            inner: Mutex::new(Entries::default()),
        }
    }

    /// Drops what has left the window at `now`.
    fn trim(&self, e: &mut Entries, now: u64) {
        match self.kind {
            Kind::Calls(n) => {
                while e.list.len() > n as usize {
                    e.list.pop_front();
                }
            }
            Kind::Time(d) => {
                let d = to_us(d);
                while e
                    .list
                    .front()
                    .is_some_and(|&(t, _, _)| now.saturating_sub(t) >= d)
                {
                    e.list.pop_front();
                }
            }
        }
    }

    fn count(e: &Entries, now: u64, kind: Kind) -> (u32, u32, u32) {
        let live = e.list.iter().filter(|&&(t, _, _)| match kind {
            Kind::Time(d) => now.saturating_sub(t) < to_us(d),
            Kind::Calls(_) => true,
        });
        live.fold((0, 0, 0), |(n, f, s), &(_, fail, slow)| {
            (n + 1, f + u32::from(fail), s + u32::from(slow))
        })
    }
}

impl Window for Locked {
    fn add(
        &self,
        gen: u64,
        failure: bool,
        slow: bool,
        now: u64,
        want: bool,
    ) -> Option<(u32, u32, u32)> {
        let mut e = lock(&self.inner);
        if gen < e.generation {
            return None; // A late writer of an older generation: never enters the new window.
        }
        if gen > e.generation {
            e.generation = gen;
            e.list.clear();
        }
        e.list.push_back((now, failure, slow));
        self.trim(&mut e, now);
        want.then(|| Self::count(&e, now, self.kind))
    }

    fn totals(&self, gen: u64, now: u64) -> (u32, u32, u32) {
        let e = lock(&self.inner);
        if e.generation != gen {
            return (0, 0, 0);
        }
        Self::count(&e, now, self.kind)
    }

    fn footprint(&self) -> usize {
        std::mem::size_of::<Self>() + lock(&self.inner).list.capacity() * 24
    }
}
