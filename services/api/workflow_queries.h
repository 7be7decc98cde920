// The API's reads for workflows and dependencies (migration 004: the
// `workflows` and `job_dependencies` tables, jobs.workflow_id/workflow_key).
// One function per use, each in one read-only transaction on the connection
// it is lent; called on worker threads, safe to repeat. libpqxx exceptions
// propagate (PgPool maps them to a Status); a row that cannot be decoded
// throws std::runtime_error (-> 500).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "services/api/cursor.h"

namespace jobsched::api {

// GET /workflows/{id}: RenderWorkflow of the row and its jobs' statuses;
// nullopt when there is no row.
std::optional<nlohmann::json> LoadWorkflowView(pqxx::connection& c, const std::string& workflow_id);

inline constexpr int kDefaultWorkflowsLimit = 50;
inline constexpr int kMaxWorkflowsLimit = 100;  // each item counts its jobs

struct WorkflowListQuery {
  int limit = kDefaultWorkflowsLimit;
  std::optional<WorkflowCursor> cursor;
  std::string trigger_job_id;  // "" = any
};

// GET /workflows: {workflows: [RenderWorkflowSummary], next_cursor}, newest
// first by (submitted_at, workflow_id).
nlohmann::json ListWorkflowsPage(pqxx::connection& c, const WorkflowListQuery& query);

// What POST /workflows/{id}/cancel acts on.
struct WorkflowCancelTarget {
  bool expanded = false;  // WorkflowExpanded projected, or every job is: every job exists
  // The jobs not ended, in the spec's order: those whose row is not
  // terminal, and those without a row yet (the projection of another
  // partition may lag behind WorkflowExpanded).
  std::vector<std::string> open_job_ids;
};
std::optional<WorkflowCancelTarget> LoadWorkflowCancelTarget(pqxx::connection& c,
                                                             const std::string& workflow_id);

// The descendants of `job_id` (children, their children, ...: a recursive
// query over job_dependencies) that have not ended, at most `limit` + 1 of
// them (more than `limit` tells the caller there are too many), by id.
std::vector<std::string> LoadOpenDescendants(pqxx::connection& c, const std::string& job_id,
                                             size_t limit);

// GET /jobs/{id}/dependencies: {job_id, parents: [{job_id, name, status,
// dependency, reason}], children: [{job_id, name, status, dependency}]}
// (dependency: how the child stands with that parent, PENDING | SATISFIED |
// FAILED), each list by the other job's creation; nullopt without a job row.
std::optional<nlohmann::json> DependenciesOf(pqxx::connection& c, const std::string& job_id);

// A job named in depends_on, as POST /jobs checks it.
struct ParentInfo {
  std::string job_id;
  std::string status;         // JobStatusName
  bool recurring = false;     // it never SUCCEEDS: no job can wait for it
  bool workflow_run = false;  // a workflow's id, not a job's
  int64_t dependents = 0;     // children it has already (job_dependencies rows)
};

// The jobs among `job_ids` (canonical UUIDs) that have a row.
std::vector<ParentInfo> LoadParents(pqxx::connection& c, const std::vector<std::string>& job_ids);

}  // namespace jobsched::api
