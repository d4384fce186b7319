//! Test signals for the DTMF tests: dual tones with arbitrary frequency deviation,
//! twist, level (dBm0), duration and pauses; white and pink noise at a given level; and
//! talk-off material (synthetic speech, synthetic music, and real speech from espeak-ng
//! when it is installed).
//!
//! Levels: 0 dBm0 is a sine of peak 32768 * 10^(-3.17/20) = 22 747 (a full-scale sine is
//! +3.17 dBm0, as for G.711 µ-law). Signals are built in f64 and quantized (rounded and
//! saturated) to 8 kHz i16 at the end, so a loud composite clips like a real codec would.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::f64::consts::PI;

/// Sample rate of every signal, Hz.
pub const FS: f64 = 8000.0;

/// The 16 DTMF digits in keypad order (rows 697..941 Hz, columns 1209..1633 Hz).
pub const ALL_DIGITS: [char; 16] = [
    '1', '2', '3', 'A', '4', '5', '6', 'B', '7', '8', '9', 'C', '*', '0', '#', 'D',
];

const LOW: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const HIGH: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// Peak amplitude (16-bit scale) of a sine at `dbm0`.
pub fn dbm0_amplitude(dbm0: f64) -> f64 {
    32768.0 * 10f64.powf((dbm0 - 3.17) / 20.0)
}

/// Power (mean square, 16-bit scale) of a sine at `dbm0`.
pub fn dbm0_power(dbm0: f64) -> f64 {
    let a = dbm0_amplitude(dbm0);
    a * a / 2.0
}

/// Level in dBm0 of a signal with mean square `power`.
pub fn power_dbm0(power: f64) -> f64 {
    10.0 * (power / dbm0_power(0.0)).log10()
}

/// Nominal (low, high) frequencies of `digit`.
pub fn dtmf_freqs(digit: char) -> Option<(f64, f64)> {
    let i = ALL_DIGITS.iter().position(|&d| d == digit)?;
    Some((LOW[i / 4], HIGH[i % 4]))
}

/// One dual tone to generate.
#[derive(Clone, Copy, Debug)]
pub struct Dtmf {
    pub digit: char,
    /// Relative deviation of the low tone (0.015 = +1.5 %).
    pub low_dev: f64,
    /// Relative deviation of the high tone.
    pub high_dev: f64,
    /// Level of the low tone, dBm0.
    pub low_dbm0: f64,
    /// Level of the high tone, dBm0.
    pub high_dbm0: f64,
    pub duration_ms: f64,
}

impl Dtmf {
    /// Nominal frequencies, -10 dBm0 per tone, 60 ms.
    pub fn new(digit: char) -> Self {
        Dtmf {
            digit,
            low_dev: 0.0,
            high_dev: 0.0,
            low_dbm0: -10.0,
            high_dbm0: -10.0,
            duration_ms: 60.0,
        }
    }
    /// Both tones at `dbm0`.
    pub fn level(mut self, dbm0: f64) -> Self {
        self.low_dbm0 = dbm0;
        self.high_dbm0 = dbm0;
        self
    }
    /// Twist in dB, Bellcore sign: positive = normal twist (high tone weaker than low),
    /// negative = reverse twist. The low tone keeps its level.
    pub fn twist(mut self, db: f64) -> Self {
        self.high_dbm0 = self.low_dbm0 - db;
        self
    }
    /// Deviation applied to both tones.
    pub fn deviation(mut self, low: f64, high: f64) -> Self {
        self.low_dev = low;
        self.high_dev = high;
        self
    }
    pub fn duration(mut self, ms: f64) -> Self {
        self.duration_ms = ms;
        self
    }
    /// Power of the composite tone (both frequencies), dBm0.
    pub fn composite_dbm0(&self) -> f64 {
        power_dbm0(dbm0_power(self.low_dbm0) + dbm0_power(self.high_dbm0))
    }
}

/// Where a tone was placed in a [`Signal`], in samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mark {
    pub digit: char,
    pub start: usize,
    pub end: usize,
}

/// A signal under construction: float samples plus the marks of the tones placed in it.
pub struct Signal {
    pub samples: Vec<f64>,
    pub marks: Vec<Mark>,
    rng: StdRng,
}

