//! A zone journaled under scripted clients for more than a thousand ticks, with every
//! gameplay system at work (walking, the three skills, enemies, wild creatures and
//! their breeding, captures, player breeding and hatching, admin commands, a
//! content reload, leaving and coming back), then replayed from its journal: every
//! digest must match. A journal with one input changed must be caught at the tick
//! and on the entity it changed. A tick whose record is late sends no event before
//! the record is written.

use std::path::{Path, PathBuf};

use arcane_engine::content::ContentSources;
use arcane_journal::{ContentFiles, Journal, JournalConfig, Record, ReplayOptions, Start};
use arcane_protocol::messages::EventKind;
use arcane_protocol::ticket::Role;
use arcane_protocol::{
    AdminCommand, CaptureOutcome, CastIntent, CastTarget, ClientMessage, CreatureId, EntityKind,
    MoveInput, NetId, ServerMessage,
};

use super::pair::{Pair, Peer};
use crate::net::inbound::Inbound;

const TICKS: u32 = 1_200;
const PLAYERS: u64 = 8;

/// One scripted client and what it learned from the zone.
struct Bot {
    id: u64,
    peer: Peer,
    me: NetId,
    seq: u32,
    intent_seq: u32,
    caught: Vec<CreatureId>,
    read: usize,
}

impl Bot {
    fn learn(&mut self) {
        for m in &self.peer.received[self.read..] {
            match m {
                ServerMessage::Welcome(w) => self.me = w.player,
                ServerMessage::Events(events) => {
                    for e in events {
                        if let EventKind::CaptureResult {
                            outcome: CaptureOutcome::Captured { creature },
                            ..
                        } = &e.kind
                        {
                            self.caught.push(*creature);
                        }
                    }
                }
                _ => {}
            }
        }
        self.read = self.peer.received.len();
    }

    /// The nearest entity of `kind` in view.
    fn nearest(&self, kind: EntityKind) -> Option<NetId> {
        let own = self.peer.view.entity(self.me)?.state;
        self.peer
            .view
            .entities()
            .iter()
            .filter(|e| e.state.kind == kind && e.state.hp_pct > 0)
            .min_by_key(|e| {
                let (dx, dy) = (
                    i64::from(e.state.x_cm - own.x_cm),
                    i64::from(e.state.y_cm - own.y_cm),
                );
                dx * dx + dy * dy
            })
            .map(|e| e.net_id)
    }

    /// This tick's messages: a step of a walk that differs per bot, and now and then
    /// a cast, a capture, a breed or a roster request.
    fn act(&mut self, tick: u32) -> Vec<ClientMessage> {
        self.seq += 1;
        let turn = (tick / 20 + self.id as u32) % 4;
        let (dir_x, dir_y) = [(127, 30), (-20, 127), (-127, -40), (10, -127)][turn as usize];
        let mut out = vec![ClientMessage::Input(MoveInput {
            seq: self.seq,
            dir_x,
            dir_y,
        })];
        let phase = (tick + self.id as u32 * 3) % 30;
        if phase == 0 {
            self.intent_seq += 1;
            let slot = ((tick / 30 + self.id as u32) % 3) as u8;
            let target = match slot {
                0 => self
                    .nearest(EntityKind::Creature)
                    .or_else(|| self.nearest(EntityKind::Enemy))
                    .map_or(CastTarget::Caster, CastTarget::Entity),
                _ => CastTarget::Caster,
            };
            out.push(ClientMessage::Cast(CastIntent {
                seq: self.intent_seq,
                slot,
                target,
            }));
        }
        if phase == 10
            && let Some(target) = self.nearest(EntityKind::Creature)
        {
            self.intent_seq += 1;
            out.push(ClientMessage::Capture {
                seq: self.intent_seq,
                target,
            });
        }
        if phase == 20 && self.caught.len() >= 2 {
            self.intent_seq += 1;
            out.push(ClientMessage::Breed {
                seq: self.intent_seq,
                first: self.caught[0],
                second: self.caught[1],
            });
            out.push(ClientMessage::RosterRequest);
        }
        out
    }
}

/// The admin's help: every 40 ticks, the creatures near it drop to 1 HP (so
/// captures can succeed), and now and then an enemy or a creature appears.
fn admin_commands(admin: &mut Bot, tick: u32) -> Vec<ClientMessage> {
    let mut out = admin.act(tick);
    let own = admin.peer.view.entity(admin.me).map(|e| e.state);
    let Some(own) = own else { return out };
    if tick % 40 == 5 {
        for e in admin.peer.view.entities() {
            if e.state.kind == EntityKind::Creature {
                admin.intent_seq += 1;
                out.push(ClientMessage::Admin {
                    seq: admin.intent_seq,
                    command: AdminCommand::SetHp {
                        target: e.net_id,
                        hp: 1,
                    },
                });
            }
        }
    }
    if tick % 200 == 50 {
        admin.intent_seq += 1;
        out.push(ClientMessage::Admin {
            seq: admin.intent_seq,
            command: AdminCommand::SpawnEnemy {
                enemy: "wolf".into(),
                x_cm: own.x_cm + 800,
                y_cm: own.y_cm,
            },
        });
        admin.intent_seq += 1;
        out.push(ClientMessage::Admin {
            seq: admin.intent_seq,
            command: AdminCommand::SpawnCreature {
                species: "mossling".into(),
                x_cm: own.x_cm + 300,
                y_cm: own.y_cm + 300,
                genes: vec![("temperament".into(), "docile".into())],
            },
        });
    }
    out
}

