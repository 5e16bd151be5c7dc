-- The audit trail becomes a transparency log (RFC 9162). A writing transaction records its
-- events in audit_pending, with no sequence number or hash and no lock on any shared row;
-- one sequencer (the serve process holding an advisory lock) moves them into audit_events
-- in order, appends their leaves and the subtrees they complete to audit_tree, and signs
-- checkpoints of the tree into audit_checkpoints. Events from before the log keep their
-- chain hashes (prev_hash, hash) and become its first leaves, in their order.

CREATE TABLE audit_pending (
    -- A UUIDv7, monotonic in each process: the order the sequencer takes them in.
    event_id TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_sub TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    version INTEGER,
    content_sha256 TEXT
);

ALTER TABLE audit_events ALTER COLUMN prev_hash DROP NOT NULL;
ALTER TABLE audit_events ALTER COLUMN hash DROP NOT NULL;
ALTER TABLE audit_events ADD COLUMN event_id TEXT UNIQUE;
ALTER TABLE audit_events ADD COLUMN sequenced_at TIMESTAMP;

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END
$$;

-- Every complete subtree of the log: level 0 holds the leaf hashes, (level, idx) the
-- subtree over leaves idx*2^level .. (idx+1)*2^level - 1.
CREATE TABLE audit_tree (
    level INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TRIGGER audit_tree_no_update BEFORE UPDATE OR DELETE ON audit_tree
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_tree_no_truncate BEFORE TRUNCATE ON audit_tree
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Signed checkpoints (C2SP tlog-checkpoint notes), one a tree size.
CREATE TABLE audit_checkpoints (
    tree_size BIGINT PRIMARY KEY NOT NULL,
    root_hash BYTEA NOT NULL,
    note TEXT NOT NULL,
    signed_at TIMESTAMP NOT NULL
);
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
