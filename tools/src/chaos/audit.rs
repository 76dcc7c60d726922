//! The audit after a fault run, from the database and the processes: nothing lost or
//! duplicated (every seeded item and creature held exactly once, by its player, and
//! the sums per kind unchanged; every capture a zone acknowledged held by its player;
//! no creature in two rosters), one owner per player, no transfer left pending, every
//! player able to log in and be welcomed again, no player in two zones' rosters, no
//! panic.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use arcane_loadtest::client::Client;
use arcane_protocol::saved::{SavedCreature, SavedCreatureState, SavedGene};
use arcane_protocol::{ClientTier, ServerMessage};
use arcane_store::{ItemStack, Store};

use super::world::World;

/// What player `i` of a run owns: two unique items and some gold (one kind summed
/// over everyone), so a loss, a duplicate or a swap shows.
pub fn items_of(i: u64) -> Vec<ItemStack> {
    vec![
        ItemStack {
            item: format!("sword-{i}"),
            count: 1,
        },
        ItemStack {
            item: "gold".into(),
            count: 100 + i as u32,
        },
    ]
}

/// The creatures player `i` of a run owns: a hatched one and an egg that will not
/// hatch during a run, under ids no zone hands out.
pub fn creatures_of(i: u64) -> Vec<SavedCreature> {
    let genome = |v: f32| {
        BTreeMap::from([
            (
                "temperament".to_string(),
                SavedGene::Alleles("docile".into(), "skittish".into()),
            ),
            ("size".to_string(), SavedGene::Numeric(v)),
        ])
    };
    let base = 1_000_000 + i * 2;
    vec![
        SavedCreature {
            id: base,
            species: "mossling".into(),
            gene_version: 1,
            genome: genome(1.0),
            parents: None,
            generation: 0,
            born_zone: "seed".into(),
            born_tick: 0,
            state: SavedCreatureState::Active,
            breed_ready_in_ticks: 0,
        },
        SavedCreature {
            id: base + 1,
            species: "emberfox".into(),
            gene_version: 1,
            genome: genome(1.25),
            parents: Some((7, 8)),
            generation: 3,
            born_zone: "seed".into(),
            born_tick: 0,
            state: SavedCreatureState::Egg {
                hatch_in_ticks: 100_000_000,
            },
            breed_ready_in_ticks: 0,
        },
    ]
}

/// What must not change about a creature however often it moves: who it is and its
/// genes (its timers count down).
pub fn identity(c: &SavedCreature) -> Identity<'_> {
    (c.id, &c.species, &c.genome, c.parents, c.generation)
}

/// Id, species, genes, parents and generation of a creature.
pub type Identity<'a> = (
    u64,
    &'a str,
    &'a BTreeMap<String, SavedGene>,
    Option<(u64, u64)>,
    u16,
);

/// A seeded player: its name, id and index.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub name: String,
    pub id: u64,
    pub index: u64,
}

/// Item kind → count, over `players` as the store has them now.
async fn sums(store: &Store, players: &[Seeded]) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for p in players {
        if let Some(r) = store.player(p.id).await? {
            for s in r.inventory {
                *out.entry(s.item).or_default() += u64::from(s.count);
            }
        }
    }
    Ok(out)
}

/// The audit's findings: `problems` is empty when the run kept every promise.
#[derive(Debug, Default)]
pub struct Findings {
    pub problems: Vec<String>,
    pub pending_left: u64,
    pub logged_in_again: usize,
    /// Acknowledged captures found where they belong.
    pub captures_held: usize,
}

