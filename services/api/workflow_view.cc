#include "services/api/workflow_view.h"

#include <stdexcept>
#include <utility>

#include "events/ids.h"

namespace jobsched::api {
namespace {

using nlohmann::json;

json StringOrNull(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

}  // namespace

WorkflowRecord RecordFromEvent(const events::Envelope& submitted) {
  const v1::WorkflowSubmitted& w = submitted.workflow_submitted();
  WorkflowRecord r;
  r.workflow_id = submitted.job_id();
  r.name = w.spec().name();
  r.jobs.reserve(static_cast<size_t>(w.spec().jobs_size()));
  for (const v1::WorkflowJob& job : w.spec().jobs()) {
    r.jobs.push_back({job.key(), {job.depends_on().begin(), job.depends_on().end()}});
  }
  r.trigger_job_id = w.trigger_job_id();
  r.trigger_run_id = w.trigger_run_id();
  r.nominal_time = w.nominal_time();
  r.submitted_at = FromProto(submitted.occurred_at());
  return r;
}

std::vector<WorkflowJobRef> JobsFromSpecJson(const json& spec) {
  auto jobs = spec.find("jobs");
  if (jobs == spec.end() || !jobs->is_array()) {
    throw std::runtime_error("workflows.spec has no jobs array");
  }
  std::vector<WorkflowJobRef> out;
  out.reserve(jobs->size());
  for (const json& job : *jobs) {
    WorkflowJobRef ref;
    ref.key = job.value("key", "");
    // events::ToJson keeps the .proto field names.
    if (auto deps = job.find("depends_on"); deps != job.end() && deps->is_array()) {
      for (const json& d : *deps) {
        if (d.is_string()) ref.depends_on.push_back(d.get<std::string>());
      }
    }
    out.push_back(std::move(ref));
  }
  return out;
}

WorkflowCounts CountJobs(const std::map<std::string, int64_t>& by_status, int64_t total) {
  WorkflowCounts c;
  c.total = total;
  int64_t listed = 0;
  for (const auto& [status, n] : by_status) {
    listed += n;
    if (status == "WAITING") {
      c.waiting += n;
    } else if (status == "PENDING" || status == "SCHEDULED" || status == "QUEUED" ||
               status == "RETRYING") {
      c.queued += n;
    } else if (status == "SUCCEEDED" || status == "COMPLETED") {
      c.succeeded += n;
    } else if (status == "DEAD") {
      c.failed += n;
    } else if (status == "BLOCKED") {
      c.blocked += n;
    } else if (status == "CANCELED" || status == "DELETED") {
      c.canceled += n;
    } else {  // RUNNING, and statuses no workflow job reaches (ACTIVE, PAUSED)
      c.running += n;
    }
  }
  if (total > listed) c.queued += total - listed;  // not projected yet: PENDING
  return c;
}

namespace {

// Expanded: WorkflowExpanded is projected, or every job is (the expansion
// landed; its record, on another partition, may be projected later).
bool Expanded(bool recorded, int64_t projected_jobs, int64_t total) {
  return recorded || (total > 0 && projected_jobs == total);
}

int64_t Projected(const std::map<std::string, int64_t>& by_status) {
  int64_t n = 0;
  for (const auto& [status, count] : by_status) n += count;
  return n;
}

}  // namespace

std::string WorkflowStatus(bool expanded, const WorkflowCounts& c) {
  if (!expanded) return "SUBMITTED";
  if (c.waiting + c.queued + c.running > 0) return "RUNNING";
  if (c.succeeded == c.total) return "SUCCEEDED";
  if (c.failed == 0 && c.canceled > 0) return "CANCELED";
  return "FAILED";
}

json RenderCounts(const WorkflowCounts& c) {
  return {{"total", c.total},     {"waiting", c.waiting},     {"queued", c.queued},
          {"running", c.running}, {"succeeded", c.succeeded}, {"failed", c.failed},
          {"blocked", c.blocked}, {"canceled", c.canceled}};
}

json RenderWorkflow(const WorkflowRecord& record,
                    const std::unordered_map<std::string, std::string>& status_by_key) {
  json jobs = json::array();
  json edges = json::array();
  std::map<std::string, int64_t> by_status;
  for (const WorkflowJobRef& job : record.jobs) {
    auto it = status_by_key.find(job.key);
    const std::string status = it == status_by_key.end() ? "PENDING" : it->second;
    ++by_status[status];
    jobs.push_back({{"key", job.key},
                    {"job_id", ids::WorkflowJobId(record.workflow_id, job.key)},
                    {"status", status},
                    {"depends_on", job.depends_on}});
    for (const std::string& parent : job.depends_on) {
      edges.push_back({{"parent", parent}, {"child", job.key}});
    }
  }
  const WorkflowCounts counts = CountJobs(by_status, static_cast<int64_t>(record.jobs.size()));
  return {{"workflow_id", record.workflow_id},
          {"name", record.name},
          {"status", WorkflowStatus(Expanded(record.expanded_at.has_value(),
                                             static_cast<int64_t>(status_by_key.size()),
                                             counts.total),
                                    counts)},
          {"counts", RenderCounts(counts)},
          {"jobs", std::move(jobs)},
          {"edges", std::move(edges)},
          {"trigger_job_id", StringOrNull(record.trigger_job_id)},
          {"trigger_run_id", StringOrNull(record.trigger_run_id)},
          {"nominal_time", StringOrNull(record.nominal_time)},
          {"submitted_at", FormatRfc3339(record.submitted_at)},
          {"expanded_at",
           record.expanded_at ? json(FormatRfc3339(*record.expanded_at)) : json(nullptr)}};
}

json RenderWorkflowSummary(const WorkflowSummary& s) {
  const WorkflowCounts counts = CountJobs(s.by_status, s.job_count);
  return {{"workflow_id", s.workflow_id},
          {"name", s.name},
          {"status", WorkflowStatus(Expanded(s.expanded, Projected(s.by_status), counts.total),
                                    counts)},
          {"counts", RenderCounts(counts)},
          {"submitted_at", FormatRfc3339(s.submitted_at)},
          {"trigger_job_id", StringOrNull(s.trigger_job_id)}};
}

}  // namespace jobsched::api
