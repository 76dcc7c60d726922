//! The orchestrator's HTTP/JSON API (axum): player login with placement and a signed
//! join ticket, and the zone registry (register, heartbeat, list).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arcane_protocol::ticket::{Role, TicketClaims, TicketKey};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::auth::AuthError;
use crate::failpoint::failpoint;
use crate::now_ms;
use crate::placement::{Choice, choose, instance_id, party_key, template_of};
use crate::shared::{SharedState, ZoneInfo, ZoneLoad, ZoneStatus};
use crate::store::{Handoff, HandoffStatus, PlayerRecord, Store};
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
}

/// Longest wait for a zone the orchestrator opened (an overflow copy, an instance)
/// to register and heartbeat.
pub const OPEN_WAIT: Duration = Duration::from_secs(20);

/// Pending transfers older than this are finished by the orchestrator itself (their
/// source zone died or lost touch): committed, or aborted when the target is gone.
pub const ROLL_FORWARD_AFTER: Duration = Duration::from_secs(10);

/// Shared by every request.
pub struct Orchestrator<S> {
    pub store: Store,
    pub shared: S,
    pub key: TicketKey,
    pub config: ApiConfig,
    pub supervisor: Box<dyn Supervisor>,
    pub metrics: crate::metrics::OrchestratorMetrics,
    /// Who is logging in (development names, or an identity provider's JWT).
    pub identity: crate::auth::IdentityProvider,
    started: std::time::Instant,
}

impl<S: SharedState> Orchestrator<S> {
    /// An orchestrator whose zones are started by someone else.
    pub fn new(store: Store, shared: S, config: ApiConfig) -> Self {
        Orchestrator {
            store,
            shared,
            key: TicketKey::new(&config.ticket_secret),
            config,
            supervisor: Box::new(NoSupervisor),
            metrics: crate::metrics::OrchestratorMetrics::new(),
            identity: crate::auth::IdentityProvider::Dev,
            started: std::time::Instant::now(),
        }
    }

    /// True once zones have had time to register after this orchestrator started.
    fn registry_warm(&self) -> bool {
        self.started.elapsed() >= self.config.registry_warmup
    }

    /// Starts zones (overflow copies, instances) through `supervisor`.
    pub fn with_supervisor(mut self, supervisor: impl Supervisor) -> Self {
        self.supervisor = Box::new(supervisor);
        self
    }

    /// Authenticates logins with `identity` instead of development names.
    pub fn with_identity(mut self, identity: crate::auth::IdentityProvider) -> Self {
        self.identity = identity;
        self
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    /// Development authentication: the player name (ignored when the orchestrator
    /// verifies identity-provider tokens).
    #[serde(default)]
    pub name: String,
    /// Players logging in with the same party are kept together: placed in the same
    /// copy of a zone and sent into the same instance.
    #[serde(default)]
    pub party: Option<String>,
    /// The identity provider's JWT, required when the orchestrator is configured with
    /// one (`--jwt-secret` or `--jwt-public-key`); the player is its `sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginResponse {
    pub player_id: u64,
    pub zone_id: String,
    pub endpoint: String,
    pub ticket: String,
    pub expires_unix: u64,
    /// The zone's QUIC endpoint (`quic://host:port?sha256=…`); empty when it serves
    /// WebSocket only.
    #[serde(default)]
    pub quic_endpoint: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heartbeat {
    pub zone_id: String,
    pub load: ZoneLoad,
}

/// `POST /v1/transfers`: the source zone asks for a recorded handoff to be carried out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferRequest {
    pub transfer_id: String,
}

/// Where the transferred player goes (also the answer to a repeated request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferResponse {
    pub zone_id: String,
    /// Empty when the target zone is not up right now: the client logs in again.
    pub endpoint: String,
    pub ticket: String,
    pub expires_unix: u64,
    #[serde(default)]
    pub quic_endpoint: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deregister {
    pub zone_id: String,
}

#[derive(Debug, Serialize)]
struct ApiError {
    error: String,
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(ApiError { error: msg.into() })).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!("request failed: {e}");
    error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Why a request could not be served.
#[derive(Debug)]
pub enum Refused {
    /// Try again later (503).
    Unavailable(String),
    Internal(String),
}

impl Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Unavailable(m) => error(StatusCode::SERVICE_UNAVAILABLE, m),
            Refused::Internal(m) => internal(m),
        }
    }
}

fn int(e: impl std::fmt::Display) -> Refused {
    Refused::Internal(e.to_string())
}

