#!/usr/bin/env python3
"""Writes the seed corpus under fuzz/corpus/<target>/ from the repository's real inputs
(RFC 4475 messages, the SDP samples of src/sdp/samples.rs) and hand-written SIPp-like
messages, RTP/RTCP packets and API requests. Run it again after changing a seed; afl's
own finds are never written here (they stay in fuzz/out/, see README.md)."""

import json
import os
import re
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")
SEP = b"\n%%\n"  # crate::split::SEPARATOR
INVITE_BRANCH = "z9hG4bKfuzzinvite"  # sip_transaction::INVITE_BRANCH
BYE_BRANCH = "z9hG4bKfuzzbye"


def crlf(text):
    return text.strip("\n").replace("\n", "\r\n").encode() + b"\r\n"


def sip(start, headers, body=b""):
    head = start + "\n" + "\n".join(headers) + "\n"
    head += "Content-Length: %d\n\n" % len(body)
    return head.replace("\n", "\r\n").encode() + body


def sdp_samples():
    src = open(os.path.join(ROOT, "src/sdp/samples.rs")).read()
    out = {}
    for name, lit in re.findall(r'pub const (\w+): &str = "(.*?)";', src, re.S):
        out[name.lower()] = lit.replace("\\r", "\r").encode()
    return out


SDP = sdp_samples()
OFFER = SDP["sipp_uac"]
PCMA_DTMF = crlf("""
v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 40000 RTP/AVP 8 101
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
""")


def invite(branch="z9hG4bK-sipp-1", call_id="1-4242@127.0.0.1", body=OFFER, extra=()):
    return sip(
        "INVITE sip:service@127.0.0.1:5060 SIP/2.0",
        [
            "Via: SIP/2.0/UDP 127.0.0.1:5099;branch=%s;rport" % branch,
            "From: sipp <sip:sipp@127.0.0.1:5099>;tag=4242SIPpTag001",
            "To: service <sip:service@127.0.0.1:5060>",
            "Call-ID: %s" % call_id,
            "CSeq: 1 INVITE",
            "Contact: sip:sipp@127.0.0.1:5099",
            "Max-Forwards: 70",
            "Subject: Performance Test",
            *extra,
        ]
        + (["Content-Type: application/sdp"] if body else []),
        body,
    )


def in_dialog(method, cseq, branch, to_tag="$tag", call_id="1-4242@127.0.0.1", ctype=None, body=b""):
    headers = [
        "Via: SIP/2.0/UDP 127.0.0.1:5099;branch=%s;rport" % branch,
        "From: sipp <sip:sipp@127.0.0.1:5099>;tag=4242SIPpTag001",
        "To: service <sip:service@127.0.0.1:5060>;tag=%s" % to_tag,
        "Call-ID: %s" % call_id,
        "CSeq: %d %s" % (cseq, method),
        "Contact: sip:sipp@127.0.0.1:5099",
        "Max-Forwards: 70",
    ]
    if ctype:
        headers.append("Content-Type: " + ctype)
    return sip("%s sip:mediagw@127.0.0.1:5060 SIP/2.0" % method, headers, body)


def response_to_ours(status, reason, branch, method, cseq, to_tag="peer1", body=b""):
    headers = [
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=%s;rport=5060;received=192.0.2.1" % branch,
        "From: <sip:gw@192.0.2.1>;tag=fuzzfrom",
        "To: <sip:peer@192.0.2.7>" + (";tag=%s" % to_tag if status > 100 else ""),
        "Call-ID: fuzz-call@192.0.2.1",
        "CSeq: %d %s" % (cseq, method),
        "Contact: <sip:peer@192.0.2.7:5060>",
    ]
    if body:
        headers.append("Content-Type: application/sdp")
    return sip("SIP/2.0 %d %s" % (status, reason), headers, body)


