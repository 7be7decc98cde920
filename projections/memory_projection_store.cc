#include "projections/memory_projection_store.h"

namespace jobsched::projections {

Status MemoryProjectionStore::TakeFailure() {
  if (fail_calls_ <= 0) return Status::Ok();
  --fail_calls_;
  return fail_status_;
}

Result<std::map<std::string, events::JobState>> MemoryProjectionStore::LoadStates(
    const std::vector<std::string>& job_ids) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = TakeFailure(); !s.ok()) return s;
  std::map<std::string, events::JobState> out;
  for (const std::string& id : job_ids) {
    if (auto it = jobs_.find(id); it != jobs_.end()) {
      out[id] = it->second;
    } else if (auto w = workflows_.find(id); w != workflows_.end()) {
      out[id] = w->second.state;
    }
  }
  return out;
}

Result<std::map<int32_t, int64_t>> MemoryProjectionStore::LoadOffsets(
    const std::string& projection, const std::string& topic, const std::vector<int32_t>& partitions) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = TakeFailure(); !s.ok()) return s;
  std::map<int32_t, int64_t> out;
  for (int32_t p : partitions) {
    auto it = offsets_.find({projection, topic, p});
    if (it != offsets_.end()) out[p] = it->second;
  }
  return out;
}

Status MemoryProjectionStore::Write(const ProjectionBatch& batch) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = TakeFailure(); !s.ok()) return s;
  for (const OffsetUpdate& u : batch.offsets) {
    auto it = offsets_.find({batch.projection, batch.topic, u.partition});
    std::optional<int64_t> stored;
    if (it != offsets_.end()) stored = it->second;
    if (stored != u.expected) {
      return Status::Conflict("partition " + std::to_string(u.partition) +
                              ": stored offset differs from the batch's start");
    }
  }
  for (const events::JobState& s : batch.jobs) {
    if (!s.workflow_run()) jobs_[s.job_id()] = s;  // as PgProjectionStore: never a job row
  }
  for (const WorkflowRow& w : batch.workflows) {
    auto [it, inserted] = workflows_.try_emplace(w.state.job_id(), w);
    if (inserted) continue;
    WorkflowRow& row = it->second;  // the event-only columns stay unless the batch set them
    row.state = w.state;
    if (w.submitted) {
      row.submitted = true;
      row.trigger_job_id = w.trigger_job_id;
      row.trigger_run_id = w.trigger_run_id;
      row.nominal_time = w.nominal_time;
    }
    if (IsSet(w.expanded_at)) row.expanded_at = w.expanded_at;
  }
  for (const DependencyRow& d : batch.dependencies) {
    auto [it, inserted] = dependencies_.try_emplace({d.parent_id, d.child_id}, d);
    if (!inserted) {
      auto created = it->second.created_at;  // the first projection's, as in PostgreSQL
      it->second = d;
      it->second.created_at = created;
    }
  }
  for (const ExecutionRow& r : batch.executions) executions_[r.run.run_id()] = r;
  for (const DeadLetterRow& d : batch.dead_letters) {
    if (d.died) {
      dead_letters_[d.job_id] = d;
    } else if (auto it = dead_letters_.find(d.job_id); it != dead_letters_.end()) {
      it->second.requeued_at = d.requeued_at;
    }
  }
  for (const JobLogRow& row : batch.logs) {
    if (!log_positions_.emplace(row.topic, row.partition, row.offset).second) continue;
    logs_.push_back(row);
  }
  for (const UndecodableRow& row : batch.undecodable) {
    if (!undecodable_positions_.emplace(row.topic, row.partition, row.offset).second) continue;
    undecodable_.push_back(row);
  }
  for (const OffsetUpdate& u : batch.offsets) {
    offsets_[{batch.projection, batch.topic, u.partition}] = u.next_offset;
  }
  ++successful_writes_;
  if (lose_commit_ack_) {
    lose_commit_ack_ = false;
    return Status::Unavailable("connection lost during COMMIT (simulated)");
  }
  return Status::Ok();
}

void MemoryProjectionStore::FailNextCalls(int n, Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_calls_ = n;
  fail_status_ = std::move(status);
}

void MemoryProjectionStore::LoseNextCommitAck() {
  std::lock_guard<std::mutex> lock(mu_);
  lose_commit_ack_ = true;
}

std::map<std::string, events::JobState> MemoryProjectionStore::Jobs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_;
}

std::map<std::string, WorkflowRow> MemoryProjectionStore::Workflows() const {
  std::lock_guard<std::mutex> lock(mu_);
  return workflows_;
}

std::map<MemoryProjectionStore::EdgeKey, DependencyRow> MemoryProjectionStore::Dependencies()
    const {
  std::lock_guard<std::mutex> lock(mu_);
  return dependencies_;
}

std::map<std::string, ExecutionRow> MemoryProjectionStore::Executions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return executions_;
}

std::map<std::string, DeadLetterRow> MemoryProjectionStore::DeadLetters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dead_letters_;
}

std::vector<JobLogRow> MemoryProjectionStore::Logs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return logs_;
}

std::vector<UndecodableRow> MemoryProjectionStore::Undecodable() const {
  std::lock_guard<std::mutex> lock(mu_);
  return undecodable_;
}

std::map<MemoryProjectionStore::OffsetKey, int64_t> MemoryProjectionStore::Offsets() const {
  std::lock_guard<std::mutex> lock(mu_);
  return offsets_;
}

int64_t MemoryProjectionStore::OffsetOf(const std::string& projection, const std::string& topic,
                                        int32_t partition) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = offsets_.find({projection, topic, partition});
  return it == offsets_.end() ? -1 : it->second;
}

int64_t MemoryProjectionStore::successful_writes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return successful_writes_;
}

void MemoryProjectionStore::ClearOffsets() {
  std::lock_guard<std::mutex> lock(mu_);
  offsets_.clear();
}

}  // namespace jobsched::projections
