//! RFC 4028 session timers, sans-IO: parsing and writing `Session-Expires` and `Min-SE`,
//! the negotiation a UAS does on a request (422 when the interval is too small, the
//! interval and refresher it answers), what a UAC learns from a 2xx, and when the
//! refresher refreshes (half the interval) and when the other side gives up (§10: the
//! interval minus a third, at most 32 s, before expiry).
//!
//! Roles are per transaction: `refresher=uac` names the side that sent the request the
//! header travels on, so a refresh we send carries `refresher=uac` when we keep the job.

use std::fmt;
use std::time::Duration;

use super::message::Message;

/// RFC 4028's lowest allowed interval (§4, §5).
pub const ABSOLUTE_MIN_SE: u32 = 90;

/// Which side of the transaction refreshes the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    Uac,
    Uas,
}

/// A `Session-Expires` value: `1800;refresher=uas`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpires {
    pub interval: u32,
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    /// Parses a Session-Expires value; an unknown refresher value is ignored (absent).
    pub fn parse(value: &str) -> Option<SessionExpires> {
        let mut parts = value.split(';');
        let interval: u32 = parts.next()?.trim().parse().ok()?;
        let mut refresher = None;
        for p in parts {
            if let Some((k, v)) = p.split_once('=')
                && k.trim().eq_ignore_ascii_case("refresher")
            {
                refresher = match v.trim().to_ascii_lowercase().as_str() {
                    "uac" => Some(Refresher::Uac),
                    "uas" => Some(Refresher::Uas),
                    _ => None,
                };
            }
        }
        Some(SessionExpires {
            interval,
            refresher,
        })
    }

    /// The Session-Expires of a message, if it has a valid one.
    pub fn of(msg: &Message) -> Option<SessionExpires> {
        msg.header("Session-Expires")
            .and_then(SessionExpires::parse)
    }
}

impl fmt::Display for SessionExpires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.interval)?;
        match self.refresher {
            Some(Refresher::Uac) => f.write_str(";refresher=uac"),
            Some(Refresher::Uas) => f.write_str(";refresher=uas"),
            None => Ok(()),
        }
    }
}

/// The `Min-SE` of a message (delta-seconds, parameters ignored).
pub fn min_se_of(msg: &Message) -> Option<u32> {
    msg.header("Min-SE")?.split(';').next()?.trim().parse().ok()
}

/// Our side of session timers (`sip.session_expires`, `sip.min_se`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerPolicy {
    /// The interval we ask for, and the largest we accept without shortening (0: we never
    /// ask for session timers ourselves, but still honour a peer's).
    pub session_expires: u32,
    /// The smallest interval we accept (at least [`ABSOLUTE_MIN_SE`]).
    pub min_se: u32,
}

impl Default for TimerPolicy {
    fn default() -> Self {
        Self {
            session_expires: 1800,
            min_se: ABSOLUTE_MIN_SE,
        }
    }
}

/// A session timer in force, as one side of the dialog sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimer {
    /// The session interval.
    pub interval: u32,
    /// We send the refreshes (else the peer does, and we end the session if it stops).
    pub we_refresh: bool,
}

impl SessionTimer {
    /// When the refresher sends its refresh: half the interval after the last one (§7.4).
    pub fn refresh_after(&self) -> Duration {
        Duration::from_secs(u64::from(self.interval) / 2)
    }

    /// When the side that does not refresh gives up and ends the session (§10): the
    /// interval minus a third of it or 32 s, whichever is less. The refresher itself
    /// gives up at the same point when none of its refreshes succeeded.
    pub fn expire_after(&self) -> Duration {
        let i = u64::from(self.interval);
        Duration::from_secs(i - (i / 3).min(32))
    }
}

/// What a UAS answers to a request (an INVITE, a re-INVITE or an UPDATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UasDecision {
    /// No session timer on this request (none asked for, and the UAC cannot do one).
    None,
    /// Refuse with 422 and this `Min-SE`.
    TooSmall { min_se: u32 },
    /// Accept: put `header` in the 2xx (and `Require: timer` when `require_timer`).
    Accept {
        header: SessionExpires,
        require_timer: bool,
        timer: SessionTimer,
    },
}