OPTIONS = sip(
    "OPTIONS sip:mediagw@127.0.0.1:5060 SIP/2.0",
    [
        "Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-opt-1",
        "From: <sip:probe@127.0.0.1>;tag=opt1",
        "To: <sip:mediagw@127.0.0.1>",
        "Call-ID: options-1@127.0.0.1",
        "CSeq: 1 OPTIONS",
        "Max-Forwards: 70",
        "Accept: application/sdp",
    ],
)
REGISTER = sip(
    "REGISTER sip:127.0.0.1 SIP/2.0",
    [
        "Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-reg-1",
        "From: <sip:1001@127.0.0.1>;tag=reg1",
        "To: <sip:1001@127.0.0.1>",
        "Call-ID: reg-1@127.0.0.1",
        "CSeq: 1 REGISTER",
        "Contact: <sip:1001@127.0.0.1:5099>;expires=3600",
        "Max-Forwards: 70",
        "Expires: 3600",
    ],
)
CANCEL = sip(
    "CANCEL sip:service@127.0.0.1:5060 SIP/2.0",
    [
        "Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-sipp-1;rport",
        "From: sipp <sip:sipp@127.0.0.1:5099>;tag=4242SIPpTag001",
        "To: service <sip:service@127.0.0.1:5060>",
        "Call-ID: 1-4242@127.0.0.1",
        "CSeq: 1 CANCEL",
        "Max-Forwards: 70",
    ],
)
MULTIPART_BODY = (
    b"--b1\r\nContent-Type: application/sdp\r\n\r\n" + OFFER
    + b"\r\n--b1\r\nContent-Type: application/isup; version=itu-t92+\r\n\r\n\x01\x00\x49\x00\r\n--b1--\r\n"
)
MULTIPART = invite(
    branch="z9hG4bK-mp-1",
    body=b"",
    extra=["Content-Type: multipart/mixed;boundary=b1", "MIME-Version: 1.0"],
)[: -len(b"Content-Length: 0\r\n\r\n")] + b"Content-Length: %d\r\n\r\n" % len(MULTIPART_BODY) + MULTIPART_BODY
COMPACT = crlf("""
INVITE sip:95588@127.0.0.1 SIP/2.0
v: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKcompact
f: <sip:1001@127.0.0.1>;tag=c1
t: <sip:95588@127.0.0.1>
i: compact-1
CSeq: 1 INVITE
m: <sip:1001@127.0.0.1:5099>
Max-Forwards: 70
k: timer, 100rel
l: 0
""") + b"\r\n"
DTMF_INFO_BODY = b"Signal=5\r\nDuration=160\r\n"
DTMF_INFO = in_dialog("INFO", 2, "z9hG4bK-info-1", ctype="application/dtmf-relay", body=DTMF_INFO_BODY)


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def rtp(seq, ts, pt=0, payload=b"\xff" * 160, marker=False, ssrc=0x11223344, csrc=(), ext=None, pad=0):
    b0 = 0x80 | len(csrc) | (0x10 if ext is not None else 0) | (0x20 if pad else 0)
    b1 = pt | (0x80 if marker else 0)
    out = struct.pack("!BBHII", b0, b1, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
    for c in csrc:
        out += struct.pack("!I", c)
    if ext is not None:
        out += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
    out += payload
    if pad:
        out += b"\x00" * (pad - 1) + bytes([pad])
    return out


def framed(packets):
    return b"".join(struct.pack("!H", len(p)) + p for p in packets)


def event(code, end, volume, duration):
    return struct.pack("!BBH", code, (0x80 if end else 0) | volume, duration)


def rtcp_sr(ssrc, blocks=1):
    body = struct.pack("!IQIII", ssrc, 0xE8F0A1B2C3D4E5F6, 160000, 1000, 160000)
    for i in range(blocks):
        body += struct.pack("!IBBHIIII", 0x55667788 + i, 12, 0, 3, 0x10064, 37, 0xA1B2C3D4, 6554)
    return struct.pack("!BBH", 0x80 | blocks, 200, len(body) // 4) + body


def rtcp_rr(ssrc, blocks=1):
    body = struct.pack("!I", ssrc)
    for i in range(blocks):
        body += struct.pack("!IBBHIIII", 0x11223344 + i, 0, 0xFF, 0xFFFF, 0x2000A, 12, 0, 0)
    return struct.pack("!BBH", 0x80 | blocks, 201, len(body) // 4) + body


def rtcp_sdes(ssrc, cname):
    chunk = struct.pack("!I", ssrc) + bytes([1, len(cname)]) + cname + b"\x00"
    chunk += b"\x00" * (-len(chunk) % 4)
    return struct.pack("!BBH", 0x81, 202, len(chunk) // 4) + chunk


def rtcp_bye(sources, reason=None):
    body = b"".join(struct.pack("!I", s) for s in sources)
    if reason is not None:
        r = bytes([len(reason)]) + reason
        body += r + b"\x00" * (-len(r) % 4)
    return struct.pack("!BBH", 0x80 | len(sources), 203, len(body) // 4) + body


def rpc(method, params, id_=1):
    req = {"jsonrpc": "2.0", "method": method}
    if id_ is not None:
        req["id"] = id_
    if params is not None:
        req["params"] = params
    return json.dumps(req).encode()


def main():
    if os.path.isdir(CORPUS):
        shutil.rmtree(CORPUS)
    os.makedirs(CORPUS)
    with open(os.path.join(CORPUS, ".gitattributes"), "w") as f:
        f.write("* -text\n")

    # sip_parse: RFC 4475 and what SIPp, Kamailio and our own tests send.
    rfc = os.path.join(ROOT, "tests/data/rfc4475")
    for name in sorted(os.listdir(rfc)):
        if name.endswith(".dat"):
            write("sip_parse", "rfc4475_" + name, open(os.path.join(rfc, name), "rb").read())
    for name, data in [
        ("sipp_invite.sip", invite()),
        ("invite_no_sdp.sip", invite(body=b"")),
        ("invite_multipart.sip", MULTIPART),
        ("invite_compact.sip", COMPACT),
        ("options.sip", OPTIONS),
        ("register.sip", REGISTER),
        ("cancel.sip", CANCEL),
        ("bye.sip", in_dialog("BYE", 2, "z9hG4bK-bye-1", to_tag="gw1")),
        ("info_dtmf.sip", DTMF_INFO.replace(b"$tag", b"gw1")),
        ("ringing.sip", response_to_ours(180, "Ringing", INVITE_BRANCH, "INVITE", 1)),
        ("ok_sdp.sip", response_to_ours(200, "OK", INVITE_BRANCH, "INVITE", 1, body=PCMA_DTMF)),
        ("keepalive.sip", b"\r\n\r\n"),
    ]:
        write("sip_parse", name, data)

    # sip_transaction: dialogues with the layer (separator between datagrams).
    ack = in_dialog("ACK", 1, "z9hG4bK-ack-1", to_tag="fuzztag")
    for name, msgs in [
        ("invite_ack.txt", [invite(), ack]),
        ("invite_retransmit.txt", [invite(), invite(), ack, ack]),
        ("invite_busy_ack.txt", [invite(body=b""), in_dialog("ACK", 1, "z9hG4bK-sipp-1", to_tag="fuzztag")]),
        ("invite_cancel.txt", [invite(body=b""), CANCEL]),
        ("options_register.txt", [OPTIONS, REGISTER, OPTIONS]),
        ("our_invite_answered.txt", [
            response_to_ours(100, "Trying", INVITE_BRANCH, "INVITE", 1),
            response_to_ours(180, "Ringing", INVITE_BRANCH, "INVITE", 1),
            response_to_ours(200, "OK", INVITE_BRANCH, "INVITE", 1, body=PCMA_DTMF),
            response_to_ours(200, "OK", INVITE_BRANCH, "INVITE", 1, body=PCMA_DTMF),
        ]),
        ("our_invite_cancelled.txt", [
            response_to_ours(180, "Ringing", INVITE_BRANCH, "INVITE", 1),
            response_to_ours(180, "Ringing", INVITE_BRANCH, "INVITE", 1),
            response_to_ours(180, "Ringing", INVITE_BRANCH, "INVITE", 1),
            response_to_ours(200, "OK", INVITE_BRANCH, "CANCEL", 1),
            response_to_ours(487, "Request Terminated", INVITE_BRANCH, "INVITE", 1),
        ]),
        ("our_invite_refused_bye_ok.txt", [
            response_to_ours(486, "Busy Here", INVITE_BRANCH, "INVITE", 1),
            response_to_ours(200, "OK", BYE_BRANCH, "BYE", 2),
        ]),
        ("garbage_then_bye.txt", [b"NOT SIP AT ALL\r\n\r\n", in_dialog("BYE", 2, "z9hG4bK-bye-1", to_tag="x")]),
    ]:
        write("sip_transaction", name, SEP.join(msgs))
    for name in ["wsinv.dat", "badvers.dat", "badbranch.dat", "escnull.dat", "mpart01.dat"]:
        write("sip_transaction", "rfc4475_" + name, open(os.path.join(rfc, name), "rb").read())

    # sdp: the samples of src/sdp/samples.rs and a few edge cases.
    for name, data in SDP.items():
        if name != "all":
            write("sdp", name + ".sdp", data)
    write("sdp", "pcma_dtmf.sdp", PCMA_DTMF)
    write("sdp", "rtcp_mux_ptime10.sdp", crlf("""
v=0
o=- 2 2 IN IP6 2001:db8::5
s=-
t=0 0
m=audio 5004 RTP/AVP 0 8 13 101
c=IN IP6 2001:db8::5
a=rtpmap:13 CN/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15,16
a=rtcp-mux
a=rtcp:5005 IN IP6 2001:db8::5
a=ptime:10
a=maxptime:20
a=recvonly
"""))

    # rtp: streams of length-prefixed packets.
    write("rtp", "in_order.bin", framed([rtp(100 + i, 160 * i, marker=i == 0) for i in range(8)]))
    write("rtp", "reordered_lost_dup.bin", framed([rtp(s, 160 * s, pt=8) for s in [1, 2, 4, 3, 3, 7, 6, 9, 8]]))
    write("rtp", "wrap_restart.bin", framed([rtp(s, 160 * s) for s in [65533, 65534, 65535, 0, 1, 30000, 30001, 30002]]))
    write("rtp", "csrc_ext_padding.bin", framed([
        rtp(1, 0, csrc=(1, 2, 3), payload=b"\xd5" * 80),
        rtp(2, 160, ext=b"\x10\xab\x00\x00", payload=b"\xd5" * 80),
        rtp(3, 320, pad=4, payload=b"\xd5" * 80),
        rtp(4, 480, pt=13, payload=b"\x40"),
    ]))
    write("rtp", "far_ahead.bin", framed([rtp(10, 0), rtp(40, 4800), rtp(11, 160), rtp(1000, 0)]))

    # rtcp: compounds as peers send them.
    write("rtcp", "sr_sdes.bin", rtcp_sr(0x11223344) + rtcp_sdes(0x11223344, b"user@198.51.100.7"))
    write("rtcp", "rr_sdes_bye.bin", rtcp_rr(0x99887766, 2) + rtcp_sdes(0x99887766, b"x") + rtcp_bye([0x99887766], b"hangup"))
    write("rtcp", "sr_two_blocks.bin", rtcp_sr(1, 2))
    write("rtcp", "bye_no_reason.bin", rtcp_rr(5, 0) + rtcp_bye([5, 6]))
    write("rtcp", "app_xr.bin", rtcp_rr(7, 0) + struct.pack("!BBH", 0x80, 204, 2) + b"\x00\x00\x00\x07name"
          + struct.pack("!BBH", 0x80, 207, 1) + b"\x00\x00\x00\x07")
    write("rtcp", "padded_rr.bin", struct.pack("!BBH", 0xA0, 201, 2) + b"\x00\x00\x00\x09" + b"\x00\x00\x00\x04")

    # rfc4733: telephone-event streams (PT 101) as senders produce them.
    def digit(code, ts, seq0, with_marker=True, ends=3, volume=10):
        pkts = [rtp(seq0, ts, pt=101, marker=with_marker, payload=event(code, False, volume, 160))]
        pkts += [rtp(seq0 + 1 + i, ts, pt=101, payload=event(code, False, volume, 320 + 160 * i)) for i in range(3)]
        pkts += [rtp(seq0 + 4 + i, ts, pt=101, payload=event(code, True, volume, 800)) for i in range(ends)]
        return pkts
    write("rfc4733", "digit_5.bin", framed(digit(5, 16000, 1)))
    write("rfc4733", "digits_1_2_hash.bin", framed(digit(1, 8000, 1) + digit(2, 16000, 8, with_marker=False) + digit(11, 24000, 15)))
    write("rfc4733", "same_digit_twice_lost_start.bin", framed(digit(7, 8000, 1)[2:] + digit(7, 9600, 8)))
    write("rfc4733", "long_event_segments.bin", framed(
        [rtp(i + 1, 0xFFFF * (i // 2), pt=101, payload=event(9, False, 5, 0xFFFF if i % 2 else 8000)) for i in range(6)]
        + [rtp(7, 0x1FFFE, pt=101, payload=event(9, True, 5, 4000))]))
    write("rfc4733", "audio_and_events.bin", framed([rtp(1, 0), rtp(2, 160, pt=101, marker=True, payload=event(12, False, 0, 160)), rtp(3, 160, pt=101, payload=event(12, True, 0, 480)), rtp(4, 480)]))

    # jsonrpc: frames of every method, batches, and the errors of tests/api_errors.rs.
    res = "0.0.1-sys.call-42"
    requests = [
        ("sys.call.construct", {"to_uri": "sip:1001@127.0.0.1:5099", "max_answer_seconds": 60, "max_ring_seconds": 30,
                                "from_uri": "sip:95588@127.0.0.1", "user_data": "{\"k\": [1, \"x\"]}", "ring_play_file": "ring.wav"}),
        ("sys.call.construct", [None, "sip:1@127.0.0.1", 5]),
        ("sys.call.exists", {"res_id": res}),
        ("sys.call.answer", {"res_id": res, "max_answer_seconds": 600}),
        ("sys.call.reject", {"res_id": res, "cause": 486}),
        ("sys.call.drop", {"res_id": res, "cause": 603}),
        ("sys.call.redirect", {"res_id": res, "redirect_uri": "sip:2002@127.0.0.1"}),
        ("sys.call.play_start", {"res_id": res, "content": [["welcome.wav", 0, ""], ["2012-12-21", 4, ""], ["123.45", 2, ""]], "finish_keys": "#"}),
        ("sys.call.play_stop", [res]),
        ("sys.call.record_start", {"res_id": res, "max_seconds": 30, "record_file": "a/b.wav", "record_format": 3, "finish_keys": "*#"}),
        ("sys.call.record_stop", {"res_id": res}),
        ("sys.call.send_dtmf_start", {"res_id": res, "keys": "123*#ABCD"}),
        ("sys.call.receive_dtmf_start", {"res_id": res, "valid_keys": "0123456789*#", "max_keys": 4, "finish_keys": "#", "first_key_timeout": 10, "continues_keys_timeout": 3}),
        ("sys.call.stop_receive_dtmf_start", {"res_id": res}),
        ("sys.call.connect_start", {"res_id": res, "max_seconds": 60, "call_res_id": "0.0.1-sys.call-43", "connect_mode": 1}),
        ("sys.call.connect_stop", {"res_id": res}),
        ("sys.call.conf_enter", {"res_id": res, "conf_res_id": "0.0.1-sys.conf-1", "max_seconds": 60, "voice_mode": 1}),
        ("sys.call.conf_exit", {"res_id": res, "conf_res_id": "0.0.1-sys.conf-1"}),
        ("sys.conf.construct", {"max_seconds": 600, "max_parts": 3, "record_file": "conf.wav"}),
        ("sys.conf.release", {"res_id": "0.0.1-sys.conf-1"}),
        ("sys.conf.exists", ["0.0.1-sys.conf-1"]),
        ("sys.conf.play_start", {"res_id": "0.0.1-sys.conf-1", "content": [["hold.wav", 0, ""]], "repeat": 2}),
        ("sys.conf.play_stop", {"res_id": "0.0.1-sys.conf-1"}),
        ("sys.conf.record_start", {"res_id": "0.0.1-sys.conf-1", "max_seconds": 60, "record_format": 1}),
        ("sys.conf.record_stop", {"res_id": "0.0.1-sys.conf-1"}),
        ("sys.conf.set_voice_mode", {"res_id": "0.0.1-sys.conf-1", "call_res_id": res, "voice_mode": 2}),
    ]
    for i, (method, params) in enumerate(requests):
        write("jsonrpc", "%02d_%s.json" % (i, method.replace("sys.", "").replace(".", "_")), rpc(method, params, i + 1))
    for name, text in [
        ("bad_version.json", '{"jsonrpc":"1.0","id":1,"method":"sys.call.exists"}'),
        ("unknown_method.json", '{"jsonrpc":"2.0","id":"x","method":"sys.call.fly"}'),
        ("batch_mixed.json", '[{"jsonrpc":"2.0","id":1,"method":"sys.call.exists","params":{"res_id":"nope"}},{"jsonrpc":"2.0","method":"sys.call.exists","params":["nope"]},{"foo":"boo"},{"jsonrpc":"2.0","id":2,"method":"sys.call.exists","params":["nope"]}]'),
        ("empty_batch.json", "[]"),
        ("not_json.json", '{"jsonrpc":"2.0","method"'),
        ("invalid_params.json", '{"jsonrpc":"2.0","id":3,"method":"sys.call.receive_dtmf_start","params":{"res_id":"x","valid_keys":"12x"}}'),
        ("bad_content_date.json", '{"jsonrpc":"2.0","id":4,"method":"sys.call.play_start","params":{"res_id":"x","content":[["2012-13-40",4,""]]}}'),
        ("unicode_escapes.json", '{"jsonrpc":"2.0","id":5,"method":"sys.call.construct","params":{"to_uri":"sip:%C3%A9\\u0040[::1]:5060;transport=udp","max_answer_seconds":1e2,"user_data":"\\ud83d\\ude00"}}'),
    ]:
        write("jsonrpc", name, text.encode())

    # engine: an inbound call answered, a DTMF INFO, a hang-up; an outbound call answered.
    ack_engine = in_dialog("ACK", 1, "z9hG4bK-ack-e", call_id="1-4242@127.0.0.1")
    for name, msgs in [
        ("inbound_answer_bye.txt", [
            invite(), rpc("sys.call.answer", {"res_id": "$res", "max_answer_seconds": 30}), ack_engine,
            DTMF_INFO, rpc("sys.call.receive_dtmf_start", {"res_id": "$res", "max_keys": 2}),
            in_dialog("BYE", 3, "z9hG4bK-bye-e")]),
        ("inbound_reject.txt", [invite(body=b""), rpc("sys.call.reject", {"res_id": "$res", "cause": 486}),
                                in_dialog("ACK", 1, "z9hG4bK-sipp-1")]),
        ("inbound_cancel.txt", [invite(), CANCEL]),
        ("outbound_answered.txt", [
            rpc("sys.call.construct", {"to_uri": "sip:1001@127.0.0.1:5099", "max_answer_seconds": 20}),
            b"@180", b"@200\n" + PCMA_DTMF.replace(b"\r\n", b"\n"),
            rpc("sys.call.send_dtmf_start", {"res_id": "$res", "keys": "12#"}),
            rpc("sys.call.drop", {"res_id": "$res"}), b"@200"]),
        ("outbound_busy.txt", [rpc("sys.call.construct", [None, "sip:1001@127.0.0.1:5099", 5]), b"@100", b"@486"]),
        ("options_and_conf.txt", [OPTIONS, rpc("sys.conf.construct", {"max_seconds": 60}),
                                  rpc("sys.conf.release", {"res_id": "$res"}), REGISTER]),
    ]:
        write("engine", name, SEP.join(msgs))


if __name__ == "__main__":
    main()
