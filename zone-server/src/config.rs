//! Zone server configuration: command-line flags with environment fallbacks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Development ticket secret used when none is configured. Never use it in production:
/// the server logs a warning when it is in effect.
pub use arcane_protocol::ticket::DEV_TICKET_SECRET;

/// Development control secret (see `arcane_service::control_auth`).
pub use arcane_service::control_auth::DEV_CONTROL_SECRET;

#[derive(Debug, Clone, clap::Args)]
pub struct ZoneServerConfig {
    /// Address for WebSocket clients (port 0 picks a free port).
    #[arg(long, env = "ARCANE_WS_ADDR", default_value = "127.0.0.1:7777")]
    pub ws_addr: SocketAddr,
    /// UDP address for QUIC clients (port 0 picks a free port).
    #[arg(long, env = "ARCANE_QUIC_ADDR", default_value = "127.0.0.1:7778")]
    pub quic_addr: SocketAddr,
    /// Serve QUIC as well as WebSocket (`--quic false` for WebSocket only).
    #[arg(long, env = "ARCANE_QUIC", default_value_t = true, action = clap::ArgAction::Set)]
    pub quic: bool,
    /// TLS certificate chain (PEM) for QUIC and for WebSocket, which then serves
    /// `wss://` (browsers on https pages need it). Without it QUIC makes a self-signed
    /// certificate at start and advertises its SHA-256 for clients to pin, and
    /// WebSocket serves plain `ws://`.
    #[arg(long, env = "ARCANE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of `--tls-cert`.
    #[arg(long, env = "ARCANE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The QUIC endpoint clients are told to use (default: `quic://` + the bound
    /// `--quic-addr`, with the dev certificate's hash).
    #[arg(long, env = "ARCANE_PUBLIC_QUIC_ENDPOINT")]
    pub public_quic_endpoint: Option<String>,
    /// Frames a connection may send per second (the same number again as a burst);
    /// frames beyond it are dropped and counted (`arcane_rate_limited_frames_total`).
    #[arg(long, env = "ARCANE_MAX_FRAMES_PER_SECOND", default_value_t = 120)]
    pub max_frames_per_second: u32,
    /// On SIGTERM, how long the zone may take to hand its players to other copies of
    /// its map (through the orchestrator) before it saves whoever is left, closes
    /// their connections and exits. Keep it below the pod's termination grace period.
    #[arg(long, env = "ARCANE_DRAIN_GRACE", default_value = "20s", value_parser = humantime::parse_duration)]
    pub drain_grace: Duration,
    /// Run as an Agones game server: mark Ready as a standby server through the SDK
    /// sidecar, ping Health, wait for the orchestrator to allocate this server with a
    /// zone (which overrides `--zone`, `--zone-id` and the public endpoints), and ask
    /// for Shutdown on exit.
    #[arg(long, env = "ARCANE_AGONES")]
    pub agones: bool,
    /// Address for /metrics and /healthz.
    #[arg(long, env = "ARCANE_ADMIN_ADDR", default_value = "127.0.0.1:9100")]
    pub admin_addr: SocketAddr,
    /// Content folder (netcode.ron, zones/).
    #[arg(long, env = "ARCANE_CONTENT", default_value = "content")]
    pub content: PathBuf,
    /// Which zone of the content folder to run.
    #[arg(long, env = "ARCANE_ZONE", default_value = "meadow")]
    pub zone: String,
    /// Seed of the zone's random streams.
    #[arg(long, env = "ARCANE_SEED", default_value_t = 1)]
    pub seed: u64,
    /// HMAC secret that join tickets are signed with.
    #[arg(long, env = "ARCANE_TICKET_SECRET", default_value = DEV_TICKET_SECRET, hide_env_values = true)]
    pub ticket_secret: String,
    /// The secret the orchestrator's internal API checks this zone's calls with
    /// (HMAC-SHA256); the orchestrator's `--control-secret`.
    #[arg(long, env = "ARCANE_CONTROL_SECRET", default_value = DEV_CONTROL_SECRET, hide_env_values = true)]
    pub control_secret: String,
    /// Most simultaneous connections (handshaking or playing).
    #[arg(long, env = "ARCANE_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed.
    #[arg(long, env = "ARCANE_HEARTBEAT_TIMEOUT", default_value = "15s", value_parser = humantime::parse_duration)]
    pub heartbeat_timeout: Duration,
    /// Kernel send buffer per connection (bytes; Linux doubles it). Small on purpose:
    /// a stalled client should not have seconds of stale snapshots queued in the
    /// kernel; once it is full the outbox replaces unsent snapshots and, if the client
    /// stays behind, closes it as `SlowClient`.
    #[arg(long, env = "ARCANE_SEND_BUFFER", default_value_t = 16 * 1024)]
    pub send_buffer: usize,
    /// Time allowed for the WebSocket upgrade and the Hello.
    #[arg(long, env = "ARCANE_HANDSHAKE_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub handshake_timeout: Duration,
    /// Watch the content folder and apply valid changes at the next tick boundary
    /// (`--watch-content false` to pin the content a zone started with).
    #[arg(long, env = "ARCANE_WATCH_CONTENT", default_value_t = true, action = clap::ArgAction::Set)]
    pub watch_content: bool,
    /// Orchestrator to register with and heartbeat to (`http://host:port`); the zone
    /// runs standalone when unset.
    #[arg(long, env = "ARCANE_ORCHESTRATOR_URL")]
    pub orchestrator: Option<String>,
    /// Run the content zone `--zone` under this id (an overflow copy or an instance,
    /// `meadow~2`, `crypt~party-red`); default: the content zone's id.
    #[arg(long, env = "ARCANE_ZONE_ID")]
    pub zone_id: Option<String>,
    /// Persist players: load them on join (only players this zone owns), write-behind
    /// checkpoints, logout saves and transfers. `sqlite://file.db` or `postgres://…`.
    /// Without it the zone runs standalone and players start fresh.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Close the zone (deregister and exit cleanly) once it has been empty this long.
    /// Instances take theirs from content (`instance.close_after_empty_s`).
    #[arg(long, env = "ARCANE_CLOSE_AFTER_EMPTY", value_parser = humantime::parse_duration)]
    pub close_after_empty: Option<Duration>,
    /// The WebSocket address clients are told to use (default: `ws://`, or `wss://`
    /// with `--tls-cert`, + the bound `--ws-addr`); set it when clients reach the zone
    /// through another address (a certificate names a host, not `127.0.0.1`).
    #[arg(long, env = "ARCANE_PUBLIC_ENDPOINT")]
    pub public_endpoint: Option<String>,
    /// Journal everything that enters the simulation (joins with their saved state,
    /// inputs, casts, captures, breeds, admin commands, leaves, content reloads, the
    /// seed) and the state's digests under this folder, one run folder per process
    /// start (`<dir>/<zone id>/<start ms>-<pid>/`); `arcane replay` rebuilds the zone
    /// from it. Off when unset.
    #[arg(long, env = "ARCANE_JOURNAL_DIR")]
    pub journal_dir: Option<PathBuf>,
    /// Size at which a journal segment is closed and the next one begun (MiB).
    #[arg(long, env = "ARCANE_JOURNAL_SEGMENT_MB", default_value_t = 64)]
    pub journal_segment_mb: u64,
    /// Journal runs kept per zone id (this one included); older runs are removed
    /// when the zone starts.
    #[arg(long, env = "ARCANE_JOURNAL_KEEP_RUNS", default_value_t = 8)]
    pub journal_keep_runs: usize,
    /// Digest the state every this many ticks (journal and `arcane_state_hash`);
    /// 0 for never.
    #[arg(long, env = "ARCANE_STATE_HASH_EVERY", default_value_t = 1)]
    pub state_hash_every: u32,
    /// Every this many digests, record each entity's row hash too, so a replay can
    /// name the entities that diverged (0 for never).
    #[arg(long, env = "ARCANE_STATE_ROWS_EVERY", default_value_t = 20)]
    pub state_rows_every: u32,
    /// CPU work added to every tick (a busy loop on the tick thread), to rehearse
    /// overload: with more than the tick period the zone must dilate time. For load
    /// drills and tests; `0s` (the default) in production.
    #[arg(long, env = "ARCANE_EXTRA_TICK_WORK", default_value = "0s", value_parser = humantime::parse_duration)]
    pub extra_tick_work: Duration,
    /// Serve plain `ws://` connections with a task each, as `wss://` ones are, instead
    /// of reading and writing them from the tick thread once a tick (the default,
    /// and the cheaper: see docs/notes/2026-12-05-polled-websockets.md).
    #[arg(long, env = "ARCANE_WS_TASKS")]
    pub ws_tasks: bool,
}

