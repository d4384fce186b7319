//! The RTP streamer: one thread, pinned to a core, sends G.711 frames for every channel on
//! absolute 20 ms deadlines (channels spread over 20 one-millisecond slots) with
//! `sendmmsg`, drains replies with `recvmmsg` (kernel receive timestamps, SO_TIMESTAMPNS),
//! injects DTMF digits (RFC 4733 events or in-band tones) on schedule, and measures per
//! channel: loss, reordering and the deviation of each arrival from the 20 ms grid. It
//! also measures itself (each packet's send time against its deadline, and its own CPU
//! time) and samples the target's thread at the edges of each window, so a window's
//! packet counts and CPU times cover the same interval. With [`Ctl::Voices`] each
//! channel sends its conference voice instead of silence and every frame it receives is
//! judged for its own voice and for missing talkers ([`crate::voice`]).

use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use hdrhistogram::Histogram;

use crate::cpu::{CpuUse, Probe, Sample};
use crate::voice::{VoiceStats, Voices};

/// How replies are matched to channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Demux {
    /// By SSRC (an echo returns our own packets; SSRC = channel index + 1).
    Ssrc,
    /// By the source port of the reply (the gateway's RTP port of the call).
    SrcPort,
}

/// A digit to send: at `frame` frames after the window starts, in band or as RFC 4733.
#[derive(Clone, Copy, Debug)]
pub struct DigitPlan {
    /// Frames (20 ms) after the start of the measurement window.
    pub frame: u32,
    /// The digit.
    pub digit: char,
    /// In-band tone (true) or RFC 4733 event (false).
    pub inband: bool,
}

/// Control messages to the streamer thread.
pub enum Ctl {
    /// Start streaming to these channels: (index, gateway or echo address).
    Add(Vec<(u32, SocketAddr)>),
    /// Measure a window: `warmup` then `dur`; digits per channel; the target's thread
    /// to sample at the window's edges; replies with stats.
    Window {
        warmup: Duration,
        dur: Duration,
        late_ms: u64,
        digits: Vec<(u32, Vec<DigitPlan>)>,
        probe: Option<Probe>,
        reply: Sender<WindowStats>,
    },
    /// Stop streaming to channels `n..` (their calls are being hung up).
    Truncate(u32),
    /// Send these conference voices and judge what comes back.
    Voices(Voices),
    /// Stop the thread.
    Stop,
}

/// What one measurement window saw.
pub struct WindowStats {
    /// Packets sent in the window.
    pub sent: u64,
    /// Packets received in the window.
    pub received: u64,
    /// Packets lost (sequence gaps, and whole windows of silent channels).
    pub lost: u64,
    /// Packets that arrived after a later one.
    pub reordered: u64,
    /// Packets whose grid deviation exceeded the late threshold.
    pub late: u64,
    /// Channels that received nothing in the window.
    pub dead: u32,
    /// Frames expected on each channel's timestamp grid (first to last RTP timestamp
    /// received in the window, one per 160), and a whole window for a dead channel.
    pub grid_expected: u64,
    /// Of those, frames that never came (lost packets, and frames the sender skipped).
    pub grid_lost: u64,
    /// The verdicts on the received voices (with [`Ctl::Voices`]).
    pub voice: VoiceStats,
    /// Arrival deviation from the 20 ms grid, µs.
    pub deviation_us: Histogram<u64>,
    /// Round trip (echo only: send to reply), µs.
    pub rtt_us: Histogram<u64>,
    /// The generator's own send deviation: each packet's send (the end of its slot's
    /// `sendmmsg`) against its deadline, µs.
    pub gen_late_us: Histogram<u64>,
    /// The target's thread over the window (when a probe was given).
    pub target_cpu: Option<CpuUse>,
    /// The generator's streaming thread over the window.
    pub gen_cpu: Option<CpuUse>,
    /// Each channel's share of `received`, `lost` and `late`, by channel index (for
    /// figures per target when the channels go to several).
    pub per_chan: Vec<ChanWindow>,
}

