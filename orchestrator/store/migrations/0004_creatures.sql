-- Creatures are rows of their own, owned by one player and written in the same
-- transaction as the player's state (checkpoints, logouts, transfer commits), so a
-- creature moves with its owner and is never in two places. The genome is JSON by
-- gene id, under the gene table version it was written with.
CREATE TABLE creatures (
    id BIGINT PRIMARY KEY,
    owner BIGINT NOT NULL REFERENCES players (id),
    species TEXT NOT NULL,
    gene_version BIGINT NOT NULL,
    genome TEXT NOT NULL,
    parent_a BIGINT,
    parent_b BIGINT,
    generation BIGINT NOT NULL,
    born_zone TEXT NOT NULL,
    born_tick BIGINT NOT NULL,
    -- 'active' or 'egg'
    state TEXT NOT NULL,
    hatch_in_ticks BIGINT NOT NULL,
    breed_ready_in_ticks BIGINT NOT NULL
);
CREATE INDEX creatures_by_owner ON creatures (owner);

-- Zone processes reserve blocks of 2^32 creature ids from here at start.
INSERT INTO id_counter (name, next_id) VALUES ('creature_blocks', 1);
