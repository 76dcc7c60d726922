//! Carrying out zone transfers: the source zone recorded a handoff and asks for it
//! (`POST /v1/transfers`), or stopped asking and [`roll_forward`] finishes it.
//! Resolving the target may open an overflow copy or a party's instance; the commit
//! moves ownership and the player's state in one transaction (`arcane_store`).

use std::sync::Arc;
use std::time::Duration;

use arcane_service::failpoint;
use arcane_store::{Handoff, HandoffStatus};

use crate::orchestrator::{COPY_CLOSE_AFTER_EMPTY, Orchestrator, Refused, int};
use crate::placement::rules::{Choice, choose, free_copy_id, instance_id, party_key, template_of};
use crate::registry::{ZoneRegistry, ZoneStatus};
use crate::supervisor::ZoneSpec;

/// Pending transfers older than this are finished by the orchestrator itself (their
/// source zone died or lost touch): committed, or aborted when the target is gone.
pub const ROLL_FORWARD_AFTER: Duration = Duration::from_secs(10);

impl<R: ZoneRegistry> Orchestrator<R> {
    /// The zone a transfer's player goes to: the target zone or a copy of it below its
    /// overflow threshold, or the party's instance (opened when `may_open`).
    async fn resolve_target(&self, h: &Handoff, may_open: bool) -> Result<String, Refused> {
        let zones = self.zones_now().await?;
        if let Some(template) = h.target.strip_prefix("instance:") {
            let party = self
                .store
                .player(h.player_id)
                .await
                .map_err(int)?
                .and_then(|p| p.party);
            let id = instance_id(template, &party_key(party.as_deref(), h.player_id));
            if zones.iter().any(|z| z.info.zone_id == id && z.up) {
                return Ok(id);
            }
            if !may_open {
                return Err(Refused::Unavailable(format!("instance {id} is not open")));
            }
            let spec = ZoneSpec {
                zone_id: id.clone(),
                template: template.to_string(),
                close_after_empty: None,
                keep_running: false,
            };
            if self.open_zone(spec).await? {
                self.metrics.instances_opened.inc();
            }
            return Ok(id);
        }
        let Some(target) = h.target.strip_prefix("zone:") else {
            return Err(Refused::Internal(format!(
                "bad transfer target {:?}",
                h.target
            )));
        };
        // A zone never receives its own players back: a draining zone evacuating to
        // its own map goes to another copy, opened when none is running.
        let evacuating = template_of(&h.from_zone) == template_of(target);
        let others: Vec<ZoneStatus> = zones
            .iter()
            .filter(|z| z.info.zone_id != h.from_zone)
            .cloned()
            .collect();
        let choice = match choose(&others, target, true) {
            Choice::Unavailable(_) if evacuating => {
                Choice::OpenCopy(free_copy_id(&zones, template_of(target)))
            }
            c => c,
        };
        let zones = others;
        match choice {
            Choice::Zone(z) => Ok(z),
            Choice::OpenCopy(id) if may_open => {
                let spec = ZoneSpec {
                    zone_id: id.clone(),
                    template: template_of(target).to_string(),
                    close_after_empty: Some(COPY_CLOSE_AFTER_EMPTY),
                    keep_running: false,
                };
                match self.open_zone(spec).await {
                    Ok(opened) => {
                        if opened {
                            self.metrics.copies_opened.inc();
                        }
                        Ok(id)
                    }
                    // No supervisor: squeeze into the target while it has room.
                    Err(e) => match zones.iter().find(|z| z.info.zone_id == target) {
                        Some(z) if z.up && z.load.players < z.info.capacity => {
                            Ok(target.to_string())
                        }
                        _ => Err(e),
                    },
                }
            }
            // Nothing is placed on a zone that is down (restarting, or drained and
            // gone): the transfer aborts, the player stays where it is and may try
            // again.
            Choice::OpenCopy(_) | Choice::Unavailable(_) => Err(Refused::Unavailable(format!(
                "zone {target} is not running"
            ))),
        }
    }

    /// Carries out a recorded transfer: resolves the target, commits (ownership CAS
    /// plus the player's new state, in one transaction) or aborts it. Idempotent.
    /// Returns the transferred player and the outcome.
    pub async fn finish_transfer(
        &self,
        transfer_id: &str,
        may_open: bool,
    ) -> Result<(u64, HandoffStatus), Refused> {
        let Some((h, status)) = self.store.handoff(transfer_id).await.map_err(int)? else {
            return Err(Refused::NotFound(format!(
                "no transfer {transfer_id:?} was recorded"
            )));
        };
        if status != HandoffStatus::Pending {
            return Ok((h.player_id, status));
        }
        failpoint("orch.commit").await;
        let started = tokio::time::Instant::now();
        let outcome = match self.resolve_target(&h, may_open).await {
            Ok(to) => self
                .store
                .commit_handoff(transfer_id, &to)
                .await
                .map_err(int)?,
            Err(Refused::Unavailable(why)) if !self.registry_warm() => {
                return Err(Refused::Unavailable(format!(
                    "{why} (zones are still registering; try again)"
                )));
            }
            Err(Refused::Unavailable(why)) => {
                tracing::info!(transfer = transfer_id, "transfer aborted: {why}");
                self.store.abort_handoff(transfer_id).await.map_err(int)?
            }
            Err(e) => return Err(e),
        };
        self.metrics.transfer(&outcome, started.elapsed());
        if let HandoffStatus::Committed { to_zone, epoch } = &outcome {
            tracing::info!(transfer = transfer_id, player = h.player_id, from = %h.from_zone, to = %to_zone, epoch, "transfer committed");
            failpoint("orch.committed").await;
        }
        Ok((h.player_id, outcome))
    }
}

/// Finishes transfers whose source zone stopped asking (it died or lost touch), so no
/// player stays frozen in a handoff record. Runs until the task is dropped.
pub async fn roll_forward<R: ZoneRegistry>(o: Arc<Orchestrator<R>>) {
    let mut every = tokio::time::interval(Duration::from_secs(2));
    loop {
        every.tick().await;
        let before = o
            .now_ms()
            .saturating_sub(ROLL_FORWARD_AFTER.as_millis() as u64);
        let pending = match o.store.pending_handoffs(None, before).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("cannot list pending transfers: {e}");
                continue;
            }
        };
        for h in pending {
            match o.finish_transfer(&h.transfer_id, false).await {
                Ok((_, s)) => tracing::info!(transfer = %h.transfer_id, "rolled forward: {s:?}"),
                Err(e) => tracing::warn!(transfer = %h.transfer_id, "roll forward failed: {e:?}"),
            }
        }
    }
}
