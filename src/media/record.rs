//! Recording: the worker-side state machine ([`Recording`]: beep first, then one frame
//! per packet time converted to the file's format, `max_seconds`), and the one writer
//! thread ([`Writer`]) that does all the file IO.
//!
//! Workers never touch files: they push [`RecMsg`]s into a bounded lock-free queue
//! (a full queue drops the frame and counts it, never blocks). The writer appends the
//! audio, rewrites the WAV header with the current sizes every second (a crash leaves
//! a valid file holding almost everything) and at the end, then reports the recording
//! finalized (with any write error) on a channel.
//!
//! The file is created (with its parent directories and a header) by the control plane
//! when `record` is called, beneath the record root ([`beneath`]), so a bad path fails
//! the request and the client gets the path.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use crossbeam_queue::ArrayQueue;

use super::beneath::{self, BeneathError};
use super::commands::RecordStart;
use crate::codec::Codec;
use crate::codec::wav::{self, Encoding};

/// Audio bytes per queued chunk (one 20 ms frame of 16-bit PCM).
pub const CHUNK: usize = 320;

/// How often the writer rewrites the header of a growing file.
pub const HEADER_EVERY: Duration = Duration::from_secs(1);

/// Length of the record beep (1 kHz).
pub const BEEP_MS: u32 = 160;

/// A message to the writer thread. `Data` is large on purpose: the queue's slots are
/// pre-allocated, and boxing the audio would allocate once per frame on the worker.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum RecMsg {
    /// A new file (already holding a header), from the control plane.
    Open {
        /// Recording id.
        rec: u64,
        /// The file, positioned after the header.
        file: File,
        /// Its format.
        format: Encoding,
        /// Interleaved channels (1, or 2 for a bridge recorded one party per channel).
        channels: u16,
    },
    /// Audio bytes to append.
    Data {
        /// Recording id.
        rec: u64,
        /// Valid bytes in `buf`.
        len: u16,
        /// The bytes.
        buf: [u8; CHUNK],
    },
    /// No more audio: finalize.
    End {
        /// Recording id.
        rec: u64,
    },
}

/// The queue from workers (and the control plane) to the writer.
pub type RecQueue = Arc<ArrayQueue<RecMsg>>;

/// What the writer reports for each finalized recording: its id and any write error.
pub type Finalized = (u64, Option<String>);

/// Creates `rel` beneath `root` (with its parent directories; see
/// [`beneath::create`]) holding an empty header of `format`.
pub fn create_file(root: &Path, rel: &Path, format: Encoding) -> Result<File, BeneathError> {
    create_file_channels(root, rel, format, 1)
}

/// [`create_file`] for `channels` interleaved channels.
pub fn create_file_channels(
    root: &Path,
    rel: &Path,
    format: Encoding,
    channels: u16,
) -> Result<File, BeneathError> {
    let mut f = beneath::create(root, rel)?;
    f.write_all(&wav::header_channels(format, channels, 0))
        .map_err(BeneathError::Io)?;
    Ok(f)
}

/// How a recording ended, as decided by the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecEnd {
    /// `max_seconds` reached.
    MaxSeconds,
}

/// Worker-side state of one recording.
#[derive(Debug, Clone)]
pub struct Recording {
    /// What was asked.
    pub start: RecordStart,
    beep_left: u32,
    recorded_samples: u64,
    /// Frames lost because the writer queue was full.
    pub overruns: u64,
}

impl Recording {
    /// A recording (with `beep`, the first [`BEEP_MS`] are beep time, not recorded).
    pub fn new(start: RecordStart) -> Self {
        let beep_left = if start.beep { BEEP_MS * 8 } else { 0 };
        Self {
            start,
            beep_left,
            recorded_samples: 0,
            overruns: 0,
        }
    }

    /// Samples of beep still to play before recording starts.
    pub fn beep_left(&self) -> u32 {
        self.beep_left
    }

    /// One packet time of beep of `n` samples was sent.
    pub fn beeped(&mut self, n: u32) {
        self.beep_left = self.beep_left.saturating_sub(n);
    }

    /// Whether `key` ends this recording.
    pub fn is_finish_key(&self, key: char) -> bool {
        self.start.finish_keys.contains(key)
    }

