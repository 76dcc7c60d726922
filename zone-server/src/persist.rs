//! Write-behind persistence and the source side of zone transfers. The tick thread
//! hands jobs over an unbounded channel and never waits; one task here writes them in
//! order (so a checkpoint taken before a freeze always lands before that player's
//! handoff record), and each transfer then runs in its own task:
//!
//! 1. record the handoff (`store.begin_handoff`, idempotent by transfer id), retried
//!    until the database takes it;
//! 2. ask the orchestrator to carry it out (`POST /v1/transfers`), retried while it is
//!    unreachable (both with jittered backoff) — the orchestrator also rolls forward handoffs nobody asks about;
//! 3. on commit, tell the tick thread to redirect the client; on abort, unfreeze the
//!    player if this zone still owns it, or let it go if it does not.
//!
//! **Invariant:** the tick thread never blocks on the database or the network, and a
//! frozen player is only unfrozen after the orchestrator aborted its handoff.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arcane_control_api::{TransferRequest, TransferResponse, paths};
use arcane_engine::PlayerId;
use arcane_engine::content::ExitTarget;
use arcane_protocol::Redirect;
use arcane_protocol::saved::SavedPlayer;
use arcane_service::{CancellationToken, RetryPolicy, failpoint};
use arcane_store::{Handoff, Store, StoreError, ZoneLease};
use backon::Retryable as _;
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::net::inbound::{ConnId, Inbound};

/// Waits between attempts of a transfer's steps while the database or the
/// orchestrator cannot be reached.
const TRANSFER_RETRY: RetryPolicy =
    RetryPolicy::new(Duration::from_millis(100), Duration::from_secs(2));
/// Waits between the attempts of one checkpoint or logout save.
const SAVE_RETRY: RetryPolicy =
    RetryPolicy::new(Duration::from_millis(200), Duration::from_millis(1600));

/// Work for the persistence task.
pub enum PersistJob {
    /// The periodic checkpoint: (player, owned epoch, state).
    Checkpoint(Vec<(u64, i64, SavedPlayer)>),
    /// A logout's final save (player, epoch, state, and the connection whose join
    /// holds the player: the save clears that hold); retried harder than a checkpoint.
    Logout(u64, i64, SavedPlayer, ConnId),
    /// Clear the hold of a player's join without a save (it left while frozen, and
    /// its aborted handoff wrote its state back).
    Release(u64, ConnId),
    /// Hand a frozen player to another zone.
    Transfer {
        player: u64,
        epoch: i64,
        to: ExitTarget,
        state: SavedPlayer,
    },
}

/// A transfer id unique across attempts and restarts: zone, player, epoch, this
/// process's random nonce and a counter.
fn transfer_id(zone: &str, player: u64, epoch: i64) -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::AtomicU64;
    static NONCE: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nonce = *NONCE.get_or_init(arcane_service::random_token);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{zone}-{player}-e{epoch}-{:08x}-{n}", nonce as u32)
}

/// The tick thread's end of persistence.
#[derive(Clone)]
pub struct PersistHandle {
    jobs: mpsc::UnboundedSender<PersistJob>,
    /// True while a checkpoint batch is queued or being written: the next interval's
    /// batch is skipped rather than queued behind it (memory stays bounded when the
    /// database is slow; the next checkpoint carries newer state anyway).
    checkpoint_busy: Arc<AtomicBool>,
}

impl PersistHandle {
    /// Queues a checkpoint unless one is still being written; false when skipped.
    pub fn checkpoint(&self, batch: Vec<(u64, i64, SavedPlayer)>) -> bool {
        if self.checkpoint_busy.swap(true, Ordering::AcqRel) {
            return false;
        }
        if self.jobs.send(PersistJob::Checkpoint(batch)).is_err() {
            self.checkpoint_busy.store(false, Ordering::Release);
            return false;
        }
        true
    }

    pub fn send(&self, job: PersistJob) -> bool {
        self.jobs.send(job).is_ok()
    }

    /// A handle whose jobs the caller reads (tests play the persistence task).
    #[cfg(test)]
    pub fn detached() -> (PersistHandle, mpsc::UnboundedReceiver<PersistJob>) {
        let (jobs, rx) = mpsc::unbounded_channel();
        let handle = PersistHandle {
            jobs,
            checkpoint_busy: Arc::default(),
        };
        (handle, rx)
    }
}

