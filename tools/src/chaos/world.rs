//! The world a fault run plays in: real processes from this executable on loopback.
//! `arcane orchestrator --zones west,east` runs the two zones (which share a border)
//! as its children, one SQLite file holds the players, and a failpoint file lets the
//! run stop a process at a named step of a transfer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use arcane_control_api::{LoginResponse, ZoneStatus};
use arcane_engine::content::ContentSources;
use arcane_service::ProcessIdentity;
use arcane_store::Store;

/// The two neighbouring zones, `(west, east)` as RON: walking east out of `west` leads
/// into `east` (arriving at x 8), and west out of `east` back into `west` (at x 90).
/// Shared with the transfer tests (`tools/tests/world`).
pub fn border_zones(player_speed: f32, max_players: u32) -> (String, String) {
    let zone = |id: &str, exit: &str| {
        format!(
            r#"ZoneDef(
    id: "{id}",
    bounds: Bounds(min: (0.0, 0.0), max: (100.0, 100.0)),
    player_speed: {player_speed:?},
    max_players: {max_players},
    spawn_points: [(50.0, 50.0)],
    spawn_radius: 0.0,
    exits: [{exit}],
)"#
        )
    };
    (
        zone(
            "west",
            r#"Exit(area: Bounds(min: (95.0, 0.0), max: (100.0, 100.0)), to: Zone("east"), arrive: KeepY(8.0))"#,
        ),
        zone(
            "east",
            r#"Exit(area: Bounds(min: (0.0, 0.0), max: (5.0, 100.0)), to: Zone("west"), arrive: KeepY(90.0))"#,
        ),
    )
}

/// The content of a fault run: the border zones, each with wild mosslings (also in
/// the strips by the border where travellers walk) that they capture as they pass (easy captures: any HP, every roll succeeds, a
/// roomy roster), so a run has acknowledged captures to audit.
pub fn chaos_content() -> anyhow::Result<ContentSources> {
    // Players walk 10 m/s; new ones start 5 m from the border.
    let (west, east) = border_zones(10.0, 256);
    let wild = r#"    wild: Some(WildDef(
        cell_size: 25.0,
        breed_interval_s: (2.0, 4.0),
        populations: [
            WildPopulation(species: "mossling", area: Bounds(min: (0.0, 0.0), max: (100.0, 100.0)), initial: 64, cap_per_cell: 4),
        ],
    )),
)"#;
    let with_wild = |z: String| -> anyhow::Result<String> {
        let cut = z.rfind(')').context("a zone definition ends with ')'")?;
        Ok(format!("{}{wild}", &z[..cut]))
    };
    let mut content = ContentSources::shipped();
    content.set("zones/west.ron", with_wild(west)?);
    content.set("zones/east.ron", with_wild(east)?);
    let mut creatures = content
        .get("creatures.ron")
        .context("shipped creatures.ron")?
        .to_string();
    for (from, to) in [
        ("roster_capacity: 12,", "roster_capacity: 200,"),
        ("range: 8.0,", "range: 12.0,"),
        ("max_hp_fraction: 0.5,", "max_hp_fraction: 1.0,"),
        ("cooldown_s: 2.0,", "cooldown_s: 0.5,"),
        ("base_chance: 0.6,", "base_chance: 1.0,"),
        (
            r#"capture_difficulty: 0.2, habitats: ["meadow", "forest", "test_area"]"#,
            r#"capture_difficulty: 0.0, habitats: ["meadow", "forest", "test_area", "west", "east"]"#,
        ),
    ] {
        anyhow::ensure!(creatures.contains(from), "creatures.ron has no {from:?}");
        creatures = creatures.replacen(from, to, 1);
    }
    content.set("creatures.ron", creatures);
    content
        .validate()
        .map_err(|e| anyhow::anyhow!("chaos content: {e}"))?;
    Ok(content)
}

/// The zones every run keeps.
pub const ZONES: [&str; 2] = ["west", "east"];

/// Zone id → pids of its processes.
pub type ZoneProcesses = HashMap<String, Vec<i32>>;

/// Every live zone process whose command line names `dir` (a world's folder), by the
/// zone id it runs. Zombies (exited, not yet reaped) serve no one and are left out.
pub fn zone_processes(dir: &Path) -> ZoneProcesses {
    let dir = dir.to_string_lossy();
    let mut out = ZoneProcesses::new();
    let Ok(all) = procfs::process::all_processes() else {
        return out;
    };
    for p in all.flatten() {
        let Ok(args) = p.cmdline() else { continue };
        if !args.iter().any(|a| a == "zone") || !args.iter().any(|a| a.contains(&*dir)) {
            continue;
        }
        if p.stat().is_ok_and(|s| s.state == 'Z') {
            continue;
        }
        if let Some(i) = args.iter().position(|a| a == "--zone-id")
            && let Some(id) = args.get(i + 1)
        {
            out.entry(id.clone()).or_default().push(p.pid);
        }
    }
    out
}

fn free_addr() -> anyhow::Result<String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    Ok(format!("127.0.0.1:{port}"))
}

/// The processes and files of one run.
pub struct World {
    pub dir: PathBuf,
    _scratch: Option<tempfile::TempDir>,
    pub db_url: String,
    /// The orchestrator's public API (logins) and internal one (registry, metrics).
    pub public: String,
    pub internal: String,
    addrs: (String, String),
    failpoint: PathBuf,
    exe: PathBuf,
    orchestrator: Mutex<Option<Child>>,
    http: reqwest::Client,
}