    /// Samples recorded so far.
    pub fn recorded_samples(&self) -> u64 {
        self.recorded_samples
    }

    /// Converts one received frame (`payload` in `law`, or silence of `silence_len`
    /// samples when `None`) to the file format and queues it. Returns `Some` when the
    /// recording must end after this frame.
    pub fn push_frame(
        &mut self,
        q: &ArrayQueue<RecMsg>,
        law: Codec,
        payload: Option<&[u8]>,
        silence_len: usize,
    ) -> Option<RecEnd> {
        let fmt = self.start.format;
        let width = fmt.width();
        let n = payload.map_or(silence_len, |p| p.len());
        let mut i = 0;
        while i < n {
            let take = (n - i).min(CHUNK / width);
            let mut buf = [0u8; CHUNK];
            for k in 0..take {
                let code = payload.map_or(law.silence(), |p| p[i + k]);
                match fmt {
                    // Byte-exact for the call's own law, the exact tables for the other.
                    Encoding::G711(to) => buf[k] = to.from_law(law, code),
                    linear => linear.encode(law.decode(code), &mut buf[width * k..]),
                }
            }
            let msg = RecMsg::Data {
                rec: self.start.rec,
                len: (take * width) as u16,
                buf,
            };
            if q.push(msg).is_err() {
                self.overruns += 1;
            }
            i += take;
        }
        self.recorded_samples += n as u64;
        let max = self.start.max_seconds as u64 * 8000;
        (max > 0 && self.recorded_samples >= max).then_some(RecEnd::MaxSeconds)
    }
}

impl Recording {
    /// Queues linear samples (a join's mix), converted to the file's format.
    pub fn push_linear(&mut self, q: &ArrayQueue<RecMsg>, samples: &[i16]) {
        let fmt = self.start.format;
        let width = fmt.width();
        for part in samples.chunks(CHUNK / width) {
            let mut buf = [0u8; CHUNK];
            for (k, &s) in part.iter().enumerate() {
                match fmt {
                    Encoding::G711(law) => buf[k] = law.encode(s),
                    linear => linear.encode(s, &mut buf[width * k..]),
                }
            }
            self.queue(q, &buf, part.len() * width);
        }
        self.recorded_samples += samples.len() as u64;
    }

    /// Queues two channels (same length), interleaved, in the file's format.
    pub fn push_stereo(&mut self, q: &ArrayQueue<RecMsg>, left: &[i16], right: &[i16]) {
        let fmt = self.start.format;
        let width = fmt.width();
        let per = CHUNK / (2 * width);
        for (l, r) in left.chunks(per).zip(right.chunks(per)) {
            let mut buf = [0u8; CHUNK];
            for k in 0..l.len() {
                for (c, &s) in [l[k], r[k]].iter().enumerate() {
                    let at = (2 * k + c) * width;
                    match fmt {
                        Encoding::G711(law) => buf[at] = law.encode(s),
                        linear => linear.encode(s, &mut buf[at..]),
                    }
                }
            }
            self.queue(q, &buf, l.len() * 2 * width);
        }
        self.recorded_samples += left.len() as u64;
    }

    fn queue(&mut self, q: &ArrayQueue<RecMsg>, buf: &[u8; CHUNK], len: usize) {
        let msg = RecMsg::Data {
            rec: self.start.rec,
            len: len as u16,
            buf: *buf,
        };
        if q.push(msg).is_err() {
            self.overruns += 1;
        }
    }
}

struct OpenFile {
    out: BufWriter<File>,
    format: Encoding,
    channels: u16,
    data_len: u64,
    dirty: bool,
    error: Option<String>,
}

impl OpenFile {
    fn write_header(&mut self) {
        if self.error.is_some() {
            return;
        }
        let len = u32::try_from(self.data_len).unwrap_or(u32::MAX);
        let res = self.out.flush().and_then(|()| {
            self.out
                .get_ref()
                .write_at(&wav::header_channels(self.format, self.channels, len), 0)
        });
        if let Err(e) = res {
            self.error = Some(format!("write failed: {e}"));
        }
        self.dirty = false;
    }
}

