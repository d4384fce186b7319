#!/usr/bin/env python3
"""Writes the SIPp scenarios of this directory for carrier-trunk interop (run it after
editing): calls through record-routing proxies (proxy_*), RFC 4028 session timers (st_*)
and RFC 3262 reliable provisionals (rel_*). Each file says in its header comment what it
checks. In-dialog requests are built from the route set SIPp keeps (rrs="true",
[routes], [next_url]), as a user agent behind a proxy must."""
import pathlib

HERE = pathlib.Path(__file__).parent
HDR = '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'

SDP = """      v=0
      o=user1 53655765 {version} IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 8 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=ptime:20
{extra}"""


def sdp(version=2353687637, extra=""):
    return SDP.format(version=version, extra=extra)


def invite(extra=""):
    """The caller's INVITE to the proxy (or mediagw); `extra` header lines."""
    return f"""  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Subject: mediagw test
{extra}      Content-Type: application/sdp
      Content-Length: [len]

{sdp()}
    ]]>
  </send>
"""


def checks(*pairs):
    """ereg checks on the last message: (regexp, variable) pairs, each logged."""
    out = "    <action>\n"
    for regexp, var in pairs:
        out += f'      <ereg regexp="{regexp}" search_in="msg" check_it="true" assign_to="{var}"/>\n'
        shown = " ".join(f"{v} [${v}]" for v in var.split(","))
        out += f'      <log message="{shown}"/>\n'
    return out + "    </action>\n"


def recv_200_rr(*extra_checks):
    """The 200 OK to the INVITE, keeping the route set; it must carry Record-Route."""
    pairs = [("Record-Route: [^\\r\\n]*", "rr")] + list(extra_checks)
    return ('  <recv response="100" optional="true"/>\n'
            '  <recv response="180" optional="true"/>\n'
            '  <recv response="200" rtd="true" rrs="true">\n' + checks(*pairs) + "  </recv>\n")


def req(method, cseq, extra="", body=None):
    """An in-dialog request of the caller, along the route set."""
    content = ("      Content-Length: 0\n" if body is None else
               f"      Content-Type: {body[0]}\n      Content-Length: [len]\n\n{body[1]}")
    retrans = '' if method == "ACK" else ' retrans="500"'
    return f"""  <send{retrans}>
    <![CDATA[

      {method} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
{extra}{content}
    ]]>
  </send>
"""


OK_LAST = """  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:sipp@[local_ip]:[local_port]>
{extra}      Content-Length: 0

    ]]>
  </send>
"""


def ok_last(extra=""):
    return OK_LAST.format(extra=extra)


def wait_bye(timeout=None, cause=None):
    """The peer's BYE, answered; its Reason's cause (and text, where `cause` is given) logged."""
    t = f' timeout="{timeout}"' if timeout else ""
    check = (("Reason: SIP;cause=([0-9]+)", "reason,cause") if cause is None else
             (f"Reason: SIP;cause=({cause});text=[^a-z]*([a-z ]+)", "reason,cause,text"))
    return f'  <recv request="BYE"{t}>\n' + checks(check) + "  </recv>\n" + ok_last()


# ---- the callee side (SIPp as UAS behind the proxy) --------------------------------

RECV_INVITE = ('  <recv request="INVITE" rrs="true">\n    <action>\n'
               '      <ereg regexp="Record-Route: [^\\r\\n]*" search_in="msg" check_it="true" assign_to="rr"/>\n'
               '      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_from"/>\n'
               '      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="local_to"/>\n'
               '      <log message="INVITE [$rr] from [$remote_from] to [$local_to]"/>\n'
               '    </action>\n  </recv>\n')


def respond(code, body=None, extra=""):
    content = ("      Content-Length: 0\n" if body is None else
               f"      Content-Type: application/sdp\n      Content-Length: [len]\n\n{body}")
    retrans = ' retrans="500"' if code.startswith("200") else ""
    return f"""  <send{retrans}>
    <![CDATA[

      SIP/2.0 {code}
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:sipp@[local_ip]:[local_port]>
{extra}{content}
    ]]>
  </send>
"""


