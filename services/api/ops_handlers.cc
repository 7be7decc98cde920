// The operations resource: GET /api/v1/executors, /queue/stats,
// /dead-letters and POST /api/v1/dead-letters/{id}/requeue (ops_routes.h).
#include <optional>
#include <string>
#include <utility>

#include "services/api/api_internal.h"
#include "services/api/ops_routes.h"
#include "services/api/routes.h"

namespace jobsched::api {

// The reads run on the worker threads; the requeue loads the job,
// checks JobRequeued against the fold and appends it like the other commands.
void ApiApplication::Impl::ServeOps(const ResponderPtr& r, const RequestInfo& req) {
  std::optional<OpsRoute> route =
      MatchOpsRoute(req.method, SplitPath(req.path), req.query, clock_.Now(),
                    {.executor_timeout = options_.executor_timeout});
  if (!route || std::holds_alternative<OpsMethodNotAllowed>(*route)) {
    // The route table sent it here: the two disagree, a bug.
    return r->SendError({"internal", "no handler for " + req.method_name + " " + req.path, ""});
  }
  if (auto* error = std::get_if<ApiError>(&*route)) return r->SendError(*error);
  if (auto* read = std::get_if<OpsRead>(&*route)) {
    return WithDatabase<json>(r, std::move(read->query),
                              [r](json answer) { r->SendJson(200, answer); });
  }
  if (auto error = CheckIdempotencyKeyHeader(req)) return r->SendError(*error);
  events::Origin origin = MakeOrigin(req);
  std::optional<std::string> key = req.idempotency_key;
  WithJob(r, std::get<OpsRequeue>(*route).job_id, [this, r, origin, key](v1::JobState state) {
    auto planned = PlanRequeue(state, key, origin);
    if (auto* error = std::get_if<ApiError>(&planned)) return r->SendError(*error);
    auto& requeue = std::get<PlannedRequeue>(planned);
    AppendThenRespond(r, requeue.event, 202,
                      requeue.view.dump(-1, ' ', false, json::error_handler_t::replace), "");
  });
}

}  // namespace jobsched::api
