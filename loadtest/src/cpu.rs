//! CPU time from `/proc`, for the cost per packet and for naming who limited a step:
//! a thread's run time and run-queue wait (`/proc/<pid>/task/<tid>/schedstat`,
//! nanoseconds; `stat`'s utime+stime in clock ticks where schedstat is missing), the
//! run time of the core's `ksoftirqd/<core>`, and the core's softirq and busy ticks
//! (`/proc/stat`). [`Probe`] samples one thread (with its core); two samples make a
//! [`CpuUse`].
//!
//! Softirq attribution. On loopback the receive processing of a datagram (UDP receive,
//! queueing on the socket, waking the reader) runs on the *sender's* core, in the
//! sender's system call: the generator's packets are delivered on the generator's core,
//! and the packets a target sends back are delivered on the target's core, inside the
//! target's `sendmsg`. So the target is charged one receive delivery per packet it sends
//! rather than per packet it receives (same count and size for an echo or a gateway
//! answering every frame). Where that processing lands:
//! - inline in the target's system call: without `CONFIG_IRQ_TIME_ACCOUNTING` it is part
//!   of the thread's own run time (the kernel does not separate it); with it, it is taken
//!   out of the thread's time and shows only in the core's softirq column;
//! - deferred to `ksoftirqd/<core>` under load: that thread's run time, in both cases.
//!
//! [`CpuUse::charged_ns`] therefore adds `ksoftirqd/<core>` always, and the core's
//! softirq ticks only when the kernel accounts irq time separately.

use std::fs;

/// A thread's run time and the time it waited for a CPU while runnable, ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadTimes {
    /// On a CPU.
    pub exec_ns: u64,
    /// Runnable, waiting on a run queue (other work held its core).
    pub wait_ns: u64,
}

/// `schedstat`: `sum_exec_runtime run_delay timeslices`, ns.
pub fn parse_schedstat(text: &str) -> Option<ThreadTimes> {
    let mut w = text.split_whitespace();
    let exec_ns = w.next()?.parse().ok()?;
    let wait_ns = w.next()?.parse().ok()?;
    Some(ThreadTimes { exec_ns, wait_ns })
}

/// `stat`: utime + stime in clock ticks (fields 14 and 15; the command name in
/// parentheses may itself hold spaces and parentheses, so fields count from the last `)`).
pub fn parse_task_stat(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state is field 3, so utime (14) is f[11] and stime (15) is f[12].
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// One core's line of `/proc/stat`, in clock ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoreTicks {
    /// Everything but idle and iowait (user, nice, system, irq, softirq, steal).
    pub busy: u64,
    /// The softirq column.
    pub softirq: u64,
    /// All columns.
    pub total: u64,
}

/// The `cpu<core>` line of a `/proc/stat` text.
pub fn parse_proc_stat(text: &str, core: usize) -> Option<CoreTicks> {
    let name = format!("cpu{core}");
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is
    // already counted in user.
    let col = |i: usize| v.get(i).copied().unwrap_or(0);
    if v.len() < 7 {
        return None;
    }
    let total: u64 = (0..8).map(col).sum();
    Some(CoreTicks {
        busy: total - col(3) - col(4),
        softirq: col(6),
        total,
    })
}

/// The machine's busy time so far over all its cores (`/proc/stat`, every process on
/// it, ours and others'), ns; 0 when unreadable.
pub fn machine_busy_ns() -> u64 {
    let text = fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = (0..)
        .map_while(|core| parse_proc_stat(&text, core))
        .map(|c| c.busy)
        .sum();
    ticks * 1_000_000_000 / clk_tck()
}

/// Whether the running kernel accounts irq time apart from tasks
/// (`CONFIG_IRQ_TIME_ACCOUNTING`), from `/boot/config-<release>` or `/proc/config.gz`;
/// `None` when neither is readable.
pub fn irq_time_accounting() -> Option<bool> {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let text = fs::read_to_string(format!("/boot/config-{}", release.trim()))
        .ok()
        .or_else(|| {
            use std::io::Read;
            let gz = fs::File::open("/proc/config.gz").ok()?;
            let mut s = String::new();
            flate2::read::GzDecoder::new(gz)
                .read_to_string(&mut s)
                .ok()?;
            Some(s)
        })?;
    Some(kconfig_set(&text, "CONFIG_IRQ_TIME_ACCOUNTING"))
}

