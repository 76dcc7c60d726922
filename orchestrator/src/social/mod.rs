//! The social layer's router: zones hold one social link each (`link.rs`), report who
//! is online and hand over what crosses zones: whispers and party chat (`chat.rs`),
//! friend, block and party requests (`requests.rs`), vitals. Presence lives in the
//! registry (memory or Redis); what goes to a zone linked to another replica travels
//! on the registry's bus.

mod chat;
pub(crate) mod link;
mod presence;
mod requests;

use crate::links::lock;
use crate::orchestrator::Orchestrator;
use crate::registry::{ZoneRegistry, by_zone};
use arcane_control_api::SocialDown;
use arcane_protocol::{EventKind, SocialEvent};

/// Attempts of one delivery to players who keep not being where presence said.
pub const MAX_ATTEMPTS: u8 = 8;

/// The wait before a bounced delivery is tried again.
pub const REDELIVER_AFTER: std::time::Duration = std::time::Duration::from_millis(100);

impl<R: ZoneRegistry> Orchestrator<R> {
    /// Sends `down` to `zone`: through its link when it ends here, else on the bus.
    pub(crate) async fn send_zone(&self, zone: &str, down: SocialDown) {
        if let Some(tx) = self.social.local(zone) {
            if tx.try_send(down).is_err() {
                self.metrics.social_dropped.inc();
            }
            return;
        }
        let published = match serde_json::to_string(&down) {
            Ok(json) => self.registry.publish_social(zone, &json).await,
            Err(e) => {
                tracing::error!("cannot encode a social message: {e}");
                return;
            }
        };
        if !matches!(published, Ok(true)) {
            self.metrics.social_dropped.inc();
        }
    }

    /// Delivers `event` to each of `players` that is online, wherever they are.
    pub(crate) async fn deliver(&self, players: &[u64], event: EventKind) {
        self.deliver_attempt(players, event, 0).await;
    }

    /// [`Orchestrator::deliver`], the `attempt`-th time (see `redeliver`).
    async fn deliver_attempt(&self, players: &[u64], event: EventKind, attempt: u8) {
        let Ok(presence) = self.registry.presence_get(players).await else {
            self.metrics.social_dropped.inc();
            return;
        };
        for (zone, players) in by_zone(players, &presence) {
            let down = SocialDown::Deliver {
                players,
                event: event.clone(),
                attempt,
            };
            self.send_zone(&zone, down).await;
        }
    }

    /// A zone bounced a delivery: its players had left (a transfer in flight, which
    /// takes a few hundred ms at most). Tried again where they are a little later, up
    /// to [`MAX_ATTEMPTS`] times; then they are gone and it is dropped.
    pub(crate) async fn redeliver(&self, players: &[u64], event: EventKind, attempt: u8) {
        if attempt >= MAX_ATTEMPTS {
            self.metrics.social_dropped.inc();
            return;
        }
        self.metrics.social_bounced.inc();
        tokio::time::sleep(REDELIVER_AFTER).await;
        self.deliver_attempt(players, event, attempt + 1).await;
    }

    /// Delivers a social event to one player known to be in `zone`.
    pub(crate) async fn tell(&self, zone: &str, player: u64, event: SocialEvent) {
        let down = SocialDown::Deliver {
            players: vec![player],
            event: EventKind::Social(Box::new(event)),
            attempt: 0,
        };
        self.send_zone(zone, down).await;
    }

    /// A player's id by name (cached: names never change).
    pub(crate) async fn player_id(
        &self,
        name: &str,
    ) -> Result<Option<u64>, arcane_store::StoreError> {
        if let Some(id) = lock(&self.social.names).get(name) {
            return Ok(Some(*id));
        }
        let id = self.store.player_by_name(name).await?.map(|p| p.id);
        if let Some(id) = id {
            let mut names = lock(&self.social.names);
            if names.len() > 100_000 {
                names.clear();
            }
            names.insert(name.to_string(), id);
        }
        Ok(id)
    }
}

/// Marks offline, once a second, the transferred players who never arrived.
pub async fn sweep_arrivals<R: ZoneRegistry>(o: std::sync::Arc<Orchestrator<R>>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        every.tick().await;
        for (player, zone) in o.social.overdue(o.now_ms()) {
            if let Err(e) = o.never_arrived(&zone, player).await {
                tracing::warn!(player, "presence not cleared: {e}");
            }
        }
    }
}

/// Forwards what other replicas publish to the zones linked here, until the bus ends.
pub async fn run_bus<R: ZoneRegistry>(o: std::sync::Arc<Orchestrator<R>>) {
    let Some(mut rx) = o.registry.subscribe_social() else {
        return;
    };
    while let Some((zone, json)) = rx.recv().await {
        let Some(tx) = o.social.local(&zone) else {
            continue;
        };
        match serde_json::from_str::<SocialDown>(&json) {
            Ok(down) => {
                if tx.try_send(down).is_err() {
                    o.metrics.social_dropped.inc();
                }
            }
            Err(e) => tracing::warn!("social bus: a message that does not parse: {e}"),
        }
    }
}
