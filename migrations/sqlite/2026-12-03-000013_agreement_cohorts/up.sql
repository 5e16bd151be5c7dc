-- Cohorts for the council's reports: why a person is supported (optional) and how the
-- placement is funded (commissioned unless the case record says otherwise).
ALTER TABLE agreements ADD COLUMN primary_support_reason TEXT
    CHECK (primary_support_reason IN ('learning_disability', 'autism', 'physical', 'sensory', 'mental_health', 'dementia', 'other'));
ALTER TABLE agreements ADD COLUMN funding TEXT NOT NULL DEFAULT 'commissioned'
    CHECK (funding IN ('commissioned', 'direct_payment', 'individual_service_fund'));
