//! What every Arcane service process (zone server, orchestrator, tools) shares and
//! none of them owns: logging set-up, the shutdown signal, fault-injection points for
//! the fault tests, the retry policy, wall-clock helpers, the control plane's request
//! signatures ([`control_auth`]), process identities that
//! survive pid reuse, and the one-declaration metric sets ([`metric_set!`]).
//!
//! **Architecture Invariant:** no Arcane crate below this one. The zone server and
//! the orchestrator both use it, so anything here must make sense to both; a helper
//! that needs a zone or an orchestrator type belongs in that crate instead.

pub mod control_auth;
mod failpoint;
mod logging;
mod metrics;
mod process;
mod retry;
mod shutdown;
mod time;

pub use failpoint::{FAILPOINT_ENV, failpoint};
pub use logging::init_logging;
pub use metrics::{OPENMETRICS_CONTENT_TYPE, ProcessInfo, encode_registries};
pub use process::{ProcessIdentity, SUPERSEDED_EXIT, SUPERVISOR_PID_ENV, host_name};
pub use retry::{Backoff, RetryPolicy};
pub use shutdown::shutdown_signal;
pub use time::{random_token, unix_ms};
pub use tokio_util::sync::CancellationToken;

/// Re-exported for [`metric_set!`]: the Prometheus client every service uses.
pub use prometheus_client;
