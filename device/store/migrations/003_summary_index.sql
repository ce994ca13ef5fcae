-- Covering index for summaries: per person and type, in time order, with the values, live rows only.
CREATE INDEX measurements_summary ON measurements (person_id, type, taken_at, value, value2) WHERE deleted = 0;
