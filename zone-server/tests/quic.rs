//! The QUIC transport end to end in one process: clients join over QUIC with the
//! zone's pinned dev certificate, play and get kicked with reasons like WebSocket
//! clients; and QUIC clients behind a lossy link (dropped and reordered datagrams)
//! end up seeing exactly what a lossless WebSocket client sees.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use arcane_loadtest::client::{Client, Incoming};
use arcane_loadtest::lossy::{Impairment, LossyLink};
use arcane_loadtest::quic::{DatagramCount, Flow, Handler, Outbox};
use arcane_loadtest::scrape;
use arcane_protocol::view::{ApplyError, ClientView};
use arcane_protocol::{
    ClientMessage, ClientTier, EntityState, KickReason, MoveInput, NetId, ServerMessage,
};
use arcane_zone_server::config::DEV_TICKET_SECRET;
use arcane_zone_server::{RunningZone, ZoneServerConfig};
use tokio::sync::watch;
use tokio::time::timeout;

/// A quiet zone (no NPCs): once players stop, nothing changes, so every view must
/// settle on the same state.
fn content() -> tempfile::TempDir {
    let dir = support::scratch_dir("quic");
    arcane_engine::content::ContentSources::shipped()
        .write_to(dir.path())
        .unwrap();
    std::fs::write(
        dir.path().join("zones/quiet.ron"),
        r#"ZoneDef(
            id: "quiet",
            bounds: Bounds(min: (0.0, 0.0), max: (200.0, 200.0)),
            player_speed: 10.0,
            max_players: 50,
            spawn_points: [(100.0, 100.0)],
            spawn_radius: 10.0,
        )"#,
    )
    .unwrap();
    dir
}

async fn start_zone() -> RunningZone {
    start_zone_with(|_| {}).await
}

/// The quiet zone, with `adjust` applied to its configuration first. The zone reads
/// its content once (no watching), so the folder goes when it has started.
async fn start_zone_with(adjust: impl FnOnce(&mut ZoneServerConfig)) -> RunningZone {
    let content = content();
    let mut config = ZoneServerConfig::local(content.path().to_path_buf(), "quiet");
    config.watch_content = false;
    adjust(&mut config);
    arcane_zone_server::start(config).await.unwrap()
}

/// The quiet zone with its content's `ack_timeout_ticks` set to `ticks`.
async fn start_zone_with_ack_timeout(ticks: u32) -> RunningZone {
    start_zone_with(|config| {
        let netcode = config.content.join("netcode.ron");
        let text = std::fs::read_to_string(&netcode).unwrap();
        assert!(text.contains("ack_timeout_ticks: 200"), "{text}");
        let text = text.replacen(
            "ack_timeout_ticks: 200",
            &format!("ack_timeout_ticks: {ticks}"),
            1,
        );
        std::fs::write(&netcode, text).unwrap();
    })
    .await
}

mod support;
use support::welcome;

/// The reason of the kick `client` gets within 5 s (what comes before it is skipped).
async fn kicked(client: &mut Client) -> KickReason {
    let kick = client.recv_until(|m| match m {
        ServerMessage::Kick { reason, .. } => Some(reason),
        _ => None,
    });
    timeout(Duration::from_secs(5), kick)
        .await
        .unwrap()
        .unwrap()
}

/// The zone's `/metrics` text.
async fn metrics(zone: &RunningZone) -> String {
    scrape::http_get(&format!("http://{}/metrics", zone.admin_addr))
        .await
        .expect("/metrics")
}

