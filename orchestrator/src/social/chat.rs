//! Chat that crosses zones: whispers to a named player and party messages. The
//! speaker's zone already checked, cleaned and filtered the text; here the recipient
//! is found, blocks are honoured and each copy goes to the zone its reader is in. The
//! speaker gets a copy too (it confirms delivery) or a `ChatRefused`.

use arcane_protocol::{ChatChannel, ChatRefusal, EventKind};

use super::presence::SocialError;
use crate::orchestrator::Orchestrator;
use crate::registry::ZoneRegistry;

/// A chat message from a zone.
pub(crate) struct Outgoing<'a> {
    pub zone: &'a str,
    pub from: u64,
    pub from_name: &'a str,
    pub channel: &'a ChatChannel,
    pub text: &'a str,
    pub sent_ms: u64,
}

impl<R: ZoneRegistry> Orchestrator<R> {
    pub(crate) async fn route_chat(&self, m: Outgoing<'_>) -> Result<(), SocialError> {
        let refused = match m.channel {
            ChatChannel::Whisper { to } => self.whisper(&m, to).await?,
            ChatChannel::Party => self.party_chat(&m).await?,
            // Say and zone chat never leave their zone.
            ChatChannel::Say | ChatChannel::Zone => None,
        };
        let channel = m.channel.as_str();
        match refused {
            Some((reason, detail)) => {
                self.metrics.chat_refused(reason.as_str());
                let event = EventKind::ChatRefused { reason, detail };
                self.send_zone(
                    m.zone,
                    arcane_control_api::SocialDown::Deliver {
                        players: vec![m.from],
                        event,
                        attempt: 0,
                    },
                )
                .await;
            }
            None => {
                self.metrics.chat_routed(channel);
                let took = self.now_ms().saturating_sub(m.sent_ms);
                self.metrics
                    .chat_route_seconds
                    .observe(took as f64 / 1000.0);
            }
        }
        Ok(())
    }

    fn copy(m: &Outgoing<'_>, channel: ChatChannel) -> EventKind {
        EventKind::Chat {
            channel,
            from_id: m.from,
            from: m.from_name.to_string(),
            text: m.text.to_string(),
        }
    }

    async fn whisper(
        &self,
        m: &Outgoing<'_>,
        to: &str,
    ) -> Result<Option<(ChatRefusal, String)>, SocialError> {
        let Some(target) = self.player_id(to).await? else {
            return Ok(Some((
                ChatRefusal::UnknownPlayer,
                format!("no player is called {to:?}"),
            )));
        };
        // Presence carries the reader's blocks: a whisper costs no database query.
        let online = self.registry.presence_get(&[target]).await?.pop().flatten();
        let Some(online) = online else {
            return Ok(Some((ChatRefusal::Unavailable, format!("{to} is offline"))));
        };
        if online.blocks.contains(&m.from) {
            return Ok(Some((
                ChatRefusal::Blocked,
                format!("{to} does not take your messages"),
            )));
        }
        let copy = Self::copy(m, ChatChannel::Whisper { to: to.to_string() });
        if target == m.from {
            self.deliver(&[target], copy).await;
        } else {
            self.deliver(&[target, m.from], copy).await;
        }
        Ok(None)
    }

    async fn party_chat(
        &self,
        m: &Outgoing<'_>,
    ) -> Result<Option<(ChatRefusal, String)>, SocialError> {
        let speaker = self.registry.presence_get(&[m.from]).await?.pop().flatten();
        let party = match speaker.and_then(|p| p.party) {
            Some(id) => self.store.party(&id).await?,
            None => None,
        };
        let Some(party) = party else {
            return Ok(Some((ChatRefusal::NoParty, "you are in no party".into())));
        };
        let ids: Vec<u64> = party.members.iter().map(|p| p.0).collect();
        self.deliver(&ids, Self::copy(m, ChatChannel::Party)).await;
        Ok(None)
    }
}
