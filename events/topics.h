// The topic catalogue. Names can carry a prefix so several systems (or tests)
// share one cluster.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace jobsched::events {

struct Topics {
  std::string job_events = "job-events";  // key job_id; every fact about every job
  // key run_id; dispatcher -> one executor, on the partition its heartbeat names
  std::string run_tasks = "run-tasks";
  std::string executors = "executors";    // key executor_id; heartbeats (compacted)
  std::string dead_letters = "dead-letters";  // key job_id; DeadLetter of every DEAD job
  // Per-partition state of the scheduler and the dispatcher (SnapshotStore):
  // as many partitions as job-events.
  std::string scheduler_snapshots = "scheduler-snapshots";
  std::string dispatcher_snapshots = "dispatcher-snapshots";

  static Topics WithPrefix(const std::string& prefix);

  // Default partition counts, used by the dev broker and docs.
  static constexpr int kJobEventsPartitions = 12;
  static constexpr int kRunTasksPartitions = 12;
  static constexpr int kExecutorsPartitions = 4;
  static constexpr int kDeadLettersPartitions = 4;
  // Every topic with its default partition count; `job_events_partitions`
  // also sizes the snapshot topics.
  std::vector<std::pair<std::string, int>> WithDefaultPartitions(
      int job_events_partitions = kJobEventsPartitions) const;
};

}  // namespace jobsched::events