/// Is `key` set (`=y`) in a kernel configuration text?
pub fn kconfig_set(text: &str, key: &str) -> bool {
    text.lines()
        .any(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')) == Some("y"))
}

/// Clock ticks per second (`USER_HZ`).
pub fn clk_tck() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// The calling thread's id.
pub fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u32 }
}

/// The first thread of process `pid` whose name starts with `prefix`.
pub fn find_thread(pid: u32, prefix: &str) -> Option<u32> {
    let mut tids: Vec<u32> = fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    tids.into_iter().find(|tid| {
        fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
            .is_ok_and(|c| c.trim_end().starts_with(prefix))
    })
}

/// The one core thread `tid` may run on, when its affinity is a single core.
pub fn pinned_core(tid: u32) -> Option<usize> {
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity writes at most its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let rc = unsafe {
        libc::sched_getaffinity(tid as libc::pid_t, size_of::<libc::cpu_set_t>(), &mut set)
    };
    if rc != 0 {
        return None;
    }
    let cores: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: the index is within the set.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect();
    (cores.len() == 1).then(|| cores[0])
}

/// The process whose name is exactly `name` (a kernel thread such as `ksoftirqd/0`).
pub fn find_process(name: &str) -> Option<u32> {
    fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == name)
        })
}

/// A process's user + system time so far, ns (all its threads).
pub fn process_ns(pid: u32) -> Option<u64> {
    let ticks = parse_task_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
    Some(ticks * 1_000_000_000 / clk_tck())
}

/// The user + system time so far of every process in process group `pgid` (a server
/// and the workers it forked, e.g. Kamailio), ns.
pub fn group_ns(pgid: u32) -> u64 {
    let Ok(rd) = fs::read_dir("/proc") else {
        return 0;
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter(|stat| stat_pgrp(stat) == Some(pgid))
        .filter_map(|stat| parse_task_stat(&stat))
        .sum::<u64>()
        * 1_000_000_000
        / clk_tck()
}

/// `stat`'s process group (field 5, counted from the last `)`).
pub fn stat_pgrp(text: &str) -> Option<u32> {
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// A thread's times so far: schedstat when present, else utime+stime (no wait).
pub fn thread_times(pid: u32, tid: u32) -> Option<ThreadTimes> {
    let base = format!("/proc/{pid}/task/{tid}");
    if let Some(t) = fs::read_to_string(format!("{base}/schedstat"))
        .ok()
        .and_then(|s| parse_schedstat(&s))
    {
        return Some(t);
    }
    let ticks = parse_task_stat(&fs::read_to_string(format!("{base}/stat")).ok()?)?;
    Some(ThreadTimes {
        exec_ns: ticks * 1_000_000_000 / clk_tck(),
        wait_ns: 0,
    })
}

/// What to sample: one thread, and the core it is pinned to.
#[derive(Clone, Debug)]
pub struct Probe {
    /// Process.
    pub pid: u32,
    /// Thread.
    pub tid: u32,
    /// The thread's core (its softirq and `ksoftirqd`), when pinned.
    pub core: Option<usize>,
    /// `ksoftirqd/<core>`'s pid.
    ksoftirqd: Option<u32>,
}

/// One sample of a [`Probe`].
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Monotonic time of the sample, ns.
    pub at_ns: u64,
    /// The thread's times.
    pub thread: ThreadTimes,
    /// `ksoftirqd/<core>`'s run time, ns.
    pub ksoftirqd_ns: u64,
    /// The core's ticks.
    pub core: CoreTicks,
}

fn monotonic_ns() -> u64 {
    // SAFETY: clock_gettime writes into the timespec.
    let mut t: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

impl Probe {
    /// Thread `tid` of `pid`, pinned to `core`.
    pub fn new(pid: u32, tid: u32, core: Option<usize>) -> Probe {
        let ksoftirqd = core.and_then(|c| find_process(&format!("ksoftirqd/{c}")));
        Probe {
            pid,
            tid,
            core,
            ksoftirqd,
        }
    }

    /// The calling thread, pinned to `core`.
    pub fn this_thread(core: Option<usize>) -> Probe {
        Probe::new(std::process::id(), gettid(), core)
    }

    /// Reads the thread's, `ksoftirqd`'s and the core's times; `None` when the thread
    /// is gone.
    pub fn sample(&self) -> Option<Sample> {
        let thread = thread_times(self.pid, self.tid)?;
        let ksoftirqd_ns = self
            .ksoftirqd
            .and_then(|k| thread_times(k, k))
            .map_or(0, |t| t.exec_ns);
        let core = match self.core {
            Some(c) => fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|s| parse_proc_stat(&s, c))
                .unwrap_or_default(),
            None => CoreTicks::default(),
        };
        Some(Sample {
            at_ns: monotonic_ns(),
            thread,
            ksoftirqd_ns,
            core,
        })
    }
}

/// CPU used between two samples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuUse {
    /// Wall time between the samples.
    pub wall_ns: u64,
    /// The thread on a CPU.
    pub exec_ns: u64,
    /// The thread runnable but waiting for its CPU.
    pub wait_ns: u64,
    /// `ksoftirqd/<core>` on a CPU.
    pub ksoftirqd_ns: u64,
    /// The core's softirq column.
    pub core_softirq_ns: u64,
    /// The core busy with anything (this thread, other processes, interrupts).
    pub core_busy_ns: u64,
}

