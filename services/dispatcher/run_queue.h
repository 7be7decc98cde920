// The dispatcher's queue of due runs: higher priority first, FIFO within a
// priority (by the time the run became due, then by the RunDue's position in
// its partition, then run id, so the order is the same after a replay). Pure
// data structure; thread-compatible.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>

#include "events/time.h"

namespace jobsched::dispatcher {

struct QueuedRun {
  int priority = 0;
  TimePoint due_at;
  int64_t due_offset = 0;  // position of the RunDue in its partition
  std::string run_id;
  std::string job_id;
  int32_t partition = 0;

  // Sorts first what must be dispatched first.
  bool operator<(const QueuedRun& o) const {
    return std::tie(o.priority, due_at, due_offset, run_id) <
           std::tie(priority, o.due_at, o.due_offset, o.run_id);
  }
};

class RunQueue {
 public:
  // Inserts or replaces the entry of `run.run_id`.
  void Upsert(const QueuedRun& run);
  void Remove(const std::string& run_id);
  bool Contains(const std::string& run_id) const { return by_run_.contains(run_id); }
  // Removes every run of a partition (revoked).
  void RemovePartition(int32_t partition);
  std::optional<QueuedRun> Pop();
  const QueuedRun* Peek() const;
  size_t size() const { return order_.size(); }
  bool empty() const { return order_.empty(); }

 private:
  std::set<QueuedRun> order_;
  std::unordered_map<std::string, QueuedRun> by_run_;
};

}  // namespace jobsched::dispatcher
