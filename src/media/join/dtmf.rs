//! DTMF across a join, each key press arriving exactly once, in the form the listening
//! leg negotiated:
//!
//! - RFC 4733 → RFC 4733: every event packet is forwarded under the listener's own
//!   telephone-event payload type (the legs may have negotiated different ones), all
//!   packets of one event (updates, the three end packets, retransmissions) under one
//!   outgoing timestamp ([`EventMap`] on the mixing path; the relay's offset on the
//!   straight path), so the far end sees one event per press.
//! - RFC 4733 → a leg without telephone-event: each new event (deduplicated by its
//!   timestamp) becomes a tone burst generated into that leg's audio.
//! - In-band → RFC 4733: the speaking leg's decoded audio runs through a detector of its
//!   own ([`InbandToEvents`]); a validated digit becomes an event towards the listener,
//!   and the tone itself is silenced in the audio the listener hears: that audio is held
//!   back [`hold_back`] samples (enough for a digit to be validated before any of its
//!   tone is read), and from one block before the digit's first block until the detector
//!   reports its end, the held samples are zeroed. Only a fragment shorter than one
//!   detector block can pass, far below any detector's minimum tone length.
//! - SIP INFO → the listener's form, like RFC 4733 events.

use super::ring::SampleRing;
use crate::dtmf::{BLOCK_LEN, Detector};

/// Audio held back on a path where in-band digits are turned into events, for frames of
/// `spf` samples: the detector validates a digit at most four blocks after its first
/// block starts, and acts once the frame holding that sample is done; one more block
/// covers the partial block before the first one.
pub fn hold_back(spf: usize) -> usize {
    spf + 6 * BLOCK_LEN
}

/// Outgoing timestamps of forwarded events on the mixing path: every packet of one
/// incoming event (one incoming timestamp) leaves with the timestamp the listener's
/// clock had when that event's first packet arrived.
#[derive(Debug, Clone, Default)]
pub struct EventMap {
    last: Option<(u32, u32)>,
}

impl EventMap {
    /// The outgoing timestamp of an event packet with incoming timestamp `ts`, and
    /// whether it starts a new event (marker), given the listener's clock now. A new
    /// event never takes the previous one's timestamp (the far end would merge them),
    /// even when both arrive within one packet time.
    pub fn map(&mut self, ts: u32, clock_now: u32) -> (u32, bool) {
        match self.last {
            Some((i, o)) if i == ts => (o, false),
            last => {
                let out = match last {
                    Some((_, o)) if clock_now.wrapping_sub(o) as i32 <= 0 => o.wrapping_add(1),
                    _ => clock_now,
                };
                self.last = Some((ts, out));
                (out, true)
            }
        }
    }
}

/// In-band digits of one leg turned into events for the other, their tones silenced.
#[derive(Clone)]
pub struct InbandToEvents {
    det: Detector,
    /// Ring position of the detector's sample 0.
    base: u64,
    muting: bool,
}

impl InbandToEvents {
    /// Detection starting at the ring's next written position (from then on, every
    /// frame of the ring is written through [`InbandToEvents::pass`]).
    pub fn new(ring: &SampleRing) -> Self {
        Self {
            det: Detector::new(),
            base: ring.written(),
            muting: false,
        }
    }

    /// Whether a digit's tone is being silenced (what the leg says goes into the ring
    /// as silence meanwhile).
    pub fn muting(&self) -> bool {
        self.muting
    }

    /// One frame of the speaking leg: `heard` (what the listener is to hear of it,
    /// after gain and mixing) goes into `ring` (as silence while a tone is being
    /// silenced) and `voice` (what the leg said, same length) into the detector; `None`
    /// keeps a short transport gap from the detector (so a lost packet inside a tone
    /// does not split it in two). A validated digit goes to `digit` and its tone is
    /// silenced in the ring from one block before its first block on, until the
    /// detector reports its end.
    pub fn pass(
        &mut self,
        voice: Option<&[i16]>,
        heard: &[i16],
        ring: &mut SampleRing,
        digit: &mut dyn FnMut(char),
    ) {
        if self.muting {
            ring.write_silence(heard.len());
        } else {
            ring.write(heard);
        }
        let Some(voice) = voice else {
            // Those ring positions have no detector samples: shift the mapping.
            self.base += heard.len() as u64;
            return;
        };
        let mut found = None;
        let mut ended = false;
        self.det.rx(voice, |ev| match ev.end {
            None => found = Some((ev.digit, ev.start_sample)),
            Some(_) => ended = true,
        });
        if let Some((d, start)) = found {
            ring.mute_from(self.base + start.saturating_sub(BLOCK_LEN as u64));
            self.muting = true;
            digit(d);
        } else if ended {
            self.muting = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::ToneGenerator;

    #[test]
    fn every_packet_of_an_event_gets_one_timestamp() {
        let mut m = EventMap::default();
        assert_eq!(m.map(1000, 555), (555, true));
        assert_eq!(m.map(1000, 715), (555, false));
        assert_eq!(m.map(1000, 875), (555, false), "end packets");
        assert_eq!(m.map(2600, 2155), (2155, true), "the next press");
        assert_eq!(
            m.map(4000, 2155),
            (2156, true),
            "another, in the same packet time"
        );
    }

    /// Speech-like noise, a digit, more noise: the digit is found once and no sample
    /// of its tone is left in what the ring releases once the delay is applied.
    #[test]
    fn a_tone_is_found_once_and_silenced_within_the_hold_back() {
        let spf = 160;
        let mut ring = SampleRing::new();
        ring.write_silence(hold_back(spf));
        let mut conv = InbandToEvents::new(&ring);
        // Audio: 100 ms of a 300 Hz hum, 100 ms of '7', 100 ms of hum, 100 ms of '7'.
        let hum = |n: usize| -> Vec<i16> {
            (0..n)
                .map(|i| ((i as f32 * 0.2356).sin() * 3000.0) as i16)
                .collect()
        };
        let tone = |ms: u32| -> Vec<i16> {
            let mut g = ToneGenerator::new('7', ms, 0).expect("digit");
            let mut v = vec![0i16; ms as usize * 8];
            g.tx(&mut v);
            v
        };
        let mut audio = hum(800);
        let t1 = audio.len();
        audio.extend(tone(100));
        audio.extend(hum(800));
        let t2 = audio.len();
        audio.extend(tone(100));
        audio.extend(hum(1600));
        let mut digits = String::new();
        let mut out = Vec::new();
        let mut frame = [0i16; 160];
        for f in audio.chunks(spf) {
            conv.pass(Some(f), f, &mut ring, &mut |d| digits.push(d));
            if ring.read(&mut frame) {
                out.extend_from_slice(&frame);
            }
        }
        assert_eq!(digits, "77");
        let out = &out[hold_back(spf)..];
        for (i, (&o, &a)) in out.iter().zip(&audio).enumerate() {
            let in_tone = (t1..t1 + 800).contains(&i) || (t2..t2 + 800).contains(&i);
            if in_tone {
                assert_eq!(o, 0, "tone sample {i} leaked");
            } else if !(t1 - BLOCK_LEN..t1 + 800 + 400).contains(&i)
                && !(t2 - BLOCK_LEN..t2 + 800 + 400).contains(&i)
            {
                // (Silencing starts up to one block before the tone.)
                assert_eq!(o, a, "speech sample {i} touched");
            }
        }
        let mut check = Detector::new();
        let mut found = 0;
        check.rx(out, |e| found += usize::from(e.end.is_none()));
        assert_eq!(found, 0, "no digit left in the audio");
    }
}
