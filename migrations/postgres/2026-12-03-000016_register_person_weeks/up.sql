-- Who attended in each register version: one row a person, whether any of their
-- attended sessions was in the community and whether any carried each outcome tag.
-- The KPI report breaks a quarter's register measures down by the cohort of each
-- person's agreement as it stands when asked (support reasons are often recorded
-- after the placement), which the per-version counts cannot. Versions stored before
-- are counted from their lines.
CREATE TABLE register_person_weeks (
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    version INTEGER NOT NULL,
    person_ref TEXT NOT NULL,
    in_community BOOLEAN NOT NULL,
    independence BOOLEAN NOT NULL,
    social_inclusion BOOLEAN NOT NULL,
    wellbeing BOOLEAN NOT NULL,
    life_goals BOOLEAN NOT NULL,
    employment_volunteering_education BOOLEAN NOT NULL,
    community_networks BOOLEAN NOT NULL,
    PRIMARY KEY (submission_id, version, person_ref)
);
INSERT INTO register_person_weeks
SELECT l.submission_id, l.version, l.person_ref,
       MAX(CASE WHEN l.community_access THEN 1 ELSE 0 END) = 1,
       MAX(CASE WHEN ',' || l.outcome_tags || ',' LIKE '%,independence,%' THEN 1 ELSE 0 END) = 1,
       MAX(CASE WHEN ',' || l.outcome_tags || ',' LIKE '%,social_inclusion,%' THEN 1 ELSE 0 END) = 1,
       MAX(CASE WHEN ',' || l.outcome_tags || ',' LIKE '%,wellbeing,%' THEN 1 ELSE 0 END) = 1,
       MAX(CASE WHEN ',' || l.outcome_tags || ',' LIKE '%,life_goals,%' THEN 1 ELSE 0 END) = 1,
       MAX(CASE WHEN ',' || l.outcome_tags || ',' LIKE '%,employment_volunteering_education,%' THEN 1 ELSE 0 END) = 1,
       MAX(CASE WHEN ',' || l.outcome_tags || ',' LIKE '%,community_networks,%' THEN 1 ELSE 0 END) = 1
FROM register_lines l
WHERE l.status = 'attended'
GROUP BY l.submission_id, l.version, l.person_ref;
