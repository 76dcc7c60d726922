//! Friends, blocks and mutes, parties and invitations, moderator mutes and the
//! moderation audit. Party membership is `players.party`, which placement follows.
//! Every change that checks something first (room in a party, a live invitation, the
//! leader) does it in the transaction that makes the change.

use arcane_protocol::SocialRefusal;
use sqlx::Row;

use crate::{Store, StoreError};

/// One of a player's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Friend,
    Block,
    Mute,
}

impl ListKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::Friend => "friend",
            ListKind::Block => "block",
            ListKind::Mute => "mute",
        }
    }
}

/// A party's members (id, name), the leader first, then by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyRecord {
    pub id: String,
    pub leader: u64,
    pub members: Vec<(u64, String)>,
}

/// What became of a party when a member left it or was removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departure {
    pub party: String,
    /// The members still in it (empty: the party is gone).
    pub remaining: Vec<u64>,
}

/// The answer of a social change: done, or refused for a reason the player is told.
pub type Social<T> = Result<Result<T, SocialRefusal>, StoreError>;

fn ids(rows: &[sqlx::any::AnyRow], col: &str) -> Result<Vec<u64>, StoreError> {
    rows.iter()
        .map(|r| Ok(r.try_get::<i64, _>(col)? as u64))
        .collect()
}

