//! Two calls joined on one worker (`MediaCommand::Join`): a bridge, or a parent hearing
//! the call it dials. The [`Join`] lives in its worker's join table; each leg's channel
//! names it ([`Joined`]), so a datagram or a frame of either leg reaches both legs and
//! the join in one step, with no lock and no other worker involved (a leg on another
//! worker is moved first, `Move`).
//!
//! Two paths, chosen again whenever something changes ([`Join::update_mode`]):
//!
//! - **Straight relay** when nothing needs the audio itself: same codec and packet time
//!   both ways, unity gains, no recording, no ring-back, no join play, telephone-event
//!   on both legs or on neither, no tone being generated. Each packet is forwarded as it
//!   arrives with its header rewritten into the other leg's stream ([`relay`]): no
//!   jitter buffer, no decode.
//! - **Mixing** otherwise, on each leg's own frame grid: the leg's jitter buffer gives a
//!   frame, it is decoded to linear, and for the other leg (when it hears this one) the
//!   gain applied (`mixer::gain_q12`), the join play mixed in, and the result written
//!   into that leg's [`SampleRing`]; when the other leg's frame comes, it reads its ring
//!   (or the ring-back), DTMF generated towards it replaces the audio, and it is encoded
//!   in that leg's law (PCMU↔PCMA transcoding falls out of decode/encode). The recording
//!   mixes what both said (saturated once), or keeps `a` left and `b` right.
//!
//! DTMF crosses in the form each leg negotiated ([`dtmf`]); while a leg is heard by the
//! other its digits are relayed, not reported.

pub mod dtmf;
pub mod relay;
pub mod ring;

use std::path::PathBuf;

use dtmf::{EventMap, InbandToEvents, hold_back};
use relay::RelayMap;
use ring::SampleRing;

use super::commands::{CallId, RemoteMedia};
use super::dtmf_tx::{DtmfMode, DtmfTx};
use super::play::Play;
use super::record::Recording;
use crate::codec::Codec;
use crate::media_msg::JoinSpec;
use crate::mixer::gain_q12;

/// Q12 unity gain.
pub const UNITY: i32 = 4096;

/// Which leg of a join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

impl Side {
    /// The other leg.
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    /// Index into per-leg arrays.
    pub fn idx(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }
}

/// A channel's link to its join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Joined {
    /// Slot of the join in the worker's join table.
    pub join: u32,
    /// Which leg this channel is.
    pub side: Side,
    /// Slot of the other leg's channel.
    pub peer: u32,
}

/// What the join needs to know of a leg's negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegInfo {
    pub codec: Codec,
    pub spf: usize,
    pub dtmf_pt: Option<u8>,
    /// The far end is known (SDP negotiated).
    pub known: bool,
}

impl LegInfo {
    /// From a channel's far end (`None`: not negotiated yet).
    pub fn of(remote: Option<&RemoteMedia>) -> Self {
        match remote {
            Some(r) => Self {
                codec: r.codec,
                spf: (r.ptime_ms.clamp(10, 60) * 8) as usize,
                dtmf_pt: r.dtmf_pt,
                known: true,
            },
            None => Self {
                codec: Codec::Pcmu,
                spf: 160,
                dtmf_pt: None,
                known: false,
            },
        }
    }
}

/// What one leg hears of the other (indexed by the listener).
pub struct Toward {
    /// The listener hears the speaker (`connect_mode`).
    pub hears: bool,
    /// Q12 gain on the speaker's voice.
    pub gain: i32,
    /// Mixing path: the speaker's frames for the listener.
    pub ring: SampleRing,
    /// Straight path: the speaker's packets into the listener's stream.
    pub relay: RelayMap,
    /// Mixing path: the speaker's forwarded events' timestamps.
    pub events: EventMap,
    /// The speaker's in-band digits, turned into events for the listener.
    pub inband: Option<InbandToEvents>,
    /// Digits generated into the listener's stream (events or tones).
    pub tx: Option<DtmfTx>,
    /// Timestamp of the generated event in progress.
    pub tx_ts: u32,
}

impl Toward {
    fn new(hears: bool, gain_db: i32) -> Self {
        Self {
            hears,
            gain: gain_q12(gain_db.clamp(-20, 20)).unwrap_or(UNITY),
            ring: SampleRing::new(),
            relay: RelayMap::default(),
            events: EventMap::default(),
            inband: None,
            tx: None,
            tx_ts: 0,
        }
    }

