//! [`PlaneSink`]: the engine's [`MediaSink`] into this media plane. Each command goes to
//! the lock-free queue of the call's worker (waking it), or, for a play, a recording, a
//! join play, or a join with a recording or a ring-back, to the file service first; a
//! full queue hands the command back at once.
//!
//! A conference's play and recording, and a member's entry with an announcement, go to
//! both: the worker learns at once that they are being prepared (so a stop or an exit
//! that follows can never overtake them), then the file service prepares them and hands
//! the result to the worker, which answers the request.

use crossbeam_channel::Sender;

use super::commands::Command;
use super::files::{FileJob, Handles, try_queue};
use crate::media_msg::Refusal;
use crate::media_msg::{MediaCommand, MediaSink};

/// Routes the engine's media commands. Cheap to clone.
#[derive(Clone)]
pub struct PlaneSink {
    pub(super) workers: Handles,
    pub(super) files: Sender<FileJob>,
}

impl PlaneSink {
    /// A conference command the file service prepares: the worker gets `first` (what is
    /// pending), then the file service the command; when the file service cannot take
    /// it after all, the worker is told so and refuses the request itself.
    fn prepare_conf(
        &mut self,
        worker: usize,
        cmd: MediaCommand,
        first: Command,
    ) -> Result<(), MediaCommand> {
        if self.files.is_full() {
            return Err(cmd);
        }
        let Some(h) = self.workers.get(worker) else {
            return Err(cmd);
        };
        if h.send(first).is_err() {
            return Err(cmd);
        }
        let (conf, call, token) = match &cmd {
            MediaCommand::ConfEnter {
                conf, call, token, ..
            } => (*conf, *call, *token),
            MediaCommand::ConfPlay { conf, token, .. }
            | MediaCommand::ConfRecord { conf, token, .. } => (*conf, *conf, *token),
            _ => unreachable!("only conference preparations come here"),
        };
        if try_queue(&self.files, FileJob::Media { worker, cmd }).is_err() {
            let refusal = Refusal::Unavailable {
                reason: "the file service is overloaded, try again".into(),
            };
            let no = Command::ConfPrepared {
                conf,
                call,
                token,
                result: Err(refusal),
            };
            if h.send(no).is_err() {
                tracing::error!(conf, call, "a conference request is left unanswered");
            }
        }
        Ok(())
    }
}

impl MediaSink for PlaneSink {
    fn try_send(&mut self, worker: usize, cmd: MediaCommand) -> Result<(), MediaCommand> {
        let first = match &cmd {
            MediaCommand::ConfEnter {
                conf,
                call,
                token,
                mode,
                volume_db,
                announce: Some(_),
            } => Some(Command::ConfEnter {
                conf: *conf,
                call: *call,
                token: *token,
                mode: *mode,
                volume_db: *volume_db,
                announce: true,
            }),
            MediaCommand::ConfPlay { conf, token, .. } => Some(Command::ConfPending {
                conf: *conf,
                token: *token,
                record: false,
            }),
            MediaCommand::ConfRecord { conf, token, .. } => Some(Command::ConfPending {
                conf: *conf,
                token: *token,
                record: true,
            }),
            _ => None,
        };
        if let Some(first) = first {
            return self.prepare_conf(worker, cmd, first);
        }
        let prepare = match &cmd {
            MediaCommand::Play { .. }
            | MediaCommand::Record { .. }
            | MediaCommand::JoinPlay { .. } => true,
            MediaCommand::Join { spec, .. } => spec.record.is_some() || spec.ringback.is_some(),
            _ => false,
        };
        if prepare {
            return try_queue(&self.files, FileJob::Media { worker, cmd }).map_err(|j| match j {
                FileJob::Media { cmd, .. } => cmd,
                FileJob::Stop => unreachable!("we queued a media job"),
            });
        }
        let Some(h) = self.workers.get(worker) else {
            return Err(cmd);
        };
        // A worker command is rebuilt from the engine's; keep the original to hand back.
        let back = cmd.clone();
        let c = match cmd {
            MediaCommand::Open { call, local } => Command::Open { call, local },
            MediaCommand::SetRemote { call, remote } => Command::SetRemote(call, remote),
            MediaCommand::Close { call } => Command::Close(call),
            MediaCommand::StopPlay { call } => Command::StopPlay(call),
            MediaCommand::StopRecord { call } => Command::StopRecord(call),
            MediaCommand::SendDtmf { call, keys } => Command::SendDtmf(call, keys),
            MediaCommand::Digit { call, digit } => Command::Digit(call, digit),
            MediaCommand::Move { call, to } => Command::Move { call, to },
            MediaCommand::Join { a, b, token, spec } => Command::Join {
                a,
                b,
                token,
                spec,
                ringback: None,
                record: None,
                announced: false,
            },
            MediaCommand::Unjoin { a } => Command::Unjoin(a),
            MediaCommand::Play { .. }
            | MediaCommand::Record { .. }
            | MediaCommand::JoinPlay { .. } => unreachable!("above"),
            MediaCommand::ConfOpen { conf } => Command::ConfOpen(conf),
            MediaCommand::ConfClose { conf } => Command::ConfClose(conf),
            MediaCommand::ConfEnter {
                conf,
                call,
                token,
                mode,
                volume_db,
                announce: None,
            } => Command::ConfEnter {
                conf,
                call,
                token,
                mode,
                volume_db,
                announce: false,
            },
            MediaCommand::ConfExit { conf, call } => Command::ConfExit { conf, call },
            MediaCommand::ConfMode { conf, call, mode } => Command::ConfMode { conf, call, mode },
            MediaCommand::ConfStopPlay { conf } => Command::ConfStopPlay(conf),
            MediaCommand::ConfStopRecord { conf } => Command::ConfStopRecord(conf),
            MediaCommand::ConfEnter { .. }
            | MediaCommand::ConfPlay { .. }
            | MediaCommand::ConfRecord { .. } => unreachable!("prepared above"),
        };
        h.send(c).map_err(|_| back)
    }
}
