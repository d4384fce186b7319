//! afl.rs entry point of the `jsonrpc` target: see [`mediagw_fuzz::jsonrpc`].

fn main() {
    afl::fuzz!(|data: &[u8]| {
        mediagw_fuzz::jsonrpc::run(data);
    });
}
