-- jobsched projections, version 1. Every table here is a fold of the
-- job-events topic: drop them, reset projection_offsets, and the projector
-- rebuilds identical rows from the log (timestamps come from events, never now()).

CREATE TABLE jobs (
  job_id           uuid PRIMARY KEY,
  name             text        NOT NULL,
  type             text        NOT NULL,            -- http | echo | sleep | fail
  status           text        NOT NULL,            -- PENDING ... CANCELED (events/fold.h)
  priority         int         NOT NULL,
  max_retries      int         NOT NULL,
  attempts         int         NOT NULL,            -- runs made so far
  run_at           timestamptz,                     -- requested start, NULL = now
  next_fire_at     timestamptz,                     -- SCHEDULED/RETRYING: when the next run is due
  cancel_requested boolean     NOT NULL,
  last_error       text,
  correlation_id   text,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  version          bigint      NOT NULL,            -- events applied
  fold_state       bytea       NOT NULL             -- jobsched.v1.JobState, the fold's full state
);
CREATE INDEX jobs_created_idx ON jobs (created_at DESC, job_id DESC);
CREATE INDEX jobs_status_created_idx ON jobs (status, created_at DESC, job_id DESC);

CREATE TABLE job_executions (
  run_id        uuid PRIMARY KEY,
  job_id        uuid        NOT NULL,
  attempt       int         NOT NULL,
  status        text        NOT NULL,               -- DUE | DISPATCHED | RUNNING | SUCCEEDED | FAILED | TIMED_OUT
  scheduled_for timestamptz,
  due_at        timestamptz,
  dispatched_at timestamptz,
  started_at    timestamptz,
  finished_at   timestamptz,
  executor_id   text,
  lease_epoch   bigint      NOT NULL,
  http_status   int,
  duration_ms   bigint,
  error         text,
  output        text
);
CREATE INDEX job_executions_job_idx ON job_executions (job_id, attempt DESC);

-- One row per record of the log: the audit trail and the archive that outlives
-- Kafka retention. Keyed by position, not event id: a redelivered event is a
-- second record (outcome "duplicate"), and an event first rejected and later
-- applied under the same id keeps both rows.
CREATE TABLE job_logs (
  event_id     uuid        NOT NULL,
  job_id       uuid        NOT NULL,
  run_id       uuid,
  ts           timestamptz NOT NULL,                -- occurred_at
  level        text        NOT NULL,                -- info | warn | error
  event_type   text        NOT NULL,                -- JobSubmitted, RunDue, ...
  outcome      text        NOT NULL,                -- applied | duplicate | rejected (by the fold)
  message      text        NOT NULL,
  producer     text        NOT NULL,
  fields       jsonb       NOT NULL,                -- the whole envelope as Protobuf JSON
  topic        text        NOT NULL,
  kafka_partition int      NOT NULL,
  kafka_offset bigint      NOT NULL,
  envelope     bytea       NOT NULL,                -- the event's bytes, for replay beyond retention
  PRIMARY KEY (topic, kafka_partition, kafka_offset)
);
CREATE INDEX job_logs_job_idx ON job_logs (job_id, kafka_offset);
CREATE INDEX job_logs_event_idx ON job_logs (event_id);

-- Where each projection resumes: written in the same transaction as the rows.
CREATE TABLE projection_offsets (
  projection  text   NOT NULL,
  topic       text   NOT NULL,
  partition   int    NOT NULL,
  next_offset bigint NOT NULL,
  PRIMARY KEY (projection, topic, partition)
);
