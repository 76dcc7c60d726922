//! The QUIC transport end to end in one process: clients join over QUIC with the
//! zone's pinned dev certificate, play and get kicked with reasons like WebSocket
//! clients; and QUIC clients behind a lossy link (dropped and reordered datagrams)
//! end up seeing exactly what a lossless WebSocket client sees.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::time::{Duration, Instant};

use arcane_loadtest::client::{Client, Incoming};
use arcane_loadtest::lossy::{Impairment, LossyLink};
use arcane_loadtest::quic::DatagramCount;
use arcane_loadtest::scrape;
use arcane_protocol::view::{ApplyError, ClientView};
use arcane_protocol::{
    ClientMessage, ClientTier, EntityState, KickReason, MoveInput, NetId, ServerMessage,
};
use arcane_zone_server::ZoneServerConfig;
use arcane_zone_server::config::DEV_TICKET_SECRET;
use tokio::sync::watch;
use tokio::time::timeout;

mod support;
use support::quiet_zone::*;
use support::welcome;

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
