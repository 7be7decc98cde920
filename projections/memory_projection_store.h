// An in-memory ProjectionStore for unit tests, with failure switches.
// Same contract as PgProjectionStore (projection_store.h), including the
// offset fencing. Thread-safe: one mutex guards everything.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "projections/projection_store.h"

namespace jobsched::projections {

class MemoryProjectionStore final : public ProjectionStore {
 public:
  using OffsetKey = std::tuple<std::string, std::string, int32_t>;  // projection, topic, partition

  Result<std::map<std::string, events::JobState>> LoadStates(
      const std::vector<std::string>& job_ids) override;
  Result<std::map<int32_t, int64_t>> LoadOffsets(const std::string& projection,
                                                 const std::string& topic,
                                                 const std::vector<int32_t>& partitions) override;
  Status Write(const ProjectionBatch& batch) override;

  // Failure switches. The next `n` calls of any method fail with `status`
  // and change nothing.
  void FailNextCalls(int n, Status status);
  // The next Write applies the batch but then returns kUnavailable, as when
  // the connection drops while COMMIT is in flight.
  void LoseNextCommitAck();

  // Inspection: copies of the current contents.
  std::map<std::string, events::JobState> Jobs() const;   // never a workflow run
  std::map<std::string, WorkflowRow> Workflows() const;   // by workflow id
  using EdgeKey = std::pair<std::string, std::string>;    // parent, child
  std::map<EdgeKey, DependencyRow> Dependencies() const;
  std::map<std::string, ExecutionRow> Executions() const;  // by run_id
  std::vector<JobLogRow> Logs() const;                     // in insertion order
  std::vector<UndecodableRow> Undecodable() const;         // in insertion order
  std::map<std::string, DeadLetterRow> DeadLetters() const;  // by job_id
  std::map<OffsetKey, int64_t> Offsets() const;
  // The stored next offset of one partition, or -1 if there is no row.
  int64_t OffsetOf(const std::string& projection, const std::string& topic, int32_t partition) const;
  int64_t successful_writes() const;
  // Removes every offset row (a projection rebuild keeps the other rows).
  void ClearOffsets();

 private:
  Status TakeFailure();  // requires mu_

  mutable std::mutex mu_;
  std::map<std::string, events::JobState> jobs_;
  std::map<std::string, WorkflowRow> workflows_;
  std::map<EdgeKey, DependencyRow> dependencies_;
  std::map<std::string, ExecutionRow> executions_;
  std::set<std::tuple<std::string, int32_t, int64_t>> log_positions_;  // of logs_
  std::vector<JobLogRow> logs_;
  std::set<std::tuple<std::string, int32_t, int64_t>> undecodable_positions_;
  std::vector<UndecodableRow> undecodable_;
  std::map<std::string, DeadLetterRow> dead_letters_;
  std::map<OffsetKey, int64_t> offsets_;
  int fail_calls_ = 0;
  Status fail_status_;
  bool lose_commit_ack_ = false;
  int64_t successful_writes_ = 0;
};

}  // namespace jobsched::projections
