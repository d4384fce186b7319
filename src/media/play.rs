//! The play state machine (sans-IO): a list of shared audio segments played in order,
//! `1 + repeat` times, one frame per packet time, encoded straight into the call's law
//! (byte-exact for G.711 files of that law). The last frame is padded with silence.
//! A play may start *pending* (waiting for speech synthesis): it sends nothing until
//! its audio arrives, yet can already be stopped or ended by a finish key.

use std::sync::Arc;

use super::audio::Audio;
use crate::codec::Codec;

/// What one packet time of a play produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayFrame {
    /// A full frame was written.
    Audio,
    /// Nothing to send yet (waiting for synthesis).
    Waiting,
    /// The play has ended; nothing was written.
    Done,
}

/// One play.
#[derive(Debug, Clone)]
pub struct Play {
    audio: Vec<Arc<Audio>>,
    rounds_left: u32,
    seg: usize,
    pos: usize,
    finish_keys: String,
    pending: Option<u64>,
}

impl Play {
    /// Plays `audio` `1 + repeat` times.
    pub fn new(audio: Vec<Arc<Audio>>, repeat: u32, finish_keys: String) -> Self {
        Self {
            audio,
            rounds_left: repeat,
            seg: 0,
            pos: 0,
            finish_keys,
            pending: None,
        }
    }

    /// A play whose audio is still being prepared (token names it).
    pub fn pending(token: u64, finish_keys: String) -> Self {
        Self {
            pending: Some(token),
            ..Self::new(Vec::new(), 0, finish_keys)
        }
    }

    /// The token of a pending play.
    pub fn pending_token(&self) -> Option<u64> {
        self.pending
    }

    /// The audio of a pending play arrived.
    pub fn ready(&mut self, audio: Vec<Arc<Audio>>, repeat: u32) {
        self.audio = audio;
        self.rounds_left = repeat;
        self.seg = 0;
        self.pos = 0;
        self.pending = None;
    }

    /// Whether `key` ends this play.
    pub fn is_finish_key(&self, key: char) -> bool {
        self.finish_keys.contains(key)
    }

    /// Writes the next frame (`out.len()` samples) as linear samples (a join mixes it).
    pub fn next_samples(&mut self, out: &mut [i16]) -> PlayFrame {
        if self.pending.is_some() {
            return PlayFrame::Waiting;
        }
        let mut filled = 0;
        while filled < out.len() {
            let Some(seg) = self.audio.get(self.seg) else {
                if self.rounds_left == 0 || self.audio.iter().all(|a| a.is_empty()) {
                    break;
                }
                self.rounds_left -= 1;
                self.seg = 0;
                self.pos = 0;
                continue;
            };
            let n = (seg.len() - self.pos.min(seg.len())).min(out.len() - filled);
            if n == 0 {
                self.seg += 1;
                self.pos = 0;
                continue;
            }
            out[filled..filled + n].copy_from_slice(&seg.samples[self.pos..self.pos + n]);
            filled += n;
            self.pos += n;
        }
        if filled == 0 {
            return PlayFrame::Done;
        }
        out[filled..].fill(0);
        PlayFrame::Audio
    }