/// Everything the persistence task needs.
pub struct Persister {
    pub store: Store,
    /// The zone's lease: every write names it, and the store refuses a replaced one.
    pub lease: ZoneLease,
    /// Cancelled when a write was refused as fenced (the zone was taken over).
    pub superseded: CancellationToken,
    /// `http://host:port` of the orchestrator (transfers need one).
    pub orchestrator: Option<String>,
    /// Signs the transfer calls to the orchestrator.
    pub key: arcane_service::control_auth::ControlKey,
    pub inbox: mpsc::Sender<Inbound>,
    pub metrics: Arc<Metrics>,
}

/// Starts the persistence task; returns the tick thread's handle.
pub fn spawn(
    p: Persister,
    shutdown: CancellationToken,
) -> (PersistHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let busy = Arc::new(AtomicBool::new(false));
    let handle = PersistHandle {
        jobs: tx,
        checkpoint_busy: busy.clone(),
    };
    let span = tracing::info_span!("persist", zone = %p.lease.zone_id);
    let task = tokio::spawn(tracing::Instrument::instrument(
        run(Arc::new(p), rx, busy, shutdown),
        span,
    ));
    (handle, task)
}

async fn run(
    p: Arc<Persister>,
    mut jobs: mpsc::UnboundedReceiver<PersistJob>,
    busy: Arc<AtomicBool>,
    shutdown: CancellationToken,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    // Runs until every sender is gone (the tick thread ended), so the final logouts
    // queued at shutdown are still written.
    while let Some(job) = jobs.recv().await {
        match job {
            PersistJob::Checkpoint(batch) => {
                save(&p, &batch, 2, None).await;
                busy.store(false, Ordering::Release);
            }
            PersistJob::Logout(player, epoch, state, conn) => {
                save(&p, &[(player, epoch, state)], 8, Some(conn)).await;
            }
            PersistJob::Release(player, conn) => {
                let token = arcane_store::hold_token(&p.lease, conn);
                let released = (|| p.store.release_hold(&p.lease, player, token))
                    .retry(SAVE_RETRY.builder().with_max_times(7))
                    .when(|e| !is_fenced(e))
                    .sleep(tokio::time::sleep)
                    .await;
                if let Err(e) = released {
                    tracing::warn!(player, "cannot release the player's hold: {e}");
                }
            }
            PersistJob::Transfer {
                player,
                epoch,
                to,
                state,
            } => {
                use tracing::Instrument as _;
                // Every line of the transfer carries the zone and the player.
                let span = tracing::info_span!(
                    "transfer",
                    zone = %p.lease.zone_id,
                    player,
                    request_id = tracing::field::Empty
                );
                tokio::spawn(
                    transfer(
                        p.clone(),
                        http.clone(),
                        Frozen {
                            player,
                            epoch,
                            to,
                            state,
                        },
                        shutdown.clone(),
                    )
                    .instrument(span),
                );
            }
        }
    }
}

/// Writes a batch, in up to `attempts` tries; players this zone turns out not to own
/// any more are released. A logout also clears the hold of the join of connection
/// `logout`.
async fn save(
    p: &Persister,
    batch: &[(u64, i64, SavedPlayer)],
    attempts: usize,
    logout: Option<ConnId>,
) {
    let started = Instant::now();
    let write = || async {
        match logout {
            Some(conn) => {
                let token = arcane_store::hold_token(&p.lease, conn);
                p.store.logout_save(&p.lease, batch, token).await
            }
            None => p.store.checkpoint_batch(&p.lease, batch).await,
        }
    };
    let written = write
        .retry(
            SAVE_RETRY
                .builder()
                .with_max_times(attempts.saturating_sub(1)),
        )
        .when(|e| !is_fenced(e))
        .sleep(tokio::time::sleep)
        .notify(|e, wait| {
            tracing::warn!(players = batch.len(), ?wait, "checkpoint failed: {e}");
        })
        .await;
    match written {
        Ok(lost) => {
            p.metrics.checkpoint("ok", batch.len(), started.elapsed());
            for player in lost {
                tracing::warn!(player, "ownership lost; releasing the player");
                let _ = p
                    .inbox
                    .send(Inbound::OwnershipLost {
                        player: PlayerId(player),
                    })
                    .await;
            }
        }
        Err(e) if is_fenced(&e) => {
            tracing::error!(players = batch.len(), "checkpoint refused: {e}");
            p.metrics
                .checkpoint("fenced", batch.len(), started.elapsed());
            p.superseded.cancel();
        }
        Err(e) => {
            tracing::error!(players = batch.len(), "checkpoint given up: {e}");
            p.metrics
                .checkpoint("failed", batch.len(), started.elapsed());
        }
    }
}

fn is_fenced(e: &StoreError) -> bool {
    matches!(e, StoreError::Fenced { .. })
}

