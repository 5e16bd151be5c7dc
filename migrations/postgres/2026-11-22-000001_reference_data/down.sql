DROP TABLE audit_head;
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
DROP TABLE agreements;
DROP TABLE rate_cells;
DROP TABLE rate_matrix_versions;
DROP TABLE contracts;
DROP TABLE providers;
