//! afl.rs entry point of the `sdp` target: see [`mediagw_fuzz::sdp`].

fn main() {
    afl::fuzz!(|data: &[u8]| {
        mediagw_fuzz::sdp::run(data);
    });
}
