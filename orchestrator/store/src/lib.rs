//! Persistence with `sqlx`: players (zone, position, vitals, inventory) and the
//! ownership row that says which zone owns each player, with an epoch. SQLite by
//! default (a file, created on first run), PostgreSQL when the URL names one; the same
//! migrations (`orchestrator/store/migrations/`) run on both at start.
//!
//! **Invariant:** ownership only changes by compare-and-set on the epoch, and a zone's
//! checkpoint is written only while it still owns the player at that epoch, so a zone
//! that lost a player (or came back from the dead) cannot overwrite the new owner's state.

mod creatures;
mod hold;
mod lease;
mod social;

pub use hold::{STRANDED_AFTER_MS, hold_token};
pub use lease::{LeaseHeld, ZoneLease};
pub use social::{Departure, ListKind, PartyRecord, Social};

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored inventory is not valid JSON: {0}")]
    Inventory(#[from] serde_json::Error),
    #[error("unsupported database URL {0:?} (use sqlite://path or postgres://...)")]
    Url(String),
    /// The zone's lease was taken over: another process runs the zone now, and this
    /// one may write nothing.
    #[error("zone {zone}'s lease generation {generation} was superseded; another process runs it")]
    Fenced { zone: String, generation: i64 },
    /// A live process of the zone that owns the player holds it in memory (see
    /// `hold`): it cannot be moved without a handoff until that process saved it.
    #[error(
        "player {player} is held by a process of zone {zone}; try again once it saved the player"
    )]
    Held { player: u64, zone: String },
}

pub use arcane_protocol::saved::{ItemStack, SavedCreature, SavedPlayer};
pub use creatures::BLOCK as CREATURE_ID_BLOCK;

/// What is saved of a player.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlayerRecord {
    pub id: u64,
    pub name: String,
    pub zone: String,
    pub x: f64,
    pub y: f64,
    pub hp: u32,
    pub mana: u32,
    pub inventory: Vec<ItemStack>,
    /// The party the player last logged in with.
    pub party: Option<String>,
    /// Its creatures and eggs (rows of their own).
    #[serde(default)]
    pub creatures: Vec<SavedCreature>,
}

impl PlayerRecord {
    /// The state a zone loads the player with.
    pub fn saved(&self) -> SavedPlayer {
        SavedPlayer {
            x: self.x as f32,
            y: self.y as f32,
            hp: self.hp,
            mana: self.mana,
            inventory: self.inventory.clone(),
            creatures: self.creatures.clone(),
        }
    }
}

/// A zone transfer as the source zone records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    pub transfer_id: String,
    pub player_id: u64,
    pub from_zone: String,
    pub from_epoch: i64,
    /// `zone:<id>` or `instance:<template>`.
    pub target: String,
    /// The frozen player's state at the arrival point.
    pub state: SavedPlayer,
}

/// Where a transfer stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HandoffStatus {
    Pending,
    /// Ownership moved to `to_zone` at `epoch`; the player's row holds the handoff state.
    Committed {
        to_zone: String,
        epoch: i64,
    },
    /// Nothing moved; the source still owns the player (unless it had lost it before).
    Aborted,
}

/// Which zone owns a player, and since which epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ownership {
    pub zone: String,
    pub epoch: i64,
}

/// The player and ownership tables.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
}

fn record(row: &sqlx::any::AnyRow) -> Result<PlayerRecord, StoreError> {
    let inventory: String = row.try_get("inventory")?;
    Ok(PlayerRecord {
        id: row.try_get::<i64, _>("id")? as u64,
        name: row.try_get("name")?,
        zone: row.try_get("zone")?,
        x: row.try_get("x")?,
        y: row.try_get("y")?,
        hp: row.try_get::<i64, _>("hp")?.clamp(0, i64::from(u32::MAX)) as u32,
        mana: row.try_get::<i64, _>("mana")?.clamp(0, i64::from(u32::MAX)) as u32,
        inventory: serde_json::from_str(&inventory)?,
        party: row.try_get("party")?,
        creatures: Vec::new(),
    })
}

fn handoff(row: &sqlx::any::AnyRow) -> Result<(Handoff, HandoffStatus), StoreError> {
    let state: String = row.try_get("state")?;
    let h = Handoff {
        transfer_id: row.try_get("transfer_id")?,
        player_id: row.try_get::<i64, _>("player_id")? as u64,
        from_zone: row.try_get("from_zone")?,
        from_epoch: row.try_get("from_epoch")?,
        target: row.try_get("target")?,
        state: serde_json::from_str(&state)?,
    };
    let status = match row.try_get::<String, _>("status")?.as_str() {
        "committed" => HandoffStatus::Committed {
            to_zone: row
                .try_get::<Option<String>, _>("to_zone")?
                .unwrap_or_default(),
            epoch: h.from_epoch + 1,
        },
        "aborted" => HandoffStatus::Aborted,
        _ => HandoffStatus::Pending,
    };
    Ok((h, status))
}

