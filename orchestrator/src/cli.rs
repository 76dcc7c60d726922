//! The orchestrator's command line, shared by the `orchestrator` binary and
//! `arcane orchestrator`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arcane_protocol::ticket::DEV_TICKET_SECRET;
use arcane_service::control_auth::DEV_CONTROL_SECRET;
use arcane_service::{RetryPolicy, shutdown_signal};
use arcane_store::Store;

use crate::auth::IdentityProvider;
use crate::supervisor::{LocalConfig, LocalSupervisor, ZoneSpec};
use crate::{ApiConfig, MemoryRegistry, Orchestrator, RedisRegistry, Supervisor, ZoneRegistry};

#[derive(Debug, Clone, clap::Args)]
pub struct OrchestratorArgs {
    /// The public API (players' `/v1/login`, probes).
    #[arg(
        long,
        env = "ARCANE_ORCHESTRATOR_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub addr: SocketAddr,
    /// The internal API (zone registry, transfers, `/metrics`, probes): zones and
    /// operators only. Keep it off the public network.
    #[arg(
        long,
        env = "ARCANE_ORCHESTRATOR_INTERNAL_ADDR",
        default_value = "127.0.0.1:8081"
    )]
    pub internal_addr: SocketAddr,
    /// The secret zones sign their control calls with (HMAC-SHA256); the same value
    /// must be given to every zone.
    #[arg(long, env = "ARCANE_CONTROL_SECRET", default_value = DEV_CONTROL_SECRET, hide_env_values = true)]
    pub control_secret: String,
    /// `sqlite://file.db` (created when missing) or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://arcane.db")]
    pub database_url: String,
    /// Shared state in Redis (for several replicas); in memory when unset.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    #[arg(long, env = "ARCANE_TICKET_SECRET", default_value = DEV_TICKET_SECRET, hide_env_values = true)]
    pub ticket_secret: String,
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub ticket_ttl: Duration,
    /// A zone whose last heartbeat is older than this is down (no new players). Zones
    /// beat every second: keep it above two beats, or one late beat marks a zone down.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub heartbeat_timeout: Duration,
    /// Where new players start, and the position and HP/mana they start with.
    #[arg(long, default_value = "meadow")]
    pub start_zone: String,
    #[arg(long, default_value = "125,125", value_parser = parse_point)]
    pub start_position: (f64, f64),
    #[arg(long, default_value = "200,100", value_parser = parse_vitals)]
    pub start_vitals: (u32, u32),
    /// Local mode: zones to start and keep running as child processes (comma
    /// separated content zone ids). Overflow copies and instances are started the same
    /// way on demand. Without it, zones are started by someone else (Kubernetes).
    #[arg(long, value_delimiter = ',')]
    pub zones: Vec<String>,
    /// Kubernetes mode: allocate `--zones`, overflow copies and instances from this
    /// Agones Fleet of standby zone servers instead of running processes.
    #[arg(long, env = "ARCANE_AGONES_FLEET")]
    pub agones_fleet: Option<String>,
    /// The Fleet's namespace (default: this pod's).
    #[arg(long, env = "ARCANE_AGONES_NAMESPACE")]
    pub agones_namespace: Option<String>,
    /// The Kubernetes API to allocate through. Default: inferred, in a pod from its
    /// service account (token and CA), elsewhere from `KUBECONFIG`.
    #[arg(long, env = "ARCANE_KUBE_API")]
    pub kube_api: Option<String>,
    /// The zone-server command for local mode (default: `zone-server` beside this
    /// executable).
    #[arg(long)]
    pub zone_command: Option<PathBuf>,
    /// Arguments placed before the zone's own (e.g. `zone` for `arcane zone`).
    #[arg(long, allow_hyphen_values = true)]
    pub zone_command_arg: Vec<String>,
    /// Verify logins with HS256 JWTs signed with this secret (identity = `sub`).
    /// Without this or `--jwt-public-key`, the name in a login is the identity
    /// (development only).
    #[arg(
        long,
        env = "ARCANE_JWT_SECRET",
        hide_env_values = true,
        conflicts_with = "jwt_public_key"
    )]
    pub jwt_secret: Option<String>,
    /// Verify logins with JWTs signed by the identity provider whose public key (PEM)
    /// is in this file.
    #[arg(long, env = "ARCANE_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,
    /// The signing algorithm of `--jwt-public-key` tokens (RS256, PS256, ES256, EdDSA…).
    #[arg(long, env = "ARCANE_JWT_ALGORITHM", default_value = "RS256", value_parser = parse_algorithm)]
    pub jwt_algorithm: jsonwebtoken::Algorithm,
    /// Required `iss` of tokens (not checked when unset).
    #[arg(long, env = "ARCANE_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` of tokens (not checked when unset).
    #[arg(long, env = "ARCANE_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Content folder passed to the zones it starts.
    #[arg(long, env = "ARCANE_CONTENT", default_value = "content")]
    pub content: PathBuf,
    /// Local mode: where the zone processes are recorded (pid and start time), so an
    /// orchestrator restarted after a crash ends the zones its predecessor left
    /// running before it starts new ones. Default: a folder in the system's temporary
    /// directory named after `--addr`.
    #[arg(long, env = "ARCANE_RUN_DIR")]
    pub run_dir: Option<PathBuf>,
    /// Most members in a party.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..=64))]
    pub party_size: u32,
    /// Most players on one friend, block or mute list.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub social_list_cap: u32,
    /// How long a party invitation stands.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub invite_ttl: Duration,
    /// Browser origins (e.g. `https://game.example`; `*` for any) allowed to call the
    /// public API from pages served elsewhere (CORS). Comma separated.
    #[arg(long, env = "ARCANE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origin: Vec<String>,
    /// Players (login names, or JWT subjects) with the admin role: they may open the
    /// zone viewer at `/viewer/`. Comma separated.
    #[arg(long, env = "ARCANE_ADMINS", value_delimiter = ',')]
    pub admins: Vec<String>,
}