/// One channel's figures over a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChanWindow {
    /// Channel index.
    pub idx: u32,
    /// Packets received.
    pub received: u64,
    /// Packets lost.
    pub lost: u64,
    /// Packets off the grid by more than the late threshold.
    pub late: u64,
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

/// Handle of a running streamer.
pub struct Streamer {
    /// Control channel.
    pub ctl: Sender<Ctl>,
    /// Our RTP address (put it in the SDP offer).
    pub local: SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Streamer {
    /// Binds a socket on 127.0.0.1 and starts the thread (pinned to `core`).
    pub fn spawn(demux: Demux, core: Option<usize>, payload_clock: bool) -> std::io::Result<Self> {
        let sock = UdpSocket::bind("127.0.0.1:0")?;
        sock.set_nonblocking(true)?;
        let fd = sock.as_raw_fd();
        let big: libc::c_int = 32 << 20;
        let on: libc::c_int = 1;
        // SAFETY: plain setsockopt calls with valid pointers and sizes.
        unsafe {
            for opt in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    opt,
                    (&big as *const libc::c_int).cast(),
                    4,
                );
            }
            for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    opt,
                    (&big as *const libc::c_int).cast(),
                    4,
                );
            }
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                4,
            );
        }
        let local = sock.local_addr()?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("rtp-stream".into())
            .spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(core_affinity::CoreId { id: c });
                }
                let mut s = State::new(sock, demux, payload_clock, Probe::this_thread(core));
                s.run(&rx);
            })?;
        Ok(Self {
            ctl: tx,
            local,
            thread: Some(thread),
        })
    }

    /// Runs one window and waits (bounded) for its statistics.
    pub fn window(
        &self,
        warmup: Duration,
        dur: Duration,
        late_ms: u64,
        digits: Vec<(u32, Vec<DigitPlan>)>,
        probe: Option<Probe>,
    ) -> Option<WindowStats> {
        let (reply, r) = crossbeam_channel::bounded(1);
        self.ctl
            .send(Ctl::Window {
                warmup,
                dur,
                late_ms,
                digits,
                probe,
                reply,
            })
            .ok()?;
        r.recv_timeout(warmup + dur + Duration::from_secs(10)).ok()
    }
}

impl Drop for Streamer {
    fn drop(&mut self) {
        let _ = self.ctl.send(Ctl::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const FRAME_NS: i64 = 20_000_000;
const SLOTS: usize = 20;
const PKT: usize = 12 + 160;
const RX_BATCH: usize = 256;

enum Tone {
    None,
    Rfc { event: u8, ts: u32, i: u16 },
    Inband(mediagw::dtmf::ToneGenerator),
}

struct Chan {
    dest: libc::sockaddr_in,
    seq: u16,
    ts: u32,
    ssrc: u32,
    plans: Vec<DigitPlan>,
    next_plan: usize,
    tone: Tone,
    // receive side, for the current window
    rx: u64,
    first_ext: i64,
    max_ext: i64,
    last_seq: Option<u16>,
    ext_base: i64,
    seg: Vec<i64>,
    seg_anchor: Option<(i64, i64)>, // (rx_ns, ext ts)
    ts_ext_base: i64,
    last_ts: Option<u32>,
    prev_ext_seq: i64,
    /// Late arrivals in the current window.
    late: u64,
    /// First and last extended RTP timestamp received in the window.
    ts_span: Option<(i64, i64)>,
    /// Heard its own voice / missed a talker in the window.
    heard_own: bool,
    missed: bool,
}

fn to_sockaddr(a: SocketAddr) -> libc::sockaddr_in {
    let v4 = match a {
        SocketAddr::V4(v) => v,
        SocketAddr::V6(_) => SocketAddrV4::new([127, 0, 0, 1].into(), a.port()),
    };
    // SAFETY: sockaddr_in is plain data.
    let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    s.sin_family = libc::AF_INET as libc::sa_family_t;
    s.sin_port = v4.port().to_be();
    s.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
    s
}

struct State {
    sock: UdpSocket,
    demux: Demux,
    payload_clock: bool,
    chans: Vec<Chan>,
    slots: Vec<Vec<u32>>,
    port_map: Vec<u32>,
    txbuf: Vec<[u8; PKT]>,
    txmsg: Vec<libc::mmsghdr>,
    txiov: Vec<libc::iovec>,
    rxbuf: Vec<[u8; 2048]>,
    rxname: Vec<libc::sockaddr_in>,
    /// Control buffers (receive timestamps); only the kernel reads and writes them,
    /// through the pointers in `rxmsg`.
    _rxctl: Vec<[u64; 16]>,
    rxiov: Vec<libc::iovec>,
    rxmsg: Vec<libc::mmsghdr>,
    // window
    win: Option<Win>,
    frame: u64,
    /// The grid's origin (frame 0), ns.
    t0: i64,
    /// Conference voices to send and judge.
    voices: Option<Voices>,
    /// This thread.
    me: Probe,
}

struct Win {
    start_frame: u64,
    start_ns: i64,
    end_ns: i64,
    late_ns: i64,
    reply: Sender<WindowStats>,
    stats: WindowStats,
    probe: Option<Probe>,
    /// (target, generator) samples at the window's start and end.
    cpu_start: Option<(Option<Sample>, Option<Sample>)>,
    cpu_end: Option<(Option<Sample>, Option<Sample>)>,
}

fn now_ns() -> i64 {
    // SAFETY: clock_gettime writes into the timespec.
    let mut t: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut t) };
    t.tv_sec * 1_000_000_000 + t.tv_nsec
}

fn sleep_until(ns: i64) {
    let t = libc::timespec {
        tv_sec: ns / 1_000_000_000,
        tv_nsec: ns % 1_000_000_000,
    };
    // SAFETY: absolute sleep on the realtime clock; EINTR just wakes early.
    unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_REALTIME,
            libc::TIMER_ABSTIME,
            &t,
            std::ptr::null_mut(),
        )
    };
}

