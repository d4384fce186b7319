//! Command-line tools of the `mediagw` binary besides the gateway itself.

use std::path::Path;

/// `mediagw dtmf-detect FILE.wav`: one line per digit (`SECONDS DIGIT`), or with
/// `digits_only` just the digit string.
pub fn dtmf_detect(path: &Path, digits_only: bool) -> anyhow::Result<()> {
    let _ = (path, digits_only);
    anyhow::bail!("dtmf-detect is not available in this build yet")
}
