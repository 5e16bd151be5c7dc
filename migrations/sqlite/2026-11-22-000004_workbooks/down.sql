DROP TABLE workbook_kpis;
