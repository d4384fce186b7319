//! What a test reads out of received RTP: G.711 payloads decoded to samples, a tone's
//! power at one frequency (Goertzel), DTMF digits found by the gateway's own detector,
//! RFC 4733 events told apart by timestamp, and runs of frames found in a stream.

use mediagw::codec::{Codec, alaw_to_linear, linear_to_alaw, linear_to_ulaw, ulaw_to_linear};

use crate::Rx;

/// The samples of `pkts` (payloads of `codec`), concatenated in arrival order.
pub fn decode(codec: Codec, pkts: &[Rx]) -> Vec<i16> {
    let f = match codec {
        Codec::Pcma => alaw_to_linear,
        _ => ulaw_to_linear,
    };
    pkts.iter()
        .flat_map(|p| p.payload.iter().map(|b| f(*b)))
        .collect()
}

/// `frames` 20 ms frames of a sine at `hz`, -10 dBm0-ish, encoded in `codec`.
pub fn tone_frames(codec: Codec, hz: f64, frames: usize) -> Vec<Vec<u8>> {
    let enc = match codec {
        Codec::Pcma => linear_to_alaw,
        _ => linear_to_ulaw,
    };
    (0..frames)
        .map(|f| {
            (0..160)
                .map(|i| {
                    let n = (f * 160 + i) as f64;
                    let s = 8000.0 * (2.0 * std::f64::consts::PI * hz * n / 8000.0).sin();
                    enc(s as i16)
                })
                .collect()
        })
        .collect()
}

/// The power of `x` at `hz` (Goertzel over the whole slice, normalised by its length).
pub fn tone_power(x: &[i16], hz: f64) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let k = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = f64::from(v) + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - k * s1 * s2) / (x.len() as f64 * x.len() as f64)
}

/// Which of `candidates` dominates `x`, if any stands 10 dB above the others and above
/// a floor of about -40 dBm0.
pub fn dominant_tone(x: &[i16], candidates: &[f64]) -> Option<f64> {
    let mut p: Vec<(f64, f64)> = candidates.iter().map(|&f| (f, tone_power(x, f))).collect();
    p.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (best, power) = *p.first()?;
    let next = p.get(1).map_or(0.0, |q| q.1);
    (power > 100.0 && power > 10.0 * next).then_some(best)
}

/// Digits in `pcm` found by the gateway's DTMF detector, in order.
pub fn detect_digits(pcm: &[i16]) -> String {
    let mut det = mediagw::dtmf::Detector::new();
    let mut found = String::new();
    det.rx(pcm, |e| {
        if e.end.is_none() {
            found.push(e.digit)
        }
    });
    det.finish(|e| {
        if e.end.is_none() {
            found.push(e.digit)
        }
    });
    found
}

/// The RFC 4733 events among `pkts` under payload type `pt`, one character per event
/// (packets of one event share a timestamp; retransmitted ends do not count again).
pub fn events_of(pkts: &[Rx], pt: u8) -> String {
    let mut out = String::new();
    let mut last_ts = None;
    for p in pkts.iter().filter(|p| p.pt == pt && !p.payload.is_empty()) {
        if Some(p.ts) != last_ts {
            last_ts = Some(p.ts);
            if let Some(c) = mediagw::rtp::dtmf_char(p.payload[0]) {
                out.push(c);
            }
        }
    }
    out
}

/// Whether `frames` stand in `got` as one contiguous run, in order.
pub fn contains_run(got: &[Vec<u8>], frames: &[Vec<u8>]) -> bool {
    !frames.is_empty() && got.windows(frames.len()).any(|w| w == frames)
}

/// Writes `seconds` of a `hz` tone (amplitude 8000) to `path`: 16-bit PCM, 8 kHz, mono
/// (a ring-back or announcement file for a test).
pub fn write_tone_wav(path: &std::path::Path, hz: f64, seconds: f64) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    for n in 0..(seconds * 8000.0) as usize {
        let s = 8000.0 * (2.0 * std::f64::consts::PI * hz * n as f64 / 8000.0).sin();
        w.write_sample(s as i16).expect("write");
    }
    w.finalize().expect("finalize");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_is_found_at_its_frequency_only() {
        let pcm: Vec<i16> = tone_frames(Codec::Pcmu, 600.0, 10)
            .concat()
            .iter()
            .map(|b| ulaw_to_linear(*b))
            .collect();
        assert_eq!(dominant_tone(&pcm, &[425.0, 600.0, 1400.0]), Some(600.0));
        assert_eq!(dominant_tone(&[0; 1600], &[425.0, 600.0]), None);
    }

    #[test]
    fn runs_are_found_in_order_only() {
        let f = |b: u8| vec![b; 4];
        let got = vec![f(1), f(2), f(3), f(4)];
        assert!(contains_run(&got, &[f(2), f(3)]));
        assert!(!contains_run(&got, &[f(3), f(2)]));
        assert!(!contains_run(&got, &[]));
    }
}