impl<S: SharedState> Orchestrator<S> {
    async fn zones_now(&self) -> Result<Vec<ZoneStatus>, Refused> {
        let timeout = self.config.heartbeat_timeout.as_millis() as u64;
        self.shared.zones(now_ms(), timeout).await.map_err(int)
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
        let me = format!("{:x}", crate::random_token());
        let ttl = self.config.placement_ttl.as_millis() as u64;
        let claimant = self
            .shared
            .claim(&format!("open:{id}"), &me, ttl)
            .await
            .map_err(int)?;
        let opening = claimant == me;
        if opening {
            tracing::info!(zone = %id, template = %spec.template, "opening zone");
            if let Err(e) = self.supervisor.start(spec) {
                let _ = self.shared.release(&format!("open:{id}")).await;
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

    /// The zone a transfer's player goes to: the target zone or a copy of it below its
    /// overflow threshold, or the party's instance (opened when `may_open`).
    async fn resolve_target(&self, h: &Handoff, may_open: bool) -> Result<String, Refused> {
        let zones = self.zones_now().await?;
        if let Some(template) = h.target.strip_prefix("instance:") {
            let party = self
                .store
                .player(h.player_id)
                .await
                .map_err(int)?
                .and_then(|p| p.party);
            let id = instance_id(template, &party_key(party.as_deref(), h.player_id));
            if zones.iter().any(|z| z.info.zone_id == id && z.up) {
                return Ok(id);
            }
            if !may_open {
                return Err(Refused::Unavailable(format!("instance {id} is not open")));
            }
            let spec = ZoneSpec {
                zone_id: id.clone(),
                template: template.to_string(),
                close_after_empty: None,
            };
            if self.open_zone(spec).await? {
                self.metrics.instances_opened.inc();
            }
            return Ok(id);
        }
        let Some(target) = h.target.strip_prefix("zone:") else {
            return Err(Refused::Internal(format!(
                "bad transfer target {:?}",
                h.target
            )));
        };
        // A zone never receives its own players back: a draining zone evacuating to
        // its own map goes to another copy, opened when none is running.
        let evacuating = template_of(&h.from_zone) == template_of(target);
        let others: Vec<ZoneStatus> = zones
            .iter()
            .filter(|z| z.info.zone_id != h.from_zone)
            .cloned()
            .collect();
        let choice = match choose(&others, target, true) {
            Choice::Unavailable(_) if evacuating => {
                Choice::OpenCopy(crate::placement::free_copy_id(&zones, template_of(target)))
            }
            c => c,
        };
        let zones = others;
        match choice {
            Choice::Zone(z) => Ok(z),
            Choice::OpenCopy(id) if may_open => {
                let spec = ZoneSpec {
                    zone_id: id.clone(),
                    template: template_of(target).to_string(),
                    close_after_empty: Some(COPY_CLOSE_AFTER_EMPTY),
                };
                match self.open_zone(spec).await {
                    Ok(opened) => {
                        if opened {
                            self.metrics.copies_opened.inc();
                        }
                        Ok(id)
                    }
                    // No supervisor: squeeze into the target while it has room.
                    Err(e) => match zones.iter().find(|z| z.info.zone_id == target) {
                        Some(z) if z.up && z.load.players < z.info.capacity => {
                            Ok(target.to_string())
                        }
                        _ => Err(e),
                    },
                }
            }
            // The target is registered but down (restarting): commit anyway, so the
            // transfer completes; the player logs in again once it is back.
            _ if zones.iter().any(|z| z.info.zone_id == target) => Ok(target.to_string()),
            Choice::OpenCopy(_) | Choice::Unavailable(_) => Err(Refused::Unavailable(format!(
                "zone {target} is not running"
            ))),
        }
    }

    /// Carries out a recorded transfer: resolves the target, commits (ownership CAS
    /// plus the player's new state, in one transaction) or aborts it. Idempotent.
    /// Returns the transferred player and the outcome.
    pub async fn finish_transfer(
        &self,
        transfer_id: &str,
        may_open: bool,
    ) -> Result<(u64, HandoffStatus), Refused> {
        let Some((h, status)) = self.store.handoff(transfer_id).await.map_err(int)? else {
            return Err(Refused::Unavailable(format!("no transfer {transfer_id}")));
        };
        if status != HandoffStatus::Pending {
            return Ok((h.player_id, status));
        }
        failpoint("orch.commit").await;
        let started = std::time::Instant::now();
        let outcome = match self.resolve_target(&h, may_open).await {
            Ok(to) => self
                .store
                .commit_handoff(transfer_id, &to)
                .await
                .map_err(int)?,
            Err(Refused::Unavailable(why)) if !self.registry_warm() => {
                return Err(Refused::Unavailable(format!(
                    "{why} (zones are still registering; try again)"
                )));
            }
            Err(Refused::Unavailable(why)) => {
                tracing::info!(transfer = transfer_id, "transfer aborted: {why}");
                self.store.abort_handoff(transfer_id).await.map_err(int)?
            }
            Err(e) => return Err(e),
        };
        self.metrics.transfer(&outcome, started.elapsed());
        if let HandoffStatus::Committed { to_zone, epoch } = &outcome {
            tracing::info!(transfer = transfer_id, player = h.player_id, from = %h.from_zone, to = %to_zone, epoch, "transfer committed");
            failpoint("orch.committed").await;
        }
        Ok((h.player_id, outcome))
    }

    fn mint(&self, player_id: u64, zone_id: &str) -> (String, u64) {
        let expires_unix = now_ms() / 1000 + self.config.ticket_ttl.as_secs().max(1);
        let ticket = self.key.mint(&TicketClaims {
            player_id,
            zone_id: zone_id.to_string(),
            role: Role::Player,
            expires_unix,
        });
        (ticket, expires_unix)
    }

    /// Places a logged-in player: finishes a transfer it was in the middle of, then
    /// sends it to the zone that owns it, or moves ownership to a copy of the same map
    /// when that zone is down or full (opening one when all are past their threshold).
    /// Ownership only moves by compare-and-set, so replicas racing on one player agree.
    pub async fn place(&self, player: &PlayerRecord) -> Result<(String, Endpoints), Refused> {
        let pending = self
            .store
            .pending_handoffs(Some(player.id), u64::MAX)
            .await
            .map_err(int)?;
        for h in pending {
            self.finish_transfer(&h.transfer_id, true).await?;
        }
        for _ in 0..4 {
            let owner = self
                .store
                .owner(player.id)
                .await
                .map_err(int)?
                .ok_or_else(|| Refused::Internal(format!("player {} has no owner", player.id)))?;
            let zones = self.zones_now().await?;
            let registered = zones.iter().any(|z| z.info.zone_id == owner.zone);
            let mut choice = choose(&zones, &owner.zone, false);
            if matches!(&choice, Choice::Zone(z) if *z != owner.zone)
                || matches!(choice, Choice::OpenCopy(_))
            {
                // Moving to a copy: the copy the player's party is in, when it has room.
                if let Some(z) = self.party_copy(player, &owner.zone, &zones).await? {
                    choice = Choice::Zone(z);
                }
            }
            let to = match choice {
                Choice::Zone(z) => z,
                Choice::OpenCopy(id) => {
                    let spec = ZoneSpec {
                        zone_id: id.clone(),
                        template: template_of(&owner.zone).to_string(),
                        close_after_empty: Some(COPY_CLOSE_AFTER_EMPTY),
                    };
                    if self.open_zone(spec).await? {
                        self.metrics.copies_opened.inc();
                    }
                    id
                }
                Choice::Unavailable(why) => {
                    // A closed copy or instance is gone for good: a copy's players go
                    // back to the map's main zone, an instance's to the start.
                    if registered || !owner.zone.contains('~') || !self.registry_warm() {
                        return Err(Refused::Unavailable(why));
                    }
                    let template = template_of(&owner.zone);
                    let is_copy = zones.iter().any(|z| z.info.zone_id == template);
                    let (to, relocate) = if is_copy {
                        (template.to_string(), None)
                    } else {
                        (
                            self.config.start_zone.clone(),
                            Some(self.config.start_position),
                        )
                    };
                    self.store
                        .move_owner(player.id, &owner, &to, relocate)
                        .await
                        .map_err(int)?;
                    continue;
                }
            };
            if to != owner.zone {
                let moved = self.store.move_owner(player.id, &owner, &to, None);
                if moved.await.map_err(int)?.is_none() {
                    // Another replica (or a transfer) moved the player first; look again.
                    continue;
                }
                tracing::info!(player = player.id, from = %owner.zone, %to, "player moved to another copy");
            }
            let zones = self.zones_now().await?;
            let endpoints = Endpoints::of(&zones, &to, false);
            return Ok((to, endpoints));
        }
        Err(Refused::Unavailable(
            "the player is moving between zones; try again".into(),
        ))
    }
}

impl<S: SharedState> Orchestrator<S> {
    /// A running copy of `owner`'s map with room that owns a member of the player's
    /// party, if any.
    async fn party_copy(
        &self,
        player: &PlayerRecord,
        owner: &str,
        zones: &[ZoneStatus],
    ) -> Result<Option<String>, Refused> {
        let Some(party) = &player.party else {
            return Ok(None);
        };
        let theirs = self.store.party_zones(party).await.map_err(int)?;
        Ok(zones
            .iter()
            .find(|z| {
                z.up && !z.info.instance
                    && z.info.zone_id != owner
                    && z.info.template() == template_of(owner)
                    && z.load.players < z.info.capacity
                    && theirs.contains(&z.info.zone_id)
            })
            .map(|z| z.info.zone_id.clone()))
    }
}

/// Where clients reach a zone (empty strings when it is not in the registry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    pub ws: String,
    pub quic: String,
}

impl Endpoints {
    /// `zone_id`'s endpoints in `zones` (only while it is up, with `up_only`).
    fn of(zones: &[ZoneStatus], zone_id: &str, up_only: bool) -> Self {
        zones
            .iter()
            .find(|z| z.info.zone_id == zone_id && (z.up || !up_only))
            .map(|z| Endpoints {
                ws: z.info.endpoint.clone(),
                quic: z.info.quic_endpoint.clone(),
            })
            .unwrap_or_default()
    }
}

/// Overflow copies close after being empty this long.
pub const COPY_CLOSE_AFTER_EMPTY: Duration = Duration::from_secs(60);

async fn login<S: SharedState>(
    State(o): State<Arc<Orchestrator<S>>>,
    Json(req): Json<LoginRequest>,
) -> Response {
    let name = match o.identity.authenticate(&req) {
        Ok(n) => n,
        Err(e) => {
            o.metrics.login("refused");
            let status = match e {
                AuthError::BadRequest(_) => StatusCode::BAD_REQUEST,
                AuthError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            };
            return error(status, e.to_string());
        }
    };
    let c = &o.config;
    let mut player = match o
        .store
        .login(&name, &c.start_zone, c.start_position, c.start_vitals)
        .await
    {
        Ok(p) => p,
        Err(e) => return internal(e),
    };
    if req.party != player.party {
        if let Err(e) = o.store.set_party(player.id, req.party.as_deref()).await {
            return internal(e);
        }
        player.party = req.party.clone();
    }
    let (zone_id, Endpoints { ws: endpoint, quic }) = match o.place(&player).await {
        Ok(p) => p,
        Err(e) => {
            o.metrics.login("unavailable");
            return e.into_response();
        }
    };
    if endpoint.is_empty() {
        o.metrics.login("unavailable");
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("zone {zone_id} is not running; try again"),
        );
    }
    o.metrics.login("ok");
    let (ticket, expires_unix) = o.mint(player.id, &zone_id);
    Json(LoginResponse {
        player_id: player.id,
        zone_id,
        endpoint,
        ticket,
        expires_unix,
        quic_endpoint: quic,
    })
    .into_response()
}

async fn transfer<S: SharedState>(
    State(o): State<Arc<Orchestrator<S>>>,
    Json(req): Json<TransferRequest>,
) -> Response {
    let (player_id, outcome) = match o.finish_transfer(&req.transfer_id, true).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    match outcome {
        HandoffStatus::Committed { to_zone, .. } => {
            let endpoints = match o.zones_now().await {
                Ok(zones) => Endpoints::of(&zones, &to_zone, true),
                Err(e) => return e.into_response(),
            };
            let (ticket, expires_unix) = o.mint(player_id, &to_zone);
            Json(TransferResponse {
                zone_id: to_zone,
                endpoint: endpoints.ws,
                ticket,
                expires_unix,
                quic_endpoint: endpoints.quic,
            })
            .into_response()
        }
        HandoffStatus::Aborted => error(StatusCode::CONFLICT, "transfer aborted"),
        HandoffStatus::Pending => error(StatusCode::SERVICE_UNAVAILABLE, "transfer pending"),
    }
}

/// Finishes transfers whose source zone stopped asking (it died or lost touch), so no
/// player stays frozen in a handoff record. Runs until the task is dropped.
pub async fn roll_forward<S: SharedState>(o: Arc<Orchestrator<S>>) {
    let mut every = tokio::time::interval(Duration::from_secs(2));
    loop {
        every.tick().await;
        let before = now_ms().saturating_sub(ROLL_FORWARD_AFTER.as_millis() as u64);
        let pending = match o.store.pending_handoffs(None, before).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("cannot list pending transfers: {e}");
                continue;
            }
        };
        for h in pending {
            match o.finish_transfer(&h.transfer_id, false).await {
                Ok((_, s)) => tracing::info!(transfer = %h.transfer_id, "rolled forward: {s:?}"),
                Err(e) => tracing::warn!(transfer = %h.transfer_id, "roll forward failed: {e:?}"),
            }
        }
    }
}

