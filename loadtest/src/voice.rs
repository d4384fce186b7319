//! Conference voices for `mediagw-load conf`: what each member says, and the per-frame
//! verdict on what it hears.
//!
//! Channel `idx` is member `idx % size` of conference `idx / size`. At any time `T =
//! min(TALKERS, size)` members of a conference talk, talker `j` a steady sine of
//! [`FREQS`]`[set][j]` at [`AMP`]; the others send µ-law silence. In a conference of 3 every
//! member talks, always, each its own frequency. In a conference of 50 three talk and 47
//! are silent (as in a real large conference); the talkers rotate every `rot_frames`
//! frames, so over a run every member both talks (its own voice must be absent from what
//! it hears) and listens. Conference `c` starts its rotation `c` members further on, so
//! neighbouring conferences do not put the same tones on the same member indices. Even
//! rotations use the first set of frequencies, odd ones the second: a tone the previous
//! talkers left in a late frame is never taken for a current talker or a member's own
//! voice (with one set, the previous talker `j` would sound like the new talker `j`).
//!
//! Every frequency is a multiple of 50 Hz: a 160-sample frame holds whole periods, so
//! every frame a talker sends is the same 160 bytes, and whatever offset the gateway's
//! mixer cuts a frame at, each tone sits exactly on a bin of a 160-point DFT (no leakage
//! between tones). The six frequencies are apart from one another's odd harmonics and
//! third-order intermodulation products (µ-law is an odd companding curve; none lands on
//! another's bin) and from the DTMF tones. A received PCMU frame is decoded and its
//! amplitude at each talker frequency measured (a DFT bin by dot product):
//!
//! - own voice: the member is a talker and its own frequency is at [`OWN`] or above (the
//!   N-1 mix must remove it exactly: this is 1/8 of a talker);
//! - missing talker: another talker's frequency is below [`HEARD`] (half a talker).
//!
//! In a conference with rotating talkers, frames received within `guard` of a rotation
//! are not judged: they may still carry the previous talkers (the path's latency and the
//! member's jitter buffer lie between).

use mediagw::codec::{ULAW_TO_LINEAR, encode_ulaw};

/// Talker frequencies, Hz, two sets (even and odd rotations; multiples of 50 Hz: whole
/// periods in one 160-sample frame).
pub const FREQS: [[u32; 3]; 2] = [[450, 1150, 1950], [1400, 1700, 2550]];
/// Most simultaneous talkers in one conference.
pub const TALKERS: u32 = FREQS[0].len() as u32;
/// A talker's amplitude (three of them sum to 15000: no clipping).
pub const AMP: f32 = 5000.0;
/// A talker is heard at this amplitude or more.
pub const HEARD: f32 = AMP / 2.0;
/// A member hears its own voice at this amplitude or more.
pub const OWN: f32 = AMP / 8.0;

const N: usize = 160;
const FRAME_NS: i64 = 20_000_000;

/// The verdict on one received frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Verdict {
    /// Judged at all (not in a rotation's guard, a whole PCMU frame).
    pub judged: bool,
    /// The member's own voice is in it.
    pub own: bool,
    /// At least one other talker is missing from it.
    pub missing: bool,
    /// The weakest other talker's amplitude in it (`AMP`: none expected).
    pub weakest: f32,
    /// The member's own tone's amplitude in it (0 when it is not a talker).
    pub own_amp: f32,
}

/// What one window's verdicts add up to (see [`Verdict`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct VoiceStats {
    /// Frames judged.
    pub judged: u64,
    /// Frames not judged (in a rotation's guard, or not a whole PCMU frame).
    pub unjudged: u64,
    /// Frames carrying the member's own voice.
    pub own: u64,
    /// Frames missing at least one other talker.
    pub missing: u64,
    /// Members with at least one own-voice frame.
    pub members_own: u32,
    /// Members with at least one missing-talker frame.
    pub members_missing: u32,
    /// The weakest other talker in any judged frame, in talkers ([`AMP`] = 1).
    pub weakest: f32,
    /// The strongest own tone in any judged frame, in talkers.
    pub loudest_own: f32,
}

impl VoiceStats {
    /// Counts one verdict.
    pub fn add(&mut self, v: Verdict) {
        if v.judged {
            let weakest = v.weakest / AMP;
            self.weakest = if self.judged == 0 {
                weakest
            } else {
                self.weakest.min(weakest)
            };
            self.loudest_own = self.loudest_own.max(v.own_amp / AMP);
            self.judged += 1;
            self.own += u64::from(v.own);
            self.missing += u64::from(v.missing);
        } else {
            self.unjudged += 1;
        }
    }
}

