//! A player of a fault run: it logs in through the orchestrator and walks back and forth
//! across the west–east border, following every `Redirect`, and logs in again whenever
//! its connection is lost (a killed zone, a drain, a kick). It does nothing of its own
//! accord besides walking, so whatever it owns at the end is what the servers kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arcane_loadtest::client::{Client, Incoming};
use arcane_protocol::view::ClientView;
use arcane_protocol::{ClientMessage, ClientTier, MoveInput, ServerMessage};

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
        next = walk(&mut client, dir_x, &crew).await;
        crew.connected.fetch_sub(1, Ordering::Relaxed);
        if next.is_none() && !crew.away() {
            crew.relogins.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Walks until redirected (the next zone's endpoint and ticket), dropped, or called
/// away (then `None`: log in again).
async fn walk(client: &mut Client, dir_x: i8, crew: &Crew) -> Option<(String, String)> {
    let mut seq = 0u32;
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
                let msgs = [
                    ClientMessage::Input(MoveInput { seq, dir_x, dir_y: 0 }),
                    ClientMessage::Ack { snapshot_id: view.current_id() },
                ];
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
                Incoming::Message(..) => {}
                Incoming::Malformed(_) | Incoming::Closed(_) => return None,
            }
        }
    }
}
