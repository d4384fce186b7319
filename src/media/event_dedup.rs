//! Which received RFC 4733 packets start a new digit. Each event is reported once,
//! whichever of its packets arrives first: a lost or absent marker bit, the three
//! redundant end packets, retransmissions and reordering within a few events all map
//! to the event's RTP timestamp. A very long event (RFC 4733 §2.5.1.3) continues
//! in segments with new timestamps and no end between them: a segment of the same
//! event code that follows an unfinished event within two maximal segments is a
//! continuation, not a new digit.

/// Maximal duration of one segment, in timestamp units.
const SEGMENT: u32 = 0xFFFF;

#[derive(Debug, Default)]
pub struct EventDedup {
    recent: [u32; 4],
    len: usize,
    /// The latest event: (code, timestamp of its latest segment, ended).
    last: Option<(u8, u32, bool)>,
}

impl EventDedup {
    /// A packet of event `code` with RTP timestamp `ts` (end bit `end`): is it the
    /// first sight of a new event?
    pub fn is_new(&mut self, code: u8, ts: u32, end: bool) -> bool {
        if self.recent[..self.len].contains(&ts) {
            if end
                && let Some((c, t, ended)) = self.last.as_mut()
                && *c == code
                && *t == ts
            {
                *ended = true;
            }
            return false;
        }
        let continuation = matches!(
            self.last,
            Some((c, t, false)) if c == code && {
                let d = ts.wrapping_sub(t);
                d > 0 && d <= 2 * SEGMENT
            }
        );
        self.recent.rotate_right(1);
        self.recent[0] = ts;
        self.len = (self.len + 1).min(self.recent.len());
        self.last = Some((code, ts, end));
        !continuation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_report_per_event_whatever_arrives() {
        let mut d = EventDedup::default();
        assert!(d.is_new(5, 1000, false));
        assert!(!d.is_new(5, 1000, false));
        assert!(!d.is_new(5, 1000, true));
        assert!(!d.is_new(5, 1000, true), "redundant end packets");
        assert!(
            d.is_new(5, 3000, false),
            "the same digit pressed again is a new event"
        );
        assert!(
            d.is_new(7, 4000, true),
            "an event seen only by its end packet"
        );
        assert!(
            !d.is_new(5, 3000, true),
            "late retransmission of an earlier event"
        );
    }

    #[test]
    fn long_event_segments_are_one_digit() {
        let mut d = EventDedup::default();
        assert!(d.is_new(1, 0, false));
        assert!(
            !d.is_new(1, SEGMENT, false),
            "second segment, no end before it"
        );
        assert!(!d.is_new(1, 2 * SEGMENT, false), "third segment");
        assert!(!d.is_new(1, 2 * SEGMENT, true));
        assert!(
            d.is_new(1, 2 * SEGMENT + 8000, false),
            "after the end: a new press"
        );
    }

    #[test]
    fn a_different_digit_is_never_a_continuation() {
        let mut d = EventDedup::default();
        assert!(d.is_new(1, 0, false));
        assert!(d.is_new(2, 800, false));
    }
}