/// Waits until the zone counts `players` players, failing after `within`.
async fn until_players(zone: &RunningZone, players: f64, within: Duration) {
    let start = Instant::now();
    loop {
        let now = scrape::sum_of(&metrics(zone).await, "arcane_players");
        if now == players {
            return;
        }
        assert!(start.elapsed() < within, "still {now} players");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Handshakes the zone refused for `reason`, from its `/metrics` text.
fn handshake_failures(metrics: &str, reason: &str) -> f64 {
    scrape::labelled(metrics, "arcane_handshake_failures_total", "reason", reason)
}

/// A player's ticket for the `quiet` zone.
fn ticket(player: u64, secret: &str) -> String {
    support::player_ticket(player, "quiet", secret)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_clients_play_and_are_refused_with_reasons() {
    let zone = start_zone().await;
    let quic = zone.quic_endpoint.clone().expect("QUIC is on by default");
    assert!(
        quic.starts_with("quic://127.0.0.1:") && quic.contains("?sha256="),
        "{quic}"
    );

    // A player joins, gets snapshots as datagrams and a pong on the stream.
    let mut c = Client::join(&quic, &ticket(1, DEV_TICKET_SECRET), ClientTier::Desktop)
        .await
        .unwrap();
    welcome(&mut c).await;
    let mut view = ClientView::new();
    let mut pong = false;
    let start = Instant::now();
    while (view.own().is_none() || !pong) && start.elapsed() < Duration::from_secs(5) {
        c.send(&[
            ClientMessage::Ping { nonce: 7 },
            ClientMessage::Ack {
                snapshot_id: view.current_id(),
            },
        ])
        .await
        .unwrap();
        match timeout(Duration::from_secs(2), c.recv()).await.unwrap() {
            Incoming::Message(ServerMessage::Snapshot(s), _) => {
                let _ = view.apply(&s);
            }
            Incoming::Message(ServerMessage::Pong { nonce, .. }, _) => pong = nonce == 7,
            Incoming::Message(..) => {}
            other => panic!("lost the connection: {other:?}"),
        }
    }
    assert!(
        view.own().is_some() && pong,
        "no snapshot or pong over QUIC"
    );
    assert!(c.datagrams().received > 0, "snapshots came as datagrams");

    // A message carries when the endpoint read it off the socket, not when the
    // client got round to it: the bot swarm's latency must not count the bot
    // process's own queue. Snapshots keep coming while this client looks away.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let asked = Instant::now();
    let read_at = loop {
        match timeout(Duration::from_secs(2), c.recv()).await.unwrap() {
            Incoming::Message(ServerMessage::Snapshot(_), received) => break received.at,
            Incoming::Message(..) => {}
            other => panic!("lost the connection: {other:?}"),
        }
    };
    assert!(
        asked.duration_since(read_at) >= Duration::from_millis(200),
        "a snapshot was stamped {:?} before recv was called, not when it was read",
        asked.saturating_duration_since(read_at)
    );

    // A forged ticket: a Kick with the reason, then the close names it.
    let mut bad = Client::join(&quic, &ticket(2, "not-the-secret"), ClientTier::Desktop)
        .await
        .unwrap();
    match timeout(Duration::from_secs(5), bad.recv()).await.unwrap() {
        Incoming::Message(ServerMessage::Kick { reason, .. }, _) => {
            assert_eq!(reason, KickReason::BadTicket)
        }
        other => panic!("expected a kick, got {other:?}"),
    }
    match timeout(Duration::from_secs(5), bad.recv()).await.unwrap() {
        Incoming::Closed(Some(r)) => assert_eq!(r, "bad_ticket"),
        other => panic!("expected the close, got {other:?}"),
    }

    // An oversized frame on the stream is refused before it is buffered. (Twice the
    // limit: the zone's stream window lets a client have 16 frames in flight, so a
    // far bigger write would block in the client until the zone reads on, which it
    // does not once it has refused the frame.)
    let mut big = Client::join(&quic, &ticket(3, DEV_TICKET_SECRET), ClientTier::Desktop)
        .await
        .unwrap();
    welcome(&mut big).await;
    big.send_raw(vec![0u8; 2 * arcane_protocol::MAX_CLIENT_FRAME])
        .await
        .unwrap();
    assert_eq!(kicked(&mut big).await, KickReason::MalformedPackets);

    // The good client is still served, and the metrics name the transport.
    c.send(&[ClientMessage::Ping { nonce: 8 }]).await.unwrap();
    timeout(
        Duration::from_secs(5),
        c.recv_until(|m| matches!(m, ServerMessage::Pong { nonce: 8, .. }).then_some(())),
    )
    .await
    .unwrap()
    .unwrap();
    let metrics = metrics(&zone).await;
    assert!(scrape::labelled(&metrics, "arcane_sent_bytes_total", "transport", "quic") > 0.0);
    assert!(
        scrape::sum_of(&metrics, "arcane_snapshot_datagrams_total") > 0.0,
        "{metrics}"
    );
    assert!(
        scrape::sum_of(&metrics, "arcane_snapshot_size_bytes_count") > 0.0,
        "{metrics}"
    );
    zone.shutdown();
    zone.wait().await;
}

type Seen = Vec<(NetId, EntityState)>;

fn seen(view: &ClientView) -> Seen {
    let mut v: Seen = view
        .entities()
        .iter()
        .map(|e| (e.net_id, e.state))
        .collect();
    v.sort_by_key(|(id, _)| id.0);
    v
}

/// Plays one client: walks in a pattern of its own while `moving`, then stands still,
/// acking every snapshot; publishes what it sees after each applied snapshot.
async fn play(
    mut c: Client,
    i: u32,
    moving: watch::Receiver<bool>,
    out: watch::Sender<Seen>,
    stop: watch::Receiver<bool>,
) -> (Client, u64) {
    let mut view = ClientView::new();
    let mut seq = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    // After a stall, skip the missed sends instead of bursting them (as PROTOCOL.md
    // asks of clients): a burst overflows the zone's input queue, each overflow is a
    // flood violation, and enough of them on a loaded CI machine got clients kicked.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut apply_errors = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if *stop.borrow() {
                    return (c, apply_errors);
                }
                seq += 1;
                let (dx, dy) = if *moving.borrow() {
                    let a = (seq / 10 + i * 3) as f32;
                    ((a.cos() * 127.0) as i8, (a.sin() * 127.0) as i8)
                } else {
                    (0, 0)
                };
                let msgs = [
                    ClientMessage::Input(MoveInput { seq, dir_x: dx, dir_y: dy }),
                    ClientMessage::Ack { snapshot_id: view.current_id() },
                ];
                c.send(&msgs).await.unwrap();
            }
            m = c.recv() => match m {
                Incoming::Message(ServerMessage::Snapshot(s), _) => match view.apply(&s) {
                    Ok(()) => {
                        let _ = out.send(seen(&view));
                    }
                    // A reordered datagram older than what we have: harmless.
                    Err(ApplyError::Stale { .. }) => {}
                    Err(_) => apply_errors += 1,
                },
                Incoming::Message(..) => {}
                other => panic!("client {i} lost its connection: {other:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_converge_through_a_lossy_link() {
    let zone = start_zone().await;
    let quic = zone.quic_endpoint.clone().unwrap();
    let addr = arcane_loadtest::client::host_port(&quic)
        .unwrap()
        .parse()
        .unwrap();
    let link = LossyLink::start(
        addr,
        Impairment {
            drop: 0.05,
            reorder: 0.05,
            // Longer than the 50 ms between inputs: some inputs overtake others.
            reorder_max_delay: Duration::from_millis(120),
            seed: 11,
        },
    )
    .await
    .unwrap();
    let through_link = quic.replace(&addr.to_string(), &link.addr.to_string());

    let (moving_tx, moving) = watch::channel(true);
    let (stop_tx, stop) = watch::channel(false);
    // The reference: a lossless WebSocket client among them.
    let (ref_tx, ref_rx) = watch::channel(Seen::new());
    let mut reference = Client::join(
        &format!("ws://{}", zone.ws_addr),
        &ticket(100, DEV_TICKET_SECRET),
        ClientTier::Desktop,
    )
    .await
    .unwrap();
    welcome(&mut reference).await;
    let ref_task = tokio::spawn(play(reference, 100, moving.clone(), ref_tx, stop.clone()));
    const CLIENTS: u32 = 8;
    let mut tasks = Vec::new();
    let mut outs = Vec::new();
    for i in 0..CLIENTS {
        let mut c = Client::join(
            &through_link,
            &ticket(u64::from(i) + 1, DEV_TICKET_SECRET),
            ClientTier::Desktop,
        )
        .await
        .unwrap();
        welcome(&mut c).await;
        let (tx, rx) = watch::channel(Seen::new());
        outs.push(rx);
        tasks.push(tokio::spawn(play(c, i, moving.clone(), tx, stop.clone())));
    }
    // Everyone walks for three seconds through the lossy link, then stands still.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = moving_tx.send(false);
    let start = Instant::now();
    // Wait until the reference has stood still for a second: that is the final state.
    let mut last = ref_rx.borrow().clone();
    let mut still_since = Instant::now();
    while still_since.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = ref_rx.borrow().clone();
        if now != last {
            (last, still_since) = (now, Instant::now());
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the reference never settled"
        );
    }
    loop {
        let want = ref_rx.borrow().clone();
        let converged =
            want.len() == CLIENTS as usize + 1 && outs.iter().all(|o| *o.borrow() == want);
        if converged {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "views did not converge: reference {want:?}\nclients {:?}",
            outs.iter().map(|o| o.borrow().clone()).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let settled = start.elapsed();
    stop_tx.send(true).unwrap();
    let mut total = DatagramCount::default();
    for t in tasks {
        let (c, apply_errors) = t.await.unwrap();
        assert_eq!(
            apply_errors, 0,
            "every snapshot applied to a baseline the client had"
        );
        let d = c.datagrams();
        total.received += d.received;
        total.lost += d.lost;
    }
    ref_task.await.unwrap();
    let dropped = link
        .counts
        .dropped
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        dropped > 0 && total.lost > 0,
        "the link lost datagrams: {dropped}, clients saw {total:?}"
    );
    let loss = total.lost as f64 / (total.lost + total.received) as f64;
    // Inputs the network reordered are not replays: none may count against a player.
    let metrics = metrics(&zone).await;
    let stale = scrape::labelled(
        &metrics,
        "arcane_inputs_rejected_total",
        "reason",
        "stale_sequence",
    );
    assert_eq!(stale, 0.0, "reordered inputs were blamed as stale");
    println!(
        "lossy link: {:.1}% of packets dropped, clients saw {:.1}% snapshot datagram loss; all {CLIENTS} views matched the reference {settled:?} after players stopped",
        link.counts.drop_share() * 100.0,
        loss * 100.0
    );
    zone.shutdown();
    zone.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_too_big_for_a_datagram_comes_on_the_stream() {
    // A crowd of 300 NPCs around the spawn point, all of them in one snapshot: the
    // first (full) snapshot is several kilobytes, far above a datagram.
    let dir = support::scratch_dir("quic-big");
    let mut sources = arcane_engine::content::ContentSources::shipped();
    sources.set(
        "zones/crowd.ron",
        r#"ZoneDef(
            id: "crowd",
            bounds: Bounds(min: (0.0, 0.0), max: (60.0, 60.0)),
            player_speed: 5.0,
            max_players: 10,
            spawn_points: [(30.0, 30.0)],
            spawn_radius: 0.0,
            npcs: [NpcGroup(count: 300, speed: 1.0, min_leg_ticks: 20, max_leg_ticks: 40, idle_chance: 0.5)],
        )"#
        .to_string(),
    );
    let netcode = sources
        .get("netcode.ron")
        .unwrap()
        .replace("tracked_cap: 160", "tracked_cap: 250")
        .replace("snapshot_cap: 96", "snapshot_cap: 250");
    sources.set("netcode.ron", netcode);
    sources.write_to(dir.path()).unwrap();
    let mut config = ZoneServerConfig::local(dir.path().to_path_buf(), "crowd");
    config.watch_content = false;
    let zone = arcane_zone_server::start(config).await.unwrap();
    let quic = zone.quic_endpoint.clone().unwrap();
    let ticket = support::player_ticket(1, "crowd", DEV_TICKET_SECRET);
    let mut c = Client::join(&quic, &ticket, ClientTier::Desktop)
        .await
        .unwrap();
    welcome(&mut c).await;
    let mut view = ClientView::new();
    let mut biggest = 0;
    let start = Instant::now();
    while (view.entities().len() < 200 || c.datagrams().received < 5)
        && start.elapsed() < Duration::from_secs(10)
    {
        c.send(&[ClientMessage::Ack {
            snapshot_id: view.current_id(),
        }])
        .await
        .unwrap();
        if let Ok(Incoming::Message(ServerMessage::Snapshot(s), received)) =
            timeout(Duration::from_secs(2), c.recv()).await
        {
            biggest = biggest.max(received.bytes);
            match view.apply(&s) {
                // The stream and datagrams may overtake each other: an older one is stale.
                Ok(()) | Err(ApplyError::Stale { .. }) => {}
                Err(e) => panic!("snapshot {} did not apply: {e}", s.id),
            }
        }
    }
    assert!(
        view.entities().len() >= 200,
        "saw {} entities",
        view.entities().len()
    );
    assert!(biggest > 2000, "the full snapshot was {biggest} bytes");
    assert!(
        c.datagrams().received >= 5,
        "the small deltas after it came as datagrams"
    );
    let metrics = metrics(&zone).await;
    assert!(scrape::sum_of(&metrics, "arcane_snapshot_stream_fallbacks_total") >= 1.0);
    zone.shutdown();
    zone.wait().await;
}

/// The two ways the zone ends a QUIC connection that did nothing wrong: it has no free
/// slot (the client learns why once the handshake lets it read a reason), and it shuts
/// down (a `ServerShutdown` kick, then the close). The player who was in leaves the
/// zone, and the endpoint stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_zone_and_a_shutdown_close_quic_clients_with_reasons() {
    let zone = start_zone_with(|c| c.max_connections = 1).await;
    let quic = zone.quic_endpoint.clone().unwrap();
    let mut first = Client::join(&quic, &ticket(1, DEV_TICKET_SECRET), ClientTier::Desktop)
        .await
        .unwrap();
    welcome(&mut first).await;

    // The second connection is over the zone's limit.
    let refused =
        match Client::join(&quic, &ticket(2, DEV_TICKET_SECRET), ClientTier::Desktop).await {
            // Closed before the client could even send its Hello.
            Err(e) => format!("{e:#}"),
            Ok(mut second) => match timeout(Duration::from_secs(5), second.recv())
                .await
                .unwrap()
            {
                Incoming::Closed(Some(reason)) => reason,
                other => panic!("expected the close, got {other:?}"),
            },
        };
    assert!(refused.contains("zone_full"), "{refused}");
    let metrics = metrics(&zone).await;
    assert_eq!(handshake_failures(&metrics, "zone_full"), 1.0, "{metrics}");
    assert_eq!(scrape::sum_of(&metrics, "arcane_players"), 1.0, "{metrics}");

    // A shutdown: the playing client is told why, then closed.
    let started = Instant::now();
    zone.shutdown();
    assert_eq!(kicked(&mut first).await, KickReason::ServerShutdown);
    let closed = timeout(Duration::from_secs(5), async {
        loop {
            match first.recv().await {
                // Datagrams sent before the kick may still come in.
                Incoming::Message(..) => {}
                Incoming::Closed(r) => return r,
                Incoming::Malformed(e) => panic!("malformed: {e}"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(closed.as_deref(), Some("server_shutdown"));
    timeout(Duration::from_secs(10), zone.wait()).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A client no snapshot reaches any more (here: one that acknowledges none) is let go
/// as slow once the content's ack timeout passes, its leave taking the usual way;
/// the client that acknowledges its snapshots is served on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_acknowledges_no_snapshot_is_let_go_as_slow() {
    let zone = start_zone_with_ack_timeout(20).await;
    let quic = zone.quic_endpoint.clone().unwrap();
    let join = |player| {
        let quic = quic.clone();
        async move {
            let t = ticket(player, DEV_TICKET_SECRET);
            let mut c = Client::join(&quic, &t, ClientTier::Desktop).await.unwrap();
            welcome(&mut c).await;
            c
        }
    };
    let (mut acking, mut silent) = (join(1).await, join(2).await);
    let acks = async {
        let mut view = ClientView::new();
        let mut snapshots = 0;
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            match timeout(Duration::from_secs(2), acking.recv())
                .await
                .unwrap()
            {
                Incoming::Message(ServerMessage::Snapshot(s), _) => {
                    view.apply(&s).unwrap();
                    snapshots += 1;
                    let ack = ClientMessage::Ack {
                        snapshot_id: view.current_id(),
                    };
                    acking.send(&[ack]).await.unwrap();
                }
                Incoming::Message(ServerMessage::Kick { reason, detail }, _) => {
                    panic!("the client that acknowledges was kicked: {reason:?}, {detail}")
                }
                Incoming::Message(..) => {}
                other => panic!("lost the connection: {other:?}"),
            }
        }
        snapshots
    };
    // It reads everything the zone sends, and acknowledges nothing.
    let kick = silent.recv_until(|m| match m {
        ServerMessage::Kick { reason, detail } => Some((reason, detail)),
        _ => None,
    });
    let (snapshots, kick) = tokio::join!(acks, timeout(Duration::from_secs(5), kick));
    let (reason, detail) = kick.expect("no kick within 5 s").unwrap();
    assert_eq!(reason, KickReason::SlowClient, "{detail}");
    assert!(detail.contains("no snapshot acknowledged"), "{detail}");
    assert!(
        snapshots >= 10,
        "the acking client got {snapshots} snapshots"
    );

    let start = Instant::now();
    loop {
        let m = metrics(&zone).await;
        let slow = scrape::labelled(&m, "arcane_kicks_total", "reason", "slow_client");
        if slow == 1.0 && scrape::sum_of(&m, "arcane_players") == 1.0 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    zone.shutdown();
    zone.wait().await;
}

/// A QUIC link that stops reading holds a bounded queue: snapshot datagrams beyond it
/// are dropped (and counted as lost), and a reliable frame that meets a full queue
/// (here the zone's slow-client kick) closes the connection with a reason, instead of
/// the endpoint queueing for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quic_link_that_stops_reading_queues_a_bounded_number_of_events() {
    const QUEUE: usize = 8;
    let zone = start_zone_with_ack_timeout(60).await;
    let quic = zone.quic_endpoint.clone().unwrap();
    let endpoint = arcane_loadtest::quic::shared_endpoint()
        .unwrap()
        .with_link_events(QUEUE);
    let join = |player| {
        let (quic, endpoint) = (quic.clone(), endpoint.clone());
        async move {
            let t = ticket(player, DEV_TICKET_SECRET);
            let mut c = Client::join_via(&quic, &t, ClientTier::Desktop, Some(&endpoint))
                .await
                .unwrap();
            welcome(&mut c).await;
            c
        }
    };
    let (mut pausing, mut stopped) = (join(1).await, join(2).await);
    // Neither acknowledges a snapshot, so the zone lets each go 60 of its ticks after
    // the join. The test waits on the zone's own counts, not on the clock: a debug
    // zone on a loaded host ticks slower than 20 Hz.
    let ticks = async || {
        let m = metrics(&zone).await;
        scrape::sum_of(&m, "arcane_tick_duration_seconds_count")
    };

    // Unread for 20 ticks (20 snapshots, well before the kick): what did not fit was
    // dropped, and the link reads on.
    let from = ticks().await;
    let start = Instant::now();
    while ticks().await < from + 20.0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the zone stopped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut queued = 0;
    while let Ok(incoming) = timeout(Duration::from_millis(1), pausing.recv()).await {
        assert!(
            matches!(incoming, Incoming::Message(ServerMessage::Snapshot(_), _)),
            "{incoming:?}"
        );
        queued += 1;
    }
    // At most QUEUE - 1 waited (the last place is the close's), and one more may have
    // come in while they were read.
    assert!(queued <= QUEUE, "{queued} events were queued");
    match timeout(Duration::from_secs(2), pausing.recv())
        .await
        .unwrap()
    {
        Incoming::Message(ServerMessage::Snapshot(_), _) => {}
        other => panic!("the link did not read on: {other:?}"),
    }
    let DatagramCount { received, lost } = pausing.datagrams();
    assert!(lost >= 10, "{received} received, {lost} lost");

    // Unread until both were let go: the stopped link's kick met a full queue, and it
    // closed its connection, which took its player out of the zone.
    until_players(&zone, 0.0, Duration::from_secs(30)).await;
    let mut queued = 0;
    let reason = loop {
        match timeout(Duration::from_secs(2), stopped.recv())
            .await
            .unwrap()
        {
            Incoming::Message(ServerMessage::Snapshot(_), _) => queued += 1,
            Incoming::Closed(reason) => break reason,
            other => panic!("unexpected before the close: {other:?}"),
        }
    };
    assert!(queued < QUEUE, "{queued} events were queued");
    let reason = reason.expect("the close carries its reason");
    assert!(reason.contains("events unread"), "{reason}");
    zone.shutdown();
    zone.wait().await;
}

/// A client dropped without closing (a bot following a redirect) closes its
/// connection as a dropped socket would: the player leaves at once, not when the
/// zone's idle timeout (15 s) notices the silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_quic_client_leaves_the_zone_at_once() {
    let zone = start_zone().await;
    let quic = zone.quic_endpoint.clone().unwrap();
    // From an endpoint that lives on (as a swarm's does), so only the link goes.
    let endpoint = arcane_loadtest::quic::shared_endpoint().unwrap();
    let t = ticket(1, DEV_TICKET_SECRET);
    let mut c = Client::join_via(&quic, &t, ClientTier::Desktop, Some(&endpoint))
        .await
        .unwrap();
    welcome(&mut c).await;
    drop(c);
    until_players(&zone, 0.0, Duration::from_secs(5)).await;
    zone.shutdown();
    zone.wait().await;
}

/// A QUIC connect from `endpoint` to `quic` that one poll set going and left unfinished.
/// On a cold start (a freshly linked test binary) the whole handshake has been seen to
/// finish inside that poll; such a connect is dropped (its link closes it) and tried
/// again.
async fn connect_under_way(
    quic: &str,
    endpoint: &arcane_loadtest::quic::QuicEndpoint,
) -> Pin<Box<impl Future<Output = anyhow::Result<arcane_loadtest::quic::QuicLink>>>> {
    for _ in 0..10 {
        let mut connect = Box::pin(arcane_loadtest::quic::QuicLink::connect(
            quic,
            Some(endpoint),
        ));
        let first = std::future::poll_fn(|cx| Poll::Ready(connect.as_mut().poll(cx))).await;
        if first.is_pending() {
            return connect;
        }
    }
    panic!("ten connects finished within their first poll");
}

/// A connect the caller gave up on before the handshake finished (a timeout) does not
/// leave its connection open: once the handshake completes with nobody waiting, the
/// client closes it, instead of keeping it alive until the zone's handshake timeout
/// refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quic_connect_given_up_closes_its_connection() {
    let zone = start_zone_with(|c| c.handshake_timeout = Duration::from_millis(1000)).await;
    let quic = zone.quic_endpoint.clone().unwrap();
    let endpoint = arcane_loadtest::quic::shared_endpoint().unwrap();
    drop(connect_under_way(&quic, &endpoint).await);
    // Past the zone's handshake timeout: it never had to time the connection out.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let metrics = metrics(&zone).await;
    assert_eq!(handshake_failures(&metrics, "timeout"), 0.0, "{metrics}");
    zone.shutdown();
    zone.wait().await;
}

/// A connect given up after the endpoint answered but before the answer was read (the
/// caller's task woke late) closes its connection too: no link was built to close it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quic_connect_given_up_with_its_answer_unread_closes_its_connection() {
    let zone = start_zone_with(|c| c.handshake_timeout = Duration::from_millis(1000)).await;
    let quic = zone.quic_endpoint.clone().unwrap();
    let endpoint = arcane_loadtest::quic::shared_endpoint().unwrap();
    let connect = connect_under_way(&quic, &endpoint).await;
    // Not polled while the handshake completes and the answer waits, then dropped.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(connect);
    // Past the zone's allowance for a stream after the handshake.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let metrics = metrics(&zone).await;
    assert_eq!(handshake_failures(&metrics, "timeout"), 0.0, "{metrics}");
    zone.shutdown();
    zone.wait().await;
}

/// A client run from inside its endpoint's task, as the swarm's bots are: it walks
/// until the zone has applied ten of its inputs, then stops.
struct Walker {
    view: ClientView,
    welcomed: bool,
    seq: u32,
    next: Instant,
    snapshots: u64,
}

impl Handler for Walker {
    fn on_incoming(&mut self, incoming: Incoming, _: &mut Outbox) -> Flow {
        match incoming {
            Incoming::Message(ServerMessage::Welcome(_), _) => self.welcomed = true,
            Incoming::Message(ServerMessage::Snapshot(s), _) => {
                self.snapshots += 1;
                let _ = self.view.apply(&s);
                if self.view.last_input_seq >= 10 {
                    return Flow::Stop;
                }
            }
            Incoming::Closed(_) => return Flow::Stop,
            _ => {}
        }
        Flow::Continue
    }

    fn wake_at(&self) -> Option<Instant> {
        self.welcomed.then_some(self.next)
    }

    fn on_wake(&mut self, now: Instant, out: &mut Outbox) -> Flow {
        self.seq += 1;
        self.next = now + Duration::from_millis(50);
        let (dir_x, dir_y) = MoveInput::quantize_direction(1.0, 0.0);
        out.send(&[
            ClientMessage::Input(MoveInput {
                seq: self.seq,
                dir_x,
                dir_y,
            }),
            ClientMessage::Ack {
                snapshot_id: self.view.current_id(),
            },
        ])
        .unwrap();
        Flow::Continue
    }
}

#[tokio::test]
async fn a_handler_drives_a_connection_from_the_endpoint_task_and_gives_it_back() {
    let zone = start_zone().await;
    let quic = zone.quic_endpoint.clone().unwrap();
    let mut c = Client::join(&quic, &ticket(40, DEV_TICKET_SECRET), ClientTier::Desktop)
        .await
        .unwrap();
    // The welcome and the first snapshots reach the link before the handler exists.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let walker = Walker {
        view: ClientView::new(),
        welcomed: false,
        seq: 0,
        next: Instant::now(),
        snapshots: 0,
    };
    let link = c.quic_link().unwrap();
    let walker = timeout(Duration::from_secs(10), link.drive(walker))
        .await
        .expect("the handler stops once ten inputs were applied")
        .unwrap();
    // It got what came before it (the welcome, so it sent at all) and its inputs
    // reached the zone.
    assert!(walker.welcomed);
    assert!(
        walker.view.last_input_seq >= 10,
        "{}",
        walker.view.last_input_seq
    );
    // The link has its channel and its datagram count back.
    let more = c.recv_until(|m| matches!(m, ServerMessage::Snapshot(_)).then_some(()));
    timeout(Duration::from_secs(2), more)
        .await
        .unwrap()
        .unwrap();
    assert!(
        c.datagrams().received > walker.snapshots,
        "{:?} after {} snapshots in the handler",
        c.datagrams(),
        walker.snapshots
    );
    c.close().await;
    zone.shutdown();
}

/// A swarm whose bots cannot join says why: here every bot pins the wrong certificate,
/// and the report counts them as connect errors and carries the first one's reason,
/// instead of a bare error count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_that_cannot_join_reports_why() {
    let zone = start_zone().await;
    let pinned = zone.quic_endpoint.clone().unwrap();
    let (base, _hash) = pinned.split_once("sha256=").unwrap();
    let swarm = arcane_loadtest::SwarmConfig {
        target: format!("{base}sha256={}", "0".repeat(64)),
        bots: 4,
        duration: Duration::from_secs(1),
        ramp: Duration::from_millis(100),
        metrics: None,
        zone: "quiet".into(),
        ticket_secret: DEV_TICKET_SECRET.into(),
        first_player: 1,
        tier: ClientTier::Desktop,
        input_hz: 20,
        live: false,
        input_lead: Duration::from_millis(20),
        input_margin: None,
        behaviour: arcane_loadtest::behaviour::BehaviourMix::Wanderer,
        orchestrator: None,
        transport: arcane_loadtest::client::Transport::Quic,
        impairment: None,
        idp_secret: None,
    };
    let report = tokio::task::LocalSet::new()
        .run_until(arcane_loadtest::run_swarm(swarm))
        .await
        .unwrap();
    assert_eq!(report.connected, 0);
    assert_eq!((report.errors, report.connect_errors), (4, 4));
    let why = report.first_connect_error.clone().unwrap();
    assert!(why.contains("is not the pinned"), "{why}");
    assert!(report.summary().contains(&why), "{}", report.summary());
    zone.shutdown();
    zone.wait().await;
}
