//! Friend, block, mute and party requests. Each is answered with `Done` or `Refused`
//! (a refused request changes nothing), then the changed state goes to whoever it
//! concerns: lists to the player, the party to its members, an invitation to the
//! invited.

use arcane_control_api::SocialDown;
use arcane_protocol::{SocialEvent, SocialRefusal, SocialRequest};
use arcane_store::{Departure, ListKind};

use super::presence::SocialError;
use crate::orchestrator::Orchestrator;
use crate::registry::ZoneRegistry;

type Outcome = Result<String, (SocialRefusal, String)>;

fn refuse(reason: SocialRefusal, detail: impl Into<String>) -> Outcome {
    Err((reason, detail.into()))
}

impl<R: ZoneRegistry> Orchestrator<R> {
    /// Carries out `request` of `player` (named `name`, in `zone`) and answers it.
    pub(crate) async fn social_request(
        &self,
        zone: &str,
        player: u64,
        name: &str,
        request: &SocialRequest,
    ) -> Result<(), SocialError> {
        let kind = request.as_str();
        let outcome = self.carry_out(zone, player, name, request).await?;
        self.metrics.social_request(kind, outcome.is_ok());
        let event = match outcome {
            Ok(detail) => SocialEvent::Done {
                request: kind.to_string(),
                detail,
            },
            Err((reason, detail)) => SocialEvent::Refused {
                request: kind.to_string(),
                reason,
                detail,
            },
        };
        self.tell(zone, player, event).await;
        Ok(())
    }

    /// The other player of a request, by name: not oneself, and existing.
    async fn other(
        &self,
        player: u64,
        name: &str,
    ) -> Result<Result<u64, (SocialRefusal, String)>, SocialError> {
        Ok(match self.player_id(name).await? {
            Some(id) if id == player => Err((SocialRefusal::Yourself, "that is you".into())),
            Some(id) => Ok(id),
            None => Err((
                SocialRefusal::UnknownPlayer,
                format!("no player is called {name:?}"),
            )),
        })
    }

    async fn carry_out(
        &self,
        zone: &str,
        player: u64,
        name: &str,
        request: &SocialRequest,
    ) -> Result<Outcome, SocialError> {
        use SocialRequest as Q;
        let limits = &self.social.limits;
        Ok(match request {
            Q::Status => {
                let lists = self.lists(player).await?;
                self.tell(zone, player, lists).await;
                let party = self.store.party_of(player).await?;
                let view = match &party {
                    Some(p) => Some(self.party_view(p).await?),
                    None => None,
                };
                self.tell(zone, player, SocialEvent::Party(view)).await;
                Ok(String::new())
            }
            Q::FriendAdd { name: other } | Q::Block { name: other } | Q::Mute { name: other } => {
                let id = match self.other(player, other).await? {
                    Ok(id) => id,
                    Err(e) => return Ok(Err(e)),
                };
                let kind = match request {
                    Q::FriendAdd { .. } => ListKind::Friend,
                    Q::Block { .. } => ListKind::Block,
                    _ => ListKind::Mute,
                };
                if let Err(reason) = self
                    .store
                    .list_add(player, kind, id, limits.list_cap)
                    .await?
                {
                    return Ok(refuse(
                        reason,
                        format!("your {} list is full", kind.as_str()),
                    ));
                }
                self.lists_changed(zone, player).await?;
                Ok(format!("{other} added to your {} list", kind.as_str()))
            }
            Q::FriendRemove { name: other }
            | Q::Unblock { name: other }
            | Q::Unmute { name: other } => {
                let id = match self.other(player, other).await? {
                    Ok(id) => id,
                    Err(e) => return Ok(Err(e)),
                };
                let kind = match request {
                    Q::FriendRemove { .. } => ListKind::Friend,
                    Q::Unblock { .. } => ListKind::Block,
                    _ => ListKind::Mute,
                };
                if !self.store.list_remove(player, kind, id).await? {
                    return Ok(refuse(
                        SocialRefusal::NotMember,
                        format!("{other} is not on your {} list", kind.as_str()),
                    ));
                }
                self.lists_changed(zone, player).await?;
                Ok(format!("{other} removed from your {} list", kind.as_str()))
            }
            Q::PartyCreate => match self
                .store
                .create_party(player, self.now_ms() as i64)
                .await?
            {
                Ok(id) => {
                    self.metrics.parties_created.inc();
                    let joined = Some(id.clone());
                    self.update_presence(player, |p| p.party = joined).await?;
                    self.party_changed(&id).await?;
                    Ok(format!("party {id} created"))
                }
                Err(reason) => refuse(reason, "leave your party first"),
            },
            Q::PartyInvite { name: other } => self.invite(player, name, other).await?,
            Q::PartyAccept { party } => {
                let size = limits.party_size;
                match self
                    .store
                    .accept_invite(party, player, size, self.now_ms() as i64)
                    .await?
                {
                    Ok(()) => {
                        let joined = Some(party.clone());
                        self.update_presence(player, |p| p.party = joined).await?;
                        self.party_changed(party).await?;
                        Ok(format!("you joined party {party}"))
                    }
                    Err(reason) => refuse(reason, format!("cannot join party {party}")),
                }
            }
            Q::PartyDecline { party } => {
                if self.store.decline_invite(party, player).await? {
                    Ok(format!("invitation to {party} declined"))
                } else {
                    refuse(SocialRefusal::NoInvite, format!("no invitation to {party}"))
                }
            }
            Q::PartyLeave => match self.store.leave_party(player).await? {
                Some(d) => {
                    self.departed(player, &d).await?;
                    Ok(format!("you left party {}", d.party))
                }
                None => refuse(SocialRefusal::NotInParty, "you are in no party"),
            },
            Q::PartyKick { name: other } | Q::PartyPromote { name: other } => {
                let id = match self.other(player, other).await? {
                    Ok(id) => id,
                    Err(e) => return Ok(Err(e)),
                };
                let Some(party) = self.store.party_of(player).await? else {
                    return Ok(refuse(SocialRefusal::NotInParty, "you are in no party"));
                };
                if party.leader != player {
                    return Ok(refuse(SocialRefusal::NotLeader, "only the leader may"));
                }
                if !party.members.iter().any(|m| m.0 == id) {
                    return Ok(refuse(
                        SocialRefusal::NotMember,
                        format!("{other} is not in your party"),
                    ));
                }
                if matches!(request, Q::PartyPromote { .. }) {
                    self.store.set_leader(&party.id, id).await?;
                    self.party_changed(&party.id).await?;
                    Ok(format!("{other} leads the party now"))
                } else {
                    if let Some(d) = self.store.leave_party(id).await? {
                        self.departed(id, &d).await?;
                    }
                    Ok(format!("{other} was removed from the party"))
                }
            }
        })
    }

