-- The event feed (GET /v1/events): a notice of each change a provider or the council
-- would want to hear about, written in the same transaction as the change and keyed by the
-- audit event that records it. The sequencer gives it that event's place in the log
-- (seq), so the feed has one order, final once assigned: the same cursor always reads the
-- same events, across restarts and processes.
CREATE TABLE feed_events (
    event_id TEXT PRIMARY KEY NOT NULL,
    seq BIGINT UNIQUE,
    provider_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    object_version INTEGER,
    payload TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL
);
CREATE INDEX feed_events_provider_seq ON feed_events (provider_id, seq);
