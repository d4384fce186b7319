//! Conferences on one worker (`MediaCommand::ConfOpen` … `ConfClose`): a [`Conference`]
//! holds its N-1 [`Mixer`], its members ([`Member`]), its own 20 ms frame grid, its play
//! (heard by every listener, mixed in as one more talker) and its recording (the whole
//! mix). Every member's call lives on the conference's worker — the engine moves a call's
//! media there before it enters — so a conference tick touches only this worker's state:
//! no lock, no other core. The price: a conference cannot outgrow one worker's core.
//!
//! One tick of a conference (`handler/conf_tick.rs` runs it):
//!
//! 1. each member's jitter buffer gives one packet time (a late packet within the
//!    buffer's delay is not a gap), decoded to 8 kHz linear and put into the mixer when
//!    the member talks; in-band DTMF is detected on it as on any call;
//! 2. the conference play, if any, is put in as one more talker ([`Conference::player`]);
//! 3. the mixer mixes once (32-bit sums, saturated once at the end);
//! 4. the recording takes the whole mix ([`Mixer::shared`]);
//! 5. every listener's frame is encoded in its own law and sent on its own RTP stream;
//!    the listeners that said nothing share one frame, encoded once per law
//!    ([`SharedEncodings`]); an entering member's announcement is mixed into what it
//!    alone hears.
//!
//! Members whose packet time is not 20 ms keep their own frame grid and meet the
//! conference's through two sample rings ([`Repack`]), as the legs of a join do.

mod encode;
mod member;

pub use encode::SharedEncodings;
pub use member::{Member, Repack};

use std::time::{Duration, Instant};

use super::commands::CallId;
use super::play::Play;
use super::record::Recording;
use crate::media_msg::MemberMode;
use crate::mixer::{FRAME, Kernel, MemberId, Mixer, VoiceMode};

/// The conference grid's frame period (the mixer's frame).
pub const PERIOD: Duration = Duration::from_millis(20);

/// Most frames caught up in one tick after a stall; older ones are skipped.
pub const MAX_CATCH_UP: u32 = 5;

/// What a member's actions end with when it enters a conference.
pub const ENTERED: &str = "entered a conference";

/// What members are told when their conference closes.
pub const CLOSED: &str = "conference closed";

/// A channel's link to the conference it is a member of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberLink {
    /// Slot of the conference in the worker's conference table.
    pub conf: u32,
    /// Slot of the member in the conference.
    pub member: u32,
}

/// A conference's play or recording: being prepared by the file service (its result
/// comes as `ConfPrepared` with the same token), or running.
#[derive(Debug, Default)]
pub enum Prep<T> {
    #[default]
    Idle,
    /// Being prepared; `stopped`: a stop came meanwhile (it ends as soon as it starts).
    Pending {
        token: u64,
        stopped: bool,
    },
    Active(T),
}

impl<T> Prep<T> {
    /// The token of a pending preparation.
    pub fn pending_token(&self) -> Option<u64> {
        match self {
            Prep::Pending { token, .. } => Some(*token),
            _ => None,
        }
    }

    /// Whether nothing is pending or running.
    pub fn is_idle(&self) -> bool {
        matches!(self, Prep::Idle)
    }
}

/// The mixer's voice mode for a member's mode.
pub fn voice_mode(m: MemberMode) -> VoiceMode {
    match (m.talks, m.listens) {
        (true, true) => VoiceMode::TalkListen,
        (true, false) => VoiceMode::Talk,
        (false, true) => VoiceMode::Listen,
        (false, false) => VoiceMode::Neither,
    }
}

/// One conference.
pub struct Conference {
    /// Its id (the engine's serial, in the calls' id space).
    pub id: CallId,
    pub mixer: Mixer,
    /// The mixer member the conference play talks through (heard by every listener).
    pub player: MemberId,
    /// Members by slot ([`MemberLink::member`]).
    pub members: Vec<Option<Member>>,
    free: Vec<u32>,
    count: usize,
    pub play: Prep<Play>,
    pub rec: Prep<Recording>,
    /// The next frame of the conference's grid.
    pub next_frame: Instant,
    /// Encodings made in the last tick (what [`SharedEncodings`] saves is visible here).
    pub last_encodes: u32,
}

impl Conference {
    /// An empty conference whose first frame is due at `first`, mixing on `kernel`
    /// (`None`: the fastest this CPU has).
    pub fn new(id: CallId, first: Instant, kernel: Option<Kernel>) -> Self {
        let mut mixer = kernel
            .and_then(|k| Mixer::with_kernel(k).ok())
            .unwrap_or_default();
        mixer.reserve(4);
        let player = mixer
            .add(VoiceMode::Talk, 0)
            .expect("an empty mixer takes a member");
        Self {
            id,
            mixer,
            player,
            members: Vec::new(),
            free: Vec::new(),
            count: 0,
            play: Prep::Idle,
            rec: Prep::Idle,
            next_frame: first,
            last_encodes: 0,
        }
    }

