//! The social layer with real processes: an orchestrator and two zones (`west`,
//! `east`) on loopback. Players in different zones whisper, form a party, talk in it
//! and see each other's zone; blocks, moderator mutes and kicks hold; presence follows
//! a disconnect. Then a party made in the game enters an instance together.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

mod world;

use std::time::{Duration, Instant};

use arcane_control_api::{AuditEntry, ModerationAction, ModerationRequest, PresenceEntry, paths};
use arcane_loadtest::client::{Client, Incoming};
use arcane_protocol::view::ClientView;
use arcane_protocol::{
    ChatChannel, ChatRefusal, ClientMessage, ClientTier, EventKind, KickReason, PartyView,
    ServerMessage, SocialEvent, SocialRequest,
};
use arcane_service::control_auth::{ControlKey, DEV_CONTROL_SECRET};
use tokio::sync::watch;
use world::{Start, World, journey, seed, seed_at};

/// A connected player that acks its snapshots while it waits for events.
struct Talker {
    name: String,
    client: Client,
    view: ClientView,
}

impl Talker {
    fn new(name: &str, client: Client) -> Talker {
        Talker {
            name: name.to_string(),
            client,
            view: ClientView::new(),
        }
    }

    async fn send(&mut self, m: ClientMessage) {
        self.client.send(&[m]).await.unwrap();
    }

    async fn chat(&mut self, channel: ChatChannel, text: &str) {
        let text = text.to_string();
        self.send(ClientMessage::Chat { channel, text }).await;
    }

    async fn ask(&mut self, r: SocialRequest) {
        self.send(ClientMessage::Social(r)).await;
    }

    /// Reads until an event `pick` takes (acking snapshots meanwhile), for 20 s.
    async fn expect<T>(&mut self, what: &str, mut pick: impl FnMut(&EventKind) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{}: no {what}", self.name);
            let Ok(m) = tokio::time::timeout(left, self.client.recv()).await else {
                continue;
            };
            match m {
                Incoming::Message(ServerMessage::Snapshot(s), _) => {
                    let _ = self.view.apply(&s);
                    let ack = ClientMessage::Ack {
                        snapshot_id: self.view.current_id(),
                    };
                    let _ = self.client.send(&[ack]).await;
                }
                Incoming::Message(ServerMessage::Events(list), _) => {
                    for e in list {
                        if let Some(t) = pick(&e.kind) {
                            return t;
                        }
                    }
                }
                Incoming::Message(ServerMessage::Kick { reason, detail }, _) => {
                    panic!(
                        "{}: kicked ({reason:?}: {detail}) waiting for {what}",
                        self.name
                    );
                }
                Incoming::Message(..) => {}
                other => panic!("{}: {other:?} while waiting for {what}", self.name),
            }
        }
    }

    /// Reads until the zone kicks this player; the reason.
    async fn kicked(&mut self) -> KickReason {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{}: not kicked", self.name);
            match tokio::time::timeout(left, self.client.recv()).await {
                Ok(Incoming::Message(ServerMessage::Kick { reason, .. }, _)) => return reason,
                Ok(Incoming::Message(..)) | Err(_) => {}
                Ok(other) => panic!("{}: {other:?} before a kick", self.name),
            }
        }
    }

    async fn chat_from(&mut self, from: &str, channel: &str) -> String {
        let what = format!("{channel} from {from}");
        self.expect(&what, |e| match e {
            EventKind::Chat {
                from: f,
                channel: c,
                text,
                ..
            } if f == from && c.as_str() == channel => Some(text.clone()),
            _ => None,
        })
        .await
    }

    async fn refused(&mut self) -> ChatRefusal {
        self.expect("a chat refusal", |e| match e {
            EventKind::ChatRefused { reason, .. } => Some(*reason),
            _ => None,
        })
        .await
    }

    async fn social(&mut self, what: &str, mut pick: impl FnMut(&SocialEvent) -> Option<()>) {
        self.expect(what, |e| match e {
            EventKind::Social(s) => pick(s),
            _ => None,
        })
        .await
    }

    async fn party(&mut self, what: &str, mut ok: impl FnMut(&PartyView) -> bool) -> PartyView {
        self.expect(what, |e| match e {
            EventKind::Social(s) => match &**s {
                SocialEvent::Party(Some(p)) if ok(p) => Some(p.clone()),
                _ => None,
            },
            _ => None,
        })
        .await
    }
}

