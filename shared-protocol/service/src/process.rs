//! Which process is which, across restarts: a pid alone can be reused, so a process
//! is named by its pid and its start time since boot (`/proc/<pid>/stat`). A
//! supervisor records its children this way and a zone names its lease holder this
//! way, so a later process can tell a live holder from a dead one on the same host.

use std::fmt;
use std::str::FromStr;

/// The exit code of a zone process that another process of the same zone replaced
/// (it lost its lease): a supervisor must not count it as a crash.
pub const SUPERSEDED_EXIT: u8 = 3;

/// Names a zone's supervisor to the zone (its pid): the zone asks the kernel for
/// SIGTERM when that process dies, so it drains instead of living on as an orphan.
pub const SUPERVISOR_PID_ENV: &str = "ARCANE_SUPERVISOR_PID";

/// A process on this host: pid and start time (clock ticks since boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessIdentity {
    pub pid: u32,
    pub start_ticks: u64,
}

impl ProcessIdentity {
    /// The process running this code (`None` where `/proc` cannot be read).
    pub fn current() -> Option<ProcessIdentity> {
        Self::of(std::process::id())
    }

    /// The process `pid` now, if it exists.
    pub fn of(pid: u32) -> Option<ProcessIdentity> {
        let stat = procfs::process::Process::new(i32::try_from(pid).ok()?)
            .ok()?
            .stat()
            .ok()?;
        Some(ProcessIdentity {
            pid,
            start_ticks: stat.starttime,
        })
    }

    /// True while this very process runs (not another one that got its pid). A
    /// zombie (exited, not yet reaped) does not count.
    pub fn is_alive(&self) -> bool {
        let Ok(p) = procfs::process::Process::new(self.pid as i32) else {
            return false;
        };
        p.stat()
            .is_ok_and(|s| s.starttime == self.start_ticks && s.state != 'Z' && s.state != 'X')
    }
}

impl fmt::Display for ProcessIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.pid, self.start_ticks)
    }
}

impl FromStr for ProcessIdentity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (pid, start) = s.split_once('@').ok_or("expected pid@start")?;
        Ok(ProcessIdentity {
            pid: pid.parse().map_err(|e| format!("bad pid {pid:?}: {e}"))?,
            start_ticks: start
                .parse()
                .map_err(|e| format!("bad start {start:?}: {e}"))?,
        })
    }
}

/// This host's name (for lease holders: a holder on another host cannot be checked).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reused_pid_or_a_reaped_child_is_not() {
        let me = ProcessIdentity::current().unwrap();
        assert!(me.is_alive());
        assert_eq!(me.to_string().parse::<ProcessIdentity>(), Ok(me));
        let reused = ProcessIdentity {
            start_ticks: me.start_ticks + 1,
            ..me
        };
        assert!(
            !reused.is_alive(),
            "same pid, another start: another process"
        );
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let id = ProcessIdentity::of(child.id()).unwrap();
        child.wait().unwrap();
        assert!(!id.is_alive());
        assert!("12".parse::<ProcessIdentity>().is_err());
    }
}
