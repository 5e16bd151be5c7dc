ALTER TABLE agreements DROP COLUMN funding;
ALTER TABLE agreements DROP COLUMN primary_support_reason;
