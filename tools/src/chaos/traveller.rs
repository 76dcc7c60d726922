//! A player of a fault run: it logs in through the orchestrator and walks back and forth
//! across the west–east border, following every `Redirect`, and logs in again whenever
//! its connection is lost (a killed zone, a drain, a kick). Besides walking it tries to
//! capture the wild creatures it passes, and notes every capture the zone acknowledged:
//! the audit checks each is still held at the end, whatever was killed meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arcane_loadtest::client::{Client, Incoming};
use arcane_protocol::view::ClientView;
use arcane_protocol::{
    CaptureOutcome, ClientMessage, ClientTier, EntityKind, EventKind, MoveInput, NetId,
    ServerMessage,
};

use super::world::World;

/// What every traveller shares with the run.
#[derive(Default)]
pub struct Crew {
    /// Everyone disconnects and waits (an empty-zone drain) while this is set.
    pub hold: AtomicBool,
    /// Everyone disconnects for good.
    pub stop: AtomicBool,
    /// Travellers connected to a zone now.
    pub connected: AtomicU64,
    pub redirects: AtomicU64,
    pub relogins: AtomicU64,
    /// Captures a zone acknowledged: (player name, creature id).
    pub captured: std::sync::Mutex<Vec<(String, u64)>>,
}

impl Crew {
    fn away(&self) -> bool {
        self.hold.load(Ordering::Relaxed) || self.stop.load(Ordering::Relaxed)
    }
}

/// Travels until the crew stops.
pub async fn travel(world: Arc<World>, name: String, crew: Arc<Crew>) {
    let mut next: Option<(String, String)> = None;
    while !crew.stop.load(Ordering::Relaxed) {
        if crew.hold.load(Ordering::Relaxed) {
            next = None;
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let (endpoint, ticket) = match next.take() {
            Some(n) => n,
            None => match world.login(&name).await {
                Ok(l) => (l.endpoint, l.ticket),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
        };
        let Ok(mut client) = Client::join(&endpoint, &ticket, ClientTier::Desktop).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            crew.relogins.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let welcome = tokio::time::timeout(
            Duration::from_secs(10),
            client.recv_until(|m| match m {
                ServerMessage::Welcome(w) => Some(w),
                _ => None,
            }),
        )
        .await;
        let Ok(Ok(welcome)) = welcome else {
            crew.relogins.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        // West of the border walk east, east of it walk west.
        let dir_x: i8 = if welcome.zone_id.starts_with("west") {
            127
        } else {
            -127
        };
        crew.connected.fetch_add(1, Ordering::Relaxed);
        next = walk(&mut client, (&name, welcome.player), dir_x, &crew).await;
        crew.connected.fetch_sub(1, Ordering::Relaxed);
        if next.is_none() && !crew.away() {
            crew.relogins.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The nearest wild creature within capture range (12 m) of `me`.
fn creature_in_reach(view: &ClientView, me: NetId) -> Option<NetId> {
    let own = view.entity(me)?.state;
    view.entities()
        .iter()
        .filter(|e| e.state.kind == EntityKind::Creature)
        .map(|e| {
            let (dx, dy) = (
                i64::from(e.state.x_cm - own.x_cm),
                i64::from(e.state.y_cm - own.y_cm),
            );
            (dx * dx + dy * dy, e.net_id)
        })
        .filter(|(d2, _)| *d2 < 1_100 * 1_100)
        .min()
        .map(|(_, id)| id)
}

/// Walks until redirected (the next zone's endpoint and ticket), dropped, or called
/// away (then `None`: log in again), capturing what comes within reach.
async fn walk(
    client: &mut Client,
    (name, me): (&str, NetId),
    dir_x: i8,
    crew: &Crew,
) -> Option<(String, String)> {
    let mut seq = 0u32;
    let mut intent = 0u32;
    // It stops to capture what is within reach, up to this many tries per visit,
    // so captures often sit between two checkpoints when a zone is killed.
    let mut tries_left = 8u32;
    let mut view = ClientView::new();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    // After a stall, skip the missed sends rather than burst them (PROTOCOL.md).
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if crew.away() {
                    return None;
                }
                seq += 1;
                let prey = (tries_left > 0).then(|| creature_in_reach(&view, me)).flatten();
                let step = if prey.is_some() { 0 } else { dir_x };
                let mut msgs = vec![
                    ClientMessage::Input(MoveInput { seq, dir_x: step, dir_y: 0 }),
                    ClientMessage::Ack { snapshot_id: view.current_id() },
                ];
                // A try every half second (the capture cooldown).
                if seq.is_multiple_of(10)
                    && let Some(target) = prey
                {
                    intent += 1;
                    tries_left -= 1;
                    msgs.push(ClientMessage::Capture { seq: intent, target });
                }
                if client.send(&msgs).await.is_err() {
                    return None;
                }
            }
            m = client.recv() => match m {
                Incoming::Message(ServerMessage::Redirect(r), _) => {
                    crew.redirects.fetch_add(1, Ordering::Relaxed);
                    return (!r.endpoint.is_empty()).then_some((r.endpoint, r.ticket));
                }
                Incoming::Message(ServerMessage::Snapshot(s), _) => {
                    let _ = view.apply(&s);
                }
                Incoming::Message(ServerMessage::Events(events), _) => {
                    for e in events {
                        if let EventKind::CaptureResult {
                            outcome: CaptureOutcome::Captured { creature },
                            ..
                        } = e.kind
                        {
                            crew.captured
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push((name.to_string(), creature));
                        }
                    }
                }
                Incoming::Message(..) => {}
                Incoming::Malformed(_) | Incoming::Closed(_) => return None,
            }
        }
    }
}
