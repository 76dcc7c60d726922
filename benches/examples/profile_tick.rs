//! Runs ticks of a loaded zone for profiling (`perf record`, callgrind).
//!
//! `profile_tick [players] [npcs] [ticks] [period_ms]` walks players among wandering
//! wildlife; `profile_tick combat [players] [enemies] [ticks] [period_ms]` has them cast
//! among enemies and prints what happened (casts, hits, kills, deaths, enemy attacks);
//! `profile_tick creatures [players] [npcs] [ticks] [period_ms]` adds as many wild
//! creatures as NPCs, breeding in 2,025 cells; `profile_tick scale [players] [ticks]
//! [period_ms]` is the scaling scenario of `benches/scale.sh` (players alone, about 28
//! in view).
//!
//! Ticks run back to back unless `period_ms` is given: then each starts on that fixed
//! schedule, as in the zone server, and only the ticks themselves are timed. The
//! difference is the cost of a working set that went cold between ticks.
//!
//! `ARCANE_EVICT_MB=64` writes a buffer that large between ticks, so every tick starts
//! with the caches holding none of its data, as on a host whose neighbours evict it;
//! under `valgrind --tool=cachegrind` that counts each function's cold misses, free of
//! the host's noise (`cg_annotate`).
fn main() {
    let combat = std::env::args().nth(1).is_some_and(|a| a == "combat");
    let creatures = std::env::args().nth(1).is_some_and(|a| a == "creatures");
    let scale = std::env::args().nth(1).is_some_and(|a| a == "scale");
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    // The scaling scenario has no others: its arguments shift one place left.
    let args: Vec<u32> = if scale {
        [args.first().copied().unwrap_or(1000), 0]
            .into_iter()
            .chain(args.iter().skip(1).copied())
            .collect()
    } else {
        args
    };
    let (players, others, ticks) = (
        args.first().copied().unwrap_or(1000),
        args.get(1)
            .copied()
            .unwrap_or(if combat { 10_000 } else { 3000 }),
        args.get(2).copied().unwrap_or(200),
    );
    let period = std::time::Duration::from_millis(args.get(3).copied().unwrap_or(0).into());
    let mut z = if scale {
        arcane_benches::LoadedZone::scale(players)
    } else if combat {
        arcane_benches::LoadedZone::combat(players, others)
    } else if creatures {
        arcane_benches::LoadedZone::creatures(players, others, others)
    } else {
        arcane_benches::LoadedZone::new(players, others)
    };
    let before = z.zone.counters().clone();
    let mut times = Vec::with_capacity(ticks as usize);
    let mut next = std::time::Instant::now();
    let mut bytes = 0;
    let mut evict = vec![
        0u8;
        std::env::var("ARCANE_EVICT_MB")
            .ok()
            .and_then(|mb| mb.parse::<usize>().ok())
            .unwrap_or(0)
            << 20
    ];
    for i in 0..ticks {
        for line in evict.chunks_mut(64) {
            line[0] = i as u8;
        }
        std::hint::black_box(&mut evict);
        std::thread::sleep(next.saturating_duration_since(std::time::Instant::now()));
        let t = std::time::Instant::now();
        bytes += z.tick();
        times.push(t.elapsed());
        next = t + period;
    }
    let per = times.iter().sum::<std::time::Duration>() / ticks;
    times.sort_unstable();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    let kind = if scale {
        "others (the scaling scenario)"
    } else if combat {
        "enemies"
    } else if creatures {
        "npcs and as many creatures"
    } else {
        "npcs"
    };
    println!(
        "{players} players + {others} {kind}: {per:?} per tick (median {median:?}){}, {} snapshot bytes per tick",
        if period.is_zero() {
            String::new()
        } else {
            format!(" (one every {period:?})")
        },
        bytes / ticks as usize
    );
    if combat {
        let c = z.zone.counters();
        let per_tick = |a: u64, b: u64| (a - b) as f64 / f64::from(ticks);
        let rejected: u64 =
            c.cast_rejected.iter().sum::<u64>() - before.cast_rejected.iter().sum::<u64>();
        println!(
            "per tick: {:.0} casts, {:.0} refused, {:.0} hits, {:.1} kills, {:.1} player deaths, {:.0} enemy attacks; {} entities",
            per_tick(c.casts, before.casts),
            rejected as f64 / f64::from(ticks),
            per_tick(c.hits, before.hits),
            per_tick(c.kills, before.kills),
            per_tick(c.player_deaths, before.player_deaths),
            per_tick(c.enemy_attacks, before.enemy_attacks),
            z.zone.entity_count(),
        );
    }
}