impl World {
    /// Writes the content and starts the orchestrator, which starts both zones; waits
    /// until they are up. `keep` keeps the folder (logs, database) after the run.
    pub async fn start(keep: Option<PathBuf>) -> anyhow::Result<World> {
        let (dir, scratch) = match keep {
            Some(d) => {
                std::fs::create_dir_all(&d)?;
                (d, None)
            }
            None => {
                let t = tempfile::Builder::new().prefix("arcane-chaos-").tempdir()?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        chaos_content()?.write_to(&dir.join("content"))?;
        let (public_addr, internal_addr) = (free_addr()?, free_addr()?);
        let w = World {
            db_url: format!("sqlite://{}", dir.join("arcane.db").display()),
            public: format!("http://{public_addr}"),
            internal: format!("http://{internal_addr}"),
            addrs: (public_addr, internal_addr),
            failpoint: dir.join("failpoint"),
            exe: std::env::current_exe()?,
            dir,
            _scratch: scratch,
            orchestrator: Mutex::new(None),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
        };
        // The database and its migrations exist before the processes race to them.
        Store::connect(&w.db_url).await?;
        w.spawn_orchestrator()?;
        w.wait_up(Duration::from_secs(60)).await?;
        Ok(w)
    }

    fn spawn_orchestrator(&self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("orchestrator.log"))?;
        let child = Command::new(&self.exe)
            .args(["orchestrator", "--addr", &self.addrs.0])
            .args(["--internal-addr", &self.addrs.1])
            .args(["--zones", &ZONES.join(","), "--zone-command-arg", "zone"])
            .arg("--zone-command")
            .arg(&self.exe)
            .arg("--content")
            .arg(self.dir.join("content"))
            .arg("--run-dir")
            .arg(self.dir.join("run"))
            .args(["--start-zone", "west", "--start-position", "90,50"])
            .args(["--heartbeat-timeout", "2500ms"])
            .env("DATABASE_URL", &self.db_url)
            // Zones journal, so a killed one's successor recovers its players.
            .env("ARCANE_JOURNAL_DIR", self.dir.join("journal"))
            .env(arcane_service::FAILPOINT_ENV, &self.failpoint)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("cannot start the orchestrator")?;
        *self.orchestrator.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        Ok(())
    }

    pub fn orchestrator_pid(&self) -> Option<u32> {
        self.orchestrator
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(Child::id)
    }

    /// SIGKILLs the orchestrator and starts another on the same addresses and folder.
    pub fn kill_and_restart_orchestrator(&self) -> anyhow::Result<()> {
        if let Some(mut c) = self
            .orchestrator
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            c.kill()?;
            c.wait()?;
        }
        self.spawn_orchestrator()
    }

    /// The process now running `zone`, as its supervisor recorded it.
    pub fn zone_process(&self, zone: &str) -> Option<ProcessIdentity> {
        let text =
            std::fs::read_to_string(self.dir.join("run").join(format!("{zone}.pid"))).ok()?;
        text.trim()
            .parse::<ProcessIdentity>()
            .ok()
            .filter(ProcessIdentity::is_alive)
    }

    pub async fn zones(&self) -> Vec<ZoneStatus> {
        let url = format!("{}{}", self.internal, arcane_control_api::paths::ZONES);
        match self.http.get(url).send().await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }

    /// Waits until both zones are registered and up.
    pub async fn wait_up(&self, within: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let up = self.zones().await;
            if ZONES
                .iter()
                .all(|z| up.iter().any(|s| s.info.zone_id == *z && s.up))
            {
                return Ok(());
            }
            anyhow::ensure!(
                start.elapsed() < within,
                "the zones did not come back within {within:?}; see {}",
                self.dir.join("orchestrator.log").display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One login attempt.
    pub async fn login(&self, name: &str) -> anyhow::Result<LoginResponse> {
        let r = self
            .http
            .post(format!(
                "{}{}",
                self.public,
                arcane_control_api::paths::LOGIN
            ))
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "login answered {}", r.status());
        Ok(r.json().await?)
    }

    pub async fn store(&self) -> anyhow::Result<Store> {
        Ok(Store::connect(&self.db_url).await?)
    }

    fn fired_path(&self) -> PathBuf {
        let mut p = self.failpoint.clone().into_os_string();
        p.push(".fired");
        PathBuf::from(p)
    }

    /// Arms `step` to pause `pause_ms` in whichever process reaches it first.
    pub fn arm(&self, step: &str, pause_ms: u64) -> anyhow::Result<()> {
        let _ = std::fs::remove_file(self.fired_path());
        std::fs::write(&self.failpoint, format!("{step} {pause_ms}"))?;
        Ok(())
    }

    /// Disarms a failpoint nobody reached.
    pub fn disarm(&self) {
        let _ = std::fs::remove_file(&self.failpoint);
    }

    /// The pid of the process that fired the armed failpoint, once one has.
    pub fn fired_by(&self) -> Option<u32> {
        std::fs::read_to_string(self.fired_path())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Lines of the logs where a process panicked.
    pub fn panics(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.dir.join("orchestrator.log")).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains("panicked at"))
            .map(str::to_string)
            .collect()
    }

    /// Stops the orchestrator with SIGTERM (it stops its zones, which save everyone)
    /// and waits; then nothing of the world may still run.
    pub async fn stop(&self) -> anyhow::Result<()> {
        let child = self
            .orchestrator
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut c) = child {
            use nix::sys::signal::{Signal, kill};
            let _ = kill(nix::unistd::Pid::from_raw(c.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = zone_processes(&self.dir);
            if left.is_empty() {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "zone processes outlived their orchestrator: {left:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(mut c) = self
            .orchestrator
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