fn start_record(sources: &ContentSources) -> Start {
    Start {
        format: arcane_journal::FORMAT_VERSION,
        zone_id: "meadow".into(),
        template: "meadow".into(),
        seed: 7,
        content: ContentFiles {
            version: sources.version().0,
            files: sources.files().clone(),
        },
        creature_ids: None,
        lease_generation: None,
        first_tick: 0,
        started_unix_ms: 0,
        writer: "test".into(),
        hash_every: 0,
        rows_every: 0,
    }
}

/// Runs the scripted zone into a journal under `dir`; returns the run folder and
/// the live zone's final state hash.
async fn record(dir: &Path) -> (PathBuf, u64, arcane_engine::ZoneCounters) {
    let sources = ContentSources::shipped();
    let mut config = JournalConfig::new(dir);
    // Rows every digest, so a divergence names its entity; small segments, so the
    // replay crosses segment boundaries.
    config.rows_every = 1;
    config.segment_bytes = 256 * 1024;
    let journal = Journal::start(&config, start_record(&sources)).unwrap();
    let run = journal.run_dir().to_path_buf();
    let mut pair = Pair::journaled(sources.zone("meadow").unwrap(), Some(journal), 1);
    let mut bots = Vec::new();
    for id in 1..=PLAYERS {
        let role = if id == 1 { Role::Admin } else { Role::Player };
        bots.push(Bot {
            id,
            peer: pair.join_as(id, role).await,
            me: NetId(0),
            seq: 0,
            intent_seq: 0,
            caught: Vec::new(),
            read: 0,
        });
    }
    for tick in 0..TICKS {
        for (i, b) in bots.iter_mut().enumerate() {
            b.learn();
            let msgs = if i == 0 {
                admin_commands(b, tick)
            } else {
                b.act(tick)
            };
            pair.send(&mut b.peer, &msgs);
        }
        if tick == 600 {
            // A designer's edit arrives (a new content version).
            let mut edited = sources.clone();
            let skills = edited.get("skills.ron").unwrap().to_string();
            edited.set("skills.ron", skills + "\n// edited\n");
            let content = edited.zone("meadow").unwrap();
            let files = ContentFiles {
                version: content.version.0,
                files: edited.files().clone(),
            };
            pair.ctx
                .inbox
                .try_send(Inbound::Reload(Box::new(content), files))
                .unwrap();
        }
        if tick == 700 {
            // One player leaves and comes back as a new connection.
            let b = &mut bots[PLAYERS as usize - 1];
            pair.leave(&b.peer).await;
        }
        if tick == 720 {
            let b = &mut bots[PLAYERS as usize - 1];
            b.peer = pair.join(b.id).await;
            b.read = 0;
            b.seq = 0;
            b.intent_seq = 0;
        }
        pair.tick();
        for b in &mut bots {
            pair.deliver(&mut b.peer, |_| false, 1);
        }
    }
    let hash = pair.state_hash();
    let counters = pair.counters();
    pair.finish();
    (run, hash, counters)
}

