DROP TABLE idempotency_keys;
DROP TABLE register_lines;
DROP TABLE submission_versions;
DROP TABLE submissions;
