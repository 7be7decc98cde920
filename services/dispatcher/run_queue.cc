#include "services/dispatcher/run_queue.h"

namespace jobsched::dispatcher {

void RunQueue::Upsert(const QueuedRun& run) {
  Remove(run.run_id);
  order_.insert(run);
  by_run_[run.run_id] = run;
}

void RunQueue::Remove(const std::string& run_id) {
  auto it = by_run_.find(run_id);
  if (it == by_run_.end()) return;
  order_.erase(it->second);
  by_run_.erase(it);
}

void RunQueue::RemovePartition(int32_t partition) {
  for (auto it = order_.begin(); it != order_.end();) {
    if (it->partition == partition) {
      by_run_.erase(it->run_id);
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
  by_run_.erase(r.run_id);
  return r;
}

const QueuedRun* RunQueue::Peek() const { return order_.empty() ? nullptr : &*order_.begin(); }

}  // namespace jobsched::dispatcher