async fn register<S: SharedState>(
    State(o): State<Arc<Orchestrator<S>>>,
    Json(info): Json<ZoneInfo>,
) -> Response {
    if info.zone_id.is_empty() || info.capacity == 0 {
        return error(
            StatusCode::BAD_REQUEST,
            "zone_id and a positive capacity are required",
        );
    }
    tracing::info!(zone = %info.zone_id, endpoint = %info.endpoint, "zone registered");
    match o.shared.register(info, now_ms()).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => internal(e),
    }
}

async fn heartbeat<S: SharedState>(
    State(o): State<Arc<Orchestrator<S>>>,
    Json(hb): Json<Heartbeat>,
) -> Response {
    match o.shared.heartbeat(&hb.zone_id, hb.load, now_ms()).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, "unknown zone; register first"),
        Err(e) => internal(e),
    }
}

async fn zones<S: SharedState>(State(o): State<Arc<Orchestrator<S>>>) -> Response {
    let timeout = o.config.heartbeat_timeout.as_millis() as u64;
    match o.shared.zones(now_ms(), timeout).await {
        Ok(z) => Json(z).into_response(),
        Err(e) => internal(e),
    }
}

async fn deregister<S: SharedState>(
    State(o): State<Arc<Orchestrator<S>>>,
    Json(d): Json<Deregister>,
) -> Response {
    tracing::info!(zone = %d.zone_id, "zone closed");
    let key = format!("open:{}", d.zone_id);
    match (
        o.shared.deregister(&d.zone_id).await,
        o.shared.release(&key).await,
    ) {
        (Ok(()), Ok(())) => StatusCode::NO_CONTENT.into_response(),
        (Err(e), _) | (_, Err(e)) => internal(e),
    }
}

