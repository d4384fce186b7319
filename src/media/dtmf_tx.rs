//! The send-DTMF state machine (sans-IO): one call per packet time says what to send.
//!
//! RFC 4733 mode, per key: a 100 ms event sent as one packet per packet time, all with
//! the event's start timestamp, durations growing by one packet time, the marker on the
//! first; then the end packet (E bit, final duration) three times on the next three
//! packet times; then a short pause before the next key. In-band mode: 100 ms of the
//! key's dual tone at -10 dBm0 per tone, then 100 ms of silence.

use super::tones::{PEAK_MINUS_10_DBM0, ToneGen, dtmf_freqs};
use crate::rtp::{TelephoneEvent, dtmf_event};

/// Length of each tone.
pub const TONE_MS: u32 = 100;
/// Silence between keys (in-band), or after the end packets (RFC 4733).
pub const GAP_MS: u32 = 100;
/// How many times the end packet goes out.
pub const END_PACKETS: u32 = 3;
/// Volume field of the events sent (-dBm0).
pub const EVENT_VOLUME: u8 = 10;
/// Keys that may wait to be sent (see [`DtmfTx::push`]).
pub const QUEUE: usize = 32;

/// How to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfMode {
    /// RTP telephone-event with this payload type.
    Rfc4733(u8),
    /// Tones in the audio.
    Inband,
}

/// What one packet time carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DtmfFrame {
    /// A telephone-event packet. `first`: starts a new event (take its timestamp from
    /// the audio clock now, set the marker).
    Event {
        /// The event block.
        event: TelephoneEvent,
        /// First packet of the event.
        first: bool,
    },
    /// Tone audio was written into the sample buffer.
    Tone,
    /// Nothing to send in this packet time (pause between keys).
    Pause,
    /// Every key has been sent.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    Tone(u32),
    End(u32),
    Gap(u32),
}

/// Sending a string of keys.
#[derive(Debug, Clone)]
pub struct DtmfTx {
    keys: Vec<u8>,
    next: usize,
    mode: DtmfMode,
    stage: Stage,
    tone: ToneGen,
}

impl DtmfTx {
    /// Starts sending `keys`; refuses (with the offending key) anything but `0-9 * # A-D`.
    pub fn new(keys: &str, mode: DtmfMode) -> Result<Self, char> {
        let mut keys = keys
            .chars()
            .map(|c| dtmf_event(c).ok_or(c))
            .collect::<Result<Vec<u8>, char>>()?;
        keys.reserve(QUEUE);
        let mut tx = Self {
            keys,
            next: 0,
            mode,
            stage: Stage::Tone(0),
            tone: ToneGen::single(0.0, 0.0),
        };
        tx.load_tone();
        Ok(tx)
    }

    fn load_tone(&mut self) {
        if let Some(&code) = self.keys.get(self.next) {
            let key = crate::rtp::dtmf_char(code).unwrap_or('0');
            let (r, c) = dtmf_freqs(key).unwrap_or((697.0, 1209.0));
            self.tone = ToneGen::dual(r, PEAK_MINUS_10_DBM0, c, PEAK_MINUS_10_DBM0);
        }
    }

    /// The next packet time's content, for frames of `spf` samples; `pcm` (at least
    /// `spf` long) receives the tone in in-band mode.
    pub fn next_frame(&mut self, spf: u32, pcm: &mut [i16]) -> DtmfFrame {
        let Some(&code) = self.keys.get(self.next) else {
            return DtmfFrame::Done;
        };
        let spf = spf.max(1);
        let tone_frames = (TONE_MS * 8).div_ceil(spf);
        let gap_frames = (GAP_MS * 8).div_ceil(spf);
        let duration = |n: u32| u16::try_from(n * spf).unwrap_or(u16::MAX);
        match (self.mode, self.stage) {
            (DtmfMode::Rfc4733(_), Stage::Tone(i)) => {
                self.stage = if i + 1 < tone_frames {
                    Stage::Tone(i + 1)
                } else {
                    Stage::End(0)
                };
                DtmfFrame::Event {
                    event: TelephoneEvent {
                        event: code,
                        end: false,
                        volume: EVENT_VOLUME,
                        duration: duration(i + 1),
                    },
                    first: i == 0,
                }
            }
            (DtmfMode::Rfc4733(_), Stage::End(i)) => {
                self.stage = if i + 1 < END_PACKETS {
                    Stage::End(i + 1)
                } else {
                    Stage::Gap(0)
                };
                DtmfFrame::Event {
                    event: TelephoneEvent {
                        event: code,
                        end: true,
                        volume: EVENT_VOLUME,
                        duration: duration(tone_frames),
                    },
                    first: false,
                }
            }
            (DtmfMode::Inband, Stage::Tone(i)) => {
                let n = (spf as usize).min(pcm.len());
                self.tone.fill(&mut pcm[..n]);
                self.stage = if i + 1 < tone_frames {
                    Stage::Tone(i + 1)
                } else {
                    Stage::Gap(0)
                };
                DtmfFrame::Tone
            }
            (_, Stage::Gap(i)) | (DtmfMode::Inband, Stage::End(i)) => {
                let rest = match self.mode {
                    // The end packets already took part of the pause.
                    DtmfMode::Rfc4733(_) => gap_frames.saturating_sub(END_PACKETS),
                    DtmfMode::Inband => gap_frames,
                };
                if i + 1 >= rest {
                    self.next += 1;
                    self.stage = Stage::Tone(0);
                    self.load_tone();
                } else {
                    self.stage = Stage::Gap(i + 1);
                }
                DtmfFrame::Pause
            }
        }
    }

