-- Statistics that keep up with a week's load. The default thresholds (10-20 % of a table
-- changed) leave the hot tables unanalysed for most of a nation's week, and the audit
-- log's pending table is emptied as fast as it is filled, so its dead rows want vacuuming
-- by count. These matter only where autovacuum runs; the submission-time lookups are
-- shaped to use their indexes without any statistics (see the persistence crate).
ALTER TABLE submissions SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000);
ALTER TABLE submission_versions SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000);
ALTER TABLE register_lines SET (autovacuum_analyze_scale_factor = 0.01, autovacuum_analyze_threshold = 50000,
    autovacuum_vacuum_insert_scale_factor = 0.05);
ALTER TABLE attendance_slots SET (autovacuum_analyze_scale_factor = 0.01, autovacuum_analyze_threshold = 50000);
ALTER TABLE claim_lines SET (autovacuum_analyze_scale_factor = 0.01, autovacuum_analyze_threshold = 50000,
    autovacuum_vacuum_insert_scale_factor = 0.05);
ALTER TABLE claimed_units SET (autovacuum_analyze_scale_factor = 0.01, autovacuum_analyze_threshold = 50000);
ALTER TABLE agreements SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000);
ALTER TABLE audit_events SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.05);
ALTER TABLE audit_tree SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.05);
ALTER TABLE audit_pending SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000,
    autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 10000);
