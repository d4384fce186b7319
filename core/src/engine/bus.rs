//! The NATS control bus as the engine sees it: one client connection (the bus itself
//! owns the resources it offered, constructed or was asked about), offered every inbound
//! call first, with two inputs from the IO edge: an offer nobody claimed in time (it goes
//! to a WebSocket client, or is refused with 480), and a resource whose events nobody
//! acknowledged (its orphan timer starts, as for a WebSocket owner that went away).
//! The subjects, the acknowledgements and the held events live in `src/server/nats/`.

use std::time::{Duration, Instant};

use super::clients::ConnId;
use super::{Gateway, TimerKind, events};
use crate::call::state::{CallDirection, State};

impl Gateway {
    /// The bus is connection `conn`: inbound calls are offered to it first.
    pub fn connect_bus(&mut self, conn: ConnId) {
        self.clients.connect(conn, false);
        self.bus = Some(conn);
    }

    /// The node name res_ids carry (while the bus is on).
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// No application claimed the offer of inbound call `res_id` in time: it is offered
    /// to a WebSocket client accepting calls if one is connected, else refused with 480.
    /// Nothing happens when the call has gone meanwhile or an application made a request
    /// on it (a claim that was late is still a claim).
    pub fn bus_offer_declined(&mut self, res_id: &str, now: Instant) {
        let Some(&serial) = self.by_res.get(res_id) else {
            return;
        };
        let Some(call) = self.calls.get(&serial) else {
            return;
        };
        let untouched = call.is_live()
            && call.dir == CallDirection::Inbound
            && call.state == State::Initiated
            && call.owner.is_some()
            && call.owner == self.bus
            && call.owner_generation == 0;
        if !untouched {
            return;
        }
        match self.clients.next_incoming() {
            Some(ws) => {
                let pid = self.process_id;
                let Some(call) = self.calls.get_mut(&serial) else {
                    return;
                };
                call.owner = Some(ws);
                call.owner_generation += 1;
                let params = events::on_incoming(call, pid);
                tracing::info!(
                    res_id,
                    "no application on the bus took the call: offered to WebSocket client {ws}"
                );
                self.emit(serial, "on_incoming", params);
            }
            None => {
                tracing::info!(res_id, "no application took the call: 480");
                self.hang_up(
                    serial,
                    480,
                    "sys",
                    Some("no application took the call"),
                    now,
                );
                self.drain_tx(now);
            }
        }
    }

    /// An event of `res_id` went unacknowledged on the bus: the resource counts as
    /// orphaned from now (released after `api.orphan_timeout_seconds` unless a request
    /// on it comes over the bus first).
    pub fn bus_unacked(&mut self, res_id: &str, now: Instant) {
        let Some(&serial) = self.by_res.get(res_id) else {
            return;
        };
        let owned = self
            .calls
            .get(&serial)
            .is_some_and(|c| c.is_live() && c.owner.is_some() && c.owner == self.bus);
        if owned {
            let after = Duration::from_secs(self.cfg.api.orphan_timeout_seconds);
            self.arm(serial, TimerKind::Orphan, now + after);
        }
    }

    /// The res_ids of the live calls (for the bus heartbeat).
    pub fn live_call_ids(&self) -> Vec<String> {
        self.by_res
            .iter()
            .filter(|(_, s)| self.calls.contains_key(s))
            .map(|(r, _)| r.clone())
            .collect()
    }
}
