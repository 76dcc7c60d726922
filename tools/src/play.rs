//! `arcane play`: a line-by-line client for trying creatures by hand in a zone (the
//! test area by default) until the web client exists. It joins as a player (an admin
//! with `--admin`), keeps the connection alive (an idle input and an ack each tick),
//! reads commands from standard input and prints what the zone answers.
//!
//! Commands: `near` (creatures in view), `roster`, `capture ID`, `breed ID ID`,
//! `cast SLOT ID`, `wait MS`, `quit`; as an admin also `spawn SPECIES X Y
//! [gene=value…]`, `goto ID` (teleport next to it) or `goto X Y`, `hp ID HP` and
//! `cells X Y R`. `ID` is a net id, `nearest` (the nearest creature in view), or `#N`
//! (the N-th roster entry). Chat and social commands are in `play_social.rs`; with
//! `--orchestrator` and `--name` it logs in as a named player, which they need.

use std::time::Duration;

use anyhow::{Context as _, bail};
use arcane_loadtest::client::{Client, Incoming};
use arcane_protocol::quant::cm_to_metres;
use arcane_protocol::ticket::{Role, TicketClaims, TicketKey};
use arcane_protocol::view::ClientView;
use arcane_protocol::{
    AdminCommand, CastIntent, CastTarget, ClientMessage, ClientTier, CreatureCatalog, CreatureView,
    EntityKind, EventKind, MoveInput, NetId, ServerMessage,
};

/// Where and as whom `arcane play` connects.
#[derive(clap::Args, Debug, Clone)]
pub struct PlayArgs {
    /// Zone WebSocket endpoint.
    #[arg(long, default_value = "ws://127.0.0.1:7777")]
    pub target: String,
    /// Zone id (the ticket names it).
    #[arg(long, default_value = "test_area")]
    pub zone: String,
    #[arg(long, default_value_t = 1)]
    pub player: u64,
    /// Join with the admin role (spawn, goto, hp, cells).
    #[arg(long)]
    pub admin: bool,
    #[arg(long, env = "ARCANE_TICKET_SECRET", default_value = arcane_zone_server::config::DEV_TICKET_SECRET, hide_env_values = true)]
    pub secret: String,
    /// Log in through this orchestrator (`http://host:port`) as `--name` instead of
    /// minting a ticket for `--target` (chat across zones, friends and parties).
    #[arg(long, requires = "name")]
    pub orchestrator: Option<String>,
    /// The player name to log in as (with `--orchestrator`).
    #[arg(long)]
    pub name: Option<String>,
}

/// The session: what the zone told us, and the sequence numbers of our streams.
struct Play {
    view: ClientView,
    me: NetId,
    catalog: CreatureCatalog,
    roster: Vec<CreatureView>,
    seq: u32,
    creature_seq: u32,
    cast_seq: u32,
    admin_seq: u32,
}

impl Play {
    fn nearest_creature(&self) -> Option<NetId> {
        let me = self.view.entity(self.me)?;
        self.view
            .entities()
            .iter()
            .filter(|e| e.state.kind == EntityKind::Creature && e.state.hp_pct > 0)
            .min_by_key(|e| {
                let (dx, dy) = (e.state.x_cm - me.state.x_cm, e.state.y_cm - me.state.y_cm);
                i64::from(dx).pow(2) + i64::from(dy).pow(2)
            })
            .map(|e| e.net_id)
    }

    /// A net id: a number, or `nearest`.
    fn entity(&self, word: Option<&str>) -> anyhow::Result<NetId> {
        match word {
            Some("nearest") => self.nearest_creature().context("no creature in view"),
            Some(n) => Ok(NetId(n.parse().context("expected a net id")?)),
            None => bail!("which one?"),
        }
    }

