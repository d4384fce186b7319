//! In-band DTMF detection for all the calls of one worker at once: calls are given
//! lanes of [`DetectorBank`]s (eight channels per bank, AVX2 when the CPU has it, the
//! bit-identical scalar kernel otherwise), their decoded audio is buffered per lane,
//! and once per tick every bank runs over the samples all its lanes have in common.
//!
//! Calls' 20 ms frames fall on different ticks (their phases differ), so a lane may be
//! up to a frame ahead of another; a bank runs on the common length and keeps the
//! rest. A lane that stops being fed (its call switched to RFC 4733, or stalled) is
//! padded with silence once another lane's buffer is half full, so it never holds the
//! others back. Nothing allocates per frame: buffers are fixed per lane.

use std::collections::HashMap;

use super::commands::CallId;
use crate::dtmf::{DetectorBank, LANES};

/// Samples buffered per lane (120 ms at 8 kHz).
const CAP: usize = 960;
/// A lane this far ahead forces its bank to run, padding the laggards with silence.
const FORCE: usize = CAP / 2;

struct Group {
    bank: DetectorBank,
    calls: [Option<CallId>; LANES],
    buf: Box<[[i16; CAP]; LANES]>,
    len: [usize; LANES],
}

/// Every in-band detector of a worker.
pub struct InbandPool {
    groups: Vec<Group>,
    lane_of: HashMap<CallId, (usize, usize)>,
    free: Vec<(usize, usize)>,
    digits: Vec<(CallId, char)>,
    zeros: Box<[i16; CAP]>,
}

impl Default for InbandPool {
    fn default() -> Self {
        Self::new()
    }
}

impl InbandPool {
    pub fn new() -> Self {
        InbandPool {
            groups: Vec::new(),
            lane_of: HashMap::new(),
            free: Vec::new(),
            digits: Vec::with_capacity(64),
            zeros: Box::new([0; CAP]),
        }
    }

    /// Calls with a lane.
    pub fn len(&self) -> usize {
        self.lane_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lane_of.is_empty()
    }

