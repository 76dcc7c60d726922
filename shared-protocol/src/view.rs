//! Client-side snapshot decoding: keeps the recent decoded views and applies each delta
//! snapshot to the baseline it names. Shared by bots, tests and any Rust client.

use std::collections::VecDeque;

use crate::snapshot::{NetId, OwnState, Snapshot, ViewEntity};

/// How many decoded views a client keeps as possible baselines. Twice the server's
/// ring, so any baseline the server may pick is still here even after losses.
pub const VIEW_HISTORY: usize = 2 * crate::snapshot::SENT_RING;

/// Why a snapshot could not be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApplyError {
    #[error("snapshot {id} is not newer than the current view {current}; ignore it")]
    Stale { id: u32, current: u32 },
    #[error("snapshot {id} needs baseline {baseline}, which this client no longer has")]
    BaselineMissing { id: u32, baseline: u32 },
    #[error("snapshot {id} is inconsistent with its baseline: {what}")]
    Inconsistent { id: u32, what: &'static str },
}

struct DecodedView {
    id: u32,
    tick: u32,
    entities: Vec<ViewEntity>,
    own: Option<OwnState>,
}

/// A client's decoded picture of the world.
pub struct ClientView {
    history: VecDeque<DecodedView>,
    /// Zone tick of the newest applied snapshot.
    pub tick: u32,
    /// Newest input sequence the server says it applied.
    pub last_input_seq: u32,
    /// The zone's time rate as of the newest snapshot, as a fraction of real time in
    /// (0, 1] (see [`Snapshot::time_rate`]); 1 before the first.
    pub time_rate: f32,
    /// The entity list of the last view to leave the history, reused by the next
    /// snapshot: a client applies 20 a second, each without an allocation.
    spare: Vec<ViewEntity>,
}

impl Default for ClientView {
    fn default() -> Self {
        ClientView {
            history: VecDeque::new(),
            tick: 0,
            last_input_seq: 0,
            time_rate: 1.0,
            spare: Vec::new(),
        }
    }
}

impl ClientView {
    pub fn new() -> Self {
        Self::default()
    }

    /// Id of the newest applied snapshot (what to ack), 0 before the first.
    pub fn current_id(&self) -> u32 {
        self.history.back().map_or(0, |v| v.id)
    }

    /// The entities currently in view, sorted by local id.
    pub fn entities(&self) -> &[ViewEntity] {
        self.history.back().map_or(&[], |v| v.entities.as_slice())
    }

    /// The player's own state as of the newest snapshot.
    pub fn own(&self) -> Option<&OwnState> {
        self.history.back().and_then(|v| v.own.as_ref())
    }

    /// Looks an entity up by its zone-wide id.
    pub fn entity(&self, net_id: NetId) -> Option<&ViewEntity> {
        self.entities().iter().find(|e| e.net_id == net_id)
    }

    /// Applies a snapshot. On success the client should ack `snapshot.id`.
    /// On error nothing changes: a stale one is simply ignored, the others are counted
    /// as decode errors (the server recovers by sending a full snapshot once acks stop
    /// naming a usable baseline).
    pub fn apply(&mut self, snapshot: &Snapshot) -> Result<(), ApplyError> {
        let current = self.current_id();
        if current != 0 && snapshot.id <= current {
            return Err(ApplyError::Stale {
                id: snapshot.id,
                current,
            });
        }
        let mut entities = std::mem::take(&mut self.spare);
        entities.clear();
        let base_own = if snapshot.baseline == 0 {
            None
        } else {
            match self
                .history
                .iter()
                .rev()
                .find(|v| v.id == snapshot.baseline)
            {
                Some(v) => {
                    // Every entity moves on by its velocity; updates then correct.
                    let dt = snapshot.tick.wrapping_sub(v.tick);
                    entities.extend(v.entities.iter().map(|e| {
                        let (x_cm, y_cm) = e.extrapolated(dt);
                        ViewEntity {
                            state: crate::snapshot::EntityState {
                                x_cm,
                                y_cm,
                                ..e.state
                            },
                            ..*e
                        }
                    }));
                    v.own.clone()
                }
                None => {
                    return Err(ApplyError::BaselineMissing {
                        id: snapshot.id,
                        baseline: snapshot.baseline,
                    });
                }
            }
        };
        let bad = |what| ApplyError::Inconsistent {
            id: snapshot.id,
            what,
        };
        for local in &snapshot.leaves {
            let at = entities
                .binary_search_by_key(local, |e| e.local)
                .map_err(|_| bad("leave of an entity not in view"))?;
            entities.remove(at);
        }
        for enter in &snapshot.enters {
            match entities.binary_search_by_key(&enter.local, |e| e.local) {
                Ok(_) => return Err(bad("enter into an occupied local id")),
                Err(at) => {
                    entities.insert(at, ViewEntity::new(enter.local, enter.net_id, enter.state))
                }
            }
        }
        for update in &snapshot.updates {
            let at = entities
                .binary_search_by_key(&update.local, |e| e.local)
                .map_err(|_| bad("update of an entity not in view"))?;
            let state = &mut entities[at].state;
            if let Some((dx, dy)) = update.pos_delta {
                state.x_cm = state.x_cm.wrapping_add(dx);
                state.y_cm = state.y_cm.wrapping_add(dy);
            }
            if let Some(hp) = update.hp_pct {
                state.hp_pct = hp;
            }
            if let Some(f) = update.flags {
                state.flags = f;
            }
            if let Some(v) = update.vel {
                entities[at].vel = v;
            }
        }
        if self.history.len() == VIEW_HISTORY
            && let Some(oldest) = self.history.pop_front()
        {
            self.spare = oldest.entities;
        }
        self.history.push_back(DecodedView {
            id: snapshot.id,
            tick: snapshot.tick,
            entities,
            own: snapshot.own.clone().or(base_own),
        });
        self.tick = snapshot.tick;
        self.last_input_seq = snapshot.last_input_seq;
        self.time_rate = time_rate(snapshot.time_rate);
        Ok(())
    }
}

/// A snapshot's `time_rate` byte as a fraction of real time: percent, where 0 (which
/// no zone sends) and anything over 100 read as the nearest valid rate.
pub fn time_rate(percent: u8) -> f32 {
    f32::from(percent.clamp(1, 100)) / 100.0
}
