//! Holds: which zone process has a player in memory.
//!
//! A zone writes its players behind (checkpoints, a logout save queued when the
//! player leaves), so while it holds one its state may be newer than the player's
//! row. The zone marks the ownership row when a join loads the player
//! ([`Store::hold_owned`]) and the logout save of that same join clears the mark
//! ([`Store::logout_save`]); a zone's next process clears what its zone held once it
//! serves (after recovering a killed process's journal), and a process that stops
//! clears it when it releases its lease. Placement moves a player between zones
//! without a handoff ([`Store::move_owner`]) only while no live process holds it:
//! otherwise the holder's pending save would be refused (the epoch moved on) and what
//! the player did since the last checkpoint lost.

use sqlx::Row;

use crate::lease::{ZoneLease, fence};
use crate::{PlayerRecord, SavedPlayer, Store, StoreError, write_owned};

/// A hold held this long past its zone's lease expiry belongs to a process that died
/// and was not replaced (its host is gone): placement may move the player then, and
/// what that process's journal held is lost.
pub const STRANDED_AFTER_MS: i64 = 60_000;

/// The token of a hold: the holder's lease generation and the connection it loaded
/// the player for, unique across the zone's processes.
pub fn hold_token(lease: &ZoneLease, conn: u64) -> i64 {
    (lease.generation << 32) | (conn & 0xffff_ffff) as i64
}

/// Whether a live zone process (or one that died less than [`STRANDED_AFTER_MS`] ago
/// and may yet be recovered) holds player `id`; takes the ownership row's lock.
pub(crate) async fn held(
    c: &mut sqlx::AnyConnection,
    id: u64,
    now_ms: i64,
) -> Result<Option<String>, StoreError> {
    sqlx::query("UPDATE ownership SET held_by = held_by WHERE player_id = $1")
        .bind(id as i64)
        .execute(&mut *c)
        .await?;
    let row = sqlx::query(
        "SELECT o.zone AS zone FROM ownership o JOIN zone_leases l ON l.zone_id = o.zone \
         WHERE o.player_id = $1 AND o.held_by IS NOT NULL AND l.expires_ms > $2",
    )
    .bind(id as i64)
    .bind(now_ms - STRANDED_AFTER_MS)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.map(|r| r.try_get::<String, _>("zone")).transpose()?)
}

/// Clears player `id`'s hold if it is still `token`'s.
async fn unhold(c: &mut sqlx::AnyConnection, id: u64, token: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE ownership SET held_by = NULL WHERE player_id = $1 AND held_by = $2")
        .bind(id as i64)
        .bind(token)
        .execute(c)
        .await?;
    Ok(())
}

impl Store {
    /// [`Store::load_owned`] for a join: the player's record and the epoch at which the
    /// lease's zone owns it, marking it held by `token` ([`hold_token`]) in the same
    /// transaction. `None` when that zone does not own the player; refused
    /// ([`StoreError::Fenced`]) when the lease was superseded.
    pub async fn hold_owned(
        &self,
        id: u64,
        lease: &ZoneLease,
        token: i64,
    ) -> Result<Option<(PlayerRecord, i64)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        fence(&mut tx, lease).await?;
        let marked =
            sqlx::query("UPDATE ownership SET held_by = $1 WHERE player_id = $2 AND zone = $3")
                .bind(token)
                .bind(id as i64)
                .bind(&lease.zone_id)
                .execute(&mut *tx)
                .await?;
        if marked.rows_affected() != 1 {
            return Ok(None);
        }
        let epoch: i64 = sqlx::query("SELECT epoch FROM ownership WHERE player_id = $1")
            .bind(id as i64)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let row = sqlx::query(crate::select_player!("id = $1"))
            .bind(id as i64)
            .fetch_optional(&mut *tx)
            .await?;
        let record = crate::with_creatures(&mut tx, row).await?;
        tx.commit().await?;
        Ok(record.map(|r| (r, epoch)))
    }

    /// Logouts' saves: written as [`Store::checkpoint_batch`] writes them (the
    /// players the zone no longer owns come back, unwritten), and the hold `token` of
    /// the join each ends cleared; a later join's hold is left alone.
    pub async fn logout_save(
        &self,
        lease: &ZoneLease,
        players: &[(u64, i64, SavedPlayer)],
        token: i64,
    ) -> Result<Vec<u64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let lost = write_owned(&mut tx, lease, players).await?;
        for (id, _, _) in players.iter().filter(|(id, _, _)| !lost.contains(id)) {
            unhold(&mut tx, *id, token).await?;
        }
        tx.commit().await?;
        Ok(lost)
    }

    /// Clears the hold `token` of player `id` without a save: the join it belongs to
    /// ended and another write holds its state (an aborted handoff of a player that
    /// left while frozen). A later join's hold is left alone.
    pub async fn release_hold(
        &self,
        lease: &ZoneLease,
        id: u64,
        token: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        fence(&mut tx, lease).await?;
        unhold(&mut tx, id, token).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The zone process holding player `id` in memory, when one does (see the module).
    pub async fn holder(&self, id: u64) -> Result<Option<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let zone = held(&mut tx, id, arcane_service::unix_ms() as i64).await?;
        tx.commit().await?;
        Ok(zone)
    }
}