/// The writer thread.
pub struct Writer {
    queue: RecQueue,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the thread with a queue of `capacity` messages; finalized recordings are
    /// reported on `done`.
    pub fn start(capacity: usize, done: Sender<Finalized>) -> std::io::Result<Self> {
        let queue: RecQueue = Arc::new(ArrayQueue::new(capacity.max(16)));
        let stop = Arc::new(AtomicBool::new(false));
        let (q, s) = (queue.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("media-recorder".into())
            .spawn(move || run(&q, &s, &done))?;
        Ok(Self {
            queue,
            stop,
            thread: Some(thread),
        })
    }

    /// The queue workers push into.
    pub fn queue(&self) -> &RecQueue {
        &self.queue
    }

    /// Writes what is queued, finalizes every file still open, and ends the thread.
    pub fn stop(mut self) {
        self.stop_join();
    }

    fn stop_join(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop_join();
    }
}

fn run(q: &ArrayQueue<RecMsg>, stop: &AtomicBool, done: &Sender<Finalized>) {
    let mut files: HashMap<u64, OpenFile> = HashMap::new();
    let mut last_headers = Instant::now();
    loop {
        let mut worked = false;
        while let Some(msg) = q.pop() {
            worked = true;
            handle(msg, &mut files, done);
        }
        if last_headers.elapsed() >= HEADER_EVERY {
            for f in files.values_mut().filter(|f| f.dirty) {
                f.write_header();
            }
            last_headers = Instant::now();
        }
        if stop.load(Ordering::Acquire) && q.is_empty() {
            for (rec, mut f) in files.drain() {
                f.write_header();
                let _ = done.send((rec, f.error));
            }
            return;
        }
        if !worked {
            std::thread::park_timeout(Duration::from_millis(5));
        }
    }
}

fn handle(msg: RecMsg, files: &mut HashMap<u64, OpenFile>, done: &Sender<Finalized>) {
    match msg {
        RecMsg::Open {
            rec,
            file,
            format,
            channels,
        } => {
            files.insert(
                rec,
                OpenFile {
                    out: BufWriter::with_capacity(16 * 1024, file),
                    format,
                    channels,
                    data_len: 0,
                    dirty: false,
                    error: None,
                },
            );
        }
        RecMsg::Data { rec, len, buf } => {
            if let Some(f) = files.get_mut(&rec)
                && f.error.is_none()
            {
                let bytes = &buf[..(len as usize).min(CHUNK)];
                match f.out.write_all(bytes) {
                    Ok(()) => {
                        f.data_len += bytes.len() as u64;
                        f.dirty = true;
                    }
                    Err(e) => f.error = Some(format!("write failed: {e}")),
                }
            }
        }
        RecMsg::End { rec } => {
            if let Some(mut f) = files.remove(&rec) {
                f.write_header();
                if f.error.is_none()
                    && let Err(e) = f.out.get_ref().sync_data()
                {
                    f.error = Some(format!("sync failed: {e}"));
                }
                let _ = done.send((rec, f.error));
            } else {
                let _ = done.send((rec, None));
            }
        }
    }
}

/// Waits (bounded by `patience`) until recording `rec` is reported on `done`; reports
/// seen meanwhile are kept in `seen`. Returns the write error, if any.
pub fn wait_finalized(
    rec: u64,
    done: &Receiver<Finalized>,
    seen: &mut HashMap<u64, Option<String>>,
    patience: Duration,
) -> Option<String> {
    if let Some(e) = seen.remove(&rec) {
        return e;
    }
    let deadline = Instant::now() + patience;
    while let Ok((r, e)) = done.recv_deadline(deadline) {
        if r == rec {
            return e;
        }
        seen.insert(r, e);
    }
    Some("recording not finalized in time".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(rec: u64, format: Encoding, max_seconds: u32) -> RecordStart {
        RecordStart {
            rec,
            path: "x.wav".into(),
            format,
            max_seconds,
            finish_keys: "#".into(),
            beep: true,
        }
    }

    #[test]
    fn frames_convert_to_every_format() {
        let q = ArrayQueue::new(64);
        let payload: Vec<u8> = (0..160u8).collect();
        for fmt in [
            Encoding::G711(Codec::Pcmu),
            Encoding::G711(Codec::Pcma),
            Encoding::Pcm8,
            Encoding::Pcm16,
        ] {
            let mut r = Recording::new(start(1, fmt, 0));
            assert_eq!(r.beep_left(), 1280);
            assert_eq!(r.push_frame(&q, Codec::Pcmu, Some(&payload), 160), None);
            let Some(RecMsg::Data { len, buf, .. }) = q.pop() else {
                panic!("data")
            };
            let got = &buf[..len as usize];
            match fmt {
                Encoding::G711(Codec::Pcmu) => assert_eq!(got, &payload[..]),
                Encoding::G711(Codec::Pcma) => {
                    let want: Vec<u8> = payload
                        .iter()
                        .map(|&b| crate::codec::ULAW_TO_ALAW[b as usize])
                        .collect();
                    assert_eq!(got, &want[..]);
                }
                Encoding::Pcm8 => {
                    assert_eq!(got.len(), 160);
                    let s = crate::codec::ulaw_to_linear(3);
                    assert_eq!(got[3], ((s >> 8) + 128) as u8);
                }
                Encoding::Pcm16 => {
                    assert_eq!(got.len(), 320);
                    let s = i16::from_le_bytes([got[10], got[11]]);
                    assert_eq!(s, crate::codec::ulaw_to_linear(5));
                }
                other => unreachable!("{other:?} not in the list"),
            }
        }
    }

    #[test]
    fn max_seconds_and_overruns() {
        let q = ArrayQueue::new(4);
        let mut r = Recording::new(start(2, Encoding::Pcm16, 1));
        let mut ended = None;
        for i in 0..50 {
            if let Some(e) = r.push_frame(&q, Codec::Pcma, None, 160) {
                ended = Some((i, e));
                break;
            }
        }
        assert_eq!(
            ended,
            Some((49, RecEnd::MaxSeconds)),
            "8000 samples = 50 frames"
        );
        assert_eq!(r.overruns, 46, "only 4 fit in the queue");
        assert!(r.is_finish_key('#'));
    }

    #[test]
    fn writer_keeps_header_valid_and_finalizes() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("sub/dir/r.wav");
        let (tx, rx) = crossbeam_channel::unbounded();
        let w = Writer::start(64, tx).expect("writer");
        let file =
            create_file(dir.path(), Path::new("sub/dir/r.wav"), Encoding::Pcm16).expect("create");
        w.queue()
            .push(RecMsg::Open {
                rec: 9,
                file,
                format: Encoding::Pcm16,
                channels: 1,
            })
            .expect("push");
        let mut r = Recording::new(start(9, Encoding::Pcm16, 0));
        let frame: Vec<u8> = (1..=160u8).collect();
        for _ in 0..3 {
            r.push_frame(w.queue(), Codec::Pcmu, Some(&frame), 160);
        }
        w.queue().push(RecMsg::End { rec: 9 }).expect("push");
        let mut seen = HashMap::new();
        assert_eq!(
            wait_finalized(9, &rx, &mut seen, Duration::from_secs(10)),
            None
        );
        let mut rd = hound::WavReader::open(&path).expect("valid wav");
        let s: Vec<i16> = rd.samples::<i16>().map(|s| s.expect("sample")).collect();
        assert_eq!(s.len(), 480);
        assert_eq!(s[0], crate::codec::ulaw_to_linear(1));
        assert_eq!(s[479], crate::codec::ulaw_to_linear(160));
        w.stop();
    }

    #[test]
    fn stop_finalizes_open_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("r.wav");
        let (tx, rx) = crossbeam_channel::unbounded();
        let w = Writer::start(64, tx).expect("writer");
        let file = create_file(dir.path(), Path::new("r.wav"), Encoding::G711(Codec::Pcmu))
            .expect("create");
        let q = w.queue().clone();
        q.push(RecMsg::Open {
            rec: 1,
            file,
            format: Encoding::G711(Codec::Pcmu),
            channels: 1,
        })
        .expect("push");
        let mut r = Recording::new(start(1, Encoding::G711(Codec::Pcmu), 0));
        r.push_frame(&q, Codec::Pcmu, Some(&[7u8; 100]), 100);
        w.stop();
        assert_eq!(rx.try_recv(), Ok((1, None)));
        let bytes = std::fs::read(&path).expect("read");
        let a = super::super::audio::Audio::from_wav(&bytes).expect("valid");
        assert_eq!(a.encoded().expect("ulaw").1.len(), 100);
        assert_eq!(bytes.len(), Encoding::G711(Codec::Pcmu).header_len() + 100);
    }
}
