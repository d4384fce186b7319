//! afl.rs entry point of the `rfc4733` target: see [`mediagw_fuzz::rfc4733`].

fn main() {
    afl::fuzz!(|data: &[u8]| {
        mediagw_fuzz::rfc4733::run(data);
    });
}