impl State {
    fn new(sock: UdpSocket, demux: Demux, payload_clock: bool, me: Probe) -> Self {
        let mut rxbuf = vec![[0u8; 2048]; RX_BATCH];
        let mut rxname = vec![to_sockaddr(SocketAddr::from(([0, 0, 0, 0], 0))); RX_BATCH];
        let mut rxctl = vec![[0u64; 16]; RX_BATCH];
        let mut rxiov: Vec<libc::iovec> = rxbuf
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: 2048,
            })
            .collect();
        let rxmsg = (0..RX_BATCH)
            .map(|i| {
                // SAFETY: mmsghdr is plain data; pointers target vectors owned by State
                // whose heap storage never moves (they are never resized).
                let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                m.msg_hdr.msg_name = (&mut rxname[i] as *mut libc::sockaddr_in).cast();
                m.msg_hdr.msg_iov = &mut rxiov[i];
                m.msg_hdr.msg_iovlen = 1;
                m.msg_hdr.msg_control = rxctl[i].as_mut_ptr().cast();
                m
            })
            .collect();
        Self {
            sock,
            demux,
            payload_clock,
            chans: Vec::new(),
            slots: vec![Vec::new(); SLOTS],
            port_map: vec![u32::MAX; 65536],
            txbuf: Vec::new(),
            txmsg: Vec::new(),
            txiov: Vec::new(),
            rxbuf,
            rxname,
            _rxctl: rxctl,
            rxiov,
            rxmsg,
            win: None,
            frame: 0,
            t0: 0,
            voices: None,
            me,
        }
    }

    fn add(&mut self, list: Vec<(u32, SocketAddr)>) {
        for (idx, addr) in list {
            let i = idx as usize;
            while self.chans.len() <= i {
                let n = self.chans.len() as u32;
                self.chans.push(Chan {
                    dest: to_sockaddr(addr),
                    seq: (n as u16).wrapping_mul(7),
                    ts: n.wrapping_mul(1000),
                    ssrc: 0,
                    plans: Vec::new(),
                    next_plan: 0,
                    tone: Tone::None,
                    rx: 0,
                    first_ext: -1,
                    max_ext: -1,
                    last_seq: None,
                    ext_base: 0,
                    seg: Vec::new(),
                    seg_anchor: None,
                    ts_ext_base: 0,
                    last_ts: None,
                    prev_ext_seq: -1,
                    late: 0,
                    ts_span: None,
                    heard_own: false,
                    missed: false,
                });
            }
            let c = &mut self.chans[i];
            c.dest = to_sockaddr(addr);
            c.ssrc = idx + 1;
            self.port_map[addr.port() as usize] = idx;
            self.slots[i % SLOTS].push(idx);
        }
        let max = self.slots.iter().map(Vec::len).max().unwrap_or(0).max(1);
        if self.txbuf.len() < max {
            self.txbuf = vec![[0u8; PKT]; max];
            self.txiov = self
                .txbuf
                .iter_mut()
                .map(|b| libc::iovec {
                    iov_base: b.as_mut_ptr().cast(),
                    iov_len: PKT,
                })
                .collect();
            // SAFETY: plain data.
            self.txmsg = (0..max).map(|_| unsafe { std::mem::zeroed() }).collect();
        }
    }

    fn truncate(&mut self, n: u32) {
        for slot in &mut self.slots {
            slot.retain(|&i| i < n);
        }
        for c in self.chans.iter().skip(n as usize) {
            self.port_map[usize::from(u16::from_be(c.dest.sin_port))] = u32::MAX;
        }
        self.chans.truncate(n as usize);
    }

    fn run(&mut self, ctl: &Receiver<Ctl>) {
        let t0 = now_ns();
        self.t0 = t0;
        let mut slot_no: u64 = 0;
        // Hard bound: the thread never outlives one hour.
        let hard_end = t0 + 3_600_000_000_000;
        loop {
            while let Ok(m) = ctl.try_recv() {
                match m {
                    Ctl::Add(l) => self.add(l),
                    Ctl::Truncate(n) => self.truncate(n),
                    Ctl::Voices(v) => self.voices = Some(v),
                    Ctl::Stop => return,
                    Ctl::Window {
                        warmup,
                        dur,
                        late_ms,
                        digits,
                        probe,
                        reply,
                    } => {
                        let start_frame = self.frame + (warmup.as_millis() as u64 / 20) + 1;
                        for (idx, plans) in digits {
                            if let Some(c) = self.chans.get_mut(idx as usize) {
                                c.plans = plans;
                                c.plans.sort_by_key(|p| p.frame);
                                c.next_plan = 0;
                            }
                        }
                        for c in &mut self.chans {
                            c.rx = 0;
                            c.first_ext = -1;
                            c.max_ext = -1;
                            c.seg.clear();
                            c.seg.reserve(dur.as_millis() as usize / 20 + 64);
                            c.seg_anchor = None;
                            c.late = 0;
                            c.ts_span = None;
                            c.heard_own = false;
                            c.missed = false;
                        }
                        let start_ns = t0 + start_frame as i64 * FRAME_NS;
                        self.win = Some(Win {
                            start_frame,
                            start_ns,
                            end_ns: start_ns + dur.as_nanos() as i64,
                            late_ns: late_ms as i64 * 1_000_000,
                            reply,
                            stats: WindowStats {
                                sent: 0,
                                received: 0,
                                lost: 0,
                                reordered: 0,
                                late: 0,
                                dead: 0,
                                grid_expected: 0,
                                grid_lost: 0,
                                voice: VoiceStats::default(),
                                deviation_us: hist(),
                                rtt_us: hist(),
                                gen_late_us: hist(),
                                target_cpu: None,
                                gen_cpu: None,
                                per_chan: Vec::new(),
                            },
                            probe,
                            cpu_start: None,
                            cpu_end: None,
                        });
                    }
                }
            }
            let deadline = t0 + slot_no as i64 * (FRAME_NS / SLOTS as i64);
            if deadline > hard_end {
                return;
            }
            self.drain(true);
            let now = now_ns();
            if now < deadline {
                sleep_until(deadline);
            }
            let slot = (slot_no % SLOTS as u64) as usize;
            self.frame = slot_no / SLOTS as u64;
            self.send_slot(slot, deadline);
            self.sample_edges();
            self.drain(false);
            slot_no += 1;
            self.maybe_finish();
        }
    }

    /// Samples the target's and this thread's CPU times when the window starts and ends.
    fn sample_edges(&mut self) {
        let Some(w) = &mut self.win else { return };
        let now = now_ns();
        let edge = |w: &Win| (w.probe.as_ref().and_then(Probe::sample), self.me.sample());
        if w.cpu_start.is_none() && now >= w.start_ns {
            w.cpu_start = Some(edge(w));
        }
        if w.cpu_end.is_none() && now >= w.end_ns {
            w.cpu_end = Some(edge(w));
        }
    }

    fn send_slot(&mut self, slot: usize, deadline: i64) {
        let frame = self.frame;
        let n = self.slots[slot].len();
        if n == 0 {
            return;
        }
        let in_win = self
            .win
            .as_ref()
            .map(|w| (w.start_frame, frame >= w.start_frame && now_ns() < w.end_ns));
        let clock = if self.payload_clock { now_ns() } else { 0 };
        for k in 0..n {
            let idx = self.slots[slot][k] as usize;
            let c = &mut self.chans[idx];
            let buf = &mut self.txbuf[k];
            // Start a scheduled digit?
            if let (Some((sf, _)), Tone::None) = (in_win, &c.tone) {
                if let Some(p) = c.plans.get(c.next_plan) {
                    if frame >= sf + u64::from(p.frame) {
                        c.next_plan += 1;
                        c.tone = if p.inband {
                            match mediagw::dtmf::ToneGenerator::new(p.digit, 100, 100) {
                                Some(g) => Tone::Inband(g),
                                None => Tone::None,
                            }
                        } else {
                            match mediagw::rtp::dtmf_event(p.digit) {
                                Some(e) => Tone::Rfc {
                                    event: e,
                                    ts: c.ts,
                                    i: 0,
                                },
                                None => Tone::None,
                            }
                        };
                    }
                }
            }
            let mut pt = 0u8;
            let mut marker = false;
            let mut ts = c.ts;
            let mut len = PKT;
            match &mut c.tone {
                Tone::None => {
                    match self
                        .voices
                        .as_ref()
                        .and_then(|v| v.payload(idx as u32, frame))
                    {
                        Some(p) => buf[12..].copy_from_slice(p),
                        None => buf[12..].fill(0xff),
                    }
                    if clock != 0 {
                        buf[12..20].copy_from_slice(&clock.to_be_bytes());
                    }
                }
                Tone::Inband(g) => {
                    let mut pcm = [0i16; 160];
                    g.tx(&mut pcm);
                    mediagw::codec::encode_ulaw(&pcm, &mut buf[12..]);
                    if g.is_done() {
                        c.tone = Tone::None;
                    }
                }
                Tone::Rfc { event, ts: ets, i } => {
                    pt = 101;
                    marker = *i == 0;
                    ts = *ets;
                    let end = *i >= 6;
                    let dur = 160 * (u16::min(*i, 5) + 1);
                    buf[12] = *event;
                    buf[13] = if end { 0x80 | 10 } else { 10 };
                    buf[14..16].copy_from_slice(&dur.to_be_bytes());
                    len = 16;
                    *i += 1;
                    if *i >= 9 {
                        c.tone = Tone::None;
                    }
                }
            }
            buf[0] = 0x80;
            buf[1] = pt | if marker { 0x80 } else { 0 };
            buf[2..4].copy_from_slice(&c.seq.to_be_bytes());
            buf[4..8].copy_from_slice(&ts.to_be_bytes());
            buf[8..12].copy_from_slice(&c.ssrc.to_be_bytes());
            c.seq = c.seq.wrapping_add(1);
            c.ts = c.ts.wrapping_add(160);
            self.txiov[k].iov_len = len;
            let m = &mut self.txmsg[k].msg_hdr;
            m.msg_name = (&mut c.dest as *mut libc::sockaddr_in).cast();
            m.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
            m.msg_iov = &mut self.txiov[k];
            m.msg_iovlen = 1;
        }
        let fd = self.sock.as_raw_fd();
        let mut sent = 0usize;
        let mut tries = 0;
        while sent < n && tries < 64 {
            tries += 1;
            // SAFETY: the headers point into live buffers of this State.
            let rc = unsafe {
                libc::sendmmsg(fd, self.txmsg[sent..n].as_mut_ptr(), (n - sent) as u32, 0)
            };
            if rc > 0 {
                sent += rc as usize;
            } else {
                self.drain(false);
            }
        }
        if let Some(w) = &mut self.win {
            if in_win.is_some_and(|(_, i)| i) {
                w.stats.sent += sent as u64;
                // Every packet of the slot left by now: the last one's deviation, counted
                // for each (an upper bound per packet).
                let late_ns = now_ns() - deadline;
                let _ = w
                    .stats
                    .gen_late_us
                    .record_n((late_ns.max(0) / 1000) as u64 + 1, n as u64);
            }
        }
    }

    fn drain(&mut self, _before_sleep: bool) {
        let fd = self.sock.as_raw_fd();
        for _ in 0..64 {
            for i in 0..RX_BATCH {
                let h = &mut self.rxmsg[i].msg_hdr;
                h.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
                h.msg_controllen = 128;
                self.rxiov[i].iov_len = 2048;
            }
            // SAFETY: headers point into buffers owned by self (see `new`).
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    self.rxmsg.as_mut_ptr(),
                    RX_BATCH as u32,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n <= 0 {
                return;
            }
            let fallback = now_ns();
            // Only the header and the send clock are read, or the whole frame to judge.
            let keep = if self.voices.is_some() { PKT } else { 20 };
            for i in 0..n as usize {
                let len = self.rxmsg[i].msg_len as usize;
                let rx_ns = cmsg_time(&self.rxmsg[i].msg_hdr).unwrap_or(fallback);
                let port = u16::from_be(self.rxname[i].sin_port);
                let mut head = [0u8; PKT];
                let l = len.min(keep);
                head[..l].copy_from_slice(&self.rxbuf[i][..l]);
                self.on_packet(&head[..l], port, rx_ns);
            }
            if (n as usize) < RX_BATCH {
                return;
            }
        }
    }

    fn on_packet(&mut self, d: &[u8], port: u16, rx_ns: i64) {
        let Some(w) = &mut self.win else { return };
        if rx_ns < w.start_ns || rx_ns > w.end_ns || d.len() < 12 || d[0] >> 6 != 2 {
            return;
        }
        let pt = d[1] & 0x7f;
        let marker = d[1] & 0x80 != 0;
        let seq = u16::from_be_bytes([d[2], d[3]]);
        let ts = u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
        let ssrc = u32::from_be_bytes([d[8], d[9], d[10], d[11]]);
        let idx = match self.demux {
            Demux::Ssrc => ssrc.wrapping_sub(1),
            Demux::SrcPort => self.port_map[port as usize],
        } as usize;
        let Some(c) = self.chans.get_mut(idx) else {
            return;
        };
        if pt == 101 || pt == 13 {
            return;
        }
        w.stats.received += 1;
        if let Some(v) = &self.voices {
            let hl = 12 + 4 * usize::from(d[0] & 0x0f);
            let verdict = v.judge(idx as u32, rx_ns - self.t0, d.get(hl..).unwrap_or(&[]));
            w.stats.voice.add(verdict);
            c.heard_own |= verdict.own;
            c.missed |= verdict.missing;
        }
        if self.payload_clock && d.len() >= 20 {
            let sent = i64::from_be_bytes([d[12], d[13], d[14], d[15], d[16], d[17], d[18], d[19]]);
            if sent > 0 && rx_ns >= sent {
                let _ = w.stats.rtt_us.record(((rx_ns - sent) / 1000) as u64 + 1);
            }
        }
        // Extended sequence number.
        let ext = match c.last_seq {
            None => {
                c.ext_base = 0;
                i64::from(seq)
            }
            Some(last) => {
                let diff = seq.wrapping_sub(last) as i16 as i64;
                c.prev_ext_seq + diff
            }
        };
        if c.rx == 0 {
            c.first_ext = ext;
            c.max_ext = ext;
        }
        c.rx += 1;
        if ext < c.max_ext {
            w.stats.reordered += 1;
        }
        if ext < c.first_ext {
            c.first_ext = ext;
        }
        // Grid: a new segment at a marker or when the timestamp does not follow the sequence.
        let ts_ext = match c.last_ts {
            None => i64::from(ts),
            Some(lt) => c.ts_ext_base + (ts.wrapping_sub(lt) as i32 as i64),
        };
        let follows =
            c.last_seq.is_some() && (ts_ext - c.ts_ext_base) == (ext - c.prev_ext_seq) * 160;
        if marker || !follows || c.seg_anchor.is_none() {
            c.late += flush(&mut c.seg, &mut w.stats, w.late_ns);
            c.seg_anchor = Some((rx_ns, ts_ext));
        }
        c.ts_span = Some(match c.ts_span {
            None => (ts_ext, ts_ext),
            Some((lo, hi)) => (lo.min(ts_ext), hi.max(ts_ext)),
        });
        if let Some((a_rx, a_ts)) = c.seg_anchor {
            c.seg.push(rx_ns - (a_rx + (ts_ext - a_ts) * 125_000));
        }
        if ext > c.max_ext {
            c.max_ext = ext;
        }
        c.last_seq = Some(seq);
        c.prev_ext_seq = ext;
        c.last_ts = Some(ts);
        c.ts_ext_base = ts_ext;
    }

    fn maybe_finish(&mut self) {
        let done = self
            .win
            .as_ref()
            .is_some_and(|w| now_ns() > w.end_ns + 200_000_000);
        if !done {
            return;
        }
        let Some(mut w) = self.win.take() else { return };
        if let (Some((t0, g0)), Some((t1, g1))) = (w.cpu_start, w.cpu_end) {
            w.stats.target_cpu = t0.zip(t1).map(|(a, b)| CpuUse::between(&a, &b));
            w.stats.gen_cpu = g0.zip(g1).map(|(a, b)| CpuUse::between(&a, &b));
        }
        let frames = ((w.end_ns - w.start_ns) / FRAME_NS) as u64;
        for (i, c) in self.chans.iter_mut().enumerate() {
            c.late += flush(&mut c.seg, &mut w.stats, w.late_ns);
            c.seg_anchor = None;
            let lost = if c.rx == 0 {
                w.stats.dead += 1;
                w.stats.grid_expected += frames;
                w.stats.grid_lost += frames;
                frames
            } else {
                let expected = (c.max_ext - c.first_ext + 1).max(0) as u64;
                if let Some((lo, hi)) = c.ts_span {
                    let on_grid = ((hi - lo) / 160 + 1).max(0) as u64;
                    w.stats.grid_expected += on_grid;
                    w.stats.grid_lost += on_grid.saturating_sub(c.rx);
                }
                expected.saturating_sub(c.rx)
            };
            w.stats.lost += lost;
            w.stats.per_chan.push(ChanWindow {
                idx: i as u32,
                received: c.rx,
                lost,
                late: c.late,
            });
            w.stats.voice.members_own += u32::from(c.heard_own);
            w.stats.voice.members_missing += u32::from(c.missed);
            c.plans.clear();
            c.next_plan = 0;
        }
        let _ = w.reply.send(w.stats);
    }
}

/// Records one segment's deviations (each offset minus the segment's smallest); how many
/// were late.
fn flush(seg: &mut Vec<i64>, st: &mut WindowStats, late_ns: i64) -> u64 {
    let mut late = 0;
    if let Some(&min) = seg.iter().min() {
        for &o in seg.iter() {
            let dev = o - min;
            if dev > late_ns {
                late += 1;
            }
            let _ = st.deviation_us.record((dev / 1000) as u64 + 1);
        }
    }
    st.late += late;
    seg.clear();
    late
}

fn cmsg_time(h: &libc::msghdr) -> Option<i64> {
    // SAFETY: walking the control buffer the kernel filled, with the libc macros.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                return Some(ts.tv_sec * 1_000_000_000 + ts.tv_nsec);
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}
