#include "services/dispatcher/capacity.h"

namespace jobsched::dispatcher {

void Capacity::Observe(const v1::ExecutorHeartbeat& hb) {
  auto it = last_.find(hb.executor_id());
  if (it != last_.end() && FromProto(it->second.sent_at()) > FromProto(hb.sent_at())) return;
  last_[hb.executor_id()] = hb;
}

int Capacity::TotalSlots(TimePoint now) const {
  int slots = 0;
  for (const auto& [id, hb] : last_) {
    if (!hb.stopping() && now - FromProto(hb.sent_at()) <= expiry_) slots += hb.slots();
  }
  return slots;
}

int Capacity::LiveExecutors(TimePoint now) const {
  int n = 0;
  for (const auto& [id, hb] : last_) {
    if (!hb.stopping() && now - FromProto(hb.sent_at()) <= expiry_) ++n;
  }
  return n;
}

}  // namespace jobsched::dispatcher
