//! Multi-peer tests in one process: a real zone server on loopback and several protocol
//! clients. Each bad input gets its documented outcome while good clients keep being
//! served.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::time::Duration;

use arcane_loadtest::client::{Client, Incoming};
use arcane_protocol::messages::RejectReason;
use arcane_protocol::view::ClientView;
use arcane_protocol::{
    ClientMessage, ClientTier, EventKind, Hello, KickReason, MoveInput, NetId, ServerMessage,
};
use arcane_zone_server::config::DEV_TICKET_SECRET;
use arcane_zone_server::{RunningZone, ZoneServerConfig};
use tokio::time::timeout;

/// A content folder with a small, fast zone: everyone spawns at the same point and
/// walks at 50 m/s, so "far away" is reachable in a second.
fn test_content() -> tempfile::TempDir {
    support::content_with(
        "loopback",
        &[(
            "zones/test.ron",
            r#"ZoneDef(
            id: "test",
            bounds: Bounds(min: (0.0, 0.0), max: (400.0, 400.0)),
            player_speed: 50.0,
            max_players: 50,
            spawn_points: [(100.0, 200.0)],
            spawn_radius: 0.0,
            npcs: [NpcGroup(count: 20, speed: 2.0, min_leg_ticks: 5, max_leg_ticks: 20, idle_chance: 0.2)],
        )"#,
        )],
    )
}

/// The test zone; it reads its content once (no watching), so the folder goes when
/// it has started.
async fn start_zone(heartbeat: Duration) -> RunningZone {
    start_zone_on(heartbeat, false).await
}

/// The test zone, its plain connections served by a task each (`--ws-tasks`) or by
/// the tick thread (the default).
async fn start_zone_on(heartbeat: Duration, ws_tasks: bool) -> RunningZone {
    let content = test_content();
    let mut config = ZoneServerConfig::local(content.path().to_path_buf(), "test");
    config.watch_content = false;
    config.heartbeat_timeout = heartbeat;
    config.ws_tasks = ws_tasks;
    arcane_zone_server::start(config).await.unwrap()
}

/// A test of each way a plain connection is served: by the tick thread (the
/// default) and by a task of its own (`--ws-tasks`, and every `wss://` connection).
macro_rules! both_paths {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn by_the_tick_thread() {
                super::$name(false).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn by_a_task() {
                super::$name(true).await
            }
        }
    };
}

both_paths!(bad_input_gets_its_documented_outcome_while_others_are_served);
both_paths!(silent_peers_time_out_and_duplicate_logins_replace_the_old_connection);
both_paths!(a_client_that_stops_reading_is_closed_as_slow);
both_paths!(a_client_close_is_answered_with_a_close);

mod support;
use support::{now_unix as now, ticket};

fn good_ticket(player: u64) -> String {
    ticket(player, "test", DEV_TICKET_SECRET, now() + 60)
}

fn url(z: &RunningZone) -> String {
    format!("ws://{}", z.ws_addr)
}

/// A playing client: joined, welcomed, with a decoded view.
struct Player {
    client: Client,
    me: NetId,
    view: ClientView,
    seq: u32,
    events: Vec<EventKind>,
    /// (input, its wait in 100 µs units) from each snapshot's input receipt.
    waits: Vec<(u32, u16)>,
}

impl Player {
    async fn join(z: &RunningZone, id: u64) -> Player {
        let mut client = Client::join(&url(z), &good_ticket(id), ClientTier::Desktop)
            .await
            .unwrap();
        let me = timeout(
            Duration::from_secs(5),
            client.recv_until(|m| match m {
                ServerMessage::Welcome(w) => Some(w.player),
                _ => None,
            }),
        )
        .await
        .unwrap()
        .unwrap();
        Player {
            client,
            me,
            view: ClientView::new(),
            seq: 0,
            events: vec![],
            waits: vec![],
        }
    }

