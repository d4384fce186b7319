//! A new configuration while running (SIGHUP): the keys that can change under live calls
//! take effect at once — `[[gateways]]` (each gateway keeps its count of live calls, and
//! a call through a gateway that is gone simply stops counting), `sip.allow`,
//! `sip.deny_action`, `sip.max_calls`, `sip.max_invites_per_second_per_source` and
//! `sip.drain_seconds`; no call is touched. The other keys (addresses, ports, roots,
//! timers, the token, records) need a restart: a change to them is reported and
//! otherwise ignored. A configuration the engine cannot use is refused whole, and the
//! running one stays.

use super::{Gateway, GatewaySlot};
use crate::config::Config;

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// The reloadable keys whose value changed.
    pub changed: Vec<&'static str>,
    /// Sections with changes that wait for a restart.
    pub need_restart: Vec<&'static str>,
}

impl Gateway {
    /// Applies `new` (already validated by the driver); `Err` (nothing changed) when it
    /// cannot be used.
    pub fn reload(&mut self, new: &Config) -> Result<Reloaded, String> {
        new.validate().map_err(|e| e.to_string())?;
        let mut slots = Vec::new();
        for g in &new.gateways {
            let (host, port) = crate::sip::split_host_port(&g.address)
                .ok_or_else(|| format!("gateways.address {:?} is not HOST[:PORT]", g.address))?;
            slots.push(GatewaySlot {
                host: host.to_ascii_lowercase(),
                port,
                max_concurrent: g.max_concurrent,
                active: 0,
            });
        }
        let old = &self.cfg;
        let mut changed = Vec::new();
        let mut note = |key, differs: bool| {
            if differs {
                changed.push(key);
            }
        };
        note("gateways", old.gateways != new.gateways);
        note("sip.allow", old.sip.allow != new.sip.allow);
        note(
            "sip.deny_action",
            old.sip.deny_action != new.sip.deny_action,
        );
        note("sip.max_calls", old.sip.max_calls != new.sip.max_calls);
        note(
            "sip.max_invites_per_second_per_source",
            old.sip.max_invites_per_second_per_source != new.sip.max_invites_per_second_per_source,
        );
        note(
            "sip.drain_seconds",
            old.sip.drain_seconds != new.sip.drain_seconds,
        );
        // What is left once the reloadable keys are taken over must be unchanged.
        let mut rest = new.clone();
        rest.gateways = old.gateways.clone();
        rest.sip.allow = old.sip.allow.clone();
        rest.sip.deny_action = old.sip.deny_action;
        rest.sip.max_calls = old.sip.max_calls;
        rest.sip.max_invites_per_second_per_source = old.sip.max_invites_per_second_per_source;
        rest.sip.drain_seconds = old.sip.drain_seconds;
        let mut need_restart = Vec::new();
        if rest.sip != old.sip {
            need_restart.push("sip");
        }
        if rest.api != old.api {
            need_restart.push("api");
        }
        if rest.media != old.media {
            need_restart.push("media");
        }
        if rest.cdr != old.cdr {
            need_restart.push("cdr");
        }
        // Live calls keep their gateway by address, and its count moves with them.
        let addresses: Vec<(String, u16)> = self
            .gateways
            .iter()
            .map(|g| (g.host.clone(), g.port))
            .collect();
        for c in self.calls.values_mut() {
            let Some(i) = c.gateway else { continue };
            let (host, port) = &addresses[i];
            c.gateway = slots
                .iter()
                .position(|s| &s.host == host && s.port == *port);
            if let Some(j) = c.gateway {
                slots[j].active += 1;
            }
        }
        self.gateways = slots;
        self.cfg.gateways = new.gateways.clone();
        self.cfg.sip.allow = new.sip.allow.clone();
        self.cfg.sip.deny_action = new.sip.deny_action;
        self.cfg.sip.max_calls = new.sip.max_calls;
        self.cfg.sip.max_invites_per_second_per_source = new.sip.max_invites_per_second_per_source;
        self.cfg.sip.drain_seconds = new.sip.drain_seconds;
        self.pike
            .set_rate(new.sip.max_invites_per_second_per_source);
        Ok(Reloaded {
            changed,
            need_restart,
        })
    }
}