    /// Queues a digit to generate into the listener's stream in `mode` (the generator
    /// is kept for the next digits: only the first digit in a mode allocates).
    pub fn generate(&mut self, digit: char, mode: DtmfMode) {
        if self.tx.as_ref().is_none_or(|tx| tx.mode() != mode) {
            self.tx = DtmfTx::new("", mode).ok();
        }
        if let Some(tx) = self.tx.as_mut() {
            tx.push(digit);
        }
    }

    /// Whether tones are being generated into the listener's audio.
    fn tones(&self) -> bool {
        self.tx
            .as_ref()
            .is_some_and(|t| t.mode() == DtmfMode::Inband && !t.is_idle())
    }
}

/// A join's recording: what both said, mixed or one per channel.
pub struct JoinRec {
    pub rec: Recording,
    pub stereo: bool,
    /// What `b` said, waiting for `a`'s next frame.
    pub b_voice: SampleRing,
}

impl JoinRec {
    /// The recording's file (as reported).
    pub fn path(&self) -> PathBuf {
        self.rec.start.path.clone()
    }
}

/// Ring-back for `a`.
pub struct Ringing {
    pub play: Play,
    pub until_media: bool,
}

/// One join.
pub struct Join {
    pub a: CallId,
    pub b: CallId,
    /// Channel slots of `a` and `b`.
    pub slots: [u32; 2],
    /// `to[Side::A.idx()]`: what `a` hears.
    pub to: [Toward; 2],
    /// The straight relay path is in use.
    pub relay: bool,
    pub rec: Option<JoinRec>,
    /// `JoinPlay`: heard by both over the conversation.
    pub play: Option<Play>,
    /// The join play gave a frame during `a`'s current frame.
    pub play_frame: bool,
    pub ringback: Option<Ringing>,
}

/// How the mode changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeChange {
    None,
    /// Now relaying: the relay maps start again.
    ToRelay,
    /// Now mixing: the jitter buffers start empty (nothing went into them meanwhile).
    ToMixing,
}

impl Join {
    /// A join of the calls in `slots` as `spec` says (recording and ring-back attached
    /// by the caller).
    pub fn new(a: CallId, b: CallId, slots: [u32; 2], spec: &JoinSpec) -> Self {
        Self {
            a,
            b,
            slots,
            to: [
                Toward::new(spec.a_hears_b, spec.b_gain_db),
                Toward::new(spec.b_hears_a, spec.a_gain_db),
            ],
            relay: false,
            rec: None,
            play: None,
            play_frame: false,
            ringback: None,
        }
    }

    /// The call on `side`.
    pub fn call(&self, side: Side) -> CallId {
        match side {
            Side::A => self.a,
            Side::B => self.b,
        }
    }

    /// Sets up (or drops) in-band → event conversion for each direction, from the legs'
    /// negotiation: needed where the speaker has no telephone-event, the listener has,
    /// and the listener hears the speaker. Audio towards a converting listener is held
    /// back so a tone can be silenced before any of it is read.
    pub fn configure(&mut self, a: LegInfo, b: LegInfo) {
        for (listener, speaker, lis) in [(Side::A, b, a), (Side::B, a, b)] {
            let t = &mut self.to[listener.idx()];
            let needed =
                t.hears && speaker.known && speaker.dtmf_pt.is_none() && lis.dtmf_pt.is_some();
            if needed && t.inband.is_none() {
                t.ring.clear();
                t.ring.write_silence(hold_back(speaker.spf));
                t.inband = Some(InbandToEvents::new(&t.ring));
            } else if !needed {
                t.inband = None;
            }
        }
    }

    /// Whether the straight relay path can carry this join now.
    pub fn straight(&self, a: LegInfo, b: LegInfo) -> bool {
        a.known
            && b.known
            && a.codec == b.codec
            && a.spf == b.spf
            && a.dtmf_pt.is_some() == b.dtmf_pt.is_some()
            && self.to.iter().all(|t| t.gain == UNITY && !t.tones())
            && self.rec.is_none()
            && self.play.is_none()
            && self.ringback.is_none()
    }

