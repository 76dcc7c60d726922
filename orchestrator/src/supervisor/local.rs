//! The local supervisor: zone-server child processes, restarted when they crash.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arcane_service::{CancellationToken, RetryPolicy};
use tokio::process::Command;

use super::restart::{AfterExit, RestartPolicy};
use super::{Supervisor, SupervisorError, ZoneSpec};

/// How the local supervisor runs a zone-server.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// The zone-server program and the arguments before the zone's own (for example
    /// `zone-server`, or `arcane zone`).
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Passed to every zone: the orchestrator to register with.
    pub orchestrator_url: String,
    /// Content folder the zones load.
    pub content: PathBuf,
    /// Extra environment (database URL, ticket secret, log filter).
    pub env: Vec<(String, String)>,
    /// Waits before restarting a crashed zone (jittered, doubling).
    pub restart: RetryPolicy,
}

struct Child {
    /// Restarts of this zone so far.
    restarts: u32,
}

/// Runs zones as child processes of the orchestrator and restarts crashed ones. A
/// zone that exits cleanly (a closed instance, a drained zone) is not restarted.
/// Children are killed when the supervisor's shutdown signal fires or it is dropped.
pub struct LocalSupervisor {
    config: LocalConfig,
    children: Arc<Mutex<HashMap<String, Child>>>,
    shutdown: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LocalSupervisor {
    /// Must be created inside a tokio runtime (it spawns a watcher task per zone).
    pub fn new(config: LocalConfig) -> Self {
        LocalSupervisor {
            config,
            children: Arc::default(),
            shutdown: CancellationToken::new(),
        }
    }

    /// Restarts so far of `zone_id` (for tests and the demo report).
    pub fn restarts(&self, zone_id: &str) -> Option<u32> {
        lock(&self.children).get(zone_id).map(|c| c.restarts)
    }

    /// Stops every child (SIGTERM, so zones save their players, then SIGKILL after a
    /// grace period) and stops restarting them; returns once they are gone.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        let deadline = tokio::time::Instant::now() + STOP_GRACE + Duration::from_secs(1);
        while !lock(&self.children).is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The zone-server command line for `spec`.
fn command(c: &LocalConfig, spec: &ZoneSpec) -> Command {
    let mut cmd = Command::new(&c.program);
    cmd.args(&c.args)
        .arg("--zone")
        .arg(&spec.template)
        .arg("--zone-id")
        .arg(&spec.zone_id)
        .arg("--content")
        .arg(&c.content)
        .arg("--orchestrator")
        .arg(&c.orchestrator_url)
        .args(["--ws-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
        .args(["--quic-addr", "127.0.0.1:0"])
        // Drain within the time `stop_child` allows before it kills.
        .arg("--drain-grace")
        .arg(format!(
            "{}ms",
            (STOP_GRACE - Duration::from_secs(1)).as_millis()
        ))
        .envs(c.env.iter().map(|(k, v)| (k, v)))
        .kill_on_drop(true);
    if let Some(d) = spec.close_after_empty {
        cmd.arg("--close-after-empty")
            .arg(format!("{}ms", d.as_millis()));
    }
    cmd
}

/// How long a zone gets to exit after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Asks a child to stop (SIGTERM), then kills it after `STOP_GRACE`.
async fn stop_child(child: &mut tokio::process::Child, zone: &str) {
    #[cfg(unix)]
    if let Some(pid) = child.id() {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        if kill(Pid::from_raw(pid as i32), Signal::SIGTERM).is_ok()
            && tokio::time::timeout(STOP_GRACE, child.wait()).await.is_ok()
        {
            return;
        }
    }
    tracing::warn!(zone, "zone did not stop in time; killing it");
    let _ = child.kill().await;
}

impl Drop for LocalSupervisor {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Supervisor for LocalSupervisor {
    fn start(&self, spec: ZoneSpec) -> Result<(), SupervisorError> {
        {
            let mut children = lock(&self.children);
            if children.contains_key(&spec.zone_id) {
                return Ok(());
            }
            children.insert(spec.zone_id.clone(), Child { restarts: 0 });
        }
        let mut child = match command(&self.config, &spec).spawn() {
            Ok(c) => c,
            Err(source) => {
                lock(&self.children).remove(&spec.zone_id);
                return Err(SupervisorError::Spawn {
                    zone: spec.zone_id,
                    source,
                });
            }
        };
        tracing::info!(zone = %spec.zone_id, template = %spec.template, "zone process started");
        let children = self.children.clone();
        let shutdown = self.shutdown.clone();
        let config = self.config.clone();
        tokio::spawn(async move {
            let mut policy = RestartPolicy::new(config.restart);
            loop {
                let started = tokio::time::Instant::now();
                let status = tokio::select! {
                    s = child.wait() => Some(s),
                    _ = shutdown.cancelled() => None,
                };
                let Some(status) = status else {
                    stop_child(&mut child, &spec.zone_id).await;
                    break;
                };
                let clean = matches!(&status, Ok(s) if s.success());
                if clean {
                    tracing::info!(zone = %spec.zone_id, "zone process exited cleanly");
                } else {
                    tracing::warn!(zone = %spec.zone_id, "zone process died: {status:?}");
                }
                let AfterExit::RestartIn(wait) = policy.after_exit(clean, started.elapsed()) else {
                    break;
                };
                let stop = tokio::select! {
                    _ = tokio::time::sleep(wait) => false,
                    _ = shutdown.cancelled() => true,
                };
                if stop {
                    break;
                }
                match command(&config, &spec).spawn() {
                    Ok(c) => {
                        child = c;
                        if let Some(c) = lock(&children).get_mut(&spec.zone_id) {
                            c.restarts += 1;
                        }
                        tracing::info!(zone = %spec.zone_id, "zone process restarted");
                    }
                    Err(e) => {
                        tracing::error!(zone = %spec.zone_id, "cannot restart zone: {e}");
                        break;
                    }
                }
            }
            lock(&children).remove(&spec.zone_id);
        });
        Ok(())
    }

    fn running(&self) -> Vec<String> {
        let mut ids: Vec<_> = lock(&self.children).keys().cloned().collect();
        ids.sort();
        ids
    }
}