fn parse_point(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s.split_once(',').ok_or("expected x,y")?;
    let p = |v: &str| v.trim().parse::<f64>().map_err(|e| e.to_string());
    Ok((p(a)?, p(b)?))
}

fn parse_algorithm(s: &str) -> Result<jsonwebtoken::Algorithm, String> {
    s.parse().map_err(|_| format!("unknown JWT algorithm {s}"))
}

fn parse_vitals(s: &str) -> Result<(u32, u32), String> {
    let (a, b) = s.split_once(',').ok_or("expected hp,mana")?;
    let p = |v: &str| v.trim().parse::<u32>().map_err(|e| e.to_string());
    Ok((p(a)?, p(b)?))
}

impl OrchestratorArgs {
    pub fn api_config(&self) -> ApiConfig {
        ApiConfig {
            ticket_secret: self.ticket_secret.clone(),
            ticket_ttl: self.ticket_ttl,
            heartbeat_timeout: self.heartbeat_timeout,
            placement_ttl: Duration::from_secs(30),
            start_zone: self.start_zone.clone(),
            start_position: self.start_position,
            start_vitals: self.start_vitals,
            registry_warmup: (self.heartbeat_timeout * 2).max(Duration::from_secs(2)),
            cors_origins: self.cors_origin.clone(),
            admins: self.admins.clone(),
        }
    }

    /// How logins are authenticated.
    pub fn identity(&self) -> anyhow::Result<IdentityProvider> {
        let (iss, aud) = (self.jwt_issuer.as_deref(), self.jwt_audience.as_deref());
        Ok(match (&self.jwt_secret, &self.jwt_public_key) {
            (Some(secret), _) => IdentityProvider::hs256(secret.as_bytes(), iss, aud),
            (None, Some(path)) => IdentityProvider::public_key(path, self.jwt_algorithm, iss, aud)?,
            (None, None) => IdentityProvider::Dev,
        })
    }

    /// The local supervisor's settings, for an orchestrator reachable at `url`.
    pub fn local_config(&self, url: String) -> anyhow::Result<LocalConfig> {
        let program = match &self.zone_command {
            Some(p) => p.clone(),
            None => {
                let exe = std::env::current_exe()?;
                exe.with_file_name(format!("zone-server{}", std::env::consts::EXE_SUFFIX))
            }
        };
        let mut env = vec![
            ("DATABASE_URL".to_string(), self.database_url.clone()),
            (
                "ARCANE_TICKET_SECRET".to_string(),
                self.ticket_secret.clone(),
            ),
            (
                "ARCANE_CONTROL_SECRET".to_string(),
                self.control_secret.clone(),
            ),
        ];
        if let Ok(f) = std::env::var("RUST_LOG") {
            env.push(("RUST_LOG".into(), f));
        }
        Ok(LocalConfig {
            program,
            args: self.zone_command_arg.clone(),
            orchestrator_url: url,
            content: self.content.clone(),
            env,
            restart: RetryPolicy::new(Duration::from_millis(250), Duration::from_secs(10)),
            run_dir: Some(self.run_dir.clone().unwrap_or_else(|| {
                let addr = self.addr.to_string().replace([':', '[', ']'], "_");
                std::env::temp_dir().join(format!("arcane-run-{addr}"))
            })),
        })
    }
}

/// Runs the orchestrator until Ctrl-C or SIGTERM.
pub async fn run(args: OrchestratorArgs) -> anyhow::Result<()> {
    if args.ticket_secret == DEV_TICKET_SECRET {
        tracing::warn!(
            "using the development ticket secret; set ARCANE_TICKET_SECRET in production"
        );
    }
    let store = Store::connect(&args.database_url).await?;
    match args.redis_url.clone() {
        Some(url) => {
            let registry = RedisRegistry::connect(&url, "arcane").await?;
            serve(args, store, registry).await
        }
        None => serve(args, store, MemoryRegistry::default()).await,
    }
}

