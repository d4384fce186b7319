//! The `examples/conference_room.rs` program works against the real gateway: callers
//! (our test agent) type their PIN (RFC 4733 for one, in-band tones for another) and
//! enter the room; the two participants hear each other; when the moderator enters,
//! the participants only listen (they hear the moderator, not each other); when the
//! moderator hangs up they talk again; when the room's time is over the program hangs
//! everyone up and exits 0 naming the recording, which holds all three voices.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mediagw::codec::Codec;
use mediagw_testkit::audio::{decode, dominant_tone, tone_frames, tone_power};
use mediagw_testkit::examples::{KillOnDrop, example_binary};
use mediagw_testkit::{Ua, start_gateway};

const A_HZ: f64 = 600.0;
const B_HZ: f64 = 1400.0;
const M_HZ: f64 = 1000.0;
const TE: u8 = 101;

/// The example's stdout, line by line, from a thread of its own.
struct Lines {
    rx: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    /// Waits (bounded) until `n` lines containing `needle` were printed in all.
    fn wait_count(&mut self, needle: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.seen.iter().filter(|l| l.contains(needle)).count() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => panic!(
                    "no {n} lines with {needle:?} from the example:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Everything printed until the stream closes (bounded).
    fn rest(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => break,
            }
        }
        self.seen.join("\n")
    }
}

/// What dominated `ua`'s audio that arrived after `from`, among `candidates`.
fn heard_since(ua: &Ua, from: Instant, candidates: &[f64]) -> Option<f64> {
    let pkts: Vec<_> = ua
        .packets(0)
        .into_iter()
        .filter(|p| p.at > from + Duration::from_millis(200))
        .collect();
    dominant_tone(&decode(Codec::Pcmu, &pkts), candidates)
}

/// Calls the room and, once asked (the `n`th caller asked for a PIN), types `pin`
/// (RFC 4733 or in-band).
fn caller(
    lines: &mut Lines,
    n: usize,
    gw_sip: std::net::SocketAddr,
    pin: &str,
    inband: bool,
) -> Ua {
    let mut ua = Ua::invite_with(gw_sip, Codec::Pcmu, (!inband).then_some(TE));
    ua.wait_answer();
    lines.wait_count("sys.call.receive_dtmf_start ->", n);
    if inband {
        ua.stream_inband(&format!("{pin}#"), 100, 100);
    } else {
        for d in format!("{pin}#").chars() {
            ua.send_digit(d, TE);
        }
    }
    ua
}

/// `uas` say their tones for a second at once.
fn talk(uas: &mut [(&mut Ua, f64)]) {
    let threads: Vec<_> = uas
        .iter_mut()
        .map(|(ua, hz)| ua.spawn_stream(0, tone_frames(Codec::Pcmu, *hz, 50)))
        .collect();
    for t in threads {
        t.join().expect("talked");
    }
}

#[test]
fn callers_enter_with_a_pin_the_moderator_mutes_the_room_and_it_is_recorded() {
    example_binary("conference_room");
    let gw = start_gateway!("[media]\nworkers = 2");
    let mut child = KillOnDrop(
        Command::new(example_binary("conference_room"))
            .args([
                "--url",
                &gw.ws_url(),
                "--pin",
                "1234",
                "--moderator-pin",
                "9999",
            ])
            .args(["--record", "room.wav", "--max-seconds", "25"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the conference_room example"),
    );
    let (tx, rx) = mpsc::channel();
    let out = child.0.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Lines {
        rx,
        seen: Vec::new(),
    };
    lines.wait_count("sys.conf.record_start ->", 1);

    // Two participants, one typing RFC 4733, one in-band; a wrong PIN is hung up.
    let mut a = caller(&mut lines, 1, gw.sip, "1234", false);
    let mut b = caller(&mut lines, 2, gw.sip, "1234", true);
    let intruder = caller(&mut lines, 3, gw.sip, "1111", false);
    intruder.answer_bye();
    lines.wait_count("sys.call.conf_enter ->", 2);
    let t = Instant::now();
    talk(&mut [(&mut a, A_HZ), (&mut b, B_HZ)]);
    assert_eq!(heard_since(&a, t, &[A_HZ, B_HZ]), Some(B_HZ), "a hears b");
    assert_eq!(heard_since(&b, t, &[A_HZ, B_HZ]), Some(A_HZ), "b hears a");

    // The moderator enters: a and b now only listen.
    let mut m = caller(&mut lines, 4, gw.sip, "9999", false);
    lines.wait_count("sys.call.conf_enter ->", 3);
    lines.wait_count("sys.conf.set_voice_mode ->", 2);
    let t = Instant::now();
    talk(&mut [(&mut a, A_HZ), (&mut b, B_HZ), (&mut m, M_HZ)]);
    assert_eq!(
        heard_since(&a, t, &[B_HZ, M_HZ]),
        Some(M_HZ),
        "a hears the moderator, not b"
    );
    assert_eq!(
        heard_since(&b, t, &[A_HZ, M_HZ]),
        Some(M_HZ),
        "b hears the moderator, not a"
    );
    assert_eq!(
        heard_since(&m, t, &[A_HZ, B_HZ]),
        None,
        "the muted participants are not heard"
    );

    // The moderator hangs up: a and b talk again.
    m.bye();
    lines.wait_count("sys.conf.set_voice_mode ->", 4);
    let t = Instant::now();
    talk(&mut [(&mut a, A_HZ), (&mut b, B_HZ)]);
    assert_eq!(
        heard_since(&a, t, &[B_HZ, M_HZ]),
        Some(B_HZ),
        "a hears b again"
    );

    // The room's time ends: everyone is hung up, the program exits 0.
    a.answer_bye();
    b.answer_bye();
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(st) = child.0.try_wait().expect("wait") {
            break st;
        }
        assert!(Instant::now() < deadline, "conference_room still running");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut text = lines.rest();
    if let Some(mut e) = child.0.stderr.take() {
        e.read_to_string(&mut text).expect("stderr");
    }
    assert_eq!(status.code(), Some(0), "{text}");
    let path = text
        .lines()
        .find_map(|l| l.strip_prefix("recorded "))
        .unwrap_or_else(|| panic!("no 'recorded' line:\n{text}"));
    assert!(path.ends_with("room.wav"), "{path}");
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!((r.spec().channels, r.spec().sample_rate), (1, 8000));
    let x: Vec<i16> = r.samples::<i16>().map(|s| s.expect("sample")).collect();
    for (hz, who) in [(A_HZ, "a"), (B_HZ, "b"), (M_HZ, "the moderator")] {
        // Each spoke 1-2 s of the ~20 s recorded: well above the noise floor.
        assert!(tone_power(&x, hz) > 1000.0, "{who} is in the recording");
    }
}
