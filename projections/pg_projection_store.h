// PgProjectionStore: the ProjectionStore (and ExecutorStore) on PostgreSQL
// (libpqxx), over the tables of infra/migrations (jobs, workflows,
// job_dependencies, job_executions, job_logs, dead_letters, executors,
// projection_offsets). Apply the migrations first (migrations.h).
//
// One transaction per Write: the offsets are fenced first
// (INSERT … ON CONFLICT DO UPDATE … WHERE next_offset = expected), then the
// rows travel with binary COPY (pg_copy.h), one COPY per table and batch:
// rows that cannot exist yet (every job_logs record; the jobs and runs the
// batch created, ProjectionBatch::new_jobs / ExecutionRow::created) straight
// into their table, the others (and dead_letters) into temporary stage tables
// merged with one INSERT … SELECT … ON CONFLICT each. If a straight copy
// meets a row (records projected again over their rows: offsets reset,
// tables kept), the transaction is rolled back and the batch is merged
// entirely, job_logs with ON CONFLICT DO NOTHING on the record's position;
// batches are merged until one finds none of its records stored. The few
// workflows rows and requeue marks are single statements.
// A workflow run's fold state lives in workflows.fold_state, a job's in
// jobs.fold_state; LoadStates reads both. Values travel as binary COPY data
// or as libpqxx-quoted literals, never as SQL text concatenated raw.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "projections/projection_store.h"

namespace jobsched::projections {

struct PgProjectionStoreOptions {
  std::string database_url;  // libpq URI or key=value string
  std::string application_name = "jobsched-projector";
  // SET synchronous_commit = off on the writing session. Safe for a
  // projection: rows and offsets commit together, so a server crash that
  // loses the last commits loses both, the next Write conflicts on the
  // offsets, and the projector consumes those records again.
  bool asynchronous_commit = true;
  // false: Write leaves the archive (job_logs, undecodable_records) alone: a
  // rebuild from the archive folds job_logs itself and keeps both as they are.
  bool write_logs = true;
};

// Thread-safe. Two connections, each opened on first use and reopened after
// it breaks: Write() on one, LoadStates()/LoadOffsets() on the other, so the
// projector can read the states of its next batch while the previous batch
// commits. Reads see committed data only. Errors follow projection_store.h.
class PgProjectionStore final : public ProjectionStore, public ExecutorStore {
 public:
  explicit PgProjectionStore(PgProjectionStoreOptions options);
  ~PgProjectionStore() override;
  PgProjectionStore(const PgProjectionStore&) = delete;
  PgProjectionStore& operator=(const PgProjectionStore&) = delete;

  Result<std::map<std::string, events::JobState>> LoadStates(
      const std::vector<std::string>& job_ids) override;
  Result<std::map<int32_t, int64_t>> LoadOffsets(const std::string& projection,
                                                 const std::string& topic,
                                                 const std::vector<int32_t>& partitions) override;
  Status Write(const ProjectionBatch& batch) override;
  // The executors table (ExecutorProjector), on the same writing connection.
  Status WriteExecutors(const ExecutorBatch& batch) override;

 private:
  class Session;
  const PgProjectionStoreOptions options_;
  std::unique_ptr<Session> reader_;  // LoadStates, LoadOffsets
  std::unique_ptr<Session> writer_;  // Write
};

}  // namespace jobsched::projections