async fn metrics<S: SharedState>(State(o): State<Arc<Orchestrator<S>>>) -> Response {
    if let Ok(zones) = o.zones_now().await {
        o.metrics.observe_zones(&zones);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        o.metrics.encode(),
    )
        .into_response()
}

/// Ready when the database and the shared state both answer within a second.
async fn readyz<S: SharedState>(State(o): State<Arc<Orchestrator<S>>>) -> Response {
    let within = Duration::from_secs(1);
    let db = tokio::time::timeout(within, o.store.ping()).await;
    let shared = tokio::time::timeout(within, o.shared.zones(now_ms(), 0)).await;
    match (db, shared) {
        (Ok(Ok(())), Ok(Ok(_))) => (StatusCode::OK, "ready\n").into_response(),
        (Ok(Err(e)), _) => error(StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}")),
        (Err(_), _) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "database: no answer in 1 s",
        ),
        (_, Ok(Err(e))) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("shared state: {e}"),
        ),
        (_, Err(_)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shared state: no answer in 1 s",
        ),
    }
}

/// The API routes over `state`.
pub fn router<S: SharedState>(state: Arc<Orchestrator<S>>) -> Router {
    Router::new()
        .route("/v1/login", post(login::<S>))
        .route("/v1/zones", get(zones::<S>))
        .route("/v1/zones/register", post(register::<S>))
        .route("/v1/zones/heartbeat", post(heartbeat::<S>))
        .route("/v1/zones/deregister", post(deregister::<S>))
        .route("/v1/transfers", post(transfer::<S>))
        .route("/metrics", get(metrics::<S>))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/livez", get(|| async { "alive\n" }))
        .route("/readyz", get(readyz::<S>))
        .with_state(state)
}

/// Serves the API on `listener` until the future completes.
pub async fn serve<S: SharedState>(
    listener: tokio::net::TcpListener,
    state: Arc<Orchestrator<S>>,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}

/// Binds `addr` and serves in the background; returns the bound address.
pub async fn spawn<S: SharedState>(
    addr: SocketAddr,
    state: Arc<Orchestrator<S>>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let sweeper = tokio::spawn(roll_forward(state.clone()));
        let served = serve(listener, state).await;
        sweeper.abort();
        if let Err(e) = served {
            tracing::error!("orchestrator API stopped: {e}");
        }
    });
    Ok((bound, task))
}
