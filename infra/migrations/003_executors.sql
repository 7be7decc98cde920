-- jobsched projections, version 3: execution that survives executors.
-- Capacity and queues on jobs, leases on job_executions, the dead letters
-- (folded from job-events like the rest) and the executors' heartbeats
-- (folded from the `executors` topic, projection "executors" in
-- projection_offsets). Still pure folds of the log: rebuilt rows are
-- identical (times come from events and heartbeats, never now()).

-- What the queue statistics read (GET /api/v1/queue/stats). The run counts
-- come from the fold's runs in flight, so a recurring job's runs count too;
-- a job that has ended has none. Rows written before this migration have
-- zeros until their job's next event (or a rebuild).
ALTER TABLE jobs
  ADD COLUMN pool           text NOT NULL DEFAULT 'default',
  ADD COLUMN execution_type text NOT NULL DEFAULT 'at_least_once',
  ADD COLUMN queued_runs    int  NOT NULL DEFAULT 0,  -- runs not started yet (DUE, DISPATCHED)
  ADD COLUMN running_runs   int  NOT NULL DEFAULT 0,  -- runs RUNNING
  ADD COLUMN retrying_runs  int  NOT NULL DEFAULT 0,  -- failed runs waiting for their retry
  -- RunWaiting: why no executor takes a queued run; NULL once dispatched
  ADD COLUMN queue_reason   text;
CREATE INDEX jobs_in_flight_idx ON jobs (pool, priority)
  WHERE queued_runs > 0 OR running_runs > 0 OR retrying_runs > 0;

-- Still one row per attempt (run_id): a lost or handed-back lease makes the
-- same attempt due again, so its row moves back to DUE and on to the next
-- lease (lease_epoch, executor_id, executor_incarnation are the latest
-- lease's; releases counts the earlier ones, whose dispatches and losses are
-- records in job_logs).
ALTER TABLE job_executions
  ADD COLUMN executor_incarnation text,
  ADD COLUMN releases       int     NOT NULL DEFAULT 0,
  ADD COLUMN permanent      boolean NOT NULL DEFAULT false,  -- a failure not worth retrying
  ADD COLUMN retry_after_ms bigint,                          -- the target's Retry-After
  ADD COLUMN wait_reason    text;                            -- RunWaiting, while DUE

-- A job that ended DEAD (JobDead), one row per job: a requeued job that dies
-- again replaces its row. requeued_at is set by JobRequeued.
CREATE TABLE dead_letters (
  job_id      uuid        PRIMARY KEY,
  name        text        NOT NULL,
  type        text        NOT NULL,
  pool        text        NOT NULL,
  priority    int         NOT NULL,
  last_run_id uuid,
  attempts    int         NOT NULL,
  reason      text,
  last_error  text,
  dead_at     timestamptz NOT NULL,   -- JobDead's occurred_at
  event_id    uuid        NOT NULL,   -- the JobDead
  requeued_at timestamptz,            -- JobRequeued's occurred_at; NULL while the job is dead
  requeues    int         NOT NULL    -- requeues of the job before this death
);
CREATE INDEX dead_letters_dead_idx ON dead_letters (dead_at DESC, job_id DESC);
CREATE INDEX dead_letters_waiting_idx ON dead_letters (dead_at DESC, job_id DESC)
  WHERE requeued_at IS NULL;

-- The latest heartbeat of every executor (topic `executors`, key
-- executor_id). ACTIVE or STALE is decided at read time from last_heartbeat
-- and stopping (GET /api/v1/executors).
CREATE TABLE executors (
  executor_id     text        PRIMARY KEY,
  host            text        NOT NULL,
  pool            text        NOT NULL,
  slots           int         NOT NULL,
  resources       jsonb       NOT NULL,  -- capacity: {"cpu": 4, "memory_mb": 8192, ...}
  running         int         NOT NULL,  -- runs in progress
  held_runs       int         NOT NULL,  -- runs it holds, queued or running
  runs            jsonb       NOT NULL,  -- [{"run_id", "lease_epoch", "started"}]
  incarnation     text        NOT NULL,  -- new at every process start
  task_partition  int         NOT NULL,
  started_at      timestamptz,
  last_heartbeat  timestamptz NOT NULL,  -- the heartbeat's sent_at
  stopping        boolean     NOT NULL,  -- its last heartbeat (graceful stop)
  kafka_partition int         NOT NULL,  -- where that heartbeat was read
  kafka_offset    bigint      NOT NULL
);
