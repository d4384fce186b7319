//! One 20 ms frame of every conference of the worker (see [`crate::media::conf`] for the
//! steps): members' jitter buffers into the mixer, the conference play as one more
//! talker, one mix, the recording, and every listener's frame out on its own stream —
//! the shared frame encoded once per law. Nothing here allocates, locks or waits.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use super::{MEDIA_FAILURE, MediaWorker};
use crate::media::calls::Calls;
use crate::media::channel::Shared;
use crate::media::commands::{MediaEvent, WorkerEvent};
use crate::media::conf::{Conference, Prep, SAMPLES, SharedEncodings, mix_into};
use crate::media::play::PlayFrame;
use crate::mixer::Output;
use crate::worker::IoCtx;

type Io<'a, 'b> = &'a mut IoCtx<'b, WorkerEvent>;

impl MediaWorker {
    /// Every conference's frames due by `now`. A conference whose frame panics is
    /// closed (its members leave it with the error), the others go on.
    pub(super) fn tick_confs(&mut self, now: Instant, io: Io) {
        let calls = &mut self.calls;
        let sh = &mut self.shared;
        let mut failed = Vec::new();
        for c in self.confs.slots.iter_mut().flatten() {
            let (mut n, mut skipped) = (0, 0);
            let framed = catch_unwind(AssertUnwindSafe(|| {
                while let Some(at) = c.take_due(now, &mut n, &mut skipped) {
                    conf_frame(c, calls, at, io, sh);
                }
            }));
            if framed.is_err() {
                failed.push(c.id);
                continue;
            }
            if skipped > 0 {
                // Behind after a stall: the members on this grid skip with it.
                for m in c.members.iter().flatten() {
                    if m.repack.is_none()
                        && let Some(ch) = calls.at(m.chan)
                    {
                        ch.member_skip(skipped);
                    }
                }
            }
        }
        for conf in failed {
            tracing::error!(
                conf,
                "panic in a conference's frame: the conference is closed"
            );
            self.conf_close(conf, MEDIA_FAILURE, io);
        }
    }

    /// The frames due by `now` of the member on its own grid in channel slot `slot`.
    pub(super) fn tick_own_grid_member(
        &mut self,
        slot: u32,
        link: crate::media::conf::MemberLink,
        now: Instant,
        io: Io,
    ) {
        let Some(ch) = self.calls.at(slot) else {
            return;
        };
        let rp = self
            .confs
            .at(link.conf)
            .and_then(|c| c.member(link.member))
            .and_then(|m| m.repack.as_deref_mut());
        if let Some(rp) = rp {
            ch.member_tick(rp, now, io, &mut self.shared);
        }
    }
}

/// One frame of conference `c` at `at`.
fn conf_frame(c: &mut Conference, calls: &mut Calls, at: Instant, io: Io, sh: &mut Shared) {
    let Conference {
        id,
        mixer,
        player,
        members,
        play,
        rec,
        last_encodes,
        ..
    } = c;
    let mut voice = [0i16; SAMPLES];
    // 1. What each member said.
    for m in members.iter_mut().flatten() {
        let Some(ch) = calls.at(m.chan) else { continue };
        let voiced = match m.repack.as_deref_mut() {
            None => {
                m.sent_before = ch.packets_out();
                ch.member_says(&mut voice, io, sh)
            }
            Some(rp) => rp.take_said(&mut voice).unwrap_or(false),
        };
        if voiced
            && m.mode.talks
            && let Some(mid) = m.id
        {
            let _ = mixer.put(mid, &voice);
        }
    }
    // 2. The conference play, as one more talker.
    if let Prep::Active(p) = play {
        let mut buf = [0i16; SAMPLES];
        match p.next_samples(&mut buf) {
            PlayFrame::Audio => {
                let _ = mixer.put(*player, &buf);
            }
            PlayFrame::Waiting => {}
            PlayFrame::Done => {
                *play = Prep::Idle;
                io.emit(WorkerEvent::Public(MediaEvent::PlayCompleted {
                    call: *id,
                    error: None,
                    finish_key: None,
                }));
            }
        }
    }
    // 3. One mix.
    mixer.mix();

    // 4. The recording: everyone's sum.
    if let Prep::Active(r) = rec {
        r.push_linear(&sh.rec_q, mixer.shared());
        let max = u64::from(r.start.max_seconds) * 8000;
        if max > 0 && r.recorded_samples() >= max {
            if let Prep::Active(r) = std::mem::take(rec) {
                sh.end_recording(r.start.rec);
                io.emit(WorkerEvent::RecordEnded {
                    rec: r.start.rec,
                    event: MediaEvent::RecordCompleted {
                        call: *id,
                        error: Some("max_seconds reached".into()),
                        finish_key: None,
                        path: r.start.path,
                    },
                });
            }
        }
    }
    // 5. What each member hears.
    let mut enc = SharedEncodings::new();
    let mut ann = [0i16; SAMPLES];
    for m in members.iter_mut().flatten() {
        let Some(ch) = calls.at(m.chan) else { continue };
        let out =
            m.id.and_then(|i| mixer.output(i))
                .unwrap_or(Output::NotListening);
        let mut announcing = false;
        if let Some(a) = m.announce.as_mut() {
            match a.next_samples(&mut ann) {
                PlayFrame::Audio => announcing = true,
                PlayFrame::Waiting => {}
                PlayFrame::Done => m.announce = None,
            }
        }
        let heard = |buf: &mut [i16; SAMPLES]| {
            match out.frame() {
                Some(f) => buf.copy_from_slice(f),
                None => buf.fill(0),
            }
            mix_into(buf, &ann);
        };
        match m.repack.as_deref_mut() {
            Some(rp) => {
                if announcing {
                    let mut buf = [0i16; SAMPLES];
                    heard(&mut buf);
                    rp.outbox.write(&buf);
                } else if let Some(f) = out.frame() {
                    rp.outbox.write(f);
                }
            }
            None => {
                if announcing {
                    let mut buf = [0i16; SAMPLES];
                    heard(&mut buf);
                    enc.own();
                    ch.member_send_pcm(&buf, io, sh);
                } else {
                    match out {
                        Output::NotListening => ch.member_silent(),
                        Output::Shared(f) => {
                            let bytes = enc.get(ch.law(), f);
                            ch.member_send_encoded(bytes, io, sh);
                        }
                        Output::Own(f) => {
                            enc.own();
                            ch.member_send_pcm(f, io, sh);
                        }
                    }
                }
                ch.member_frame_done(at, m.sent_before, io, sh);
            }
        }
    }
    *last_encodes = enc.made;
}
