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

// {job_id, name, type, status, priority, max_retries, attempts, run_at,
//  next_run_at, timeout_seconds, retry_policy{strategy, base_delay_ms,
//  max_delay_ms}, http{url, method, headers, body} | null, payload,
//  idempotency_key, cancel_requested, last_error, created_at, updated_at}.
// Times are RFC 3339 UTC with milliseconds; absent values are null.
nlohmann::json RenderJob(const v1::JobState& state);

// One row of job_executions, as the API reads it.
struct ExecutionRow {
  std::string run_id;
  int attempt = 0;
  std::string status;  // job_executions.status: DUE, DISPATCHED, RUNNING, SUCCEEDED, ...
  std::optional<TimePoint> scheduled_for;
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> finished_at;
  std::optional<int> http_status;
  std::optional<int64_t> duration_ms;
  std::optional<std::string> error;
  std::optional<std::string> executor_id;
};

// {run_id, attempt, scheduled_for, started_at, finished_at, status,
//  http_status, duration_ms, error, executor_id}; status is SUCCEEDED, FAILED,
// TIMED_OUT or RUNNING as stored, and QUEUED for a run that is DUE or
// DISPATCHED (not started yet). Empty strings render as null.
nlohmann::json RenderExecution(const ExecutionRow& row);

// The client-facing status of a run: DUE and DISPATCHED become QUEUED.
std::string ExecutionStatusName(std::string_view stored);

}  // namespace jobsched::api