    /// A creature id: a number, or `#N` for the N-th roster entry.
    fn creature(&self, word: Option<&str>) -> anyhow::Result<u64> {
        match word {
            Some(w) if w.starts_with('#') => {
                let i: usize = w[1..].parse().context("expected #N")?;
                Ok(self.roster.get(i).context("no such roster entry")?.id)
            }
            Some(n) => n.parse().context("expected a creature id"),
            None => bail!("which creature?"),
        }
    }

    fn describe(&self, v: &CreatureView) -> String {
        let state = match v.hatch_tick {
            Some(t) => format!("egg, hatches at tick {t}"),
            None => format!("ready at tick {}", v.breed_ready_tick),
        };
        let traits: Vec<String> = v
            .traits
            .iter()
            .map(|t| format!("{}={}", t.gene, t.value))
            .collect();
        format!(
            "{} {} gen {} parents {:?} ({state}) {}",
            v.id,
            v.species,
            v.generation,
            v.parents,
            traits.join(" ")
        )
    }

    /// The messages one command line sends (none for local commands).
    fn command(&mut self, line: &str, admin: bool) -> anyhow::Result<Vec<ClientMessage>> {
        if let Some(msgs) = crate::play_social::command(line) {
            return msgs;
        }
        let mut words = line.split_whitespace();
        let Some(verb) = words.next() else {
            return Ok(Vec::new());
        };
        let cm = |w: Option<&str>| -> anyhow::Result<i32> {
            let m: f32 = w.context("expected metres")?.parse()?;
            Ok((m * 100.0).round() as i32)
        };
        let admin_only = |c: AdminCommand, seq: &mut u32| -> anyhow::Result<Vec<ClientMessage>> {
            if !admin {
                bail!("{verb} needs --admin");
            }
            *seq += 1;
            Ok(vec![ClientMessage::Admin {
                seq: *seq,
                command: c,
            }])
        };
        Ok(match verb {
            "near" => {
                self.print_near();
                Vec::new()
            }
            "roster" => vec![ClientMessage::RosterRequest],
            "capture" => {
                let target = self.entity(words.next())?;
                self.creature_seq += 1;
                vec![ClientMessage::Capture {
                    seq: self.creature_seq,
                    target,
                }]
            }
            "breed" => {
                let (first, second) = (self.creature(words.next())?, self.creature(words.next())?);
                self.creature_seq += 1;
                vec![ClientMessage::Breed {
                    seq: self.creature_seq,
                    first,
                    second,
                }]
            }
            "cast" => {
                let slot: u8 = words.next().context("which slot?")?.parse()?;
                let target = CastTarget::Entity(self.entity(words.next())?);
                self.cast_seq += 1;
                vec![ClientMessage::Cast(CastIntent {
                    seq: self.cast_seq,
                    slot,
                    target,
                })]
            }
            "spawn" => {
                let species = words.next().context("which species?")?.to_string();
                let (x_cm, y_cm) = (cm(words.next())?, cm(words.next())?);
                let genes = words
                    .map(|g| {
                        g.split_once('=')
                            .map(|(a, b)| (a.to_string(), b.to_string()))
                    })
                    .collect::<Option<Vec<_>>>()
                    .context("genes are gene=value")?;
                admin_only(
                    AdminCommand::SpawnCreature {
                        species,
                        x_cm,
                        y_cm,
                        genes,
                    },
                    &mut self.admin_seq,
                )?
            }
            "goto" => {
                let first = words.next();
                let (x_cm, y_cm) = match words.next() {
                    // A point…
                    Some(y) => (cm(first)?, cm(Some(y))?),
                    // …or next to an entity in view.
                    None => {
                        let target = self.entity(first)?;
                        let e = self.view.entity(target).context("not in view")?;
                        (e.state.x_cm - 150, e.state.y_cm)
                    }
                };
                admin_only(
                    AdminCommand::Teleport {
                        target: NetId(0),
                        x_cm,
                        y_cm,
                    },
                    &mut self.admin_seq,
                )?
            }
            "hp" => {
                let target = self.entity(words.next())?;
                let hp: u32 = words.next().context("how much?")?.parse()?;
                admin_only(AdminCommand::SetHp { target, hp }, &mut self.admin_seq)?
            }
            "cells" => {
                let (x_cm, y_cm) = (cm(words.next())?, cm(words.next())?);
                let radius_m: u32 = words.next().unwrap_or("30").parse()?;
                admin_only(
                    AdminCommand::ShowCells {
                        x_cm,
                        y_cm,
                        radius_m,
                    },
                    &mut self.admin_seq,
                )?
            }
            other => bail!("unknown command {other:?}"),
        })
    }