    /// The kernel in use ("avx2" or "scalar").
    pub fn kernel(&self) -> &'static str {
        if std::is_x86_feature_detected!("avx2") {
            "avx2"
        } else {
            "scalar"
        }
    }

    fn attach(&mut self, call: CallId) -> (usize, usize) {
        if let Some(&slot) = self.lane_of.get(&call) {
            return slot;
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.groups.push(Group {
                    bank: DetectorBank::new(),
                    calls: [None; LANES],
                    buf: Box::new([[0; CAP]; LANES]),
                    len: [0; LANES],
                });
                let g = self.groups.len() - 1;
                self.free.extend((1..LANES).rev().map(|l| (g, l)));
                (g, 0)
            }
        };
        let group = &mut self.groups[slot.0];
        let _ = group.bank.reset_lane(slot.1);
        group.calls[slot.1] = Some(call);
        group.len[slot.1] = 0;
        self.lane_of.insert(call, slot);
        slot
    }

    /// The call is gone (or uses RFC 4733 now): free its lane.
    pub fn detach(&mut self, call: CallId) {
        if let Some((g, l)) = self.lane_of.remove(&call) {
            self.groups[g].calls[l] = None;
            self.groups[g].len[l] = 0;
            self.free.push((g, l));
        }
    }

    /// Queue one frame of the call's decoded audio.
    pub fn push(&mut self, call: CallId, samples: &[i16]) {
        let (g, l) = self.attach(call);
        let mut rest = samples;
        while !rest.is_empty() {
            let group = &mut self.groups[g];
            let room = CAP - group.len[l];
            if room == 0 {
                Self::run_group(group, &mut self.digits, &self.zeros, true);
                continue;
            }
            let n = room.min(rest.len());
            let at = group.len[l];
            group.buf[l][at..at + n].copy_from_slice(&rest[..n]);
            group.len[l] += n;
            rest = &rest[n..];
        }
    }

    /// Run every bank over what its lanes have in common; returns the digits found
    /// (each once, when validated), valid until the next call.
    pub fn run(&mut self) -> &[(CallId, char)] {
        self.digits.clear();
        for group in &mut self.groups {
            Self::run_group(group, &mut self.digits, &self.zeros, false);
        }
        &self.digits
    }

    fn run_group(
        group: &mut Group,
        digits: &mut Vec<(CallId, char)>,
        zeros: &[i16; CAP],
        force: bool,
    ) {
        let active = || (0..LANES).filter(|&l| group.calls[l].is_some());
        let max = active().map(|l| group.len[l]).max().unwrap_or(0);
        if max == 0 {
            return;
        }
        let min = active().map(|l| group.len[l]).min().unwrap_or(0);
        let n = if force || max >= FORCE { max } else { min };
        if n == 0 {
            return;
        }
        // Lanes short of n (laggards, free lanes) are padded with silence.
        for l in 0..LANES {
            if group.len[l] < n {
                let have = group.len[l];
                group.buf[l][have..n].copy_from_slice(&zeros[have..n]);
                group.len[l] = n;
            }
        }
        let frames: [&[i16]; LANES] = std::array::from_fn(|l| &group.buf[l][..n]);
        let calls = group.calls;
        let _ = group.bank.rx(&frames, |lane, ev| {
            if ev.end.is_none()
                && let Some(call) = calls[lane]
            {
                digits.push((call, ev.digit));
            }
        });
        for l in 0..LANES {
            let left = group.len[l] - n;
            group.buf[l].copy_within(n..n + left, 0);
            group.len[l] = left;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::ToneGenerator;

    fn tones(digits: &str) -> Vec<i16> {
        let mut out = vec![0i16; 800];
        for d in digits.chars() {
            let mut g = ToneGenerator::new(d, 60, 60).unwrap();
            let mut buf = [0i16; 160];
            loop {
                let n = g.tx(&mut buf);
                out.extend_from_slice(&buf[..n]);
                if n < buf.len() {
                    break;
                }
            }
        }
        out.resize(out.len().div_ceil(160) * 160 + 800, 0);
        out
    }

    #[test]
    fn many_calls_in_different_phases_each_get_their_digits() {
        let mut pool = InbandPool::new();
        // 20 calls (three banks), each with its own digits, fed a frame per "tick"
        // at staggered phases, and some calls never fed (they block nothing).
        let calls: Vec<(CallId, String)> = (0..20)
            .map(|i| (i as CallId, format!("{}{}#", i % 10, (i * 7) % 10)))
            .collect();
        let audio: Vec<Vec<i16>> = calls.iter().map(|(_, d)| tones(d)).collect();
        let frames = audio.iter().map(Vec::len).max().unwrap() / 160;
        let mut found: HashMap<CallId, String> = HashMap::new();
        for tick in 0..frames * 4 + 8 {
            for (i, (call, _)) in calls.iter().enumerate() {
                if i % 4 == tick % 4 {
                    let f = tick / 4;
                    if let Some(frame) = audio[i].get(f * 160..f * 160 + 160) {
                        pool.push(*call, frame);
                    }
                }
            }
            for (call, d) in pool.run() {
                found.entry(*call).or_default().push(*d);
            }
        }
        for (call, want) in &calls {
            assert_eq!(
                found.get(call).map(String::as_str),
                Some(want.as_str()),
                "call {call}"
            );
        }
        assert_eq!(pool.len(), 20);
        pool.detach(3);
        assert_eq!(pool.len(), 19);
    }

    #[test]
    fn a_stalled_lane_does_not_hold_the_others_back() {
        let mut pool = InbandPool::new();
        pool.push(99, &[0; 160]); // then never again
        let audio = tones("5");
        let mut got = String::new();
        for f in audio.chunks(160) {
            pool.push(1, f);
            got.extend(pool.run().iter().map(|(_, d)| *d));
        }
        assert_eq!(got, "5");
    }
}