impl ZoneServerConfig {
    /// Defaults for tests and the demo: loopback, free ports.
    pub fn local(content: PathBuf, zone: &str) -> Self {
        ZoneServerConfig {
            ws_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            quic_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            quic: true,
            tls_cert: None,
            tls_key: None,
            public_quic_endpoint: None,
            max_frames_per_second: 120,
            drain_grace: Duration::from_secs(20),
            agones: false,
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            content,
            zone: zone.to_string(),
            seed: 1,
            ticket_secret: DEV_TICKET_SECRET.to_string(),
            control_secret: DEV_CONTROL_SECRET.to_string(),
            max_connections: 4096,
            send_buffer: 16 * 1024,
            heartbeat_timeout: Duration::from_secs(15),
            handshake_timeout: Duration::from_secs(5),
            watch_content: true,
            orchestrator: None,
            public_endpoint: None,
            zone_id: None,
            database_url: None,
            close_after_empty: None,
            journal_dir: None,
            journal_segment_mb: 64,
            journal_keep_runs: 8,
            state_hash_every: 1,
            state_rows_every: 20,
            extra_tick_work: Duration::ZERO,
            ws_tasks: false,
        }
    }
}

/// How a zone process runs its I/O threads.
#[derive(Debug, Clone, clap::Args)]
pub struct IoOptions {
    /// Threads serving connections (default: one less than the cores, at least one).
    #[arg(long, env = "ARCANE_IO_THREADS")]
    pub io_threads: Option<usize>,
    /// How long an idle I/O thread pauses before it waits for the network. Clients
    /// send at their own phase of the tick, so without a pause every input frame
    /// wakes the thread by itself (a context switch and a runtime turn each, 20,000
    /// a second at 1,000 clients); with it a wake-up reads all the frames that came
    /// during the pause. It delays a frame by at most this much (inputs wait for
    /// the next tick anyway); the tick's snapshots end it at once. `0s` wakes on
    /// every frame.
    #[arg(long, env = "ARCANE_IO_BATCH", default_value = "1ms", value_parser = humantime::parse_duration)]
    pub io_batch: std::time::Duration,
}