def uas_req(method, cseq, extra="", body=None):
    """An in-dialog request of the callee, along its route set."""
    content = ("      Content-Length: 0\n" if body is None else
               f"      Content-Type: {body[0]}\n      Content-Length: [len]\n\n{body[1]}")
    retrans = '' if method == "ACK" else ' retrans="500"'
    return f"""  <send{retrans}>
    <![CDATA[

      {method} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: [$local_to];tag=[pid]SIPpTag01[call_number]
      To: [$remote_from]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
{extra}{content}
    ]]>
  </send>
"""


def write(name, comment, body):
    (HERE / f"{name}.xml").write_text(
        HDR + f"<!-- {comment} -->\n" + f'<scenario name="{name}">\n' + body + "</scenario>\n")


TIMER_90_UAC = "      Supported: timer\n      Session-Expires: 90;refresher=uac\n      Min-SE: 90\n"

# ---- record-routing proxies -----------------------------------------------------

write("proxy_uac_caller_bye",
      "Inbound call to mediagw through a record-routing proxy (SIPp's target is the proxy): the "
      "200 OK must carry the proxy's Record-Route (RFC 3261 §12.1.1); the ACK and the caller's "
      "BYE follow the route set ([routes], Request-URI [next_url]), so they reach mediagw only "
      "if its 200 OK copied the Record-Route.",
      invite() + recv_200_rr() + req("ACK", 1) + '  <pause milliseconds="1000"/>\n'
      + req("BYE", 2) + '  <recv response="200" crlf="true"/>\n')

write("proxy_uac_wait_bye",
      "Inbound call to mediagw through a record-routing proxy; the caller waits for the BYE of "
      "the application (or mediagw), which must come through the proxy, and answers it.",
      invite() + recv_200_rr() + req("ACK", 1) + wait_bye())

write("proxy_uac_hold_info_wait_bye",
      "Inbound call to mediagw through a record-routing proxy: once answered, a re-INVITE puts "
      "mediagw on hold (a=sendonly, answered a=recvonly), then an INFO carries digit 5 "
      "(application/dtmf-relay), both along the route set; then the caller waits for the BYE, "
      "which comes through the proxy too. The pause before the re-INVITE leaves the "
      "application time to start collecting digits.",
      invite() + recv_200_rr() + req("ACK", 1) + '  <pause milliseconds="2000"/>\n'
      + req("INVITE", 2, body=("application/sdp", sdp(2353687638, "      a=sendonly\n")))
      + '  <recv response="100" optional="true"/>\n'
      + '  <recv response="200">\n' + checks(("a=recvonly", "hold")) + "  </recv>\n"
      + req("ACK", 2)
      + req("INFO", 3, body=("application/dtmf-relay", "      Signal=5\n      Duration=160\n"))
      + '  <recv response="200"/>\n' + wait_bye())

write("proxy_uas_wait_bye",
      "Outbound call from mediagw through sip.outbound_proxy (a record-routing proxy): the "
      "INVITE arrives with the proxy's Record-Route, which the 180 and 200 copy; the ACK and "
      "mediagw's BYE must then come along the route set, through the proxy.",
      RECV_INVITE + respond("180 Ringing") + respond("200 OK", sdp())
      + '  <recv request="ACK"/>\n' + wait_bye())

write("proxy_uas_hangs_up",
      "Outbound call from mediagw through sip.outbound_proxy: answered with the proxy's "
      "Record-Route copied; after the ACK the callee hangs up with a BYE along its route set "
      "(Request-URI mediagw's Contact, Route the proxy).",
      RECV_INVITE + respond("180 Ringing") + respond("200 OK", sdp())
      + '  <recv request="ACK"/>\n  <pause milliseconds="1000"/>\n'
      + uas_req("BYE", 1) + '  <recv response="200" crlf="true"/>\n')

