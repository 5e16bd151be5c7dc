-- The parts of a day (am, pm, evening) each person attends, held by the current version of
-- a register that is not rejected, under any provider. Its key decides REG-006 between
-- registers written at the same moment: the second writer fails, re-validates and sees
-- the first.
CREATE TABLE attendance_slots (
    person_ref TEXT NOT NULL,
    date DATE NOT NULL,
    slot TEXT NOT NULL CHECK (slot IN ('am', 'pm', 'evening')),
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    PRIMARY KEY (person_ref, date, slot)
);
CREATE INDEX attendance_slots_submission ON attendance_slots (submission_id);

-- Registers already stored: the first to hold a slot keeps it.
WITH parts (session_type, slot) AS (
    VALUES ('am', 'am'), ('pm', 'pm'), ('full_day', 'am'), ('full_day', 'pm'), ('evening', 'evening')
)
INSERT INTO attendance_slots (person_ref, date, slot, submission_id)
SELECT DISTINCT ON (l.person_ref, l.date, p.slot) l.person_ref, l.date, p.slot, s.id
FROM submissions s
JOIN register_lines l ON l.submission_id = s.id AND l.version = s.current_version
JOIN parts p ON p.session_type = l.session_type
WHERE s.kind = 'register' AND s.status <> 'rejected' AND l.status = 'attended'
ORDER BY l.person_ref, l.date, p.slot, s.created_at, s.id
ON CONFLICT DO NOTHING;