    /// Sends one input (and the ack) and processes messages until the next snapshot.
    async fn step(&mut self, dir: (i8, i8)) {
        self.seq += 1;
        let msgs = [
            ClientMessage::Input(MoveInput {
                seq: self.seq,
                dir_x: dir.0,
                dir_y: dir.1,
            }),
            ClientMessage::Ack {
                snapshot_id: self.view.current_id(),
            },
        ];
        self.client.send(&msgs).await.unwrap();
        self.next_snapshot().await;
    }

    /// Like [`Player::step`], then reads on until the snapshot of the tick that
    /// applied the input (which carries its receipt). With a plain `step`, a slow
    /// host can put two of a player's inputs into one tick (the snapshot it waited
    /// for was already there), and that tick reports one of them.
    async fn step_applied(&mut self, dir: (i8, i8)) {
        self.step(dir).await;
        for _ in 0..20 {
            if self.view.last_input_seq >= self.seq {
                return;
            }
            self.next_snapshot().await;
        }
        panic!("input {} was not applied within 20 snapshots", self.seq);
    }

    async fn next_snapshot(&mut self) {
        loop {
            match timeout(Duration::from_secs(5), self.client.recv())
                .await
                .expect("no snapshot within 5 s")
            {
                Incoming::Message(ServerMessage::Snapshot(s), _) => {
                    self.view.apply(&s).unwrap();
                    if let Some(w) = s.input_wait {
                        self.waits.push((w.seq(s.last_input_seq), w.wait_100us));
                    }
                    return;
                }
                Incoming::Message(ServerMessage::Events(e), _) => {
                    self.events.extend(e.into_iter().map(|e| e.kind))
                }
                Incoming::Message(_, _) => {}
                other => panic!("player {:?} lost its connection: {other:?}", self.me),
            }
        }
    }

    fn sees(&self, other: NetId) -> bool {
        self.view.entity(other).is_some()
    }
}

/// Reads until the server's kick (or close) and returns the kick reason.
async fn expect_kick(client: &mut Client) -> KickReason {
    loop {
        match timeout(Duration::from_secs(5), client.recv())
            .await
            .expect("no kick within 5 s")
        {
            Incoming::Message(ServerMessage::Kick { reason, .. }, _) => return reason,
            Incoming::Message(_, _) => continue,
            other => panic!("closed without a kick: {other:?}"),
        }
    }
}

