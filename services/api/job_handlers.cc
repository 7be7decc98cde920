// The job resource: POST /api/v1/jobs, GET /api/v1/jobs[/{id}], PATCH and
// DELETE /api/v1/jobs/{id}, POST /api/v1/jobs/{id}/cancel|pause|resume|run,
// and GET /api/v1/schedules/preview (a job's schedule before submitting it).
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "events/fold.h"
#include "events/ids.h"
#include "services/api/api_internal.h"
#include "services/api/cursor.h"
#include "services/api/job_commands.h"
#include "services/api/job_queries.h"
#include "services/api/job_spec.h"
#include "services/api/job_submit.h"
#include "services/api/job_update.h"
#include "services/api/job_view.h"
#include "services/api/request_params.h"
#include "services/api/schedule_preview.h"
#include "services/api/workflow_routes.h"

namespace jobsched::api {
namespace {

constexpr int kDefaultListLimit = 50;
constexpr int kMaxListLimit = 500;

// The statuses GET /jobs filters on: every status but DELETED (deleted jobs
// are not listed).
std::string ValidStatusNames() {
  std::string out;
  for (int i = v1::JobStatus_MIN; i <= v1::JobStatus_MAX; ++i) {
    auto s = static_cast<v1::JobStatus>(i);
    if (!v1::JobStatus_IsValid(i) || s == v1::JOB_STATUS_UNSPECIFIED ||
        s == v1::JOB_STATUS_DELETED) {
      continue;
    }
    out += (out.empty() ? "" : ", ") + std::string(events::JobStatusName(s));
  }
  return out;
}

}  // namespace

// POST /api/v1/jobs. Validation happens here, on the I/O thread (CPU only,
// bounded by max_request_bytes); the answer comes from the producer's callback.
// A job with depends_on first reads its parents (worker thread).
void ApiApplication::Impl::Submit(const ResponderPtr& r, const RequestInfo& req) {
  events::Origin origin = MakeOrigin(req);
  auto planned =
      PlanJobSubmission(req.body, req.idempotency_key, origin, [] { return RandomId(); });
  if (auto* error = std::get_if<ApiError>(&planned)) return r->SendError(*error);
  PlannedSubmission& plan = std::get<PlannedSubmission>(planned);
  r->SetJobId(plan.event.job_id());
  if (plan.event.job_submitted().spec().depends_on_size() == 0) {
    return FinishSubmit(r, std::move(plan.event), plan.keyed);
  }
  ResolveDependsOn(r, std::move(plan.event), plan.keyed);
}

void ApiApplication::Impl::GetJob(const ResponderPtr& r, const std::string& id) {
  WithJob(r, id, [r](v1::JobState state) { r->SendJson(200, RenderJob(state)); });
}

void ApiApplication::Impl::ListJobs(const ResponderPtr& r, const RequestInfo& req) {
  if (auto e = CheckQueryParams(req.query, {"status", "limit", "cursor"})) return r->SendError(*e);
  JobListQuery query;
  if (auto it = req.query.find("status"); it != req.query.end()) {
    v1::JobStatus status = events::ParseJobStatus(it->second);
    if (status == v1::JOB_STATUS_UNSPECIFIED || status == v1::JOB_STATUS_DELETED) {
      return r->SendError(
          {"invalid_parameter",
           "must be one of " + ValidStatusNames() + ", got " + DescribeValue(json(it->second)),
           "status"});
    }
    query.status = it->second;
  }
  if (auto e = ParseLimit(req.query, kDefaultListLimit, kMaxListLimit, &query.limit)) {
    return r->SendError(*e);
  }
  if (auto it = req.query.find("cursor"); it != req.query.end()) {
    query.cursor = DecodeCursor(it->second);
    if (!query.cursor) {
      return r->SendError(
          {"invalid_parameter",
           "is not a cursor this API returned; pass next_cursor from the previous page unchanged",
           "cursor"});
    }
  }
  WithDatabase<json>(
      r, [query](ApiQueries& q) { return q.ListJobs(query); },
      [r](json page) { r->SendJson(200, page); });
}

// descendant not ended); the scheduler decides the actual JobCanceled.
void ApiApplication::Impl::Cancel(const ResponderPtr& r, const std::string& id,
                                  const RequestInfo& req) {
  auto cascade = ParseCancelQuery(req.query);
  if (auto* error = std::get_if<ApiError>(&cascade)) return r->SendError(*error);
  const bool descendants = std::get<bool>(cascade);
  events::Origin origin = MakeOrigin(req);
  WithJob(r, id, [this, r, id, origin, descendants](v1::JobState state) {
    std::string status_name(events::JobStatusName(state.status()));
    if (events::IsTerminal(state.status())) {
      return r->SendError({"job_terminal",
                           "job " + id + " is already " + status_name + " and cannot be canceled",
                           "", json{{"status", status_name}}});
    }
    // The stored id is canonical (lower case): it is the Kafka key of the job's stream.
    const std::string& job_id = state.job_id();
    events::Envelope event =
        events::MakeEnvelope(ids::EventId("CancelRequested", job_id, ""), job_id, origin);
    event.mutable_cancel_requested()->set_reason("requested through the API");
    json answer = {{"job_id", job_id}, {"status", status_name}, {"cancel_requested", true}};
    if (!descendants) return AppendThenRespond(r, event, 202, answer.dump(), "");
    CancelWithDescendants(r, std::move(event), std::move(answer), origin);
  });
}

// POST /api/v1/jobs/{id}/pause|resume|run and DELETE /api/v1/jobs/{id}:
// reads the job, checks the command against the fold (a rejection is a 409
// and appends nothing), appends it and answers 202 once Kafka acknowledged.
void ApiApplication::Impl::RunCommand(const ResponderPtr& r, const std::string& id,
                                      const RequestInfo& req, Command command) {
  if (auto error = CheckIdempotencyKeyHeader(req)) return r->SendError(*error);
  events::Origin origin = MakeOrigin(req);
  std::optional<std::string> key = req.idempotency_key;
  WithJob(r, id, [this, r, origin, key, command](v1::JobState state) {
    const std::string& job_id = state.job_id();
    events::Envelope event =
        MakeCommand(command, job_id, CommandEventId(command, job_id, key), origin);
    auto checked = CheckCommand(state, event, /*recurring_only=*/command != Command::kDelete);
    if (auto* error = std::get_if<ApiError>(&checked)) return r->SendError(*error);
    json answer = {{"job_id", job_id}};
    if (command == Command::kRunNow) {
      answer["run_id"] = event.run_requested().run_id();
      answer["fire_id"] = event.run_requested().fire_id();
    } else {
      answer["status"] = events::JobStatusName(std::get<v1::JobState>(checked).status());
    }
    AppendThenRespond(r, event, 202, answer.dump(), "");
  });
}

// PATCH /api/v1/jobs/{id}: the body's shape is checked on the I/O thread;
// the merged spec is validated against the stored job on a worker thread,
// then JobUpdated is appended and the merged job's view answered (202).
void ApiApplication::Impl::UpdateJob(const ResponderPtr& r, const std::string& id,
                                     const RequestInfo& req) {
  auto body = ParseBody(req);
  if (auto* error = std::get_if<ApiError>(&body)) return r->SendError(*error);
  json patch = std::move(std::get<json>(body));
  if (auto error = CheckUpdateShape(patch)) return r->SendError(FromFieldError(*error));
  if (auto error = CheckIdempotencyKeyHeader(req)) return r->SendError(*error);
  events::Origin origin = MakeOrigin(req);
  std::optional<std::string> key = req.idempotency_key;
  WithJob(r, id, [this, r, origin, key, patch = std::move(patch)](v1::JobState state) {
    const std::string status(events::JobStatusName(state.status()));
    if (events::IsTerminal(state.status())) {
      return r->SendError(
          {"job_terminal",
           "job " + state.job_id() + " is already " + status + " and cannot be updated", "",
           json{{"status", status}}});
    }
    auto update = ParseJobUpdate(patch, state.spec(), clock_.Now());
    if (auto* error = std::get_if<FieldError>(&update)) {
      return r->SendError(FromFieldError(std::move(*error)));
    }
    const std::string& job_id = state.job_id();
    events::Envelope event = MakeUpdate(job_id, UpdateEventId(job_id, key), origin,
                                        std::move(std::get<JobUpdate>(update)));
    auto checked = CheckCommand(state, event, /*recurring_only=*/false);
    if (auto* error = std::get_if<ApiError>(&checked)) return r->SendError(*error);
    std::string view = RenderJob(std::get<v1::JobState>(checked))
                           .dump(-1, ' ', false, json::error_handler_t::replace);
    AppendThenRespond(r, event, 202, std::move(view), "");
  });
}

// GET /api/v1/schedules/preview: pure, answered on the I/O thread.
void ApiApplication::Impl::Preview(const ResponderPtr& r, const RequestInfo& req) {
  auto answer = PreviewSchedule(req.query, clock_.Now());
  if (auto* error = std::get_if<ApiError>(&answer)) return r->SendError(*error);
  r->SendJson(200, std::get<json>(answer));
}

}  // namespace jobsched::api
