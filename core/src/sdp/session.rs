//! Our side of one SDP session (RFC 3264 §5, §8): the `o=` line's session id
//! and version, bumped only when the SDP we send changes, and the offer we
//! have outstanding.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use super::answer::answer_offer;
use super::error::SdpError;
use super::fields::format_address;
use super::offer::{PendingOffer, build_offer, process_answer, reoffer};
use super::parse::{MediaDescription, SdpLine, SessionDescription};
use super::types::{LocalMedia, NegotiatedMedia};

/// User name in our `o=` lines.
const USERNAME: &str = "mediagw";
/// Session name in our `s=` lines.
const SESSION_NAME: &str = "mediagw";

/// The SDP state of one call.
#[derive(Debug, Clone)]
pub struct SdpSession {
    session_id: u64,
    version: u64,
    last_sent: Option<u64>,
    /// The last SDP we produced, for a refresh that offers it again unchanged.
    last_sdp: Option<SessionDescription>,
    pending: Option<PendingOffer>,
}

impl SdpSession {
    /// A session with a given id (the caller draws it, below 2^62 so any peer parses
    /// it) and first version.
    pub fn with_origin(session_id: u64, version: u64) -> Self {
        Self {
            session_id,
            version,
            last_sent: None,
            last_sdp: None,
            pending: None,
        }
    }

    /// The `o=` session id.
    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    /// The `o=` version of the last SDP produced (or of the first one to come).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Answers `offer` for `local`. On success returns the answer and the
    /// negotiated media; on failure nothing changes and the error's
    /// `sip_status()` (488, or 400 for a malformed offer) is the response.
    pub fn answer(
        &mut self,
        offer: &SessionDescription,
        local: &LocalMedia,
    ) -> Result<(SessionDescription, NegotiatedMedia), SdpError> {
        let parts = answer_offer(offer, local)?;
        let sdp = self.assemble(local, &parts.timing, parts.media);
        Ok((sdp, parts.negotiated))
    }

    /// Builds our offer (initial INVITE, re-INVITE for hold/unhold, or the
    /// offer in a 200 OK to an INVITE without SDP) and remembers it for the answer.
    pub fn offer(&mut self, local: &LocalMedia) -> SessionDescription {
        let (section, pending) = build_offer(local);
        self.pending = Some(pending);
        self.assemble(local, "0 0", vec![section])
    }

    /// The last SDP we produced, offered again unchanged with the same version (a
    /// session-refresh re-INVITE, RFC 4028 §7.4; RFC 3264 §8): its answer is read
    /// against it. None before we produced any.
    pub fn reoffer(&mut self) -> Option<SessionDescription> {
        let sdp = self.last_sdp.clone()?;
        self.pending = Some(reoffer(&sdp)?);
        Some(sdp)
    }

    /// Reads the answer to our last offer.
    pub fn accept_answer(
        &mut self,
        answer: &SessionDescription,
    ) -> Result<NegotiatedMedia, SdpError> {
        let pending = self.pending.as_ref().ok_or(SdpError::NoPendingOffer)?;
        process_answer(pending, answer)
    }

    /// Wraps media sections in our session lines; the version goes up when the
    /// content differs from the last SDP we produced.
    fn assemble(
        &mut self,
        local: &LocalMedia,
        timing: &str,
        media: Vec<MediaDescription>,
    ) -> SessionDescription {
        let address = format_address(local.addr);
        let mut hasher = DefaultHasher::new();
        address.hash(&mut hasher);
        timing.hash(&mut hasher);
        for m in &media {
            m.m_line().value.hash(&mut hasher);
            for line in m.lines() {
                line.kind.hash(&mut hasher);
                line.value.hash(&mut hasher);
            }
        }
        let fingerprint = hasher.finish();
        if self.last_sent.is_some_and(|last| last != fingerprint) {
            self.version = self.version.wrapping_add(1);
        }
        self.last_sent = Some(fingerprint);
        let session = vec![
            SdpLine::new('v', "0"),
            SdpLine::new(
                'o',
                format!("{USERNAME} {} {} {address}", self.session_id, self.version),
            ),
            SdpLine::new('s', SESSION_NAME),
            SdpLine::new('c', address),
            SdpLine::new('t', timing),
        ];
        let sdp = SessionDescription::from_parts(session, media);
        self.last_sdp = Some(sdp.clone());
        sdp
    }
}

