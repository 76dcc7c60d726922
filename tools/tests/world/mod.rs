//! A small world of real processes for transfer tests: an orchestrator and zones
//! started as `arcane orchestrator` and `arcane zone` children on loopback, one SQLite
//! file, and a failpoint file. Either the test starts the zones itself (`west` and
//! `east`, sharing a border: [`World::start`]) or the orchestrator's local supervisor
//! does, opening instances on demand ([`World::start_supervised`]). Players are driven
//! by test clients that walk until a zone they want welcomes them.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use arcane_control_api::{LoginResponse, ZoneStatus};
use arcane_engine::content::ContentSources;
use arcane_loadtest::client::{Client, Incoming};
use arcane_protocol::view::ClientView;
use arcane_protocol::{ClientMessage, ClientTier, MoveInput, ServerMessage};
use arcane_store::{SavedPlayer, Store};
use arcane_tools::chaos::world::border_zones;

/// A `west` zone with a portal strip (x 60–65) into the `vault` instance template.
const WEST_WITH_PORTAL: &str = r#"ZoneDef(
    id: "west",
    bounds: Bounds(min: (0.0, 0.0), max: (100.0, 100.0)),
    player_speed: 5.0,
    max_players: 64,
    spawn_points: [(50.0, 50.0)],
    spawn_radius: 0.0,
    exits: [Exit(area: Bounds(min: (60.0, 0.0), max: (65.0, 100.0)), to: Instance("vault"), arrive: At((20.0, 50.0)))],
)"#;

/// An instance template: its west edge leads back to `west`; it closes itself one
/// second after its last player has left.
const VAULT: &str = r#"ZoneDef(
    id: "vault",
    bounds: Bounds(min: (0.0, 0.0), max: (100.0, 100.0)),
    player_speed: 5.0,
    max_players: 8,
    spawn_points: [(20.0, 50.0)],
    spawn_radius: 0.0,
    exits: [Exit(area: Bounds(min: (0.0, 0.0), max: (4.0, 100.0)), to: Zone("west"), arrive: At((50.0, 50.0)))],
    instance: Some(InstanceDef(close_after_empty_s: 1.0)),
)"#;

pub struct World {
    pub dir: PathBuf,
    /// Removes `dir` once the processes are stopped (fields drop after `Drop::drop`).
    _scratch: tempfile::TempDir,
    /// The zones are the orchestrator's children (`--zones` these), not the test's.
    supervised: Vec<&'static str>,
    pub db_url: String,
    /// The orchestrator's public API (logins).
    pub orchestrator: String,
    orch_addr: String,
    /// Its internal API (the zone registry, transfers, metrics).
    pub internal: String,
    internal_addr: String,
    pub failpoint: PathBuf,
    procs: Mutex<HashMap<&'static str, Child>>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl World {
    /// Writes the content and starts the three processes: the orchestrator, `west`
    /// and `east`.
    pub async fn start(tag: &str) -> World {
        let (west, east) = border_zones(5.0, 64);
        let w = World::prepare(tag, &[("west", &west), ("east", &east)], vec![]).await;
        for p in ["orchestrator", "west", "east"] {
            w.spawn(p);
        }
        w.wait_up(&["west", "east"]).await;
        w
    }

    /// Starts only the orchestrator, which runs `west` (with a portal into the `vault`
    /// instance template) as a child process and opens instances itself.
    pub async fn start_supervised(tag: &str) -> World {
        let w = World::prepare(
            tag,
            &[("west", WEST_WITH_PORTAL), ("vault", VAULT)],
            vec!["west"],
        )
        .await;
        w.spawn("orchestrator");
        w.wait_up(&["west"]).await;
        w
    }

    /// Starts only the orchestrator, which runs `west` and `east` (sharing a border)
    /// as its child processes.
    pub async fn start_supervised_pair(tag: &str) -> World {
        let (west, east) = border_zones(5.0, 64);
        let w = World::prepare(
            tag,
            &[("west", &west), ("east", &east)],
            vec!["west", "east"],
        )
        .await;
        w.spawn("orchestrator");
        w.wait_up(&["west", "east"]).await;
        w
    }

    /// The orchestrator's pid (to tell its children from orphans).
    pub fn orchestrator_pid(&self) -> Option<u32> {
        self.procs
            .lock()
            .unwrap()
            .get("orchestrator")
            .map(Child::id)
    }

