//! Where a logged-in player plays: the zone that owns it while it is up and has room,
//! else a copy of the same map (the party's copy first), opened when all are full.
//! The pure choice is in [`rules`]; this applies it with the store's compare-and-set.

pub mod rules;

use arcane_store::PlayerRecord;

use crate::orchestrator::{COPY_CLOSE_AFTER_EMPTY, Orchestrator, Refused, int};
use crate::registry::{ZoneRegistry, ZoneStatus};
use crate::supervisor::ZoneSpec;
use rules::{Choice, choose, template_of};

impl<R: ZoneRegistry> Orchestrator<R> {
    /// Places a logged-in player: finishes a transfer it was in the middle of, then
    /// sends it to the zone that owns it, or moves ownership to a copy of the same map
    /// when that zone is down or full (opening one when all are past their threshold).
    /// Ownership only moves by compare-and-set, so replicas racing on one player agree.
    pub async fn place(&self, player: &PlayerRecord) -> Result<(String, Endpoints), Refused> {
        let pending = self
            .store
            .pending_handoffs(Some(player.id), u64::MAX)
            .await
            .map_err(int)?;
        for h in pending {
            self.finish_transfer(&h.transfer_id, true).await?;
        }
        for _ in 0..4 {
            let owner = self
                .store
                .owner(player.id)
                .await
                .map_err(int)?
                .ok_or_else(|| Refused::Internal(format!("player {} has no owner", player.id)))?;
            let zones = self.zones_now().await?;
            let registered = zones.iter().any(|z| z.info.zone_id == owner.zone);
            let mut choice = choose(&zones, &owner.zone, false);
            if matches!(&choice, Choice::Zone(z) if *z != owner.zone)
                || matches!(choice, Choice::OpenCopy(_))
            {
                // Moving to a copy: the copy the player's party is in, when it has room.
                if let Some(z) = self.party_copy(player, &owner.zone, &zones).await? {
                    choice = Choice::Zone(z);
                }
            }
            let to = match choice {
                Choice::Zone(z) => z,
                Choice::OpenCopy(id) => {
                    let spec = ZoneSpec {
                        zone_id: id.clone(),
                        template: template_of(&owner.zone).to_string(),
                        close_after_empty: Some(COPY_CLOSE_AFTER_EMPTY),
                        keep_running: false,
                    };
                    if self.open_zone(spec).await? {
                        self.metrics.copies_opened.inc();
                    }
                    id
                }
                Choice::Unavailable(why) => {
                    // A closed copy or instance is gone for good: a copy's players go
                    // back to the map's main zone, an instance's to the start.
                    if registered || !owner.zone.contains('~') || !self.registry_warm() {
                        return Err(Refused::Unavailable(why));
                    }
                    let template = template_of(&owner.zone);
                    let is_copy = zones.iter().any(|z| z.info.zone_id == template);
                    let (to, relocate) = if is_copy {
                        (template.to_string(), None)
                    } else {
                        (
                            self.config.start_zone.clone(),
                            Some(self.config.start_position),
                        )
                    };
                    self.store
                        .move_owner(player.id, &owner, &to, relocate)
                        .await
                        .map_err(held_or_int)?;
                    continue;
                }
            };
            if to != owner.zone {
                let moved = self.store.move_owner(player.id, &owner, &to, None);
                if moved.await.map_err(held_or_int)?.is_none() {
                    // Another replica (or a transfer) moved the player first; look again.
                    continue;
                }
                tracing::info!(player = player.id, from = %owner.zone, %to, "player moved to another copy");
            }
            let zones = self.zones_now().await?;
            let endpoints = Endpoints::of(&zones, &to, false);
            return Ok((to, endpoints));
        }
        Err(Refused::Unavailable(
            "the player is moving between zones; try again".into(),
        ))
    }

    /// A running copy of `owner`'s map with room that owns a member of the player's
    /// party, if any.
    async fn party_copy(
        &self,
        player: &PlayerRecord,
        owner: &str,
        zones: &[ZoneStatus],
    ) -> Result<Option<String>, Refused> {
        let Some(party) = &player.party else {
            return Ok(None);
        };
        let theirs = self.store.party_zones(party).await.map_err(int)?;
        Ok(zones
            .iter()
            .find(|z| {
                z.up && !z.info.instance
                    && z.info.zone_id != owner
                    && z.info.template() == template_of(owner)
                    && z.load.players < z.info.capacity
                    && theirs.contains(&z.info.zone_id)
            })
            .map(|z| z.info.zone_id.clone()))
    }
}

/// A player its zone still holds (its last save there is on its way) is refused for
/// a moment, as a zone that is restarting is: the client logs in again.
fn held_or_int(e: arcane_store::StoreError) -> Refused {
    match e {
        arcane_store::StoreError::Held { zone, .. } => Refused::Unavailable(format!(
            "zone {zone} is still saving this player; try again in a moment"
        )),
        e => int(e),
    }
}

/// Where clients reach a zone (empty strings when it is not in the registry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    pub ws: String,
    pub quic: String,
}

impl Endpoints {
    /// `zone_id`'s endpoints in `zones` (only while it is up, with `up_only`).
    pub(crate) fn of(zones: &[ZoneStatus], zone_id: &str, up_only: bool) -> Self {
        zones
            .iter()
            .find(|z| z.info.zone_id == zone_id && (z.up || !up_only))
            .map(|z| Endpoints {
                ws: z.info.endpoint.clone(),
                quic: z.info.quic_endpoint.clone(),
            })
            .unwrap_or_default()
    }
}
