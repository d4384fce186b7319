//! RTP benches: header parse and build for a 172-byte G.711 packet and the
//! RFC 3550 receive-statistics update, each next to a naive baseline (owned,
//! allocating parse; Vec-based build; floating-point statistics with a
//! division per packet) in the same group so results read as ratios.
//! Run with `cargo bench --bench rtp`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mediagw::rtp::{JitterBuffer, Pulled, ReceiveStats, RtpHeader, RtpPacket, RtpSender};

fn packet() -> Vec<u8> {
    let mut p = vec![
        0x80, 0x00, 0x12, 0x34, 0x00, 0x01, 0x00, 0x00, 0xCA, 0xFE, 0xBA, 0xBE,
    ];
    p.extend((0..160).map(|i| i as u8));
    p
}

/// What a naive implementation produces: an owned packet with copied parts.
#[allow(dead_code)]
struct OwnedPacket {
    marker: bool,
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
    csrc: Vec<u32>,
    payload: Vec<u8>,
}

fn naive_parse(buf: &[u8]) -> Option<OwnedPacket> {
    if buf.len() < 12 || buf[0] >> 6 != 2 {
        return None;
    }
    let cc = (buf[0] & 0x0F) as usize;
    let mut csrc = Vec::new();
    for i in 0..cc {
        let at = 12 + i * 4;
        let b = buf.get(at..at + 4)?;
        csrc.push(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    }
    let mut offset = 12 + cc * 4;
    if buf[0] & 0x10 != 0 {
        let words = u16::from_be_bytes([*buf.get(offset + 2)?, *buf.get(offset + 3)?]) as usize;
        offset += 4 + words * 4;
    }
    let mut end = buf.len();
    if buf[0] & 0x20 != 0 {
        end = end.checked_sub(*buf.last()? as usize)?;
    }
    Some(OwnedPacket {
        marker: buf[1] & 0x80 != 0,
        payload_type: buf[1] & 0x7F,
        sequence: u16::from_be_bytes([buf[2], buf[3]]),
        timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        csrc,
        payload: buf.get(offset..end)?.to_vec(),
    })
}

fn naive_build(header: &RtpHeader, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.push(0x80);
    out.push(((header.marker as u8) << 7) | header.payload_type);
    out.extend_from_slice(&header.sequence.to_be_bytes());
    out.extend_from_slice(&header.timestamp.to_be_bytes());
    out.extend_from_slice(&header.ssrc.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Naive statistics: floating-point jitter, seconds as f64, no probation.
#[derive(Default)]
struct NaiveStats {
    first_seq: Option<u32>,
    highest: u32,
    received: u64,
    transit: Option<f64>,
    jitter: f64,
}

impl NaiveStats {
    fn update(&mut self, seq: u16, timestamp: u32, arrival_us: u64) {
        let seq = seq as u32;
        let first = *self.first_seq.get_or_insert(seq);
        let _ = first;
        if seq > self.highest % 65536 || self.received == 0 {
            self.highest = (self.highest & !0xFFFF) | seq;
        }
        self.received += 1;
        let arrival = arrival_us as f64 / 1_000_000.0 * 8000.0;
        let transit = arrival - timestamp as f64;
        if let Some(previous) = self.transit {
            self.jitter += ((transit - previous).abs() - self.jitter) / 16.0;
        }
        self.transit = Some(transit);
    }
}

fn bench_parse(c: &mut Criterion) {
    let data = packet();
    let mut group = c.benchmark_group("rtp_parse_172");
    group.throughput(Throughput::Elements(1));
    group.bench_function("naive_owned", |b| {
        b.iter(|| black_box(naive_parse(black_box(&data)).map(|p| p.payload.len())))
    });
    group.bench_function("zero_copy", |b| {
        b.iter(|| black_box(RtpPacket::parse(black_box(&data)).map(|p| p.payload.len())))
    });
    group.finish();
}

fn bench_build(c: &mut Criterion) {
    let payload = [0xFFu8; 160];
    let header = RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: 1,
        timestamp: 160,
        ssrc: 7,
    };
    let mut buf = [0u8; 1500];
    let mut sender = RtpSender::with_state(7, 1, 160, 0, 160);
    let mut group = c.benchmark_group("rtp_build_172");
    group.throughput(Throughput::Elements(1));
    group.bench_function("naive_vec", |b| {
        b.iter(|| black_box(naive_build(black_box(&header), black_box(&payload)).len()))
    });
    group.bench_function("header_write_packet", |b| {
        b.iter(|| black_box(black_box(&header).write_packet(black_box(&payload), &mut buf)))
    });
    group.bench_function("sender_write_frame", |b| {
        b.iter(|| black_box(sender.write_frame(black_box(&payload), &mut buf)))
    });
    group.finish();
}

fn bench_stats(c: &mut Criterion) {
    let mut group = c.benchmark_group("rtp_stats_update");
    group.throughput(Throughput::Elements(1));
    group.bench_function("naive_float", |b| {
        let mut stats = NaiveStats::default();
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            stats.update(
                n as u16,
                (n as u32).wrapping_mul(160),
                n * 20_000 + (n % 7) * 300,
            );
            black_box(stats.jitter);
        })
    });
    group.bench_function("rfc3550", |b| {
        let mut stats = ReceiveStats::new(8000);
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            black_box(stats.on_packet(
                7,
                n as u16,
                (n as u32).wrapping_mul(160),
                n * 20_000 + (n % 7) * 300,
            ));
        })
    });
    group.finish();
}

fn bench_jitter_buffer(c: &mut Criterion) {
    let payload = [0xFFu8; 160];
    let mut group = c.benchmark_group("rtp_jitter_push_pull");
    group.throughput(Throughput::Elements(1));
    group.bench_function("vecdeque_sorted_naive", |b| {
        let mut queue: std::collections::VecDeque<(u16, Vec<u8>)> = Default::default();
        let mut n = 0u16;
        b.iter(|| {
            n = n.wrapping_add(1);
            let pos = queue
                .iter()
                .position(|(s, _)| (s.wrapping_sub(n) as i16) > 0);
            let item = (n, payload.to_vec());
            match pos {
                Some(i) => queue.insert(i, item),
                None => queue.push_back(item),
            }
            if queue.len() > 2 {
                black_box(queue.pop_front().map(|(s, p)| (s, p.len())));
            }
        })
    });
    group.bench_function("ring", |b| {
        let mut jb = JitterBuffer::new(8, 160, 2);
        let mut header = RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: 0,
            timestamp: 0,
            ssrc: 7,
        };
        b.iter(|| {
            header.sequence = header.sequence.wrapping_add(1);
            black_box(jb.push(&header, &payload));
            if let Pulled::Frame(f) = jb.pull() {
                black_box(f.payload.len());
            }
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_parse,
    bench_build,
    bench_stats,
    bench_jitter_buffer
);
criterion_main!(benches);
