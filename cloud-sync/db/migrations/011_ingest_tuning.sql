-- Ingest marks each ledger row published right after Kafka acknowledged it. Without an index on
-- published_at and with free space left in each page, that UPDATE is a HOT update (no index writes).
DROP INDEX ingested_messages_unpublished;
ALTER TABLE ingested_messages SET (fillfactor = 80);
