//! The sliding window behind the rate rules, as the engine sees it: which window a config
//! asks for, behind the engine's `Window` trait (`crate::window` holds the data structure).

use crate::clock::to_us;
use crate::engine::Window;
use crate::window::{Kind, RateWindow};
use crate::{Config, Window as Setting};

/// The window `config` asks for, if any (allocated only then).
pub(crate) fn for_config(config: &Config) -> Option<Box<dyn Window>> {
    let kind = match config.sliding_window()? {
        Setting::Calls(n) => Kind::Calls(n),
        Setting::Time(d) => Kind::Time(to_us(d)),
    };
    Some(Box::new(RateWindow::new(kind)))
}

impl Window for RateWindow {
    #[inline]
    fn add(
        &self,
        gen: u64,
        failure: bool,
        slow: bool,
        now: u64,
        want: bool,
    ) -> Option<(u64, u64, u64)> {
        RateWindow::add(self, gen, failure, slow, now, want)
            .map(|t| (t.outcomes, t.failures, t.slow))
    }

    fn totals(&self, gen: u64, now: u64) -> (u64, u64, u64) {
        let t = RateWindow::totals(self, gen, now);
        (t.outcomes, t.failures, t.slow)
    }

    fn footprint(&self) -> usize {
        RateWindow::footprint(self)
    }
}
