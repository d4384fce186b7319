//! [`Member`]: one call's membership of a conference — its channel's slot, its place in
//! the mixer (none while its entry announcement loads), its mode and volume, the
//! announcement only it hears, and, for a packet time other than 20 ms, the two sample
//! rings ([`Repack`]) between its own frame grid and the conference's.

use super::super::join::ring::SampleRing;
use super::super::play::Play;
use crate::media::commands::CallId;
use crate::media_msg::MemberMode;
use crate::mixer::MemberId;

/// A member.
pub struct Member {
    pub call: CallId,
    /// The slot of its channel in the worker's calls.
    pub chan: u32,
    /// Its place in the mixer; `None` while its announcement is being loaded (it neither
    /// talks nor hears until then).
    pub id: Option<MemberId>,
    pub mode: MemberMode,
    /// Gain on what it says, dB.
    pub volume_db: i32,
    /// The `ConfEnter` request, while it waits for its announcement.
    pub token: u64,
    /// The announcement it hears as it enters (mixed into what it hears).
    pub announce: Option<Play>,
    /// Packet time other than 20 ms: the rings to and from its own frame grid.
    pub repack: Option<Box<Repack>>,
    /// Packets its channel had sent before the current conference frame.
    pub sent_before: u64,
}

impl Member {
    /// A member of channel slot `chan`.
    pub fn new(
        call: CallId,
        chan: u32,
        id: Option<MemberId>,
        mode: MemberMode,
        volume_db: i32,
    ) -> Self {
        Self {
            call,
            chan,
            id,
            mode,
            volume_db,
            token: 0,
            announce: None,
            repack: None,
            sent_before: 0,
        }
    }
}

/// A member on its own frame grid (packet time other than 20 ms): what it says goes into
/// `inbox` one of its packet times at a time and leaves 20 ms at a time into the mix;
/// what it hears goes into `outbox` 20 ms at a time and out in its packet time.
pub struct Repack {
    pub inbox: SampleRing,
    pub outbox: SampleRing,
    /// Absolute inbox position just past the last sample that came from a received packet
    /// (a conference frame read entirely before it is silence, not a contribution).
    pub voiced_until: u64,
}

impl Default for Repack {
    fn default() -> Self {
        Self::new()
    }
}

impl Repack {
    pub fn new() -> Self {
        Self {
            inbox: SampleRing::new(),
            outbox: SampleRing::new(),
            voiced_until: 0,
        }
    }

    /// One of the member's packet times of what it said (`voiced`: from a packet).
    pub fn said(&mut self, samples: &[i16], voiced: bool) {
        self.inbox.write(samples);
        if voiced {
            self.voiced_until = self.inbox.written();
        }
    }

    /// One conference frame of what the member said, if a whole one waits; `Some(true)`
    /// when any of it came from a packet.
    pub fn take_said(&mut self, out: &mut [i16]) -> Option<bool> {
        let from = self.inbox.written() - self.inbox.len() as u64;
        self.inbox.read(out).then_some(self.voiced_until > from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_ms_packets_make_twenty_ms_frames() {
        let mut r = Repack::new();
        let mut f = [0i16; 160];
        assert_eq!(r.take_said(&mut f), None, "nothing yet");
        r.said(&[1; 240], true);
        assert_eq!(r.take_said(&mut f), Some(true));
        assert_eq!(r.take_said(&mut f), None, "80 left");
        r.said(&[0; 240], false);
        assert_eq!(r.take_said(&mut f), Some(true), "80 voiced + 80 silent");
        assert_eq!(f[79], 1);
        assert_eq!(f[80], 0);
        assert_eq!(r.take_said(&mut f), Some(false), "all silence");
    }
}
