// The scheduler service: owns job state transitions for the job-events
// partitions assigned to it (consumer group "jobsched-scheduler").
//
// Its loop thread (PartitionWorker) runs consume-decide-produce: fold what
// arrived (the follower), decide for the jobs that changed or whose timer is due
// (scheduler::Decide), append the decisions and wait for the acks. Decisions
// go to the partitions the scheduler consumes, so it sees its own decisions
// come back; until a decision is seen, the job is "in flight" and not decided
// again. Input offsets are never the source of truth: every assigned
// partition is replayed from its beginning, so a crash loses nothing and a
// redo is recognised by its deterministic event id.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <queue>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "events/event_log.h"
#include "events/time.h"
#include "events/topics.h"
#include "services/common/partition_worker.h"

namespace jobsched::scheduler {

struct SchedulerOptions {
  std::string instance_id = "scheduler";
  std::string group_id = "jobsched-scheduler";
  events::Topics topics;
  Millis max_poll_wait{50};
  // A decision not seen back in the log after this long is made again.
  Millis inflight_timeout{30000};
};

class Scheduler final : public services::PartitionWorker {
 public:
  Scheduler(SchedulerOptions options, events::EventLog& log, const Clock& clock);
  ~Scheduler() override { Stop(); }

  uint64_t decisions_appended() const { return decisions_appended_; }

 private:
  struct Timer {
    TimePoint at;
    int32_t partition;
    std::string job_id;
    bool operator>(const Timer& o) const { return at > o.at; }
  };
  struct InFlight {
    int32_t partition;
    TimePoint since;
    std::unordered_set<std::string> event_ids;
  };
  using JobKey = std::pair<int32_t, std::string>;

  void OnEvent(int32_t partition, int64_t offset, const events::Envelope& e,
               const events::JobState& s, const events::FoldResult& r, bool replaying) override;
  void OnCaughtUp(int32_t partition) override;
  void OnRevoked(int32_t partition) override;
  void Step() override;
  std::string Summary() const override;
  void DecideDirty(TimePoint now);
  void MarkDirty(int32_t partition, const std::string& job_id);

  SchedulerOptions options_;
  const Clock& clock_;

  // Loop-thread state.
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  // Jobs to decide, in the order their causes arrived, so decisions (and so
  // RunDue order, which the dispatcher's FIFO follows) keep the log's order.
  std::vector<JobKey> dirty_;
  std::set<JobKey> dirty_set_;
  std::unordered_map<std::string, InFlight> inflight_;

  std::atomic<uint64_t> decisions_appended_{0};
};

}  // namespace jobsched::scheduler