/// Audits the world once the travellers have stopped; `captured` are the captures
/// the zones acknowledged, as (player name, creature id).
pub async fn audit(
    world: &World,
    players: &[Seeded],
    captured: &[(String, u64)],
) -> anyhow::Result<Findings> {
    let mut f = Findings::default();
    let store = world.store().await?;
    // Transfers a killed source left pending are rolled forward by the orchestrator.
    let start = Instant::now();
    loop {
        let (_, _, pending) = store.handoff_counts().await?;
        f.pending_left = pending;
        if pending == 0 || start.elapsed() > Duration::from_secs(40) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    if f.pending_left > 0 {
        f.problems
            .push(format!("{} transfers still pending", f.pending_left));
    }
    // Every item exactly once, where it belongs.
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for p in players {
        for s in items_of(p.index) {
            *expected.entry(s.item).or_default() += u64::from(s.count);
        }
    }
    let held = sums(&store, players).await?;
    for (item, want) in &expected {
        let got = held.get(item).copied().unwrap_or(0);
        if got != *want {
            f.problems
                .push(format!("{item}: {got} held, {want} seeded"));
        }
    }
    for item in held.keys().filter(|k| !expected.contains_key(*k)) {
        f.problems.push(format!("{item}: appeared from nowhere"));
    }
    let mut holder: HashMap<u64, String> = HashMap::new();
    for p in players {
        let record = store.player(p.id).await?;
        let owner = store.owner(p.id).await?;
        if let Some(r) = &record {
            for c in &r.creatures {
                if let Some(other) = holder.insert(c.id, p.name.clone()) {
                    f.problems
                        .push(format!("creature {} held by {other} and {}", c.id, p.name));
                }
            }
        }
        match (record, owner) {
            (Some(r), Some(o)) => {
                if r.inventory != items_of(p.index) {
                    f.problems
                        .push(format!("{}: holds {:?}", p.name, r.inventory));
                }
                // The seeded creatures first, as they were; then only captures.
                let want = creatures_of(p.index);
                let held: Vec<_> = r.creatures.iter().take(want.len()).map(identity).collect();
                if held != want.iter().map(identity).collect::<Vec<_>>() {
                    f.problems
                        .push(format!("{}: holds creatures {held:?}", p.name));
                }
                for c in r.creatures.iter().skip(want.len()) {
                    if c.born_zone == "seed" {
                        f.problems
                            .push(format!("{}: a seeded creature twice: {}", p.name, c.id));
                    }
                }
                if r.zone != o.zone {
                    f.problems.push(format!(
                        "{}: row says {}, ownership says {}",
                        p.name, r.zone, o.zone
                    ));
                }
            }
            _ => f
                .problems
                .push(format!("{}: no record or no owner", p.name)),
        }
    }
    // Every capture a zone acknowledged is held by its player.
    for (name, id) in captured {
        match holder.get(id) {
            Some(h) if h == name => f.captures_held += 1,
            Some(h) => f
                .problems
                .push(format!("{name} captured creature {id}, but {h} holds it")),
            None => f.problems.push(format!(
                "{name}'s acknowledged capture of creature {id} was lost"
            )),
        }
    }
    // Every player logs in again and is welcomed by the zone that owns it.
    for p in players {
        match relogin(world, &p.name).await {
            Ok(()) => f.logged_in_again += 1,
            Err(e) => f
                .problems
                .push(format!("{} cannot play again: {e:#}", p.name)),
        }
    }
    // No player in two rosters (they are all connected once now, in turn: none is).
    let mut seen: HashMap<u64, String> = HashMap::new();
    for z in world.zones().await {
        let url = format!("{}/players", z.info.admin_endpoint);
        let Ok(r) = reqwest::get(url).await else {
            continue;
        };
        for id in r.json::<Vec<u64>>().await.unwrap_or_default() {
            if let Some(other) = seen.insert(id, z.info.zone_id.clone()) {
                f.problems.push(format!(
                    "player {id} is in {} and {}",
                    other, z.info.zone_id
                ));
            }
        }
    }
    for line in world.panics() {
        f.problems.push(format!("panic: {line}"));
    }
    Ok(f)
}

/// Logs `name` in and waits for the zone's welcome (retrying while a zone restarts).
async fn relogin(world: &World, name: &str) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut last = anyhow::anyhow!("no attempt");
    while start.elapsed() < Duration::from_secs(60) {
        match world.login(name).await {
            Ok(l) => {
                let joined = async {
                    let mut c = Client::join(&l.endpoint, &l.ticket, ClientTier::Desktop).await?;
                    tokio::time::timeout(
                        Duration::from_secs(10),
                        c.recv_until(|m| matches!(m, ServerMessage::Welcome(_)).then_some(())),
                    )
                    .await??;
                    anyhow::Ok(())
                };
                match joined.await {
                    Ok(()) => return Ok(()),
                    Err(e) => last = e,
                }
            }
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Err(last)
}
