//! The audio cache of the control plane: every file and prompt word is decoded once and
//! shared as an `Arc<Audio>` by every call that plays it. Files are opened beneath the
//! media root (never through a link out of it), keyed by path and re-read when the file
//! found there is another one or its modification time or size changes; embedded prompt words are
//! decoded on first use. Used only from control-plane threads (a mutex is fine here);
//! workers only ever see the `Arc`s.
//!
//! Audio is loaded when `play` is called: a file deleted or replaced after that does
//! not affect plays already started (they hold the decoded samples).

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::audio::Audio;
use super::beneath::{self, BeneathError};
use super::commands::MediaError;
use crate::speech::{PromptAudio, PromptSet, Word};

/// Largest file accepted (bytes): about 30 minutes of 16-bit 8 kHz audio.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// What identifies one version of a file: device, inode, modification time, size.
type FileKey = (u64, u64, Option<SystemTime>, u64);

/// Decoded audio by file path and by prompt word.
#[derive(Debug)]
pub struct PromptCache {
    media_root: PathBuf,
    set: PromptSet,
    files: Mutex<HashMap<PathBuf, (FileKey, Arc<Audio>)>>,
    words: Mutex<HashMap<Word, Arc<Audio>>>,
}

impl PromptCache {
    /// A cache opening file names beneath `media_root`, prompt words from `set`.
    pub fn new(media_root: PathBuf, set: PromptSet) -> Self {
        Self {
            media_root,
            set,
            files: Mutex::new(HashMap::new()),
            words: Mutex::new(HashMap::new()),
        }
    }

    /// The decoded audio of a file named relative to the media root. It is opened
    /// beneath the root ([`beneath`]): a name or a link leading out of the root is
    /// [`MediaError::NotAllowed`], whether or not anything exists out there.
    pub fn file(&self, name: &str) -> Result<Arc<Audio>, MediaError> {
        let rel = Path::new(name);
        let path = self.media_root.join(rel);
        let err = |reason: String| MediaError::File {
            path: path.clone(),
            reason,
        };
        if name.is_empty() || rel.components().any(|c| c == Component::ParentDir) {
            return Err(err("invalid file name".into()));
        }
        let file = beneath::open_read(&self.media_root, rel).map_err(|e| match e {
            BeneathError::Io(e) => err(e.to_string()),
            refused => MediaError::NotAllowed {
                reason: format!("file {name:?}: {refused}"),
            },
        })?;
        self.load_file(&path, file)
    }

    /// The decoded audio of the file at `path` (an operator's path: the prompt set).
    fn load_path(&self, path: &Path) -> Result<Arc<Audio>, MediaError> {
        let file = std::fs::File::open(path).map_err(|e| MediaError::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        self.load_file(path, file)
    }

    /// The decoded audio of the open `file` (named `path`), from the cache while the
    /// file is the same one, unchanged.
    fn load_file(&self, path: &Path, file: std::fs::File) -> Result<Arc<Audio>, MediaError> {
        let err = |reason: String| MediaError::File {
            path: path.to_path_buf(),
            reason,
        };
        let meta = file.metadata().map_err(|e| err(e.to_string()))?;
        if !meta.is_file() {
            return Err(err("not a file".into()));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(err(format!("file larger than {MAX_FILE_BYTES} bytes")));
        }
        let key = (meta.dev(), meta.ino(), meta.modified().ok(), meta.len());
        if let Some((k, a)) = lock(&self.files).get(path)
            && *k == key
        {
            return Ok(a.clone());
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| err(e.to_string()))?;
        let audio = Arc::new(Audio::from_wav(&bytes).map_err(err)?);
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
                let audio = Audio::from_wav(bytes).map_err(|reason| MediaError::File {
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

/// The prompt files a prompt set lacks (for start-up validation); always none for the
/// embedded set.
pub fn missing_prompt_files(set: &PromptSet) -> Vec<PathBuf> {
    Word::ALL
        .iter()
        .filter_map(|&w| match set.locate(w) {
            PromptAudio::File(p) if !p.is_file() => Some(p),
            _ => None,
        })
        .collect()
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
    fn missing_prompt_files_are_reported() {
        assert!(missing_prompt_files(&PromptSet::Embedded).is_empty());
        let nowhere = PromptSet::Dir(PathBuf::from("/nonexistent/mediagw/prompts"));
        assert_eq!(missing_prompt_files(&nowhere).len(), Word::ALL.len());
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("media/prompts");
        assert_eq!(
            missing_prompt_files(&PromptSet::Dir(shipped)),
            Vec::<PathBuf>::new(),
            "the shipped directory is complete"
        );
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
        assert!(Arc::ptr_eq(&a3, &cache.file("./a.wav").expect("same path")));
        // Absolute names are not the cache's to resolve (the engine makes them relative).
        let abs = dir.path().join("a.wav");
        assert!(matches!(
            cache.file(abs.to_str().expect("utf8")),
            Err(MediaError::NotAllowed { .. })
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