#[tokio::test]
async fn a_journaled_zone_under_scripted_clients_replays_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (run, live_hash, counters) = record(dir.path()).await;
    // Every system had work to do.
    assert!(counters.casts > 50, "casts: {}", counters.casts);
    assert!(counters.hits > 10, "hits: {}", counters.hits);
    assert!(counters.captures > 0, "no capture");
    assert!(counters.creature_births > 0, "no wild births");
    assert!(counters.admin_commands > 0, "no admin command");
    assert_eq!(counters.content_reloads, 1);
    assert!(
        arcane_journal::segment::segments(&run).unwrap().len() > 1,
        "the journal rotated"
    );

    let report = arcane_journal::replay(
        &run,
        &ReplayOptions {
            verify: true,
            dump: Some(500),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(report.divergence, None);
    // The run's ticks, then the last one where everyone left.
    assert_eq!(report.ticks_replayed, u64::from(TICKS) + 1);
    assert!(report.digests_checked > u64::from(TICKS));
    assert_eq!(report.reloads, 1);
    assert_eq!(report.ended.as_deref(), Some("the zone stopped"));
    assert_eq!(report.tail, arcane_journal::Tail::Clean);
    // The live zone's last hash is the one the replay checked at that tick.
    let mut reader = arcane_journal::JournalReader::open(&run).unwrap();
    let recorded = std::iter::from_fn(|| reader.next())
        .filter_map(|r| match r.unwrap() {
            Record::Hash(d) if d.tick == u64::from(TICKS) => Some(d.total),
            _ => None,
        })
        .next();
    assert_eq!(recorded, Some(live_hash));

    // One input changed at tick 500: caught after that tick, on that player.
    let edited = dir.path().join("edited");
    let player = rewrite(&run, &edited, 500);
    let report_dump = report.dump;
    let changed = net_id_of(report_dump.as_deref().unwrap(), player);
    let report = arcane_journal::replay(
        &edited,
        &ReplayOptions {
            verify: true,
            ..Default::default()
        },
    )
    .unwrap();
    let d = report.divergence.expect("the change is found");
    assert_eq!(d.tick, 501, "{d:?}");
    assert_eq!(d.rows_tick, Some(501));
    // The player moved the other way: of the players, only its position differs
    // (creatures near it may already have reacted within the tick).
    let dump = report_dump.as_deref().unwrap();
    let players: Vec<u64> = (1..=PLAYERS).map(|p| net_id_of(dump, p)).collect();
    let (part, ids) = &d.parts[0];
    assert_eq!((d.parts.len(), part.as_str()), (1, "entities"), "{d:?}");
    let moved: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|i| players.contains(i))
        .collect();
    assert_eq!(moved, vec![changed]);
}

/// Copies the run at `from` to `to` with the first input of tick `tick` turned
/// around; returns the player whose input it was.
fn rewrite(from: &Path, to: &Path, tick: u64) -> u64 {
    std::fs::create_dir_all(to).unwrap();
    let mut reader = arcane_journal::JournalReader::open(from).unwrap();
    let mut out = arcane_journal::segment::MAGIC.to_vec();
    let mut player = None;
    while let Some(r) = reader.next() {
        let mut r = r.unwrap();
        if let Record::Tick {
            tick: t, commands, ..
        } = &mut r
            && *t == tick
        {
            let first = commands.iter_mut().find_map(|c| match c {
                arcane_engine::ZoneCommand::Input { input, player, .. } => Some((input, player)),
                _ => None,
            });
            let (input, p) = first.expect("an input at that tick");
            input.dir_x = -input.dir_x;
            input.dir_y = -input.dir_y;
            player = Some(p.0);
        }
        arcane_journal::segment::encode(&mut out, &r).unwrap();
    }
    std::fs::write(to.join(arcane_journal::segment::segment_name(1)), out).unwrap();
    player.expect("an input at that tick")
}

/// The net id the zone gave `player`, from a dump's entity rows.
fn net_id_of(dump: &[(String, Vec<(u64, String)>)], player: u64) -> u64 {
    let (_, rows) = dump.iter().find(|(p, _)| p == "entities").unwrap();
    rows.iter()
        .find(|(_, row)| row.contains(&format!("player:Some({player})")))
        .map(|(id, _)| *id)
        .unwrap_or_else(|| panic!("player {player} in {rows:?}"))
}

#[tokio::test]
async fn a_tick_whose_journal_record_is_late_keeps_its_events_until_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let sources = ContentSources::shipped();
    let journal = Journal::start(&JournalConfig::new(dir.path()), start_record(&sources)).unwrap();
    let stats = journal.stats();
    let mut pair = Pair::journaled(sources.zone("meadow").unwrap(), Some(journal), 0);
    let mut peer = pair.join(1).await;
    pair.tick();
    pair.deliver(&mut peer, |_| false, 0);
    let rosters = |p: &Peer| {
        p.received
            .iter()
            .filter(|m| match m {
                ServerMessage::Events(events) => events
                    .iter()
                    .any(|e| matches!(e.kind, EventKind::Roster { .. })),
                _ => false,
            })
            .count()
    };
    let snapshots = |p: &Peer| {
        p.received
            .iter()
            .filter(|m| matches!(m, ServerMessage::Snapshot(_)))
            .count()
    };
    // The disk stalls: the tick's record is not written within the wait.
    let stalled = stats.hold_writes();
    pair.send(&mut peer, &[ClientMessage::RosterRequest]);
    pair.tick();
    pair.deliver(&mut peer, |_| false, 0);
    assert_eq!(rosters(&peer), 0, "the answer waits for its record");
    let seen = snapshots(&peer);
    assert!(seen >= 1, "snapshots still go");
    // The disk is back: the next tick's record is written, the answer goes with it.
    drop(stalled);
    pair.tick();
    pair.deliver(&mut peer, |_| false, 0);
    assert_eq!(rosters(&peer), 1);
    pair.finish();
}
