//! afl.rs entry point of the `sip_parse` target: see [`mediagw_fuzz::sip_parse`].

fn main() {
    afl::fuzz!(|data: &[u8]| {
        mediagw_fuzz::sip_parse::run(data);
    });
}
