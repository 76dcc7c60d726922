//! Presence: a player comes online in a zone, leaves it, or moves; their friends and
//! party hear of it, and their own lists, party and moderator mute follow them to the
//! zone they are in.

use std::collections::BTreeMap;

use arcane_control_api::SocialDown;
use arcane_protocol::{EventKind, FriendView, PartyMember, PartyView, SocialEvent};
use arcane_store::{ListKind, PartyRecord, StoreError};

use crate::orchestrator::Orchestrator;
use crate::registry::{Presence, ZoneRegistry};

/// A failure of the store or the registry while serving the social layer.
#[derive(Debug, thiserror::Error)]
pub enum SocialError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
}

/// How long a player who left a zone stays present there: a transfer's new zone
/// reports the arrival within it, so friends see a move rather than a logout and a
/// login (within the one heartbeat presence promises).
pub const OFFLINE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

impl<R: ZoneRegistry> Orchestrator<R> {
    /// `player` is online in `zone` (a join, a transfer's arrival, a relinked zone).
    /// A player present already (it moved, or its zone linked again) keeps what its
    /// presence holds: the zone gets its hidden list and mute, and its friends and
    /// party its new zone when it moved. A player who was not logged in: its state is
    /// read from the store, and it gets its lists and party too (a client that
    /// reconnects asks for them with `Status`).
    pub(crate) async fn came_online(
        &self,
        zone: &str,
        player: u64,
        name: &str,
        epoch: i64,
    ) -> Result<(), SocialError> {
        let before = self.registry.presence_get(&[player]).await?.pop().flatten();
        if before.as_ref().is_some_and(|b| epoch < b.epoch) {
            // The player moved on since: this zone's news is stale.
            return Ok(());
        }
        let fresh = before.is_none();
        let arrived = before.as_ref().is_none_or(|b| b.zone != zone || b.arriving);
        let p = match before {
            Some(b) => Presence {
                zone: zone.to_string(),
                arriving: false,
                epoch,
                ..b
            },
            None => Presence {
                epoch,
                ..self.presence_from_store(zone, player, name).await?
            },
        };
        self.registry.presence_set(player, p.clone()).await?;
        self.metrics.presence_updates.inc();
        let hidden = SocialDown::Hidden {
            player,
            ids: p.hidden.clone(),
        };
        self.send_zone(zone, hidden).await;
        if p.muted_until > self.now_ms() {
            let down = SocialDown::Muted {
                player,
                until_ms: p.muted_until,
                reason: "muted by a moderator".into(),
            };
            self.send_zone(zone, down).await;
        }
        let party = match &p.party {
            Some(id) => self.store.party(id).await?,
            None => None,
        };
        if fresh {
            let lists = self.lists(player).await?;
            self.tell(zone, player, lists).await;
            let view = match &party {
                Some(party) => Some(self.party_view(party).await?),
                None => None,
            };
            self.tell(zone, player, SocialEvent::Party(view)).await;
        }
        if arrived {
            self.announce(player, name, zone, party.as_ref()).await?;
        }
        Ok(())
    }

    /// A player's presence as the store has it (at login).
    async fn presence_from_store(
        &self,
        zone: &str,
        player: u64,
        name: &str,
    ) -> Result<Presence, SocialError> {
        let blocks = self.store.list(player, ListKind::Block).await?;
        Ok(Presence {
            zone: zone.to_string(),
            name: name.to_string(),
            hp: 0,
            max_hp: 0,
            party: self.store.party_of(player).await?.map(|p| p.id),
            arriving: false,
            epoch: 0,
            blocks: blocks.into_iter().map(|(id, _)| id).collect(),
            hidden: self.store.hidden(player).await?,
            muted_until: self.store.chat_mute(player).await?.max(0) as u64,
        })
    }

    /// Changes the presence of `player`, if online, with `change`; the new one.
    pub(crate) async fn update_presence(
        &self,
        player: u64,
        change: impl FnOnce(&mut Presence),
    ) -> Result<Option<Presence>, SocialError> {
        let Some(mut p) = self.registry.presence_get(&[player]).await?.pop().flatten() else {
            return Ok(None);
        };
        change(&mut p);
        self.registry.presence_set(player, p.clone()).await?;
        Ok(Some(p))
    }

    /// `player` left `zone`: unless it is online elsewhere by now (a transfer), it
    /// is offline, and its friends and party hear it.
    pub(crate) async fn went_offline(&self, zone: &str, player: u64) -> Result<(), SocialError> {
        if let Some(p) = self.registry.presence_clear(player, zone).await? {
            self.metrics.presence_updates.inc();
            let party = match &p.party {
                Some(id) => self.store.party(id).await?,
                None => None,
            };
            self.announce(player, &p.name, "", party.as_ref()).await?;
        }
        Ok(())
    }