# ---- session timers (RFC 4028) ------------------------------------------------------

for method in ("UPDATE", "INVITE"):
    refresh = req(method, 2, extra=TIMER_90_UAC,
                  body=None if method == "UPDATE" else ("application/sdp", sdp()))
    refresh += '  <recv response="100" optional="true"/>\n'
    refresh += ('  <recv response="200">\n'
                + checks(("Session-Expires: 90;refresher=uac", "refresh_se")) + "  </recv>\n")
    if method == "INVITE":
        refresh += req("ACK", 2)
    write(f"st_uac_refresh_{method.lower()}_then_silence",
          "Inbound call through a proxy asking for a 90 s session timer that the caller refreshes "
          "(Session-Expires: 90;refresher=uac, Supported: timer): the 200 must grant it with "
          f"Require: timer. After 50 s the caller refreshes once with {method}, which mediagw must "
          "answer with the timer; then the caller goes silent, and mediagw must end the call with "
          "a BYE (cause 408) once 60 s pass without a refresh (90 - 30, RFC 4028 section 10). A BYE "
          "before the refresh (the timer not granted or not restarted) fails the scenario.",
          invite(TIMER_90_UAC)
          + recv_200_rr(("Session-Expires: 90;refresher=uac", "se"), ("Require: timer", "require"))
          + req("ACK", 1) + '  <pause milliseconds="50000"/>\n' + refresh
          + wait_bye(timeout=80000, cause="408"))

write("st_uac_mediagw_refreshes_update",
      "Inbound call through a proxy whose caller wants mediagw to refresh (Session-Expires: "
      "90;refresher=uas) and allows UPDATE: the 200 grants 90;refresher=uas; after 45 s "
      "mediagw must refresh with an UPDATE along the route set (Session-Expires: "
      "90;refresher=uac, being the UAC of that request), which is answered with the timer; "
      "then the caller hangs up.",
      invite("      Supported: timer\n      Session-Expires: 90;refresher=uas\n"
             "      Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE\n")
      + recv_200_rr(("Session-Expires: 90;refresher=uas", "se"))
      + req("ACK", 1)
      + '  <recv request="UPDATE" timeout="70000">\n'
      + checks(("Session-Expires: 90;refresher=uac", "refresh_se")) + "  </recv>\n"
      + ok_last("      Session-Expires: 90;refresher=uac\n      Require: timer\n")
      + '  <pause milliseconds="500"/>\n'
      + req("BYE", 2) + '  <recv response="200" crlf="true"/>\n')

SE_OK = "      Session-Expires: {se}\n      Require: timer\n"


def invite_saved(code, body=None, extra=""):
    """A response to the INVITE sent after other messages: the INVITE's own Via headers
    (saved by RECV_INVITE_SAVING) and CSeq."""
    content = ("      Content-Length: 0\n" if body is None else
               f"      Content-Type: application/sdp\n      Content-Length: [len]\n\n{body}")
    retrans = ' retrans="500"' if code.startswith("200") else ""
    return f"""  <send{retrans}>
    <![CDATA[

      SIP/2.0 {code}
      [$invite_vias]
      [$invite_rr]
      From: [$remote_from]
      To: [$local_to];tag=[pid]SIPpTag01[call_number]
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port]>
{extra}{content}
    ]]>
  </send>
"""


RECV_INVITE_SAVING = RECV_INVITE.replace(
    '      <log message="INVITE',
    '      <ereg regexp="Via: [^\\r\\n]*(\\r\\nVia: [^\\r\\n]*)*" search_in="msg" check_it="true" assign_to="invite_vias,last_via"/>\n'
    '      <ereg regexp="Record-Route: [^\\r\\n]*(\\r\\nRecord-Route: [^\\r\\n]*)*" search_in="msg" check_it="true" assign_to="invite_rr,last_rr"/>\n'
    '      <log message="INVITE vias [$invite_vias] last [$last_via] rr [$invite_rr] last [$last_rr] ')

