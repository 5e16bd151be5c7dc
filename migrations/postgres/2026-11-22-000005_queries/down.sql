ALTER TABLE claim_lines DROP COLUMN accepted_need_band;
DROP INDEX submissions_created;
DROP INDEX submissions_status;
DROP INDEX submissions_period;
DROP INDEX submissions_contract;
DROP TABLE submission_findings;
