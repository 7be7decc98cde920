#include "events/topics.h"

namespace jobsched::events {

Topics Topics::WithPrefix(const std::string& prefix) {
  Topics t;
  t.job_events = prefix + t.job_events;
  t.run_tasks = prefix + t.run_tasks;
  t.executors = prefix + t.executors;
  t.dead_letters = prefix + t.dead_letters;
  t.scheduler_snapshots = prefix + t.scheduler_snapshots;
  t.dispatcher_snapshots = prefix + t.dispatcher_snapshots;
  return t;
}

std::vector<std::pair<std::string, int>> Topics::WithDefaultPartitions(
    int job_events_partitions) const {
  return {{job_events, job_events_partitions},
          {run_tasks, kRunTasksPartitions},
          {executors, kExecutorsPartitions},
          {dead_letters, kDeadLettersPartitions},
          {scheduler_snapshots, job_events_partitions},
          {dispatcher_snapshots, job_events_partitions}};
}

}  // namespace jobsched::events
