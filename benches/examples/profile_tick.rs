//! Runs ticks of a loaded zone for profiling (`perf record`, callgrind).
fn main() {
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (players, npcs, ticks) = (
        args.first().copied().unwrap_or(1000),
        args.get(1).copied().unwrap_or(3000),
        args.get(2).copied().unwrap_or(200),
    );
    let mut z = arcane_benches::LoadedZone::new(players, npcs);
    let t = std::time::Instant::now();
    let mut bytes = 0;
    for _ in 0..ticks {
        bytes += z.tick();
    }
    let per = t.elapsed() / ticks;
    println!(
        "{players} players + {npcs} npcs: {per:?} per tick, {} snapshot bytes per tick",
        bytes / ticks as usize
    );
}
