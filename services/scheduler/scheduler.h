// The scheduler service: owns job state transitions for the job-events
// partitions assigned to it (consumer group "jobsched-scheduler").
//
// One thread runs a consume-decide-produce loop: fold what arrived (the
// follower), decide for the jobs that changed or whose timer is due
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
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "events/event_log.h"
#include "events/time.h"
#include "events/topics.h"
#include "services/common/job_state_follower.h"
#include "services/common/service_main.h"

namespace jobsched::scheduler {

struct SchedulerOptions {
  std::string instance_id = "scheduler";
  std::string group_id = "jobsched-scheduler";
  events::Topics topics;
  Millis max_poll_wait{50};
  // A decision not seen back in the log after this long is made again.
  Millis inflight_timeout{30000};
};

class Scheduler final : public services::Service {
 public:
  Scheduler(SchedulerOptions options, events::EventLog& log, const Clock& clock);
  ~Scheduler() override;

  Status Start() override;  // opens producer and consumer, starts the loop thread
  void Stop() override;     // idempotent; joins the thread

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

  void Loop();
  void OnEvent(int32_t partition, const events::Envelope& e, const events::JobState& s,
               bool replaying);
  void OnCaughtUp(int32_t partition);
  void OnRevoked(int32_t partition);
  void DecideDirty(TimePoint now);
  void MarkDirty(int32_t partition, const std::string& job_id);

  SchedulerOptions options_;
  events::EventLog& log_;
  const Clock& clock_;
  std::string producer_name_;
  std::shared_ptr<spdlog::logger> logger_;
  std::unique_ptr<events::Producer> producer_;
  std::unique_ptr<services::JobStateFollower> follower_;

  // Loop-thread state.
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  // Jobs to decide, in the order their causes arrived, so decisions (and so
  // RunDue order, which the dispatcher's FIFO follows) keep the log's order.
  std::vector<JobKey> dirty_;
  std::set<JobKey> dirty_set_;
  std::unordered_map<std::string, InFlight> inflight_;

  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> decisions_appended_{0};
  std::thread thread_;
};

}  // namespace jobsched::scheduler
