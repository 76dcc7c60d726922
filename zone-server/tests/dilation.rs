//! Time dilation end to end: a real zone on loopback whose every tick takes twice its
//! period (`extra_tick_work`) slows its time instead of falling behind. Every client
//! stays connected, snapshots carry the rate, inputs apply one per tick in order (a
//! player walking east moves exactly one step per applied input), and a client that
//! keeps sending at the full rate is not kicked for the inputs the zone cannot take.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::time::{Duration, Instant};

use arcane_loadtest::client::{Client, Incoming};
use arcane_protocol::view::ClientView;
use arcane_protocol::{ClientMessage, ClientTier, MoveInput, NetId, ServerMessage};
use arcane_zone_server::config::DEV_TICKET_SECRET;
use arcane_zone_server::{RunningZone, ZoneServerConfig};
use tokio::time::timeout;

mod support;
use support::{now_unix as now, ticket};

/// 50 m/s at 20 Hz: 2.5 m (250 cm) per applied input.
const STEP_CM: i32 = 250;
/// How long the clients play.
const PLAY: Duration = Duration::from_secs(12);

async fn start_overloaded_zone() -> RunningZone {
    let content = support::content_with(
        "dilation",
        &[(
            "zones/test.ron",
            r#"ZoneDef(
            id: "test",
            bounds: Bounds(min: (0.0, 0.0), max: (4000.0, 4000.0)),
            player_speed: 50.0,
            max_players: 50,
            spawn_points: [(1000.0, 2000.0)],
            spawn_radius: 0.0,
        )"#,
        )],
    );
    let mut config = ZoneServerConfig::local(content.path().to_path_buf(), "test");
    config.watch_content = false;
    config.quic = false;
    // Twice the 50 ms period of a 20 Hz tick.
    config.extra_tick_work = Duration::from_millis(100);
    arcane_zone_server::start(config).await.unwrap()
}

/// What one client saw.
#[derive(Debug, Default)]
struct Seen {
    sent: u32,
    applied: u32,
    /// Lowest and last `time_rate` in the snapshots.
    lowest_rate: u8,
    last_rate: u8,
    /// Applied inputs and x position (cm) at the first dilated snapshot and at the end.
    dilated_from: Option<(u32, i32)>,
    end: (u32, i32),
    snapshots: u32,
}

/// Plays one client for `PLAY`, walking east. A paced client sends one input per
/// snapshot it gets (one per tick, whatever the rate); a naive one sends every 50 ms
/// of wall time as if the zone ran at full speed. Panics on a kick, a lost connection,
/// or a receipt that goes backwards.
async fn play(z: &RunningZone, player: u64, paced: bool) -> Seen {
    let t = ticket(player, "test", DEV_TICKET_SECRET, now() + 120);
    let mut client = Client::join(&format!("ws://{}", z.ws_addr), &t, ClientTier::Desktop)
        .await
        .unwrap();
    let me = timeout(
        Duration::from_secs(10),
        client.recv_until(|m| match m {
            ServerMessage::Welcome(w) => Some(w.player),
            _ => None,
        }),
    )
    .await
    .unwrap()
    .unwrap();
    let mut view = ClientView::new();
    let mut seen = Seen {
        lowest_rate: 100,
        ..Seen::default()
    };
    let end = Instant::now() + PLAY;
    let mut wall = tokio::time::interval(Duration::from_millis(50));
    let send = |client_seq: &mut u32, ack: u32| {
        *client_seq += 1;
        [
            ClientMessage::Input(MoveInput {
                seq: *client_seq,
                dir_x: 127,
                dir_y: 0,
            }),
            ClientMessage::Ack { snapshot_id: ack },
        ]
    };
    while Instant::now() < end {
        let incoming = tokio::select! {
            m = client.recv() => m,
            _ = wall.tick(), if !paced => {
                let msgs = send(&mut seen.sent, view.current_id());
                client.send(&msgs).await.unwrap();
                continue;
            }
        };
        match incoming {
            Incoming::Message(ServerMessage::Snapshot(s), _) => {
                if view.apply(&s).is_err() {
                    continue;
                }
                assert!(
                    s.last_input_seq >= seen.applied,
                    "player {player}: receipts went backwards ({} after {})",
                    s.last_input_seq,
                    seen.applied
                );
                seen.applied = s.last_input_seq;
                seen.snapshots += 1;
                seen.lowest_rate = seen.lowest_rate.min(s.time_rate);
                seen.last_rate = s.time_rate;
                let x = own_x(&view, me);
                if s.time_rate < 100 && seen.dilated_from.is_none() {
                    seen.dilated_from = Some((seen.applied, x));
                }
                seen.end = (seen.applied, x);
                if paced {
                    let msgs = send(&mut seen.sent, view.current_id());
                    client.send(&msgs).await.unwrap();
                }
            }
            Incoming::Message(ServerMessage::Kick { reason, detail }, _) => {
                panic!("player {player} was kicked: {reason:?} {detail}")
            }
            Incoming::Message(_, _) => {}
            other => panic!("player {player} lost its connection: {other:?}"),
        }
    }
    client.close().await;
    seen
}

fn own_x(view: &ClientView, me: NetId) -> i32 {
    view.entity(me).expect("own entity in view").state.x_cm
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_overloaded_twice_over_dilates_time_and_keeps_every_client() {
    let z = start_overloaded_zone().await;
    let (a, b, c, naive) = tokio::join!(
        play(&z, 1, true),
        play(&z, 2, true),
        play(&z, 3, true),
        play(&z, 4, false),
    );
    for (name, s) in [("a", &a), ("b", &b), ("c", &c), ("naive", &naive)] {
        // 2× over: the rate settles near 45 % (a tick of ~100 ms in 90 % of the
        // stretched period).
        assert!(
            (30..=60).contains(&s.last_rate),
            "{name}: rate {} at the end: {s:?}",
            s.last_rate
        );
        assert!(s.snapshots > 40, "{name}: {s:?}");
    }
    for (name, s) in [("a", &a), ("b", &b), ("c", &c)] {
        // Every input sent was applied but those still in flight.
        assert!(s.applied + 3 >= s.sent, "{name}: {s:?}");
        // Time slowed uniformly: each applied input is one whole step east, no more
        // (no catch-up bursts) and no less (none dropped).
        let (from_applied, from_x) = s.dilated_from.expect("a dilated snapshot");
        let (to_applied, to_x) = s.end;
        assert!(to_applied > from_applied + 20, "{name}: {s:?}");
        assert_eq!(
            to_x - from_x,
            STEP_CM * (to_applied - from_applied) as i32,
            "{name}: {s:?}"
        );
    }
    // The naive client sent about twice what the zone could take (the queue drops the
    // rest as floods, which while dilated do not count toward a kick), and stayed.
    assert!(naive.sent >= naive.snapshots * 3 / 2, "{naive:?}");
    // The zone says so on its metrics and its status.
    assert!(z.metrics.dilated_ticks.get() > 40);
    let rate = z.metrics.time_rate.get();
    assert!((0.3..=0.6).contains(&rate), "arcane_time_rate {rate}");
    assert!(
        z.status
            .dilated_since_ms
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    z.shutdown();
    z.wait().await;
}
