//! Symbolic links never lead a play or a recording out of `media.root` /
//! `media.record_root`: the real gateway, a real SIPp call and the WebSocket API, with
//! links planted in the roots. A refusal is -32003, touches nothing outside and does not
//! tell whether an outside file exists. Links that stay inside a root keep working.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use mediagw_testkit::{Client, Gateway, Sipp, start_gateway};
use serde_json::{Value, json};

/// A µ-law WAV file of `frames` 20 ms frames.
fn write_wav(path: &Path, frames: usize) {
    let data = vec![0x55u8; frames * 160];
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(4 + 26 + 12 + 8 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&18u32.to_le_bytes());
    v.extend_from_slice(&7u16.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&8000u32.to_le_bytes());
    v.extend_from_slice(&8000u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&8u16.to_le_bytes());
    v.extend_from_slice(&0u16.to_le_bytes());
    v.extend_from_slice(b"fact");
    v.extend_from_slice(&4u32.to_le_bytes());
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(&data);
    std::fs::write(path, v).unwrap();
}

/// A gateway, its API client, a SIPp call answered by the app, and a directory
/// outside both media roots (next to them).
struct Setup {
    gw: Gateway,
    app: Client,
    sipp: Option<Sipp>,
    id: String,
    outside: PathBuf,
}

impl Setup {
    async fn new() -> Setup {
        let gw = start_gateway!("");
        let mut app = Client::connect(&gw.ws_url()).await;
        let sipp = Sipp::uac("uac_wait_bye", gw.sip, "1000", &[]);
        let id = app.event("on_incoming").await["res_id"]
            .as_str()
            .unwrap()
            .to_string();
        app.ok(
            "sys.call.answer",
            json!({"res_id": id, "max_answer_seconds": 60}),
        )
        .await;
        app.event_of("on_answer_completed", &id).await;
        let outside = gw.dir().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        Setup {
            gw,
            app,
            sipp: Some(sipp),
            id,
            outside,
        }
    }

    fn root(&self) -> PathBuf {
        self.gw.media_root()
    }

    fn record_root(&self) -> PathBuf {
        self.gw.media_root().join("records")
    }

    async fn play(&mut self, file: &str) -> Result<Value, Value> {
        self.app
            .call(
                "sys.call.play_start",
                json!({"res_id": self.id, "content": file}),
            )
            .await
    }

    async fn record(&mut self, file: &str) -> Result<Value, Value> {
        self.app
            .call(
                "sys.call.record_start",
                json!({"res_id": self.id, "max_seconds": 5, "record_file": file, "record_format": 7}),
            )
            .await
    }

    /// Hang up and check SIPp saw a clean call.
    async fn finish(mut self) {
        self.app
            .ok("sys.call.drop", json!({"res_id": self.id}))
            .await;
        self.app.event_of("on_released", &self.id).await;
        let sipp = self.sipp.take().unwrap();
        sipp.succeeded().await;
    }
}

/// The error of a refused request: -32003, with the reason; panics on anything else.
fn refused(r: Result<Value, Value>, what: &str) -> String {
    let e = match r {
        Ok(v) => panic!("{what}: accepted ({v}), expected -32003"),
        Err(e) => e,
    };
    assert_eq!(e["code"], -32003, "{what}: {e}");
    e["data"]["reason"].as_str().unwrap().to_string()
}

