-- jobsched projections, version 4: dependencies and DAG workflows.
-- Still pure folds of job-events: rebuilt rows are identical (times come from
-- events, never now()).

-- The workflow run a job belongs to (JobSpec.workflow_id / workflow_key).
-- WAITING and BLOCKED jobs have no runs in flight: they never count in the
-- queue statistics (queued_runs, running_runs, retrying_runs stay 0).
ALTER TABLE jobs
  ADD COLUMN workflow_id  text,
  ADD COLUMN workflow_key text;
CREATE INDEX jobs_workflow_idx ON jobs (workflow_id) WHERE workflow_id IS NOT NULL;

-- One row per workflow run (WorkflowSubmitted, keyed by the workflow id). A
-- workflow run's fold state is not a job: it never appears in `jobs`; its
-- jobs point here through jobs.workflow_id. Its events are in job_logs under
-- job_id = workflow_id.
CREATE TABLE workflows (
  workflow_id    text        PRIMARY KEY,
  name           text        NOT NULL,
  job_count      int         NOT NULL,
  edge_count     int         NOT NULL,            -- sum of the jobs' depends_on
  trigger_job_id text,                            -- the JOB_TYPE_WORKFLOW job whose fire started it
  trigger_run_id text,
  nominal_time   text,                            -- of that fire
  spec           jsonb       NOT NULL,            -- the WorkflowSpec, Protobuf canonical JSON
  correlation_id text,
  submitted_at   timestamptz NOT NULL,            -- WorkflowSubmitted's occurred_at
  expanded_at    timestamptz,                     -- WorkflowExpanded's occurred_at
  version        bigint      NOT NULL,            -- events applied
  fold_state     bytea       NOT NULL             -- jobsched.v1.JobState (workflow_run = true)
);
CREATE INDEX workflows_submitted_idx ON workflows (submitted_at DESC, workflow_id DESC);
-- GET /workflows?trigger_job_id=: the runs of one trigger, newest first.
CREATE INDEX workflows_trigger_idx ON workflows (trigger_job_id, submitted_at DESC, workflow_id DESC)
  WHERE trigger_job_id IS NOT NULL;

-- One row per edge: the child's view of one parent (JobState.parents).
CREATE TABLE job_dependencies (
  parent_id   text        NOT NULL,
  child_id    text        NOT NULL,
  workflow_id text,                               -- the child's, NULL outside workflows
  status      text        NOT NULL,               -- PENDING | SATISFIED | FAILED
  reason      text,                               -- FAILED: why
  created_at  timestamptz NOT NULL,               -- the child's JobSubmitted
  updated_at  timestamptz NOT NULL,               -- the event that set status
  PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX job_dependencies_child_idx ON job_dependencies (child_id);
