//! QUIC links end to end in one process: a client that acknowledges nothing, one
//! that stops reading, one dropped, connects given up, a bot run inside its
//! endpoint's task, and a swarm that cannot join.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use arcane_loadtest::client::{Client, Incoming};
use arcane_loadtest::quic::{DatagramCount, Flow, Handler, Outbox};
use arcane_loadtest::scrape;
use arcane_protocol::view::ClientView;
use arcane_protocol::{ClientMessage, ClientTier, KickReason, MoveInput, ServerMessage};
use arcane_zone_server::config::DEV_TICKET_SECRET;
use tokio::time::timeout;

mod support;
use support::quiet_zone::*;
use support::welcome;

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
        chat_every: Duration::from_secs(5),
        ws_tasks: false,
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
