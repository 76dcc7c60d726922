//! Zone hot paths: a full tick (ingest, simulate, interest, replicate for every client),
//! interest alone (index rebuild by bulk load vs incremental updates, per-client views)
//! and delta encoding alone.

use std::time::Duration;

use arcane_benches::LoadedZone;
use arcane_engine::common::components::{Position, Replicated};
use arcane_engine::common::spatial::{FrameEntity, SpatialIndex};
use arcane_engine::interest::InterestState;
use arcane_protocol::sender::SnapshotSender;
use arcane_protocol::sent_views::SentViews;
use arcane_protocol::snapshot::{InputReceipt, ViewEntity};
use arcane_protocol::{ClientTier, EntityKind, EntityState, NetId};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rstar::RTree;
use rstar::primitives::GeomWithData;

fn full_tick(c: &mut Criterion) {
    let mut g = c.benchmark_group("full_tick");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    for (players, npcs) in [(500u32, 5_000u32), (2_000, 20_000)] {
        let mut lz = LoadedZone::new(players, npcs);
        g.bench_function(
            BenchmarkId::from_parameter(format!("{players}p_{npcs}npc")),
            |b| b.iter(|| lz.tick()),
        );
    }
    // Issue 25's budget: the same with 20,000 wild creatures breeding in 2,025 cells.
    let mut lz = LoadedZone::creatures(2_000, 20_000, 20_000);
    g.bench_function("2000p_20000npc_20000creatures", |b| b.iter(|| lz.tick()));
    g.finish();
}

/// Wild breeding alone, amortized: 20,000 creatures over 2,025 cells, each cell firing
/// every 5–15 s; one iteration is one tick of the breeding system (the cells due that
/// tick), run on the zone's world at successive ticks.
fn breeding(c: &mut Criterion) {
    use arcane_engine::common::state::ZoneClock;
    let mut g = c.benchmark_group("creatures");
    g.sample_size(20);
    let mut lz = LoadedZone::creatures(0, 0, 20_000);
    let mut schedule = bevy_ecs::schedule::Schedule::default();
    schedule.add_systems(arcane_engine::creatures::breed_wild_cells);
    let world = lz.zone.world_mut();
    g.bench_function("breeding_20000_creatures_2025_cells", |b| {
        b.iter(|| {
            world.resource_mut::<ZoneClock>().tick += 1;
            schedule.run(world);
        })
    });
    g.finish();
}

/// Issue 3's budget: 1,000 players casting at their full rate among 10,000 enemies
/// running the state machine.
fn combat_tick(c: &mut Criterion) {
    let mut g = c.benchmark_group("combat_tick");
    g.sample_size(20);
    let mut lz = LoadedZone::combat(1_000, 10_000);
    // Warm up into the steady state: fights under way, spawners cycling.
    for _ in 0..100 {
        lz.tick();
    }
    g.bench_function("1000p_casting_10000_enemies", |b| b.iter(|| lz.tick()));
    g.finish();
}

fn frame_of(lz: &mut LoadedZone) -> Vec<FrameEntity> {
    let world = lz.zone.world_mut();
    let mut q = world.query::<(bevy_ecs::entity::Entity, &Replicated, &Position)>();
    q.iter(world)
        .map(|(entity, r, p)| FrameEntity {
            entity,
            net_id: r.net_id,
            pos: p.0,
            state: arcane_engine::interest::frame_state(r, p.0, 100, 0),
        })
        .collect()
}

