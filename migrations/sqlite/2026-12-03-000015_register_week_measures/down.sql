DROP TABLE register_week_measures;
