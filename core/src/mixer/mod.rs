//! Conference N-1 mixing: the per-tick DSP kernel of a conference, sans IO.
//!
//! A [`Mixer`] holds the members of one conference and, once per 20 ms tick, turns the
//! frames they said ([`FRAME`] = 160 samples of 8 kHz linear i16) into the frame each of
//! them hears: the mix of every other talking member, never its own voice.
//!
//! # One tick
//!
//! 1. The caller gives each member that has audio this tick its frame:
//!    [`Mixer::input_mut`] (decode straight into it) or [`Mixer::put`] (copy).
//! 2. [`Mixer::mix`] mixes. It consumes the inputs: a member given nothing next tick
//!    contributes nothing next tick (no stale audio).
//! 3. The caller reads each member's [`Output`] ([`Mixer::output`], [`Mixer::outputs`]) and
//!    the [`Mixer::shared`] frame (also the conference's recording: everyone talking).
//!
//! Members are added and removed, and change mode and volume, between ticks. No call
//! allocates during a tick: every buffer belongs to the mixer and grows only when a member
//! is added ([`Mixer::with_capacity`] and [`Mixer::reserve`] size it up front).
//!
//! # Who contributes, who hears what
//!
//! A member *contributes* when its [`VoiceMode`] talks (1 or 2) and it was given a frame
//! this tick. Every contribution is summed once into 32-bit accumulators `S`. Then:
//!
//! - a listening member (mode 1 or 3) that contributed hears `S` minus its own
//!   contribution, saturated to 16 bits once, at the end: [`Output::Own`];
//! - every listening member that contributed nothing hears the same frame, `S` saturated
//!   to 16 bits: [`Output::Shared`]. It is one buffer, so the caller encodes it once per
//!   codec and sends the bytes to all of them;
//! - a member that does not listen (mode 2 or 4) gets [`Output::NotListening`].
//!
//! Nothing is saturated before the subtraction, so a sum that clips does not distort what
//! the members whose own N-1 sum does not clip hear (+30000, +30000, -30000: the two
//! +30000 members each hear exactly 0, the third hears 32767). Asterisk's softmix
//! saturates the 16-bit total before subtracting, and Janus's audiobridge truncates
//! without saturating; both distort there.
//!
//! # Volumes
//!
//! Volumes are steps of 1 dB in [`VOLUME_MIN`]..=[`VOLUME_MAX`] (-20 ..= +20), 0 being
//! unity; the Q12 gains are in [`gain_q12`].
//!
//! - A member's *volume* (the seed's `conf_enter` `volume`) scales what it contributes,
//!   i.e. how loud the others hear it: contribution `c = (x·g + 2048) >> 12`, kept in 32
//!   bits (+20 dB on a full-scale sample is 327 680: no intermediate 16-bit saturation).
//!   The member hears `S - c`, so its own volume never leaks into what it hears.
//! - A member's *output volume* scales what it hears (a bridge's `local_volume` /
//!   `remote_volume`): `sat16(round(d·og/4096))` of its 32-bit N-1 value `d`. A listener
//!   with a non-unity output volume gets [`Output::Own`] even when it contributed nothing.
//!
//! A 0 dB gain is exactly the identity, so unity members take the multiply-free path.
//!
//! # Kernels
//!
//! The arithmetic above is exact integer arithmetic (no sum can overflow: at most
//! [`MAX_MEMBERS`] contributions of at most 327 680 each), so the order of the additions
//! does not matter and the two kernels give bit-identical output: the portable scalar one
//! (`scalar.rs`, member by member over whole frames) and the AVX2 one (`avx2.rs`, blocks of
//! 32 samples held in registers while every member is summed, then every listener's
//! output written). Both take one exact shortcut: where every sum fits in 16 bits,
//! `sat16(S - x)` is a 16-bit saturating subtraction. [`Kernel::detect`] picks AVX2 at
//! run time when the CPU has it.
//!
//! # Cost
//!
//! `bench/mixer.rs` on the development machine, every member talking and listening: about
//! 13 to 17 ns per member-frame on AVX2 from 10 to 500 members, 36 to 46 ns on the scalar
//! kernel (which LLVM vectorises to SSE2), 1.3 to 12 µs for a naive per-listener re-sum
//! at 50 to 500 members. See BENCHMARKS.md.

