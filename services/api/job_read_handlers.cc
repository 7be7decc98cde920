// The job's history and explanations: GET /api/v1/jobs/{id}/executions,
// /stats, /logs, /events and /why. Answered for any job with a row (DELETED
// ones included), read your writes as for GET /api/v1/jobs/{id}.
#include <string>
#include <utility>

#include "services/api/api_internal.h"
#include "services/api/job_events.h"
#include "services/api/request_params.h"

namespace jobsched::api {

void ApiApplication::Impl::ListExecutions(const ResponderPtr& r, const std::string& id,
                                          const RequestInfo& req) {
  auto query = ParseExecutionsQuery(req.query);
  if (auto* error = std::get_if<ApiError>(&query)) return r->SendError(*error);
  WithJobQuery(r, id, [id, q = std::get<ExecutionsQuery>(query)](ApiQueries& queries) {
    return queries.ListExecutions(id, q);
  });
}

// POST /api/v1/jobs/{id}/cancel[?cascade=true]: reads the job (worker

void ApiApplication::Impl::Stats(const ResponderPtr& r, const std::string& id,
                                 const RequestInfo& req) {
  if (auto e = CheckQueryParams(req.query, {})) return r->SendError(*e);
  WithJobQuery(r, id, [id](ApiQueries& q) { return q.Stats(id); });
}

void ApiApplication::Impl::Logs(const ResponderPtr& r, const std::string& id,
                                const RequestInfo& req) {
  auto query = ParseLogsQuery(req.query);
  if (auto* error = std::get_if<ApiError>(&query)) return r->SendError(*error);
  WithJobQuery(r, id, [id, q = std::get<LogsQuery>(query)](ApiQueries& queries) {
    return queries.Logs(id, q);
  });
}

void ApiApplication::Impl::Why(const ResponderPtr& r, const std::string& id,
                               const RequestInfo& req) {
  auto at = ParseWhyQuery(req.query);
  if (auto* error = std::get_if<ApiError>(&at)) return r->SendError(*error);
  WithJobQuery(r, id, [id, t = std::get<TimePoint>(at), now = clock_.Now()](ApiQueries& q) {
    return q.Why(id, t, now);
  });
}

void ApiApplication::Impl::Events(const ResponderPtr& r, const std::string& id,
                                  const RequestInfo& req) {
  auto query = ParseEventsQuery(req.query);
  if (auto* error = std::get_if<ApiError>(&query)) return r->SendError(*error);
  WithJobQuery(r, id, [id, q = std::get<EventsQuery>(query)](ApiQueries& queries) {
    return queries.Events(id, q);
  });
}

}  // namespace jobsched::api
