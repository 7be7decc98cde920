#include "services/dispatcher/run_queue.h"

namespace jobsched::dispatcher {

void RunQueue::Upsert(const QueuedRun& run) {
  Remove(run.job_id);
  order_.insert(run);
  by_job_[run.job_id] = run;
}

void RunQueue::Remove(const std::string& job_id) {
  auto it = by_job_.find(job_id);
  if (it == by_job_.end()) return;
  order_.erase(it->second);
  by_job_.erase(it);
}

void RunQueue::RemovePartition(int32_t partition) {
  for (auto it = order_.begin(); it != order_.end();) {
    if (it->partition == partition) {
      by_job_.erase(it->job_id);
      it = order_.erase(it);
    } else {
      ++it;
    }
  }
}

std::optional<QueuedRun> RunQueue::Pop() {
  if (order_.empty()) return std::nullopt;
  QueuedRun r = *order_.begin();
  order_.erase(order_.begin());
  by_job_.erase(r.job_id);
  return r;
}

const QueuedRun* RunQueue::Peek() const { return order_.empty() ? nullptr : &*order_.begin(); }

}  // namespace jobsched::dispatcher
