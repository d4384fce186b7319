//! Realistic SDP bodies for tests, typed after what these peers send (addresses
//! from the documentation ranges).

/// SIPp's built-in `uac` scenario.
pub const SIPP_UAC: &str = "v=0\r
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r
s=-\r
c=IN IP4 127.0.0.1\r
t=0 0\r
m=audio 6000 RTP/AVP 0\r
a=rtpmap:0 PCMU/8000\r
";

/// Asterisk (chan_pjsip) offering A-law first, GSM, telephone-event and maxptime.
pub const ASTERISK: &str = "v=0\r
o=- 1714387294 1714387294 IN IP4 10.0.0.5\r
s=Asterisk\r
c=IN IP4 10.0.0.5\r
t=0 0\r
m=audio 14122 RTP/AVP 8 0 3 101\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:3 GSM/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-16\r
a=ptime:20\r
a=maxptime:150\r
a=sendrecv\r
";

/// FreeSWITCH offering G.722 first, CN and an RFC 3605 a=rtcp line.
pub const FREESWITCH: &str = "v=0\r
o=FreeSWITCH 1714380000 1714380001 IN IP4 192.0.2.20\r
s=FreeSWITCH\r
c=IN IP4 192.0.2.20\r
t=0 0\r
m=audio 16384 RTP/AVP 9 0 8 101 13\r
a=rtpmap:9 G722/8000\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-16\r
a=rtpmap:13 CN/8000\r
a=ptime:20\r
a=sendrecv\r
a=rtcp:16385 IN IP4 192.0.2.21\r
";

/// FreeSWITCH putting the call on hold (re-INVITE, version bumped, sendonly).
pub const FREESWITCH_HOLD: &str = "v=0\r
o=FreeSWITCH 1714380000 1714380002 IN IP4 192.0.2.20\r
s=FreeSWITCH\r
c=IN IP4 192.0.2.20\r
t=0 0\r
m=audio 16384 RTP/AVP 0 101\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-16\r
a=ptime:20\r
a=sendonly\r
";

/// Linphone with Opus/Speex first, several telephone-event rates, and video.
pub const LINPHONE_VIDEO: &str = "v=0\r
o=alice 3456 789 IN IP4 192.168.1.33\r
s=Talk\r
c=IN IP4 192.168.1.33\r
t=0 0\r
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r
m=audio 7078 RTP/AVP 96 0 8 97 101 99 100\r
a=rtpmap:96 opus/48000/2\r
a=fmtp:96 useinbandfec=1\r
a=rtpmap:97 speex/16000\r
a=rtpmap:101 telephone-event/48000\r
a=rtpmap:99 telephone-event/16000\r
a=rtpmap:100 telephone-event/8000\r
a=rtcp-fb:* trr-int 1000\r
a=rtcp-fb:* ccm tmmbr\r
m=video 9078 RTP/AVP 96 97\r
a=rtpmap:96 VP8/90000\r
a=rtpmap:97 H264/90000\r
a=fmtp:97 profile-level-id=42801F\r
a=rtcp-fb:* ccm fir\r
";

/// baresip over IPv6 with rtcp-mux, SSRC and label attributes.
pub const BARESIP_IPV6: &str = "v=0\r
o=- 1402583939 1839587127 IN IP6 2001:db8::10\r
s=-\r
c=IN IP6 2001:db8::10\r
t=0 0\r
m=audio 10942 RTP/AVP 0 8 101\r
b=AS:64\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-15\r
a=rtcp-mux\r
a=ssrc:1234567 cname:baresip\r
a=sendrecv\r
a=label:1\r
";

/// A Cisco IOS gateway: media-level c= overriding the session one, G.729,
/// CN on the legacy payload type 19, no direction attribute.
pub const CISCO: &str = "v=0\r
o=CiscoSystemsSIP-GW-UserAgent 2163 7935 IN IP4 198.51.100.7\r
s=SIP Call\r
c=IN IP4 198.51.100.7\r
t=0 0\r
m=audio 17216 RTP/AVP 18 8 0 101 19\r
c=IN IP4 198.51.100.8\r
a=rtpmap:18 G729/8000\r
a=fmtp:18 annexb=no\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-15\r
a=rtpmap:19 CN/8000\r
a=ptime:30\r
";

/// An old Cisco-style hold: c=0.0.0.0 and no direction attribute.
pub const CISCO_LEGACY_HOLD: &str = "v=0\r
o=CiscoSystemsSIP-GW-UserAgent 2163 7936 IN IP4 198.51.100.7\r
s=SIP Call\r
c=IN IP4 0.0.0.0\r
t=0 0\r
m=audio 17216 RTP/AVP 0 101\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-15\r
";

/// A T.38-capable gateway offering an image stream before audio.
pub const IMAGE_FIRST: &str = "v=0\r
o=gw 1 1 IN IP4 203.0.113.5\r
s=-\r
c=IN IP4 203.0.113.5\r
t=0 0\r
m=image 20000 udptl t38\r
a=T38FaxVersion:0\r
m=audio 20002 RTP/AVP 8\r
a=rtpmap:8 PCMA/8000\r
a=ptime:10\r
m=audio 20004 RTP/AVP 0\r
";

/// An SRTP-only offer.
pub const SRTP_ONLY: &str = "v=0\r
o=- 5 5 IN IP4 203.0.113.9\r
s=-\r
c=IN IP4 203.0.113.9\r
t=0 0\r
m=audio 30000 RTP/SAVP 0 8\r
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r
";

/// A G.729-only offer.
pub const G729_ONLY: &str = "v=0\r
o=- 6 6 IN IP4 203.0.113.10\r
s=-\r
c=IN IP4 203.0.113.10\r
t=0 0\r
m=audio 30002 RTP/AVP 18\r
a=rtpmap:18 G729/8000\r
";

/// Every sample with its name.
pub const ALL: &[(&str, &str)] = &[
    ("sipp", SIPP_UAC),
    ("asterisk", ASTERISK),
    ("freeswitch", FREESWITCH),
    ("freeswitch hold", FREESWITCH_HOLD),
    ("linphone", LINPHONE_VIDEO),
    ("baresip", BARESIP_IPV6),
    ("cisco", CISCO),
    ("cisco legacy hold", CISCO_LEGACY_HOLD),
    ("image first", IMAGE_FIRST),
    ("srtp", SRTP_ONLY),
    ("g729", G729_ONLY),
];
