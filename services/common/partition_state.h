// PartitionState: the fold of one job-events partition, as a scheduler or a
// dispatcher keeps it: the state of every live job, and where in the
// partition that state stands.
//
// Memory stays bounded by the live jobs: a terminal job is kept for
// `terminal_linger` after its last event (long enough for late events, and
// for a duplicate submission to meet the job it duplicates) and then
// evicted; events for a job not kept are folded into nothing.
//
// Thread-compatible: one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include "events/envelope.h"
#include "events/fold.h"

namespace jobsched::services {

class PartitionState {
 public:
  PartitionState() = default;
  PartitionState(PartitionState&&) = default;
  PartitionState& operator=(PartitionState&&) = default;

  struct Applied {
    events::FoldResult result;
    // The job's state after the event; nullptr when the job is not kept (an
    // event for a job never submitted here, or evicted).
    const events::JobState* state = nullptr;
  };

  // Folds the record at `offset` (decoded as `e`) and moves next_offset past it.
  Applied Apply(int64_t offset, const events::Envelope& e, events::FoldEffects* fx = nullptr);
  // Moves next_offset past a record that could not be decoded.
  void Skip(int64_t offset) { next_offset_ = offset + 1; }

  const events::JobState* Find(const std::string& job_id) const;
  // Every kept job, in the order the jobs first appeared in the log.
  void ForEach(const std::function<void(const events::JobState&)>& fn) const;
  size_t size() const { return jobs_.size(); }

  // The offset of the first record not folded yet; 0 for a fresh state.
  int64_t next_offset() const { return next_offset_; }
  // Records folded since the state was created or restored.
  uint64_t folded() const { return folded_; }

  // Evicts terminal jobs whose last event is older than `before`; returns
  // how many.
  size_t EvictTerminal(TimePoint before);

  // Snapshot round trip: the jobs (in log order, which a restored state
  // keeps) and next_offset.
  void SaveTo(v1::PartitionSnapshot& snapshot) const;
  static PartitionState Restore(const v1::PartitionSnapshot& snapshot);

 private:
  struct Entry {
    events::JobState state;
    int64_t first_offset = 0;  // where the job first appeared (restored: negative, in order)
  };
  std::vector<const Entry*> InLogOrder() const;

  std::unordered_map<std::string, Entry> jobs_;
  int64_t next_offset_ = 0;
  uint64_t folded_ = 0;
};

}  // namespace jobsched::services