async fn serve<R: ZoneRegistry>(
    args: OrchestratorArgs,
    store: Store,
    registry: R,
) -> anyhow::Result<()> {
    if args.control_secret == DEV_CONTROL_SECRET {
        tracing::warn!(
            "using the development control secret; set ARCANE_CONTROL_SECRET in production"
        );
    }
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let addr = listener.local_addr()?;
    let internal_listener = tokio::net::TcpListener::bind(args.internal_addr).await?;
    let internal_addr = internal_listener.local_addr()?;
    let identity = args.identity()?;
    if matches!(identity, IdentityProvider::Dev) {
        tracing::warn!(
            "logins are not authenticated (development names); set --jwt-secret or --jwt-public-key in production"
        );
    }
    let mut o = Orchestrator::new(store, registry, args.api_config())
        .with_identity(identity)
        .with_control_secret(&args.control_secret)
        .with_social_limits(crate::links::SocialLimits {
            party_size: args.party_size,
            list_cap: args.social_list_cap,
            invite_ttl: args.invite_ttl,
        });
    // Kept to stop the zones cleanly (SIGTERM, so they save their players) on exit.
    let mut local = None;
    if let Some(fleet) = &args.agones_fleet {
        let namespace = match &args.agones_namespace {
            Some(n) => n.clone(),
            // In a pod, its own namespace.
            None => {
                std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                    .map(|n| n.trim().to_string())
                    .unwrap_or_else(|_| "default".into())
            }
        };
        let config = crate::supervisor::agones::AgonesConfig {
            api_server: args.kube_api.clone(),
            namespace,
            fleet: fleet.clone(),
            retry_for: Duration::from_secs(15),
        };
        o = o.with_supervisor(crate::supervisor::agones::AgonesSupervisor::new(config).await?);
    } else if !args.zones.is_empty() {
        let sup = Arc::new(LocalSupervisor::new(
            args.local_config(format!("http://{internal_addr}"))?,
        ));
        // Zones a killed predecessor left running go first: two processes of one zone
        // must never serve at once.
        let orphans = sup.end_orphans().await;
        if orphans > 0 {
            tracing::warn!(
                orphans,
                "ended zone processes left by a previous orchestrator"
            );
        }
        for z in &args.zones {
            sup.start(ZoneSpec {
                zone_id: z.clone(),
                template: crate::placement::rules::template_of(z).to_string(),
                close_after_empty: None,
                keep_running: true,
            })?;
        }
        o = o.with_supervisor(sup.clone());
        local = Some(sup);
    }
    let state = Arc::new(o);
    tracing::info!(%addr, %internal_addr, "orchestrator listening (public, internal)");
    let sweeper = tokio::spawn(crate::transfers::roll_forward(state.clone()));
    let shared_zones = args.zones.clone();
    let opener = (args.agones_fleet.is_some() && !shared_zones.is_empty())
        .then(|| tokio::spawn(open_shared_zones(state.clone(), shared_zones)));
    let mut api = tokio::spawn(crate::api::serve(listener, internal_listener, state));
    tokio::select! {
        r = &mut api => r??,
        _ = shutdown_signal() => tracing::info!("shutting down"),
    }
    // Zones stop first, while the API still answers their transfers and
    // deregistrations: each drains (to no other copy, as all are going), saves its
    // players and exits.
    if let Some(sup) = local {
        sup.shutdown().await;
    }
    api.abort();
    sweeper.abort();
    if let Some(o) = opener {
        o.abort();
    }
    Ok(())
}

/// Kubernetes mode: keeps every shared zone running. After the registry warm-up
/// (zones still running after an orchestrator restart register again), and every few
/// seconds from then on, allocates each shared zone that is not up (a crashed pod is
/// replaced by a standby one). `open_zone` claims the opening in the shared state, so
/// replicas allocate each zone once.
async fn open_shared_zones<R: ZoneRegistry>(o: Arc<Orchestrator<R>>, zones: Vec<String>) {
    tokio::time::sleep(o.config.registry_warmup).await;
    let mut every = tokio::time::interval(Duration::from_secs(5));
    loop {
        every.tick().await;
        for z in &zones {
            let spec = ZoneSpec {
                zone_id: z.clone(),
                template: crate::placement::rules::template_of(z).to_string(),
                close_after_empty: None,
                keep_running: true,
            };
            match o.open_zone(spec).await {
                Ok(true) => tracing::info!(zone = %z, "shared zone allocated"),
                Ok(false) => {}
                Err(e) => tracing::error!(zone = %z, "cannot open the shared zone: {e:?}"),
            }
        }
    }
}