    /// The mode in use.
    pub fn mode(&self) -> DtmfMode {
        self.mode
    }

    /// Whether every key has been sent.
    pub fn is_idle(&self) -> bool {
        self.next >= self.keys.len()
    }

    /// Queues one more key (a digit relayed across a join while others are still being
    /// sent). Refuses anything but `0-9 * # A-D`, and keys beyond [`QUEUE`] waiting.
    pub fn push(&mut self, key: char) -> bool {
        let Some(code) = dtmf_event(key) else {
            return false;
        };
        if self.next >= self.keys.len() {
            // Everything was sent: start over (keeps the allocation).
            self.keys.clear();
            self.next = 0;
            self.stage = Stage::Tone(0);
        }
        if self.keys.len() - self.next >= QUEUE {
            return false;
        }
        let was_idle = self.next >= self.keys.len();
        self.keys.push(code);
        if was_idle {
            self.load_tone();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4733_sequence_for_two_keys() {
        let mut tx = DtmfTx::new("1#", DtmfMode::Rfc4733(101)).expect("keys");
        let mut pcm = [0i16; 160];
        let mut frames = Vec::new();
        loop {
            let f = tx.next_frame(160, &mut pcm);
            if f == DtmfFrame::Done {
                break;
            }
            frames.push(f);
            assert!(frames.len() < 100);
        }
        // Per key: 5 growing packets, 3 end packets, 2 pause frames.
        assert_eq!(frames.len(), 20);
        let ev = |f: &DtmfFrame| match f {
            DtmfFrame::Event { event, first } => Some((*event, *first)),
            _ => None,
        };
        for (i, f) in frames[..5].iter().enumerate() {
            let (e, first) = ev(f).expect("event");
            assert_eq!(e.event, 1);
            assert_eq!(first, i == 0);
            assert!(!e.end);
            assert_eq!(e.duration, 160 * (i as u16 + 1));
        }
        for f in &frames[5..8] {
            let (e, first) = ev(f).expect("end");
            assert!(e.end && !first);
            assert_eq!(e.duration, 800);
        }
        assert_eq!(frames[8], DtmfFrame::Pause);
        assert_eq!(frames[9], DtmfFrame::Pause);
        assert_eq!(ev(&frames[10]).expect("second key").0.event, 11);
        assert!(ev(&frames[10]).expect("second").1);
    }

    #[test]
    fn keys_pushed_while_sending_and_after_done() {
        let mut tx = DtmfTx::new("1", DtmfMode::Rfc4733(96)).expect("key");
        let mut pcm = [0i16; 160];
        let mut firsts = Vec::new();
        let mut push_at = 3;
        for _ in 0..100 {
            if push_at == 0 {
                assert!(tx.push('9'));
            }
            push_at -= 1;
            match tx.next_frame(160, &mut pcm) {
                DtmfFrame::Event { event, first: true } => firsts.push(event.event),
                DtmfFrame::Done => break,
                _ => {}
            }
        }
        assert_eq!(firsts, vec![1, 9]);
        assert!(tx.push('#'), "a finished sender takes new keys");
        assert!(!tx.push('x'));
        assert!(matches!(
            tx.next_frame(160, &mut pcm),
            DtmfFrame::Event {
                first: true,
                event: TelephoneEvent { event: 11, .. }
            }
        ));
        for _ in 0..QUEUE {
            tx.push('0');
        }
        assert!(!tx.push('0'), "bounded");
    }

    #[test]
    fn inband_writes_tone_then_pause_and_bad_keys_are_refused() {
        let mut tx = DtmfTx::new("9", DtmfMode::Inband).expect("key");
        let mut pcm = [0i16; 160];
        let mut tones = 0;
        let mut pauses = 0;
        loop {
            match tx.next_frame(160, &mut pcm) {
                DtmfFrame::Tone => {
                    tones += 1;
                    assert!(pcm.iter().any(|&s| s.unsigned_abs() > 5000));
                }
                DtmfFrame::Pause => pauses += 1,
                DtmfFrame::Done => break,
                DtmfFrame::Event { .. } => panic!("no events in band"),
            }
        }
        assert_eq!((tones, pauses), (5, 5));
        assert_eq!(DtmfTx::new("12x", DtmfMode::Inband).err(), Some('x'));
        assert!(DtmfTx::new("", DtmfMode::Inband).is_ok());
    }
}
