-- Zone transfers. The source zone writes a pending record (the frozen player's state
-- at the arrival point, with everything they own); the orchestrator commits it in one
-- transaction with the ownership compare-and-set, or aborts it. Idempotent by id.
CREATE TABLE handoffs (
    transfer_id TEXT PRIMARY KEY,
    player_id BIGINT NOT NULL REFERENCES players (id),
    from_zone TEXT NOT NULL,
    from_epoch BIGINT NOT NULL,
    -- 'zone:<id>' or 'instance:<template>'
    target TEXT NOT NULL,
    -- The zone that received the player (set on commit).
    to_zone TEXT,
    -- JSON SavedPlayer.
    state TEXT NOT NULL,
    -- 'pending', 'committed' or 'aborted'.
    status TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    resolved_ms BIGINT
);
CREATE INDEX handoffs_by_status ON handoffs (status, player_id);

-- The party a player logged in with (kept together by placement and instances).
ALTER TABLE players ADD COLUMN party TEXT;