impl Store {
    /// `player`'s list of `kind`: (id, name), by name.
    pub async fn list(
        &self,
        player: u64,
        kind: ListKind,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.id AS id, p.name AS name FROM social_lists s JOIN players p ON p.id = s.other_id \
             WHERE s.player_id = $1 AND s.kind = $2 ORDER BY p.name",
        )
        .bind(player as i64)
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<i64, _>("id")? as u64, r.try_get("name")?)))
            .collect()
    }

    /// Puts `other` on `player`'s list (no-op when already there); refused at `cap`.
    pub async fn list_add(&self, player: u64, kind: ListKind, other: u64, cap: u32) -> Social<()> {
        if player == other {
            return Ok(Err(SocialRefusal::Yourself));
        }
        let mut tx = self.pool.begin().await?;
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM social_lists WHERE player_id = $1 AND kind = $2",
        )
        .bind(player as i64)
        .bind(kind.as_str())
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if n >= i64::from(cap) {
            return Ok(Err(SocialRefusal::ListFull));
        }
        sqlx::query(
            "INSERT INTO social_lists (player_id, kind, other_id) VALUES ($1, $2, $3) \
             ON CONFLICT (player_id, kind, other_id) DO NOTHING",
        )
        .bind(player as i64)
        .bind(kind.as_str())
        .bind(other as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Takes `other` off `player`'s list; false when it was not there.
    pub async fn list_remove(
        &self,
        player: u64,
        kind: ListKind,
        other: u64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM social_lists WHERE player_id = $1 AND kind = $2 AND other_id = $3",
        )
        .bind(player as i64)
        .bind(kind.as_str())
        .bind(other as i64)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether `player` has `other` on its list of `kind`.
    pub async fn listed(
        &self,
        player: u64,
        kind: ListKind,
        other: u64,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 AS x FROM social_lists WHERE player_id = $1 AND kind = $2 AND other_id = $3",
        )
        .bind(player as i64)
        .bind(kind.as_str())
        .bind(other as i64)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// The players who have `other` on their list of `kind` (whose friend it is).
    pub async fn listed_by(&self, other: u64, kind: ListKind) -> Result<Vec<u64>, StoreError> {
        let rows =
            sqlx::query("SELECT player_id FROM social_lists WHERE other_id = $1 AND kind = $2")
                .bind(other as i64)
                .bind(kind.as_str())
                .fetch_all(&self.pool)
                .await?;
        ids(&rows, "player_id")
    }

    /// Whose chat `player` hides: blocked and muted players.
    pub async fn hidden(&self, player: u64) -> Result<Vec<u64>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT other_id FROM social_lists WHERE player_id = $1 AND kind IN ('block', 'mute') \
             ORDER BY other_id",
        )
        .bind(player as i64)
        .fetch_all(&self.pool)
        .await?;
        ids(&rows, "other_id")
    }

    /// The party `player` is in, with its members; `None` when in none.
    pub async fn party_of(&self, player: u64) -> Result<Option<PartyRecord>, StoreError> {
        let party: Option<Option<String>> = sqlx::query("SELECT party FROM players WHERE id = $1")
            .bind(player as i64)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get("party"))
            .transpose()?;
        match party.flatten() {
            Some(p) if !p.is_empty() => self.party(&p).await,
            _ => Ok(None),
        }
    }

    /// A party by id (`None` when it has no member).
    pub async fn party(&self, id: &str) -> Result<Option<PartyRecord>, StoreError> {
        let rows = sqlx::query("SELECT id, name FROM players WHERE party = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut members = rows
            .iter()
            .map(|r| Ok((r.try_get::<i64, _>("id")? as u64, r.try_get("name")?)))
            .collect::<Result<Vec<(u64, String)>, StoreError>>()?;
        let leader = sqlx::query("SELECT leader_id FROM parties WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get::<i64, _>("leader_id"))
            .transpose()?
            .map(|l| l as u64)
            .filter(|l| members.iter().any(|m| m.0 == *l))
            .unwrap_or(members[0].0);
        if let Some(i) = members.iter().position(|m| m.0 == leader) {
            let m = members.remove(i);
            members.insert(0, m);
        }
        Ok(Some(PartyRecord {
            id: id.to_string(),
            leader,
            members,
        }))
    }

    /// A new party led by `player`, named `p<n>`.
    pub async fn create_party(&self, player: u64, now_ms: i64) -> Social<String> {
        let mut tx = self.pool.begin().await?;
        let current: Option<String> = sqlx::query("SELECT party FROM players WHERE id = $1")
            .bind(player as i64)
            .fetch_one(&mut *tx)
            .await?
            .try_get("party")?;
        if current.is_some_and(|p| !p.is_empty()) {
            return Ok(Err(SocialRefusal::AlreadyInParty));
        }
        let n: i64 = sqlx::query(
            "UPDATE id_counter SET next_id = next_id + 1 WHERE name = 'parties' RETURNING next_id - 1",
        )
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let id = format!("p{n}");
        sqlx::query("INSERT INTO parties (id, leader_id, created_ms) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(player as i64)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE players SET party = $1 WHERE id = $2")
            .bind(&id)
            .bind(player as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(id))
    }

    /// Puts `player` in the party named at login (the bots' way): the party is made,
    /// led by them, when nobody is in it yet. Leaves any other party first.
    pub async fn join_named_party(
        &self,
        player: u64,
        party: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.leave_party(player).await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO parties (id, leader_id, created_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(party)
        .bind(player as i64)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE players SET party = $1 WHERE id = $2")
            .bind(party)
            .bind(player as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records an invitation of `player` to `party` (replacing an older one).
    pub async fn invite(
        &self,
        party: &str,
        player: u64,
        inviter: u64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM party_invites WHERE party_id = $1 AND player_id = $2")
            .bind(party)
            .bind(player as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO party_invites (party_id, player_id, inviter_id, expires_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(party)
        .bind(player as i64)
        .bind(inviter as i64)
        .bind(expires_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes `player`'s live invitation to `party` away; true when there was one.
    async fn take_invite(
        tx: &mut sqlx::AnyConnection,
        party: &str,
        player: u64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "DELETE FROM party_invites WHERE party_id = $1 AND player_id = $2 RETURNING expires_ms",
        )
        .bind(party)
        .bind(player as i64)
        .fetch_optional(&mut *tx)
        .await?;
        Ok(match row {
            Some(r) => r.try_get::<i64, _>("expires_ms")? >= now_ms,
            None => false,
        })
    }

    /// `player` accepts an invitation to `party`, which must have room for them.
    pub async fn accept_invite(
        &self,
        party: &str,
        player: u64,
        size: u32,
        now_ms: i64,
    ) -> Social<()> {
        let mut tx = self.pool.begin().await?;
        if !Self::take_invite(&mut tx, party, player, now_ms).await? {
            tx.commit().await?;
            return Ok(Err(SocialRefusal::NoInvite));
        }
        let current: Option<String> = sqlx::query("SELECT party FROM players WHERE id = $1")
            .bind(player as i64)
            .fetch_one(&mut *tx)
            .await?
            .try_get("party")?;
        if current.is_some_and(|p| !p.is_empty()) {
            tx.commit().await?;
            return Ok(Err(SocialRefusal::AlreadyInParty));
        }
        // Lock the party row (a no-op update) so two accepts cannot both fit.
        let exists = sqlx::query("UPDATE parties SET leader_id = leader_id WHERE id = $1")
            .bind(party)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM players WHERE party = $1")
            .bind(party)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if exists == 0 || n == 0 {
            tx.commit().await?;
            return Ok(Err(SocialRefusal::NoInvite));
        }
        if n >= i64::from(size) {
            tx.commit().await?;
            return Ok(Err(SocialRefusal::PartyFull));
        }
        sqlx::query("UPDATE players SET party = $1 WHERE id = $2")
            .bind(party)
            .bind(player as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Declines (forgets) an invitation; false when there was none.
    pub async fn decline_invite(&self, party: &str, player: u64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM party_invites WHERE party_id = $1 AND player_id = $2")
            .bind(party)
            .bind(player as i64)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Takes `player` out of its party. A leaving leader hands over to the member
    /// with the lowest id; the last one out removes the party. `None`: in no party.
    pub async fn leave_party(&self, player: u64) -> Result<Option<Departure>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let party: Option<String> = sqlx::query("SELECT party FROM players WHERE id = $1")
            .bind(player as i64)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("party"))
            .transpose()?
            .flatten();
        let Some(party) = party.filter(|p| !p.is_empty()) else {
            tx.commit().await?;
            return Ok(None);
        };
        sqlx::query("UPDATE parties SET leader_id = leader_id WHERE id = $1")
            .bind(&party)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE players SET party = NULL WHERE id = $1")
            .bind(player as i64)
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query("SELECT id FROM players WHERE party = $1 ORDER BY id")
            .bind(&party)
            .fetch_all(&mut *tx)
            .await?;
        let remaining = ids(&rows, "id")?;
        match remaining.first() {
            None => {
                sqlx::query("DELETE FROM parties WHERE id = $1")
                    .bind(&party)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM party_invites WHERE party_id = $1")
                    .bind(&party)
                    .execute(&mut *tx)
                    .await?;
            }
            Some(&next) => {
                sqlx::query("UPDATE parties SET leader_id = $1 WHERE id = $2 AND leader_id = $3")
                    .bind(next as i64)
                    .bind(&party)
                    .bind(player as i64)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(Some(Departure { party, remaining }))
    }

    /// Makes `player` the leader of `party`.
    pub async fn set_leader(&self, party: &str, player: u64) -> Result<(), StoreError> {
        sqlx::query("UPDATE parties SET leader_id = $1 WHERE id = $2")
            .bind(player as i64)
            .bind(party)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Mutes `player`'s chat until `until_ms` (0: lifts the mute).
    pub async fn set_chat_mute(&self, player: u64, until_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM chat_mutes WHERE player_id = $1")
            .bind(player as i64)
            .execute(&mut *tx)
            .await?;
        if until_ms > 0 {
            sqlx::query("INSERT INTO chat_mutes (player_id, until_ms) VALUES ($1, $2)")
                .bind(player as i64)
                .bind(until_ms)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Until when `player` is muted by a moderator (0: not muted).
    pub async fn chat_mute(&self, player: u64) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT until_ms FROM chat_mutes WHERE player_id = $1")
            .bind(player as i64)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get("until_ms")?,
            None => 0,
        })
    }

    /// Appends a row to the moderation audit.
    pub async fn audit(&self, e: &arcane_control_api::AuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO moderation_audit (at_ms, actor, action, player_id, reason, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(e.at_ms)
        .bind(&e.actor)
        .bind(&e.action)
        .bind(e.player_id as i64)
        .bind(&e.reason)
        .bind(&e.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest `limit` audit rows, newest first.
    pub async fn audit_log(
        &self,
        limit: u32,
    ) -> Result<Vec<arcane_control_api::AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at_ms, actor, action, player_id, reason, detail FROM moderation_audit \
             ORDER BY at_ms DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(arcane_control_api::AuditEntry {
                    at_ms: r.try_get("at_ms")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    player_id: r.try_get::<i64, _>("player_id")? as u64,
                    reason: r.try_get("reason")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }
}
