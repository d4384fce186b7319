//! afl.rs entry point of the `sip_transaction` target: see [`mediagw_fuzz::sip_transaction`].

fn main() {
    afl::fuzz!(|data: &[u8]| {
        mediagw_fuzz::sip_transaction::run(data);
    });
}
