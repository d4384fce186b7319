//! Command-line tools of the `mediagw` binary besides the gateway itself.

use std::path::Path;

use crate::dtmf::DetectedDigit;

/// The DTMF digits in the WAV file at `path` (the file read here, analysed by
/// [`crate::dtmf::detect_wav_bytes`]); the error names the file.
pub fn detect_file(path: &Path) -> anyhow::Result<Vec<DetectedDigit>> {
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read the file: {e}", path.display()))?;
    crate::dtmf::detect_wav_bytes(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// `mediagw dtmf-detect FILE.wav`: one line per digit (`SECONDS DIGIT`, seconds of the
/// digit's start), or with `digits_only` just the digit string; the same detector as
/// the media workers.
pub fn dtmf_detect(path: &Path, digits_only: bool) -> anyhow::Result<()> {
    let found = detect_file(path)?;
    if digits_only {
        println!("{}", found.iter().map(|d| d.digit).collect::<String>());
    } else {
        for d in &found {
            println!("{:.3} {}", d.start_s, d.digit);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::ToneGenerator;

    #[test]
    fn reads_a_file_from_disk() {
        let mut pcm = vec![0i16; 400];
        let mut g = ToneGenerator::new('7', 60, 80).expect("digit");
        let mut buf = [0i16; 160];
        loop {
            let n = g.tx(&mut buf);
            pcm.extend_from_slice(&buf[..n]);
            if n < buf.len() {
                break;
            }
        }
        let le: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("seven.wav");
        std::fs::write(&path, crate::codec::wav::wav_with(1, 1, 8000, 16, &le)).expect("write");
        let found = detect_file(&path).expect("wav");
        assert_eq!(found.iter().map(|d| d.digit).collect::<String>(), "7");
        let e = detect_file(Path::new("/nonexistent/x.wav")).expect_err("missing file");
        assert!(e.to_string().contains("cannot read the file"), "{e}");
        std::fs::write(&path, b"garbage").expect("write");
        let e = detect_file(&path).expect_err("not a wav");
        assert!(e.to_string().contains("not a WAV"), "{e}");
    }
}
