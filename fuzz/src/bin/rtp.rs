//! afl.rs entry point of the `rtp` target: see [`mediagw_fuzz::rtp`].

fn main() {
    afl::fuzz!(|data: &[u8]| {
        mediagw_fuzz::rtp::run(data);
    });
}
