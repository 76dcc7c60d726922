-- Friends, blocks and mutes: one row per (player, list, other player).
-- kind is 'friend', 'block' or 'mute'.
CREATE TABLE social_lists (
    player_id BIGINT NOT NULL REFERENCES players (id),
    kind TEXT NOT NULL,
    other_id BIGINT NOT NULL REFERENCES players (id),
    PRIMARY KEY (player_id, kind, other_id)
);
CREATE INDEX social_lists_by_other ON social_lists (other_id, kind);

-- Parties. Membership is players.party (the party id), which placement already
-- follows, so a party shares one copy of a zone and one instance.
CREATE TABLE parties (
    id TEXT PRIMARY KEY,
    leader_id BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX players_by_party ON players (party);

-- Live invitations; an accepted, declined or expired one is deleted.
CREATE TABLE party_invites (
    party_id TEXT NOT NULL,
    player_id BIGINT NOT NULL,
    inviter_id BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (party_id, player_id)
);

-- Moderator mutes: no chat until until_ms.
CREATE TABLE chat_mutes (
    player_id BIGINT PRIMARY KEY,
    until_ms BIGINT NOT NULL
);

-- Append-only: mutes, kicks and word-filter hits, with who, when and why.
CREATE TABLE moderation_audit (
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    player_id BIGINT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX moderation_audit_by_time ON moderation_audit (at_ms);

INSERT INTO id_counter (name, next_id) VALUES ('parties', 1);