    fn print_near(&self) {
        let Some(me) = self.view.entity(self.me) else {
            return;
        };
        for e in self
            .view
            .entities()
            .iter()
            .filter(|e| e.state.kind == EntityKind::Creature)
        {
            let v = arcane_protocol::creatures::variant::species(e.state.variant);
            let species = self
                .catalog
                .species
                .get(usize::from(v))
                .map_or("?", String::as_str);
            let shown = arcane_protocol::creatures::variant::visible(e.state.variant);
            let traits: Vec<String> = self
                .catalog
                .visible
                .iter()
                .zip(shown)
                .map(|((gene, names), a)| {
                    format!(
                        "{gene}={}",
                        names.get(usize::from(a)).map_or("?", String::as_str)
                    )
                })
                .collect();
            let d = cm_to_metres(e.state.x_cm - me.state.x_cm)
                .hypot(cm_to_metres(e.state.y_cm - me.state.y_cm));
            println!(
                "creature {} {species} hp {}% {:.1} m away {}",
                e.net_id.0,
                e.state.hp_pct,
                d,
                traits.join(" ")
            );
        }
    }

    /// Prints what a message says to us.
    fn on_message(&mut self, m: ServerMessage) -> anyhow::Result<()> {
        match m {
            ServerMessage::Snapshot(s) => {
                let _ = self.view.apply(&s);
            }
            ServerMessage::Events(events) => {
                for e in events {
                    self.on_event(e.kind);
                }
            }
            ServerMessage::Kick { reason, detail } => bail!("kicked ({reason:?}): {detail}"),
            _ => {}
        }
        Ok(())
    }

    fn on_event(&mut self, kind: EventKind) {
        if crate::play_social::print(&kind) {
            return;
        }
        match kind {
            EventKind::CaptureResult {
                target, outcome, ..
            } => {
                println!("capture of {}: {outcome:?}", target.0);
            }
            EventKind::BreedResult { outcome, .. } => println!("breed: {outcome:?}"),
            EventKind::Roster {
                capacity,
                creatures,
            } => {
                println!("roster: {} creatures of {capacity}", creatures.len());
                for (i, c) in creatures.iter().enumerate() {
                    println!("  #{i} {}", self.describe(c));
                }
                self.roster = creatures;
            }
            EventKind::RosterEntry { creature } => {
                let hatched = creature.hatch_tick.is_none()
                    && self
                        .roster
                        .iter()
                        .any(|c| c.id == creature.id && c.hatch_tick.is_some());
                println!(
                    "{} {}",
                    if hatched { "hatched:" } else { "roster entry:" },
                    self.describe(&creature)
                );
                match self.roster.iter_mut().find(|c| c.id == creature.id) {
                    Some(c) => *c = *creature,
                    None => self.roster.push(*creature),
                }
            }
            EventKind::AdminResult { ok, detail, .. } => {
                println!("{}: {detail}", if ok { "ok" } else { "refused" });
            }
            EventKind::Damage {
                source,
                target,
                amount,
                ..
            } if source == self.me || target == self.me => {
                println!("damage {} → {}: {amount}", source.0, target.0);
            }
            EventKind::Died { entity, .. } => println!("died: {}", entity.0),
            EventKind::CastRejected { reason, .. } => println!("cast refused: {reason:?}"),
            EventKind::Notice { text } => println!("notice: {text}"),
            _ => {}
        }
    }
}

