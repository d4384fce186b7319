//! The fallback backend for when io_uring is unavailable (containers whose seccomp profile
//! blocks it, old kernels) or forced off: level-triggered epoll over the sockets, the
//! command eventfd and a `timerfd` armed at the next tick deadline with `TFD_TIMER_ABSTIME`
//! on `CLOCK_MONOTONIC`; `recvmmsg` into a fixed batch of buffers, and queued sends flushed
//! at the end of the batch with one `sendmmsg` per run of sends on the same socket. It
//! drives the same [`Reactor`], so a handler behaves the same on both backends.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::MediaHandler;
use super::addr::RawAddr;
use super::clock::{mono_ns, split_ns};
use super::config::WorkerConfig;
use super::ioctx::Op;
use super::reactor::{GEN_MASK, Reactor, SHUTDOWN_PATIENCE};
use super::sockets::SockState;

const KIND_SOCK: u64 = 1;
const KIND_WAKE: u64 = 2;
const KIND_TIMER: u64 = 3;
const MAX_EVENTS: usize = 256;
/// recvmmsg calls per readable socket per wake-up (fairness between sockets).
const MAX_ROUNDS: usize = 8;

fn tag(kind: u64, generation: u32, idx: u32) -> u64 {
    (kind << 56) | (u64::from(generation & GEN_MASK) << 32) | u64::from(idx)
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A fixed batch of message headers pointing into fixed buffers.
struct MsgBatch {
    bufs: Box<[u8]>,
    size: usize,
    names: Box<[RawAddr]>,
    iovs: Box<[libc::iovec]>,
    msgs: Box<[libc::mmsghdr]>,
}

impl MsgBatch {
    fn new(n: usize, size: usize) -> Self {
        let mut b = Self {
            bufs: vec![0u8; n * size].into_boxed_slice(),
            size,
            names: vec![RawAddr::zeroed(); n].into_boxed_slice(),
            iovs: (0..n)
                .map(|_| libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                })
                .collect(),
            // SAFETY: mmsghdr is plain data.
            msgs: (0..n).map(|_| unsafe { std::mem::zeroed() }).collect(),
        };
        for i in 0..n {
            // SAFETY: i * size is inside bufs (empty when size is 0, not used then).
            b.iovs[i].iov_base = unsafe { b.bufs.as_mut_ptr().add(i * size) }.cast();
            b.iovs[i].iov_len = size;
            let h = &mut b.msgs[i].msg_hdr;
            h.msg_name = b.names[i].as_mut_ptr().cast();
            h.msg_namelen = size_of::<RawAddr>() as libc::socklen_t;
            h.msg_iov = &mut b.iovs[i];
            h.msg_iovlen = 1;
        }
        b
    }
}

/// The epoll side of one worker.
pub struct EpollBackend {
    ep: OwnedFd,
    timer: OwnedFd,
    timer_at: u64,
    wake_fd: RawFd,
    events: Box<[libc::epoll_event]>,
    rx: MsgBatch,
    tx: MsgBatch,
}

