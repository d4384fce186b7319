#!/usr/bin/env python3
"""Writes the SIPp scenarios of this directory (run it after editing the templates).

The scenarios share one INVITE (PCMU, PCMA, telephone-event) and one ACK; each file
says in its header comment what it checks."""
import pathlib

HDR = '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
INVITE = """  <send retrans="500">
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
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 8 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=ptime:20

    ]]>
  </send>
"""
ACK = """  <send>
    <![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""
OK_LAST = """  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
"""
# The ACK of a non-2xx final response belongs to the INVITE transaction: same branch.
ACK_NON2XX = ACK.replace("      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n", "      [last_Via:]\n")

PROVISIONAL = """  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
"""


def write(name, comment, body):
    text = HDR + f"<!-- {comment} -->\n<scenario name=\"{name}\">\n" + body + "</scenario>\n"
    pathlib.Path(__file__).with_name(name + ".xml").write_text(text)


write("uac_wait_bye",
      "Inbound call to mediagw: INVITE, answered, then waits for the gateway's BYE "
      "(app drop, max_answer_seconds, shutdown), checks its Reason header and answers 200.",
      INVITE + PROVISIONAL + '  <recv response="200" rtd="true"/>\n' + ACK +
      """  <recv request="BYE">
    <action>
      <ereg regexp="Reason: SIP;cause=([0-9]+)" search_in="msg" check_it="true" assign_to="reason,cause"/>
      <log message="BYE reason [$reason] cause [$cause]"/>
    </action>
  </recv>