/// §9: the UAS side of a request. A Session-Expires below our Min-SE is refused (422).
/// An accepted interval is the request's, shortened to our own preference when that is
/// smaller (never below the request's Min-SE nor ours). The refresher is the request's
/// choice, else the UAC when it supports timers, else us. A request without
/// Session-Expires from a UAC that supports timers gets our interval with the UAC as
/// refresher; from one that does not, no timer.
pub fn uas_decide(req: &Message, policy: TimerPolicy) -> UasDecision {
    let uac_supports = req
        .option_tags("Supported")
        .iter()
        .chain(req.option_tags("Require").iter())
        .any(|t| t.eq_ignore_ascii_case("timer"));
    let ours_min = policy.min_se.max(ABSOLUTE_MIN_SE);
    let (interval, refresher) = match SessionExpires::of(req) {
        Some(se) => {
            if se.interval < ours_min {
                return UasDecision::TooSmall { min_se: ours_min };
            }
            let floor = ours_min.max(min_se_of(req).unwrap_or(0));
            let interval = if policy.session_expires >= floor {
                se.interval.min(policy.session_expires)
            } else {
                se.interval
            };
            let refresher = se.refresher.unwrap_or(if uac_supports {
                Refresher::Uac
            } else {
                Refresher::Uas
            });
            (interval, refresher)
        }
        None if uac_supports && policy.session_expires > 0 => {
            (policy.session_expires.max(ours_min), Refresher::Uac)
        }
        None => return UasDecision::None,
    };
    // A UAC that does not support timers cannot refresh.
    let refresher = if uac_supports {
        refresher
    } else {
        Refresher::Uas
    };
    UasDecision::Accept {
        header: SessionExpires {
            interval,
            refresher: Some(refresher),
        },
        require_timer: uac_supports,
        timer: SessionTimer {
            interval,
            we_refresh: refresher == Refresher::Uas,
        },
    }
}

/// §7.2: what the UAC of a request learns from its 2xx. No Session-Expires: no timer.
/// `refresher=uac` (or none) makes us the refresher.
pub fn uac_learn(resp: &Message) -> Option<SessionTimer> {
    let se = SessionExpires::of(resp)?;
    Some(SessionTimer {
        interval: se.interval,
        we_refresh: se.refresher != Some(Refresher::Uas),
    })
}

