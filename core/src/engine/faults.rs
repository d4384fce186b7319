//! Faults contained at the engine's input boundary: a panic while handling one input
//! (an API request, a SIP transaction event, a media event, a timer) is caught there;
//! the call that input was about is released with an error (`dropped_by` "sys", cause
//! 500, a BYE/CANCEL/final response as its state needs), the panic is logged with the
//! call's res_id and Call-ID and counted on `/metrics`, and every other call, the engine
//! and the process carry on. An API request that panicked is answered -32603.
//!
//! Test builds (debug assertions) can inject such a fault, when the driver arms it
//! ([`Gateway::inject_faults`], from the environment): an input carrying
//! [`FAULT_MARKER`] panics in the middle of its handling. Release builds have neither
//! the switch nor the check.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use super::Gateway;

/// What a test puts in an input (a `user_data`, a SIP header value) to make its handling
/// panic, in a test build with fault injection armed.
pub const FAULT_MARKER: &str = "mediagw-test:panic";

impl Gateway {
    /// Runs `f`, an input's handling about call `serial` (if any); a panic in it is
    /// contained (see the module). `None` when it panicked.
    pub(crate) fn guarded<R>(
        &mut self,
        serial: Option<u64>,
        what: &str,
        now: Instant,
        f: impl FnOnce(&mut Gateway) -> R,
    ) -> Option<R> {
        match catch_unwind(AssertUnwindSafe(|| f(self))) {
            Ok(r) => Some(r),
            Err(payload) => {
                self.contain(serial, what, payload.as_ref(), now);
                None
            }
        }
    }

    fn contain(
        &mut self,
        serial: Option<u64>,
        what: &str,
        payload: &(dyn Any + Send),
        now: Instant,
    ) {
        self.figures.panics += 1;
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let Some((s, res_id, call_id)) = serial.and_then(|s| {
            let c = self.calls.get(&s)?;
            Some((s, c.res_id.clone(), c.leg.dialog.call_id.clone()))
        }) else {
            tracing::error!("panic while handling {what}: {msg}; no call was concerned");
            return;
        };
        tracing::error!(
            res_id,
            call_id,
            "panic while handling {what}: {msg}; the call is released with cause 500"
        );
        self.release_after_fault(s, now);
    }

    /// Hangs up a call whose handling panicked (cause 500); if even that panics, the
    /// call is removed without ceremony.
    pub(crate) fn release_after_fault(&mut self, serial: u64, now: Instant) {
        let ended = catch_unwind(AssertUnwindSafe(|| {
            // The call's state may have moved before the panic without its SIP message
            // going out: an inbound INVITE with no 2xx sent gets a final 500.
            let unanswered = self.calls.get(&serial).is_some_and(|c| {
                c.is_live()
                    && c.dir == crate::call::state::CallDirection::Inbound
                    && c.answer_time.is_none()
                    && c.leg.awaiting_ack.is_none()
            });
            if unanswered {
                self.respond_invite(serial, 500, "Server Internal Error", |_| {}, now);
                self.release(serial, "sys", 500, now);
            } else {
                self.hang_up(serial, 500, "sys", Some("internal error"), now);
            }
            self.drain_tx(now);
        }));
        // A reply the panic left unanswered (its ticket was in hand) is answered now, and
        // the events held behind it follow.
        let e = crate::api::errors::RpcError::internal(
            "internal error: the request failed; the call it named was released".to_string(),
        );
        for frame in self.replies.fail_involving(serial, &e) {
            self.flush_frame(frame);
        }
        if ended.is_err() {
            let span = self.call_span(serial);
            let _in_span = span.enter();
            tracing::error!("the call could not be hung up after a fault: removed");
            self.evict(serial);
        }
    }

    /// Removes every trace of a call whose state cannot be trusted (its port and gateway
    /// slot are freed, its media closed; no event).
    fn evict(&mut self, serial: u64) {
        let Some(c) = self.calls.remove(&serial) else {
            return;
        };
        self.by_res.remove(&c.res_id);
        if self.by_call_id.get(&c.leg.dialog.call_id) == Some(&serial) {
            self.by_call_id.remove(&c.leg.dialog.call_id);
        }
        self.by_tx.retain(|_, s| *s != serial);
        if let Some(p) = c.rtp_port {
            self.ports.release(p);
        }
        if let Some(g) = c.gateway.and_then(|g| self.gateways.get_mut(g)) {
            g.active = g.active.saturating_sub(1);
        }
        let _ = self.media.try_send(
            c.worker,
            crate::media_msg::MediaCommand::Close { call: serial },
        );
    }

    /// Arms fault injection (test builds only): inputs carrying [`FAULT_MARKER`] panic.
    #[cfg(debug_assertions)]
    pub fn inject_faults(&mut self) {
        self.faults = true;
    }

    /// Panics when fault injection is armed and `value` is [`FAULT_MARKER`] (test
    /// builds only: callers are compiled out of release builds).
    #[cfg(debug_assertions)]
    pub(crate) fn maybe_fault(&self, value: Option<&str>) {
        if self.faults && value == Some(FAULT_MARKER) {
            panic!("injected fault ({FAULT_MARKER})");
        }
    }
}