    /// Writes the next frame (`out.len()` samples) in `law`.
    pub fn next_frame(&mut self, law: Codec, out: &mut [u8]) -> PlayFrame {
        if self.pending.is_some() {
            return PlayFrame::Waiting;
        }
        let mut filled = 0;
        while filled < out.len() {
            let Some(seg) = self.audio.get(self.seg) else {
                if self.rounds_left == 0 || self.audio.iter().all(|a| a.is_empty()) {
                    break;
                }
                self.rounds_left -= 1;
                self.seg = 0;
                self.pos = 0;
                continue;
            };
            let n = (seg.len() - self.pos.min(seg.len())).min(out.len() - filled);
            if n == 0 {
                self.seg += 1;
                self.pos = 0;
                continue;
            }
            seg.encode_into(law, self.pos, &mut out[filled..filled + n]);
            filled += n;
            self.pos += n;
        }
        if filled == 0 {
            return PlayFrame::Done;
        }
        out[filled..].fill(law.silence());
        PlayFrame::Audio
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulaw(bytes: &[u8]) -> Arc<Audio> {
        Arc::new(Audio::from_g711(Codec::Pcmu, bytes))
    }

    fn drain(p: &mut Play, law: Codec, n: usize) -> Vec<u8> {
        let mut all = Vec::new();
        let mut f = vec![0u8; n];
        for _ in 0..1000 {
            match p.next_frame(law, &mut f) {
                PlayFrame::Audio => all.extend_from_slice(&f),
                PlayFrame::Done => return all,
                PlayFrame::Waiting => panic!("not pending"),
            }
        }
        panic!("never ends");
    }

    #[test]
    fn segments_concatenate_across_frames_and_repeat() {
        let a: Vec<u8> = (0..7).collect();
        let b: Vec<u8> = (100..105).collect();
        let mut p = Play::new(vec![ulaw(&a), ulaw(&b)], 1, String::new());
        let out = drain(&mut p, Codec::Pcmu, 4);
        let mut want: Vec<u8> = a.iter().chain(&b).copied().collect();
        want.extend_from_within(..);
        // 24 bytes in frames of 4: no padding needed.
        assert_eq!(out, want);
        let mut p = Play::new(vec![ulaw(&a)], 0, String::new());
        let out = drain(&mut p, Codec::Pcmu, 4);
        assert_eq!(&out[..7], &a[..]);
        assert_eq!(out[7], 0xFF, "padded with µ-law silence");
    }

    #[test]
    fn linear_audio_is_encoded_and_empty_audio_ends_at_once() {
        let lin = Arc::new(Audio::from_samples(vec![1000, -1000, 0]));
        let mut p = Play::new(vec![lin], 0, String::new());
        let out = drain(&mut p, Codec::Pcma, 3);
        let want: Vec<u8> = [1000i16, -1000, 0]
            .iter()
            .map(|&s| crate::codec::linear_to_alaw(s))
            .collect();
        assert_eq!(out, want);
        let empty = Arc::new(Audio::from_samples(Vec::new()));
        let mut p = Play::new(vec![empty], 1000, String::new());
        assert_eq!(p.next_frame(Codec::Pcmu, &mut [0; 160]), PlayFrame::Done);
        let mut p = Play::new(Vec::new(), 0, "#".into());
        assert_eq!(p.next_frame(Codec::Pcmu, &mut [0; 160]), PlayFrame::Done);
        assert!(p.is_finish_key('#') && !p.is_finish_key('1'));
    }

    #[test]
    fn linear_frames_loop_across_segments() {
        let a = ulaw(&[1, 2, 3]);
        let mut p = Play::new(vec![a.clone()], u32::MAX, String::new());
        let mut out = [0i16; 4];
        assert_eq!(p.next_samples(&mut out), PlayFrame::Audio);
        let want: Vec<i16> = [1u8, 2, 3, 1]
            .iter()
            .map(|&b| Codec::Pcmu.decode(b))
            .collect();
        assert_eq!(&out[..], &want[..], "looped");
        let mut once = Play::new(vec![a], 0, String::new());
        let mut big = [7i16; 5];
        assert_eq!(once.next_samples(&mut big), PlayFrame::Audio);
        assert_eq!(&big[3..], &[0, 0], "padded with silence");
        assert_eq!(once.next_samples(&mut big), PlayFrame::Done);
    }

    #[test]
    fn pending_waits_then_plays() {
        let mut p = Play::pending(7, String::new());
        assert_eq!(p.pending_token(), Some(7));
        assert_eq!(p.next_frame(Codec::Pcmu, &mut [0; 4]), PlayFrame::Waiting);
        p.ready(vec![ulaw(&[1, 2, 3, 4])], 0);
        assert_eq!(drain(&mut p, Codec::Pcmu, 4), vec![1, 2, 3, 4]);
    }
}
