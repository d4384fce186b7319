//! The audio cache of the control plane: every file and prompt word is decoded once and
//! shared as an `Arc<Audio>` by every call that plays it. Files are keyed by path and
//! re-read when their modification time or size changes; embedded prompt words are
//! decoded on first use. Used only from control-plane threads (a mutex is fine here);
//! workers only ever see the `Arc`s.
//!
//! Audio is loaded when `play` is called: a file deleted or replaced after that does
//! not affect plays already started (they hold the decoded samples).

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::commands::MediaError;
use super::wav::{self, Audio};
use crate::speech::{PromptAudio, PromptSet, Word};

/// Largest file accepted (bytes): about 30 minutes of 16-bit 8 kHz audio.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

type FileKey = (Option<SystemTime>, u64);

/// Decoded audio by file path and by prompt word.
#[derive(Debug)]
pub struct PromptCache {
    media_root: PathBuf,
    set: PromptSet,
    files: Mutex<HashMap<PathBuf, (FileKey, Arc<Audio>)>>,
    words: Mutex<HashMap<Word, Arc<Audio>>>,
}

impl PromptCache {
    /// A cache resolving relative file names against `media_root`, prompt words from `set`.
    pub fn new(media_root: PathBuf, set: PromptSet) -> Self {
        Self {
            media_root,
            set,
            files: Mutex::new(HashMap::new()),
            words: Mutex::new(HashMap::new()),
        }
    }

    /// The path a play step's file name stands for: absolute names as given (the engine
    /// has confined them), relative ones under the media root; `..` is refused.
    pub fn resolve(&self, name: &str) -> Result<PathBuf, MediaError> {
        let p = Path::new(name);
        if name.is_empty() || p.components().any(|c| c == Component::ParentDir) {
            return Err(MediaError::File {
                path: p.to_path_buf(),
                reason: "invalid file name".into(),
            });
        }
        Ok(if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.media_root.join(p)
        })
    }

    /// The decoded audio of a file (relative to the media root, or absolute).
    pub fn file(&self, name: &str) -> Result<Arc<Audio>, MediaError> {
        let path = self.resolve(name)?;
        self.load_path(&path)
    }

    /// The decoded audio of the file at `path`, from the cache while the file is unchanged.
    pub fn load_path(&self, path: &Path) -> Result<Arc<Audio>, MediaError> {
        let err = |reason: String| MediaError::File {
            path: path.to_path_buf(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
        if !meta.is_file() {
            return Err(err("not a file".into()));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(err(format!("file larger than {MAX_FILE_BYTES} bytes")));
        }
        let key = (meta.modified().ok(), meta.len());
        if let Some((k, a)) = lock(&self.files).get(path)
            && *k == key
        {
            return Ok(a.clone());
        }
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let audio = Arc::new(wav::decode(&bytes).map_err(err)?);
        lock(&self.files).insert(path.to_path_buf(), (key, audio.clone()));
        Ok(audio)
    }

    /// The decoded audio of a prompt word.
    pub fn word(&self, w: Word) -> Result<Arc<Audio>, MediaError> {
        match self.set.locate(w) {
            PromptAudio::File(p) => self.load_path(&p),
            PromptAudio::Embedded(bytes) => {
                if let Some(a) = lock(&self.words).get(&w) {
                    return Ok(a.clone());
                }
                let audio = wav::decode(bytes).map_err(|reason| MediaError::File {
                    path: PathBuf::from(format!("<embedded prompt {w:?}>")),
                    reason,
                })?;
                let audio = Arc::new(audio);
                lock(&self.words).insert(w, audio.clone());
                Ok(audio)
            }
        }
    }

    /// Number of cached files and words (for tests and metrics).
    pub fn len(&self) -> usize {
        lock(&self.files).len() + lock(&self.words).len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pcm16(path: &Path, samples: &[i16]) {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).expect("create");
        for &s in samples {
            w.write_sample(s).expect("write");
        }
        w.finalize().expect("finalize");
    }

    #[test]
    fn files_are_shared_and_reloaded_when_changed() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = PromptCache::new(dir.path().to_path_buf(), PromptSet::Embedded);
        write_pcm16(&dir.path().join("a.wav"), &[1, 2, 3]);
        let a1 = cache.file("a.wav").expect("load");
        let a2 = cache.file("a.wav").expect("load");
        assert!(Arc::ptr_eq(&a1, &a2), "one decoded copy");
        assert_eq!(&a1.samples[..], &[1, 2, 3]);
        write_pcm16(&dir.path().join("a.wav"), &[4, 5, 6, 7]);
        let a3 = cache.file("a.wav").expect("reload");
        assert_eq!(&a3.samples[..], &[4, 5, 6, 7]);
        let abs = dir.path().join("a.wav");
        assert!(Arc::ptr_eq(
            &a3,
            &cache.file(abs.to_str().expect("utf8")).expect("abs")
        ));
    }

    #[test]
    fn missing_bad_and_escaping_files_are_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = PromptCache::new(dir.path().to_path_buf(), PromptSet::Embedded);
        match cache.file("nope.wav") {
            Err(MediaError::File { path, .. }) => assert!(path.ends_with("nope.wav")),
            other => panic!("{other:?}"),
        }
        std::fs::write(dir.path().join("bad.wav"), b"garbage").expect("write");
        match cache.file("bad.wav") {
            Err(MediaError::File { reason, .. }) => assert!(reason.contains("not a WAV")),
            other => panic!("{other:?}"),
        }
        assert!(cache.file("../x.wav").is_err());
        assert!(cache.file("").is_err());
    }

    #[test]
    fn embedded_words_decode_once() {
        let cache = PromptCache::new(PathBuf::from("/nonexistent"), PromptSet::Embedded);
        let a = cache.word(Word::Five).expect("embedded");
        assert!(a.len() > 800, "a real prompt");
        assert!(Arc::ptr_eq(&a, &cache.word(Word::Five).expect("again")));
        assert_eq!(cache.len(), 1);
    }
}
