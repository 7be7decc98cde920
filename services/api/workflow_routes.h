// The workflow and dependency routes of the API: what a request asks for and
// the events it appends, decided without I/O. ApiApplication runs the reads
// (workflow_queries.h) on its worker threads and appends what these plan.
//
//   POST /api/v1/workflows                  201 workflow (one WorkflowSubmitted appended)
//   GET  /api/v1/workflows?limit=&cursor=&trigger_job_id=   200 {workflows, next_cursor}
//   GET  /api/v1/workflows/{id}             200 workflow (workflow_view.h)
//   POST /api/v1/workflows/{id}/cancel      202 {workflow_id, canceled}
//   POST /api/v1/jobs/{id}/cancel?cascade=true   the job and its open descendants
//   GET  /api/v1/jobs/{id}/dependencies     200 {job_id, parents, children}
//   POST /api/v1/jobs with depends_on       parents checked and their ends recorded
//
// Pure, thread-compatible.
#pragma once

#include <pistache/http_defs.h>

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "events/envelope.h"
#include "services/api/api_error.h"
#include "services/api/request_params.h"
#include "services/api/workflow_queries.h"

namespace jobsched::api {

// At most this many descendants are canceled by one cascade; beyond it the
// request is refused (409 conflict) rather than appending without bound.
inline constexpr size_t kMaxCascade = 10'000;

enum class WorkflowAction { kSubmit, kList, kGet, kCancel };

struct WorkflowRequest {
  WorkflowAction action = WorkflowAction::kList;
  std::string workflow_id;  // kGet, kCancel: canonical (lower case)
  WorkflowListQuery list;   // kList
};
// The path is a workflow route, the method is not one it takes.
struct WorkflowMethodNotAllowed {
  std::vector<Pistache::Http::Method> allowed;
};
using WorkflowRoute = std::variant<WorkflowRequest, WorkflowMethodNotAllowed, ApiError>;

// What the request (`parts`: its path split at '/') asks of the workflow
// routes, or nullopt when the path is not one of them. Ids and query
// parameters are checked here: 400 invalid_workflow_id, invalid_parameter.
std::optional<WorkflowRoute> MatchWorkflowRoute(Pistache::Http::Method method,
                                                const std::vector<std::string_view>& parts,
                                                const QueryParams& query);

// POST /api/v1/workflows, ready to append.
struct PlannedWorkflow {
  events::Envelope event;  // WorkflowSubmitted, keyed by the workflow id
  nlohmann::json view;     // the 201 body: RenderWorkflow of the event
  std::string location;    // /api/v1/workflows/<id>
  bool keyed = false;      // the id derives from the Idempotency-Key header
};

// Validates `body` (ParseWorkflow) and builds its event: workflow id from
// the Idempotency-Key (WorkflowIdForIdempotencyKey) when given, else random;
// event id ids::EventId("WorkflowSubmitted", id, "submit"); headers from
// `origin`. Every check (graph, limits, the event's size) happens here.
std::variant<PlannedWorkflow, ApiError> PlanWorkflowSubmission(
    const nlohmann::json& body, const std::optional<std::string>& idempotency_key,
    const events::Origin& origin);

// 409 duplicate_idempotency_key for a keyed POST /workflows whose workflow
// exists; `existing` (its view) goes beside the error as "workflow".
ApiError DuplicateWorkflow(const nlohmann::json& existing);

// CancelRequested for each job: event id ids::EventId("CancelRequested", job,
// "workflow-cancel:" + workflow_id), so a repeat appends the same events.
std::vector<events::Envelope> PlanWorkflowCancel(const std::string& workflow_id,
                                                 const std::vector<std::string>& job_ids,
                                                 const events::Origin& origin);

// CancelRequested for each descendant of `job_id`: event id
// ids::EventId("CancelRequested", descendant, "cascade:" + job_id).
std::vector<events::Envelope> PlanCascadeCancel(const std::string& job_id,
                                                const std::vector<std::string>& descendants,
                                                const events::Origin& origin);

// The `cascade` query parameter of POST /jobs/{id}/cancel: false when absent,
// 400 invalid_parameter unless "true" or "false" (or another parameter).
std::variant<bool, ApiError> ParseCancelQuery(const QueryParams& query);

// POST /jobs depends_on: checks the parents `found` (the jobs among
// spec.depends_on that exist, as read from PostgreSQL or this process's
// appends) and returns JobSubmitted.parents: SATISFIED for a parent that
// SUCCEEDED, FAILED ("parent <id> is DEAD") for one DEAD, CANCELED, DELETED
// or BLOCKED; the others are left out (PENDING). Errors (400, field
// depends_on), each naming every offending id: unknown_dependency for ids
// that are no job (a workflow's id included), invalid_dependency for a
// recurring parent (it never SUCCEEDS) or one with kMaxDependents children.
std::variant<std::vector<v1::ParentStatus>, ApiError> ResolveParents(
    const v1::JobSpec& spec, const std::vector<ParentInfo>& found);

// The ParentInfo of a job known from its folded state (read your writes).
ParentInfo ParentFromState(const v1::JobState& state);

}  // namespace jobsched::api
