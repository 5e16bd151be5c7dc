-- Submissions of every kind share one envelope: the submission (one per contract, kind
-- and period), its immutable versions, and per kind the rows other rules query.

CREATE TABLE submissions (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('register', 'workbook', 'claim')),
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    provider_id TEXT NOT NULL REFERENCES providers (id),
    -- The period's key: the Monday of a register's week, a workbook's quarter, a claim's start.
    period_key TEXT NOT NULL,
    period_start DATE NOT NULL,
    period_end DATE NOT NULL,
    current_version INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (contract_id, kind, period_key)
);
CREATE INDEX submissions_provider ON submissions (provider_id, kind, period_start);

CREATE TABLE submission_versions (
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    -- The canonical JSON of the submitted content; content_sha256 is taken over it.
    body TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    findings TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    submitted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (submission_id, version)
);

CREATE TABLE register_lines (
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    version INTEGER NOT NULL,
    line_no INTEGER NOT NULL,
    person_ref TEXT NOT NULL,
    date DATE NOT NULL,
    session_type TEXT NOT NULL,
    status TEXT NOT NULL,
    absence_reason TEXT,
    notice_hours INTEGER,
    one_to_one_quarter_hours INTEGER,
    transport_journeys INTEGER NOT NULL,
    meal BOOLEAN NOT NULL,
    community_access BOOLEAN NOT NULL,
    outcome_tags TEXT NOT NULL,
    PRIMARY KEY (submission_id, version, line_no)
);
-- A person's sessions on a date across all providers (REG-006, CLM-001, CLM-003).
CREATE INDEX register_lines_person_date ON register_lines (person_ref, date);

CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    principal_sub TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    response_status INTEGER,
    response_body TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (scope, idempotency_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
