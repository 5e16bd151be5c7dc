-- The audit trail becomes a transparency log (RFC 9162). A writing transaction records its
-- events in audit_pending, with no sequence number or hash and no lock on any shared row;
-- one sequencer moves them into audit_events in order, appends their leaves and the subtrees
-- they complete to audit_tree, and signs checkpoints of the tree into audit_checkpoints.
-- Events from before the log keep their chain hashes (prev_hash, hash) and become its first
-- leaves, in their order.

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

-- The chain columns become optional (SQLite changes a column only by rebuilding its table).
CREATE TABLE audit_events_log (
    seq BIGINT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_sub TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    version INTEGER,
    content_sha256 TEXT,
    prev_hash TEXT,
    hash TEXT,
    event_id TEXT UNIQUE,
    sequenced_at TIMESTAMP
);
INSERT INTO audit_events_log (seq, at, actor_sub, actor_role, action, entity, entity_id,
    version, content_sha256, prev_hash, hash)
SELECT seq, at, actor_sub, actor_role, action, entity, entity_id, version, content_sha256,
    prev_hash, hash
FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_log RENAME TO audit_events;
CREATE INDEX audit_events_entity ON audit_events (entity, entity_id);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

-- Every complete subtree of the log: level 0 holds the leaf hashes, (level, idx) the
-- subtree over leaves idx*2^level .. (idx+1)*2^level - 1.
CREATE TABLE audit_tree (
    level INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TRIGGER audit_tree_no_update BEFORE UPDATE ON audit_tree
BEGIN
    SELECT RAISE(ABORT, 'the audit tree is append-only');
END;
CREATE TRIGGER audit_tree_no_delete BEFORE DELETE ON audit_tree
BEGIN
    SELECT RAISE(ABORT, 'the audit tree is append-only');
END;

-- Signed checkpoints (C2SP tlog-checkpoint notes), one a tree size.
CREATE TABLE audit_checkpoints (
    tree_size BIGINT PRIMARY KEY NOT NULL,
    root_hash BLOB NOT NULL,
    note TEXT NOT NULL,
    signed_at TIMESTAMP NOT NULL
);
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
