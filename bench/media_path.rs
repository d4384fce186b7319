//! The per-packet work of a media worker, without the sockets: the receive path
//! (RTP parse, RFC 3550 statistics, jitter buffer push and pull, G.711 decode for the
//! recorder and the in-band detector, A-law re-encode for the file) and the send path
//! (20 ms of a prompt re-encoded to the call's law and written as an RTP packet),
//! each next to a naive baseline that allocates per packet, in the same group so the
//! results read as ratios; and a bridged packet (`join_path`): the straight relay
//! (header rewritten into the other leg's stream, no jitter buffer, no decode) and the
//! mixing path (PCMU→PCMA through the jitter buffer, a sample ring and the encoder)
//! against the receive path of a call that is not joined. Run with
//! `cargo bench --bench media_path`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mediagw::codec::{Codec, ULAW_TO_ALAW, decode_ulaw, linear_to_ulaw};
use mediagw::media::join::relay::{RelayMap, rewrite};
use mediagw::media::join::ring::SampleRing;
use mediagw::rtp::{JitterBuffer, Pulled, RTP_HEADER_LEN, ReceiveStats, RtpPacket, RtpSender};

fn packet(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0xCAFE_BABEu32.to_be_bytes());
    p.extend((0..160).map(|i| (i * 7) as u8));
    p
}

fn receive(c: &mut Criterion) {
    let pkts: Vec<Vec<u8>> = (0..1024u16).map(packet).collect();
    let mut g = c.benchmark_group("receive_path");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ours", |b| {
        let mut stats = ReceiveStats::new(8000);
        let mut jb = JitterBuffer::new(16, 480, 2);
        let mut pcm = [0i16; 160];
        let mut file = [0u8; 160];
        let mut i = 0usize;
        b.iter(|| {
            let raw = &pkts[i % pkts.len()];
            i += 1;
            let p = RtpPacket::parse(black_box(raw)).expect("valid");
            stats.on_packet(
                p.header.ssrc,
                p.header.sequence,
                p.header.timestamp,
                i as u64 * 20_000,
            );
            jb.push(&p.header, p.payload);
            if let Pulled::Frame(f) = jb.pull() {
                decode_ulaw(f.payload, &mut pcm);
                for (o, b) in file.iter_mut().zip(f.payload) {
                    *o = ULAW_TO_ALAW[*b as usize];
                }
            }
            black_box((&pcm, &file));
        })
    });
    g.bench_function("naive_allocating", |b| {
        let mut queue: std::collections::BTreeMap<u16, Vec<u8>> = Default::default();
        let mut i = 0usize;
        b.iter(|| {
            let raw = &pkts[i % pkts.len()];
            i += 1;
            let owned = raw.to_vec();
            let seq = u16::from_be_bytes([owned[2], owned[3]]);
            queue.insert(seq, owned[12..].to_vec());
            if queue.len() > 2 {
                let (_, payload) = queue.pop_first().expect("non-empty");
                let pcm: Vec<i16> = payload
                    .iter()
                    .map(|b| mediagw::codec::ulaw_to_linear(*b))
                    .collect();
                let file: Vec<u8> = payload.iter().map(|b| ULAW_TO_ALAW[*b as usize]).collect();
                black_box((pcm, file));
            }
        })
    });
    g.finish();
}

fn send(c: &mut Criterion) {
    let prompt: Vec<i16> = (0..8000)
        .map(|i| ((i as f32 * 0.3).sin() * 9000.0) as i16)
        .collect();
    let mut g = c.benchmark_group("send_path");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ours", |b| {
        let mut sender = RtpSender::with_state(1, 1, 0, 0, 160);
        let mut buf = [0u8; 1500];
        let mut payload = [0u8; 160];
        let mut at = 0usize;
        b.iter(|| {
            let frame = &prompt[at..at + 160];
            at = (at + 160) % (prompt.len() - 160);
            for (o, s) in payload.iter_mut().zip(frame) {
                *o = linear_to_ulaw(*s);
            }
            let n = sender.write_frame(&payload, &mut buf).expect("fits");
            black_box(&buf[..n]);
        })
    });
    g.bench_function("naive_allocating", |b| {
        let mut seq = 0u16;
        let mut at = 0usize;
        b.iter(|| {
            let frame = &prompt[at..at + 160];
            at = (at + 160) % (prompt.len() - 160);
            let payload: Vec<u8> = frame.iter().map(|s| linear_to_ulaw(*s)).collect();
            let mut pkt = Vec::new();
            pkt.extend_from_slice(&[0x80, 0]);
            pkt.extend_from_slice(&seq.to_be_bytes());
            pkt.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
            pkt.extend_from_slice(&1u32.to_be_bytes());
            pkt.extend_from_slice(&payload);
            seq = seq.wrapping_add(1);
            black_box(pkt);
        })
    });
    g.finish();
}