struct Frozen {
    player: u64,
    epoch: i64,
    to: ExitTarget,
    state: SavedPlayer,
}

/// The orchestrator's answer to a transfer request.
enum Answer {
    Committed(TransferResponse),
    Aborted,
}

async fn transfer(
    p: Arc<Persister>,
    http: reqwest::Client,
    f: Frozen,
    shutdown: CancellationToken,
) {
    let started = Instant::now();
    let player = PlayerId(f.player);
    let Some(base) = p.orchestrator.clone() else {
        let _ = p
            .inbox
            .send(Inbound::TransferFailed {
                player,
                detail: "this zone runs without an orchestrator".into(),
            })
            .await;
        return;
    };
    failpoint("zone.freeze").await;
    // The id makes every step idempotent (retries, roll-forward by the orchestrator).
    let handoff = Handoff {
        transfer_id: transfer_id(&p.lease.zone_id, f.player, f.epoch),
        player_id: f.player,
        from_zone: p.lease.zone_id.clone(),
        from_epoch: f.epoch,
        target: match &f.to {
            ExitTarget::Zone(z) => format!("zone:{z}"),
            ExitTarget::Instance(t) => format!("instance:{t}"),
        },
        state: f.state,
    };
    let id = handoff.transfer_id.clone();
    // Both steps retry until they succeed (the policy never gives up); only the
    // zone's shutdown ends them, leaving the handoff for the orchestrator's
    // roll-forward.
    let record = (|| p.store.begin_handoff(&p.lease, &handoff))
        .retry(TRANSFER_RETRY.builder())
        .when(|e| !is_fenced(e))
        .sleep(tokio::time::sleep)
        .notify(|e, _| tracing::warn!(transfer = %id, "cannot record the handoff yet: {e}"));
    tokio::select! {
        recorded = record => if let Err(e) = recorded {
            // Only a fenced write stops the retries: this process was replaced, and
            // the player's state is the new holder's to keep.
            tracing::error!(transfer = %id, "handoff refused: {e}");
            p.superseded.cancel();
            return;
        },
        _ = shutdown.cancelled() => return,
    }
    failpoint("zone.handoff").await;
    let base = base.trim_end_matches('/');
    let request = TransferRequest {
        transfer_id: id.clone(),
    };
    let ask = || async {
        // Signed afresh on each try: a signature is only good for a while.
        let r = crate::control::signed_post(&http, &p.key, base, paths::TRANSFERS, &request)
            .send()
            .await
            .map_err(|e| format!("orchestrator unreachable ({e})"))?;
        let status = r.status();
        if status == reqwest::StatusCode::CONFLICT {
            return Ok(Answer::Aborted);
        }
        if !status.is_success() {
            return Err(format!("transfer not done yet ({status})"));
        }
        r.json::<TransferResponse>()
            .await
            .map(Answer::Committed)
            .map_err(|e| format!("bad transfer answer: {e}"))
    };
    let asked = ask
        .retry(TRANSFER_RETRY.builder())
        .sleep(tokio::time::sleep)
        .notify(|e, _| tracing::info!(transfer = %id, "{e}; retrying"));
    let outcome = tokio::select! {
        a = asked => a,
        _ = shutdown.cancelled() => return,
    };
    let inbound = match outcome {
        Ok(Answer::Committed(t)) => {
            failpoint("zone.redirect").await;
            p.metrics.transfer("committed", started.elapsed());
            tracing::info!(transfer = %id, to = %t.zone_id, "transfer committed; redirecting");
            Inbound::Redirect {
                player,
                redirect: Redirect {
                    zone_id: t.zone_id,
                    endpoint: t.endpoint,
                    ticket: t.ticket,
                    quic_endpoint: t.quic_endpoint,
                },
            }
        }
        // The retry policy has no limit: an error cannot come back.
        Ok(Answer::Aborted) | Err(_) => {
            p.metrics.transfer("aborted", started.elapsed());
            // Aborted: this zone keeps the player only if it still owns it.
            match p.store.load_owned(f.player, &p.lease).await {
                Ok(Some((_, epoch))) if epoch == f.epoch => Inbound::TransferFailed {
                    player,
                    detail: "the destination is not available".into(),
                },
                Ok(_) => Inbound::OwnershipLost { player },
                Err(e) => {
                    // Unknown: keep the player frozen rather than risk two owners;
                    // they get out by reconnecting (login finds the owner).
                    tracing::error!(transfer = %id, "cannot check ownership after abort: {e}");
                    Inbound::OwnershipLost { player }
                }
            }
        }
    };
    let _ = p.inbox.send(inbound).await;
}
