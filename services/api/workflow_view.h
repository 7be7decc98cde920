// The JSON views of workflows, and how a workflow's status follows from its
// jobs'. Pure, thread-compatible. The same renderer serves the 201 of POST
// /workflows (from the WorkflowSubmitted appended), GET /workflows/{id}
// (from the projected `workflows` row and the jobs' rows) and the answer read
// from this process's appends before the projection has the workflow.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "events/envelope.h"
#include "events/time.h"

namespace jobsched::api {

// One job of a workflow: its key and its parents' keys.
struct WorkflowJobRef {
  std::string key;
  std::vector<std::string> depends_on;
};

// A workflow run as stored (the workflows row) or as appended.
struct WorkflowRecord {
  std::string workflow_id;
  std::string name;
  std::vector<WorkflowJobRef> jobs;  // in the spec's order
  std::string trigger_job_id;        // "" unless a trigger's fire started it
  std::string trigger_run_id;
  std::string nominal_time;
  TimePoint submitted_at;
  std::optional<TimePoint> expanded_at;  // WorkflowExpanded: every job was appended
};

// The record of a WorkflowSubmitted envelope (submitted_at = occurred_at).
WorkflowRecord RecordFromEvent(const events::Envelope& submitted);

// Keys and depends_on of the jobs of a WorkflowSpec in Protobuf's canonical
// JSON (workflows.spec: "dependsOn"; "depends_on" is read too). Throws
// std::runtime_error when `spec` has no jobs array.
std::vector<WorkflowJobRef> JobsFromSpecJson(const nlohmann::json& spec);

// How many of a workflow's jobs stand where. queued = PENDING + SCHEDULED +
// QUEUED + RETRYING, failed = DEAD, canceled = CANCELED + DELETED; a job not
// in the projection yet (expansion in flight) counts as PENDING.
struct WorkflowCounts {
  int64_t total = 0;
  int64_t waiting = 0;
  int64_t queued = 0;
  int64_t running = 0;
  int64_t succeeded = 0;
  int64_t failed = 0;
  int64_t blocked = 0;
  int64_t canceled = 0;
};

// Counts of `total` jobs from how many have each status (JobStatusName);
// the jobs not in `by_status` are PENDING.
WorkflowCounts CountJobs(const std::map<std::string, int64_t>& by_status, int64_t total);

// The workflow's status:
//   SUBMITTED  not expanded yet (its jobs may not exist);
//   RUNNING    some job has not ended and is not BLOCKED;
//   SUCCEEDED  every job SUCCEEDED;
//   CANCELED   every job ended or is BLOCKED, none DEAD, some CANCELED (or deleted):
//              the BLOCKED ones were held back by a canceled parent;
//   FAILED     every job ended or is BLOCKED, and some is DEAD, or BLOCKED with none
//              canceled (a parent outside the workflow failed).
std::string WorkflowStatus(bool expanded, const WorkflowCounts& counts);

nlohmann::json RenderCounts(const WorkflowCounts& counts);

// GET /workflows/{id}: {workflow_id, name, status, counts, jobs: [{key,
// job_id, status, depends_on}], edges: [{parent, child}] (keys, in the jobs'
// order), trigger_job_id, trigger_run_id, nominal_time, submitted_at,
// expanded_at}. `status_by_key`: the projected status of each job that has a
// row; the others show "PENDING".
nlohmann::json RenderWorkflow(const WorkflowRecord& record,
                              const std::unordered_map<std::string, std::string>& status_by_key);

// One item of GET /workflows.
struct WorkflowSummary {
  std::string workflow_id;
  std::string name;
  std::string trigger_job_id;
  TimePoint submitted_at;
  bool expanded = false;
  int64_t job_count = 0;
  std::map<std::string, int64_t> by_status;  // jobs with a row, by status
};

// {workflow_id, name, status, counts, submitted_at, trigger_job_id}.
nlohmann::json RenderWorkflowSummary(const WorkflowSummary& summary);

}  // namespace jobsched::api