macro_rules! select_handoff {
    ($where:literal) => {
        concat!(
            "SELECT transfer_id, player_id, from_zone, from_epoch, target, to_zone, state, \
             status FROM handoffs WHERE ",
            $where
        )
    };
}

macro_rules! select_player {
    ($where:literal) => {
        concat!(
            "SELECT id, name, zone, x, y, hp, mana, inventory, party FROM players WHERE ",
            $where
        )
    };
}
pub(crate) use select_player;

/// Moves ownership of `id` from (`from_zone`, `from_epoch`) to `to`, bumping the
/// epoch: the compare-and-set every change of owner goes through. False when the
/// player is not owned there at that epoch any more.
async fn cas_owner(
    c: &mut sqlx::AnyConnection,
    id: u64,
    from_zone: &str,
    from_epoch: i64,
    to: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE ownership SET zone = $1, epoch = epoch + 1, held_by = NULL \
         WHERE player_id = $2 AND zone = $3 AND epoch = $4",
    )
    .bind(to)
    .bind(id as i64)
    .bind(from_zone)
    .bind(from_epoch)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether `zone` owns player `id` at `epoch`, taking the ownership row's lock (a no-op
/// update) so a concurrent transfer commit happens entirely before or after the
/// caller's write.
async fn lock_owned(
    c: &mut sqlx::AnyConnection,
    id: u64,
    zone: &str,
    epoch: i64,
) -> Result<bool, StoreError> {
    let owned = sqlx::query(
        "UPDATE ownership SET epoch = epoch WHERE player_id = $1 AND zone = $2 AND epoch = $3",
    )
    .bind(id as i64)
    .bind(zone)
    .bind(epoch)
    .execute(c)
    .await?;
    Ok(owned.rows_affected() == 1)
}

/// The record of `row` with its creatures, read in the same transaction.
async fn with_creatures(
    c: &mut sqlx::AnyConnection,
    row: Option<sqlx::any::AnyRow>,
) -> Result<Option<PlayerRecord>, StoreError> {
    let Some(row) = row else {
        return Ok(None);
    };
    let mut p = record(&row)?;
    p.creatures = creatures::load(c, p.id).await?;
    Ok(Some(p))
}

/// A checkpoint's writes, in the caller's transaction: fenced by `lease`, each player
/// written only while its zone owns it at that epoch; returns the players it does not.
async fn write_owned(
    c: &mut sqlx::AnyConnection,
    lease: &ZoneLease,
    players: &[(u64, i64, SavedPlayer)],
) -> Result<Vec<u64>, StoreError> {
    let zone = lease.zone_id.as_str();
    let now = arcane_service::unix_ms() as i64;
    lease::fence(c, lease).await?;
    let mut lost = Vec::new();
    for (id, epoch, p) in players {
        if !lock_owned(c, *id, zone, *epoch).await? {
            lost.push(*id);
            continue;
        }
        write_state(c, *id, zone, p, now).await?;
    }
    Ok(lost)
}

/// Clears every hold of `zone`: its process holds no one (it starts serving, or
/// stopped after its last saves).
async fn clear_holds(c: &mut sqlx::AnyConnection, zone: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE ownership SET held_by = NULL WHERE zone = $1 AND held_by IS NOT NULL")
        .bind(zone)
        .execute(c)
        .await?;
    Ok(())
}

/// Writes a player's saved state (and the zone it is in) to its row, and its
/// creatures to theirs.
async fn write_state(
    c: &mut sqlx::AnyConnection,
    id: u64,
    zone: &str,
    p: &SavedPlayer,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE players SET zone = $1, x = $2, y = $3, hp = $4, mana = $5, \
         inventory = $6, updated_ms = $7 WHERE id = $8",
    )
    .bind(zone)
    .bind(f64::from(p.x))
    .bind(f64::from(p.y))
    .bind(i64::from(p.hp))
    .bind(i64::from(p.mana))
    .bind(serde_json::to_string(&p.inventory)?)
    .bind(now_ms)
    .bind(id as i64)
    .execute(&mut *c)
    .await?;
    creatures::write(c, id, &p.creatures).await
}

