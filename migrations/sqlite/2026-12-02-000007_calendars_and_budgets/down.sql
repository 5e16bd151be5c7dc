ALTER TABLE contracts RENAME COLUMN annual_budget_pence TO annual_budget_pence_optional;
ALTER TABLE contracts ADD COLUMN annual_budget_pence BIGINT NOT NULL DEFAULT 0 CHECK (annual_budget_pence >= 0);
UPDATE contracts SET annual_budget_pence = COALESCE(annual_budget_pence_optional, 0);
ALTER TABLE contracts DROP COLUMN annual_budget_pence_optional;
ALTER TABLE contracts DROP COLUMN budgets;
ALTER TABLE contracts DROP COLUMN bank_holiday_region;