fn interest(c: &mut Criterion) {
    let mut g = c.benchmark_group("interest");
    g.sample_size(20);
    let mut lz = LoadedZone::new(2_000, 20_000);
    let before = frame_of(&mut lz);
    lz.tick();
    let after = frame_of(&mut lz);

    // Rebuilding the index from scratch every tick...
    g.bench_function("rebuild_bulk_load_22k", |b| {
        let mut index = SpatialIndex::default();
        b.iter(|| index.rebuild(after.iter().copied()));
    });
    // ...against moving every entity in a persistent tree (remove + insert).
    g.bench_function("rebuild_incremental_22k", |b| {
        type P = GeomWithData<[f32; 2], u32>;
        let points = |f: &[FrameEntity]| {
            f.iter()
                .enumerate()
                .map(|(i, e)| P::new([e.pos.x, e.pos.y], i as u32))
                .collect::<Vec<_>>()
        };
        let (old, new) = (points(&before), points(&after));
        b.iter_batched_ref(
            || RTree::bulk_load(old.clone()),
            |tree| {
                for (o, n) in old.iter().zip(&new) {
                    if o.geom() != n.geom() {
                        tree.remove(o);
                        tree.insert(*n);
                    }
                }
            },
            criterion::BatchSize::LargeInput,
        );
    });

    let mut index = SpatialIndex::default();
    index.rebuild(after.iter().copied());
    let tiers = lz.zone.settings().netcode.tiers.clone();
    let clients: Vec<_> = after
        .iter()
        .filter(|f| f.state.kind == EntityKind::Player)
        .copied()
        .collect();
    let mut states: Vec<InterestState> = clients
        .iter()
        .map(|_| InterestState::new(ClientTier::Desktop))
        .collect();
    let mut tick = 0u64;
    g.bench_function("views_2000_clients_22k_entities", |b| {
        b.iter(|| {
            tick += 1;
            for (s, f) in states.iter_mut().zip(&clients) {
                s.update(&index, f.pos, f.net_id, &tiers.desktop, tick);
            }
        })
    });
    g.finish();
}

fn delta_encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("delta_encode");
    // 40 visible entities, all moving 25 cm per tick (a busy desktop view).
    let view = |t: i32| -> Vec<ViewEntity> {
        (0..40u16)
            .map(|i| ViewEntity {
                local: i,
                net_id: NetId(u32::from(i) * 7 + 1),
                state: EntityState {
                    kind: EntityKind::Npc,
                    variant: 0,
                    x_cm: i32::from(i) * 300 + t * 25,
                    y_cm: 5_000 - t * 25,
                    hp_pct: 100,
                    flags: 0,
                },
                vel: (0, 0),
            })
            .collect()
    };
    let views: Vec<_> = (0..64).map(view).collect();
    g.bench_function("40_moving_entities", |b| {
        let (mut tx, mut sent) = (SnapshotSender::new(), SentViews::new());
        let mut out = Vec::with_capacity(256);
        let mut t = 0usize;
        b.iter(|| {
            t += 1;
            out.clear();
            // Ack two ticks behind, as a client one round trip away would.
            tx.ack(t.saturating_sub(2) as u32);
            tx.encode_next(
                &mut sent,
                t as u32,
                100,
                InputReceipt::default(),
                &views[t % 64],
                None,
                &mut out,
            )
            .map(|s| s.bytes)
        })
    });
    g.finish();
}

/// Issue 27's costs: the state digest the journal records (every tick by default),
/// with and without per-entity rows, and a tick as a replay runs it (headless: no
/// per-client views or snapshots) beside the full tick, for 1,000 players among
/// 3,000 wanderers.
fn journal(c: &mut Criterion) {
    let mut g = c.benchmark_group("journal");
    g.sample_size(20);
    let mut lz = LoadedZone::new(1_000, 3_000);
    g.bench_function("state_digest_1000p_3000npc", |b| {
        b.iter(|| lz.zone.state_digest(false))
    });
    g.bench_function("state_digest_rows_1000p_3000npc", |b| {
        b.iter(|| lz.zone.state_digest(true))
    });
    g.bench_function("full_tick_1000p_3000npc", |b| b.iter(|| lz.tick()));
    lz.zone.set_headless(true);
    g.bench_function("replay_tick_1000p_3000npc", |b| b.iter(|| lz.tick()));
    g.finish();
}

criterion_group!(
    benches,
    journal,
    full_tick,
    breeding,
    combat_tick,
    interest,
    delta_encode
);
criterion_main!(benches);