#[cfg(target_arch = "x86_64")]
mod avx2;
mod gain;
mod scalar;
#[cfg(test)]
mod tests;

pub use gain::{VOLUME_MAX, VOLUME_MIN, gain_q12};

use gain::{UNITY, clamp_bound};
use std::fmt;

/// Samples per frame: 20 ms at 8 kHz.
pub const FRAME: usize = 160;

/// Most members a mixer holds. Bounds the 32-bit sums: 4096 · 327 680 < 2^31.
pub const MAX_MEMBERS: usize = 4096;

pub use crate::simd::Kernel;
use crate::simd::avx2_available;

/// A member's voice mode, numbered as API.md's `voice_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VoiceMode {
    /// 1: talks and listens.
    TalkListen = 1,
    /// 2: talks only.
    Talk = 2,
    /// 3: listens only.
    Listen = 3,
    /// 4: neither talks nor listens.
    Neither = 4,
}

impl VoiceMode {
    /// The mode of API value `v` (1..=4), or `None`.
    pub fn from_api(v: i64) -> Option<VoiceMode> {
        match v {
            1 => Some(VoiceMode::TalkListen),
            2 => Some(VoiceMode::Talk),
            3 => Some(VoiceMode::Listen),
            4 => Some(VoiceMode::Neither),
            _ => None,
        }
    }

    /// The API value (1..=4).
    pub fn api(self) -> u8 {
        self as u8
    }

    /// Whether the member's frames are mixed for the others (modes 1 and 2).
    pub fn talks(self) -> bool {
        matches!(self, VoiceMode::TalkListen | VoiceMode::Talk)
    }

    /// Whether the member is given the mix (modes 1 and 3).
    pub fn listens(self) -> bool {
        matches!(self, VoiceMode::TalkListen | VoiceMode::Listen)
    }
}

/// A member of one [`Mixer`]. Stays valid until the member is removed; a removed member's
/// id is refused afterwards, even once its slot is reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemberId {
    slot: u32,
    generation: u32,
}

/// What one member hears this tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output<'a> {
    /// The member does not listen (voice mode 2 or 4), or joined after the last mix.
    NotListening,
    /// The common frame every non-contributing unity listener hears ([`Mixer::shared`]):
    /// encode it once per codec for all of them.
    Shared(&'a [i16; FRAME]),
    /// This member's own frame (it contributed, or has an output volume).
    Own(&'a [i16; FRAME]),
}

impl<'a> Output<'a> {
    /// The samples to send, if any.
    pub fn frame(self) -> Option<&'a [i16; FRAME]> {
        match self {
            Output::NotListening => None,
            Output::Shared(f) | Output::Own(f) => Some(f),
        }
    }
}

/// Counts of the last [`Mixer::mix`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickStats {
    /// Members that contributed.
    pub talkers: usize,
    /// Listeners given [`Output::Own`].
    pub own: usize,
    /// Listeners given [`Output::Shared`].
    pub shared: usize,
}

/// Errors of [`Mixer`]; each leaves the mixer unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MixerError {
    /// [`Kernel::Avx2`] was asked for on a CPU without AVX2.
    Avx2Unavailable,
    /// The mixer already holds [`MAX_MEMBERS`].
    Full,
    /// The id is not (or no longer) a member of this mixer.
    NoSuchMember,
    /// A volume outside [`VOLUME_MIN`]..=[`VOLUME_MAX`].
    VolumeOutOfRange(i32),
    /// [`Mixer::put`] was given a frame that is not [`FRAME`] samples long.
    FrameLength(usize),
}

impl fmt::Display for MixerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MixerError::Avx2Unavailable => write!(f, "AVX2 is not available on this CPU"),
            MixerError::Full => write!(f, "the mixer holds {MAX_MEMBERS} members already"),
            MixerError::NoSuchMember => write!(f, "no such member"),
            MixerError::VolumeOutOfRange(v) => {
                write!(f, "volume {v} outside {VOLUME_MIN}..={VOLUME_MAX}")
            }
            MixerError::FrameLength(n) => write!(f, "frame of {n} samples, want {FRAME}"),
        }
    }
}

impl std::error::Error for MixerError {}

/// One frame, aligned so each 32-sample block is one cache line.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame(pub [i16; FRAME]);

