DROP TABLE feed_events;