    /// Number of members (entering ones included).
    pub fn len(&self) -> usize {
        self.count
    }

    /// True without members.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds a member; returns its slot.
    pub fn insert(&mut self, m: Member) -> u32 {
        self.count += 1;
        match self.free.pop() {
            Some(i) => {
                self.members[i as usize] = Some(m);
                i
            }
            None => {
                self.members.push(Some(m));
                (self.members.len() - 1) as u32
            }
        }
    }

    /// Removes the member in `slot` (and from the mixer).
    pub fn remove(&mut self, slot: u32) -> Option<Member> {
        let m = self.members.get_mut(slot as usize)?.take()?;
        if let Some(id) = m.id {
            let _ = self.mixer.remove(id);
        }
        self.free.push(slot);
        self.count -= 1;
        Some(m)
    }

    /// The member in `slot`.
    pub fn member(&mut self, slot: u32) -> Option<&mut Member> {
        self.members.get_mut(slot as usize)?.as_mut()
    }

    /// The slot of `call`'s membership.
    pub fn slot_of(&self, call: CallId) -> Option<u32> {
        self.members
            .iter()
            .position(|m| m.as_ref().is_some_and(|m| m.call == call))
            .map(|i| i as u32)
    }

    /// The time of the next frame due by `now` (the grid moves on one frame), `n`
    /// counting those taken in this tick; after [`MAX_CATCH_UP`] of them, skips to the
    /// present and gives none, adding the frames skipped to `skipped`.
    pub fn take_due(&mut self, now: Instant, n: &mut u32, skipped: &mut u32) -> Option<Instant> {
        if self.next_frame > now {
            return None;
        }
        if *n == MAX_CATCH_UP {
            while self.next_frame <= now {
                self.next_frame += PERIOD;
                *skipped += 1;
            }
            return None;
        }
        *n += 1;
        let at = self.next_frame;
        self.next_frame += PERIOD;
        Some(at)
    }
}

/// Adds `b` to `a`, saturated.
#[inline]
pub fn mix_into(a: &mut [i16], b: &[i16]) {
    for (o, &x) in a.iter_mut().zip(b) {
        *o = o.saturating_add(x);
    }
}

/// Samples per conference frame.
pub const SAMPLES: usize = FRAME;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_by_slot_and_the_player_in_the_mixer() {
        let t = Instant::now();
        let mut c = Conference::new(7, t, Some(Kernel::Scalar));
        assert_eq!(c.mixer.len(), 1, "the player");
        let a = c.insert(Member::new(
            1,
            10,
            None,
            MemberMode {
                talks: true,
                listens: true,
            },
            0,
        ));
        let b = c.insert(Member::new(
            2,
            11,
            None,
            MemberMode {
                talks: true,
                listens: false,
            },
            0,
        ));
        assert_eq!((a, b, c.len()), (0, 1, 2));
        assert_eq!(c.slot_of(2), Some(1));
        assert!(c.remove(a).is_some());
        assert!(c.remove(a).is_none(), "once");
        let d = c.insert(Member::new(
            3,
            12,
            None,
            MemberMode {
                talks: false,
                listens: true,
            },
            0,
        ));
        assert_eq!(d, a, "slots are reused");
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn the_grid_catches_up_then_skips() {
        let t = Instant::now();
        let mut c = Conference::new(7, t, None);
        let (mut n, mut skipped) = (0, 0);
        let now = t + PERIOD * 9;
        let mut due = Vec::new();
        while let Some(at) = c.take_due(now, &mut n, &mut skipped) {
            due.push(at);
        }
        assert_eq!(due.len(), MAX_CATCH_UP as usize);
        assert_eq!(due[1] - due[0], PERIOD);
        assert_eq!(skipped, 10 - MAX_CATCH_UP, "frames 5..=9 skipped");
        assert_eq!(c.next_frame, t + PERIOD * 10);
    }

    #[test]
    fn modes_map_to_the_mixer() {
        let m = |talks, listens| voice_mode(MemberMode { talks, listens });
        assert_eq!(m(true, true), VoiceMode::TalkListen);
        assert_eq!(m(true, false), VoiceMode::Talk);
        assert_eq!(m(false, true), VoiceMode::Listen);
        assert_eq!(m(false, false), VoiceMode::Neither);
        let mut a = [30000i16, -5, 0];
        mix_into(&mut a, &[30000, -5, 7]);
        assert_eq!(a, [32767, -10, 7]);
    }
}
