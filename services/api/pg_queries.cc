#include "services/api/pg_queries.h"

#include <utility>

namespace jobsched::api {

using nlohmann::json;
using OptJson = std::optional<json>;

PgApiQueries::PgApiQueries(std::string database_url, PgPoolOptions options)
    : pool_(std::move(database_url), options) {}

Result<std::optional<v1::JobState>> PgApiQueries::GetJob(const std::string& job_id) {
  return pool_.Run<std::optional<v1::JobState>>(
      [&](pqxx::connection& c) { return LoadJob(c, job_id); });
}

Result<ProjectedJob> PgApiQueries::GetProjectedJob(const std::string& job_id,
                                                   const std::string& projection,
                                                   const std::string& topic, int32_t partition) {
  return pool_.Run<ProjectedJob>([&](pqxx::connection& c) {
    return LoadProjectedJob(c, job_id, projection, topic, partition);
  });
}

Result<json> PgApiQueries::ListJobs(const JobListQuery& query) {
  return pool_.Run<json>([&](pqxx::connection& c) { return ListJobsPage(c, query); });
}

Result<OptJson> PgApiQueries::ListExecutions(const std::string& job_id,
                                             const ExecutionsQuery& query) {
  return pool_.Run<OptJson>([&](pqxx::connection& c) { return ExecutionsPage(c, job_id, query); });
}

Result<OptJson> PgApiQueries::Stats(const std::string& job_id) {
  return pool_.Run<OptJson>([&](pqxx::connection& c) { return JobStats(c, job_id); });
}

Result<OptJson> PgApiQueries::Logs(const std::string& job_id, const LogsQuery& query) {
  return pool_.Run<OptJson>([&](pqxx::connection& c) { return LogsPage(c, job_id, query); });
}

Result<OptJson> PgApiQueries::Events(const std::string& job_id, const EventsQuery& query) {
  return pool_.Run<OptJson>([&](pqxx::connection& c) { return EventsPage(c, job_id, query); });
}

Result<OptJson> PgApiQueries::Why(const std::string& job_id, TimePoint at, TimePoint now) {
  return pool_.Run<OptJson>([&](pqxx::connection& c) { return ExplainAt(c, job_id, at, now); });
}

Result<json> PgApiQueries::Executors(TimePoint now, std::chrono::milliseconds executor_timeout) {
  return pool_.Run<json>(
      [&](pqxx::connection& c) { return ListExecutors(c, now, executor_timeout); });
}

Result<json> PgApiQueries::QueueStats() {
  return pool_.Run<json>([](pqxx::connection& c) { return api::QueueStats(c); });
}

Result<json> PgApiQueries::DeadLetters(const DeadLettersQuery& query) {
  return pool_.Run<json>([&](pqxx::connection& c) { return DeadLettersPage(c, query); });
}

Result<OptJson> PgApiQueries::GetWorkflow(const std::string& workflow_id) {
  return pool_.Run<OptJson>([&](pqxx::connection& c) { return LoadWorkflowView(c, workflow_id); });
}

Result<json> PgApiQueries::ListWorkflows(const WorkflowListQuery& query) {
  return pool_.Run<json>([&](pqxx::connection& c) { return ListWorkflowsPage(c, query); });
}

Result<std::optional<WorkflowCancelTarget>> PgApiQueries::WorkflowCancelTargetOf(
    const std::string& workflow_id) {
  return pool_.Run<std::optional<WorkflowCancelTarget>>(
      [&](pqxx::connection& c) { return LoadWorkflowCancelTarget(c, workflow_id); });
}

Result<std::vector<std::string>> PgApiQueries::OpenDescendants(const std::string& job_id,
                                                               size_t limit) {
  return pool_.Run<std::vector<std::string>>(
      [&](pqxx::connection& c) { return LoadOpenDescendants(c, job_id, limit); });
}

Result<OptJson> PgApiQueries::Dependencies(const std::string& job_id) {
  return pool_.Run<OptJson>([&](pqxx::connection& c) { return DependenciesOf(c, job_id); });
}

Result<std::vector<ParentInfo>> PgApiQueries::Parents(const std::vector<std::string>& job_ids) {
  return pool_.Run<std::vector<ParentInfo>>(
      [&](pqxx::connection& c) { return LoadParents(c, job_ids); });
}

Result<BatchRows> PgApiQueries::BatchLookup(const std::vector<std::string>& job_ids,
                                            const std::vector<std::string>& parent_ids) {
  return pool_.Run<BatchRows>([&](pqxx::connection& c) {
    BatchRows rows;
    rows.jobs = LoadJobs(c, job_ids);
    if (!parent_ids.empty()) rows.parents = LoadParents(c, parent_ids);
    return rows;
  });
}

Status PgApiQueries::Ping(std::chrono::milliseconds timeout) {
  Result<bool> ok = pool_.Run<bool>([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    tx.exec("SET LOCAL statement_timeout = " + std::to_string(timeout.count()));
    tx.exec("SELECT 1");
    return true;
  });
  return ok.ok() ? Status::Ok() : ok.status();
}

}  // namespace jobsched::api