/// The Session-Expires and Min-SE headers a UAC puts on a request: on an initial INVITE
/// our preference, on a refresh the interval in force with us as refresher.
pub fn uac_headers(
    interval: u32,
    refresher: Option<Refresher>,
    min_se: u32,
) -> [(&'static str, String); 2] {
    [
        (
            "Session-Expires",
            SessionExpires {
                interval,
                refresher,
            }
            .to_string(),
        ),
        ("Min-SE", min_se.max(ABSOLUTE_MIN_SE).to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(extra: &str) -> Message {
        let text = format!(
            "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        Message::parse(text.as_bytes()).expect("parses")
    }

    fn accept(d: UasDecision) -> (SessionExpires, bool, SessionTimer) {
        match d {
            UasDecision::Accept {
                header,
                require_timer,
                timer,
            } => (header, require_timer, timer),
            other => panic!("expected Accept, got {other:?}"),
        }
    }

    #[test]
    fn parse_and_print() {
        let se = SessionExpires::parse("1800 ; Refresher=UAS").unwrap();
        assert_eq!(se.interval, 1800);
        assert_eq!(se.refresher, Some(Refresher::Uas));
        assert_eq!(se.to_string(), "1800;refresher=uas");
        assert_eq!(SessionExpires::parse("90;x=1").unwrap().refresher, None);
        assert!(SessionExpires::parse("soon").is_none());
        let m = req("x: 120;refresher=uac\r\nMin-SE: 100\r\n");
        assert_eq!(SessionExpires::of(&m).unwrap().interval, 120, "compact x");
        assert_eq!(min_se_of(&m), Some(100));
    }

    #[test]
    fn too_small_gets_422_with_our_min_se() {
        let p = TimerPolicy {
            session_expires: 1800,
            min_se: 120,
        };
        assert_eq!(
            uas_decide(&req("Session-Expires: 90\r\nSupported: timer\r\n"), p),
            UasDecision::TooSmall { min_se: 120 }
        );
        // Our Min-SE never goes below the RFC's 90.
        let p = TimerPolicy {
            session_expires: 1800,
            min_se: 30,
        };
        assert_eq!(
            uas_decide(&req("Session-Expires: 60\r\n"), p),
            UasDecision::TooSmall { min_se: 90 }
        );
    }

    #[test]
    fn request_refresher_is_kept() {
        let p = TimerPolicy::default();
        let (h, req_t, t) = accept(uas_decide(
            &req("Session-Expires: 600;refresher=uas\r\nSupported: timer\r\n"),
            p,
        ));
        assert_eq!(h.to_string(), "600;refresher=uas");
        assert!(req_t);
        assert!(t.we_refresh);
        let (h, _, t) = accept(uas_decide(
            &req("Session-Expires: 600;refresher=uac\r\nSupported: timer\r\n"),
            p,
        ));
        assert_eq!(h.refresher, Some(Refresher::Uac));
        assert!(!t.we_refresh);
    }

    #[test]
    fn absent_refresher_goes_to_a_supporting_uac() {
        let (h, req_t, t) = accept(uas_decide(
            &req("Session-Expires: 300\r\nSupported: 100rel, timer\r\n"),
            TimerPolicy::default(),
        ));
        assert_eq!(h.to_string(), "300;refresher=uac");
        assert!(req_t && !t.we_refresh);
    }

    #[test]
    fn a_proxy_inserted_timer_for_a_plain_uac_is_ours_to_refresh() {
        let (h, req_t, t) = accept(uas_decide(
            &req("Session-Expires: 300;refresher=uac\r\n"),
            TimerPolicy::default(),
        ));
        assert_eq!(h.to_string(), "300;refresher=uas");
        assert!(
            !req_t,
            "no Require: timer towards a UAC without timer support"
        );
        assert!(t.we_refresh);
    }

    #[test]
    fn interval_shortened_to_ours_but_not_below_the_requests_min_se() {
        let p = TimerPolicy {
            session_expires: 600,
            min_se: 90,
        };
        let (h, _, _) = accept(uas_decide(
            &req("Session-Expires: 3600\r\nSupported: timer\r\n"),
            p,
        ));
        assert_eq!(h.interval, 600);
        let (h, _, _) = accept(uas_decide(
            &req("Session-Expires: 3600\r\nMin-SE: 1000\r\nSupported: timer\r\n"),
            p,
        ));
        assert_eq!(h.interval, 3600, "the request's Min-SE forbids shortening");
    }

    #[test]
    fn no_session_expires() {
        assert_eq!(
            uas_decide(&req(""), TimerPolicy::default()),
            UasDecision::None
        );
        let (h, req_t, t) = accept(uas_decide(
            &req("Supported: timer\r\n"),
            TimerPolicy::default(),
        ));
        assert_eq!(h.to_string(), "1800;refresher=uac");
        assert!(req_t && !t.we_refresh);
        let off = TimerPolicy {
            session_expires: 0,
            min_se: 90,
        };
        assert_eq!(
            uas_decide(&req("Supported: timer\r\n"), off),
            UasDecision::None
        );
    }

    #[test]
    fn uac_side_and_deadlines() {
        let resp = |se: &str| {
            let text = format!(
                "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n{se}Content-Length: 0\r\n\r\n"
            );
            Message::parse(text.as_bytes()).expect("parses")
        };
        assert_eq!(uac_learn(&resp("")), None);
        let t = uac_learn(&resp("Session-Expires: 90;refresher=uac\r\n")).unwrap();
        assert!(t.we_refresh);
        assert_eq!(t.refresh_after(), Duration::from_secs(45));
        assert_eq!(t.expire_after(), Duration::from_secs(60));
        let t = uac_learn(&resp("Session-Expires: 1800;refresher=uas\r\n")).unwrap();
        assert!(!t.we_refresh);
        assert_eq!(t.expire_after(), Duration::from_secs(1768));
        let h = uac_headers(1800, Some(Refresher::Uac), 60);
        assert_eq!(h[0].1, "1800;refresher=uac");
        assert_eq!(h[1].1, "90");
    }
}