    async fn prepare(tag: &str, zones: &[(&str, &str)], supervised: Vec<&'static str>) -> World {
        let scratch = tempfile::Builder::new()
            .prefix(&format!("arcane-{tag}-"))
            .tempdir()
            .unwrap();
        let dir = scratch.path().to_path_buf();
        let mut content = ContentSources::shipped();
        for (id, ron) in zones {
            content.set(&format!("zones/{id}.ron"), ron.to_string());
        }
        content.write_to(&dir.join("content")).unwrap();
        let orch_addr = format!("127.0.0.1:{}", free_port());
        let internal_addr = format!("127.0.0.1:{}", free_port());
        let w = World {
            internal: format!("http://{internal_addr}"),
            internal_addr,
            supervised,
            db_url: format!("sqlite://{}", dir.join("arcane.db").display()),
            orchestrator: format!("http://{orch_addr}"),
            orch_addr,
            failpoint: dir.join("failpoint"),
            dir,
            _scratch: scratch,
            procs: Mutex::new(HashMap::new()),
        };
        // The database (and its migrations) exist before anyone races to create them.
        Store::connect(&w.db_url).await.unwrap();
        w
    }

    fn spawn(&self, which: &'static str) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{which}.log")))
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_arcane"));
        if which == "orchestrator" {
            cmd.args(["orchestrator", "--addr", &self.orch_addr])
                .args(["--internal-addr", &self.internal_addr])
                .args(["--start-zone", "west", "--start-position", "50,50"])
                // Zones beat every second: a timeout of one beat marked a zone down
                // whenever a beat came a little late (a drain once sent a player to a
                // copy that could not be opened); two and a half beats tolerate one.
                .args(["--heartbeat-timeout", "2500ms"]);
            if !self.supervised.is_empty() {
                cmd.args([
                    "--zones",
                    &self.supervised.join(","),
                    "--zone-command-arg",
                    "zone",
                ])
                .arg("--zone-command")
                .arg(env!("CARGO_BIN_EXE_arcane"))
                .arg("--content")
                .arg(self.dir.join("content"))
                .arg("--run-dir")
                .arg(self.dir.join("run"));
            }
        } else {
            // `west~2` is a second copy of the west map.
            let (map, id) = (which.split('~').next().unwrap_or(which), which);
            cmd.args([
                "zone",
                "--zone",
                map,
                "--zone-id",
                id,
                "--orchestrator",
                &self.internal,
            ])
            .args(["--drain-grace", "10s"])
            .args(["--ws-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
            .args(["--quic-addr", "127.0.0.1:0"])
            .args(["--watch-content", "false", "--io-threads", "1"])
            .arg("--content")
            .arg(self.dir.join("content"));
        }
        cmd.env("DATABASE_URL", &self.db_url)
            .env("ARCANE_FAILPOINT_FILE", &self.failpoint)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        self.procs
            .lock()
            .unwrap()
            .insert(which, cmd.spawn().unwrap());
    }

    /// Starts one more zone process (`west~2`: a copy of west).
    pub fn start_zone(&self, which: &'static str) {
        self.spawn(which);
    }

    /// SIGTERMs a process and waits for it to exit: its status and how long it took.
    pub async fn terminate(&self, which: &'static str) -> (std::process::ExitStatus, Duration) {
        use nix::sys::signal::{Signal, kill};
        let mut child = self.procs.lock().unwrap().remove(which).unwrap();
        let start = Instant::now();
        kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            Signal::SIGTERM,
        )
        .unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (status, start.elapsed());
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{which} ignored SIGTERM\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILLs a process and starts it again.
    pub fn kill_and_restart(&self, which: &'static str) {
        let old = self.procs.lock().unwrap().remove(which);
        if let Some(mut c) = old {
            c.kill().unwrap();
            c.wait().unwrap();
        }
        self.spawn(which);
    }

    pub async fn zones(&self) -> Vec<ZoneStatus> {
        match reqwest::get(format!("{}/v1/zones", self.internal)).await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }

    pub async fn wait_up(&self, zones: &[&str]) {
        let start = Instant::now();
        loop {
            let up = self.zones().await;
            if zones
                .iter()
                .all(|z| up.iter().any(|s| s.info.zone_id == *z && s.up))
            {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "zones {zones:?} did not come up: {up:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The players each zone says it has (`GET /players` on its admin port).
    pub async fn rosters(&self) -> HashMap<String, Vec<u64>> {
        let mut out = HashMap::new();
        for z in self.zones().await {
            let url = format!("{}/players", z.info.admin_endpoint);
            if let Ok(r) = reqwest::get(url).await
                && let Ok(ids) = r.json::<Vec<u64>>().await
            {
                out.insert(z.info.zone_id.clone(), ids);
            }
        }
        out
    }

    /// Logs in, retrying while the orchestrator or the player's zone is unavailable.
    pub async fn login(&self, name: &str) -> LoginResponse {
        self.login_in_party(name, None).await
    }

    /// Logs in as a member of `party` (kept together, sent into one instance).
    pub async fn login_in_party(&self, name: &str, party: Option<&str>) -> LoginResponse {
        let http = reqwest::Client::new();
        let start = Instant::now();
        loop {
            let r = http
                .post(format!("{}/v1/login", self.orchestrator))
                .json(&serde_json::json!({ "name": name, "party": party }))
                .send()
                .await;
            if let Ok(r) = r
                && r.status().is_success()
            {
                return r.json().await.unwrap();
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{name} could not log in\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn store(&self) -> Store {
        Store::connect(&self.db_url).await.unwrap()
    }

    /// Arms the failpoint `name` (fires once, pausing `pause_ms`).
    pub fn arm(&self, name: &str, pause_ms: u64) {
        let _ = std::fs::remove_file(self.fired());
        std::fs::write(&self.failpoint, format!("{name} {pause_ms}")).unwrap();
    }

    pub fn fired(&self) -> PathBuf {
        let mut p = self.failpoint.clone().into_os_string();
        p.push(".fired");
        PathBuf::from(p)
    }

    /// The orchestrator's `/metrics` text (empty while it is down).
    pub async fn metrics(&self) -> String {
        match reqwest::get(format!("{}/metrics", self.internal)).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// The tail of every process log (for failure messages). Supervised zones write
    /// into the orchestrator's.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let names: &[&str] = if !self.supervised.is_empty() {
            &["orchestrator"]
        } else {
            &["orchestrator", "west", "east", "west~2"]
        };
        for p in names {
            let text =
                std::fs::read_to_string(self.dir.join(format!("{p}.log"))).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- {p}.log ---\n"));
            let tail = if self.supervised.is_empty() { 25 } else { 60 };
            for l in &lines[lines.len().saturating_sub(tail)..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for (_, mut c) in self.procs.lock().unwrap().drain() {
            // A supervising orchestrator is asked to stop, so it stops its zones
            // rather than leave them orphaned.
            if !self.supervised.is_empty() {
                use nix::sys::signal::{Signal, kill};
                let _ = kill(nix::unistd::Pid::from_raw(c.id() as i32), Signal::SIGTERM);
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The items player `i` owns in a test: unique, so a duplicate or a loss shows.
pub use arcane_tools::chaos::{creatures_of, identity, items_of};

/// Gives a freshly logged-in player (owned by `zone`) its test state: a position just
/// west of the border, 150 HP, and unique items.
pub async fn seed(store: &Store, zone: &str, player: u64, i: u64) {
    seed_at(store, zone, player, i, (90.0, 10.0 + (i % 16) as f32 * 5.0)).await;
}

/// [`seed`], at `at`.
pub async fn seed_at(store: &Store, zone: &str, player: u64, i: u64, at: (f32, f32)) {
    let owner = store.owner(player).await.unwrap().unwrap();
    assert_eq!(owner.zone, zone);
    let state = SavedPlayer {
        x: at.0,
        y: at.1,
        hp: 150,
        mana: 50,
        inventory: items_of(i),
        creatures: creatures_of(i),
    };
    assert!(
        store
            .write_player_state(player, &owner, &state)
            .await
            .unwrap()
    );
}

/// Checks that `player` is owned by `zone`, is in that zone's roster and no other's,
/// has exactly `items`, and has no transfer left pending.
pub async fn check_one_owner(world: &World, name: &str, player: u64, zone: &str, i: u64) {
    let store = world.store().await;
    let owner = store.owner(player).await.unwrap().unwrap();
    assert_eq!(owner.zone, zone, "{name}: owner");
    let record = store.player(player).await.unwrap().unwrap();
    assert_eq!(record.inventory, items_of(i), "{name}: items");
    let held: Vec<_> = record.creatures.iter().map(identity).collect();
    let want = creatures_of(i);
    assert_eq!(
        held,
        want.iter().map(identity).collect::<Vec<_>>(),
        "{name}: creatures"
    );
    assert!(
        store
            .pending_handoffs(Some(player), u64::MAX)
            .await
            .unwrap()
            .is_empty(),
        "{name}: a transfer is still pending"
    );
    // The roster is republished at the end of a tick; give it a moment.
    let start = Instant::now();
    loop {
        let rosters = world.rosters().await;
        let present: Vec<&String> = rosters
            .iter()
            .filter(|(_, ids)| ids.contains(&player))
            .map(|(z, _)| z)
            .collect();
        if present == [zone] {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{name} (player {player}) is in {present:?}, expected only {zone}: {rosters:?}\n{}",
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How a traveller's trip went.
#[derive(Debug, Default)]
pub struct Trip {
    pub welcomes: u32,
    pub redirects: u32,
    pub relogins: u32,
    /// HP the destination zone reported for the player.
    pub hp: u32,
}

/// Logs `name` in (it starts in `west`), gives it player `i`'s items just west of the
/// border, and returns its journey east (run it to travel): the name, player id,
/// index, the connected client and how the trip went.
pub async fn set_off<'a>(
    world: &'a World,
    store: &Store,
    name: String,
    i: u64,
    go: tokio::sync::watch::Receiver<bool>,
) -> impl std::future::Future<Output = (String, u64, u64, Client, Trip)> + 'a {
    let l = world.login(&name).await;
    assert_eq!(l.zone_id, "west");
    seed(store, "west", l.player_id, i).await;
    async move {
        let (client, trip) = travel(world, &name, (l.endpoint, l.ticket), "east", go).await;
        (name, l.player_id, i, client, trip)
    }
}

/// Connects with `first` (endpoint, ticket), waits for `go`, then walks east until
/// `want` welcomes the player; follows redirects and logs in again whenever a zone is
/// gone or says it does not own the player. Returns the connected client.
pub async fn travel(
    world: &World,
    name: &str,
    first: (String, String),
    want: &str,
    go: tokio::sync::watch::Receiver<bool>,
) -> (Client, Trip) {
    journey(world, name, Start::Ticket(first.0, first.1), want, 127, go).await
}

/// Where a journey begins.
pub enum Start {
    /// Not connected yet: join with this (endpoint, ticket).
    Ticket(String, String),
    /// Already in a zone: start walking from there.
    Connected(Box<Client>),
}

/// [`travel`], from `start`, walking along x in the direction of `dir_x`.
pub async fn journey(
    world: &World,
    name: &str,
    start: Start,
    want: &str,
    dir_x: i8,
    mut go: tokio::sync::watch::Receiver<bool>,
) -> (Client, Trip) {
    let mut trip = Trip::default();
    let (mut next, mut carried) = match start {
        Start::Ticket(endpoint, ticket) => (Some((endpoint, ticket)), None),
        Start::Connected(client) => (None, Some(*client)),
    };
    let begun = Instant::now();
    loop {
        assert!(
            begun.elapsed() < Duration::from_secs(90),
            "{name} never reached {want}: {trip:?}\n{}",
            world.logs()
        );
        let mut client = match carried.take() {
            Some(c) => c,
            None => {
                let (endpoint, ticket) = match next.take() {
                    Some(n) => n,
                    None => {
                        trip.relogins += 1;
                        let l = world.login(name).await;
                        (l.endpoint, l.ticket)
                    }
                };
                let Ok(mut client) = Client::join(&endpoint, &ticket, ClientTier::Desktop).await
                else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
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
                    continue;
                };
                trip.welcomes += 1;
                if welcome.zone_id == want {
                    let mut view = ClientView::new();
                    loop {
                        match tokio::time::timeout(Duration::from_secs(10), client.recv()).await {
                            Ok(Incoming::Message(ServerMessage::Snapshot(s), _)) => {
                                if view.apply(&s).is_ok()
                                    && let Some(own) = view.own()
                                {
                                    trip.hp = own.hp;
                                    return (client, trip);
                                }
                            }
                            Ok(Incoming::Message(..)) => {}
                            other => panic!("{name} lost {want} before a snapshot: {other:?}"),
                        }
                    }
                }
                client
            }
        };
        let _ = go.wait_for(|g| *g).await;
        // Walk, acking snapshots, until redirected or dropped.
        let mut seq = 0u32;
        let mut view = ClientView::new();
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        // After a stall, skip the missed sends instead of bursting them (as PROTOCOL.md
        // asks of clients): a burst overflows the zone's input queue, each overflow is a
        // flood violation, and enough of them on a loaded CI machine got clients kicked.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        next = loop {
            tokio::select! {
                _ = tick.tick() => {
                    seq += 1;
                    let msgs = [
                        ClientMessage::Input(MoveInput { seq, dir_x, dir_y: 0 }),
                        ClientMessage::Ack { snapshot_id: view.current_id() },
                    ];
                    if client.send(&msgs).await.is_err() {
                        break None;
                    }
                }
                m = client.recv() => match m {
                    Incoming::Message(ServerMessage::Redirect(r), _) => {
                        trip.redirects += 1;
                        break (!r.endpoint.is_empty()).then_some((r.endpoint, r.ticket));
                    }
                    Incoming::Message(ServerMessage::Snapshot(s), _) => {
                        let _ = view.apply(&s);
                    }
                    Incoming::Message(..) => {}
                    Incoming::Malformed(e) => panic!("{name}: malformed frame {e}"),
                    Incoming::Closed(_) => break None,
                }
            }
        };
    }
}
