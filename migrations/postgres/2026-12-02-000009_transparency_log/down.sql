DROP TABLE audit_checkpoints;
DROP TABLE audit_tree;
DROP FUNCTION audit_log_append_only();
DROP TABLE audit_pending;
ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update;
-- Events sequenced by the log have no chain hashes; they cannot go back into the chain.
DELETE FROM audit_events WHERE prev_hash IS NULL;
ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update;
ALTER TABLE audit_events DROP COLUMN sequenced_at;
ALTER TABLE audit_events DROP COLUMN event_id;
ALTER TABLE audit_events ALTER COLUMN hash SET NOT NULL;
ALTER TABLE audit_events ALTER COLUMN prev_hash SET NOT NULL;
