-- The generation of the last process that served the zone (took players in). A zone
-- process that took the lease and died before serving (killed mid-start, or by a
-- restarted orchestrator ending its orphans) leaves it alone, so its successor still
-- recovers the journal of the process that served before it.
ALTER TABLE zone_leases ADD COLUMN served_generation BIGINT;
