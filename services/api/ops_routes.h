// The operations routes of the API: what the scheduler's executors, queue and
// dead letters look like, and the requeue of a dead job.
//
//   GET  /api/v1/executors                          200 {executors}
//   GET  /api/v1/queue/stats                        200 stats
//   GET  /api/v1/dead-letters?limit=&cursor=&include_requeued=
//                                                   200 {dead_letters, next_cursor}
//   POST /api/v1/dead-letters/{job_id}/requeue      202 job (JobRequeued appended)
//
// MatchOpsRoute decides, on the I/O thread and without I/O, what a request
// asks for; ApiApplication runs the reads on its worker threads and the
// requeue through its load-check-append path (PlanRequeue). The SQL is in
// ops_queries.h, behind ApiQueries. Pure, thread-compatible.
#pragma once

#include <pistache/http_defs.h>

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "events/envelope.h"
#include "events/status.h"
#include "events/time.h"
#include "services/api/api_error.h"
#include "services/api/queries.h"
#include "services/api/request_params.h"

namespace jobsched::api {

struct OpsOptions {
  // An executor whose last heartbeat is older is STALE (the dispatcher's
  // JOBSCHED_EXECUTOR_TIMEOUT_MS, 30 s by default).
  std::chrono::milliseconds executor_timeout{30'000};
};

inline constexpr int kDefaultDeadLettersLimit = 50;
inline constexpr int kMaxDeadLettersLimit = 500;

// A read: `query` runs on a worker thread (ApiQueries); its JSON is answered 200.
struct OpsRead {
  std::function<Result<nlohmann::json>(ApiQueries&)> query;
};
// POST /api/v1/dead-letters/{job_id}/requeue: load the job, then PlanRequeue.
struct OpsRequeue {
  std::string job_id;
};
// The path is an ops route, the method is not the one it takes.
struct OpsMethodNotAllowed {
  Pistache::Http::Method allowed;
};
using OpsRoute = std::variant<OpsRead, OpsRequeue, OpsMethodNotAllowed, ApiError>;

// What the request (`parts`: its path split at '/') asks of the ops routes,
// or nullopt when the path is not one of them. Query parameters are
// validated here (ApiError 400 invalid_parameter); the requeue's job id is
// the caller's to check. `now` is when executors' staleness is judged.
std::optional<OpsRoute> MatchOpsRoute(Pistache::Http::Method method,
                                      const std::vector<std::string_view>& parts,
                                      const QueryParams& query, TimePoint now,
                                      const OpsOptions& options);

// The requeue of a dead job: its JobRequeued event and the job's view after it.
struct PlannedRequeue {
  events::Envelope event;
  nlohmann::json view;
};

// Builds JobRequeued for `state` (the job's projected state, serialized into
// JobRequeued.state) and checks it
// against the fold (CheckCommand). Its event id derives from the
// Idempotency-Key header when given (ids::EventId("JobRequeued", job,
// "Idempotency-Key:<key>"), as for the other commands), else from the job and
// the number of the requeue ("requeue:<n>"): a retried request appends the
// same event, which the fold recognises. A job that is not DEAD is 409 job_not_dead with its
// status (a repeat right after a requeue, while the job waits for its new
// attempt, is a duplicate and answered 202 again).
std::variant<PlannedRequeue, ApiError> PlanRequeue(
    const v1::JobState& state, const std::optional<std::string>& idempotency_key,
    const events::Origin& origin);

}  // namespace jobsched::api
