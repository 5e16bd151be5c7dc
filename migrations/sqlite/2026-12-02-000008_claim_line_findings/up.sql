-- Each priced claim line keeps the findings about it (a JSON array), so that a claim is
-- answered with its findings beside their lines without reading line numbers back out of
-- the pointers. Lines stored before are filled from their version's report.
ALTER TABLE claim_lines ADD COLUMN findings TEXT NOT NULL DEFAULT '[]';
UPDATE claim_lines SET findings = (
    SELECT json_group_array(json(f.value))
    FROM submission_versions v, json_each(v.findings, '$.findings') f
    WHERE v.submission_id = claim_lines.submission_id
      AND v.version = claim_lines.version
      AND (json_extract(f.value, '$.pointer') = '/lines/' || claim_lines.line_no
           OR json_extract(f.value, '$.pointer') LIKE '/lines/' || claim_lines.line_no || '/%')
);