    /// Chooses the path for what comes next.
    pub fn update_mode(&mut self, a: LegInfo, b: LegInfo) -> ModeChange {
        let relay = self.straight(a, b);
        if relay == self.relay {
            return ModeChange::None;
        }
        self.relay = relay;
        if relay {
            for t in &mut self.to {
                t.relay.reset();
            }
            ModeChange::ToRelay
        } else {
            ModeChange::ToMixing
        }
    }

    /// A relayed digit ends the join play if it is one of its finish keys.
    pub fn finish_key(&mut self, digit: char) -> bool {
        if self.play.as_ref().is_some_and(|p| p.is_finish_key(digit)) {
            self.play = None;
            return true;
        }
        false
    }
}

/// `x` at Q12 gain `g`, rounded, saturated (exactly `x` at unity).
#[inline]
pub fn gain(x: i16, g: i32) -> i16 {
    if g == UNITY {
        return x;
    }
    ((i32::from(x) * g + 2048) >> 12).clamp(-32768, 32767) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(codec: Codec, te: Option<u8>) -> LegInfo {
        LegInfo {
            codec,
            spf: 160,
            dtmf_pt: te,
            known: true,
        }
    }

    fn spec() -> JoinSpec {
        JoinSpec {
            a_hears_b: true,
            b_hears_a: true,
            a_gain_db: 0,
            b_gain_db: 0,
            record: None,
            ringback: None,
        }
    }

    #[test]
    fn the_straight_path_only_when_nothing_needs_the_audio() {
        let mut j = Join::new(1, 2, [0, 1], &spec());
        let u = leg(Codec::Pcmu, Some(101));
        assert_eq!(
            j.update_mode(u, leg(Codec::Pcmu, Some(96))),
            ModeChange::ToRelay
        );
        assert_eq!(j.update_mode(u, u), ModeChange::None);
        assert!(!j.straight(u, leg(Codec::Pcma, Some(101))), "transcoding");
        assert!(!j.straight(u, leg(Codec::Pcmu, None)), "DTMF conversion");
        assert!(j.straight(leg(Codec::Pcmu, None), leg(Codec::Pcmu, None)));
        let mut slow = u;
        slow.spf = 240;
        assert!(!j.straight(u, slow), "repacketizing");
        let mut g = Join::new(
            1,
            2,
            [0, 1],
            &JoinSpec {
                a_gain_db: 3,
                ..spec()
            },
        );
        assert!(!g.straight(u, u), "gain");
        assert_eq!(
            g.update_mode(u, u),
            ModeChange::None,
            "mixing from the start"
        );
        j.to[1].generate('5', DtmfMode::Inband);
        assert_eq!(
            j.update_mode(u, u),
            ModeChange::ToMixing,
            "tones being made"
        );
        j.to[1].generate('6', DtmfMode::Inband);
        assert!(j.to[1].tx.as_ref().is_some());
    }

    #[test]
    fn inband_conversion_where_only_the_listener_has_events() {
        let mut j = Join::new(1, 2, [0, 1], &spec());
        let with = leg(Codec::Pcmu, Some(101));
        let without = leg(Codec::Pcma, None);
        j.configure(with, without);
        assert!(
            j.to[Side::A.idx()].inband.is_some(),
            "a hears b's tones as events"
        );
        assert!(j.to[Side::B.idx()].inband.is_none());
        assert_eq!(j.to[Side::A.idx()].ring.len(), hold_back(160));
        j.configure(with, with);
        assert!(j.to[Side::A.idx()].inband.is_none());
        let mut one_way = Join::new(
            1,
            2,
            [0, 1],
            &JoinSpec {
                a_hears_b: false,
                ..spec()
            },
        );
        one_way.configure(with, without);
        assert!(one_way.to[0].inband.is_none(), "a does not hear b");
    }

    #[test]
    fn gains_are_the_mixer_table() {
        assert_eq!(gain(1000, UNITY), 1000);
        assert_eq!(gain(1000, gain_q12(6).expect("6 dB")), 1995);
        assert_eq!(gain(-32768, gain_q12(20).expect("20 dB")), -32768);
        assert_eq!(gain(30000, gain_q12(20).expect("20 dB")), 32767);
        assert_eq!(gain(1000, gain_q12(-20).expect("-20 dB")), 100);
    }
}
