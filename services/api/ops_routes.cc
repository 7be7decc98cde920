#include "services/api/ops_routes.h"

#include "events/fold.h"
#include "events/ids.h"
#include "services/api/job_commands.h"
#include "services/api/job_spec.h"
#include "services/api/job_view.h"
#include "services/api/ops_queries.h"

namespace jobsched::api {
namespace {

using nlohmann::json;
using Pistache::Http::Method;

std::variant<DeadLettersQuery, ApiError> ParseDeadLettersQuery(const QueryParams& query) {
  if (auto e = CheckQueryParams(query, {"limit", "cursor", "include_requeued"})) return *e;
  DeadLettersQuery q;
  if (auto e = ParseLimit(query, kDefaultDeadLettersLimit, kMaxDeadLettersLimit, &q.limit)) {
    return *e;
  }
  if (auto it = query.find("include_requeued"); it != query.end()) {
    if (it->second != "true" && it->second != "false") {
      return ApiError{"invalid_parameter",
                      "must be true or false, got " + DescribeValue(json(it->second)),
                      "include_requeued"};
    }
    q.include_requeued = it->second == "true";
  }
  if (auto it = query.find("cursor"); it != query.end()) {
    q.cursor = DecodeDeadLetterCursor(it->second);
    if (!q.cursor) {
      return ApiError{
          "invalid_parameter",
          "is not a cursor this API returned; pass next_cursor from the previous page unchanged",
          "cursor"};
    }
  }
  return q;
}

}  // namespace

std::optional<OpsRoute> MatchOpsRoute(Method method, const std::vector<std::string_view>& parts,
                                      const QueryParams& query, TimePoint now,
                                      const OpsOptions& options) {
  if (parts.size() < 3 || parts[0] != "api" || parts[1] != "v1") return std::nullopt;
  const std::string_view area = parts[2];
  if (area == "executors" && parts.size() == 3) {
    if (method != Method::Get) return OpsMethodNotAllowed{Method::Get};
    if (auto e = CheckQueryParams(query, {})) return *e;
    return OpsRead{[now, timeout = options.executor_timeout](ApiQueries& q) {
      return q.Executors(now, timeout);
    }};
  }
  if (area == "queue" && parts.size() == 4 && parts[3] == "stats") {
    if (method != Method::Get) return OpsMethodNotAllowed{Method::Get};
    if (auto e = CheckQueryParams(query, {})) return *e;
    return OpsRead{[](ApiQueries& q) { return q.QueueStats(); }};
  }
  if (area != "dead-letters") return std::nullopt;
  if (parts.size() == 3) {
    if (method != Method::Get) return OpsMethodNotAllowed{Method::Get};
    auto q = ParseDeadLettersQuery(query);
    if (auto* e = std::get_if<ApiError>(&q)) return *e;
    return OpsRead{[q = std::get<DeadLettersQuery>(q)](ApiQueries& queries) {
      return queries.DeadLetters(q);
    }};
  }
  if (parts.size() == 5 && parts[4] == "requeue") {
    if (method != Method::Post) return OpsMethodNotAllowed{Method::Post};
    return OpsRequeue{std::string(parts[3])};
  }
  return std::nullopt;
}

std::variant<PlannedRequeue, ApiError> PlanRequeue(
    const v1::JobState& state, const std::optional<std::string>& idempotency_key,
    const events::Origin& origin) {
  const std::string& job_id = state.job_id();
  // Without a key, the cause is the requeue this request asks for: the next
  // one while the job is DEAD, else the one already made (a retried request
  // that finds it done repeats its event, which the fold calls a duplicate).
  const int number = state.requeues() + (state.status() == v1::JOB_STATUS_DEAD ? 1 : 0);
  const std::string cause = idempotency_key ? "Idempotency-Key:" + *idempotency_key
                                            : "requeue:" + std::to_string(number);
  events::Envelope event =
      events::MakeEnvelope(ids::EventId("JobRequeued", job_id, cause), job_id, origin);
  event.mutable_job_requeued()->set_reason("requested through the API");
  // The state this decision rests on: a scheduler that evicted the job long
  // after it died (bounded state) resumes from it instead of an empty one.
  event.mutable_job_requeued()->set_state(events::EncodeDeterministic(state));
  auto checked = CheckCommand(state, event, /*recurring_only=*/false);
  if (auto* error = std::get_if<ApiError>(&checked)) {
    if (state.status() != v1::JOB_STATUS_DEAD) {
      const std::string status(events::JobStatusName(state.status()));
      return ApiError{"job_not_dead",
                      "job " + job_id + " is " + status + ": only a DEAD job can be requeued",
                      "", json{{"status", status}}};
    }
    return std::move(*error);
  }
  json view = RenderJob(std::get<v1::JobState>(checked));
  return PlannedRequeue{std::move(event), std::move(view)};
}

}  // namespace jobsched::api
