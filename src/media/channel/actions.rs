//! The channel's actions, each ending in exactly one completion event: play, record (the
//! writer finalizes the file before the pump forwards `RecordCompleted`), send DTMF; and
//! received digits from every source, reported and applied to finish keys.

use super::{Channel, Io, MAX_SPF, Shared};
use crate::media::commands::{DigitSource, MediaEvent, RecordStart, WorkerEvent};
use crate::media::conf::ENTERED;
use crate::media::dtmf_tx::{DtmfMode, DtmfTx};
use crate::media::play::Play;
use crate::media::record::Recording;
use crate::rtp::Pulled;

impl Channel {
    /// A digit from any source: reported, and ends a play or recording it is a finish key of.
    pub fn on_digit(&mut self, digit: char, source: DigitSource, io: Io, sh: &mut Shared) {
        if !self.sources.accept(digit, source, io.now()) {
            return; // the same press, already reported from the other source
        }
        io.emit(WorkerEvent::Public(MediaEvent::Digit {
            call: self.call,
            digit,
            source,
        }));
        if self.play.as_ref().is_some_and(|p| p.is_finish_key(digit)) {
            self.end_play(None, Some(digit), io);
        }
        if self.rec.as_ref().is_some_and(|r| r.is_finish_key(digit)) {
            self.end_record(None, Some(digit), io, sh);
        }
    }

    /// Ends the play, if any, with its completion event.
    pub fn end_play(&mut self, error: Option<String>, finish_key: Option<char>, io: Io) {
        if self.play.take().is_some() {
            io.emit(WorkerEvent::Public(MediaEvent::PlayCompleted {
                call: self.call,
                error,
                finish_key,
            }));
        }
    }

    /// Ends the recording, if any: the writer finalizes the file, then the plane
    /// forwards the completion event.
    pub fn end_record(
        &mut self,
        error: Option<String>,
        finish_key: Option<char>,
        io: Io,
        sh: &mut Shared,
    ) {
        self.flush_into_recording(sh);
        self.end_record_now(error, finish_key, io, sh);
    }

    /// Audio already received but still held by the jitter buffer belongs to a
    /// recording that ends now (finish key, stop, hang-up, shutdown): write it.
    fn flush_into_recording(&mut self, sh: &mut Shared) {
        let law = self.law();
        let spf = self.spf();
        let audio_pt = self.remote.as_ref().map(|r| r.pt);
        let Some(r) = self.rec.as_mut() else { return };
        if r.beep_left() != 0 {
            return;
        }
        let carried = self.rx_carry.drain(&mut sh.rx[..MAX_SPF]);
        if carried > 0
            && r.push_frame(&sh.rec_q, law, Some(&sh.rx[..carried]), carried)
                .is_some()
        {
            return;
        }
        for _ in 0..self.jb.capacity() {
            let mut len = 0;
            match self.jb.drain_next() {
                Pulled::Empty => break,
                Pulled::Frame(f) if Some(f.payload_type) == audio_pt => {
                    len = f.payload.len().min(MAX_SPF);
                    sh.rx[..len].copy_from_slice(&f.payload[..len]);
                }
                Pulled::Frame(_) => continue,
                Pulled::Missing { .. } => {}
            }
            let payload = (len > 0).then(|| &sh.rx[..len]);
            if r.push_frame(&sh.rec_q, law, payload, spf).is_some() {
                break;
            }
        }
    }

    /// Ends the recording without flushing (its `max_seconds` is exactly reached).
    pub(super) fn end_record_now(
        &mut self,
        error: Option<String>,
        finish_key: Option<char>,
        io: Io,
        sh: &mut Shared,
    ) {
        if let Some(r) = self.rec.take() {
            self.stats.record_overruns += r.overruns;
            sh.end_recording(r.start.rec);
            io.emit(WorkerEvent::RecordEnded {
                rec: r.start.rec,
                event: MediaEvent::RecordCompleted {
                    call: self.call,
                    error,
                    finish_key,
                    path: r.start.path,
                },
            });
        }
    }

    pub fn end_dtmf(&mut self, error: Option<String>, io: Io) {
        if self.dtmf_tx.take().is_some() {
            io.emit(WorkerEvent::Public(MediaEvent::SendDtmfCompleted {
                call: self.call,
                error,
            }));
        }
    }

    /// Starts a play (an active one ends first, as replaced).
    pub fn start_play(&mut self, play: Play, io: Io) {
        self.end_play(Some("replaced by a new play".into()), None, io);
        self.sender.start_talkspurt();
        self.play = Some(play);
        // A conference member's frames are the conference's: its own play cannot run
        // (one that overtook the entry, loaded while the call entered, ends at once).
        if self.member.is_some() {
            self.end_play(Some(ENTERED.into()), None, io);
        }
    }

    /// The pending play `token`, if that is what is playing.
    pub fn pending_play(&mut self, token: u64) -> Option<&mut Play> {
        self.play
            .as_mut()
            .filter(|p| p.pending_token() == Some(token))
    }

    /// A pending play failed to load.
    pub fn fail_pending(&mut self, token: u64, reason: String, io: Io) {
        if self.pending_play(token).is_some() {
            self.end_play(Some(reason), None, io);
        }
    }

    /// Starts a recording (an active one ends first).
    pub fn start_record(&mut self, r: RecordStart, io: Io, sh: &mut Shared) {
        self.end_record(Some("replaced by a new recording".into()), None, io, sh);
        self.rec = Some(Recording::new(r));
        if self.member.is_some() {
            self.end_record(Some(ENTERED.into()), None, io, sh);
        }
    }

    /// Starts sending DTMF.
    pub fn send_dtmf(&mut self, keys: &str, io: Io) {
        self.end_dtmf(Some("replaced by a new send_dtmf".into()), io);
        let mode = match self.remote.as_ref().and_then(|r| r.dtmf_pt) {
            Some(pt) => DtmfMode::Rfc4733(pt),
            None => DtmfMode::Inband,
        };
        match DtmfTx::new(keys, mode) {
            Ok(_) if self.member.is_some() => {
                io.emit(WorkerEvent::Public(MediaEvent::SendDtmfCompleted {
                    call: self.call,
                    error: Some(ENTERED.into()),
                }));
            }
            Ok(tx) => self.dtmf_tx = Some(tx),
            Err(c) => io.emit(WorkerEvent::Public(MediaEvent::SendDtmfCompleted {
                call: self.call,
                error: Some(format!("invalid DTMF key {c:?}")),
            })),
        }
    }
}
