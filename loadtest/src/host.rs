//! The machine the generator runs on: its description for the report, the open-file
//! limit raised for thousands of sockets, and the generator's async runtime.

/// `N cores, CPU model, Linux release`.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let n = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{n} cores, {cpu}, Linux {}", kernel.trim())
}

/// Number of cores this process may run on.
pub fn cores() -> usize {
    core_affinity::get_core_ids().map(|c| c.len()).unwrap_or(1)
}

/// Raises the soft open-file limit to the hard one.
pub fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// The generator's async runtime: one thread for SIP, the API client and the driver (the
/// RTP streamer runs on its own pinned thread).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}
