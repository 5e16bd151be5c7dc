DROP TABLE attendance_slots;
