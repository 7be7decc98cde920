#include "services/api/workflow_routes.h"

#include <algorithm>
#include <cctype>
#include <unordered_map>
#include <utility>

#include "events/fold.h"
#include "events/ids.h"
#include "services/api/workflow_spec.h"
#include "services/api/workflow_view.h"

namespace jobsched::api {
namespace {

using nlohmann::json;
using Pistache::Http::Method;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<ApiError> CheckWorkflowId(std::string_view id) {
  if (LooksLikeUuid(id)) return std::nullopt;
  return ApiError{"invalid_workflow_id",
                  "workflow ids are UUIDs, got " + DescribeValue(json(std::string(id))),
                  "workflow_id"};
}

std::variant<WorkflowListQuery, ApiError> ParseListQuery(const QueryParams& query) {
  if (auto e = CheckQueryParams(query, {"limit", "cursor", "trigger_job_id"})) return *e;
  WorkflowListQuery q;
  if (auto e = ParseLimit(query, kDefaultWorkflowsLimit, kMaxWorkflowsLimit, &q.limit)) return *e;
  if (auto it = query.find("cursor"); it != query.end()) {
    q.cursor = DecodeWorkflowCursor(it->second);
    if (!q.cursor) {
      return ApiError{
          "invalid_parameter",
          "is not a cursor this API returned; pass next_cursor from the previous page unchanged",
          "cursor"};
    }
  }
  if (auto it = query.find("trigger_job_id"); it != query.end()) {
    if (!LooksLikeUuid(it->second)) {
      return ApiError{"invalid_parameter",
                      "must be the id (a UUID) of a job of type workflow, got " +
                          DescribeValue(json(it->second)),
                      "trigger_job_id"};
    }
    q.trigger_job_id = Lower(it->second);
  }
  return q;
}

std::string JoinIds(const std::vector<std::string>& ids) {
  std::string out;
  for (const std::string& id : ids) out += (out.empty() ? "" : ", ") + id;
  return out;
}

events::Envelope MakeCancel(const std::string& job_id, const std::string& cause,
                            const std::string& reason, const events::Origin& origin) {
  events::Envelope e =
      events::MakeEnvelope(ids::EventId("CancelRequested", job_id, cause), job_id, origin);
  e.mutable_cancel_requested()->set_reason(reason);
  return e;
}

}  // namespace

std::optional<WorkflowRoute> MatchWorkflowRoute(Method method,
                                                const std::vector<std::string_view>& parts,
                                                const QueryParams& query) {
  if (parts.size() < 3 || parts[0] != "api" || parts[1] != "v1" || parts[2] != "workflows") {
    return std::nullopt;
  }
  if (parts.size() == 3) {
    if (method == Method::Post) return WorkflowRequest{WorkflowAction::kSubmit, "", {}};
    if (method != Method::Get) return WorkflowMethodNotAllowed{{Method::Get, Method::Post}};
    auto list = ParseListQuery(query);
    if (auto* e = std::get_if<ApiError>(&list)) return *e;
    return WorkflowRequest{WorkflowAction::kList, "", std::get<WorkflowListQuery>(list)};
  }
  const bool cancel = parts.size() == 5 && parts[4] == "cancel";
  if (parts.size() != 4 && !cancel) return std::nullopt;
  const Method wanted = cancel ? Method::Post : Method::Get;
  if (method != wanted) return WorkflowMethodNotAllowed{{wanted}};
  if (auto e = CheckWorkflowId(parts[3])) return *e;
  if (auto e = CheckQueryParams(query, {})) return *e;
  return WorkflowRequest{
      cancel ? WorkflowAction::kCancel : WorkflowAction::kGet, Lower(parts[3]), {}};
}

std::variant<PlannedWorkflow, ApiError> PlanWorkflowSubmission(
    const json& body, const std::optional<std::string>& idempotency_key,
    const events::Origin& origin) {
  auto parsed = ParseWorkflow(body, origin.occurred_at);
  if (auto* e = std::get_if<FieldError>(&parsed)) return FromFieldError(std::move(*e));
  PlannedWorkflow plan;
  plan.keyed = idempotency_key.has_value();
  const std::string id = plan.keyed ? WorkflowIdForIdempotencyKey(*idempotency_key) : RandomId();
  plan.event = events::MakeEnvelope(ids::EventId("WorkflowSubmitted", id, "submit"), id, origin);
  *plan.event.mutable_workflow_submitted()->mutable_spec() =
      std::move(std::get<v1::WorkflowSpec>(parsed));
  if (auto e = CheckWorkflowEventSize(plan.event)) return FromFieldError(std::move(*e));
  plan.view = RenderWorkflow(RecordFromEvent(plan.event), {});
  plan.location = "/api/v1/workflows/" + id;
  return plan;
}

ApiError DuplicateWorkflow(const json& existing) {
  const std::string id = existing.value("workflow_id", "");
  const std::string status = existing.value("status", "");
  return {"duplicate_idempotency_key",
          "a workflow with this idempotency key exists: workflow " + id + " (" + status +
              "), shown in \"workflow\" as it is now; nothing was appended. Look it up with GET "
              "/api/v1/workflows/" +
              id + "; use another key for a new workflow",
          "", json{{"workflow_id", id}}};
}

std::vector<events::Envelope> PlanWorkflowCancel(const std::string& workflow_id,
                                                 const std::vector<std::string>& job_ids,
                                                 const events::Origin& origin) {
  std::vector<events::Envelope> out;
  out.reserve(job_ids.size());
  for (const std::string& job_id : job_ids) {
    out.push_back(MakeCancel(job_id, "workflow-cancel:" + workflow_id,
                             "workflow " + workflow_id + " canceled through the API", origin));
  }
  return out;
}

std::vector<events::Envelope> PlanCascadeCancel(const std::string& job_id,
                                                const std::vector<std::string>& descendants,
                                                const events::Origin& origin) {
  std::vector<events::Envelope> out;
  out.reserve(descendants.size());
  for (const std::string& d : descendants) {
    out.push_back(MakeCancel(d, "cascade:" + job_id,
                             "ancestor " + job_id + " canceled through the API (cascade)", origin));
  }
  return out;
}

std::variant<bool, ApiError> ParseCancelQuery(const QueryParams& query) {
  if (auto e = CheckQueryParams(query, {"cascade"})) return *e;
  auto it = query.find("cascade");
  if (it == query.end()) return false;
  if (it->second != "true" && it->second != "false") {
    return ApiError{"invalid_parameter",
                    "must be true (also cancel every descendant not ended) or false, got " +
                        DescribeValue(json(it->second)),
                    "cascade"};
  }
  return it->second == "true";
}

std::variant<std::vector<v1::ParentStatus>, ApiError> ResolveParents(
    const v1::JobSpec& spec, const std::vector<ParentInfo>& found) {
  std::unordered_map<std::string_view, const ParentInfo*> by_id;
  for (const ParentInfo& p : found) by_id.emplace(p.job_id, &p);
  std::vector<std::string> unknown, workflows, recurring, full;
  for (const std::string& id : spec.depends_on()) {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      unknown.push_back(id);
    } else if (it->second->workflow_run) {
      workflows.push_back(id);
    } else if (it->second->recurring) {
      recurring.push_back(id);
    } else if (it->second->dependents >= static_cast<int64_t>(kMaxDependents)) {
      full.push_back(id);
    }
  }
  if (!unknown.empty() || !workflows.empty()) {
    std::vector<std::string> all = unknown;
    all.insert(all.end(), workflows.begin(), workflows.end());
    std::string message =
        "depends_on names " +
        std::string(all.size() == 1 ? "a job that does not exist: " : "jobs that do not exist: ") +
        JoinIds(all) + " (a parent must be submitted before its children";
    if (!workflows.empty()) {
      message += "; " + JoinIds(workflows) +
                 " is a workflow: depend on its jobs (GET /api/v1/workflows/<id> lists them)";
    }
    return ApiError{"unknown_dependency", message + ")", "depends_on", json{{"job_ids", all}}};
  }
  if (!recurring.empty()) {
    return ApiError{"invalid_dependency",
                    "depends_on names recurring jobs: " + JoinIds(recurring) +
                        "; a recurring job never SUCCEEDS, so nothing could run after it: "
                        "depend on one-off jobs",
                    "depends_on", json{{"job_ids", recurring}}};
  }
  if (!full.empty()) {
    return ApiError{"invalid_dependency",
                    "depends_on names jobs that already have " + std::to_string(kMaxDependents) +
                        " dependents, the limit: " + JoinIds(full),
                    "depends_on", json{{"job_ids", full}}};
  }
  std::vector<v1::ParentStatus> parents;
  for (const std::string& id : spec.depends_on()) {
    const ParentInfo& p = *by_id.at(id);
    v1::ParentStatus s;
    s.set_job_id(id);
    if (p.status == "SUCCEEDED") {
      s.set_status(v1::DEPENDENCY_STATUS_SATISFIED);
    } else if (p.status == "DEAD" || p.status == "CANCELED" || p.status == "DELETED" ||
               p.status == "BLOCKED") {
      s.set_status(v1::DEPENDENCY_STATUS_FAILED);
      s.set_reason("parent " + id + " is " + p.status);
    } else {
      continue;  // not ended: PENDING
    }
    parents.push_back(std::move(s));
  }
  return parents;
}

ParentInfo ParentFromState(const v1::JobState& state) {
  ParentInfo p;
  p.job_id = state.job_id();
  p.status = std::string(events::JobStatusName(state.status()));
  p.recurring = events::IsRecurring(state);
  p.workflow_run = state.workflow_run();
  p.dependents = state.dependents_size();
  return p;
}

}  // namespace jobsched::api
