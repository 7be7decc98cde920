// ApiQueries over the PostgreSQL projections: each method is one of the
// read functions of job_queries.h, ops_queries.h, workflow_queries.h or
// job_events.h, run by PgPool::Run on the calling thread. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "services/api/pg_pool.h"
#include "services/api/queries.h"

namespace jobsched::api {

class PgApiQueries final : public ApiQueries {
 public:
  // `database_url` is a libpq connection string; connections open lazily.
  PgApiQueries(std::string database_url, PgPoolOptions options);

  Result<std::optional<v1::JobState>> GetJob(const std::string& job_id) override;
  Result<ProjectedJob> GetProjectedJob(const std::string& job_id, const std::string& projection,
                                       const std::string& topic, int32_t partition) override;
  Result<nlohmann::json> ListJobs(const JobListQuery& query) override;
  Result<std::optional<nlohmann::json>> ListExecutions(const std::string& job_id,
                                                       const ExecutionsQuery& query) override;
  Result<std::optional<nlohmann::json>> Stats(const std::string& job_id) override;
  Result<std::optional<nlohmann::json>> Logs(const std::string& job_id,
                                             const LogsQuery& query) override;
  Result<std::optional<nlohmann::json>> Events(const std::string& job_id,
                                               const EventsQuery& query) override;
  Result<std::optional<nlohmann::json>> Why(const std::string& job_id, TimePoint at,
                                            TimePoint now) override;
  Result<nlohmann::json> Executors(TimePoint now,
                                   std::chrono::milliseconds executor_timeout) override;
  Result<nlohmann::json> QueueStats() override;
  Result<nlohmann::json> DeadLetters(const DeadLettersQuery& query) override;
  Result<std::optional<nlohmann::json>> GetWorkflow(const std::string& workflow_id) override;
  Result<nlohmann::json> ListWorkflows(const WorkflowListQuery& query) override;
  Result<std::optional<WorkflowCancelTarget>> WorkflowCancelTargetOf(
      const std::string& workflow_id) override;
  Result<std::vector<std::string>> OpenDescendants(const std::string& job_id,
                                                   size_t limit) override;
  Result<std::optional<nlohmann::json>> Dependencies(const std::string& job_id) override;
  Result<std::vector<ParentInfo>> Parents(const std::vector<std::string>& job_ids) override;
  Result<BatchRows> BatchLookup(const std::vector<std::string>& job_ids,
                                const std::vector<std::string>& parent_ids) override;
  Status Ping(std::chrono::milliseconds timeout) override;

 private:
  PgPool pool_;
};

}  // namespace jobsched::api
