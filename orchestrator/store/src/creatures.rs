//! Creature rows: read and written with their owner's state in the caller's
//! transaction, blocks of ids for zone processes, and the one-time move of old
//! `creature:<id>` inventory items into rows.

use std::collections::BTreeMap;

use arcane_protocol::saved::{ItemStack, SavedCreature, SavedCreatureState};
use sqlx::{AnyPool, Row};

use crate::StoreError;

/// Ids in one block a zone process reserves.
pub const BLOCK: u64 = 1 << 32;

/// The inventory prefix creatures had before they were rows.
const LEGACY_PREFIX: &str = "creature:";

fn creature(row: &sqlx::any::AnyRow) -> Result<SavedCreature, StoreError> {
    let genome: String = row.try_get("genome")?;
    let parent = |name| row.try_get::<Option<i64>, _>(name);
    let (a, b) = (parent("parent_a")?, parent("parent_b")?);
    let clamp = |v: i64| v.clamp(0, i64::from(u32::MAX)) as u32;
    let state: String = row.try_get("state")?;
    Ok(SavedCreature {
        id: row.try_get::<i64, _>("id")? as u64,
        species: row.try_get("species")?,
        gene_version: row.try_get::<i64, _>("gene_version")?.clamp(0, 65_535) as u16,
        genome: serde_json::from_str(&genome)?,
        parents: a.zip(b).map(|(a, b)| (a as u64, b as u64)),
        generation: row.try_get::<i64, _>("generation")?.clamp(0, 65_535) as u16,
        born_zone: row.try_get("born_zone")?,
        born_tick: row.try_get::<i64, _>("born_tick")?.max(0) as u64,
        state: if state == "egg" {
            SavedCreatureState::Egg {
                hatch_in_ticks: clamp(row.try_get("hatch_in_ticks")?),
            }
        } else {
            SavedCreatureState::Active
        },
        breed_ready_in_ticks: clamp(row.try_get("breed_ready_in_ticks")?),
    })
}

/// The creatures `owner` holds, by id.
pub(crate) async fn load(
    c: &mut sqlx::AnyConnection,
    owner: u64,
) -> Result<Vec<SavedCreature>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, species, gene_version, genome, parent_a, parent_b, generation, born_zone, \
         born_tick, state, hatch_in_ticks, breed_ready_in_ticks FROM creatures \
         WHERE owner = $1 ORDER BY id",
    )
    .bind(owner as i64)
    .fetch_all(c)
    .await?;
    rows.iter().map(creature).collect()
}

/// Makes `owner`'s rows exactly `creatures`: rows it no longer holds go, the others
/// are written. Run it inside the transaction that writes the owner's state. A
/// creature id held by another player is a primary-key error: nothing moves a
/// creature between players.
pub(crate) async fn write(
    c: &mut sqlx::AnyConnection,
    owner: u64,
    creatures: &[SavedCreature],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM creatures WHERE owner = $1")
        .bind(owner as i64)
        .execute(&mut *c)
        .await?;
    for k in creatures {
        let (state, hatch) = match k.state {
            SavedCreatureState::Active => ("active", 0),
            SavedCreatureState::Egg { hatch_in_ticks } => ("egg", i64::from(hatch_in_ticks)),
        };
        sqlx::query(
            "INSERT INTO creatures (id, owner, species, gene_version, genome, parent_a, parent_b, \
             generation, born_zone, born_tick, state, hatch_in_ticks, breed_ready_in_ticks) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(k.id as i64)
        .bind(owner as i64)
        .bind(&k.species)
        .bind(i64::from(k.gene_version))
        .bind(serde_json::to_string(&k.genome)?)
        .bind(k.parents.map(|p| p.0 as i64))
        .bind(k.parents.map(|p| p.1 as i64))
        .bind(i64::from(k.generation))
        .bind(&k.born_zone)
        .bind(k.born_tick.min(i64::MAX as u64) as i64)
        .bind(state)
        .bind(hatch)
        .bind(i64::from(k.breed_ready_in_ticks))
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

/// Reserves the next block of [`BLOCK`] creature ids; returns its first id.
pub(crate) async fn reserve_block(pool: &AnyPool) -> Result<u64, StoreError> {
    let block: i64 = sqlx::query(
        "UPDATE id_counter SET next_id = next_id + 1 WHERE name = 'creature_blocks' \
         RETURNING next_id - 1",
    )
    .fetch_one(pool)
    .await?
    .try_get(0)?;
    Ok(block as u64 * BLOCK)
}

/// Moves every `creature:<id>` inventory item into a creature row (species: the id
/// up to its last `-`; an empty genome, which a zone reads as the neutral value of
/// every gene). Idempotent: a player without such items is untouched. Ids come from
/// one reserved block.
pub(crate) async fn migrate_items(pool: &AnyPool) -> Result<u64, StoreError> {
    let rows = sqlx::query("SELECT id, inventory FROM players WHERE inventory LIKE '%creature:%'")
        .fetch_all(pool)
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut next = reserve_block(pool).await?;
    let mut moved = 0;
    for row in rows {
        let id = row.try_get::<i64, _>("id")? as u64;
        let mut tx = pool.begin().await?;
        // Take the row's lock and read it again: another process may have migrated
        // it since the scan.
        sqlx::query("UPDATE players SET inventory = inventory WHERE id = $1")
            .bind(id as i64)
            .execute(&mut *tx)
            .await?;
        let inventory: String = sqlx::query("SELECT inventory FROM players WHERE id = $1")
            .bind(id as i64)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let items: Vec<ItemStack> = serde_json::from_str(&inventory)?;
        let (legacy, kept): (Vec<_>, Vec<_>) = items
            .into_iter()
            .partition(|i| i.item.starts_with(LEGACY_PREFIX));
        if legacy.is_empty() {
            continue;
        }
        let mut creatures = load(&mut tx, id).await?;
        for item in &legacy {
            let name = &item.item[LEGACY_PREFIX.len()..];
            let species = name.rsplit_once('-').map_or(name, |(s, _)| s).to_string();
            for _ in 0..item.count.max(1) {
                creatures.push(SavedCreature {
                    id: next,
                    species: species.clone(),
                    gene_version: 0,
                    genome: BTreeMap::new(),
                    parents: None,
                    generation: 0,
                    born_zone: String::new(),
                    born_tick: 0,
                    state: SavedCreatureState::Active,
                    breed_ready_in_ticks: 0,
                });
                next += 1;
                moved += 1;
            }
        }
        write(&mut tx, id, &creatures).await?;
        sqlx::query("UPDATE players SET inventory = $1 WHERE id = $2")
            .bind(serde_json::to_string(&kept)?)
            .bind(id as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(moved)
}
