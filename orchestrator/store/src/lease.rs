//! Zone leases: which process runs a zone, fenced by a generation.
//!
//! A zone process takes its zone's lease at start and renews it; taking it bumps the
//! generation, and it is taken only from a holder that released it or let it expire.
//! Every write a zone makes ([`Store::checkpoint_batch`], [`Store::begin_handoff`])
//! and every join it loads ([`Store::hold_owned`]) names its [`ZoneLease`], and the
//! store refuses it ([`StoreError::Fenced`]) once a newer generation exists. So a
//! zone process that was replaced can change nothing, whatever it still believes.

use sqlx::Row;

use crate::{Store, StoreError};

/// A zone's lease as its holder knows it: the fencing token of its writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneLease {
    pub zone_id: String,
    pub generation: i64,
}

/// The lease is held by another live process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHeld {
    pub holder: String,
    /// When it expires unless renewed (ms since the Unix epoch, the holder's clock).
    pub expires_ms: i64,
}

/// Refuses the write unless `lease` is the zone's newest generation. An update, so it
/// takes the lease row's lock (PostgreSQL) or the write lock (SQLite): a lease taken
/// over concurrently either happens entirely before the write (and fences it) or waits
/// for its transaction.
pub(crate) async fn fence(
    c: &mut sqlx::AnyConnection,
    lease: &ZoneLease,
) -> Result<(), StoreError> {
    let held = sqlx::query(
        "UPDATE zone_leases SET generation = generation WHERE zone_id = $1 AND generation = $2",
    )
    .bind(&lease.zone_id)
    .bind(lease.generation)
    .execute(c)
    .await?;
    held_by(lease, held.rows_affected())
}

/// The outcome of an update conditioned on `lease` being the newest generation:
/// `Fenced` when it matched no row.
fn held_by(lease: &ZoneLease, rows_affected: u64) -> Result<(), StoreError> {
    if rows_affected == 1 {
        Ok(())
    } else {
        Err(StoreError::Fenced {
            zone: lease.zone_id.clone(),
            generation: lease.generation,
        })
    }
}

impl Store {
    /// Takes `zone_id`'s lease for `holder` until `now_ms + ttl_ms`, unless another
    /// holder's lease is still live: then returns who holds it. `dead_holder` names a
    /// holder the caller knows is gone (a process on this host that no longer runs):
    /// its lease is taken at once instead of after it expires.
    pub async fn acquire_lease(
        &self,
        zone_id: &str,
        holder: &str,
        dead_holder: Option<&str>,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<Result<ZoneLease, LeaseHeld>, StoreError> {
        let (now, expires) = (ms(now_ms), ms(now_ms.saturating_add(ttl_ms)));
        let mut tx = self.pool.begin().await?;
        let taken = sqlx::query(
            "UPDATE zone_leases SET generation = generation + 1, holder = $1, expires_ms = $2 \
             WHERE zone_id = $3 AND (expires_ms < $4 OR holder = $5) RETURNING generation",
        )
        .bind(holder)
        .bind(expires)
        .bind(zone_id)
        .bind(now)
        // A holder name is never empty, so "" matches no one.
        .bind(dead_holder.unwrap_or(""))
        .fetch_optional(&mut *tx)
        .await?;
        let generation = match taken {
            Some(row) => Some(row.try_get::<i64, _>(0)?),
            None => sqlx::query(
                "INSERT INTO zone_leases (zone_id, generation, holder, expires_ms) \
                 VALUES ($1, 1, $2, $3) ON CONFLICT (zone_id) DO NOTHING RETURNING generation",
            )
            .bind(zone_id)
            .bind(holder)
            .bind(expires)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| row.try_get::<i64, _>(0))
            .transpose()?,
        };
        let outcome = match generation {
            Some(generation) => Ok(ZoneLease {
                zone_id: zone_id.to_string(),
                generation,
            }),
            None => {
                let row =
                    sqlx::query("SELECT holder, expires_ms FROM zone_leases WHERE zone_id = $1")
                        .bind(zone_id)
                        .fetch_one(&mut *tx)
                        .await?;
                Err(LeaseHeld {
                    holder: row.try_get("holder")?,
                    expires_ms: row.try_get("expires_ms")?,
                })
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// Extends `lease` to `now_ms + ttl_ms`; false when it was superseded (the holder
    /// must stop: another process runs the zone now).
    pub async fn renew_lease(
        &self,
        lease: &ZoneLease,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE zone_leases SET expires_ms = $1 WHERE zone_id = $2 AND generation = $3",
        )
        .bind(ms(now_ms.saturating_add(ttl_ms)))
        .bind(&lease.zone_id)
        .bind(lease.generation)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives the lease up (a clean exit, after the last save), so the next process can
    /// take it at once. Nothing happens when it was superseded.
    /// Its process holds no player any more: their holds are cleared with it.
    pub async fn release_lease(&self, lease: &ZoneLease) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let released = sqlx::query(
            "UPDATE zone_leases SET expires_ms = 0 WHERE zone_id = $1 AND generation = $2",
        )
        .bind(&lease.zone_id)
        .bind(lease.generation)
        .execute(&mut *tx)
        .await?;
        if released.rows_affected() == 1 {
            crate::clear_holds(&mut tx, &lease.zone_id).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records that `lease`'s process serves its zone from now on (it takes players
    /// in): crash recovery replays only the journal of the last process that did.
    /// Fenced like every write: a superseded holder gets [`StoreError::Fenced`].
    /// The holds of earlier processes are cleared with it: this one holds no player
    /// yet, and what a killed one held is recovered by now.
    pub async fn mark_serving(&self, lease: &ZoneLease) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let marked = sqlx::query(
            "UPDATE zone_leases SET served_generation = generation \
             WHERE zone_id = $1 AND generation = $2",
        )
        .bind(&lease.zone_id)
        .bind(lease.generation)
        .execute(&mut *tx)
        .await?;
        held_by(lease, marked.rows_affected())?;
        crate::clear_holds(&mut tx, &lease.zone_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The generation of the last process that served `zone_id` (see
    /// [`Store::mark_serving`]); `None` when none has since this was recorded.
    pub async fn served_generation(&self, zone_id: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT served_generation FROM zone_leases WHERE zone_id = $1")
            .bind(zone_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| r.try_get::<Option<i64>, _>(0))
            .transpose()?
            .flatten())
    }

    /// The newest generation of `zone_id`'s lease (`None`: never taken). The
    /// orchestrator registers only the zone process that holds it.
    pub async fn lease_generation(&self, zone_id: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT generation FROM zone_leases WHERE zone_id = $1")
            .bind(zone_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get::<i64, _>(0).map_err(StoreError::from))
            .transpose()
    }
}

fn ms(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}