write("st_uas_mediagw_refreshes_reinvite",
      "Outbound call from mediagw through sip.outbound_proxy: the callee grants a 90 s timer "
      "with mediagw (the UAC) as refresher and does not allow UPDATE, so after 45 s mediagw must "
      "refresh with a re-INVITE along the route set, carrying its unchanged SDP and "
      "Session-Expires: 90;refresher=uac; it is answered with SDP and the timer and ACKed; then "
      "the callee hangs up.",
      RECV_INVITE + respond("180 Ringing")
      + respond("200 OK", sdp(), SE_OK.format(se="90;refresher=uac")
                + "      Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\n")
      + '  <recv request="ACK"/>\n'
      + '  <recv request="INVITE" timeout="70000">\n'
      + checks(("Session-Expires: 90;refresher=uac", "refresh_se"), ("m=audio", "offer"))
      + "  </recv>\n"
      + respond("200 OK", sdp(2353687638), SE_OK.format(se="90;refresher=uac")).replace(
          ";tag=[pid]SIPpTag01[call_number]", "")
      + '  <recv request="ACK"/>\n  <pause milliseconds="500"/>\n'
      + uas_req("BYE", 1) + '  <recv response="200" crlf="true"/>\n')

write("st_uas_peer_refreshes_update",
      "Outbound call from mediagw through sip.outbound_proxy: the callee grants a 90 s timer "
      "that it refreshes itself (refresher=uas) and allows UPDATE; a second later it refreshes "
      "with an UPDATE along its route set (Session-Expires: 90;refresher=uac), which mediagw must "
      "answer 200 with the timer and Require: timer; then the callee hangs up.",
      RECV_INVITE + respond("180 Ringing")
      + respond("200 OK", sdp(), SE_OK.format(se="90;refresher=uas")
                + "      Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE\n")
      + '  <recv request="ACK"/>\n  <pause milliseconds="1000"/>\n'
      + uas_req("UPDATE", 1, extra="      Supported: timer\n      Session-Expires: 90;refresher=uac\n")
      + '  <recv response="200">\n'
      + checks(("Session-Expires: 90;refresher=uac", "se"), ("Require: timer", "require"))
      + "  </recv>\n"
      + uas_req("BYE", 2) + '  <recv response="200" crlf="true"/>\n')

write("st_uas_422_then_answer",
      "Outbound call from mediagw (direct, no proxy): the callee refuses the first INVITE with "
      "422 and Min-SE: 1900 (RFC 4028 section 6); mediagw must send it again with "
      "Session-Expires of at least 1900 (CSeq 2), which is answered; then mediagw's BYE.",
      '  <recv request="INVITE"/>\n'
      + respond("422 Session Interval Too Small", extra="      Min-SE: 1900\n")
      + '  <recv request="ACK"/>\n'
      + '  <recv request="INVITE">\n'
      + checks(("Session-Expires: 1900", "se"), ("CSeq: 2 INVITE", "cseq")) + "  </recv>\n"
      + respond("200 OK", sdp(), SE_OK.format(se="1900;refresher=uas"))
      + '  <recv request="ACK"/>\n' + wait_bye())

write("st_uac_too_small",
      "Inbound call asking for a 60 s session timer, below mediagw's Min-SE of 90: it must be "
      "refused with 422 naming Min-SE: 90 (RFC 4028 section 6), and no call is offered.",
      invite("      Supported: timer\n      Session-Expires: 60\n      Min-SE: 60\n")
      + '  <recv response="100" optional="true"/>\n'
      + '  <recv response="422">\n' + checks(("Min-SE: 90", "min_se")) + "  </recv>\n"
      + """  <send>
    <![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-1]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
""")

