//! Replays every committed input (`corpus/<target>/*` and `regressions/<target>/*`)
//! through its target function on the stable toolchain, so `cargo test` catches a
//! regression of any crash or hang afl ever found, without afl.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mediagw_fuzz::TARGETS;

/// The files of `dir`, sorted (none when it does not exist).
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(kind: &str, min_per_target: usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(kind);
    let mut total = 0;
    for (name, run) in TARGETS {
        let files = inputs(&root.join(name));
        assert!(
            files.len() >= min_per_target,
            "{kind}/{name} holds {} inputs, expected at least {min_per_target}",
            files.len()
        );
        for file in &files {
            let data = std::fs::read(file).expect("readable input");
            let started = Instant::now();
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{} panicked (see above)", file.display());
            // A debug build on a loaded machine: generous, but a hang still fails.
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{} took {:?}",
                file.display(),
                started.elapsed()
            );
        }
        total += files.len();
    }
    eprintln!("replayed {total} {kind} inputs");
}

#[test]
fn corpus_replays_without_panic() {
    replay("corpus", 3);
}

#[test]
fn regressions_replay_without_panic() {
    replay("regressions", 0);
}
