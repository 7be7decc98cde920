-- Records of job-events that are no event (bytes that do not decode as an
-- Envelope, or ids that are not UUIDs): kept with their bytes, so the archive
-- holds every record of the topic, not only its events. Written in the same
-- transaction as the batch's other rows; times come from the record.
CREATE TABLE undecodable_records (
  topic           text        NOT NULL,
  kafka_partition int         NOT NULL,
  kafka_offset    bigint      NOT NULL,
  record_key      bytea       NOT NULL,
  record_value    bytea       NOT NULL,
  error           text        NOT NULL,             -- why it is no event
  recorded_at     timestamptz NOT NULL,             -- the record's CreateTime
  PRIMARY KEY (topic, kafka_partition, kafka_offset)
);
