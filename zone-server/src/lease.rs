//! The zone process's lease on its zone (see `arcane_store`'s lease module): taken at
//! start, renewed every second, given up after the last save. A process whose lease
//! was taken over stops at once and exits with [`SUPERSEDED_EXIT`]; one that cannot
//! renew (the database is unreachable, the process was stopped) stops ticking when
//! its lease may have expired, and goes on if it renews before anyone took it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use arcane_service::{CancellationToken, ProcessIdentity, host_name};
use arcane_store::{Store, ZoneLease};

use crate::metrics::Metrics;
use crate::status::TickStatus;

/// How long a lease lives without a renewal. A replacement for a process that died
/// without releasing it waits this long.
pub const LEASE_TTL: Duration = Duration::from_secs(10);

/// How often the holder renews.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);

/// The holder stops ticking this long before its lease expires on its own clock, so
/// clocks that disagree by less than this cannot make two processes tick at once.
pub const CLOCK_MARGIN: Duration = Duration::from_secs(2);

/// How long a starting zone waits for the previous holder's lease to be released or
/// to expire before it gives up (and its supervisor starts it again later).
pub const ACQUIRE_WAIT: Duration = Duration::from_secs(30);

/// The exit code of a zone process whose lease was taken over: another process runs
/// the zone, so a supervisor does not count it as a crash.
pub use arcane_service::SUPERSEDED_EXIT;

/// The zone process was replaced: another process holds the zone's lease.
#[derive(Debug, thiserror::Error)]
#[error("zone {0}'s lease was taken over by another process; this one stops")]
pub struct Superseded(pub String);

/// A unique holder name: `host/pid@start/token` (the process identity lets a
/// successor on the same host see that the holder is gone).
pub fn holder_name() -> String {
    let me = ProcessIdentity::current()
        .map_or_else(|| std::process::id().to_string(), |p| p.to_string());
    format!(
        "{}/{me}/{:08x}",
        host_name(),
        arcane_service::random_token() as u32
    )
}

/// Whether `holder` is a process on this host that no longer runs.
fn is_dead_here(holder: &str) -> bool {
    let mut parts = holder.split('/');
    let (Some(host), Some(id)) = (parts.next(), parts.next()) else {
        return false;
    };
    host == host_name() && id.parse::<ProcessIdentity>().is_ok_and(|p| !p.is_alive())
}

/// Takes `zone_id`'s lease, waiting up to [`ACQUIRE_WAIT`] for the previous holder.
pub async fn acquire(store: &Store, zone_id: &str, holder: &str) -> anyhow::Result<ZoneLease> {
    let deadline = Instant::now() + ACQUIRE_WAIT;
    let mut told = false;
    let mut dead: Option<String> = None;
    loop {
        let now = arcane_service::unix_ms();
        let taken = store
            .acquire_lease(
                zone_id,
                holder,
                dead.as_deref(),
                now,
                LEASE_TTL.as_millis() as u64,
            )
            .await
            .with_context(|| format!("cannot take zone {zone_id}'s lease"))?;
        let held = match taken {
            Ok(lease) => {
                tracing::info!(
                    zone = zone_id,
                    generation = lease.generation,
                    "zone lease taken"
                );
                return Ok(lease);
            }
            Err(held) => held,
        };
        if is_dead_here(&held.holder) {
            tracing::info!(zone = zone_id, holder = %held.holder, "the previous holder is gone; taking its lease over");
            dead = Some(held.holder);
            continue;
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "zone {zone_id} is run by {} (its lease is live); not starting a second copy",
                held.holder
            );
        }
        if !told {
            tracing::warn!(
                zone = zone_id,
                holder = %held.holder,
                expires_in_ms = held.expires_ms - now as i64,
                "another process holds this zone's lease; waiting for it to stop or expire"
            );
            told = true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Renews `lease` until `shutdown`; publishes how long the lease is surely held to
/// `status` (the tick checks it), and cancels `superseded` when it was taken over.
pub async fn keep(
    store: Store,
    lease: ZoneLease,
    status: Arc<TickStatus>,
    metrics: Arc<Metrics>,
    superseded: CancellationToken,
    shutdown: CancellationToken,
) {
    let ttl = LEASE_TTL.as_millis() as u64;
    loop {
        let sent = Instant::now();
        match store
            .renew_lease(&lease, arcane_service::unix_ms(), ttl)
            .await
        {
            Ok(true) => status.hold_lease_until(sent + LEASE_TTL - CLOCK_MARGIN),
            Ok(false) => {
                tracing::error!(
                    zone = %lease.zone_id,
                    generation = lease.generation,
                    "zone lease taken over by another process; stopping"
                );
                superseded.cancel();
                return;
            }
            Err(e) => {
                metrics.lease_renewal_failures.inc();
                tracing::warn!(zone = %lease.zone_id, "cannot renew the zone lease: {e}");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(RENEW_EVERY) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Status of a zone that runs without a lease (no database): it never pauses.
pub fn unleased(status: &TickStatus) {
    status.lease_until_us.store(u64::MAX, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_dead_only_when_it_is_a_process_of_this_host_that_stopped() {
        let me = holder_name();
        assert!(!is_dead_here(&me), "{me}");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let id = ProcessIdentity::of(child.id()).unwrap();
        child.wait().unwrap();
        assert!(is_dead_here(&format!("{}/{id}/00", host_name())));
        assert!(
            !is_dead_here(&format!("elsewhere/{id}/00")),
            "another host's: unknown"
        );
        assert!(!is_dead_here("garbage"));
    }
}
