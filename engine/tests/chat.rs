//! Chat in one zone: `say` reaches the players whose view holds the speaker, `zone`
//! everyone, party messages and whispers go to the host; bad texts are refused and
//! filtered words masked.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use arcane_engine::common::io::ChatOut;
use arcane_engine::content::{ContentSources, ZoneContent};
use arcane_engine::{PlayerId, Zone, ZoneCommand, ZoneOutput};
use arcane_protocol::saved::SavedPlayer;
use arcane_protocol::ticket::Role;
use arcane_protocol::{ChatChannel, ChatRefusal, ClientTier, EventKind};

fn field() -> ZoneContent {
    let mut sources = ContentSources::shipped();
    sources.set(
        "zones/field.ron",
        r#"ZoneDef(
            id: "field",
            bounds: Bounds(min: (0.0, 0.0), max: (1000.0, 1000.0)),
            player_speed: 5.0,
            max_players: 10,
            spawn_points: [(50.0, 50.0)],
            spawn_radius: 0.0,
            respawn_points: [(10.0, 10.0)],
        )"#,
    );
    sources.zone("field").unwrap()
}

fn at(x: f32, y: f32) -> Option<Box<SavedPlayer>> {
    Some(Box::new(SavedPlayer {
        x,
        y,
        hp: 100,
        mana: 100,
        inventory: Vec::new(),
        creatures: Vec::new(),
    }))
}

/// Players 1 and 2 stand 10 m apart, player 3 is 1 km away.
fn zone() -> Zone {
    let mut zone = Zone::new(field(), 9);
    let spots = [(1, 50.0, 50.0), (2, 60.0, 50.0), (3, 950.0, 950.0)];
    zone.step(spots.map(|(p, x, y)| ZoneCommand::Join {
        player: PlayerId(p),
        tier: ClientTier::Desktop,
        role: Role::Player,
        saved: at(x, y),
    }));
    // Views fill over the next ticks.
    for _ in 0..5 {
        zone.step([]);
    }
    zone.drain_outputs();
    zone
}

fn say(zone: &mut Zone, channel: ChatChannel, text: &str) -> (Vec<(u64, EventKind)>, Vec<ChatOut>) {
    zone.step([ZoneCommand::Chat {
        player: PlayerId(1),
        name: "ann".into(),
        channel,
        text: text.into(),
    }]);
    let (mut events, mut chats) = (Vec::new(), Vec::new());
    for out in zone.drain_outputs() {
        match out {
            ZoneOutput::Event { player, event }
                if matches!(
                    event.kind,
                    EventKind::Chat { .. } | EventKind::ChatRefused { .. }
                ) =>
            {
                events.push((player.0, event.kind));
            }
            ZoneOutput::Broadcast { players, event } => {
                events.extend(players.into_iter().map(|p| (p.0, event.kind.clone())));
            }
            ZoneOutput::Chat(c) => chats.push(*c),
            _ => {}
        }
    }
    events.sort_by_key(|e| e.0);
    (events, chats)
}

fn heard(events: &[(u64, EventKind)]) -> Vec<u64> {
    events
        .iter()
        .filter(|(_, k)| matches!(k, EventKind::Chat { .. }))
        .map(|e| e.0)
        .collect()
}

#[test]
fn say_reaches_those_who_see_the_speaker_and_zone_reaches_everyone() {
    let mut z = zone();
    let (events, chats) = say(&mut z, ChatChannel::Say, "hello");
    assert_eq!(
        heard(&events),
        vec![1, 2],
        "the far player does not hear a say"
    );
    let EventKind::Chat {
        from,
        from_id,
        text,
        ..
    } = &events[0].1
    else {
        unreachable!()
    };
    assert_eq!(
        (from.as_str(), *from_id, text.as_str()),
        ("ann", 1, "hello")
    );
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0].delivered, 2);

    let (events, _) = say(&mut z, ChatChannel::Zone, "everyone");
    assert_eq!(heard(&events), vec![1, 2, 3]);
}

#[test]
fn party_messages_and_whispers_go_to_the_host_only() {
    let mut z = zone();
    for channel in [
        ChatChannel::Party,
        ChatChannel::Whisper { to: "bob".into() },
    ] {
        let (events, chats) = say(&mut z, channel.clone(), "psst");
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(chats.len(), 1);
        assert_eq!(chats[0].channel, channel);
        assert_eq!(chats[0].text, "psst");
    }
}

#[test]
fn bad_texts_are_refused_and_filtered_words_masked() {
    let mut z = zone();
    let (events, chats) = say(&mut z, ChatChannel::Zone, " \u{7}\u{202E} ");
    assert!(chats.is_empty());
    assert_eq!(events.len(), 1);
    assert!(matches!(
        events[0],
        (
            1,
            EventKind::ChatRefused {
                reason: ChatRefusal::Empty,
                ..
            }
        )
    ));
    let (events, _) = say(&mut z, ChatChannel::Say, &"x".repeat(201));
    assert!(matches!(
        events[0],
        (
            1,
            EventKind::ChatRefused {
                reason: ChatRefusal::TooLong,
                ..
            }
        )
    ));

    // The shipped filter list has "frak".
    let (events, chats) = say(&mut z, ChatChannel::Say, "oh FRAK\u{0}!");
    let EventKind::Chat { text, .. } = &events[1].1 else {
        unreachable!()
    };
    assert_eq!(text, "oh ****!");
    assert_eq!(chats[0].filtered, vec!["frak".to_string()]);
}