""" + OK_LAST)

for status in (480, 486, 603, 403, 488, 503, 302):
    check = ""
    if status == 302:
        check = """
    <action>
      <ereg regexp="Contact: *&lt;sip:([^&gt;]*)&gt;" search_in="msg" check_it="true" assign_to="contact,target"/>
      <log message="302 Contact [$contact] target [$target]"/>
    </action>
  """
    write(f"uac_expect_{status}",
          f"Inbound call to mediagw that must be refused with {status}; ACKs the final response.",
          INVITE + '  <recv response="100" optional="true"/>\n  <recv response="180" optional="true"/>\n'
          + f'  <recv response="{status}">{check}</recv>\n' + ACK_NON2XX + '  <pause milliseconds="200"/>\n')

write("uas_ring_until_cancel",
      "Outbound call from mediagw: answers the INVITE with 180 and never answers; expects "
      "CANCEL (max_ring_seconds, or drop before answer), answers it 200 and the INVITE 487, "
      "then takes the ACK.",
      """  <recv request="INVITE"/>
  <send>
    <![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
  <recv request="CANCEL">
    <action>
      <ereg regexp="Reason: SIP;cause=([0-9]+)" search_in="msg" check_it="true" assign_to="reason,cause"/>
      <log message="CANCEL reason [$reason] cause [$cause]"/>
    </action>
  </recv>
""" + OK_LAST + """  <send>
    <![CDATA[

      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq: 1 INVITE
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
""")

write("uas_answer_wait_bye",
      "Outbound call from mediagw: 180, then 200 with SDP, takes the ACK, then waits for the "
      "gateway's BYE (app drop or max_answer_seconds) and answers it.",
      """  <recv request="INVITE"/>
  <send>
    <![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=ptime:20

    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="BYE">
    <action>
      <ereg regexp="Reason: SIP;cause=([0-9]+)" search_in="msg" check_it="true" assign_to="reason,cause"/>
      <log message="BYE reason [$reason] cause [$cause]"/>
    </action>
  </recv>
""" + OK_LAST)

write("uas_busy",
      "Outbound call from mediagw answered 486 Busy Here; takes the ACK.",
      """  <recv request="INVITE"/>
  <send>
    <![CDATA[

      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
""")

write("uac_cancel",
      "Inbound call to mediagw that the caller cancels before it is answered: INVITE, 100, "
      "180 (mediagw rings while the application decides), CANCEL (same branch), 200 for "
      "the CANCEL, 487 for the INVITE, ACK.",
      INVITE + '  <recv response="100"/>\n  <recv response="180"/>\n'
      + '  <pause milliseconds="500"/>\n' + """  <send>
    <![CDATA[

      CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 CANCEL
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <recv response="487"/>
""" + ACK_NON2XX + '  <pause milliseconds="200"/>\n')

write("uac_pcap_dtmf",
      "Inbound call to mediagw that, once answered, plays SIPp's RFC 2833 pcap of digit 1 "
      "(/usr/share/sip-tester/dtmf_2833_1.pcap) as RTP 1.5 s after the answer (time for the "
      "application to start a prompt), then waits for the gateway's BYE.",
      INVITE + PROVISIONAL + '  <recv response="200" rtd="true"/>\n' + ACK +
      """  <pause milliseconds="1500"/>
  <nop>
    <action>
      <exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_1.pcap"/>
    </action>
  </nop>
  <recv request="BYE"/>
""" + OK_LAST)

# The inbound flood of flood.sh: A-law audio from SIPp's g711a.pcap, digit 1 as RFC 2833.
INVITE_PCMA = INVITE.replace("RTP/AVP 0 8 101", "RTP/AVP 8 101").replace("      a=rtpmap:0 PCMU/8000\n", "")
write("load_uac_ivr",
      "Inbound flood call (loadtest/sipp/flood.sh): offers PCMA and telephone-event; once "
      "answered, sends A-law speech (g711a.pcap, 7 s), then digit 1 as RFC 2833 events "
      "(dtmf_2833_1.pcap), and waits for the application, having collected the digit, to "
      "hang up. A call whose BYE does not come within 20 s fails. The 200 OK's delay is rtd 1.",
      INVITE_PCMA + PROVISIONAL + '  <recv response="200" rtd="true"/>\n' + ACK +
      """  <nop>
    <action>
      <exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/>
    </action>
  </nop>
  <pause milliseconds="7200"/>
  <nop>
    <action>
      <exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_1.pcap"/>
    </action>
  </nop>
  <recv request="BYE" timeout="20000"/>
""" + OK_LAST)

write("uac_pcap_g711a",
      "Inbound call to mediagw offering PCMA only (and telephone-event) that, once answered, "
      "plays SIPp's A-law capture (/usr/share/sip-tester/g711a.pcap) as RTP 1.5 s after the "
      "answer (time for the application to bridge it), then waits for the gateway's BYE.",
      INVITE.replace("RTP/AVP 0 8 101", "RTP/AVP 8 101").replace("      a=rtpmap:0 PCMU/8000\n", "")
      + PROVISIONAL + '  <recv response="200" rtd="true"/>\n' + ACK +
      """  <pause milliseconds="1500"/>
  <nop>
    <action>
      <exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/>
    </action>
  </nop>
  <recv request="BYE" timeout="30000"/>
""" + OK_LAST)

SDP_PCMA = """      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8
      a=rtpmap:8 PCMA/8000
      a=ptime:20
"""


def uas_response(status, reason, sdp):
    body = SDP_PCMA if sdp else "      Content-Length: 0\n"
    return f"""  <send{' retrans="500"' if status >= 200 else ''}>
    <![CDATA[

      SIP/2.0 {status} {reason}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:sipp@[local_ip]:[local_port]>
{body}
    ]]>
  </send>
"""


write("uas_183_pcap_answer",
      "Outbound call from mediagw: 183 Session Progress with SDP (PCMA), plays SIPp's A-law "
      "capture (/usr/share/sip-tester/g711a.pcap, 7 s) as early media, answers 200 with SDP "
      "after 8 s, takes the ACK, then waits for the gateway's BYE and answers it.",
      '  <recv request="INVITE"/>\n' + uas_response(183, "Session Progress", True) +
      """  <nop>
    <action>
      <exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/>
    </action>
  </nop>
  <pause milliseconds="8000"/>
""" + uas_response(200, "OK", True) + """  <recv request="ACK"/>
  <recv request="BYE"/>
""" + OK_LAST)

# Overload (tests/overload.rs) and call records (tests/observability.rs): a call that is
# either refused with 503 (ACKed, and counted by the test through /metrics) or answered,
# in which case it sends all of g711a.pcap and hangs up itself.
BYE_OURS = """  <send retrans="500">
    <![CDATA[

      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""
write("uac_pcap_or_503",
      "Inbound call to mediagw that accepts either outcome: a 503 (ACKed; the call ends "
      "there) or an answer, after which it waits 1.5 s (time for the application to start "
      "a recording), sends A-law speech (g711a.pcap: 236 packets of 30 ms, 7 s), waits for "
      "the last packet to leave and hangs up.",
      INVITE_PCMA + PROVISIONAL + '  <recv response="503" optional="true" next="shed"/>\n'
      + '  <recv response="200" rtd="true"/>\n' + ACK +
      """  <pause milliseconds="1500"/>
  <nop>
    <action>
      <exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/>
    </action>
  </nop>
  <pause milliseconds="7500"/>
""" + BYE_OURS + '  <recv response="200"/>\n  <nop next="end"/>\n  <label id="shed"/>\n'
      + ACK_NON2XX + '  <label id="end"/>\n')
