//! The `examples/click_to_call.rs` client works against the real gateway and two real
//! far ends: it dials A, dials B on A's behalf while A hears the ring-back file, bridges
//! them with a stereo recording, and when the bridge's `max_seconds` ends it hangs both up
//! and exits 0 naming the recording, which holds A on the left and B on the right. When B
//! refuses, A is hung up and the program exits 1.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mediagw::codec::Codec;
use mediagw_testkit::audio::{decode, dominant_tone, tone_frames, tone_power, write_tone_wav};
use mediagw_testkit::examples::{KillOnDrop, example_binary};
use mediagw_testkit::{Callee, Gateway, start_gateway};

const RING_HZ: f64 = 425.0;
const A_HZ: f64 = 600.0;
const B_HZ: f64 = 1400.0;

/// Writes `seconds` of the ring-back tone under the media root.
fn ring_file(gw: &Gateway, name: &str, seconds: f64) {
    write_tone_wav(&gw.media_root().join(name), RING_HZ, seconds);
}

/// Waits (bounded) for the example to exit; its status and everything it printed.
fn finish(mut child: KillOnDrop) -> (Option<i32>, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.0.try_wait().expect("wait") {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "click_to_call still running after 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    if let Some(mut o) = child.0.stdout.take() {
        o.read_to_string(&mut out).expect("stdout");
    }
    if let Some(mut e) = child.0.stderr.take() {
        e.read_to_string(&mut out).expect("stderr");
    }
    (status.code(), out)
}

fn start(gw: &Gateway, a: &Callee, b: &Callee, max_seconds: u32) -> KillOnDrop {
    let max = max_seconds.to_string();
    KillOnDrop(
        Command::new(example_binary("click_to_call"))
            .args([
                "--url",
                &gw.ws_url(),
                "--a",
                &a.uri("1001"),
                "--b",
                &b.uri("2002"),
            ])
            .args(["--ring-file", "ring.wav", "--record", "c2c.wav"])
            .args(["--max-seconds", &max, "--ring-seconds", "30"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the click_to_call example"),
    )
}

#[test]
fn click_to_call_rings_a_bridges_a_with_b_records_both_and_hangs_up() {
    example_binary("click_to_call");
    let gw = start_gateway!("");
    ring_file(&gw, "ring.wav", 5.0);
    let mut a = Callee::bind(gw.sip, Codec::Pcmu, None);
    let mut b = Callee::bind(gw.sip, Codec::Pcma, None);
    let child = start(&gw, &a, &b, 3);

    a.wait_invite();
    a.answer();
    // B is dialled on A's behalf; while it rings A hears the file.
    b.wait_invite();
    b.respond(180, "Ringing", false);
    let rang = Instant::now();
    assert!(
        a.wait_until(Duration::from_secs(10), |p| {
            p.iter()
                .filter(|p| p.at > rang + Duration::from_millis(300))
                .count()
                >= 40
        }),
        "A hears the ring-back while B rings"
    );
    let ring: Vec<_> = a.packets(0).into_iter().filter(|p| p.at > rang).collect();
    assert_eq!(
        dominant_tone(&decode(Codec::Pcmu, &ring), &[RING_HZ, B_HZ]),
        Some(RING_HZ),
        "A heard the ring file"
    );

    // B answers; the example bridges them; both talk for 1.5 s; max_seconds ends it.
    b.answer();
    let ta = a.spawn_stream(0, tone_frames(Codec::Pcmu, A_HZ, 75));
    let tb = b.spawn_stream(8, tone_frames(Codec::Pcma, B_HZ, 75));
    ta.join().expect("A talked");
    tb.join().expect("B talked");
    a.answer_bye();
    b.answer_bye();

    let (code, out) = finish(child);
    assert_eq!(code, Some(0), "bridged, exit 0:\n{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("bridged "))
        .unwrap_or_else(|| panic!("no 'bridged' line:\n{out}"));
    let mut words = line.split_whitespace().skip(1);
    let secs: f64 = words.next().and_then(|s| s.parse().ok()).expect("seconds");
    let path = words.next().expect("the recording's path");
    assert!(
        (2.0..10.0).contains(&secs),
        "{secs} s bridged (max 3): {line}\nthe example's events:\n{out}"
    );
    assert!(path.ends_with("c2c.wav"), "{line}");

    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(r.spec().channels, 2, "stereo");
    assert_eq!(r.spec().sample_rate, 8000);
    let s: Vec<i16> = r.samples::<i16>().map(|x| x.expect("sample")).collect();
    let left: Vec<i16> = s.iter().step_by(2).copied().collect();
    let right: Vec<i16> = s.iter().skip(1).step_by(2).copied().collect();
    let (l_a, l_b) = (tone_power(&left, A_HZ), tone_power(&left, B_HZ));
    let (r_a, r_b) = (tone_power(&right, A_HZ), tone_power(&right, B_HZ));
    assert!(l_a > 100.0 * l_b, "left is A: {l_a} vs {l_b}");
    assert!(r_b > 100.0 * r_a, "right is B: {r_b} vs {r_a}");
}

#[test]
fn click_to_call_hangs_a_up_and_exits_1_when_b_refuses() {
    example_binary("click_to_call");
    let gw = start_gateway!("");
    ring_file(&gw, "ring.wav", 5.0);
    let mut a = Callee::bind(gw.sip, Codec::Pcmu, None);
    let mut b = Callee::bind(gw.sip, Codec::Pcmu, None);
    let child = start(&gw, &a, &b, 60);
    a.wait_invite();
    a.answer();
    b.wait_invite();
    b.respond(486, "Busy Here", false);
    b.expect("ACK ");
    a.answer_bye();
    let (code, out) = finish(child);
    assert_eq!(code, Some(1), "never bridged, exit 1:\n{out}");
    assert!(out.contains("on_dial_completed"), "{out}");
}