    /// A player whose transfer to `zone` committed has still not arrived: it is
    /// offline (its client quit on the way).
    pub(crate) async fn never_arrived(&self, zone: &str, player: u64) -> Result<(), SocialError> {
        let p = self.registry.presence_get(&[player]).await?.pop().flatten();
        if p.is_some_and(|p| p.arriving && p.zone == zone) {
            self.went_offline(zone, player).await?;
        }
        Ok(())
    }

    /// Everyone online in `zone` left it (its link ended: the zone stopped or lost
    /// its way to this orchestrator; a relink reports who is still there).
    pub(crate) async fn zone_gone(&self, zone: &str) -> Result<(), SocialError> {
        for player in self.registry.presence_in_zone(zone).await? {
            self.went_offline(zone, player).await?;
        }
        Ok(())
    }

    /// Tells `player`'s friends where it is now (`zone` empty: offline), and its
    /// party its new state.
    async fn announce(
        &self,
        player: u64,
        name: &str,
        zone: &str,
        party: Option<&PartyRecord>,
    ) -> Result<(), SocialError> {
        let friends_of = self.store.listed_by(player, ListKind::Friend).await?;
        if !friends_of.is_empty() {
            let event = SocialEvent::Presence {
                name: name.to_string(),
                zone: zone.to_string(),
            };
            self.deliver(&friends_of, EventKind::Social(Box::new(event)))
                .await;
        }
        if let Some(party) = party {
            self.push_party(party).await?;
        }
        Ok(())
    }

    /// The party as its members see it: who, the leader, where and how they are.
    pub(crate) async fn party_view(&self, party: &PartyRecord) -> Result<PartyView, SocialError> {
        let ids: Vec<u64> = party.members.iter().map(|m| m.0).collect();
        let presence = self.registry.presence_get(&ids).await?;
        let members = party
            .members
            .iter()
            .zip(presence)
            .map(|((id, name), p)| {
                let p = p.unwrap_or_default();
                PartyMember {
                    player_id: *id,
                    name: name.clone(),
                    leader: *id == party.leader,
                    zone: p.zone,
                    hp: p.hp,
                    max_hp: p.max_hp,
                }
            })
            .collect();
        Ok(PartyView {
            id: party.id.clone(),
            members,
        })
    }

    /// Sends every online member the party as it is now.
    pub(crate) async fn push_party(&self, party: &PartyRecord) -> Result<(), SocialError> {
        let view = self.party_view(party).await?;
        let ids: Vec<u64> = party.members.iter().map(|m| m.0).collect();
        let event = EventKind::Social(Box::new(SocialEvent::Party(Some(view))));
        self.deliver(&ids, event).await;
        Ok(())
    }

    /// `player`'s lists, with each friend's presence.
    pub(crate) async fn lists(&self, player: u64) -> Result<SocialEvent, SocialError> {
        let friends = self.store.list(player, ListKind::Friend).await?;
        let ids: Vec<u64> = friends.iter().map(|f| f.0).collect();
        let presence = self.registry.presence_get(&ids).await?;
        let friends = friends
            .into_iter()
            .zip(presence)
            .map(|((_, name), p)| FriendView {
                name,
                zone: p.map(|p| p.zone).unwrap_or_default(),
            })
            .collect();
        let names = |l: Vec<(u64, String)>| l.into_iter().map(|(_, n)| n).collect();
        Ok(SocialEvent::Lists {
            friends,
            blocked: names(self.store.list(player, ListKind::Block).await?),
            muted: names(self.store.list(player, ListKind::Mute).await?),
        })
    }

    /// New HP of players in `zone`: kept with their presence, and shown to their party.
    pub(crate) async fn vitals(
        &self,
        zone: &str,
        players: &[(u64, u32, u32)],
    ) -> Result<(), SocialError> {
        let ids: Vec<u64> = players.iter().map(|v| v.0).collect();
        let presence = self.registry.presence_get(&ids).await?;
        let mut parties = BTreeMap::new();
        for (&(player, hp, max_hp), p) in players.iter().zip(presence) {
            let Some(mut p) = p.filter(|p| p.zone == zone) else {
                continue;
            };
            if (p.hp, p.max_hp) == (hp, max_hp) {
                continue;
            }
            (p.hp, p.max_hp) = (hp, max_hp);
            let party = p.party.clone();
            self.registry.presence_set(player, p).await?;
            if let Some(id) = party {
                parties.insert(id, ());
            }
        }
        for id in parties.keys() {
            if let Some(party) = self.store.party(id).await? {
                self.push_party(&party).await?;
            }
        }
        Ok(())
    }
}
