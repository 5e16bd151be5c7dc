-- KPI results of every workbook version, so reports read them without re-reading returns.
CREATE TABLE workbook_kpis (
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    version INTEGER NOT NULL,
    code TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    target DOUBLE PRECISION NOT NULL,
    amber_below DOUBLE PRECISION NOT NULL,
    rag TEXT NOT NULL CHECK (rag IN ('red', 'amber', 'green')),
    PRIMARY KEY (submission_id, version, code)
);
