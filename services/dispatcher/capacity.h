// Executor capacity as seen through heartbeats on the `executors` topic: the
// sum of the slots of executors heard from recently. Pure; thread-compatible.
#pragma once

#include <map>
#include <string>

#include "events/time.h"
#include "jobsched/v1/runtime.pb.h"

namespace jobsched::dispatcher {

class Capacity {
 public:
  explicit Capacity(Millis expiry) : expiry_(expiry) {}

  // A heartbeat older than one already seen for the executor is ignored.
  void Observe(const v1::ExecutorHeartbeat& hb);
  // Slots of executors whose last heartbeat is within `expiry` of now and
  // that are not stopping.
  int TotalSlots(TimePoint now) const;
  int LiveExecutors(TimePoint now) const;

 private:
  Millis expiry_;
  std::map<std::string, v1::ExecutorHeartbeat> last_;
};

}  // namespace jobsched::dispatcher
