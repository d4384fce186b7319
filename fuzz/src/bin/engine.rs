//! afl.rs entry point of the `engine` target: see [`mediagw_fuzz::engine`].

fn main() {
    afl::fuzz!(|data: &[u8]| {
        mediagw_fuzz::engine::run(data);
    });
}
