//! One report per key press when a call's digits arrive both as RFC 4733 events and as
//! in-band tones (a trunk that sends both, `media.inband_with_telephone_event`): a digit
//! from one source that the other source reported a moment earlier is the same press.
//!
//! Each report waits [`WINDOW`] for its twin from the other source; a twin found is
//! consumed, so it pairs with exactly one report, and presses of the same key in quick
//! succession pair up in order even when the two sources interleave (the in-band
//! detector lags the events by its validation time and the jitter buffer). Reports of
//! one source never suppress each other: that source already reports each press once.

use std::time::{Duration, Instant};

use super::commands::DigitSource;

/// How long a report waits for its twin from the other source.
pub const WINDOW: Duration = Duration::from_millis(500);

/// Reports still waiting for a twin.
const OPEN: usize = 8;

#[derive(Debug, Default)]
pub struct SourceDedup {
    open: [Option<(char, DigitSource, Instant)>; OPEN],
}

impl SourceDedup {
    /// Whether a digit from `source` at `now` is to be reported (`false`: the twin of
    /// a press already reported). SIP INFO digits are always reported.
    pub fn accept(&mut self, digit: char, source: DigitSource, now: Instant) -> bool {
        if source == DigitSource::Info {
            return true;
        }
        for e in &mut self.open {
            if e.is_some_and(|(_, _, at)| now.saturating_duration_since(at) > WINDOW) {
                *e = None;
            }
        }
        // The oldest open report of the same digit from the other source is the twin.
        let twin = self
            .open
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.map(|(d, s, at)| (i, d, s, at)))
            .filter(|&(_, d, s, _)| d == digit && s != source)
            .min_by_key(|&(_, _, _, at)| at);
        if let Some((i, ..)) = twin {
            self.open[i] = None;
            return false;
        }
        let slot = match self.open.iter().position(Option::is_none) {
            Some(i) => i,
            // Full: the oldest one gives way.
            None => (0..OPEN)
                .min_by_key(|&i| self.open[i].map(|e| e.2))
                .unwrap_or(0),
        };
        self.open[slot] = Some((digit, source, now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DigitSource::{Inband, Info, Rfc4733};

    #[test]
    fn each_press_once_whichever_source_comes_first() {
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_millis(n);
        let mut d = SourceDedup::default();
        // "11" dialled fast: events first, tones ~80 ms behind, interleaved.
        assert!(d.accept('1', Rfc4733, ms(0)));
        assert!(
            d.accept('1', Rfc4733, ms(60)),
            "a second press, same source"
        );
        assert!(!d.accept('1', Inband, ms(80)), "the first press's tone");
        assert!(!d.accept('1', Inband, ms(140)), "the second press's tone");
        // Tones first this time.
        assert!(d.accept('5', Inband, ms(1000)));
        assert!(!d.accept('5', Rfc4733, ms(1030)));
        // A tone with no event twin, and an event with no tone twin.
        assert!(d.accept('7', Inband, ms(2000)));
        assert!(d.accept('8', Rfc4733, ms(2100)));
        // Outside the window a report is a new press.
        assert!(d.accept('7', Rfc4733, ms(2600)));
        // INFO is never paired.
        assert!(d.accept('9', Info, ms(3000)));
        assert!(d.accept('9', Info, ms(3001)));
        assert!(d.accept('9', Rfc4733, ms(3002)));
        assert!(!d.accept('9', Inband, ms(3050)));
    }

    #[test]
    fn a_full_table_keeps_going() {
        let t = Instant::now();
        let mut d = SourceDedup::default();
        for k in 0..20u64 {
            assert!(d.accept('3', Rfc4733, t + Duration::from_millis(k)));
        }
        assert!(!d.accept('3', Inband, t + Duration::from_millis(30)));
    }
}
