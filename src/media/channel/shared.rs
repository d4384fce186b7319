//! [`Shared`]: the worker-wide state a worker lends to its channels for each callback:
//! the queue to the recording writer (with the recordings' ends still waiting for room),
//! the RTP timeout, the clock origin, the latency histograms, the SIMD in-band detector
//! banks and the scratch buffers every frame (and every relayed packet) is built in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;

use super::MAX_SPF;
use crate::media::record::RecMsg;

/// Worker-wide state lent to channels: the recorder queue, scratch buffers, settings.
pub struct Shared {
    /// Queue to the recording writer.
    pub rec_q: Arc<ArrayQueue<RecMsg>>,
    /// Recordings whose `End` did not fit in the queue yet (retried every tick).
    pub pending_ends: Vec<u64>,
    /// RTP timeout (None: off).
    pub rtp_timeout: Option<Duration>,
    /// Worker clock origin (for RTCP arrival times).
    pub start: Instant,
    /// The worker's latency histograms.
    pub latency: Option<crate::media::latency::WorkerLatency>,
    /// Packets sent during the current tick.
    pub sent_this_tick: u64,
    /// The worker's SIMD in-band detectors (None: per-call detectors or none).
    pub inband_pool: Option<crate::media::inband_pool::InbandPool>,
    /// In-band detection also on calls that negotiated telephone-event.
    pub inband_with_te: bool,
    pub(super) pkt: Box<[u8; 1500]>,
    pub(super) pcm: Box<[i16; MAX_SPF]>,
    pub(super) rx: Box<[u8; MAX_SPF]>,
    /// A joined leg's frame: what it said, what the other leg is to hear of it, the
    /// join play.
    pub(super) voice: Box<[i16; MAX_SPF]>,
    pub(super) heard: Box<[i16; MAX_SPF]>,
    pub(super) play: Box<[i16; MAX_SPF]>,
}

impl Shared {
    /// Worker state with empty scratch buffers.
    pub fn new(
        rec_q: Arc<ArrayQueue<RecMsg>>,
        rtp_timeout: Option<Duration>,
        start: Instant,
    ) -> Self {
        Self {
            rec_q,
            pending_ends: Vec::with_capacity(256),
            rtp_timeout,
            start,
            inband_pool: None,
            inband_with_te: false,
            latency: None,
            sent_this_tick: 0,
            pkt: Box::new([0; 1500]),
            pcm: Box::new([0; MAX_SPF]),
            rx: Box::new([0; MAX_SPF]),
            voice: Box::new([0; MAX_SPF]),
            heard: Box::new([0; MAX_SPF]),
            play: Box::new([0; MAX_SPF]),
        }
    }

    /// Queues the end of a recording (or keeps it for a retry).
    pub fn end_recording(&mut self, rec: u64) {
        if let Err(RecMsg::End { rec }) = self.rec_q.push(RecMsg::End { rec }) {
            self.pending_ends.push(rec);
        }
    }

    /// Retries queued ends.
    pub fn retry_ends(&mut self) {
        while let Some(&rec) = self.pending_ends.first() {
            if self.rec_q.push(RecMsg::End { rec }).is_err() {
                return;
            }
            self.pending_ends.remove(0);
        }
    }
}
