//! afl.rs entry point of the `rtcp` target: see [`mediagw_fuzz::rtcp`].

fn main() {
    afl::fuzz!(|data: &[u8]| {
        mediagw_fuzz::rtcp::run(data);
    });
}
