//! Command-line tools of the `mediagw` binary besides the gateway itself.

use std::path::Path;

/// `mediagw dtmf-detect FILE.wav`: one line per digit (`SECONDS DIGIT`, seconds of the
/// digit's start), or with `digits_only` just the digit string; the same detector as
/// the media workers.
pub fn dtmf_detect(path: &Path, digits_only: bool) -> anyhow::Result<()> {
    let found =
        crate::dtmf::detect_wav(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if digits_only {
        println!("{}", found.iter().map(|d| d.digit).collect::<String>());
    } else {
        for d in &found {
            println!("{:.3} {}", d.start_s, d.digit);
        }
    }
    Ok(())
}
