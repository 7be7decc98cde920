// The API's reads of the PostgreSQL projections (infra/migrations): one
// function per route, each in one read-only transaction on the connection it
// is lent. Called on worker threads (WorkerPool + PgPool), never on I/O
// threads. Safe to repeat (PgPool::Run may run a query twice). libpqxx
// exceptions propagate (PgPool maps them to a Status); a projection row that
// cannot be decoded throws std::runtime_error (-> 500).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "events/envelope.h"
#include "events/time.h"
#include "services/api/cursor.h"
#include "services/api/request_params.h"

namespace jobsched::api {

// The job's projected state (jobs.fold_state), or nullopt when there is no row
// (DELETED jobs have one: callers that hide them check the status).
std::optional<v1::JobState> LoadJob(pqxx::connection& c, const std::string& job_id);

// The projected states of those of `job_ids` (canonical UUIDs) that have a
// row, by job id (one query: POST /jobs/batch checks its idempotency keys).
std::map<std::string, v1::JobState> LoadJobs(pqxx::connection& c,
                                             const std::vector<std::string>& job_ids);

// The job's row together with how far the projection `projection` has read
// `partition` of `topic` (projection_offsets.next_offset, 0 when it has not
// started), from one snapshot: the projector writes both in one transaction,
// so the row reflects exactly the records below next_offset.
struct ProjectedJob {
  std::optional<v1::JobState> state;
  int64_t next_offset = 0;
};
ProjectedJob LoadProjectedJob(pqxx::connection& c, const std::string& job_id,
                              const std::string& projection, const std::string& topic,
                              int32_t partition);

struct JobListQuery {
  std::string status;  // a JobStatusName, "" = any
  int limit = 50;
  std::optional<ListCursor> cursor;
};

// GET /jobs: {jobs, next_cursor}, newest first by (created_at, job_id);
// DELETED jobs are never listed.
nlohmann::json ListJobsPage(pqxx::connection& c, const JobListQuery& query);

// The reads below answer for any job with a jobs row, DELETED ones included
// (their history stays); nullopt when there is none.

// GET /jobs/{id}/executions: {executions, next_cursor}, newest first by
// (due_at, attempt, run_id) (every run has due_at: the time its RunDue was
// appended), one row per attempt.
std::optional<nlohmann::json> ExecutionsPage(pqxx::connection& c, const std::string& job_id,
                                             const ExecutionsQuery& query);

// GET /jobs/{id}/stats: RenderStats of the fold's summary and the latest
// kStatsWindow attempts that ended with a result.
std::optional<nlohmann::json> JobStats(pqxx::connection& c, const std::string& job_id);

// GET /jobs/{id}/logs: {logs, next_cursor}, newest first by kafka_offset.
std::optional<nlohmann::json> LogsPage(pqxx::connection& c, const std::string& job_id,
                                       const LogsQuery& query);

// GET /jobs/{id}/why?at=: loads the WhyFacts from job_logs (the job's
// lifecycle records, and the slot records at T through
// job_logs_job_slot_idx), decides with ExplainWhy, and adds to a `fired`
// verdict the status and attempt count of the fire's run (its latest attempt
// in job_executions; null before the projector has it).
std::optional<nlohmann::json> ExplainAt(pqxx::connection& c, const std::string& job_id,
                                        TimePoint at, TimePoint now);

}  // namespace jobsched::api
