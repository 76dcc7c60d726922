-- Players and their single owner. Written to run unchanged on SQLite and PostgreSQL.
CREATE TABLE players (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    -- Last zone and position the player was saved in (placement is sticky).
    zone TEXT NOT NULL,
    x DOUBLE PRECISION NOT NULL,
    y DOUBLE PRECISION NOT NULL,
    hp BIGINT NOT NULL,
    mana BIGINT NOT NULL,
    -- JSON array of {"item": "...", "count": n} and of creatures; owned with the player.
    inventory TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);

-- Exactly one zone owns a player at any instant. Every change of owner bumps the
-- epoch with a compare-and-set, and a zone's writes carry the epoch it owns.
CREATE TABLE ownership (
    player_id BIGINT PRIMARY KEY REFERENCES players (id),
    zone TEXT NOT NULL,
    epoch BIGINT NOT NULL
);

-- Player ids are handed out from here (portable across both databases).
CREATE TABLE id_counter (
    name TEXT PRIMARY KEY,
    next_id BIGINT NOT NULL
);
INSERT INTO id_counter (name, next_id) VALUES ('players', 1);