# ---- reliable provisionals (RFC 3262) -------------------------------------------

write("rel_uac_prack",
      "Inbound call through a proxy from a caller that requires 100rel (as some IMS cores "
      "do): mediagw's 180 must be reliable (Require: 100rel, RSeq); the caller PRACKs it along "
      "the early dialog's route set and gets 200; the application answers only after that "
      "(the test waits for the proxy to relay the PRACK's 200); ACK; the caller hangs up.",
      invite("      Require: 100rel\n      Supported: 100rel\n")
      + '  <recv response="100" optional="true"/>\n'
      + '  <recv response="180" rrs="true">\n'
      + checks(("RSeq: *([0-9]+)", "rseq_line,rseq"), ("Require: 100rel", "require"))
      + "  </recv>\n"
      + req("PRACK", 2, extra="      RAck: [$rseq] 1 INVITE\n")
      + '  <recv response="200">\n' + checks(("CSeq: 2 PRACK", "prack_ok")) + "  </recv>\n"
      + '  <recv response="200" rrs="true">\n' + checks(("CSeq: 1 INVITE", "invite_ok"))
      + "  </recv>\n"
      + req("ACK", 1) + '  <pause milliseconds="500"/>\n'
      + req("BYE", 3) + '  <recv response="200" crlf="true"/>\n')

write("rel_uac_no_prack",
      "Inbound call from a caller that requires 100rel but never sends the PRACK: mediagw "
      "retransmits its reliable 180 and, after 64*T1 without a PRACK, rejects the INVITE with "
      "a 5xx (RFC 3262 section 3), which is ACKed.",
      invite("      Require: 100rel\n      Supported: 100rel\n")
      + '  <recv response="100" optional="true"/>\n'
      + '  <recv response="180">\n' + checks(("RSeq: *([0-9]+)", "rseq_line,rseq")) + "  </recv>\n"
      + '  <recv response="180" optional="true"/>\n'
      + '  <recv response="504" timeout="30000"/>\n'
      + """  <send>
    <![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-1]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
""")

write("rel_uas_reliable_180",
      "Outbound call from mediagw through sip.outbound_proxy to a callee whose 180 is reliable "
      "(Require: 100rel, RSeq: 1, as mediagw offered Supported: 100rel): mediagw must PRACK it "
      "(RAck: 1 1 INVITE) along the early dialog's route set; the PRACK is answered, then the "
      "INVITE with 200 (the INVITE's own Via headers and CSeq); mediagw ACKs and later hangs up.",
      RECV_INVITE_SAVING.replace(
          '      <log message="INVITE',
          '      <ereg regexp="Supported: [^\\r\\n]*100rel" search_in="msg" check_it="true" assign_to="supported"/>\n'
          '      <log message="supported [$supported] INVITE')
      + respond("180 Ringing", extra="      Require: 100rel\n      RSeq: 1\n")
      + '  <recv request="PRACK">\n' + checks(("RAck: 1 1 INVITE", "rack")) + "  </recv>\n"
      + ok_last()
      + invite_saved("200 OK", sdp())
      + '  <recv request="ACK"/>\n' + wait_bye())

write("proxy_uas_ring_cancel",
      "Outbound call from mediagw through sip.outbound_proxy that rings and is never answered: "
      "the CANCEL (mediagw's drop before the answer, or max_ring_seconds) comes through the "
      "proxy; it is answered 200 and the INVITE 487 with the INVITE's own Via headers (a "
      "proxy's CANCEL carries only its own Via), then the proxy's ACK arrives.",
      RECV_INVITE_SAVING + respond("180 Ringing")
      + '  <recv request="CANCEL">\n' + checks(("Reason: SIP;cause=([0-9]+)", "reason,cause"))
      + "  </recv>\n" + ok_last() + invite_saved("487 Request Terminated")
      + '  <recv request="ACK"/>\n')
