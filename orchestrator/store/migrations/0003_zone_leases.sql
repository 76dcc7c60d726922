-- Which process runs each zone. A zone process takes its zone's lease at start (only
-- once the previous holder released it or let it expire) and renews it every second;
-- taking it bumps the generation. Every write a zone makes carries its generation, and
-- the store refuses writes from an older one: a zone process that was replaced (an
-- orphan of a killed orchestrator, one stopped past its lease) can change nothing.
CREATE TABLE zone_leases (
    zone_id TEXT PRIMARY KEY,
    generation BIGINT NOT NULL,
    -- Who holds it: host, pid and a random start token.
    holder TEXT NOT NULL,
    -- Milliseconds since the Unix epoch, on the holder's clock.
    expires_ms BIGINT NOT NULL
);
