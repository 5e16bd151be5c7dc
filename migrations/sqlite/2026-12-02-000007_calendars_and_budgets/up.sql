-- A contract is priced by a built-in UK bank-holiday calendar (its own days on top), and
-- budgeted per financial year; the annual budget becomes the optional budget of any year
-- without its own. Rename, add, copy and drop keeps the column's name and its check on
-- both back ends alike.
ALTER TABLE contracts ADD COLUMN bank_holiday_region TEXT NOT NULL DEFAULT 'england_and_wales';
ALTER TABLE contracts ADD COLUMN budgets TEXT NOT NULL DEFAULT '[]';
ALTER TABLE contracts RENAME COLUMN annual_budget_pence TO annual_budget_pence_required;
ALTER TABLE contracts ADD COLUMN annual_budget_pence BIGINT CHECK (annual_budget_pence >= 0);
UPDATE contracts SET annual_budget_pence = annual_budget_pence_required;
ALTER TABLE contracts DROP COLUMN annual_budget_pence_required;
