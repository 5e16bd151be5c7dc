DROP TABLE workbook_person_outcomes;
DROP INDEX claim_lines_person_date;