/// The voice plan of one run: conference size, rotation, and the tables.
#[derive(Clone)]
pub struct Voices {
    size: u32,
    talkers: u32,
    rot_frames: u64,
    guard_ns: i64,
    /// Talker `j`'s frame, µ-law, per frequency set.
    frames: [Vec<[u8; N]>; 2],
    /// Talker `j`'s DFT basis (cos and sin of its bin), per frequency set.
    basis: [Vec<([f32; N], [f32; N])>; 2],
}

impl Voices {
    /// Conferences of `size`, talkers rotating every `rot_frames` frames (only when the
    /// conference has more members than talkers), frames within `guard_ms` of a rotation
    /// not judged.
    pub fn new(size: u32, rot_frames: u64, guard_ms: u64) -> Voices {
        let talkers = TALKERS.min(size.max(1));
        let mut frames: [Vec<[u8; N]>; 2] = Default::default();
        let mut basis: [Vec<([f32; N], [f32; N])>; 2] = Default::default();
        for (set, &f) in FREQS
            .iter()
            .enumerate()
            .flat_map(|(set, fs)| fs[..talkers as usize].iter().map(move |f| (set, f)))
        {
            let w = 2.0 * std::f64::consts::PI * f64::from(f) / 8000.0;
            let pcm: Vec<i16> = (0..N)
                .map(|n| (f64::from(AMP) * (w * n as f64).sin()).round() as i16)
                .collect();
            let mut law = [0u8; N];
            encode_ulaw(&pcm, &mut law);
            frames[set].push(law);
            let mut c = [0f32; N];
            let mut s = [0f32; N];
            for n in 0..N {
                c[n] = (w * n as f64).cos() as f32;
                s[n] = (w * n as f64).sin() as f32;
            }
            basis[set].push((c, s));
        }
        Voices {
            size: size.max(1),
            talkers,
            rot_frames: rot_frames.max(1),
            guard_ns: guard_ms as i64 * 1_000_000,
            frames,
            basis,
        }
    }

    /// Talkers at once in a conference.
    pub fn talkers(&self) -> u32 {
        self.talkers
    }

    fn rotates(&self) -> bool {
        self.size > self.talkers
    }

    /// The frequency set of rotation `r`.
    fn set(&self, r: u64) -> usize {
        if self.rotates() { (r % 2) as usize } else { 0 }
    }

    /// Which talker (index into a set of [`FREQS`]) channel `idx` is in rotation `r`.
    fn talker(&self, idx: u32, r: u64) -> Option<usize> {
        let (c, m) = (idx / self.size, idx % self.size);
        let r = if self.rotates() { r } else { 0 };
        let first = ((r * u64::from(self.talkers) + u64::from(c)) % u64::from(self.size)) as u32;
        let j = (m + self.size - first) % self.size;
        (j < self.talkers).then_some(j as usize)
    }

    /// What channel `idx` sends in frame `frame` (of the streamer's grid): its talker's
    /// tone, or `None` for silence.
    pub fn payload(&self, idx: u32, frame: u64) -> Option<&[u8; N]> {
        let r = frame / self.rot_frames;
        self.talker(idx, r).map(|j| &self.frames[self.set(r)][j])
    }

    /// Judges the PCMU `payload` channel `idx` received `since_ns` after the streamer's
    /// grid origin.
    pub fn judge(&self, idx: u32, since_ns: i64, payload: &[u8]) -> Verdict {
        if payload.len() != N || since_ns < 0 {
            return Verdict::default();
        }
        let rot_ns = self.rot_frames as i64 * FRAME_NS;
        if self.rotates() && since_ns % rot_ns < self.guard_ns {
            return Verdict::default();
        }
        let r = (since_ns / rot_ns) as u64;
        let own = self.talker(idx, r);
        let mut pcm = [0f32; N];
        for (x, &b) in pcm.iter_mut().zip(payload) {
            *x = f32::from(ULAW_TO_LINEAR[b as usize]);
        }
        let mut v = Verdict {
            judged: true,
            weakest: AMP,
            ..Verdict::default()
        };
        for (j, (c, s)) in self.basis[self.set(r)].iter().enumerate() {
            let a = amplitude(&pcm, c, s);
            if Some(j) == own {
                v.own_amp = a;
            } else {
                v.weakest = v.weakest.min(a);
            }
        }
        v.own = v.own_amp >= OWN;
        v.missing = v.weakest < HEARD;
        v
    }
}

