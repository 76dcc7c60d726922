//! What the floor examples share: their own CPU time from `/proc`, and the line they
//! print (which `benches/scale.sh` reads).

/// (user, system) CPU seconds of this process so far (zeros if /proc cannot be read).
pub fn cpu() -> (f64, f64) {
    let Ok(stat) = procfs::process::Process::myself().and_then(|p| p.stat()) else {
        return (0.0, 0.0);
    };
    let hz = procfs::ticks_per_second() as f64;
    (stat.utime as f64 / hz, stat.stime as f64 / hz)
}

/// Prints the CPU per client per tick between `from` (a [`cpu`] reading) and now, over
/// `ticks` ticks of `clients` clients measured for `secs` seconds.
pub fn report(mode: &str, clients: usize, ticks: u64, secs: f64, from: (f64, f64)) {
    let (u0, s0) = from;
    let (u1, s1) = cpu();
    let per = |x: f64| x * 1e6 / ticks as f64 / clients as f64;
    println!(
        "{mode}: {clients} clients, {secs:.1} s: {:.2} µs user + {:.2} µs system = {:.2} µs CPU per client per tick",
        per(u1 - u0),
        per(s1 - s0),
        per(u1 - u0 + s1 - s0)
    );
}
