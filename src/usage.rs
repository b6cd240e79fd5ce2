//! What a run took and why it ended: the kernel's rusage of the reaped child and, with limits,
//! what the run's cgroup counted (cgroup.rs).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use napi_derive::napi;

use crate::cgroup::RunCgroup;

/// What the program took, in seconds and bytes.
#[napi(object)]
pub struct Usage {
    /// From the clone to the reap.
    pub wall_time: f64,
    /// CPU time in user mode: the rusage of the reaped child (its own and its waited-for
    /// children's), or with limits the run cgroup's cpu.stat user_usec (the whole tree).
    pub user_time: f64,
    /// CPU time in the kernel, from the same source as userTime.
    pub system_time: f64,
    /// The largest resident set of the program or one of its waited-for children (ru_maxrss).
    pub max_rss: f64,
    /// With limits: memory.peak of the run's cgroup (Linux 5.19+).
    pub memory_peak: Option<f64>,
    /// With limits: pids.peak of the run's cgroup (where the kernel has it).
    pub pids_peak: Option<f64>,
    /// With limits: cpu.stat's throttled_usec, in seconds (with the cpu controller).
    pub cpu_throttled: Option<f64>,
    /// With limits: memory.events' oom_kill.
    pub oom_kills: Option<f64>,
}

/// A run's usage and why it ended as far as the kernel tells: 'exit', 'signal', 'oom' or
/// 'pids-limit' (the TypeScript layer knows 'timeout' and 'killed').
#[napi(object)]
pub struct RunReport {
    pub usage: Usage,
    pub reason: String,
}

/// A started run, until it is reaped.
pub struct Run {
    pub started: Instant,
    pub cgroup: Option<RunCgroup>,
}

fn seconds(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6
}

impl Run {
    /// The report for a reaped run; the cgroup is read, then emptied and removed.
    pub fn finish(self, status: i32, ru: &libc::rusage) -> RunReport {
        let wall_time = self.started.elapsed().as_secs_f64();
        let counted = self.cgroup.as_ref().map(RunCgroup::counted);
        drop(self.cgroup);
        let c = counted.unwrap_or_default();
        let usec = |v: Option<u64>| v.map(|v| v as f64 / 1e6);
        let usage = Usage {
            wall_time,
            user_time: usec(c.user_usec).unwrap_or(seconds(ru.ru_utime)),
            system_time: usec(c.system_usec).unwrap_or(seconds(ru.ru_stime)),
            max_rss: ru.ru_maxrss as f64 * 1024.0,
            memory_peak: c.memory_peak.map(|v| v as f64),
            pids_peak: c.pids_peak.map(|v| v as f64),
            cpu_throttled: usec(c.throttled_usec),
            oom_kills: c.oom_kills.map(|v| v as f64),
        };
        let reason = if c.oom_kills.unwrap_or(0) > 0 {
            "oom"
        } else if c.pids_max_hit {
            "pids-limit"
        } else if libc::WIFSIGNALED(status) {
            "signal"
        } else {
            "exit"
        };
        RunReport {
            usage,
            reason: reason.into(),
        }
    }
}

static RUNS: Mutex<Option<HashMap<i32, Run>>> = Mutex::new(None);

/// Keeps a run spawn() started until its exit is watched (`take`).
pub fn register(pid: i32, run: Run) {
    RUNS.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashMap::new)
        .insert(pid, run);
}

pub fn take(pid: i32) -> Option<Run> {
    RUNS.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_mut()?
        .remove(&pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> Run {
        Run {
            started: Instant::now(),
            cgroup: None,
        }
    }

    #[test]
    fn without_a_cgroup_the_reason_is_exit_or_signal_and_times_come_from_rusage() {
        // SAFETY: plain data.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        ru.ru_utime = libc::timeval {
            tv_sec: 1,
            tv_usec: 500_000,
        };
        ru.ru_stime.tv_usec = 250_000;
        ru.ru_maxrss = 2048;
        let exited = run().finish(3 << 8, &ru);
        assert_eq!(exited.reason, "exit");
        assert_eq!(exited.usage.user_time, 1.5);
        assert_eq!(exited.usage.system_time, 0.25);
        assert_eq!(exited.usage.max_rss, 2048.0 * 1024.0);
        assert!(exited.usage.memory_peak.is_none() && exited.usage.oom_kills.is_none());
        assert_eq!(run().finish(libc::SIGKILL, &ru).reason, "signal");
    }

    #[test]
    fn a_run_is_kept_until_its_exit_is_watched() {
        register(-7, run());
        assert!(take(-7).is_some());
        assert!(take(-7).is_none());
    }
}