impl Frame {
    const ZERO: Frame = Frame([0; FRAME]);
}

/// A listener on the general path: `out[i] = scale_out(S[i] - contribution(in[i],
/// in_gain), out_gain, clamp)`. A listener that contributed nothing has `in_gain` 0.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OwnGain {
    pub input: u32,
    pub in_gain: i32,
    pub out_gain: i32,
    pub clamp: i32,
    pub out: u32,
}

/// One tick's work, built by [`Mixer::mix`] and run by a kernel. Indices are into the
/// mixer's dense input and own-frame arrays.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Contributors at unity gain.
    pub talk_unity: Vec<u32>,
    /// Contributors with a gain: (input, Q12 gain).
    pub talk_gain: Vec<(u32, i32)>,
    /// Contributing listeners at unity in and out: (input, own frame); `sat16(S - x)`.
    pub own_unity: Vec<(u32, u32)>,
    /// Every other listener given its own frame.
    pub own_gain: Vec<OwnGain>,
}

impl Plan {
    fn clear(&mut self) {
        self.talk_unity.clear();
        self.talk_gain.clear();
        self.own_unity.clear();
        self.own_gain.clear();
    }

    /// Capacity for `n` members in every list.
    fn reserve_to(&mut self, n: usize) {
        fn to<T>(v: &mut Vec<T>, n: usize) {
            v.reserve(n.saturating_sub(v.len()));
        }
        to(&mut self.talk_unity, n);
        to(&mut self.talk_gain, n);
        to(&mut self.own_unity, n);
        to(&mut self.own_gain, n);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Out {
    NotListening,
    Shared,
    Own(u32),
}

#[derive(Clone, Copy, Debug)]
struct Member {
    slot: u32,
    mode: VoiceMode,
    volume: i32,
    out_volume: i32,
    in_gain: i32,
    out_gain: i32,
    has_audio: bool,
    out: Out,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    generation: u32,
    /// Index into the dense arrays, or `FREE`.
    dense: u32,
}

const FREE: u32 = u32::MAX;

/// The members of one conference and the buffers of its N-1 mix. See the module docs.
#[derive(Debug)]
pub struct Mixer {
    kernel: Kernel,
    /// Dense, in step with `inputs`.
    members: Vec<Member>,
    inputs: Vec<Frame>,
    /// Own output frames, numbered per mix; never fewer than members (the most a tick can
    /// need). Not shrunk on removal.
    own: Vec<Frame>,
    shared: Box<Frame>,
    plan: Plan,
    slots: Vec<Slot>,
    free: Vec<u32>,
    stats: TickStats,
}

impl Default for Mixer {
    fn default() -> Self {
        Self::new()
    }
}

impl Mixer {
    /// An empty mixer on the fastest kernel available.
    pub fn new() -> Self {
        Self::build(Kernel::detect(), 0)
    }

    /// An empty mixer on `kernel`; fails if the CPU lacks it.
    pub fn with_kernel(kernel: Kernel) -> Result<Self, MixerError> {
        if kernel == Kernel::Avx2 && !avx2_available() {
            return Err(MixerError::Avx2Unavailable);
        }
        Ok(Self::build(kernel, 0))
    }

    /// An empty mixer on the fastest kernel with buffers for `members` members (at most
    /// [`MAX_MEMBERS`]), so adding up to that many allocates nothing.
    pub fn with_capacity(members: usize) -> Self {
        Self::build(Kernel::detect(), members.min(MAX_MEMBERS))
    }

    fn build(kernel: Kernel, cap: usize) -> Self {
        let mut m = Mixer {
            kernel,
            members: Vec::new(),
            inputs: Vec::new(),
            own: Vec::new(),
            shared: Box::new(Frame::ZERO),
            plan: Plan::default(),
            slots: Vec::new(),
            free: Vec::new(),
            stats: TickStats::default(),
        };
        m.reserve(cap);
        m
    }

    /// Makes room for `additional` more members (up to [`MAX_MEMBERS`] in all), so adding
    /// them allocates nothing.
    pub fn reserve(&mut self, additional: usize) {
        fn to<T>(v: &mut Vec<T>, n: usize) {
            v.reserve(n.saturating_sub(v.len()));
        }
        let n = (self.members.len() + additional).min(MAX_MEMBERS);
        to(&mut self.members, n);
        to(&mut self.inputs, n);
        to(&mut self.own, n);
        to(&mut self.slots, n);
        to(&mut self.free, n);
        self.plan.reserve_to(n);
    }

    /// The kernel this mixer runs.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the mixer has no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether `id` is a member.
    pub fn contains(&self, id: MemberId) -> bool {
        self.dense(id).is_some()
    }

    /// Adds a member with `mode` and contribution `volume` (dB, -20..=20; output volume 0).
    /// It takes part from the next [`Mixer::mix`].
    pub fn add(&mut self, mode: VoiceMode, volume: i32) -> Result<MemberId, MixerError> {
        let in_gain = gain_q12(volume).ok_or(MixerError::VolumeOutOfRange(volume))?;
        if self.members.len() >= MAX_MEMBERS {
            return Err(MixerError::Full);
        }
        let dense = self.members.len() as u32;
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize].dense = dense;
                s
            }
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    dense,
                });
                (self.slots.len() - 1) as u32
            }
        };
        self.members.push(Member {
            slot,
            mode,
            volume,
            out_volume: 0,
            in_gain,
            out_gain: UNITY,
            has_audio: false,
            out: Out::NotListening,
        });
        self.inputs.push(Frame::ZERO);
        if self.own.len() < self.members.len() {
            self.own.push(Frame::ZERO);
        }
        // Room for every member in the per-tick lists, and for all of them in `free`.
        self.reserve(0);
        Ok(MemberId {
            slot,
            generation: self.slots[slot as usize].generation,
        })
    }

    /// Removes a member. The others' outputs of the last mix stay readable.
    pub fn remove(&mut self, id: MemberId) -> Result<(), MixerError> {
        let d = self.dense(id).ok_or(MixerError::NoSuchMember)?;
        let last = self.members.len() - 1;
        self.members.swap_remove(d);
        self.inputs.swap_remove(d);
        if d != last {
            let moved = self.members[d].slot;
            self.slots[moved as usize].dense = d as u32;
        }
        // `own` is left as it is: surviving members' outputs of the last mix still point
        // into it, and it is reused by the next add.
        let s = &mut self.slots[id.slot as usize];
        s.dense = FREE;
        s.generation = s.generation.wrapping_add(1);
        self.free.push(id.slot);
        Ok(())
    }

    /// Changes a member's voice mode from the next mix.
    pub fn set_mode(&mut self, id: MemberId, mode: VoiceMode) -> Result<(), MixerError> {
        let d = self.dense(id).ok_or(MixerError::NoSuchMember)?;
        self.members[d].mode = mode;
        Ok(())
    }

    /// A member's voice mode.
    pub fn mode(&self, id: MemberId) -> Option<VoiceMode> {
        self.dense(id).map(|d| self.members[d].mode)
    }

    /// Sets how loud the others hear a member (dB, -20..=20) from the next mix.
    pub fn set_volume(&mut self, id: MemberId, volume: i32) -> Result<(), MixerError> {
        let d = self.dense(id).ok_or(MixerError::NoSuchMember)?;
        let g = gain_q12(volume).ok_or(MixerError::VolumeOutOfRange(volume))?;
        let m = &mut self.members[d];
        m.volume = volume;
        m.in_gain = g;
        Ok(())
    }

    /// A member's contribution volume, dB.
    pub fn volume(&self, id: MemberId) -> Option<i32> {
        self.dense(id).map(|d| self.members[d].volume)
    }

    /// Sets how loud a member hears the others (dB, -20..=20) from the next mix. A
    /// non-zero output volume gives the member its own frame every tick.
    pub fn set_output_volume(&mut self, id: MemberId, volume: i32) -> Result<(), MixerError> {
        let d = self.dense(id).ok_or(MixerError::NoSuchMember)?;
        let g = gain_q12(volume).ok_or(MixerError::VolumeOutOfRange(volume))?;
        let m = &mut self.members[d];
        m.out_volume = volume;
        m.out_gain = g;
        Ok(())
    }

    /// A member's output volume, dB.
    pub fn output_volume(&self, id: MemberId) -> Option<i32> {
        self.dense(id).map(|d| self.members[d].out_volume)
    }

    /// The member's input buffer for this tick, and marks it as having audio: the caller
    /// must write all [`FRAME`] samples (it holds the member's previous frame). Returns
    /// `None` for an unknown id. Input of a member whose mode does not talk is ignored.
    pub fn input_mut(&mut self, id: MemberId) -> Option<&mut [i16; FRAME]> {
        let d = self.dense(id)?;
        self.members[d].has_audio = true;
        Some(&mut self.inputs[d].0)
    }

    /// Copies the member's frame for this tick (see [`Mixer::input_mut`]).
    pub fn put(&mut self, id: MemberId, frame: &[i16]) -> Result<(), MixerError> {
        let src: &[i16; FRAME] = frame
            .try_into()
            .map_err(|_| MixerError::FrameLength(frame.len()))?;
        let dst = self.input_mut(id).ok_or(MixerError::NoSuchMember)?;
        dst.copy_from_slice(src);
        Ok(())
    }

    /// Withdraws a frame given this tick: the member contributes nothing to the next mix.
    pub fn clear_input(&mut self, id: MemberId) -> Result<(), MixerError> {
        let d = self.dense(id).ok_or(MixerError::NoSuchMember)?;
        self.members[d].has_audio = false;
        Ok(())
    }

    /// Mixes this tick's inputs (see the module docs) and consumes them. Allocates nothing.
    pub fn mix(&mut self) {
        self.plan.clear();
        let mut stats = TickStats::default();
        let mut own = 0u32;
        for (i, m) in self.members.iter_mut().enumerate() {
            let i = i as u32;
            let talks = m.mode.talks() && m.has_audio;
            m.has_audio = false;
            if talks {
                stats.talkers += 1;
                if m.in_gain == UNITY {
                    self.plan.talk_unity.push(i);
                } else {
                    self.plan.talk_gain.push((i, m.in_gain));
                }
            }
            m.out = if !m.mode.listens() {
                Out::NotListening
            } else if !talks && m.out_gain == UNITY {
                stats.shared += 1;
                Out::Shared
            } else {
                if talks && m.in_gain == UNITY && m.out_gain == UNITY {
                    self.plan.own_unity.push((i, own));
                } else {
                    self.plan.own_gain.push(OwnGain {
                        input: i,
                        in_gain: if talks { m.in_gain } else { 0 },
                        out_gain: m.out_gain,
                        clamp: clamp_bound(m.out_gain),
                        out: own,
                    });
                }
                own += 1;
                Out::Own(own - 1)
            };
        }
        stats.own = own as usize;
        self.stats = stats;
        let own = &mut self.own[..own as usize];
        match self.kernel {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => {
                // SAFETY: a mixer only holds Kernel::Avx2 after `avx2_available()` returned
                // true (see `with_kernel` / `Kernel::detect`), so the CPU supports AVX2.
                unsafe { avx2::run(&self.plan, &self.inputs, own, &mut self.shared) }
            }
            _ => scalar::run(&self.plan, &self.inputs, own, &mut self.shared),
        }
    }

    /// What `id` hears from the last mix, or `None` for an unknown id.
    pub fn output(&self, id: MemberId) -> Option<Output<'_>> {
        self.dense(id).map(|d| self.output_of(d))
    }

    /// Every member with what it hears from the last mix, in no particular order.
    pub fn outputs(&self) -> impl Iterator<Item = (MemberId, Output<'_>)> + '_ {
        self.members.iter().enumerate().map(|(d, m)| {
            let id = MemberId {
                slot: m.slot,
                generation: self.slots[m.slot as usize].generation,
            };
            (id, self.output_of(d))
        })
    }

    /// The last mix's sum of every contribution, saturated to 16 bits: what
    /// [`Output::Shared`] listeners hear, and what a recording of the conference records.
    pub fn shared(&self) -> &[i16; FRAME] {
        &self.shared.0
    }

    /// Counts of the last mix.
    pub fn last_tick(&self) -> TickStats {
        self.stats
    }

    fn output_of(&self, d: usize) -> Output<'_> {
        match self.members[d].out {
            Out::NotListening => Output::NotListening,
            Out::Shared => Output::Shared(&self.shared.0),
            Out::Own(k) => Output::Own(&self.own[k as usize].0),
        }
    }

    fn dense(&self, id: MemberId) -> Option<usize> {
        let s = self.slots.get(id.slot as usize)?;
        (s.generation == id.generation && s.dense != FREE).then_some(s.dense as usize)
    }
}