impl EpollBackend {
    /// Creates the epoll set with the wake eventfd and the tick timer in it.
    pub fn new(cfg: &WorkerConfig, wake_fd: RawFd) -> io::Result<Self> {
        // SAFETY: plain syscalls; the descriptors are owned right away.
        let ep = unsafe { OwnedFd::from_raw_fd(cvt(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
        // SAFETY: as above.
        let timer = unsafe {
            OwnedFd::from_raw_fd(cvt(libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            ))?)
        };
        let me = Self {
            ep,
            timer,
            timer_at: 0,
            wake_fd,
            events: (0..MAX_EVENTS)
                .map(|_| libc::epoll_event { events: 0, u64: 0 })
                .collect(),
            rx: MsgBatch::new(cfg.mmsg_batch, cfg.recv_buffer_size),
            tx: MsgBatch::new(cfg.mmsg_batch, 0),
        };
        me.ctl(libc::EPOLL_CTL_ADD, wake_fd, tag(KIND_WAKE, 0, 0))?;
        me.ctl(
            libc::EPOLL_CTL_ADD,
            me.timer.as_raw_fd(),
            tag(KIND_TIMER, 0, 0),
        )?;
        Ok(me)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, data: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: data,
        };
        // SAFETY: ev is valid for the call.
        cvt(unsafe { libc::epoll_ctl(self.ep.as_raw_fd(), op, fd, &mut ev) }).map(drop)
    }

    fn arm_timer(&mut self, at: u64) {
        if at == self.timer_at {
            return;
        }
        self.timer_at = at;
        let (sec, nsec) = split_ns(at.max(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: sec as libc::time_t,
                tv_nsec: nsec as libc::c_long,
            },
        };
        // SAFETY: spec is valid; the old value is not asked for.
        unsafe {
            libc::timerfd_settime(
                self.timer.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
    }

    /// Runs the worker until shutdown.
    pub fn run<H: MediaHandler>(mut self, eng: &mut Reactor<H>) {
        let mut stop_deadline = u64::MAX;
        loop {
            self.flush(eng);
            if eng.run_detached() {
                self.flush(eng);
            }
            if eng.is_stopped() && (eng.drained() || mono_ns() >= stop_deadline) {
                break;
            }
            let at = if eng.is_stopped() {
                mono_ns().saturating_add(5_000_000)
            } else {
                eng.grid.next_deadline_ns()
            };
            self.arm_timer(at);
            // SAFETY: events is a valid buffer of MAX_EVENTS entries.
            let n = unsafe {
                libc::epoll_wait(
                    self.ep.as_raw_fd(),
                    self.events.as_mut_ptr(),
                    MAX_EVENTS as libc::c_int,
                    -1,
                )
            };
            if n < 0 {
                if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                eng.begin_shutdown();
                break;
            }
            eng.refresh_now();
            // The wake-up descriptors first, then the commands, then the sockets: a
            // command queued before a datagram arrived (a remote address set before the
            // peer could know our port) applies before that datagram, and a command that
            // arrives after the wake-up counter was read finds it raised again.
            for i in 0..n as usize {
                match self.events[i].u64 >> 56 {
                    KIND_WAKE => drain_fd(self.wake_fd),
                    KIND_TIMER => drain_fd(self.timer.as_raw_fd()),
                    _ => {}
                }
            }
            if !eng.is_stopped() {
                eng.run_commands();
            }
            for i in 0..n as usize {
                let data = self.events[i].u64;
                let (kind, generation, idx) =
                    (data >> 56, ((data >> 32) as u32) & GEN_MASK, data as u32);
                if kind == KIND_SOCK {
                    self.recv(eng, idx, generation);
                }
            }
            if !eng.is_stopped() {
                eng.run_ticks();
                if eng.stop_requested() {
                    eng.begin_shutdown();
                    stop_deadline = mono_ns().saturating_add(SHUTDOWN_PATIENCE.as_nanos() as u64);
                }
            }
        }
        eng.finish();
    }

    fn recv<H: MediaHandler>(&mut self, eng: &mut Reactor<H>, idx: u32, generation: u32) {
        let fd = match eng.io.sockets.slot(idx) {
            Some(s) if s.state == SockState::Open && s.generation & GEN_MASK == generation => {
                s.raw_fd()
            }
            _ => return,
        };
        let batch = self.rx.msgs.len();
        for _ in 0..MAX_ROUNDS {
            for m in self.rx.msgs.iter_mut() {
                m.msg_hdr.msg_namelen = size_of::<RawAddr>() as libc::socklen_t;
                m.msg_hdr.msg_flags = 0;
                m.msg_len = 0;
            }
            // SAFETY: the batch's headers point into its own live buffers.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    self.rx.msgs.as_mut_ptr(),
                    batch as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                match io::Error::last_os_error().raw_os_error() {
                    // ECONNREFUSED: a connected socket's peer closed its port (ICMP).
                    Some(libc::EAGAIN | libc::EINTR | libc::ECONNREFUSED) => {}
                    _ => eng.io.counters.s.recv_errors += 1,
                }
                return;
            }
            let n = n as usize;
            for i in 0..n {
                let m = &self.rx.msgs[i];
                let len = (m.msg_len as usize).min(self.rx.size);
                let truncated = m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
                let from = self.rx.names[i].get(m.msg_hdr.msg_namelen as usize);
                match from {
                    Some(from) if !truncated => {
                        let off = i * self.rx.size;
                        eng.deliver(idx, generation, &self.rx.bufs[off..off + len], from);
                    }
                    _ => eng.io.counters.s.recv_errors += 1,
                }
            }
            if n < batch || eng.is_closing(idx) {
                return;
            }
        }
    }

    /// End of a callback batch: send what was queued, carry out socket work.
    fn flush<H: MediaHandler>(&mut self, eng: &mut Reactor<H>) {
        let io = &mut eng.io;
        let batch = self.tx.msgs.len();
        let pending = io.slab.pending();
        let mut k = 0;
        while k < pending.len() {
            let fd = io.slab.fd(pending[k]);
            let mut m = 0;
            while k + m < pending.len() && m < batch && io.slab.fd(pending[k + m]) == fd {
                let i = pending[k + m];
                let data = io.slab.data(i);
                let (addr, addr_len) = io.slab.addr(i);
                self.tx.iovs[m].iov_base = data.as_ptr().cast_mut().cast();
                self.tx.iovs[m].iov_len = data.len();
                let h = &mut self.tx.msgs[m].msg_hdr;
                h.msg_name = if addr_len == 0 {
                    std::ptr::null_mut() // a connected socket's send to its peer
                } else {
                    addr.as_ptr().cast_mut().cast()
                };
                h.msg_namelen = addr_len;
                h.msg_iov = &mut self.tx.iovs[m];
                h.msg_iovlen = 1;
                m += 1;
            }
            let mut sent = 0;
            while sent < m {
                // SAFETY: the headers point at slab memory that lives across the call.
                let rc = unsafe {
                    libc::sendmmsg(
                        fd,
                        self.tx.msgs[sent..].as_mut_ptr(),
                        (m - sent) as libc::c_uint,
                        libc::MSG_DONTWAIT,
                    )
                };
                let s = &mut io.counters.s;
                if rc > 0 {
                    for msg in &self.tx.msgs[sent..sent + rc as usize] {
                        s.packets_out += 1;
                        s.bytes_out += u64::from(msg.msg_len);
                    }
                    sent += rc as usize;
                } else if rc < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                } else {
                    // This datagram failed: count it and go on with the rest.
                    s.send_errors += 1;
                    sent += 1;
                }
            }
            k += m;
        }
        for idx in 0..pending.len() {
            let i = io.slab.pending()[idx];
            io.slab.release(i);
        }
        io.slab.clear_pending();
        for k in 0..io.ops.len() {
            match io.ops[k] {
                Op::Arm(idx) => {
                    if let Some(s) = io.sockets.slot_mut(idx)
                        && s.state == SockState::Open
                        && !s.armed
                    {
                        let data = tag(KIND_SOCK, s.generation, idx);
                        let fd = s.raw_fd();
                        if self.ctl(libc::EPOLL_CTL_ADD, fd, data).is_ok() {
                            s.armed = true;
                        } else {
                            s.broken = true;
                            io.counters.s.recv_errors += 1;
                        }
                    }
                }
                Op::Close(idx) | Op::Detach(idx) => {
                    if let Some(s) = io.sockets.slot(idx)
                        && s.armed
                    {
                        let _ = self.ctl(libc::EPOLL_CTL_DEL, s.raw_fd(), 0);
                    }
                    if let Op::Close(_) = io.ops[k] {
                        io.sockets.finish_close(idx);
                    } else if let Some(d) = io.sockets.finish_detach(idx) {
                        io.detached.push(d);
                    }
                }
            }
        }
        io.ops.clear();
    }
}

/// Reads a non-blocking eventfd/timerfd until it is empty.
fn drain_fd(fd: RawFd) {
    let mut v = 0u64;
    // SAFETY: v is 8 writable bytes.
    while unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) } == 8 {}
}