/// One received packet of a joined call, per path. Each path ends where the worker
/// hands the datagram to its send slab (a copy of the packet, as `IoCtx::send_to`
/// does); the syscall is shared by a whole batch and left out, as it is for the
/// receive path (which sends nothing).
fn join_path(c: &mut Criterion) {
    let pkts: Vec<Vec<u8>> = (0..1024u16).map(packet).collect();
    let mut g = c.benchmark_group("join_path");
    g.throughput(Throughput::Elements(1));
    // The receive path of a call that is not joined (as `receive_path/ours` without
    // the recording): parse, statistics, jitter buffer in and out, decode.
    g.bench_function("receive_baseline", |b| {
        let mut stats = ReceiveStats::new(8000);
        let mut jb = JitterBuffer::new(16, 480, 2);
        let mut pcm = [0i16; 160];
        let mut i = 0usize;
        b.iter(|| {
            let raw = &pkts[i % pkts.len()];
            i += 1;
            let p = RtpPacket::parse(black_box(raw)).expect("valid");
            let h = p.header;
            stats.on_packet(h.ssrc, h.sequence, h.timestamp, i as u64 * 20_000);
            jb.push(&p.header, p.payload);
            if let Pulled::Frame(f) = jb.pull() {
                decode_ulaw(f.payload, &mut pcm);
            }
            black_box(&pcm);
        })
    });
    g.bench_function("relay", |b| {
        let mut stats = ReceiveStats::new(8000);
        let mut map = RelayMap::default();
        let mut out = RtpSender::with_state(7, 100, 5000, 0, 160);
        let mut scratch = [0u8; 1500];
        let mut slab = [0u8; 1500];
        let mut i = 0usize;
        b.iter(|| {
            let raw = &pkts[i % pkts.len()];
            i += 1;
            let p = RtpPacket::parse(black_box(raw)).expect("valid");
            let h = p.header;
            stats.on_packet(h.ssrc, h.sequence, h.timestamp, i as u64 * 20_000);
            let m = map.map(
                h.ssrc,
                h.sequence,
                h.timestamp,
                out.next_sequence(),
                out.next_timestamp(),
            );
            let n = raw.len();
            scratch[..n].copy_from_slice(raw);
            rewrite(
                &mut scratch[..n],
                h.marker || m.restart,
                0,
                m.sequence,
                m.timestamp,
                out.ssrc(),
            );
            out.relayed(
                m.sequence,
                m.timestamp,
                p.payload.len() as u32,
                p.payload.len(),
            );
            slab[..n].copy_from_slice(&scratch[..n]);
            black_box(&slab[..n]);
        })
    });
    g.bench_function("mix_transcode", |b| {
        let mut stats = ReceiveStats::new(8000);
        let mut jb = JitterBuffer::new(16, 480, 2);
        let mut ring = SampleRing::new();
        let mut out = RtpSender::with_state(7, 100, 5000, 8, 160);
        let mut voice = [0i16; 160];
        let mut heard = [0i16; 160];
        let mut pkt = [0u8; 1500];
        let mut slab = [0u8; 1500];
        let mut i = 0usize;
        b.iter(|| {
            let raw = &pkts[i % pkts.len()];
            i += 1;
            let p = RtpPacket::parse(black_box(raw)).expect("valid");
            let h = p.header;
            stats.on_packet(h.ssrc, h.sequence, h.timestamp, i as u64 * 20_000);
            jb.push(&p.header, p.payload);
            // The speaker's frame: decoded into the listener's ring.
            if let Pulled::Frame(f) = jb.pull() {
                decode_ulaw(f.payload, &mut voice);
            }
            ring.write(&voice);
            // The listener's frame: out of the ring, encoded in its law, sent.
            if ring.read(&mut heard) {
                for (o, &s) in pkt[RTP_HEADER_LEN..RTP_HEADER_LEN + 160]
                    .iter_mut()
                    .zip(&heard)
                {
                    *o = Codec::Pcma.encode(s);
                }
                let n = out.write_frame_header(160, &mut pkt).expect("fits") + 160;
                slab[..n].copy_from_slice(&pkt[..n]);
            }
            black_box(&slab);
        })
    });
    g.finish();
}

criterion_group!(benches, receive, send, join_path);
criterion_main!(benches);
