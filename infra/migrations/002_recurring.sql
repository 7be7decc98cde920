-- jobsched projections, version 2: recurring schedules. Fires and their drift
-- on job_executions, the slots a record concerns on job_logs (for "why
-- didn't it fire at T?"), the schedule on jobs. Still a pure fold of the log.

ALTER TABLE job_executions
  ADD COLUMN fire_id      uuid,   -- the fire this attempt belongs to
  ADD COLUMN nominal_time text,   -- local wall time the schedule named ("2026-03-08T02:30:00")
  ADD COLUMN kind         text,   -- scheduled | manual
  -- started - scheduled: how late the handler started (NULL until it starts)
  ADD COLUMN drift_ms     bigint GENERATED ALWAYS AS
    (floor(extract(epoch FROM started_at - scheduled_for) * 1000)::bigint) STORED;
CREATE INDEX job_executions_job_due_idx ON job_executions (job_id, due_at DESC, attempt DESC);

ALTER TABLE job_logs
  ADD COLUMN scheduled_for   timestamptz,  -- RunDue, FireSkipped: the (first) slot's instant
  ADD COLUMN scheduled_until timestamptz;  -- FireSkipped: the last slot's instant
CREATE INDEX job_logs_job_slot_idx ON job_logs (job_id, scheduled_for)
  WHERE scheduled_for IS NOT NULL;

ALTER TABLE jobs
  ADD COLUMN schedule text,   -- cron expression of a recurring job, NULL for one-off jobs
  ADD COLUMN timezone text;

-- "Why didn't it fire at T?" reads a job's lifecycle records (submission,
-- updates, pauses, endings) whatever its age: a few rows among millions.
CREATE INDEX job_logs_job_lifecycle_idx ON job_logs (job_id, kafka_offset)
  WHERE event_type IN ('JobSubmitted', 'JobUpdated', 'PauseRequested', 'ResumeRequested',
                       'CancelRequested', 'JobCanceled', 'JobCompleted', 'JobSucceeded',
                       'JobDead', 'DeleteRequested');
