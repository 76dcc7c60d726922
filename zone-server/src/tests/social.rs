//! Chat and the social layer as a zone serves them: the test plays the orchestrator
//! (reads what the zone hands its social link, sends back what the link would).

use arcane_control_api::{SocialDown, SocialUp};
use arcane_protocol::{
    ChatChannel, ChatRefusal, ClientMessage, EventKind, KickReason, ServerMessage, SocialEvent,
    SocialRefusal, SocialRequest,
};

use super::pair::{Pair, Peer};

/// What the social link does with a message from the orchestrator.
fn link(pair: &Pair, down: SocialDown) {
    crate::net::social::receive(&pair.ctx.social, &pair.ctx.inbox, &pair.ctx.metrics, down);
}

fn chat(channel: ChatChannel, text: &str) -> ClientMessage {
    ClientMessage::Chat {
        channel,
        text: text.into(),
    }
}

/// The events `peer` received since the last call (and forgets them).
fn events(peer: &mut Peer) -> Vec<EventKind> {
    let mut out = Vec::new();
    for m in peer.received.drain(..) {
        if let ServerMessage::Events(list) = m {
            out.extend(list.into_iter().map(|e| e.kind));
        }
    }
    out
}

fn chats(events: &[EventKind]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            EventKind::Chat { from, text, .. } => Some((from.clone(), text.clone())),
            _ => None,
        })
        .collect()
}

