DROP TABLE register_person_weeks;
