-- Queries across submissions (SPEC §6): finding codes of every version, for the finding
-- filter and the compliance report, and indexes for the filters and reports.

CREATE TABLE submission_findings (
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    version INTEGER NOT NULL,
    code TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('error', 'warning')),
    occurrences INTEGER NOT NULL,
    PRIMARY KEY (submission_id, version, code, severity)
);
CREATE INDEX submission_findings_code ON submission_findings (code, submission_id);

INSERT INTO submission_findings (submission_id, version, code, severity, occurrences)
SELECT v.submission_id, v.version, f.value ->> 'code',
       f.value ->> 'severity', COUNT(*)
FROM submission_versions v, jsonb_array_elements(v.findings::jsonb -> 'findings') f
GROUP BY 1, 2, 3, 4;

CREATE INDEX submissions_contract ON submissions (contract_id, kind, period_start);
CREATE INDEX submissions_period ON submissions (period_start, kind);
CREATE INDEX submissions_status ON submissions (status, kind);
CREATE INDEX submissions_created ON submissions (created_at);

-- The band each claim line is priced at (the band assessed on its date), for spend by band.
ALTER TABLE claim_lines ADD COLUMN accepted_need_band TEXT;
