-- Claims: the council's price of every line of every version, the units live claims
-- hold (a unique key decides duplicates across providers), and decision and payment.

CREATE TABLE claim_lines (
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    version INTEGER NOT NULL,
    line_no INTEGER NOT NULL,
    person_ref TEXT NOT NULL,
    date DATE NOT NULL,
    item TEXT NOT NULL,
    session_type TEXT,
    quantity_quarters BIGINT NOT NULL,
    need_band TEXT NOT NULL,
    unit_price_pence BIGINT NOT NULL,
    amount_pence BIGINT NOT NULL,
    accepted_quantity_quarters BIGINT NOT NULL,
    accepted_unit_price_pence BIGINT NOT NULL,
    accepted_amount_pence BIGINT NOT NULL,
    PRIMARY KEY (submission_id, version, line_no)
);

CREATE TABLE claim_totals (
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    version INTEGER NOT NULL,
    claimed_total_pence BIGINT NOT NULL,
    accepted_total_pence BIGINT NOT NULL,
    PRIMARY KEY (submission_id, version)
);

-- One row per unit (person, date, session, item) held by the current version of a claim
-- that is not rejected or declined, whichever provider claimed it.
CREATE TABLE claimed_units (
    person_ref TEXT NOT NULL,
    date DATE NOT NULL,
    session_key TEXT NOT NULL,
    item TEXT NOT NULL,
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    PRIMARY KEY (person_ref, date, session_key, item)
);
CREATE INDEX claimed_units_submission ON claimed_units (submission_id);

CREATE TABLE claim_states (
    submission_id TEXT PRIMARY KEY NOT NULL REFERENCES submissions (id),
    decision TEXT,
    decision_reason TEXT,
    decided_by TEXT,
    decided_at TIMESTAMP,
    remittance_ref TEXT,
    paid_on DATE,
    paid_by TEXT,
    paid_at TIMESTAMP
);
