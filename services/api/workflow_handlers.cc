// The handlers of the workflow and dependency routes (workflow_routes.h):
// thin, on top of ApiApplication::Impl's plumbing (api_internal.h). The
// decisions are pure (workflow_routes.h, workflow_spec.h), the SQL is in
// workflow_queries.h.
#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "events/envelope.h"
#include "events/ids.h"
#include "services/api/api_internal.h"
#include "services/api/workflow_queries.h"
#include "services/api/workflow_routes.h"
#include "services/api/workflow_spec.h"
#include "services/api/workflow_view.h"
#include "services/common/logging.h"

namespace jobsched::api {
namespace {

ApiError WorkflowNotFound(const std::string& id) {
  return {"workflow_not_found",
          "no workflow with id " + id + " (a workflow just submitted may take a moment to appear)",
          ""};
}

}  // namespace

// POST /api/v1/jobs with depends_on: the parents must exist (PostgreSQL, or
// this process's own appends: read your writes); those that already ended go
// into JobSubmitted.parents. Then FinishSubmit.
void ApiApplication::Impl::ResolveDependsOn(const ResponderPtr& r, events::Envelope event,
                                            bool keyed) {
  const auto& depends_on = event.job_submitted().spec().depends_on();
  std::vector<std::string> parent_ids(depends_on.begin(), depends_on.end());
  WithDatabase<std::vector<ParentInfo>>(
      r, [parent_ids](ApiQueries& q) { return q.Parents(parent_ids); },
      [this, r, parent_ids, keyed,
       event = std::move(event)](std::vector<ParentInfo> found) mutable {
        for (const std::string& id : parent_ids) {
          if (std::any_of(found.begin(), found.end(),
                          [&](const ParentInfo& p) { return p.job_id == id; })) {
            continue;
          }
          std::optional<RecentJob> recent = recent_->Find(id);
          if (!recent) continue;
          if (auto state = UnprojectedState(std::nullopt, 0, *recent)) {
            found.push_back(ParentFromState(*state));
          }
        }
        auto parents = ResolveParents(event.job_submitted().spec(), found);
        if (auto* error = std::get_if<ApiError>(&parents)) return r->SendError(*error);
        for (v1::ParentStatus& p : std::get<std::vector<v1::ParentStatus>>(parents)) {
          *event.mutable_job_submitted()->add_parents() = std::move(p);
        }
        FinishSubmit(r, std::move(event), keyed);
      });
}

// POST /api/v1/jobs/{id}/cancel?cascade=true, once the job was found not
// ended: its CancelRequested (`event`) and one for each descendant not
// ended, appended together; the answer gains canceled_descendants.
void ApiApplication::Impl::CancelWithDescendants(const ResponderPtr& r, events::Envelope event,
                                                 json answer, const events::Origin& origin) {
  const std::string job_id = event.job_id();
  WithDatabase<std::vector<std::string>>(
      r, [job_id](ApiQueries& q) { return q.OpenDescendants(job_id, kMaxCascade); },
      [this, r, job_id, origin, event, answer](std::vector<std::string> found) mutable {
        if (found.size() > kMaxCascade) {
          return r->SendError(
              {"conflict",
               "job " + job_id + " has more than " + std::to_string(kMaxCascade) +
                   " descendants not ended; nothing was appended: cancel their workflows, or "
                   "the job without cascade",
               ""});
        }
        std::vector<events::Envelope> events = PlanCascadeCancel(job_id, found, origin);
        events.insert(events.begin(), std::move(event));
        answer["canceled_descendants"] = found.size();
        AppendAllThenRespond(r, std::move(events), 202, answer.dump());
      });
}

void ApiApplication::Impl::ServeWorkflows(const ResponderPtr& r, const RequestInfo& req,
                                          WorkflowRequest request) {
  switch (request.action) {
    case WorkflowAction::kSubmit:
      return SubmitWorkflow(r, req);
    case WorkflowAction::kGet:
      return GetWorkflow(r, request.workflow_id);
    case WorkflowAction::kCancel:
      return CancelWorkflow(r, request.workflow_id, req);
    case WorkflowAction::kList:
      return WithDatabase<json>(
          r,
          [q = std::move(request.list)](ApiQueries& queries) { return queries.ListWorkflows(q); },
          [r](json page) { r->SendJson(200, page); });
  }
}

std::optional<events::Envelope> ApiApplication::Impl::RecentWorkflow(const std::string& id) {
  std::optional<RecentJob> recent = recent_->Find(id);
  if (!recent) return std::nullopt;
  for (const AppendedEvent& e : recent->events) {
    if (e.event->has_workflow_submitted()) return *e.event;
  }
  return std::nullopt;
}

// POST /api/v1/workflows: validated on the I/O thread (pure, bounded by
// max_request_bytes), then one WorkflowSubmitted appended.
void ApiApplication::Impl::SubmitWorkflow(const ResponderPtr& r, const RequestInfo& req) {
  auto body = ParseBody(req);
  if (auto* error = std::get_if<ApiError>(&body)) return r->SendError(*error);
  if (auto error = CheckIdempotencyKeyHeader(req)) return r->SendError(*error);
  auto planned = PlanWorkflowSubmission(std::get<json>(body), req.idempotency_key, MakeOrigin(req));
  if (auto* error = std::get_if<ApiError>(&planned)) return r->SendError(*error);
  auto plan =
      std::make_shared<const PlannedWorkflow>(std::move(std::get<PlannedWorkflow>(planned)));
  r->SetJobId(plan->event.job_id());
  if (plan->keyed) return SubmitWorkflowKeyed(r, std::move(plan));
  AppendThenRespond(r, plan->event, 201,
                    plan->view.dump(-1, ' ', false, json::error_handler_t::replace),
                    plan->location);
}

// As SubmitKeyed for jobs: the key names one workflow; if it exists
// (projected, or appended by this process) the answer is 409 with it and
// nothing is appended. One request per key looks and appends at a time here.
void ApiApplication::Impl::SubmitWorkflowKeyed(const ResponderPtr& r,
                                               std::shared_ptr<const PlannedWorkflow> plan) {
  if (r->answered()) return;
  const std::string id = plan->event.job_id();
  auto resume = [guard = guard_, r, plan] {
    std::lock_guard<std::recursive_mutex> lock(guard->mu);
    if (guard->impl != nullptr) guard->impl->SubmitWorkflowKeyed(r, plan);
  };
  if (!in_flight_->Begin(id, std::move(resume))) return AwaitKeyHolder(r, id, "workflow");
  auto hold = std::make_shared<KeyHold>(in_flight_, id);
  auto decide = [this, r, plan, hold, id](std::optional<json> existing) {
    if (!existing) {
      if (auto appended = RecentWorkflow(id)) {
        existing = RenderWorkflow(RecordFromEvent(*appended), {});
      }
    }
    if (existing) {
      r->TrySendErrorWith(DuplicateWorkflow(*existing), json{{"workflow", *existing}},
                          plan->location);
      return;
    }
    AppendThenRespond(r, plan->event, 201,
                      plan->view.dump(-1, ' ', false, json::error_handler_t::replace),
                      plan->location, hold, /*keyed_workflow=*/true);
  };
  WithDatabase<std::optional<json>>(
      r, [id](ApiQueries& q) { return q.GetWorkflow(id); }, decide,
      [this, decide, id](const Status& s) {
        // Without PostgreSQL the key is checked against this process's
        // appends only; a second WorkflowSubmitted of the key (same event id)
        // changes nothing.
        services::Log(*logger_, spdlog::level::warn,
                      "idempotency key not checked: PostgreSQL unavailable",
                      {{"workflow_id", id}, {"reason", s.message()}});
        decide(std::nullopt);
      });
}

// GET /api/v1/workflows/{id}: the projection, else (read your writes) the
// WorkflowSubmitted this process appended.
void ApiApplication::Impl::GetWorkflow(const ResponderPtr& r, const std::string& id) {
  r->SetJobId(id);
  WithDatabase<std::optional<json>>(
      r, [id](ApiQueries& q) { return q.GetWorkflow(id); },
      [this, r, id](std::optional<json> view) {
        if (!view) {
          if (auto appended = RecentWorkflow(id)) {
            view = RenderWorkflow(RecordFromEvent(*appended), {});
          }
        }
        if (!view) return r->SendError(WorkflowNotFound(id));
        r->SendJson(200, *view);
      });
}

// POST /api/v1/workflows/{id}/cancel: CancelRequested for every job of the
// workflow not ended. Its jobs are known once it is expanded.
void ApiApplication::Impl::CancelWorkflow(const ResponderPtr& r, const std::string& id,
                                          const RequestInfo& req) {
  r->SetJobId(id);
  events::Origin origin = MakeOrigin(req);
  WithDatabase<std::optional<WorkflowCancelTarget>>(
      r, [id](ApiQueries& q) { return q.WorkflowCancelTargetOf(id); },
      [this, r, id, origin](std::optional<WorkflowCancelTarget> target) {
        if (!target) {
          if (!RecentWorkflow(id)) return r->SendError(WorkflowNotFound(id));
          target = WorkflowCancelTarget{};  // appended here, not projected: not expanded
        }
        if (!target->expanded) {
          return r->SendError(
              {"workflow_not_expanded",
               "workflow " + id +
                   " has not been expanded into its jobs yet (the scheduler does "
                   "it a moment after the submission); nothing was appended: retry in a moment",
               ""});
        }
        std::vector<events::Envelope> events = PlanWorkflowCancel(id, target->open_job_ids, origin);
        json answer = {{"workflow_id", id}, {"canceled", events.size()}};
        AppendAllThenRespond(r, std::move(events), 202, answer.dump());
      });
}

void ApiApplication::Impl::Dependencies(const ResponderPtr& r, const std::string& id,
                                        const RequestInfo& req) {
  if (auto e = CheckQueryParams(req.query, {})) return r->SendError(*e);
  WithJobQuery(r, id, [id = CanonicalJobId(id)](ApiQueries& q) { return q.Dependencies(id); });
}

void ApiApplication::Impl::AppendAllThenRespond(const ResponderPtr& r,
                                                std::vector<events::Envelope> events, int status,
                                                std::string body) {
  if (r->answered()) return;
  if (events.empty()) {
    r->TrySendBody(status, body);
    return;
  }
  if (!producer_.Reachable()) {
    r->SendError({"kafka_unavailable",
                  "no Kafka broker is reachable; nothing was appended: retry later", ""});
    return;
  }
  const std::string advice =
      "some of its " + std::to_string(events.size()) +
      " events may be stored: repeat the request (it appends the same events, which the "
      "scheduler recognises) or look the jobs up";
  if (options_.ack_timeout.count() > 0) {
    std::weak_ptr<Responder> weak = r;
    std::string ms = std::to_string(options_.ack_timeout.count());
    timer_.At(SteadyClock::now() + options_.ack_timeout, [weak, ms, advice] {
      if (auto r = weak.lock()) {
        r->TrySendError(
            {"append_unconfirmed",
             "the event log did not confirm the request within " + ms + " ms; " + advice, ""});
      }
    });
  }
  // Shared by the acknowledgements, which may run after this object is gone.
  struct Batch {
    std::mutex mu;
    size_t left = 0;     // guarded by mu
    size_t refused = 0;  // not stored; guarded by mu
    size_t unknown = 0;  // outcome unknown; guarded by mu
    std::string reason;  // the first failure's; guarded by mu
  };
  auto batch = std::make_shared<Batch>();
  batch->left = events.size();
  const size_t total = events.size();
  auto shared_body = std::make_shared<const std::string>(std::move(body));
  auto logger = logger_;
  for (events::Envelope& event : events) {
    events::Record record;
    record.topic = topics_.job_events;
    record.key = event.job_id();
    record.value = events::Encode(event);
    producer_.AppendAsync(
        std::move(record), [r, logger, recent = recent_, batch, total, status, shared_body, advice,
                            appended = std::make_shared<const events::Envelope>(std::move(event))](
                               const Status& s, const events::Record& acked) {
          if (s.ok()) recent->Record(appended, acked.partition, acked.offset);
          size_t refused = 0;
          size_t unknown = 0;
          std::string reason;
          {
            std::lock_guard<std::mutex> lock(batch->mu);
            if (!s.ok()) {
              ++(s.code() == ErrorCode::kTimeout ? batch->unknown : batch->refused);
              if (batch->reason.empty()) batch->reason = s.message();
            }
            if (--batch->left > 0) return;
            refused = batch->refused;
            unknown = batch->unknown;
            reason = batch->reason;
          }
          bool answered = false;
          if (refused == 0 && unknown == 0) {
            answered = r->TrySendBody(status, *shared_body);
          } else if (refused == total) {
            answered = r->TrySendError({"kafka_unavailable",
                                        "the event log did not take the request (" + reason +
                                            "); nothing was appended: retry later",
                                        ""});
          } else {
            answered = r->TrySendError(
                {"append_unconfirmed",
                 "the event log did not confirm the request (" + reason + "); " + advice, ""});
          }
          if (!answered) {
            services::Log(*logger, spdlog::level::warn,
                          "event log answered after the client was told 503",
                          {{"events", std::to_string(total)},
                           {"refused", std::to_string(refused)},
                           {"unknown", std::to_string(unknown)}});
          }
        });
  }
}

}  // namespace jobsched::api
