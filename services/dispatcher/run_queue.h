// The dispatcher's queue of due runs. Order: by rank, the time the run became
// due moved earlier by `priority` aging steps (rank_at = due_at - priority *
// aging); then higher priority, then the RunDue's position in its partition,
// then run id, so the order is the same after a replay. With runs that became
// due within one aging step of each other this is strict priority order,
// FIFO within a priority; a run that has waited longer than (difference in
// priority) * aging goes first, so no run starves behind a stream of
// higher-priority work. Pure data structure; thread-compatible.
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
  TimePoint rank_at;       // due_at - priority * aging
  int64_t due_offset = 0;  // position of the RunDue in its partition
  std::string run_id;
  std::string job_id;
  int32_t partition = 0;
  std::string pool;  // the job's pool (metrics: queue depth per pool)

  // Sorts first what must be dispatched first.
  bool operator<(const QueuedRun& o) const {
    return std::tie(rank_at, o.priority, due_at, due_offset, run_id) <
           std::tie(o.rank_at, priority, o.due_at, o.due_offset, o.run_id);
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
  // In queue order.
  std::set<QueuedRun>::const_iterator begin() const { return order_.begin(); }
  std::set<QueuedRun>::const_iterator end() const { return order_.end(); }
  bool empty() const { return order_.empty(); }

 private:
  std::set<QueuedRun> order_;
  std::unordered_map<std::string, QueuedRun> by_run_;
};

}  // namespace jobsched::dispatcher
