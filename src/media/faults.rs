//! Fault injection for the media plane's tests (debug builds only): when armed by the
//! driver, a datagram carrying [`mediagw_core::engine::faults::FAULT_MARKER`] makes its
//! call's handling panic, so a test can show the worker contain it (`handler.rs`).
//! Release builds compile none of it.

use std::sync::atomic::{AtomicBool, Ordering};

static ARMED: AtomicBool = AtomicBool::new(false);

/// Arms fault injection for this process's media workers.
pub fn arm() {
    ARMED.store(true, Ordering::Relaxed);
}

/// Panics when armed and `data` carries the marker.
pub fn maybe_fault(data: &[u8]) {
    let marker = mediagw_core::engine::faults::FAULT_MARKER.as_bytes();
    if ARMED.load(Ordering::Relaxed) && data.windows(marker.len()).any(|w| w == marker) {
        panic!("injected fault in the media plane");
    }
}