impl Store {
    /// Connects and applies the migrations. `sqlite://file.db` (created when missing)
    /// or `postgres://user:pass@host/db`.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let url = if url.starts_with("sqlite:") && !url.contains("mode=") {
            // Create the file on first run.
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}mode=rwc")
        } else if url.starts_with("sqlite:") || url.starts_with("postgres") {
            url.to_string()
        } else {
            return Err(StoreError::Url(url.to_string()));
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if url.starts_with("sqlite:") { 1 } else { 8 })
            .connect(&url)
            .await?;
        if url.starts_with("sqlite:") {
            // Zones and the orchestrator share the file from several processes: WAL
            // lets readers go on while one of them writes (persistent in the file).
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        sqlx::migrate!("./migrations").run(&pool).await?;
        let moved = creatures::migrate_items(&pool).await?;
        if moved > 0 {
            tracing::info!(
                moved,
                "moved creature:<id> inventory items into creature rows"
            );
        }
        Ok(Store { pool })
    }

    /// The player called `name`, created in `start_zone` at `start` with `hp`/`mana`
    /// when new. Safe under concurrent logins of the same name.
    pub async fn login(
        &self,
        name: &str,
        start_zone: &str,
        start: (f64, f64),
        vitals: (u32, u32),
    ) -> Result<PlayerRecord, StoreError> {
        if let Some(p) = self.player_by_name(name).await? {
            return Ok(p);
        }
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query(
            "UPDATE id_counter SET next_id = next_id + 1 WHERE name = 'players' RETURNING next_id - 1",
        )
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let inserted = sqlx::query(
            "INSERT INTO players (id, name, zone, x, y, hp, mana, inventory, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, '[]', $8) ON CONFLICT (name) DO NOTHING",
        )
        .bind(id)
        .bind(name)
        .bind(start_zone)
        .bind(start.0)
        .bind(start.1)
        .bind(i64::from(vitals.0))
        .bind(i64::from(vitals.1))
        .bind(arcane_service::unix_ms() as i64)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 {
            sqlx::query("INSERT INTO ownership (player_id, zone, epoch) VALUES ($1, $2, 1)")
                .bind(id)
                .bind(start_zone)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        // Whoever won a race for the name, the row exists now.
        self.player_by_name(name)
            .await?
            .ok_or_else(|| StoreError::Db(sqlx::Error::RowNotFound))
    }

    pub async fn player(&self, id: u64) -> Result<Option<PlayerRecord>, StoreError> {
        let mut c = self.pool.begin().await?;
        let row = sqlx::query(select_player!("id = $1"))
            .bind(id as i64)
            .fetch_optional(&mut *c)
            .await?;
        with_creatures(&mut c, row).await
    }

    pub async fn player_by_name(&self, name: &str) -> Result<Option<PlayerRecord>, StoreError> {
        let mut c = self.pool.begin().await?;
        let row = sqlx::query(select_player!("name = $1"))
            .bind(name)
            .fetch_optional(&mut *c)
            .await?;
        with_creatures(&mut c, row).await
    }

    /// Reserves a block of [`CREATURE_ID_BLOCK`] creature ids for a zone process;
    /// returns its first id. Blocks never overlap, across zones and restarts.
    pub async fn reserve_creature_ids(&self) -> Result<u64, StoreError> {
        creatures::reserve_block(&self.pool).await
    }

    /// A round trip to the database (readiness checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn owner(&self, id: u64) -> Result<Option<Ownership>, StoreError> {
        let row = sqlx::query("SELECT zone, epoch FROM ownership WHERE player_id = $1")
            .bind(id as i64)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(Ownership {
                zone: r.try_get("zone")?,
                epoch: r.try_get("epoch")?,
            })
        })
        .transpose()
    }

    /// The player's record and the epoch at which the lease's zone owns it, or `None`
    /// when that zone does not own the player (or it does not exist). Refused with
    /// [`StoreError::Fenced`] when the lease was superseded: a replaced zone process
    /// takes no one in.
    pub async fn load_owned(
        &self,
        id: u64,
        lease: &ZoneLease,
    ) -> Result<Option<(PlayerRecord, i64)>, StoreError> {
        if self.lease_generation(&lease.zone_id).await? != Some(lease.generation) {
            return Err(StoreError::Fenced {
                zone: lease.zone_id.clone(),
                generation: lease.generation,
            });
        }
        let Some(owner) = self.owner(id).await? else {
            return Ok(None);
        };
        if owner.zone != lease.zone_id {
            return Ok(None);
        }
        Ok(self.player(id).await?.map(|p| (p, owner.epoch)))
    }

    /// Moves ownership by compare-and-set (the new epoch, or `None` when `from` is
    /// stale) and, in the same transaction,
    /// puts the player at `relocate` (used when the player moves to another map
    /// without a handoff: the zone it was in is gone for good). Refused
    /// ([`StoreError::Held`]) while a live zone process holds the player.
    pub async fn move_owner(
        &self,
        id: u64,
        from: &Ownership,
        to: &str,
        relocate: Option<(f64, f64)>,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Some(zone) = hold::held(&mut tx, id, arcane_service::unix_ms() as i64).await? {
            return Err(StoreError::Held { player: id, zone });
        }
        if !cas_owner(&mut tx, id, &from.zone, from.epoch, to).await? {
            return Ok(None);
        }
        let q = match relocate {
            Some((x, y)) => {
                sqlx::query("UPDATE players SET zone = $1, x = $2, y = $3 WHERE id = $4")
                    .bind(to)
                    .bind(x)
                    .bind(y)
                    .bind(id as i64)
            }
            None => sqlx::query("UPDATE players SET zone = $1 WHERE id = $2")
                .bind(to)
                .bind(id as i64),
        };
        q.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(from.epoch + 1))
    }

    /// A zone's write-behind checkpoint of many players in one transaction. Each row is
    /// written only while the lease's zone still owns that player at the given epoch;
    /// returns the players it does not own any more (the zone must let them go). The
    /// whole batch is refused ([`StoreError::Fenced`]) when the lease was superseded.
    ///
    /// The ownership row is touched first (a no-op update that takes its lock) so a
    /// concurrent transfer commit either happens entirely before this write — and the
    /// epoch no longer matches — or waits for it.
    pub async fn checkpoint_batch(
        &self,
        lease: &ZoneLease,
        players: &[(u64, i64, SavedPlayer)],
    ) -> Result<Vec<u64>, StoreError> {
        if players.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await?;
        let lost = write_owned(&mut tx, lease, players).await?;
        tx.commit().await?;
        Ok(lost)
    }

    /// An operator's write of a player's state (support tools, seeding a test world):
    /// written only while `owner` still owns the player at its epoch (false
    /// otherwise). Not fenced by a zone lease, so use it only for a player no zone has
    /// loaded: a zone holding the player would overwrite it at its next checkpoint.
    pub async fn write_player_state(
        &self,
        id: u64,
        owner: &Ownership,
        state: &SavedPlayer,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        if !lock_owned(&mut tx, id, &owner.zone, owner.epoch).await? {
            return Ok(false);
        }
        write_state(
            &mut tx,
            id,
            &owner.zone,
            state,
            arcane_service::unix_ms() as i64,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a transfer (idempotent: a second call with the same id changes nothing)
    /// and returns where it stands. Refused ([`StoreError::Fenced`]) when the source
    /// zone's lease was superseded.
    pub async fn begin_handoff(
        &self,
        lease: &ZoneLease,
        h: &Handoff,
    ) -> Result<HandoffStatus, StoreError> {
        let mut tx = self.pool.begin().await?;
        lease::fence(&mut tx, lease).await?;
        sqlx::query(
            "INSERT INTO handoffs (transfer_id, player_id, from_zone, from_epoch, target, \
             state, status, created_ms) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7) \
             ON CONFLICT (transfer_id) DO NOTHING",
        )
        .bind(&h.transfer_id)
        .bind(h.player_id as i64)
        .bind(&h.from_zone)
        .bind(h.from_epoch)
        .bind(&h.target)
        .bind(serde_json::to_string(&h.state)?)
        .bind(arcane_service::unix_ms() as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(self
            .handoff(&h.transfer_id)
            .await?
            .map_or(HandoffStatus::Pending, |(_, s)| s))
    }

    pub async fn handoff(
        &self,
        transfer_id: &str,
    ) -> Result<Option<(Handoff, HandoffStatus)>, StoreError> {
        let row = sqlx::query(select_handoff!("transfer_id = $1"))
            .bind(transfer_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(handoff).transpose()
    }

    /// Pending transfers created before `created_before_ms`, of one player or of all.
    pub async fn pending_handoffs(
        &self,
        player: Option<u64>,
        created_before_ms: u64,
    ) -> Result<Vec<Handoff>, StoreError> {
        let rows = sqlx::query(select_handoff!(
            "status = 'pending' AND created_ms <= $1 AND ($2 < 0 OR player_id = $2) \
             ORDER BY created_ms"
        ))
        .bind(created_before_ms.min(i64::MAX as u64) as i64)
        .bind(player.map_or(-1, |p| p as i64))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| handoff(r).map(|(h, _)| h)).collect()
    }

    /// Commits a pending transfer into `to_zone`: in one transaction, ownership moves
    /// by compare-and-set from (from_zone, from_epoch), the player's row takes the
    /// handoff state, and the record is marked committed. When the compare-and-set
    /// fails (someone else moved the player), the record is aborted. Calling it again
    /// returns the first outcome (idempotent by transfer id).
    pub async fn commit_handoff(
        &self,
        transfer_id: &str,
        to_zone: &str,
    ) -> Result<HandoffStatus, StoreError> {
        let now = arcane_service::unix_ms() as i64;
        let mut tx = self.pool.begin().await?;
        // Write first: takes the row lock (PostgreSQL) or the write lock (SQLite), so
        // two commits of one transfer are serialised and the second sees the first.
        sqlx::query("UPDATE handoffs SET status = status WHERE transfer_id = $1")
            .bind(transfer_id)
            .execute(&mut *tx)
            .await?;
        let Some(row) = sqlx::query(select_handoff!("transfer_id = $1"))
            .bind(transfer_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Err(StoreError::Db(sqlx::Error::RowNotFound));
        };
        let (h, status) = handoff(&row)?;
        if status != HandoffStatus::Pending {
            return Ok(status);
        }
        if !cas_owner(&mut tx, h.player_id, &h.from_zone, h.from_epoch, to_zone).await? {
            sqlx::query(
                "UPDATE handoffs SET status = 'aborted', resolved_ms = $1 WHERE transfer_id = $2",
            )
            .bind(now)
            .bind(transfer_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(HandoffStatus::Aborted);
        }
        write_state(&mut tx, h.player_id, to_zone, &h.state, now).await?;
        sqlx::query(
            "UPDATE handoffs SET status = 'committed', to_zone = $1, resolved_ms = $2 \
             WHERE transfer_id = $3",
        )
        .bind(to_zone)
        .bind(now)
        .bind(transfer_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(HandoffStatus::Committed {
            to_zone: to_zone.to_string(),
            epoch: h.from_epoch + 1,
        })
    }

    /// Aborts a pending transfer (the target cannot take the player); returns the
    /// outcome, which is the earlier one when it was already resolved.
    ///
    /// The player stays with its source zone, and in the same transaction its row
    /// takes the handoff's state while that zone still owns it at the handoff's
    /// epoch: that is its newest state (a frozen player changes nothing), and
    /// nothing else may save it (a player whose connection closed while frozen left
    /// the zone unsaved, the handoff being the only state kept).
    pub async fn abort_handoff(&self, transfer_id: &str) -> Result<HandoffStatus, StoreError> {
        let now = arcane_service::unix_ms() as i64;
        let mut tx = self.pool.begin().await?;
        let aborted = sqlx::query(
            "UPDATE handoffs SET status = 'aborted', resolved_ms = $1 \
             WHERE transfer_id = $2 AND status = 'pending'",
        )
        .bind(now)
        .bind(transfer_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let row = sqlx::query(select_handoff!("transfer_id = $1"))
            .bind(transfer_id)
            .fetch_optional(&mut *tx)
            .await?;
        if let (true, Some(row)) = (aborted, row) {
            let (h, _) = handoff(&row)?;
            if lock_owned(&mut tx, h.player_id, &h.from_zone, h.from_epoch).await? {
                write_state(&mut tx, h.player_id, &h.from_zone, &h.state, now).await?;
            }
        }
        tx.commit().await?;
        Ok(self
            .handoff(transfer_id)
            .await?
            .map_or(HandoffStatus::Aborted, |(_, s)| s))
    }

    /// How many transfers are committed, aborted and pending (operators, fault tests).
    pub async fn handoff_counts(&self) -> Result<(u64, u64, u64), StoreError> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM handoffs GROUP BY status")
            .fetch_all(&self.pool)
            .await?;
        let mut out = (0, 0, 0);
        for r in rows {
            let n = r.try_get::<i64, _>("n")?.max(0) as u64;
            match r.try_get::<String, _>("status")?.as_str() {
                "committed" => out.0 = n,
                "aborted" => out.1 = n,
                _ => out.2 += n,
            }
        }
        Ok(out)
    }

    /// The zones that own members of `party` (to keep a party in one copy).
    pub async fn party_zones(&self, party: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT o.zone AS zone FROM ownership o \
             JOIN players p ON p.id = o.player_id WHERE p.party = $1",
        )
        .bind(party)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("zone").map_err(StoreError::from))
            .collect()
    }
}
