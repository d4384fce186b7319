//! Moving a call's media to another worker, the port staying (`MediaCommand::Move`).
//!
//! 1. The source worker detaches both of the call's sockets
//!    ([`IoCtx::detach`](crate::worker::IoCtx::detach)): io_uring cancels the multishot
//!    receive, epoll deregisters the descriptor. Until the backend has torn the receive
//!    down, the channel stays where it is and keeps receiving (datagrams the kernel
//!    already completed are delivered) and sending.
//! 2. Each descriptor comes back, still bound, through `on_detached`. Once both are
//!    back, the channel (its RTP sender with SSRC, sequence and timestamp, its jitter
//!    buffer, statistics and running actions) and the two owned descriptors go, boxed,
//!    into the destination worker's lock-free command queue ([`Peers`]) — no worker ever
//!    waits for another: a full queue keeps the hand-over for a retry on the next tick.
//!    Datagrams arriving meanwhile wait in the sockets' kernel buffers.
//! 3. The destination adopts the descriptors (arming its own receive: the waiting
//!    datagrams come first), moves the channel's next frame onto its tick grid, and
//!    reports [`MediaEvent::Moved`].
//!
//! A destination that is stopping refuses the hand-over: the source adopts the
//! descriptors back and reports the call as still living on itself.

use std::os::fd::OwnedFd;
use std::sync::{Arc, OnceLock};

use super::MediaWorker;
use crate::media::channel::Channel;
use crate::media::commands::{CallId, Command, MediaEvent, WorkerEvent};
use crate::worker::{CommandError, IoCtx, SocketToken, WorkerSender};

/// The workers of the plane, by index, as every worker sees them (filled once they all
/// run).
pub type Peers = Arc<OnceLock<Vec<WorkerSender<Command>>>>;

/// A call in transit between two workers: its channel and its two bound sockets.
pub struct Moving {
    pub channel: Channel,
    pub rtp: OwnedFd,
    pub rtcp: OwnedFd,
}

impl std::fmt::Debug for Moving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Moving")
            .field("call", &self.channel.call())
            .field("rtp", &self.rtp)
            .field("rtcp", &self.rtcp)
            .finish()
    }
}

/// A call whose sockets are being detached on the source worker.
pub struct MoveOut {
    pub call: CallId,
    to: usize,
    rtp: Option<OwnedFd>,
    rtcp: Option<OwnedFd>,
}

type Io<'a, 'b> = &'a mut IoCtx<'b, WorkerEvent>;

impl MediaWorker {
    /// `Move`: starts detaching the call's sockets.
    pub(super) fn move_out(&mut self, call: CallId, to: usize, io: Io) {
        if to == self.index {
            io.emit(WorkerEvent::Public(MediaEvent::Moved { call, worker: to }));
            return;
        }
        let Some(slot) = self.calls.slot_of(call) else {
            return;
        };
        if self.moving.iter().any(|m| m.call == call) {
            return;
        }
        self.end_join_of(call, "moved to another worker", io);
        self.conf_leave_of(call, "moved to another worker", io);
        if let Some(pool) = self.shared.inband_pool.as_mut() {
            pool.detach(call);
        }
        let Some(ch) = self.calls.at(slot) else {
            return;
        };
        let (rtp, rtcp) = (ch.rtp, ch.rtcp);
        self.moving.push(MoveOut {
            call,
            to,
            rtp: None,
            rtcp: None,
        });
        io.detach(rtp);
        io.detach(rtcp);
    }

    /// A socket's receive is torn down: once both of a moving call's sockets are, the
    /// call leaves for its new worker.
    pub(super) fn detached(&mut self, sock: SocketToken, fd: OwnedFd, io: Io) {
        let Some(slot) = self.calls.by_sock(sock) else {
            return; // closed meanwhile: `fd` closes here
        };
        self.calls.unmap_sock(sock);
        let Some(ch) = self.calls.at(slot) else {
            return;
        };
        let call = ch.call();
        let is_rtp = sock == ch.rtp;
        let Some(k) = self.moving.iter().position(|m| m.call == call) else {
            return;
        };
        let m = &mut self.moving[k];
        if is_rtp {
            m.rtp = Some(fd);
        } else {
            m.rtcp = Some(fd);
        }
        if m.rtp.is_none() || m.rtcp.is_none() {
            return;
        }
        let m = self.moving.swap_remove(k);
        let (Some(rtp), Some(rtcp), Some(channel)) = (m.rtp, m.rtcp, self.calls.remove(slot))
        else {
            return;
        };
        self.hand_over(m.to, Box::new(Moving { channel, rtp, rtcp }), io);
    }

    fn hand_over(&mut self, to: usize, m: Box<Moving>, io: Io) {
        let peer = self.peers.get().and_then(|p| p.get(to));
        let Some(peer) = peer else {
            return self.adopt(m, io);
        };
        match peer.send(Command::Adopt(m)) {
            Ok(()) => {}
            Err(CommandError::Full(Command::Adopt(m))) => self.handovers.push((to, m)),
            Err(CommandError::Stopped(Command::Adopt(m))) => self.adopt(m, io),
            Err(_) => unreachable!("the queue hands back what it was given"),
        }
    }

    /// Hand-overs that found their worker's queue full try again.
    pub(super) fn retry_handovers(&mut self, io: Io) {
        if self.handovers.is_empty() {
            return;
        }
        for (to, m) in std::mem::take(&mut self.handovers) {
            self.hand_over(to, m, io);
        }
    }

    /// `Adopt`: the call runs here from now on.
    pub(super) fn adopt(&mut self, m: Box<Moving>, io: Io) {
        let Moving {
            mut channel,
            rtp,
            rtcp,
        } = *m;
        let call = channel.call();
        let rtp = io.adopt_udp(rtp);
        let rtcp = io.adopt_udp(rtcp);
        match (rtp, rtcp) {
            (Ok(rtp), Ok(rtcp)) => {
                channel.adopted(rtp, rtcp, io.info());
                self.calls.insert(call, channel);
                io.emit(WorkerEvent::Public(MediaEvent::Moved {
                    call,
                    worker: self.index,
                }));
            }
            (rtp, rtcp) => {
                tracing::warn!(call, "cannot adopt a moved call's sockets: closing it");
                for t in [rtp, rtcp].into_iter().flatten() {
                    io.close(t);
                }
                channel.close("cannot adopt the sockets", io, &mut self.shared);
            }
        }
    }
}