async fn connect(world: &World, name: &str, endpoint: &str, ticket: &str) -> Talker {
    let mut client = Client::join(endpoint, ticket, ClientTier::Desktop)
        .await
        .unwrap();
    client
        .recv_until(|m| matches!(m, ServerMessage::Welcome(_)).then_some(()))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}\n{}", world.logs()));
    Talker::new(name, client)
}

async fn moderate(world: &World, player: &str, action: ModerationAction) {
    let body = serde_json::to_vec(&ModerationRequest {
        actor: "gm-ada".into(),
        player: player.into(),
        action,
        reason: "test".into(),
    })
    .unwrap();
    let key = ControlKey::new(DEV_CONTROL_SECRET);
    let mut req = reqwest::Client::new()
        .post(format!("{}{}", world.internal, paths::MODERATION))
        .header("content-type", "application/json");
    for (k, v) in key.headers("POST", paths::MODERATION, &body, arcane_service::unix_ms()) {
        req = req.header(k, v);
    }
    let r = req.body(body).send().await.unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_in_two_zones_whisper_party_and_are_moderated() {
    let world = World::start("social").await;
    let store = world.store().await;
    let (_go_tx, go) = watch::channel(true);
    // bob walks into east; ann stays in west.
    let l = world.login("bob").await;
    seed(&store, "west", l.player_id, 1).await;
    let (client, _) = journey(
        &world,
        "bob",
        Start::Ticket(l.endpoint, l.ticket),
        "east",
        127,
        go,
    )
    .await;
    let mut bob = Talker::new("bob", client);
    let l = world.login("ann").await;
    seed_at(&store, "west", l.player_id, 0, (20.0, 50.0)).await;
    let mut ann = connect(&world, "ann", &l.endpoint, &l.ticket).await;

    // A whisper crosses zones; the speaker gets its copy.
    let to_bob = ChatChannel::Whisper { to: "bob".into() };
    ann.chat(to_bob.clone(), "hi bob, frak").await;
    assert_eq!(bob.chat_from("ann", "whisper").await, "hi bob, ****");
    assert_eq!(ann.chat_from("ann", "whisper").await, "hi bob, ****");
    ann.chat(
        ChatChannel::Whisper {
            to: "nobody".into(),
        },
        "hello?",
    )
    .await;
    assert_eq!(ann.refused().await, ChatRefusal::UnknownPlayer);

    // bob makes a party and invites ann across zones; she accepts.
    bob.ask(SocialRequest::PartyCreate).await;
    let party = bob.party("his new party", |p| p.members.len() == 1).await;
    bob.ask(SocialRequest::PartyInvite { name: "ann".into() })
        .await;
    let id = party.id.clone();
    ann.social("the invitation", |s| {
        matches!(s, SocialEvent::Invited { party, from } if *party == id && from == "bob")
            .then_some(())
    })
    .await;
    ann.ask(SocialRequest::PartyAccept { party: id.clone() })
        .await;
    let both = |p: &PartyView| p.members.len() == 2;
    let seen = ann.party("the party of two", both).await;
    bob.party("the party of two", both).await;
    let zones: Vec<(&str, &str, bool)> = seen
        .members
        .iter()
        .map(|m| (m.name.as_str(), m.zone.as_str(), m.leader))
        .collect();
    assert_eq!(zones, [("bob", "east", true), ("ann", "west", false)]);
    ann.chat(ChatChannel::Party, "on my way").await;
    assert_eq!(bob.chat_from("ann", "party").await, "on my way");
    // A second party for ann is refused; so is inviting oneself.
    ann.ask(SocialRequest::PartyInvite { name: "ann".into() })
        .await;
    ann.social("a refusal", |s| {
        matches!(s, SocialEvent::Refused { .. }).then_some(())
    })
    .await;

    // Friends see where each other are.
    ann.ask(SocialRequest::FriendAdd { name: "bob".into() })
        .await;
    ann.social("her lists", |s| match s {
        SocialEvent::Lists { friends, .. }
            if friends.iter().any(|f| f.name == "bob" && f.zone == "east") =>
        {
            Some(())
        }
        _ => None,
    })
    .await;

    // bob blocks ann: her whispers are refused.
    bob.ask(SocialRequest::Block { name: "ann".into() }).await;
    bob.social("his lists", |s| match s {
        SocialEvent::Lists { blocked, .. } if blocked == &["ann".to_string()] => Some(()),
        _ => None,
    })
    .await;
    ann.chat(to_bob.clone(), "why?").await;
    assert_eq!(ann.refused().await, ChatRefusal::Blocked);

    // A moderator mutes ann: refused here, and written to the audit.
    moderate(&world, "ann", ModerationAction::Mute { minutes: 5 }).await;
    ann.expect("the mute notice", |e| {
        matches!(e, EventKind::Notice { .. }).then_some(())
    })
    .await;
    ann.chat(ChatChannel::Say, "hello").await;
    assert_eq!(ann.refused().await, ChatRefusal::Muted);
    let audit: Vec<AuditEntry> =
        reqwest::get(format!("{}{}?limit=10", world.internal, paths::AUDIT))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert!(
        actions.contains(&"mute") && actions.contains(&"filter"),
        "{audit:?}"
    );
    let filter = audit.iter().find(|a| a.action == "filter").unwrap();
    assert!(
        filter.detail.contains("frak") && filter.actor == "zone:west",
        "{filter:?}"
    );

    // Presence by name; then bob is kicked and ann, his friend, hears he left.
    let url = format!("{}{}?names=ann,bob,nobody", world.internal, paths::PRESENCE);
    let presence: Vec<PresenceEntry> = reqwest::get(url).await.unwrap().json().await.unwrap();
    let zones: Vec<&str> = presence.iter().map(|p| p.zone.as_str()).collect();
    assert_eq!(zones, ["west", "east", ""]);
    // The kick goes through `arcane moderate`, as an operator types it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_arcane"))
        .args([
            "moderate",
            "--orchestrator",
            &world.internal,
            "--actor",
            "gm-bo",
        ])
        .args(["kick", "bob", "--reason", "abuse"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(bob.kicked().await, KickReason::Moderator);
    ann.social("bob offline", |s| match s {
        SocialEvent::Presence { name, zone } if name == "bob" && zone.is_empty() => Some(()),
        _ => None,
    })
    .await;
    let audit: Vec<AuditEntry> = reqwest::get(format!("{}{}", world.internal, paths::AUDIT))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (audit[0].action.as_str(), audit[0].actor.as_str()),
        ("kick", "gm-bo")
    );
    let metrics = world.metrics().await;
    assert!(
        metrics.contains("arcane_orchestrator_chat_routed_total{channel=\"whisper\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_made_in_the_game_enters_one_instance() {
    let world = World::start_supervised("social-instance").await;
    let store = world.store().await;
    let mut talkers = Vec::new();
    for (i, name) in ["ann", "bob"].into_iter().enumerate() {
        let l = world.login(name).await;
        seed_at(
            &store,
            "west",
            l.player_id,
            i as u64,
            (55.0, 30.0 + i as f32 * 20.0),
        )
        .await;
        talkers.push((
            connect(&world, name, &l.endpoint, &l.ticket).await,
            l.player_id,
        ));
    }
    let (mut bob, _) = talkers.pop().unwrap();
    let (mut ann, _) = talkers.pop().unwrap();
    ann.ask(SocialRequest::PartyCreate).await;
    let party = ann.party("her party", |_| true).await;
    ann.ask(SocialRequest::PartyInvite { name: "bob".into() })
        .await;
    bob.social("the invitation", |s| {
        matches!(s, SocialEvent::Invited { .. }).then_some(())
    })
    .await;
    bob.ask(SocialRequest::PartyAccept {
        party: party.id.clone(),
    })
    .await;
    bob.party("the party of two", |p| p.members.len() == 2)
        .await;

    // Both walk east into the portal and meet in the party's instance.
    let want = format!("vault~party-{}", party.id);
    let (_go_tx, go) = watch::channel(true);
    let trips = [ann, bob].map(|t| {
        let (world, want, go) = (&world, want.clone(), go.clone());
        async move {
            let name = t.name.clone();
            let (client, trip) = journey(
                world,
                &name,
                Start::Connected(Box::new(t.client)),
                &want,
                127,
                go,
            )
            .await;
            (client, trip)
        }
    });
    let arrived = futures_util::future::join_all(trips).await;
    for (_, trip) in &arrived {
        assert_eq!(trip.redirects, 1, "{trip:?}");
    }
    let rosters = world.rosters().await;
    assert_eq!(rosters.get(&want).map(Vec::len), Some(2), "{rosters:?}");
}
