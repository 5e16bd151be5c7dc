-- Reference data owned by the commissioner, and the append-only audit chain.
-- List-valued terms (bands, session hours, policies, dates) are JSON text: they are
-- always read and written whole with their owner and versioned through the audit trail.

CREATE TABLE providers (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    cqc_location_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE contracts (
    id TEXT PRIMARY KEY NOT NULL,
    reference TEXT NOT NULL UNIQUE,
    provider_id TEXT NOT NULL REFERENCES providers (id),
    service_type TEXT NOT NULL,
    start_date DATE NOT NULL,
    end_date DATE,
    need_bands TEXT NOT NULL,
    session_hours TEXT NOT NULL,
    capacity_per_session INTEGER NOT NULL CHECK (capacity_per_session > 0),
    allows_extras BOOLEAN NOT NULL,
    over_delivery_tolerance_pct INTEGER NOT NULL,
    register_deadline_days INTEGER NOT NULL,
    correction_window_days INTEGER NOT NULL,
    payment_period TEXT NOT NULL,
    payment_anchor_date DATE,
    absence_policy TEXT NOT NULL,
    closure_dates TEXT NOT NULL,
    bank_holidays TEXT NOT NULL,
    kpi_targets TEXT NOT NULL,
    annual_budget_pence BIGINT NOT NULL CHECK (annual_budget_pence >= 0),
    status TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX contracts_provider ON contracts (provider_id);

CREATE TABLE rate_matrix_versions (
    id TEXT PRIMARY KEY NOT NULL,
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    effective_from DATE NOT NULL,
    effective_to DATE,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX rate_matrix_versions_contract ON rate_matrix_versions (contract_id, effective_from);

CREATE TABLE rate_cells (
    version_id TEXT NOT NULL REFERENCES rate_matrix_versions (id),
    position INTEGER NOT NULL,
    item TEXT NOT NULL,
    need_band TEXT NOT NULL,
    session_type TEXT,
    day_category TEXT NOT NULL,
    rate_pence BIGINT NOT NULL CHECK (rate_pence >= 0),
    PRIMARY KEY (version_id, position)
);

CREATE TABLE agreements (
    id TEXT PRIMARY KEY NOT NULL,
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    person_ref TEXT NOT NULL,
    start_date DATE NOT NULL,
    end_date DATE,
    pathway TEXT NOT NULL,
    need_bands TEXT NOT NULL,
    planned_sessions TEXT NOT NULL,
    one_to_one_quarter_hours_per_week INTEGER NOT NULL,
    transport_journeys_per_week INTEGER NOT NULL,
    meals INTEGER NOT NULL,
    suspensions TEXT NOT NULL,
    care_plan_review_due DATE,
    content_sha256 TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (contract_id, person_ref)
);
CREATE INDEX agreements_person ON agreements (person_ref);

CREATE TABLE audit_events (
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

-- The chain head: one row, updated in the same transaction as each append. Writers lock
-- it first, so appends from any number of processes are serialised.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
