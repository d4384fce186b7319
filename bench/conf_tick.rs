//! The CPU cost of one conference tick (20 ms) as a worker runs it, without the sockets,
//! against the bare mixer in the same group so the results read as ratios. The tick is
//! composed of the same pieces, in the same order, as `media/handler/conf_tick.rs`:
//! for each member its received packet parsed and pushed into its jitter buffer, one
//! frame pulled and decoded in its law, put into the mixer if it
//! talks; one mix; for each listener its frame encoded in its law (the listeners who
//! said nothing share one encoding per law, `SharedEncodings`) behind its RTP header.
//! The bare mixer (`mixer_baseline`) does only the puts and the mix. Throughput is in
//! member-frames.
//!
//! Groups: `conf_tick_3` (3 members, all talking, PCMU/PCMU/PCMA), `conf_tick_50_3`
//! (50 members of which 3 talk: the other 47 share one frame), `conf_tick_50` (50 all
//! talking). Run with `cargo bench --bench conf_tick`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mediagw::codec::Codec;
use mediagw::media::conf::SharedEncodings;
use mediagw::mixer::{FRAME, MemberId, Mixer, Output, VoiceMode};
use mediagw::rtp::{JitterBuffer, Pulled, RTP_HEADER_LEN, RtpPacket, RtpSender};

/// One member as the tick sees it.
struct Member {
    law: Codec,
    talks: bool,
    id: MemberId,
    jb: JitterBuffer,
    out: RtpSender,
    /// Its packet; each tick gives it the next sequence number and timestamp.
    pkt: Vec<u8>,
}

/// A G.711 packet of sequence `seq` saying a tone of `k` cycles per frame.
fn packet(law: Codec, seq: u16, k: usize) -> Vec<u8> {
    let mut p = vec![0x80, law.static_payload_type()];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0xCAFE_BABEu32.to_be_bytes());
    p.extend((0..FRAME).map(|n| {
        let x = 2.0 * std::f64::consts::PI * (k * n) as f64 / FRAME as f64;
        law.encode((1500.0 * x.sin()) as i16)
    }));
    p
}

/// A conference of `n` members of which the first `talkers` talk (all listen).
fn conference(n: usize, talkers: usize) -> (Mixer, Vec<Member>) {
    let mut mixer = Mixer::new();
    mixer.reserve(n);
    let members = (0..n)
        .map(|k| {
            let law = if k % 3 == 2 { Codec::Pcma } else { Codec::Pcmu };
            let id = mixer.add(VoiceMode::TalkListen, 0).expect("room");
            Member {
                law,
                talks: k < talkers,
                id,
                jb: JitterBuffer::new(16, 480, 2),
                out: RtpSender::with_state(k as u32, 100, 5000, law.static_payload_type(), 160),
                pkt: packet(law, 0, 1 + k % 7),
            }
        })
        .collect();
    (mixer, members)
}

/// One conference frame, `i` counting frames.
fn tick(mixer: &mut Mixer, members: &mut [Member], i: usize, pkt: &mut [u8]) {
    let mut voice = [0i16; FRAME];
    for m in members.iter_mut() {
        if m.talks {
            m.pkt[2..4].copy_from_slice(&(i as u16).to_be_bytes());
            m.pkt[4..8].copy_from_slice(&((i as u32).wrapping_mul(160)).to_be_bytes());
            if let Ok(p) = RtpPacket::parse(black_box(&m.pkt)) {
                m.jb.push(&p.header, p.payload);
            }
        }
        let mut len = 0;
        if let Pulled::Frame(f) = m.jb.pull() {
            len = f.payload.len().min(FRAME);
            m.law.decode_slice(&f.payload[..len], &mut voice[..len]);
        }
        if len > 0 {
            voice[len..].fill(0);
            let _ = mixer.put(m.id, &voice);
        }
    }
    mixer.mix();
    let mut enc = SharedEncodings::new();
    for m in members.iter_mut() {
        match mixer.output(m.id) {
            Some(Output::Shared(f)) => {
                let bytes = enc.get(m.law, f);
                pkt[RTP_HEADER_LEN..RTP_HEADER_LEN + FRAME].copy_from_slice(bytes);
            }
            Some(Output::Own(f)) => {
                enc.own();
                m.law
                    .encode_slice(f, &mut pkt[RTP_HEADER_LEN..RTP_HEADER_LEN + FRAME]);
            }
            _ => continue,
        }
        let h = m.out.write_frame_header(FRAME, pkt).expect("fits");
        black_box(&pkt[..h + FRAME]);
    }
}

/// The bare mixer: the talkers' frames put, one mix.
fn bare(mixer: &mut Mixer, members: &[Member], frames: &[[i16; FRAME]]) {
    for (m, f) in members.iter().zip(frames) {
        if m.talks {
            let _ = mixer.put(m.id, f);
        }
    }
    mixer.mix();
    black_box(mixer.shared());
}

fn group(c: &mut Criterion, name: &str, n: usize, talkers: usize) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("tick", |b| {
        let (mut mixer, mut members) = conference(n, talkers);
        let mut pkt = [0u8; RTP_HEADER_LEN + FRAME];
        let mut i = 0usize;
        b.iter(|| {
            tick(&mut mixer, &mut members, i, &mut pkt);
            i += 1;
        })
    });
    g.bench_function("mixer_baseline", |b| {
        let (mut mixer, members) = conference(n, talkers);
        let frames: Vec<[i16; FRAME]> = members
            .iter()
            .map(|m| {
                let p = RtpPacket::parse(&m.pkt).expect("valid");
                std::array::from_fn(|k| m.law.decode(p.payload[k]))
            })
            .collect();
        b.iter(|| bare(&mut mixer, &members, &frames))
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    group(c, "conf_tick_3", 3, 3);
    group(c, "conf_tick_50_3", 50, 3);
    group(c, "conf_tick_50", 50, 50);
}

criterion_group!(conf, benches);
criterion_main!(conf);
