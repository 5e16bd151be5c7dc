ALTER TABLE claim_lines DROP COLUMN findings;
