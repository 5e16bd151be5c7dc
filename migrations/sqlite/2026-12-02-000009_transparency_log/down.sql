DROP TABLE audit_checkpoints;
DROP TABLE audit_tree;
DROP TABLE audit_pending;
CREATE TABLE audit_events_chain (
    seq BIGINT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_sub TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    version INTEGER,
    content_sha256 TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
-- Events sequenced by the log have no chain hashes; they cannot go back into the chain.
INSERT INTO audit_events_chain
SELECT seq, at, actor_sub, actor_role, action, entity, entity_id, version, content_sha256,
    prev_hash, hash
FROM audit_events WHERE prev_hash IS NOT NULL;
DROP TABLE audit_events;
ALTER TABLE audit_events_chain RENAME TO audit_events;
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
