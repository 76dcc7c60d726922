//! Persistence with `sqlx`: players (zone, position, vitals, inventory) and the
//! ownership row that says which zone owns each player, with an epoch. SQLite by
//! default (a file, created on first run), PostgreSQL when the URL names one; the same
//! migrations (`orchestrator/migrations/`) run on both at start.
//!
//! **Invariant:** ownership only changes by compare-and-set on the epoch, and a zone's
//! checkpoint is written only while it still owns the player at that epoch, so a zone
//! that lost a player (or came back from the dead) cannot overwrite the new owner's state.

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
}

/// A stack of one item kind (or a creature, `item: "creature:<id>"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemStack {
    pub item: String,
    pub count: u32,
}

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
    })
}

macro_rules! select_player {
    ($where:literal) => {
        concat!(
            "SELECT id, name, zone, x, y, hp, mana, inventory FROM players WHERE ",
            $where
        )
    };
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
        sqlx::migrate!("./migrations").run(&pool).await?;
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
        .bind(crate::now_ms() as i64)
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
        let row = sqlx::query(select_player!("id = $1"))
            .bind(id as i64)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record).transpose()
    }

    pub async fn player_by_name(&self, name: &str) -> Result<Option<PlayerRecord>, StoreError> {
        let row = sqlx::query(select_player!("name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record).transpose()
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

    /// Moves ownership from `from` (at `epoch`) to zone `to`: a compare-and-set that
    /// succeeds for exactly one caller. Returns the new epoch, or `None` when the
    /// player is not owned by `from` at `epoch` any more.
    pub async fn transfer_ownership(
        &self,
        id: u64,
        from: &Ownership,
        to: &str,
    ) -> Result<Option<i64>, StoreError> {
        let done = sqlx::query(
            "UPDATE ownership SET zone = $1, epoch = epoch + 1 \
             WHERE player_id = $2 AND zone = $3 AND epoch = $4",
        )
        .bind(to)
        .bind(id as i64)
        .bind(&from.zone)
        .bind(from.epoch)
        .execute(&self.pool)
        .await?;
        Ok((done.rows_affected() == 1).then_some(from.epoch + 1))
    }

    /// Writes a zone's checkpoint of a player, only while `owner` still owns it
    /// (fenced by the epoch). Returns false, writing nothing, when it does not.
    pub async fn checkpoint(
        &self,
        p: &PlayerRecord,
        owner: &Ownership,
    ) -> Result<bool, StoreError> {
        let inventory = serde_json::to_string(&p.inventory)?;
        let done = sqlx::query(
            "UPDATE players SET zone = $1, x = $2, y = $3, hp = $4, mana = $5, inventory = $6, \
             updated_ms = $7 WHERE id = $8 AND EXISTS (SELECT 1 FROM ownership \
             WHERE player_id = $8 AND zone = $9 AND epoch = $10)",
        )
        .bind(&p.zone)
        .bind(p.x)
        .bind(p.y)
        .bind(i64::from(p.hp))
        .bind(i64::from(p.mana))
        .bind(inventory)
        .bind(crate::now_ms() as i64)
        .bind(p.id as i64)
        .bind(&owner.zone)
        .bind(owner.epoch)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
