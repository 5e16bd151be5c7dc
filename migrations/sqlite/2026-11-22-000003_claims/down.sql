DROP TABLE claim_states;
DROP TABLE claimed_units;
DROP TABLE claim_totals;
DROP TABLE claim_lines;
