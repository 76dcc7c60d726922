//! Starting and watching zone-server processes. The orchestrator asks a [`Supervisor`]
//! for zones (the world's shared zones at start, overflow copies and instances on
//! demand); in local mode [`LocalSupervisor`] runs them as child processes, restarts
//! one that crashes (with exponential backoff) or, for a configured map, exits, and
//! ends the orphans a killed predecessor left. A Kubernetes/Agones backend
//! (GameServerAllocation, `agones.rs`) implements the same trait.

pub mod agones;
mod local;
mod restart;

pub use local::{LocalConfig, LocalSupervisor, STOP_GRACE};
pub use restart::{AfterExit, RestartPolicy};

use std::sync::Arc;
use std::time::Duration;

/// A zone to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSpec {
    pub zone_id: String,
    /// The content zone (map) it runs.
    pub template: String,
    /// Close the zone once it has been empty this long (overflow copies); instances
    /// take theirs from content.
    pub close_after_empty: Option<Duration>,
    /// A configured map of the world (`--zones`): kept available, so started again
    /// after any exit, a clean one included (a drained zone), until the supervisor
    /// stops. Copies and instances are not: a clean exit means they closed.
    pub keep_running: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("no supervisor is configured to start zone {0}; start it yourself")]
    Unsupported(String),
    #[error("cannot start zone {zone}: {source}")]
    Spawn {
        zone: String,
        source: std::io::Error,
    },
}

/// Runs zones somewhere.
pub trait Supervisor: Send + Sync + 'static {
    /// Starts `spec` unless it is already running (idempotent).
    fn start(&self, spec: ZoneSpec) -> Result<(), SupervisorError>;
    /// Ids of the zones it runs now.
    fn running(&self) -> Vec<String>;
}

impl<T: Supervisor> Supervisor for Arc<T> {
    fn start(&self, spec: ZoneSpec) -> Result<(), SupervisorError> {
        (**self).start(spec)
    }
    fn running(&self) -> Vec<String> {
        (**self).running()
    }
}

/// For orchestrators whose zones are started by someone else.
pub struct NoSupervisor;

impl Supervisor for NoSupervisor {
    fn start(&self, spec: ZoneSpec) -> Result<(), SupervisorError> {
        Err(SupervisorError::Unsupported(spec.zone_id))
    }
    fn running(&self) -> Vec<String> {
        Vec::new()
    }
}