/// The amplitude of the bin whose basis is (`c`, `s`) in `x` (a sine of amplitude A on
/// the bin gives A).
/// Eight partial sums each (the compiler keeps them in vector registers; one running
/// float sum would be a chain of dependent adds: this runs on the generator's thread,
/// once per talker per frame received).
fn amplitude(x: &[f32; N], c: &[f32; N], s: &[f32; N]) -> f32 {
    let mut re = [0f32; 8];
    let mut im = [0f32; 8];
    for ((x, c), s) in x
        .chunks_exact(8)
        .zip(c.chunks_exact(8))
        .zip(s.chunks_exact(8))
    {
        for k in 0..8 {
            re[k] += x[k] * c[k];
            im[k] += x[k] * s[k];
        }
    }
    let (re, im): (f32, f32) = (re.iter().sum(), im.iter().sum());
    2.0 * (re * re + im * im).sqrt() / N as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the N-1 mix sends member `idx` in rotation `r`: the sum of the other
    /// talkers' decoded frames (cut at `shift` samples), optionally with its own too.
    fn mix(v: &Voices, idx: u32, frame: u64, shift: usize, with_own: bool) -> [u8; N] {
        let conf = idx / v.size;
        let mut sum = [0i32; N];
        for m in 0..v.size {
            let other = conf * v.size + m;
            if other == idx && !with_own {
                continue;
            }
            if let Some(p) = v.payload(other, frame) {
                for n in 0..N {
                    sum[n] += i32::from(ULAW_TO_LINEAR[p[(n + shift) % N] as usize]);
                }
            }
        }
        let pcm: Vec<i16> = sum.iter().map(|&s| s.clamp(-32768, 32767) as i16).collect();
        let mut law = [0u8; N];
        encode_ulaw(&pcm, &mut law);
        law
    }

    fn at(frame: u64) -> i64 {
        frame as i64 * FRAME_NS
    }

    #[test]
    fn three_members_each_hear_the_other_two_never_themselves() {
        let v = Voices::new(3, 150, 400);
        for idx in 0..9 {
            assert!(v.payload(idx, 7).is_some(), "every member of 3 talks");
            for shift in [0, 37, 159] {
                let ok = v.judge(idx, at(1000), &mix(&v, idx, 1000, shift, false));
                assert!(ok.judged && !ok.own && !ok.missing, "{ok:?}");
                // The others come through at a talker's amplitude, the own tone not at all.
                assert!((ok.weakest / AMP - 1.0).abs() < 0.02, "{ok:?}");
                assert!(ok.own_amp / AMP < 0.01, "{ok:?}");
                let echo = v.judge(idx, at(1000), &mix(&v, idx, 1000, shift, true));
                assert!(echo.own && !echo.missing, "{idx} {shift}");
            }
        }
        // Conference 0 and 1 put different tones on member 0.
        assert_ne!(v.payload(0, 0), v.payload(3, 0));
    }

    #[test]
    fn a_lost_talker_is_missing_and_silence_misses_everyone() {
        let v = Voices::new(3, 150, 400);
        let silence = [0xffu8; N];
        assert!(v.judge(0, at(10), &silence).missing);
        assert!(!v.judge(0, at(10), &silence).own);
        // Member 0 hears only member 1.
        let p1 = v.payload(1, 10).expect("talks");
        let heard = v.judge(0, at(10), p1);
        assert!(heard.missing && !heard.own);
    }

    #[test]
    fn fifty_members_rotate_three_talkers_with_a_guard() {
        let v = Voices::new(50, 150, 400);
        assert_eq!(v.talkers(), 3);
        for r in 0..40u64 {
            let frame = r * 150 + 75;
            let talking: Vec<u32> = (50..100)
                .filter(|&i| v.payload(i, frame).is_some())
                .collect();
            assert_eq!(talking.len(), 3, "rotation {r}");
            for idx in 50..100 {
                let ok = v.judge(idx, at(frame), &mix(&v, idx, frame, 11, false));
                assert!(ok.judged && !ok.own && !ok.missing, "{idx} r{r}");
            }
            for &t in &talking {
                assert!(v.judge(t, at(frame), &mix(&v, t, frame, 11, true)).own);
            }
            // Just after the rotation: not judged.
            assert!(!v.judge(50, at(r * 150 + 5), &[0xff; N]).judged);
        }
        // A frame late from the previous rotation (its talkers, the other set) next to the
        // current talkers: neither own voice nor a talker taken for another.
        let (r, frame) = (7u64, 7 * 150 + 75);
        for idx in 50..100 {
            let now = mix(&v, idx, frame, 0, false);
            let stale = mix(&v, idx, frame - 150, 0, false);
            let both: Vec<u8> = now
                .iter()
                .zip(&stale)
                .map(|(&a, &b)| {
                    let s = i32::from(ULAW_TO_LINEAR[a as usize])
                        + i32::from(ULAW_TO_LINEAR[b as usize]);
                    mediagw::codec::linear_to_ulaw(s.clamp(-32768, 32767) as i16)
                })
                .collect();
            let verdict = v.judge(idx, at(frame), &both);
            assert!(
                verdict.judged && !verdict.own && !verdict.missing,
                "{idx} r{r} {verdict:?}"
            );
            assert!(verdict.own_amp / AMP < 0.05, "{verdict:?}");
        }
        // Over 17 rotations every member of 50 talked.
        let talked = (0..50u32).filter(|&i| (0..17).any(|r| v.payload(i, r * 150).is_some()));
        assert_eq!(talked.count(), 50);
    }
}
