// What the API's handlers read, as an interface: ApiQueries, with the
// PostgreSQL implementation in pg_queries.h (the projections, through a
// PgPool), so handlers can be driven without a database (an in-memory fake).
//
// Every method blocks and runs on a worker thread (never on an I/O thread).
// Failures are a Status: kUnavailable when the database cannot answer now
// (-> 503 database_unavailable), kInternal for a query bug (-> 500). A
// nullopt answer means the job (or workflow) has no row (-> 404).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "events/envelope.h"
#include "events/status.h"
#include "events/time.h"
#include "services/api/job_events.h"
#include "services/api/job_queries.h"
#include "services/api/ops_queries.h"
#include "services/api/request_params.h"
#include "services/api/workflow_queries.h"

namespace jobsched::api {

// What POST /jobs/batch looks up in one read.
struct BatchRows {
  std::map<std::string, v1::JobState> jobs;  // of the keyed items' ids that have a row
  std::vector<ParentInfo> parents;           // of the depends_on ids that have a row
};

class ApiQueries {
 public:
  virtual ~ApiQueries() = default;

  // Jobs (job_queries.h).
  virtual Result<std::optional<v1::JobState>> GetJob(const std::string& job_id) = 0;
  virtual Result<ProjectedJob> GetProjectedJob(const std::string& job_id,
                                               const std::string& projection,
                                               const std::string& topic, int32_t partition) = 0;
  virtual Result<nlohmann::json> ListJobs(const JobListQuery& query) = 0;
  virtual Result<std::optional<nlohmann::json>> ListExecutions(const std::string& job_id,
                                                               const ExecutionsQuery& query) = 0;
  virtual Result<std::optional<nlohmann::json>> Stats(const std::string& job_id) = 0;
  virtual Result<std::optional<nlohmann::json>> Logs(const std::string& job_id,
                                                     const LogsQuery& query) = 0;
  virtual Result<std::optional<nlohmann::json>> Events(const std::string& job_id,
                                                       const EventsQuery& query) = 0;
  virtual Result<std::optional<nlohmann::json>> Why(const std::string& job_id, TimePoint at,
                                                    TimePoint now) = 0;

  // Operations (ops_queries.h).
  virtual Result<nlohmann::json> Executors(TimePoint now,
                                           std::chrono::milliseconds executor_timeout) = 0;
  virtual Result<nlohmann::json> QueueStats() = 0;
  virtual Result<nlohmann::json> DeadLetters(const DeadLettersQuery& query) = 0;

  // Workflows and dependencies (workflow_queries.h).
  virtual Result<std::optional<nlohmann::json>> GetWorkflow(const std::string& workflow_id) = 0;
  virtual Result<nlohmann::json> ListWorkflows(const WorkflowListQuery& query) = 0;
  virtual Result<std::optional<WorkflowCancelTarget>> WorkflowCancelTargetOf(
      const std::string& workflow_id) = 0;
  virtual Result<std::vector<std::string>> OpenDescendants(const std::string& job_id,
                                                           size_t limit) = 0;
  virtual Result<std::optional<nlohmann::json>> Dependencies(const std::string& job_id) = 0;
  virtual Result<std::vector<ParentInfo>> Parents(const std::vector<std::string>& job_ids) = 0;
  virtual Result<BatchRows> BatchLookup(const std::vector<std::string>& job_ids,
                                        const std::vector<std::string>& parent_ids) = 0;

  // Whether the database answers at all, within about `timeout` (health).
  virtual Status Ping(std::chrono::milliseconds timeout) = 0;
};

}  // namespace jobsched::api