impl CpuUse {
    /// From sample `a` to the later sample `b`.
    pub fn between(a: &Sample, b: &Sample) -> CpuUse {
        let tick = 1_000_000_000 / clk_tck();
        CpuUse {
            wall_ns: b.at_ns.saturating_sub(a.at_ns),
            exec_ns: b.thread.exec_ns.saturating_sub(a.thread.exec_ns),
            wait_ns: b.thread.wait_ns.saturating_sub(a.thread.wait_ns),
            ksoftirqd_ns: b.ksoftirqd_ns.saturating_sub(a.ksoftirqd_ns),
            core_softirq_ns: b.core.softirq.saturating_sub(a.core.softirq) * tick,
            core_busy_ns: b.core.busy.saturating_sub(a.core.busy) * tick,
        }
    }

    /// Share of the wall time the thread was on a CPU.
    pub fn busy(&self) -> f64 {
        self.exec_ns as f64 / self.wall_ns.max(1) as f64
    }

    /// Share of the wall time the thread waited for its CPU.
    pub fn waited(&self) -> f64 {
        self.wait_ns as f64 / self.wall_ns.max(1) as f64
    }

    /// The CPU time charged to the target (module doc): the thread, `ksoftirqd` of its
    /// core, and the core's softirq when the kernel keeps irq time apart from tasks.
    pub fn charged_ns(&self, irq_time_accounting: bool) -> u64 {
        self.exec_ns
            + self.ksoftirqd_ns
            + if irq_time_accounting {
                self.core_softirq_ns
            } else {
                0
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_group_is_read_after_the_command_name() {
        let stat = "4242 (kamailio (x) y) S 1 4200 4200 0 -1 4194560 1 0 0 0 7 3 0 0";
        assert_eq!(stat_pgrp(stat), Some(4200));
        assert_eq!(parse_task_stat(stat), Some(10));
        // SAFETY: getpgrp has no preconditions.
        let me = unsafe { libc::getpgrp() } as u32;
        let own = format!("/proc/{}/stat", std::process::id());
        let text = fs::read_to_string(own).expect("own stat");
        assert_eq!(stat_pgrp(&text), Some(me));
        assert!(group_ns(u32::MAX) == 0, "no such group");
    }

    #[test]
    fn schedstat_is_run_time_then_wait() {
        assert_eq!(
            parse_schedstat("197162406 12159197 413\n"),
            Some(ThreadTimes {
                exec_ns: 197_162_406,
                wait_ns: 12_159_197
            })
        );
        assert_eq!(parse_schedstat("12\n"), None);
        assert_eq!(parse_schedstat("x y z"), None);
    }

    #[test]
    fn task_stat_counts_fields_after_the_last_parenthesis() {
        // A thread name with a space and a parenthesis must not shift the fields.
        let s = "4242 (media worker) 0) S 1 4242 4242 0 -1 4194368 100 0 0 0 731 269 0 0 20 0 3 0 1000 0 0";
        assert_eq!(parse_task_stat(s), Some(731 + 269));
        assert_eq!(parse_task_stat("4242 (x) S 1"), None);
        assert_eq!(parse_task_stat("no parenthesis"), None);
    }

    #[test]
    fn proc_stat_line_of_one_core() {
        let text = "cpu  1321444 107904 452078 1079036 176420 0 14064 33531 0 0\n\
                    cpu0 650790 52879 223039 555259 86927 0 6527 16744 0 0\n\
                    cpu1 670654 55025 229038 523776 89492 0 7537 16787 0 0\n\
                    intr 9 0\n";
        let c1 = parse_proc_stat(text, 1).expect("cpu1");
        assert_eq!(c1.softirq, 7537);
        assert_eq!(
            c1.total,
            670654 + 55025 + 229038 + 523776 + 89492 + 7537 + 16787
        );
        assert_eq!(c1.busy, c1.total - 523776 - 89492);
        assert_eq!(parse_proc_stat(text, 0).expect("cpu0").softirq, 6527);
        assert_eq!(parse_proc_stat(text, 2), None, "no cpu2; cpu1x is not cpu1");
        assert_eq!(parse_proc_stat("cpu0 1 2 3", 0), None, "too few columns");
    }

    #[test]
    fn kconfig_only_y_counts() {
        let t = "CONFIG_HZ=250\n# CONFIG_IRQ_TIME_ACCOUNTING is not set\nCONFIG_HAVE_IRQ_TIME_ACCOUNTING=y\n";
        assert!(!kconfig_set(t, "CONFIG_IRQ_TIME_ACCOUNTING"));
        assert!(kconfig_set(t, "CONFIG_HAVE_IRQ_TIME_ACCOUNTING"));
        assert!(kconfig_set(
            "CONFIG_IRQ_TIME_ACCOUNTING=y\n",
            "CONFIG_IRQ_TIME_ACCOUNTING"
        ));
    }

    #[test]
    fn use_between_samples_and_what_is_charged() {
        let tick = 1_000_000_000 / clk_tck();
        let a = Sample {
            at_ns: 1_000_000_000,
            thread: ThreadTimes {
                exec_ns: 5_000_000,
                wait_ns: 1_000_000,
            },
            ksoftirqd_ns: 100,
            core: CoreTicks {
                busy: 10,
                softirq: 2,
                total: 50,
            },
        };
        let b = Sample {
            at_ns: 3_000_000_000,
            thread: ThreadTimes {
                exec_ns: 1_005_000_000,
                wait_ns: 201_000_000,
            },
            ksoftirqd_ns: 20_000_100,
            core: CoreTicks {
                busy: 110,
                softirq: 12,
                total: 250,
            },
        };
        let u = CpuUse::between(&a, &b);
        assert_eq!(u.wall_ns, 2_000_000_000);
        assert!((u.busy() - 0.5).abs() < 1e-9);
        assert!((u.waited() - 0.1).abs() < 1e-9);
        assert_eq!(u.core_softirq_ns, 10 * tick);
        assert_eq!(u.core_busy_ns, 100 * tick);
        assert_eq!(u.charged_ns(false), 1_000_000_000 + 20_000_000);
        assert_eq!(u.charged_ns(true), 1_000_000_000 + 20_000_000 + 10 * tick);
    }

    /// The calling thread's CPU time, ns.
    fn thread_cpu_ns() -> u64 {
        // SAFETY: clock_gettime writes into the timespec.
        let mut t: libc::timespec = unsafe { std::mem::zeroed() };
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
        t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
    }

    #[test]
    fn this_thread_is_found_and_sampled() {
        let name = "cpu-probe-test";
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let (burnt_tx, burnt_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _ = tx.send(gettid());
                // Burn 30 ms of this thread's own CPU time (however long the shared
                // machine makes that take, up to 10 s), then wait to be stopped (bounded).
                let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
                let mut x = 0u64;
                while thread_cpu_ns() < 30_000_000 && std::time::Instant::now() < end {
                    x = x.wrapping_add(1);
                }
                std::hint::black_box(x);
                let _ = burnt_tx.send(());
                let _ = stop_rx.recv_timeout(std::time::Duration::from_secs(10));
            })
            .expect("spawn");
        let tid = rx.recv().expect("tid");
        assert_eq!(find_thread(std::process::id(), name), Some(tid));
        let p = Probe::new(std::process::id(), tid, None);
        let a = p.sample().expect("sample");
        burnt_rx
            .recv_timeout(std::time::Duration::from_secs(15))
            .expect("the thread burnt its CPU time");
        std::thread::sleep(std::time::Duration::from_millis(60));
        let b = p.sample().expect("sample");
        let u = CpuUse::between(&a, &b);
        assert!(u.wall_ns >= 50_000_000, "{u:?}");
        assert!(
            b.thread.exec_ns >= 20_000_000,
            "the thread burnt ~30 ms: {b:?}"
        );
        let _ = stop_tx.send(());
        t.join().expect("join");
        assert!(find_thread(std::process::id(), name).is_none());
        assert!(process_ns(std::process::id()).is_some());
    }
}
