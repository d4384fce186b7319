//! The project's `examples/` programs as child processes: built once per test process
//! (`cargo test` builds examples under hashed names only, so a clean checkout compiles
//! them on first use) and killed when their guard drops.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Mutex;

/// The executable of `examples/<name>.rs`, building it first if needed. Call it before
/// starting anything with a deadline: the first build takes tens of seconds on a loaded
/// 2-core machine.
pub fn example_binary(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    // target/<profile>/deps/<test binary> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().expect("test path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join("examples").join(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        if !bin.exists() {
            // The workspace root: testkit/.. holds the package the examples belong to.
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            let st = Command::new(env!("CARGO"))
                .args(["build", "--example", name])
                .current_dir(root)
                .status()
                .unwrap_or_else(|e| panic!("cargo build --example {name}: {e}"));
            assert!(st.success(), "cargo build --example {name} failed");
        }
        built.push(name.to_string());
    }
    bin
}

/// A child process killed and reaped when dropped (a failed test leaves nothing behind).
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
