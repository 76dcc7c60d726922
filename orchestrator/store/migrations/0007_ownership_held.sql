-- Which zone process holds the player in memory, from the join that loaded it to its
-- logout save: a token of that process's lease generation and the connection
-- (`hold_token`). While it is set the zone may hold a newer state than the player's
-- row, so ownership moves without a handoff (placement) only once it is cleared: by
-- the logout save of that same join, or when the zone's next process serves (after
-- recovering the journal of a killed one) or its process releases its lease.
ALTER TABLE ownership ADD COLUMN held_by BIGINT;
