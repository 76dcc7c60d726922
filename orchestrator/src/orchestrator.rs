//! The state every request shares ([`Orchestrator`]) and what several of them do with
//! it: read the registry, open a zone through the supervisor, mint a ticket.

use std::time::Duration;

use arcane_protocol::ticket::{Role, TicketClaims, TicketKey};
use arcane_service::control_auth::{ControlKey, DEV_CONTROL_SECRET};
use arcane_store::Store;

use crate::auth::IdentityProvider;
use crate::clock::{SharedClock, WallClock};
use crate::metrics::OrchestratorMetrics;
use crate::registry::{ZoneRegistry, ZoneStatus};
use crate::supervisor::{NoSupervisor, Supervisor, ZoneSpec};

/// Tuning of one orchestrator.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub ticket_secret: String,
    /// How long a join ticket is valid.
    pub ticket_ttl: Duration,
    /// A zone silent for longer is down: no new players go there.
    pub heartbeat_timeout: Duration,
    /// How long a claim to open a zone holds (replicas wait for the claimant).
    pub placement_ttl: Duration,
    /// Where new players start.
    pub start_zone: String,
    pub start_position: (f64, f64),
    /// HP and mana a new player starts with.
    pub start_vitals: (u32, u32),
    /// After a start, how long zones get to (re-)register before a zone missing from
    /// the registry counts as gone: until then, transfers to it and logins into it are
    /// answered "try again" instead of aborted or relocated (the in-memory registry
    /// starts empty after a restart).
    pub registry_warmup: Duration,
    /// Browser origins allowed to call the public API from another origin (CORS):
    /// `https://game.example`, or `*` for any. Empty: same-origin pages only (the web
    /// client the orchestrator serves itself needs none).
    pub cors_origins: Vec<String>,
    /// Identities (login names, or JWT subjects) with the admin role: they may open the
    /// zone viewer.
    pub admins: Vec<String>,
}

/// Longest wait for a zone the orchestrator opened (an overflow copy, an instance)
/// to register and heartbeat.
pub const OPEN_WAIT: Duration = Duration::from_secs(20);

/// Overflow copies close after being empty this long.
pub const COPY_CLOSE_AFTER_EMPTY: Duration = Duration::from_secs(60);

/// Shared by every request. Must be created inside a tokio runtime.
pub struct Orchestrator<R> {
    pub store: Store,
    pub registry: R,
    pub key: TicketKey,
    pub config: ApiConfig,
    pub supervisor: Box<dyn Supervisor>,
    pub metrics: OrchestratorMetrics,
    /// Who is logging in (development names, or an identity provider's JWT).
    pub identity: IdentityProvider,
    pub clock: SharedClock,
    /// Verifies the signatures of zones' control calls.
    pub control_key: ControlKey,
    /// Zones' social links and the social layer's limits.
    pub social: crate::links::SocialHub,
    /// When this orchestrator started, on its clock.
    started_ms: u64,
}

/// Why a request could not be served.
#[derive(Debug)]
pub enum Refused {
    /// Try again later (503).
    Unavailable(String),
    /// No such thing (404): a transfer id nobody recorded.
    NotFound(String),
    Internal(String),
}

/// An internal failure of a dependency (the store, the registry).
pub(crate) fn int(e: impl std::fmt::Display) -> Refused {
    Refused::Internal(e.to_string())
}

impl<R: ZoneRegistry> Orchestrator<R> {
    /// An orchestrator whose zones are started by someone else, on the wall clock.
    pub fn new(store: Store, registry: R, config: ApiConfig) -> Self {
        Orchestrator {
            store,
            registry,
            key: TicketKey::new(&config.ticket_secret),
            config,
            supervisor: Box::new(NoSupervisor),
            metrics: OrchestratorMetrics::new(),
            identity: IdentityProvider::Dev,
            clock: std::sync::Arc::new(WallClock),
            control_key: ControlKey::new(DEV_CONTROL_SECRET),
            started_ms: arcane_service::unix_ms(),
            social: crate::links::SocialHub::default(),
        }
    }

    /// Party size, list caps and invitation lifetime.
    pub fn with_social_limits(mut self, limits: crate::links::SocialLimits) -> Self {
        self.social = crate::links::SocialHub::new(limits);
        self
    }

    /// Accepts control calls signed with `secret` (the default is the development
    /// secret, which zones started without one also use).
    pub fn with_control_secret(mut self, secret: &str) -> Self {
        self.control_key = ControlKey::new(secret);
        self
    }

    /// Starts zones (overflow copies, instances) through `supervisor`.
    pub fn with_supervisor(mut self, supervisor: impl Supervisor) -> Self {
        self.supervisor = Box::new(supervisor);
        self
    }

    /// Authenticates logins with `identity` instead of development names.
    pub fn with_identity(mut self, identity: IdentityProvider) -> Self {
        self.identity = identity;
        self
    }

    /// Reads the time from `clock` (tests: a `ManualClock`). The registry's warm-up
    /// starts now on that clock.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.started_ms = clock.unix_ms();
        self.clock = clock;
        self
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.unix_ms()
    }

    /// True once zones have had time to register after this orchestrator started.
    pub(crate) fn registry_warm(&self) -> bool {
        self.now_ms().saturating_sub(self.started_ms)
            >= self.config.registry_warmup.as_millis() as u64
    }

    /// Every registered zone, `up` judged by the heartbeat timeout.
    pub async fn zones_now(&self) -> Result<Vec<ZoneStatus>, Refused> {
        let timeout = self.config.heartbeat_timeout.as_millis() as u64;
        self.registry
            .zones(self.now_ms(), timeout)
            .await
            .map_err(int)
    }

    /// Makes sure `spec` runs and is up: claims the right to open it (so replicas do
    /// not start it twice), asks the supervisor, and waits for it to register. True
    /// when this call started it (it was not running or being opened already).
    pub async fn open_zone(&self, spec: ZoneSpec) -> Result<bool, Refused> {
        let id = spec.zone_id.clone();
        let up = |zones: &[ZoneStatus]| zones.iter().any(|z| z.info.zone_id == id && z.up);
        if up(&self.zones_now().await?) {
            return Ok(false);
        }
        let me = format!("{:x}", arcane_service::random_token());
        let ttl = self.config.placement_ttl.as_millis() as u64;
        let key = format!("open:{id}");
        let claimant = self
            .registry
            .claim(&key, &me, ttl, self.now_ms())
            .await
            .map_err(int)?;
        let opening = claimant == me;
        if opening {
            tracing::info!(zone = %id, template = %spec.template, "opening zone");
            if let Err(e) = self.supervisor.start(spec) {
                let _ = self.registry.release(&key).await;
                return Err(Refused::Unavailable(e.to_string()));
            }
        }
        let deadline = tokio::time::Instant::now() + OPEN_WAIT;
        while tokio::time::Instant::now() < deadline {
            if up(&self.zones_now().await?) {
                return Ok(opening);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(Refused::Unavailable(format!(
            "zone {id} did not come up within {OPEN_WAIT:?}"
        )))
    }

    /// A join ticket for `player_id` into `zone_id`, and when it expires.
    pub(crate) fn mint(&self, player_id: u64, zone_id: &str) -> (String, u64) {
        let expires_unix = self.now_ms() / 1000 + self.config.ticket_ttl.as_secs().max(1);
        let ticket = self.key.mint(&TicketClaims {
            player_id,
            zone_id: zone_id.to_string(),
            role: Role::Player,
            expires_unix,
        });
        (ticket, expires_unix)
    }
}
