// The JSON views the API returns. Pure, thread-compatible. The same renderer
// serves the 201 of a submission (the state folded from the one JobSubmitted
// the API appended) and GET /api/v1/jobs/{id} (the projected jobs.fold_state),
// so both answers have the same shape by construction.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "events/envelope.h"
#include "events/time.h"

namespace jobsched::api {

// {job_id, name, type, status, recurring, priority, max_retries, attempts,
//  run_at, next_run_at, next_fire_at, timeout_seconds, retry_policy{strategy,
//  base_delay_ms, max_delay_ms}, http{url, method, headers, body} | null,
//  payload, idempotency_key, cancel_requested, last_error, created_at,
//  updated_at, resources{name: amount}, pool, execution_type, queue_reason,
//  lease, depends_on [parent job ids], workflow_id, workflow_key (null unless
//  the job belongs to a workflow run)}; a trigger (type "workflow") adds
//  workflow{name, jobs: how many}. next_fire_at and next_run_at are the same instant (the fold's
//  next_fire_at: null while paused or ended). queue_reason is why a queued
//  run waits (RunWaiting: no live executor of the pool fits it), null once
//  dispatched; lease {run_id, epoch, executor_id, executor_incarnation,
//  dispatched_at} is the current run's while an executor holds it, else null.
// Recurring jobs add schedule{cron, timezone, dst_gap, dst_overlap, start_at,
//  end_at, max_runs, concurrency_policy, misfire_policy} (names as the API
//  takes them; max_runs null = unlimited), last_fire_at (the schedule's
//  cursor: the last slot fired or skipped), runs_in_flight, paused_at,
//  end_reason and counts{fires, manual_runs, succeeded, failed, canceled,
//  skipped} (the fold's summary counters).
// Times are RFC 3339 UTC with milliseconds; absent values are null.
nlohmann::json RenderJob(const v1::JobState& state);

// One row of job_executions, as the API reads it.
struct ExecutionRow {
  std::string run_id;
  std::optional<std::string> fire_id;
  int attempt = 0;
  std::optional<std::string> kind;          // scheduled | manual
  std::optional<std::string> nominal_time;  // "2026-03-08T02:30:00"; null for one-off jobs
  std::string status;  // job_executions.status: DUE, DISPATCHED, RUNNING, SUCCEEDED, ...
  std::optional<TimePoint> scheduled_for;
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> finished_at;
  std::optional<int> http_status;
  std::optional<int64_t> duration_ms;
  std::optional<int64_t> drift_ms;  // started_at - scheduled_for
  std::optional<std::string> error;
  std::optional<std::string> executor_id;
  int64_t lease_epoch = 0;  // of the latest dispatch; 0 = never dispatched
  int releases = 0;         // leases lost or handed back, the attempt made due again
  bool permanent = false;   // a failure not worth retrying
  int64_t retry_after_ms = 0;
  std::optional<std::string> wait_reason;  // RunWaiting, while queued
};

// {run_id, fire_id, attempt, kind, nominal_time, scheduled_for, started_at,
//  finished_at, status, http_status, duration_ms, drift_ms, error,
//  executor_id, lease_epoch, releases, permanent, retry_after_ms,
//  queue_reason}; status is RUNNING, SUCCEEDED, FAILED, TIMED_OUT, CANCELED
// or LOST (the lease was lost while an at_most_once run ran) as stored, and
// QUEUED for a run that is DUE or DISPATCHED (not started yet). One row per
// attempt: a lease lost or handed back makes the same attempt due again
// (releases + 1) and its next dispatch a higher lease_epoch. Empty strings,
// lease_epoch 0 and retry_after_ms 0 render as null.
nlohmann::json RenderExecution(const ExecutionRow& row);

// Percentiles of one measure over the stats window; null when no attempt
// has a value.
struct Percentiles {
  std::optional<int64_t> p50;
  std::optional<int64_t> p99;
  std::optional<int64_t> max;
};

// The latest finished attempts of a job (job_executions), see RenderStats.
struct StatsWindow {
  int64_t attempts = 0;  // attempts in the window (at most kStatsWindow)
  Percentiles duration_ms;
  Percentiles drift_ms;
};

// The stats window: percentiles cover at most this many attempts, the latest
// (by due time) that ended with a result (SUCCEEDED, FAILED, TIMED_OUT).
inline constexpr int64_t kStatsWindow = 10'000;

// GET /jobs/{id}/stats: {job_id, runs, succeeded, failed, canceled, skipped,
//  success_rate, duration_ms{p50, p99, max}, drift_ms{p50, p99, max}, window}.
// The counts are the fold's summary: runs = succeeded + failed + canceled
// (runs that ended, scheduled and manual, whatever their attempts), skipped =
// slots that did not fire; success_rate = succeeded / (succeeded + failed),
// null before any run succeeded or failed. window = window.attempts.
nlohmann::json RenderStats(const v1::JobState& state, const StatsWindow& window);

// One row of job_logs, as GET /jobs/{id}/logs returns it.
struct LogRow {
  int64_t offset = 0;  // kafka_offset: the row's position in the job's stream
  TimePoint ts;
  std::string level;
  std::string event_type;
  std::string outcome;
  std::string message;
  std::string event_id;
  std::optional<std::string> run_id;
};

// {ts, level, event_type, outcome, message, event_id, run_id, offset}.
nlohmann::json RenderLog(const LogRow& row);

// The client-facing status of a run: DUE and DISPATCHED become QUEUED.
std::string ExecutionStatusName(std::string_view stored);

}  // namespace jobsched::api