/// Runs `arcane play` until `quit`, the end of the input, or the zone closes.
pub async fn run(a: PlayArgs) -> anyhow::Result<()> {
    let (target, ticket) = match (&a.orchestrator, &a.name) {
        (Some(base), Some(name)) => {
            let login: arcane_control_api::LoginResponse = reqwest::Client::new()
                .post(format!(
                    "{}{}",
                    base.trim_end_matches('/'),
                    arcane_control_api::paths::LOGIN
                ))
                .json(&arcane_control_api::LoginRequest {
                    name: name.clone(),
                    ..Default::default()
                })
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            (login.endpoint, login.ticket)
        }
        _ => {
            let now = arcane_service::unix_ms() / 1000;
            let ticket = TicketKey::new(&a.secret).mint(&TicketClaims {
                player_id: a.player,
                zone_id: a.zone.clone(),
                role: if a.admin { Role::Admin } else { Role::Player },
                expires_unix: now + 3600,
            });
            (a.target.clone(), ticket)
        }
    };
    let mut client = Client::join(&target, &ticket, ClientTier::Desktop).await?;
    let welcome = tokio::time::timeout(
        Duration::from_secs(5),
        client.recv_until(|m| match m {
            ServerMessage::Welcome(w) => Some(w),
            _ => None,
        }),
    )
    .await
    .context("no welcome from the zone")??;
    println!(
        "in {} as entity {} (skills {:?}); species here: {:?}",
        welcome.zone_id, welcome.player.0, welcome.skills, welcome.creatures.species
    );
    let mut play = Play {
        view: ClientView::new(),
        me: welcome.player,
        catalog: welcome.creatures,
        roster: Vec::new(),
        seq: 0,
        creature_seq: 0,
        cast_seq: 0,
        admin_seq: 0,
    };
    let (lines_tx, mut lines) = tokio::sync::mpsc::channel::<String>(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if lines_tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let period = Duration::from_millis(1000 / u64::from(welcome.tick_rate_hz.max(1)));
    let mut tick = tokio::time::interval(period);
    let mut resume_at: Option<tokio::time::Instant> = None;
    loop {
        let reading = resume_at.is_none_or(|t| tokio::time::Instant::now() >= t);
        tokio::select! {
            _ = tick.tick() => {
                play.seq += 1;
                client.send(&[
                    ClientMessage::Input(MoveInput { seq: play.seq, dir_x: 0, dir_y: 0 }),
                    ClientMessage::Ack { snapshot_id: play.view.current_id() },
                ]).await?;
            }
            line = lines.recv(), if reading => {
                resume_at = None;
                let Some(line) = line else { break };
                let line = line.trim();
                if line == "quit" {
                    break;
                }
                if let Some(ms) = line.strip_prefix("wait ") {
                    let ms: u64 = ms.trim().parse().context("wait MS")?;
                    resume_at = Some(tokio::time::Instant::now() + Duration::from_millis(ms));
                    continue;
                }
                match play.command(line, a.admin) {
                    Ok(msgs) if !msgs.is_empty() => { client.send(&msgs).await?; }
                    Ok(_) => {}
                    Err(e) => println!("? {e:#}"),
                }
            }
            incoming = client.recv() => match incoming {
                Incoming::Message(m, _) => play.on_message(m)?,
                Incoming::Malformed(e) => println!("malformed frame: {e}"),
                Incoming::Closed(r) => bail!("the zone closed the connection ({r:?})"),
            },
        }
    }
    // Let the last answers arrive.
    let _ = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            if let Incoming::Message(m, _) = client.recv().await {
                play.on_message(m)?;
            } else {
                return anyhow::Ok(());
            }
        }
    })
    .await;
    client.close().await;
    Ok(())
}