async fn hello(client: &mut Client, version: u16, ticket: String) {
    client
        .send(&[ClientMessage::Hello(Hello {
            protocol_version: version,
            ticket,
            tier: ClientTier::Desktop,
        })])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_players_see_each_other_and_far_ones_do_not() {
    let z = start_zone(Duration::from_secs(15)).await;
    let mut a = Player::join(&z, 1).await;
    let mut b = Player::join(&z, 2).await;
    let mut c = Player::join(&z, 3).await;
    // C runs east for 2 s at 50 m/s: 100 m, beyond 50 + 8 m.
    for _ in 0..40 {
        tokio::join!(
            a.step_applied((0, 0)),
            b.step_applied((0, 0)),
            c.step_applied((127, 0))
        );
    }
    for _ in 0..8 {
        tokio::join!(
            a.step_applied((0, 0)),
            b.step_applied((0, 0)),
            c.step_applied((0, 0))
        );
    }
    assert!(a.sees(b.me) && b.sees(a.me), "A and B stand together");
    assert!(
        !a.sees(c.me) && !b.sees(c.me),
        "C is out of range of A and B"
    );
    assert!(
        !c.sees(a.me) && !c.sees(b.me),
        "A and B are out of C's range"
    );
    assert!(a.sees(a.me) && c.sees(c.me), "everyone sees themselves");
    assert_eq!(
        c.view.last_input_seq, c.seq,
        "the last applied input is echoed"
    );
    // Each input applied is reported with its wait for its tick: these players send
    // right after the snapshot that applied their last input, so inputs wait most of
    // a tick (never zero, which would mean the zone's clock does not reach the
    // receipts), and never seconds. A receipt rides on the snapshot of its tick, and
    // a snapshot still unsent when the next one is ready is replaced by it (the
    // outbox policy), receipt and all: on a slow host some go that way (34 of 48 seen
    // once in a run that took 12 s against the usual 3), so half is the floor.
    assert!(c.waits.len() >= 24, "{} receipts", c.waits.len());
    assert!(c.waits.iter().all(|&(seq, _)| seq >= 1 && seq <= c.seq));
    assert!(c.waits.iter().any(|&(_, w)| w > 0), "{:?}", c.waits);
    assert!(c.waits.iter().all(|&(_, w)| w < 10_000), "{:?}", c.waits);
    // Measured from the input's arrival, not from when the zone got round to reading
    // it: the tick thread reads its connections right at the tick's start, so read
    // times would make every wait zero.
    let long = c.waits.iter().filter(|&&(_, w)| w >= 100).count();
    assert!(
        long * 3 >= c.waits.len(),
        "few waits of 10 ms or more: {:?}",
        c.waits
    );

    // A disconnect removes the player's entity: B leaves A's view within a few ticks.
    let b_id = b.me;
    b.client.close().await;
    for _ in 0..10 {
        a.step((0, 0)).await;
        if !a.sees(b_id) {
            break;
        }
    }
    assert!(!a.sees(b_id), "B's entity outlived its connection");
    z.shutdown();
    z.wait().await;
}

async fn bad_input_gets_its_documented_outcome_while_others_are_served(ws_tasks: bool) {
    let z = start_zone_on(Duration::from_secs(15), ws_tasks).await;
    let u = url(&z);
    let mut good = Player::join(&z, 100).await;
    good.step((0, 0)).await;
    let before = good.view.current_id();

    // Refused at handshake, each with its reason.
    let mut c = Client::connect(&u).await.unwrap();
    hello(&mut c, 999, good_ticket(200)).await;
    assert_eq!(expect_kick(&mut c).await, KickReason::VersionMismatch);

    let mut c = Client::connect(&u).await.unwrap();
    hello(
        &mut c,
        arcane_protocol::PROTOCOL_VERSION,
        ticket(201, "test", "not-the-secret", now() + 60),
    )
    .await;
    assert_eq!(
        expect_kick(&mut c).await,
        KickReason::BadTicket,
        "forged ticket"
    );

    let mut c = Client::connect(&u).await.unwrap();
    hello(
        &mut c,
        arcane_protocol::PROTOCOL_VERSION,
        ticket(202, "test", DEV_TICKET_SECRET, now() - 1),
    )
    .await;
    assert_eq!(expect_kick(&mut c).await, KickReason::TicketExpired);

    let mut c = Client::connect(&u).await.unwrap();
    hello(
        &mut c,
        arcane_protocol::PROTOCOL_VERSION,
        ticket(203, "other-zone", DEV_TICKET_SECRET, now() + 60),
    )
    .await;
    assert_eq!(expect_kick(&mut c).await, KickReason::WrongZone);

    let mut c = Client::connect(&u).await.unwrap();
    hello(
        &mut c,
        arcane_protocol::PROTOCOL_VERSION,
        "garbage.ticket".into(),
    )
    .await;
    assert_eq!(
        expect_kick(&mut c).await,
        KickReason::BadTicket,
        "malformed ticket"
    );

    let mut c = Client::connect(&u).await.unwrap();
    c.send(&[ClientMessage::Input(MoveInput {
        seq: 1,
        dir_x: 1,
        dir_y: 0,
    })])
    .await
    .unwrap();
    assert_eq!(
        expect_kick(&mut c).await,
        KickReason::HandshakeFailed,
        "input before hello"
    );

    let mut c = Client::connect(&u).await.unwrap();
    c.send_raw(vec![0xFF; 64]).await.unwrap();
    assert_eq!(
        expect_kick(&mut c).await,
        KickReason::HandshakeFailed,
        "garbage hello"
    );

    // Garbage after a good handshake: tolerated a few times, then a kick.
    let mut p = Player::join(&z, 300).await;
    for i in 0..arcane_zone_server::MAX_MALFORMED_FRAMES {
        if i % 2 == 0 {
            p.client
                .send_raw(vec![0xFD, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
                .await
                .unwrap();
        } else {
            p.client.send_text("{\"move\": \"fast\"}").await.unwrap();
        }
    }
    assert_eq!(
        expect_kick(&mut p.client).await,
        KickReason::MalformedPackets
    );

    // An oversized frame is refused by the transport before any decoding.
    let mut p = Player::join(&z, 301).await;
    p.client
        .send_raw(vec![0; arcane_protocol::MAX_CLIENT_FRAME + 1])
        .await
        .unwrap();
    assert_eq!(
        expect_kick(&mut p.client).await,
        KickReason::MalformedPackets,
        "oversized frame"
    );

    // Replayed and invalid inputs are rejected with an event; the player stays.
    let mut p = Player::join(&z, 302).await;
    p.step((127, 0)).await; // seq 1
    p.client
        .send(&[
            ClientMessage::Input(MoveInput {
                seq: 1,
                dir_x: 127,
                dir_y: 0,
            }), // replay
            ClientMessage::Input(MoveInput {
                seq: 2,
                dir_x: i8::MIN,
                dir_y: 0,
            }), // reserved value (the wire cannot carry NaN)
        ])
        .await
        .unwrap();
    p.seq = 2;
    for _ in 0..3 {
        p.step((0, 0)).await;
    }
    let rejected: Vec<_> = p
        .events
        .iter()
        .filter_map(|e| match e {
            EventKind::InputRejected { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        rejected,
        vec![RejectReason::StaleSequence, RejectReason::InvalidDirection]
    );

    // Flooding sequence numbers: many inputs per tick get dropped and the player kicked.
    let mut f = Player::join(&z, 303).await;
    let mut kicked = None;
    'flood: for round in 0..400u32 {
        let msgs: Vec<_> = (0..16)
            .map(|i| {
                ClientMessage::Input(MoveInput {
                    seq: round * 16 + i + 1,
                    dir_x: 127,
                    dir_y: 0,
                })
            })
            .collect();
        f.client.send(&msgs).await.unwrap();
        while let Ok(m) = timeout(Duration::from_millis(5), f.client.recv()).await {
            match m {
                Incoming::Message(ServerMessage::Kick { reason, .. }, _) => {
                    kicked = Some(reason);
                    break 'flood;
                }
                Incoming::Closed(_) => break 'flood,
                _ => {}
            }
        }
    }
    assert_eq!(
        kicked,
        Some(KickReason::TooManyViolations),
        "flooder kicked"
    );

    // Through all of it the good client kept receiving snapshots.
    for _ in 0..5 {
        good.step((0, 0)).await;
    }
    assert!(good.view.current_id() >= before + 5);
    let metrics = arcane_loadtest::scrape::http_get(&format!("http://{}/metrics", z.admin_addr))
        .await
        .unwrap();
    for name in [
        "arcane_handshake_failures_total{",
        "arcane_malformed_frames_total",
        "arcane_inputs_rejected_total{",
        "arcane_inputs_superseded_total",
        "arcane_kicks_total{",
        "arcane_tick_duration_seconds_bucket",
        "process_cpu_seconds_total",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}:\n{metrics}");
    }
    z.shutdown();
    z.wait().await;
}

async fn silent_peers_time_out_and_duplicate_logins_replace_the_old_connection(ws_tasks: bool) {
    let z = start_zone_on(Duration::from_millis(800), ws_tasks).await;
    // Says hello, then nothing (not even pongs): closed for a timeout. A dead peer
    // cannot read the kick, so the outcome is checked on the connection and metrics.
    let mut silent = Client::join(&url(&z), &good_ticket(1), ClientTier::Mobile)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    loop {
        match timeout(Duration::from_secs(5), silent.recv())
            .await
            .expect("silent peer was not closed")
        {
            Incoming::Message(ServerMessage::Kick { reason, .. }, _) => {
                assert_eq!(reason, KickReason::Timeout);
                break;
            }
            Incoming::Message(..) => continue,
            Incoming::Malformed(e) => panic!("{e}"),
            Incoming::Closed(_) => break,
        }
    }
    let metrics = arcane_loadtest::scrape::http_get(&format!("http://{}/metrics", z.admin_addr))
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("arcane_kicks_total{")
            && l.contains("reason=\"timeout\"")
            && !l.ends_with(" 0")),
        "no timeout kick counted:\n{metrics}"
    );

    // The same player connecting twice: the first connection is told why it closed.
    let mut first = Player::join(&z, 2).await;
    first.step((0, 0)).await;
    let mut second = Player::join(&z, 2).await;
    assert_eq!(
        expect_kick(&mut first.client).await,
        KickReason::DuplicateLogin
    );
    second.step((0, 0)).await;
    second.step((0, 0)).await;
    assert!(second.sees(second.me));

    let health = arcane_loadtest::scrape::http_get(&format!("http://{}/healthz", z.admin_addr))
        .await
        .unwrap();
    assert_eq!(health.trim(), "ok");
    z.shutdown();
    // Shutdown tells connected players why they are disconnected.
    assert_eq!(
        expect_kick(&mut second.client).await,
        KickReason::ServerShutdown
    );
    z.wait().await;
}

/// A client that stops reading: once the kernel buffers are full, newer snapshots
/// replace unsent ones, and a client that stays behind is closed as `SlowClient`.
async fn a_client_that_stops_reading_is_closed_as_slow(ws_tasks: bool) {
    // Many NPCs around the spawn make every (never acked, so full) snapshot ~2 KB.
    let dir = test_content();
    let crowded = std::fs::read_to_string(dir.path().join("zones/test.ron"))
        .unwrap()
        .replace("max: (400.0, 400.0)", "max: (150.0, 250.0)")
        .replace("count: 20", "count: 300");
    std::fs::write(dir.path().join("zones/test.ron"), crowded).unwrap();
    let mut config = ZoneServerConfig::local(dir.path().to_path_buf(), "test");
    config.ws_tasks = ws_tasks;
    let z = arcane_zone_server::start(config).await.unwrap();
    let mut good = Player::join(&z, 1).await;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let tcp = sock.connect(z.ws_addr).await.unwrap();
    let (mut stalled, _) = tokio_tungstenite::client_async(url(&z), tcp).await.unwrap();
    {
        use futures_util::SinkExt;
        let mut hello = Vec::new();
        arcane_protocol::codec::encode_client_frame(
            &[ClientMessage::Hello(Hello {
                protocol_version: arcane_protocol::PROTOCOL_VERSION,
                ticket: good_ticket(2),
                tier: ClientTier::Desktop,
            })],
            &mut hello,
        )
        .unwrap();
        stalled
            .send(tokio_tungstenite::tungstenite::Message::Binary(
                hello.into(),
            ))
            .await
            .unwrap();
    }
    // Keep the good client playing while the stalled one reads nothing (bounded: 30 s).
    let metrics_url = format!("http://{}/metrics", z.admin_addr);
    let mut slow_kicks = 0.0;
    for _ in 0..600 {
        good.step((0, 0)).await;
        let m = arcane_loadtest::scrape::http_get(&metrics_url)
            .await
            .unwrap();
        slow_kicks = m
            .lines()
            .filter(|l| {
                l.starts_with("arcane_kicks_total{") && l.contains("reason=\"slow_client\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if slow_kicks >= 1.0 {
            break;
        }
    }
    assert!(
        slow_kicks >= 1.0,
        "the stalled client was never closed as slow"
    );
    let drops = arcane_loadtest::scrape::sum_of(
        &arcane_loadtest::scrape::http_get(&metrics_url)
            .await
            .unwrap(),
        "arcane_outbox_drops_total",
    );
    assert!(drops > 0.0, "no unsent snapshot was ever replaced");
    // It reads again: behind the snapshots that were stuck in its socket comes the
    // documented kick, then the close.
    let kick = timeout(Duration::from_secs(10), async {
        use futures_util::StreamExt;
        while let Some(Ok(m)) = stalled.next().await {
            if let tokio_tungstenite::tungstenite::Message::Binary(b) = m
                && let Ok(ServerMessage::Kick { reason, .. }) =
                    arcane_protocol::codec::decode_server_message(&b)
            {
                return Some(reason);
            }
        }
        None
    })
    .await
    .unwrap();
    assert_eq!(kick, Some(KickReason::SlowClient));
    // The good client was served throughout, and the one kick was counted once.
    for _ in 0..20 {
        good.step((0, 0)).await;
    }
    let m = arcane_loadtest::scrape::http_get(&metrics_url)
        .await
        .unwrap();
    let slow = arcane_loadtest::scrape::labelled(&m, "arcane_kicks_total", "reason", "slow_client");
    assert_eq!(slow, 1.0, "one slow client, one kick");
    z.shutdown();
    z.wait().await;
}

/// A client's WebSocket close frame is answered with one (a clean close, not 1006).
async fn a_client_close_is_answered_with_a_close(ws_tasks: bool) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let z = start_zone_on(Duration::from_secs(15), ws_tasks).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(url(&z)).await.unwrap();
    let mut hello = Vec::new();
    arcane_protocol::codec::encode_client_frame(
        &[ClientMessage::Hello(Hello {
            protocol_version: arcane_protocol::PROTOCOL_VERSION,
            ticket: good_ticket(7),
            tier: ClientTier::Desktop,
        })],
        &mut hello,
    )
    .unwrap();
    ws.send(Message::Binary(hello.into())).await.unwrap();
    // Welcomed, then the client leaves politely.
    loop {
        let m = timeout(Duration::from_secs(5), ws.next()).await.unwrap();
        match m {
            Some(Ok(Message::Binary(_))) => break,
            Some(Ok(Message::Ping(_))) => continue,
            other => panic!("not welcomed: {other:?}"),
        }
    }
    ws.send(Message::Close(None)).await.unwrap();
    let answered = timeout(Duration::from_secs(5), async {
        while let Some(m) = ws.next().await {
            match m {
                Ok(Message::Close(_)) => return true,
                Ok(_) => continue,
                Err(_) => return false,
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(
        answered,
        "the server dropped the connection without a close frame"
    );
    z.shutdown();
    z.wait().await;
}

/// A frame longer than the server's read buffer (512 bytes) is read in parts and
/// taken whole: three long chat lines around an input all reach the speaker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_longer_than_the_read_buffer_arrives_whole() {
    use arcane_protocol::ChatChannel;
    let z = start_zone(Duration::from_secs(15)).await;
    let mut p = Player::join(&z, 410).await;
    p.step((0, 0)).await;
    // Under the shipped chat's 200 characters and within its burst of 5.
    let lines: Vec<String> = (1..=3)
        .map(|i| {
            format!(
                "line {i}: {}",
                "the quick brown fox jumps over the lazy dog ".repeat(4)
            )
        })
        .map(|l| l.trim_end().to_string())
        .collect();
    let chat = |text: &String| ClientMessage::Chat {
        channel: ChatChannel::Say,
        text: text.clone(),
    };
    p.seq += 1;
    let frame = [
        chat(&lines[0]),
        ClientMessage::Input(MoveInput {
            seq: p.seq,
            dir_x: 0,
            dir_y: 0,
        }),
        chat(&lines[1]),
        ClientMessage::Ack {
            snapshot_id: p.view.current_id(),
        },
        chat(&lines[2]),
    ];
    let sent = p.client.send(&frame).await.unwrap();
    assert!(sent > 512, "the frame is {sent} bytes");
    let heard = |events: &[EventKind], line: &String| {
        events
            .iter()
            .any(|e| matches!(e, EventKind::Chat { text, .. } if text == line))
    };
    for _ in 0..40 {
        if lines.iter().all(|l| heard(&p.events, l)) {
            assert!(p.view.last_input_seq >= p.seq, "the input was applied");
            z.shutdown();
            z.wait().await;
            return;
        }
        p.next_snapshot().await;
    }
    panic!("not every chat line came back: {:?}", p.events);
}
