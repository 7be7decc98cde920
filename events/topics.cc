#include "events/topics.h"

namespace jobsched::events {

Topics Topics::WithPrefix(const std::string& prefix) {
  Topics t;
  t.job_events = prefix + t.job_events;
  t.run_tasks = prefix + t.run_tasks;
  t.executors = prefix + t.executors;
  return t;
}

std::vector<std::pair<std::string, int>> Topics::WithDefaultPartitions() const {
  return {{job_events, kJobEventsPartitions},
          {run_tasks, kRunTasksPartitions},
          {executors, kExecutorsPartitions}};
}

}  // namespace jobsched::events
