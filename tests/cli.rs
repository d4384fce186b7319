//! The `mediagw` command line: `--print-config` (embedded defaults, file, flags),
//! refusal of bad configurations, the start-up log line, and `dtmf-detect`.

use std::process::Command;

use mediagw::dtmf::ToneGenerator;

fn mediagw() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mediagw"))
}

#[test]
fn print_config_shows_defaults_file_and_flags() {
    let out = mediagw().arg("--print-config").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let cfg: mediagw::config::Config = toml::from_str(&text).expect("printed config parses");
    assert_eq!(cfg, mediagw::config::Config::default());
    assert!(text.contains("listen = \"0.0.0.0:5060\""), "{text}");
    assert!(text.contains("rtp_ports = \"20000-39999\""), "{text}");
    assert!(text.contains("max_connections = 10000"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gw.toml");
    std::fs::write(&file, "[sip]\nlisten = \"127.0.0.1:5070\"\n[media]\nworkers = 3\n[[gateways]]\naddress = \"10.20.0.1:5060\"\nmax_concurrent = 480\n").unwrap();
    let out = mediagw()
        .args([
            "--config",
            file.to_str().unwrap(),
            "--sip-listen",
            "127.0.0.1:5080",
            "--print-config",
        ])
        .output()
        .unwrap();
    let cfg: mediagw::config::Config =
        toml::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(cfg.sip.listen.port(), 5080, "flag overrides file");
    assert_eq!(cfg.media.workers, 3, "file overrides default");
    assert_eq!(cfg.gateways[0].max_concurrent, 480);
}

#[test]
fn bad_configuration_is_refused_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[media]\nrtp_ports = \"30000-20000\"\n").unwrap();
    let out = mediagw()
        .args(["--config", file.to_str().unwrap(), "--print-config"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("media.rtp_ports"));
    let out = mediagw()
        .args(["--api-listen", "0.0.0.0:0", "--print-config"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "non-loopback API without a token must be refused"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("api.token"));
}

#[test]
fn startup_logs_where_it_listens() {
    let gw = mediagw_testkit::start_gateway!("");
    assert_eq!(gw.sip.ip().to_string(), "127.0.0.1");
    assert!(
        gw.log_text()
            .contains("mediagw listening: sip=udp:127.0.0.1:")
    );
}

#[test]
fn dtmf_detect_prints_digits_and_times() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("digits.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for _ in 0..4000 {
        w.write_sample(0i16).unwrap(); // 0.5 s of silence first
    }
    for d in "13579#".chars() {
        let mut g = ToneGenerator::new(d, 80, 120).unwrap();
        let mut buf = [0i16; 160];
        loop {
            let n = g.tx(&mut buf);
            for s in &buf[..n] {
                w.write_sample(*s).unwrap();
            }
            if n < buf.len() {
                break;
            }
        }
    }
    w.finalize().unwrap();
    let out = mediagw()
        .args(["dtmf-detect", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<(f64, String)> = text
        .lines()
        .map(|l| {
            let (t, d) = l.split_once(' ').expect("SECONDS DIGIT");
            (t.parse().expect("seconds"), d.to_string())
        })
        .collect();
    let digits: String = lines.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(digits, "13579#");
    // Digit k starts at 0.5 s + k * 0.2 s (block resolution 8 ms).
    for (k, (t, _)) in lines.iter().enumerate() {
        let expected = 0.5 + 0.2 * k as f64;
        assert!(
            (t - expected).abs() < 0.02,
            "digit {k} at {t}, expected {expected}"
        );
    }
    let out = mediagw()
        .args(["dtmf-detect", "--digits", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "13579#");
    let out = mediagw()
        .args(["dtmf-detect", "/nonexistent.wav"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn print_config_does_not_print_the_api_token() {
    let out = mediagw()
        .args(["--api-token", "tok-5e1c2a9d", "--print-config"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("tok-5e1c2a9d"), "{text}");
    assert!(text.contains("# token = (set, not printed)"), "{text}");
}