fn refusals(events: &[EventKind]) -> Vec<ChatRefusal> {
    events
        .iter()
        .filter_map(|e| match e {
            EventKind::ChatRefused { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

/// Two players side by side in the test area, their views filled.
async fn two() -> (Pair, Peer, Peer) {
    let mut pair = Pair::shipped("test_area");
    let mut a = pair.join(1).await;
    let mut b = pair.join(2).await;
    for _ in 0..5 {
        pair.tick();
        pair.deliver(&mut a, |_| false, 0);
        pair.deliver(&mut b, |_| false, 0);
    }
    events(&mut a);
    events(&mut b);
    (pair, a, b)
}

fn step(pair: &mut Pair, a: &mut Peer, b: &mut Peer) {
    pair.tick();
    pair.deliver(a, |_| false, 0);
    pair.deliver(b, |_| false, 0);
}

#[tokio::test]
async fn say_reaches_the_neighbour_and_a_whisper_goes_out_and_back_through_the_link() {
    let (mut pair, mut a, mut b) = two().await;
    // Both players came online on the link.
    let mut online = Vec::new();
    while let Ok(up) = pair.social_up.try_recv() {
        if let SocialUp::Online(p) = up {
            online.push((p.player, p.name));
        }
    }
    assert_eq!(online, [(1, "player-1".into()), (2, "player-2".into())]);

    pair.send(&mut a, &[chat(ChatChannel::Say, "hello there")]);
    step(&mut pair, &mut a, &mut b);
    let want = vec![("player-1".to_string(), "hello there".to_string())];
    assert_eq!(chats(&events(&mut b)), want);
    assert_eq!(
        chats(&events(&mut a)),
        want,
        "the speaker sees its own line"
    );

    let whisper = ChatChannel::Whisper {
        to: "player-2".into(),
    };
    pair.send(&mut a, &[chat(whisper.clone(), "psst")]);
    step(&mut pair, &mut a, &mut b);
    assert!(
        chats(&events(&mut b)).is_empty(),
        "a whisper goes through the link"
    );
    let up = pair.social_up.try_recv().expect("the whisper on the link");
    let SocialUp::Chat {
        from,
        from_name,
        channel,
        text,
        ..
    } = up
    else {
        panic!("not a chat: {up:?}");
    };
    assert_eq!(
        (from, from_name.as_str(), &channel, text.as_str()),
        (1, "player-1", &whisper, "psst")
    );
    // The orchestrator delivers it back to this zone.
    let down = SocialDown::Deliver {
        attempt: 0,
        players: vec![2],
        event: EventKind::Chat {
            channel,
            from_id: from,
            from: from_name,
            text,
        },
    };
    link(&pair, down);
    step(&mut pair, &mut a, &mut b);
    assert_eq!(
        chats(&events(&mut b)),
        [("player-1".to_string(), "psst".to_string())]
    );
}

#[tokio::test]
async fn a_reader_does_not_see_the_chat_of_players_it_hides() {
    let (mut pair, mut a, mut b) = two().await;
    let hidden = SocialDown::Hidden {
        player: 2,
        ids: vec![1],
    };
    link(&pair, hidden);
    pair.send(&mut a, &[chat(ChatChannel::Zone, "anyone?")]);
    step(&mut pair, &mut a, &mut b);
    assert!(chats(&events(&mut b)).is_empty());
    assert_eq!(chats(&events(&mut a)).len(), 1);
    pair.send(&mut b, &[chat(ChatChannel::Zone, "yes")]);
    step(&mut pair, &mut a, &mut b);
    assert_eq!(chats(&events(&mut a)).len(), 1, "hiding is one way");
}

#[tokio::test]
async fn floods_mutes_and_bad_texts_are_refused_with_a_reason() {
    let (mut pair, mut a, mut b) = two().await;
    // The shipped chat.ron allows a burst of 5.
    for i in 0..6 {
        pair.send(&mut a, &[chat(ChatChannel::Say, &format!("line {i}"))]);
    }
    step(&mut pair, &mut a, &mut b);
    let seen = events(&mut a);
    assert_eq!(chats(&seen).len(), 5);
    assert_eq!(refusals(&seen), [ChatRefusal::RateLimited]);
    assert_eq!(chats(&events(&mut b)).len(), 5);

    let mut b2 = pair.join(3).await;
    let oversized = "x".repeat(arcane_protocol::MAX_CHAT_BYTES + 1);
    pair.send(&mut b2, &[chat(ChatChannel::Say, &oversized)]);
    pair.send(&mut b2, &[chat(ChatChannel::Say, "\u{0}\u{1b} ")]);
    let muted = SocialDown::Muted {
        player: 2,
        until_ms: arcane_service::unix_ms() + 60_000,
        reason: "spam".into(),
    };
    link(&pair, muted);
    pair.send(&mut b, &[chat(ChatChannel::Say, "let me speak")]);
    step(&mut pair, &mut a, &mut b);
    pair.deliver(&mut b2, |_| false, 0);
    assert_eq!(
        refusals(&events(&mut b2)),
        [ChatRefusal::TooLong, ChatRefusal::Empty]
    );
    let seen = events(&mut b);
    assert_eq!(refusals(&seen), [ChatRefusal::Muted]);
    assert!(
        seen.iter()
            .any(|e| matches!(e, EventKind::Notice { text } if text.contains("spam")))
    );
    assert!(
        chats(&events(&mut a)).is_empty(),
        "nothing refused reaches anyone"
    );
}

#[tokio::test]
async fn requests_go_to_the_link_and_are_refused_while_it_is_down() {
    let (mut pair, mut a, mut b) = two().await;
    while pair.social_up.try_recv().is_ok() {}
    let invite = SocialRequest::PartyInvite {
        name: "player-2".into(),
    };
    pair.send(&mut a, &[ClientMessage::Social(invite.clone())]);
    let up = pair.social_up.try_recv().expect("the request on the link");
    assert!(matches!(up, SocialUp::Request { player: 1, request, .. } if request == invite));

    pair.ctx.social.set_linked(false);
    pair.send(&mut a, &[ClientMessage::Social(invite)]);
    pair.send(&mut a, &[chat(ChatChannel::Party, "hi all")]);
    step(&mut pair, &mut a, &mut b);
    let seen = events(&mut a);
    assert!(seen.iter().any(|e| matches!(
        e,
        EventKind::Social(s) if matches!(**s, SocialEvent::Refused { reason: SocialRefusal::Unavailable, .. })
    )));
    assert_eq!(refusals(&seen), [ChatRefusal::Unavailable]);
    assert!(pair.social_up.try_recv().is_err());
}

#[tokio::test]
async fn a_moderator_kick_closes_the_connection() {
    let (mut pair, mut a, mut b) = two().await;
    let kick = SocialDown::Kick {
        player: 2,
        reason: "abuse".into(),
    };
    link(&pair, kick);
    step(&mut pair, &mut a, &mut b);
    assert_eq!(b.kicked, Some(KickReason::Moderator));
    assert_eq!(a.kicked, None);
}

#[tokio::test]
async fn a_chat_line_that_is_not_utf8_is_refused_and_counted_as_malformed() {
    let (mut pair, mut a, mut b) = two().await;
    let mut frame = Vec::new();
    arcane_protocol::codec::encode_client_frame(&[chat(ChatChannel::Say, "ok")], &mut frame)
        .unwrap();
    let n = frame.len();
    frame[n - 2..].copy_from_slice(&[0xff, 0xfe]);
    pair.send_raw(&mut a, &frame);
    step(&mut pair, &mut a, &mut b);
    assert_eq!(refusals(&events(&mut a)), [ChatRefusal::InvalidText]);
    assert!(chats(&events(&mut b)).is_empty());
    assert_eq!(pair.ctx.metrics.malformed_frames.get(), 1);
}

#[tokio::test]
async fn a_delivery_waits_for_its_player_to_arrive_then_goes_back_to_the_orchestrator() {
    let (mut pair, mut a, mut b) = two().await;
    while pair.social_up.try_recv().is_ok() {}
    let notice = |text: &str| EventKind::Notice { text: text.into() };
    // Player 3 is on its way here (its transfer committed); 77 never comes.
    for (players, text) in [(vec![2, 3], "for 3"), (vec![77], "for 77")] {
        let down = SocialDown::Deliver {
            players,
            event: notice(text),
            attempt: 3,
        };
        link(&pair, down);
    }
    step(&mut pair, &mut a, &mut b);
    assert!(events(&mut b).contains(&notice("for 3")));
    assert!(pair.social_up.try_recv().is_err(), "held, not bounced");
    let mut c = pair.join(3).await;
    step(&mut pair, &mut a, &mut b);
    pair.deliver(&mut c, |_| false, 0);
    assert!(
        matches!(c.received.first(), Some(ServerMessage::Welcome(_))),
        "the welcome comes first"
    );
    assert!(events(&mut c).contains(&notice("for 3")));
    let later = std::time::Instant::now() + crate::net::social::HOLD;
    assert_eq!(
        pair.ctx.social.expired(later),
        vec![SocialUp::Bounced {
            players: vec![77],
            event: notice("for 77"),
            attempt: 3
        }]
    );
}

#[tokio::test]
async fn a_flood_of_social_requests_is_refused_past_the_rate() {
    let (mut pair, mut a, mut b) = two().await;
    while pair.social_up.try_recv().is_ok() {}
    let status = ClientMessage::Social(SocialRequest::Status);
    for _ in 0..crate::net::social::REQUEST_BURST + 3 {
        pair.send(&mut a, std::slice::from_ref(&status));
    }
    let mut forwarded = 0;
    while pair.social_up.try_recv().is_ok() {
        forwarded += 1;
    }
    assert_eq!(forwarded, crate::net::social::REQUEST_BURST);
    step(&mut pair, &mut a, &mut b);
    let limited = events(&mut a)
        .iter()
        .filter(|e| matches!(e, EventKind::Social(s) if matches!(**s, SocialEvent::Refused { reason: SocialRefusal::RateLimited, .. })))
        .count();
    assert_eq!(limited, 3);
}