/// Names of the entries of `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_link_to_a_wav_outside_the_root_is_not_played() {
    let mut s = Setup::new().await;
    let target = s.outside.join("outside.wav");
    write_wav(&target, 5);
    symlink(&target, s.root().join("evil.wav")).unwrap();
    symlink("../outside/outside.wav", s.root().join("evil_rel.wav")).unwrap();
    let reason = refused(s.play("evil.wav").await, "absolute link");
    assert!(reason.contains("outside"), "{reason}");
    refused(s.play("evil_rel.wav").await, "relative link");
    assert!(
        s.app.queued_names_of(&s.id).is_empty(),
        "nothing started: {:?}",
        s.app.queued()
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_link_out_of_the_root_is_not_followed() {
    let mut s = Setup::new().await;
    write_wav(&s.outside.join("x.wav"), 5);
    symlink(&s.outside, s.root().join("dir")).unwrap();
    symlink("../outside", s.root().join("reldir")).unwrap();
    refused(s.play("dir/x.wav").await, "absolute directory link");
    refused(s.play("reldir/x.wav").await, "relative directory link");
    // The absolute spelling of the same name inside the root is refused alike.
    let abs = s.root().join("dir/x.wav").display().to_string();
    refused(s.play(&abs).await, "absolute name through the link");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_etc_passwd_answers_like_a_link_to_nothing() {
    let mut s = Setup::new().await;
    symlink("/etc/passwd", s.root().join("a.wav")).unwrap();
    symlink("/nonexistent-mediagw-test/passwd", s.root().join("b.wav")).unwrap();
    let existing = s.play("a.wav").await.unwrap_err();
    let missing = s.play("b.wav").await.unwrap_err();
    assert_eq!(existing["code"], -32003, "{existing}");
    // Same code, same message, same data, but for the name the client gave.
    let norm = |e: &Value, name: &str| e.to_string().replace(name, "NAME");
    assert_eq!(norm(&existing, "a.wav"), norm(&missing, "b.wav"));
    let text = existing.to_string();
    assert!(
        !text.contains("passwd") && !text.contains("root:"),
        "nothing about the target: {text}"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_under_a_directory_link_creates_nothing_outside() {
    let mut s = Setup::new().await;
    symlink(&s.outside, s.record_root().join("out")).unwrap();
    symlink("../../outside", s.record_root().join("relout")).unwrap();
    let before = listing(&s.outside);
    refused(s.record("out/r.wav").await, "directory link");
    refused(
        s.record("out/new/dir/r.wav").await,
        "directory link, new subdirectories",
    );
    refused(s.record("relout/r.wav").await, "relative directory link");
    assert_eq!(listing(&s.outside), before, "nothing created outside");
    assert!(before.is_empty());
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_onto_a_link_to_an_outside_file_leaves_it_untouched() {
    let mut s = Setup::new().await;
    let victim = s.outside.join("victim.dat");
    std::fs::write(&victim, b"precious bytes").unwrap();
    let mtime = std::fs::metadata(&victim).unwrap().modified().unwrap();
    symlink(&victim, s.record_root().join("rec.wav")).unwrap();
    let reason = refused(s.record("rec.wav").await, "link in the record root");
    assert!(reason.contains("link"), "{reason}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious bytes");
    assert_eq!(
        std::fs::metadata(&victim).unwrap().modified().unwrap(),
        mtime
    );
    assert!(
        std::fs::symlink_metadata(s.record_root().join("rec.wav"))
            .unwrap()
            .is_symlink(),
        "the link itself is left in place"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_that_stay_inside_the_roots_still_work() {
    let mut s = Setup::new().await;
    std::fs::create_dir_all(s.root().join("prompts")).unwrap();
    write_wav(&s.root().join("prompts/hello.wav"), 3);
    symlink("prompts/hello.wav", s.root().join("alias.wav")).unwrap();
    symlink("prompts", s.root().join("p")).unwrap();
    for name in ["alias.wav", "p/hello.wav"] {
        s.play(name).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let done = s.app.event_of("on_play_completed", &s.id).await;
        assert_eq!(done["error"], Value::Null, "{name}: {done}");
    }
    std::fs::create_dir_all(s.record_root().join("day1")).unwrap();
    symlink("day1", s.record_root().join("today")).unwrap();
    let path = s.record("today/r.wav").await.unwrap();
    s.app
        .ok("sys.call.record_stop", json!({"res_id": s.id}))
        .await;
    s.app.event_of("on_record_completed", &s.id).await;
    assert!(
        path.as_str().unwrap().ends_with("records/today/r.wav"),
        "{path}"
    );
    let real = s.record_root().join("day1/r.wav");
    assert!(
        std::fs::symlink_metadata(&real).unwrap().is_file(),
        "recorded through the inside link"
    );
    // An existing regular file is replaced by the new recording.
    std::fs::write(s.record_root().join("again.wav"), b"old").unwrap();
    s.record("again.wav").await.unwrap();
    s.app
        .ok("sys.call.record_stop", json!({"res_id": s.id}))
        .await;
    s.app.event_of("on_record_completed", &s.id).await;
    let bytes = std::fs::read(s.record_root().join("again.wav")).unwrap();
    assert!(bytes.starts_with(b"RIFF"), "replaced by a WAV file");
    s.finish().await;
}