#[cfg(test)]
mod tests {
    use super::super::samples;
    use super::super::{LocalMedia, MediaDirection, SessionDescription};
    use super::*;

    fn origin(sdp: &SessionDescription) -> Vec<String> {
        sdp.line_value('o')
            .expect("o= line")
            .split(' ')
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn version_changes_only_with_our_sdp() {
        let offer = SessionDescription::parse(samples::ASTERISK).expect("parses");
        let mut local = LocalMedia::new("192.0.2.1".parse().expect("ip"), 20000);
        let mut session = SdpSession::with_origin(555, 10);

        let (first, _) = session.answer(&offer, &local).expect("answerable");
        assert_eq!(
            origin(&first),
            ["mediagw", "555", "10", "IN", "IP4", "192.0.2.1"]
        );
        // A session refresh re-INVITE with the same offer: same answer, same version.
        let (again, _) = session.answer(&offer, &local).expect("answerable");
        assert_eq!(again, first);
        // We put the peer on hold: the answer changes, so does the version.
        local.direction = MediaDirection::SendOnly;
        let (held, media) = session.answer(&offer, &local).expect("answerable");
        assert_eq!(media.direction, MediaDirection::SendOnly);
        assert_eq!(origin(&held)[2], "11");
        // The peer holds us: the answer changes again.
        local.direction = MediaDirection::SendRecv;
        let hold_offer = SessionDescription::parse(samples::FREESWITCH_HOLD).expect("parses");
        let (answer, _) = session.answer(&hold_offer, &local).expect("answerable");
        assert_eq!(origin(&answer)[2], "12");
        assert_eq!(origin(&answer)[1], "555", "the session id never changes");
        // Unhold: the original offer again gives the first answer's content.
        let (unheld, media) = session.answer(&offer, &local).expect("answerable");
        assert_eq!(media.direction, MediaDirection::SendRecv);
        assert_eq!(origin(&unheld)[2], "13");
        assert_eq!(unheld.media(), first.media());
        // A failed negotiation leaves the version alone.
        let g729 = SessionDescription::parse(samples::G729_ONLY).expect("parses");
        assert!(session.answer(&g729, &local).is_err());
        assert_eq!(session.version(), 13);
    }

    #[test]
    fn a_refresh_reoffers_the_last_sdp_unchanged() {
        let mut session = SdpSession::with_origin(42, 7);
        assert!(session.reoffer().is_none(), "nothing sent yet");
        let offer = SessionDescription::parse_bytes(samples::SIPP_UAC.as_bytes()).unwrap();
        let local = LocalMedia::new("192.0.2.1".parse().unwrap(), 20000);
        let (answer, media) = session.answer(&offer, &local).unwrap();
        let again = session.reoffer().expect("reoffer");
        assert_eq!(
            again.to_string(),
            answer.to_string(),
            "same SDP, same version"
        );
        // The peer answers the refresh with its usual SDP: same media as before.
        let reanswer = session
            .accept_answer(&offer)
            .expect("answer to the refresh");
        assert_eq!(reanswer.codec, media.codec);
        assert_eq!(reanswer.remote_rtp, media.remote_rtp);
        assert_eq!(session.version(), 7);
    }

    #[test]
    fn offers_for_hold_and_unhold_bump_the_version() {
        let mut local = LocalMedia::new("192.0.2.1".parse().expect("ip"), 20000);
        let mut session = SdpSession::with_origin(1, 1);
        assert_eq!(origin(&session.offer(&local))[2], "1");
        assert_eq!(origin(&session.offer(&local))[2], "1");
        local.direction = MediaDirection::SendOnly;
        let hold = session.offer(&local);
        assert_eq!(origin(&hold)[2], "2");
        assert_eq!(hold.media()[0].attribute("sendonly"), Some(None));
        local.direction = MediaDirection::SendRecv;
        assert_eq!(origin(&session.offer(&local))[2], "3");
        local.port = 20002;
        assert_eq!(origin(&session.offer(&local))[2], "4");
    }
}
