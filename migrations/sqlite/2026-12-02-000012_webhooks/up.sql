-- Webhook subscriptions and their delivery log. The outbox is the event feed itself
-- (feed_events, written in the transaction of each change): a subscription keeps a cursor
-- into the feed and is delivered event after event, in order, from it. A process takes a
-- subscription for a while (a lease, claimed with FOR UPDATE SKIP LOCKED on PostgreSQL), so
-- several serve processes share the work and one killed mid-delivery leaves it to another.
CREATE TABLE webhook_subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    -- A provider's id, or 'council' for a commissioner's subscription.
    owner TEXT NOT NULL,
    url TEXT NOT NULL,
    -- JSON array of event types; empty for every type.
    event_types TEXT NOT NULL,
    description TEXT,
    secret TEXT NOT NULL,
    status TEXT NOT NULL,
    disabled_reason TEXT,
    -- The feed position delivered through.
    cursor_seq BIGINT NOT NULL,
    failures INTEGER NOT NULL,
    failing_since TIMESTAMP,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_until TIMESTAMP,
    leased_by TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_subscriptions_owner ON webhook_subscriptions (owner, id);
CREATE INDEX webhook_subscriptions_due ON webhook_subscriptions (status, next_attempt_at);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    attempt INTEGER NOT NULL,
    attempted_at TIMESTAMP NOT NULL,
    status_code INTEGER,
    error TEXT,
    duration_ms BIGINT NOT NULL,
    succeeded BOOLEAN NOT NULL,
    redelivery BOOLEAN NOT NULL
);
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, id);

-- Redeliveries asked for, delivered ahead of the cursor's next event.
CREATE TABLE webhook_redeliveries (
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    requested_at TIMESTAMP NOT NULL,
    PRIMARY KEY (subscription_id, event_id)
);
