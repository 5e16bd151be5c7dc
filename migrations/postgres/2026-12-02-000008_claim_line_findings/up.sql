-- Each priced claim line keeps the findings about it (a JSON array), so that a claim is
-- answered with its findings beside their lines without reading line numbers back out of
-- the pointers. Lines stored before are filled from their version's report.
ALTER TABLE claim_lines ADD COLUMN findings TEXT NOT NULL DEFAULT '[]';
UPDATE claim_lines l SET findings = COALESCE((
    SELECT jsonb_agg(f.value ORDER BY f.position)::text
    FROM submission_versions v,
         jsonb_array_elements(v.findings::jsonb -> 'findings') WITH ORDINALITY AS f(value, position)
    WHERE v.submission_id = l.submission_id
      AND v.version = l.version
      AND (f.value ->> 'pointer' = '/lines/' || l.line_no
           OR f.value ->> 'pointer' LIKE '/lines/' || l.line_no || '/%')
), '[]');