    async fn invite(&self, player: u64, name: &str, other: &str) -> Result<Outcome, SocialError> {
        let id = match self.other(player, other).await? {
            Ok(id) => id,
            Err(e) => return Ok(Err(e)),
        };
        let Some(party) = self.store.party_of(player).await? else {
            return Ok(refuse(SocialRefusal::NotInParty, "create a party first"));
        };
        if party.members.iter().any(|m| m.0 == id) {
            return Ok(refuse(
                SocialRefusal::AlreadyInParty,
                format!("{other} is in your party already"),
            ));
        }
        if party.members.len() >= self.social.limits.party_size as usize {
            return Ok(refuse(SocialRefusal::PartyFull, "your party is full"));
        }
        if self.store.listed(id, ListKind::Block, player).await? {
            return Ok(refuse(
                SocialRefusal::Blocked,
                format!("{other} does not take your invitations"),
            ));
        }
        let expires = self.now_ms() + self.social.limits.invite_ttl.as_millis() as u64;
        self.store
            .invite(&party.id, id, player, expires as i64)
            .await?;
        let event = SocialEvent::Invited {
            party: party.id.clone(),
            from: name.to_string(),
        };
        self.deliver(&[id], arcane_protocol::EventKind::Social(Box::new(event)))
            .await;
        Ok(Ok(format!("{other} was invited to party {}", party.id)))
    }

    /// The player's lists changed: its zone gets the new hidden set, the player the lists.
    async fn lists_changed(&self, zone: &str, player: u64) -> Result<(), SocialError> {
        let ids = self.store.hidden(player).await?;
        let blocks: Vec<u64> = self
            .store
            .list(player, ListKind::Block)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let hidden = ids.clone();
        self.update_presence(player, |p| {
            p.blocks = blocks;
            p.hidden = hidden;
        })
        .await?;
        self.send_zone(zone, SocialDown::Hidden { player, ids })
            .await;
        let lists = self.lists(player).await?;
        self.tell(zone, player, lists).await;
        Ok(())
    }

    /// A party's membership or leader changed: every member hears.
    async fn party_changed(&self, party: &str) -> Result<(), SocialError> {
        if let Some(p) = self.store.party(party).await? {
            self.push_party(&p).await?;
        }
        Ok(())
    }

    /// `player` is out of a party: it hears it has none, the rest the new party.
    async fn departed(&self, player: u64, d: &Departure) -> Result<(), SocialError> {
        self.update_presence(player, |p| p.party = None).await?;
        let event = arcane_protocol::EventKind::Social(Box::new(SocialEvent::Party(None)));
        self.deliver(&[player], event).await;
        if !d.remaining.is_empty() {
            self.party_changed(&d.party).await?;
        }
        Ok(())
    }
}
