//! Runs one target on the given files, without afl, to triage a crash or a slow input:
//! `cargo run -p mediagw-fuzz --bin fuzz_replay -- TARGET FILE...` prints each file's
//! time and panic message (with `RUST_BACKTRACE=1`, where it panicked).

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(name), files) = (args.next(), args.collect::<Vec<_>>()) else {
        eprintln!("usage: fuzz_replay TARGET FILE...");
        std::process::exit(2);
    };
    let Some((_, run)) = mediagw_fuzz::TARGETS.iter().find(|(n, _)| *n == name) else {
        eprintln!("unknown target {name}");
        std::process::exit(2);
    };
    let mut failed = 0;
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        let started = Instant::now();
        let ok = std::panic::catch_unwind(|| run(&data)).is_ok();
        println!(
            "{file}: {} in {:?}",
            if ok { "ok" } else { "PANIC" },
            started.elapsed()
        );
        failed += usize::from(!ok);
    }
    std::process::exit(i32::from(failed > 0));
}
