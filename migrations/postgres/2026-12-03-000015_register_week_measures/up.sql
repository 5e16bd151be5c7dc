-- What each register version shows of outcomes, counted once when it is stored: the
-- distinct people who attended, of them those in the community, and those tagged with
-- each outcome. A quarter's measures then read one row a week. Versions stored before
-- are counted from their lines.
CREATE TABLE register_week_measures (
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    version INTEGER NOT NULL,
    attending BIGINT NOT NULL,
    in_community BIGINT NOT NULL,
    independence BIGINT NOT NULL,
    social_inclusion BIGINT NOT NULL,
    wellbeing BIGINT NOT NULL,
    life_goals BIGINT NOT NULL,
    employment_volunteering_education BIGINT NOT NULL,
    community_networks BIGINT NOT NULL,
    PRIMARY KEY (submission_id, version)
);
INSERT INTO register_week_measures
SELECT l.submission_id, l.version,
       COUNT(DISTINCT l.person_ref),
       COUNT(DISTINCT CASE WHEN l.community_access THEN l.person_ref END),
       COUNT(DISTINCT CASE WHEN ',' || l.outcome_tags || ',' LIKE '%,independence,%' THEN l.person_ref END),
       COUNT(DISTINCT CASE WHEN ',' || l.outcome_tags || ',' LIKE '%,social_inclusion,%' THEN l.person_ref END),
       COUNT(DISTINCT CASE WHEN ',' || l.outcome_tags || ',' LIKE '%,wellbeing,%' THEN l.person_ref END),
       COUNT(DISTINCT CASE WHEN ',' || l.outcome_tags || ',' LIKE '%,life_goals,%' THEN l.person_ref END),
       COUNT(DISTINCT CASE WHEN ',' || l.outcome_tags || ',' LIKE '%,employment_volunteering_education,%' THEN l.person_ref END),
       COUNT(DISTINCT CASE WHEN ',' || l.outcome_tags || ',' LIKE '%,community_networks,%' THEN l.person_ref END)
FROM register_lines l
WHERE l.status = 'attended'
GROUP BY l.submission_id, l.version;