impl Signal {
    pub fn new(seed: u64) -> Self {
        Signal {
            samples: Vec::new(),
            marks: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Number of samples in `ms` milliseconds (rounded).
    pub fn ms(ms: f64) -> usize {
        (ms * FS / 1000.0).round() as usize
    }

    pub fn silence(&mut self, ms: f64) -> &mut Self {
        let n = Self::ms(ms);
        self.samples.extend(std::iter::repeat_n(0.0, n));
        self
    }

    /// Silence of a random length in `[lo_ms, hi_ms)`, so that tones fall at random
    /// positions relative to the detector's blocks.
    pub fn random_silence(&mut self, lo_ms: f64, hi_ms: f64) -> &mut Self {
        let ms = self.rng.random_range(lo_ms..hi_ms);
        self.silence(ms)
    }

    /// Appends the dual tone `d` with random starting phases and records its mark.
    pub fn tone(&mut self, d: &Dtmf) -> &mut Self {
        let (fl, fh) = dtmf_freqs(d.digit).expect("test digit");
        let (fl, fh) = (fl * (1.0 + d.low_dev), fh * (1.0 + d.high_dev));
        let (al, ah) = (dbm0_amplitude(d.low_dbm0), dbm0_amplitude(d.high_dbm0));
        let (pl, ph) = (
            self.rng.random_range(0.0..2.0 * PI),
            self.rng.random_range(0.0..2.0 * PI),
        );
        let n = Self::ms(d.duration_ms);
        let start = self.samples.len();
        for i in 0..n {
            let t = i as f64 / FS;
            let v = al * (2.0 * PI * fl * t + pl).sin() + ah * (2.0 * PI * fh * t + ph).sin();
            self.samples.push(v);
        }
        self.marks.push(Mark {
            digit: d.digit,
            start,
            end: start + n,
        });
        self
    }

    /// Appends arbitrary material (e.g. speech), unmarked.
    pub fn extend(&mut self, material: &[f64]) -> &mut Self {
        self.samples.extend_from_slice(material);
        self
    }

    /// Adds white Gaussian noise of power `dbm0` over the whole signal.
    pub fn add_white_noise(&mut self, dbm0: f64) -> &mut Self {
        let sigma = dbm0_power(dbm0).sqrt();
        for s in self.samples.iter_mut() {
            *s += sigma * gaussian(&mut self.rng);
        }
        self
    }

    /// Adds pink (1/f) noise of power `dbm0` over the whole signal.
    pub fn add_pink_noise(&mut self, dbm0: f64) -> &mut Self {
        let mut noise = pink_noise(&mut self.rng, self.samples.len());
        scale_to_power(&mut noise, dbm0_power(dbm0));
        for (s, n) in self.samples.iter_mut().zip(noise) {
            *s += n;
        }
        self
    }

    /// Quantizes to i16 (round, saturate).
    pub fn to_i16(&self) -> Vec<i16> {
        quantize(&self.samples)
    }
}

/// Rounds and saturates to i16.
pub fn quantize(x: &[f64]) -> Vec<i16> {
    x.iter()
        .map(|&v| v.round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// Standard normal variate (Box-Muller).
pub fn gaussian(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// Unit-less pink noise (Paul Kellet's refined filter on white noise).
pub fn pink_noise(rng: &mut StdRng, n: usize) -> Vec<f64> {
    let mut b = [0.0f64; 7];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let w = gaussian(rng);
        b[0] = 0.99886 * b[0] + w * 0.0555179;
        b[1] = 0.99332 * b[1] + w * 0.0750759;
        b[2] = 0.96900 * b[2] + w * 0.1538520;
        b[3] = 0.86650 * b[3] + w * 0.3104856;
        b[4] = 0.55000 * b[4] + w * 0.5329522;
        b[5] = -0.7616 * b[5] - w * 0.0168980;
        let v = b[0] + b[1] + b[2] + b[3] + b[4] + b[5] + b[6] + w * 0.5362;
        b[6] = w * 0.115926;
        out.push(v);
    }
    out
}

/// Scales `x` so that its mean square is `power`.
pub fn scale_to_power(x: &mut [f64], power: f64) {
    let p = mean_square(x);
    if p > 0.0 {
        let g = (power / p).sqrt();
        x.iter_mut().for_each(|v| *v *= g);
    }
}

pub fn mean_square(x: &[f64]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64
}

// ---------------------------------------------------------------------------------------
// Talk-off material: synthetic speech.
// ---------------------------------------------------------------------------------------

/// Two-pole resonator (formant filter) with unity gain at DC-ish scale.
#[derive(Clone, Copy, Default)]
struct Resonator {
    y1: f64,
    y2: f64,
}

impl Resonator {
    fn run(&mut self, x: f64, freq: f64, bw: f64) -> f64 {
        let r = (-PI * bw / FS).exp();
        let a1 = 2.0 * r * (2.0 * PI * freq / FS).cos();
        let a2 = -r * r;
        let g = 1.0 - a1 - a2;
        let y = g * x + a1 * self.y1 + a2 * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// Vowel formant targets (F1, F2, F3), Hz: a, i, u, e, o, æ, ɚ, ü, ə, ɤ.
const VOWELS: [(f64, f64, f64); 10] = [
    (730.0, 1090.0, 2440.0),
    (270.0, 2290.0, 3010.0),
    (300.0, 870.0, 2240.0),
    (530.0, 1840.0, 2480.0),
    (570.0, 840.0, 2410.0),
    (660.0, 1720.0, 2410.0),
    (490.0, 1350.0, 1690.0),
    (250.0, 1750.0, 2200.0),
    (500.0, 1500.0, 2500.0),
    (460.0, 1220.0, 2600.0),
];

/// `seconds` of speech-like signal: Rosenberg glottal pulse trains with a wandering pitch
/// (male, female and child ranges, intonation and jitter) through time-varying cascaded
/// formant resonators, with fricative noise bursts, syllable envelopes and pauses.
/// Active speech levels vary between -28 and -8 dBm0.
pub fn speech_like(seed: u64, seconds: f64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let total = (seconds * FS) as usize;
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        // One utterance by one "speaker".
        let f0_base: f64 = match rng.random_range(0..3) {
            0 => rng.random_range(85.0..155.0),
            1 => rng.random_range(165.0..255.0),
            _ => rng.random_range(250.0..380.0),
        };
        let level = rng.random_range(-28.0..-8.0);
        let mut utt = Vec::new();
        let syllables = rng.random_range(3..12);
        let mut f0 = f0_base;
        let mut formants = VOWELS[rng.random_range(0..VOWELS.len())];
        let mut res = [Resonator::default(); 4];
        let mut phase = 0.0f64; // position inside the glottal period, 0..1
        let mut lip = 0.0f64;
        for _ in 0..syllables {
            // Optional fricative onset.
            if rng.random_bool(0.35) {
                let n = Signal::ms(rng.random_range(40.0..140.0));
                let fc = rng.random_range(2200.0..3700.0);
                let gain = rng.random_range(0.1..0.5);
                let mut r = Resonator::default();
                for i in 0..n {
                    let env = ((i as f64 / n as f64) * PI).sin();
                    utt.push(gain * env * r.run(gaussian(&mut rng), fc, 600.0) * 3.0);
                }
            }
            let target = VOWELS[rng.random_range(0..VOWELS.len())];
            let n = Signal::ms(rng.random_range(90.0..330.0));
            let f0_end = (f0_base * rng.random_range(0.75..1.35)).clamp(70.0, 420.0);
            let start_formants = formants;
            let start_f0 = f0;
            let rise = Signal::ms(20.0).min(n / 3);
            let fall = Signal::ms(45.0).min(n / 3);
            for i in 0..n {
                let u = i as f64 / n as f64;
                // Formant glide towards the target over the first 60 %.
                let g = (u / 0.6).min(1.0);
                let f1 = start_formants.0 + (target.0 - start_formants.0) * g;
                let f2 = start_formants.1 + (target.1 - start_formants.1) * g;
                let f3 = start_formants.2 + (target.2 - start_formants.2) * g;
                f0 = start_f0 + (f0_end - start_f0) * u;
                let jitter = 1.0 + 0.01 * gaussian(&mut rng);
                phase += f0 * jitter / FS;
                if phase >= 1.0 {
                    phase -= 1.0;
                }
                // Rosenberg pulse: opening 40 %, closing 16 %, closed the rest.
                let glottal = if phase < 0.4 {
                    0.5 * (1.0 - (PI * phase / 0.4).cos())
                } else if phase < 0.56 {
                    (PI * (phase - 0.4) / 0.32).cos()
                } else {
                    0.0
                };
                // Lip radiation: first difference; small aspiration noise.
                let src = glottal - lip + 0.02 * gaussian(&mut rng);
                lip = glottal;
                let mut y = res[0].run(src, f1, 80.0);
                y = res[1].run(y, f2, 110.0);
                y = res[2].run(y, f3, 160.0);
                y = res[3].run(y, 3500.0, 250.0);
                let env = if i < rise {
                    i as f64 / rise as f64
                } else if i > n - fall {
                    (n - i) as f64 / fall as f64
                } else {
                    1.0
                };
                utt.push(y * env);
            }
            formants = target;
            // Short gap between syllables, sometimes none.
            if rng.random_bool(0.5) {
                let gap = Signal::ms(rng.random_range(10.0..80.0));
                utt.extend(std::iter::repeat_n(0.0, gap));
            }
        }
        scale_to_power(&mut utt, dbm0_power(level));
        out.extend(utt);
        let pause = Signal::ms(rng.random_range(100.0..600.0));
        out.extend(std::iter::repeat_n(0.0, pause));
    }
    out.truncate(total);
    out
}

// ---------------------------------------------------------------------------------------
// Talk-off material: synthetic music.
// ---------------------------------------------------------------------------------------

/// Harmonic amplitude profiles of a few instrument-like timbres (1st harmonic first).
fn timbre(kind: usize, k: usize) -> f64 {
    let k = k as f64;
    match kind {
        0 => 1.0 / k, // string / saw-like
        1 => {
            if k as usize % 2 == 1 {
                1.0 / k
            } else {
                0.08 / k
            }
        } // clarinet-like
        2 => 1.0 / (k * k).sqrt() * (-(k - 1.0) * 0.25).exp(), // piano-like
        3 => [1.0, 0.6, 0.5, 0.3, 0.25, 0.15, 0.1, 0.08]
            .get(k as usize - 1)
            .copied()
            .unwrap_or(0.05), // organ
        4 => (k * 0.7).min(2.5) * (-(k - 1.0) * 0.35).exp(), // brass-like, peak near 3rd
        _ => [1.0, 0.45, 0.25, 0.12, 0.06]
            .get(k as usize - 1)
            .copied()
            .unwrap_or(0.0), // flute
    }
}

struct Note {
    freq: f64,
    start: usize,
    len: usize,
    amp: f64,
    timbre: usize,
    vibrato_rate: f64,
    vibrato_depth: f64,
}

/// `seconds` of music-like signal: chord progressions, melodies over a bass line and
/// arpeggios, played with harmonic-rich instrument-like timbres, ADSR envelopes, vibrato
/// and a random tuning (A4 = 432..448 Hz) so that notes land anywhere near the DTMF
/// frequencies. Levels vary between -26 and -8 dBm0.
pub fn music_like(seed: u64, seconds: f64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let total = (seconds * FS) as usize;
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        let seg_len = Signal::ms(rng.random_range(2500.0..6000.0));
        let a4 = rng.random_range(432.0..448.0);
        let midi = |m: f64| a4 * 2f64.powf((m - 69.0) / 12.0);
        let root = rng.random_range(48..64) as f64; // C3..D#4
        let major = rng.random_bool(0.5);
        let scale: [f64; 7] = if major {
            [0.0, 2.0, 4.0, 5.0, 7.0, 9.0, 11.0]
        } else {
            [0.0, 2.0, 3.0, 5.0, 7.0, 8.0, 10.0]
        };
        let mut notes: Vec<Note> = Vec::new();
        let style = rng.random_range(0..3);
        let t_lead = rng.random_range(0..6);
        let t_pad = rng.random_range(0..5);
        let beat = Signal::ms(rng.random_range(110.0..450.0));
        let mut t = 0;
        while t < seg_len {
            let degree = rng.random_range(0..7);
            let chord_root = root + scale[degree];
            let chord = [
                chord_root,
                root + scale[(degree + 2) % 7] + if degree + 2 >= 7 { 12.0 } else { 0.0 },
                root + scale[(degree + 4) % 7] + if degree + 4 >= 7 { 12.0 } else { 0.0 },
                chord_root + 12.0,
            ];
            let bar = beat * 4;
            match style {
                0 => {
                    // Sustained chord.
                    for &m in &chord[..rng.random_range(3..5)] {
                        notes.push(Note {
                            freq: midi(m),
                            start: t,
                            len: bar,
                            amp: 1.0,
                            timbre: t_pad,
                            vibrato_rate: rng.random_range(4.5..6.5),
                            vibrato_depth: if t_pad == 0 { 0.006 } else { 0.0 },
                        });
                    }
                }
                1 => {
                    // Arpeggio.
                    for b in 0..8 {
                        let m = chord[b % 4] + 12.0 * (b / 4) as f64;
                        notes.push(Note {
                            freq: midi(m),
                            start: t + b * beat / 2,
                            len: beat,
                            amp: 0.9,
                            timbre: t_pad,
                            vibrato_rate: 5.0,
                            vibrato_depth: 0.0,
                        });
                    }
                }
                _ => {
                    // Bass + melody.
                    notes.push(Note {
                        freq: midi(chord_root - 12.0),
                        start: t,
                        len: bar,
                        amp: 0.8,
                        timbre: 2,
                        vibrato_rate: 5.0,
                        vibrato_depth: 0.0,
                    });
                    let mut b = 0;
                    while b < 4 {
                        let dur = rng.random_range(1..3).min(4 - b);
                        let m = root
                            + 12.0
                            + scale[rng.random_range(0..7)]
                            + if rng.random_bool(0.3) { 12.0 } else { 0.0 };
                        notes.push(Note {
                            freq: midi(m),
                            start: t + b * beat,
                            len: dur * beat,
                            amp: 1.0,
                            timbre: t_lead,
                            vibrato_rate: rng.random_range(4.5..6.5),
                            vibrato_depth: rng.random_range(0.0..0.012),
                        });
                        b += dur;
                    }
                }
            }
            t += bar;
        }
        let mut seg = vec![0.0f64; seg_len];
        for note in &notes {
            render_note(&mut seg, note, &mut rng);
        }
        scale_to_power(&mut seg, dbm0_power(rng.random_range(-26.0..-8.0)));
        out.extend(seg);
    }
    out.truncate(total);
    out
}

fn render_note(seg: &mut [f64], note: &Note, rng: &mut StdRng) {
    let attack = Signal::ms(rng.random_range(5.0..40.0));
    let release = Signal::ms(rng.random_range(30.0..120.0));
    let len = note.len + release;
    let max_h = ((3900.0 / note.freq) as usize).clamp(1, 12);
    let mut phases: Vec<f64> = (0..max_h)
        .map(|_| rng.random_range(0.0..2.0 * PI))
        .collect();
    let amps: Vec<f64> = (1..=max_h).map(|k| timbre(note.timbre, k)).collect();
    let vib_phase = rng.random_range(0.0..2.0 * PI);
    for i in 0..len {
        let idx = note.start + i;
        if idx >= seg.len() {
            break;
        }
        let t = i as f64 / FS;
        let vib = 1.0 + note.vibrato_depth * (2.0 * PI * note.vibrato_rate * t + vib_phase).sin();
        let env = if i < attack {
            i as f64 / attack as f64
        } else if i < note.len {
            // Decay to a 70 % sustain.
            0.7 + 0.3 * (-((i - attack) as f64) / 1500.0).exp()
        } else {
            0.7 * (1.0 - (i - note.len) as f64 / release as f64)
        };
        let mut v = 0.0;
        for (k, (ph, a)) in phases.iter_mut().zip(&amps).enumerate() {
            *ph += 2.0 * PI * note.freq * (k + 1) as f64 * vib / FS;
            v += a * ph.sin();
        }
        if note.timbre == 5 {
            v += 0.03 * gaussian(rng); // breath noise
        }
        seg[idx] += note.amp * env * v;
    }
}

// ---------------------------------------------------------------------------------------
// Talk-off material: real (synthesized) speech from espeak-ng.
// ---------------------------------------------------------------------------------------

/// Mandarin speech from `espeak-ng -v cmn`, resampled to 8 kHz mono i16 with sox.
/// Returns `None` (and the reason) when espeak-ng or sox is missing or fails.
pub fn espeak_speech(text: &str, tag: &str) -> Result<Vec<i16>, String> {
    use std::process::Command;
    let have = |tool: &str| {
        Command::new("which")
            .arg(tool)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !have("espeak-ng") {
        return Err("espeak-ng not installed".into());
    }
    if !have("sox") {
        return Err("sox not installed".into());
    }
    let dir = std::env::temp_dir();
    let wav = dir.join(format!("dtmf_talkoff_{}_{tag}.wav", std::process::id()));
    let raw = dir.join(format!("dtmf_talkoff_{}_{tag}.raw", std::process::id()));
    let st = Command::new("espeak-ng")
        .args(["-v", "cmn", "-w"])
        .arg(&wav)
        .arg(text)
        .output()
        .map_err(|e| format!("espeak-ng: {e}"))?;
    if !st.status.success() {
        return Err(format!(
            "espeak-ng failed: {}",
            String::from_utf8_lossy(&st.stderr)
        ));
    }
    let st = Command::new("sox")
        .arg(&wav)
        .args([
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed-integer",
            "-L",
            "-t",
            "raw",
        ])
        .arg(&raw)
        .output()
        .map_err(|e| format!("sox: {e}"))?;
    let _ = std::fs::remove_file(&wav);
    if !st.status.success() {
        let _ = std::fs::remove_file(&raw);
        return Err(format!(
            "sox failed: {}",
            String::from_utf8_lossy(&st.stderr)
        ));
    }
    let bytes = std::fs::read(&raw).map_err(|e| format!("read {}: {e}", raw.display()))?;
    let _ = std::fs::remove_file(&raw);
    Ok(bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect())
}
