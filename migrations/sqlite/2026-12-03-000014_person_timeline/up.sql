-- A person's history across providers: their priced claim lines found by person, and the
-- outcomes workbooks record for them kept as rows (a projection of each version's body,
-- which stays the record). Versions stored before are filled from their bodies.
CREATE INDEX claim_lines_person_date ON claim_lines (person_ref, date);
CREATE TABLE workbook_person_outcomes (
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    version INTEGER NOT NULL,
    position INTEGER NOT NULL,
    person_ref TEXT NOT NULL,
    domain TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (submission_id, version, position)
);
CREATE INDEX workbook_person_outcomes_person ON workbook_person_outcomes (person_ref);
INSERT INTO workbook_person_outcomes (submission_id, version, position, person_ref, domain, status)
SELECT v.submission_id, v.version, CAST(o.key AS INTEGER),
       json_extract(o.value, '$.person_ref'), json_extract(o.value, '$.domain'), json_extract(o.value, '$.status')
FROM submission_versions v
JOIN submissions s ON s.id = v.submission_id AND s.kind = 'workbook',
     json_each(v.body, '$.person_outcomes') o;
