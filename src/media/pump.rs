//! The event pump: one thread forwarding what the workers and the file service report
//! to the control plane, in order, holding a `RecordCompleted` or a recorded join's
//! `JoinEnded` (and everything after it) until the writer thread has finalized that
//! file, so a client told a recording ended can open a complete file.

use std::collections::HashMap;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::commands::{MediaEvent, WorkerEvent};
use super::record::{self, Finalized};

/// How long the pump waits for the writer to finalize a recording.
const FINALIZE_PATIENCE: Duration = Duration::from_secs(30);

/// Forwards events until every sender is gone.
pub fn pump(rx: &Receiver<WorkerEvent>, done: &Receiver<Finalized>, tx: &Sender<MediaEvent>) {
    let mut seen = HashMap::new();
    for ev in rx.iter() {
        let ev = match ev {
            WorkerEvent::Public(e) => e,
            WorkerEvent::RecordEnded { rec, mut event } => {
                let err = record::wait_finalized(rec, done, &mut seen, FINALIZE_PATIENCE);
                if let (
                    Some(e),
                    MediaEvent::RecordCompleted { error, .. } | MediaEvent::JoinEnded { error, .. },
                ) = (err, &mut event)
                    && error.is_none()
                {
                    *error = Some(e);
                }
                event
            }
        };
        let _ = tx.send(ev);
    }
}
