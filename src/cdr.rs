//! Call detail records on disk (`cdr.path`): one JSON line per released call, the
//! record the engine built (`on_released` with the call's media figures). The file is
//! opened for appending (other writers' lines and earlier runs' stay) and every line is
//! written with one `write` as the call ends, without a user-space buffer, so a crash
//! loses at most the call in flight. A write that fails is logged, once per failure
//! streak, and the gateway carries on.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The open CDR file.
pub struct CdrWriter {
    path: PathBuf,
    file: File,
    failing: bool,
    written: u64,
}

impl CdrWriter {
    /// Opens (creating it if needed) `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<CdrWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(CdrWriter {
            path: path.to_path_buf(),
            file,
            failing: false,
            written: 0,
        })
    }

    /// Appends one record as a line.
    pub fn write(&mut self, record: &serde_json::Value) {
        let mut line = record.to_string();
        line.push('\n');
        match self.file.write_all(line.as_bytes()) {
            Ok(()) => {
                self.written += 1;
                if self.failing {
                    tracing::info!("CDR file {} written again", self.path.display());
                    self.failing = false;
                }
            }
            Err(e) => {
                if !self.failing {
                    let res_id = record["res_id"].as_str().unwrap_or_default();
                    tracing::error!(
                        res_id,
                        "CDR file {}: cannot write: {e} (records are lost until it works again)",
                        self.path.display()
                    );
                }
                self.failing = true;
            }
        }
    }

    /// Records written since opening.
    pub fn written(&self) -> u64 {
        self.written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn appends_one_line_per_record_to_what_is_there() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("cdr.jsonl");
        std::fs::write(&path, "{\"earlier\":1}\n").expect("seed");
        let mut w = CdrWriter::open(&path).expect("open");
        w.write(&json!({"res_id": "a", "cause": 200}));
        w.write(&json!({"res_id": "b", "cause": 487}));
        // Written through: readable at once, without closing or flushing.
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1]["res_id"], "a");
        assert_eq!(lines[2]["cause"], 487);
        assert_eq!(w.written(), 2);
    }
}
