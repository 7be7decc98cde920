// The scheduler service: owns job state transitions for the job-events
// partitions assigned to it (consumer group "jobsched-scheduler").
//
// Its loop thread (PartitionWorker) runs consume-decide-produce: fold what
// arrived (the follower), let the SchedulerCore decide for the jobs that
// changed or whose timer is due, append the decisions and wait for the acks.
// Decisions go to the partitions the scheduler consumes, so it sees its own
// decisions come back; until then a job is "in flight" and not decided again.
// On assignment each partition is restored from its latest snapshot (topic
// scheduler-snapshots) plus the log's tail, so recovery time does not grow
// with the log and retention cannot make the scheduler forget a job; a crash
// loses nothing and a redo is recognised by its deterministic event ids.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "events/event_log.h"
#include "events/time.h"
#include "events/topics.h"
#include "services/common/partition_worker.h"
#include "services/common/service_main.h"
#include "services/scheduler/scheduler_core.h"

namespace jobsched::scheduler {

struct SchedulerOptions {
  std::string instance_id = "scheduler";
  std::string group_id = "jobsched-scheduler";
  events::Topics topics;
  Millis max_poll_wait{50};
  // A decision not seen back in the log after this long is made again.
  Millis inflight_timeout{30000};
  // A slot later than this is a misfire (misfire_policy decides).
  Millis misfire_grace{1000};
  services::StateSettings state;  // snapshots and eviction
  // Where the scheduler's metrics go (not owned; must outlive it). Null: a
  // registry of its own, which nobody reads.
  prometheus::Registry* metrics = nullptr;
};

class Scheduler final : public services::PartitionWorker {
 public:
  Scheduler(SchedulerOptions options, events::EventLog& log, const Clock& clock);
  ~Scheduler() override { Stop(); }

  uint64_t decisions_appended() const { return decisions_appended_; }

 private:
  void OnEvent(int32_t partition, int64_t offset, const events::Envelope& e,
               const events::JobState* s, const events::FoldResult& r, bool replaying) override;
  void OnCaughtUp(int32_t partition) override;
  void OnRevoked(int32_t partition) override;
  void Step() override;
  std::string Summary() const override;

  // The counter of events of one type appended, created on first use (loop
  // thread only).
  prometheus::Counter& AppendedCounter(events::Envelope::EventCase type);

  SchedulerOptions options_;
  SchedulerCore core_;  // loop thread only
  std::atomic<uint64_t> decisions_appended_{0};

  std::shared_ptr<prometheus::Registry> own_metrics_;  // when options_.metrics is null
  prometheus::Family<prometheus::Counter>* appended_family_ = nullptr;
  std::vector<prometheus::Counter*> appended_;  // by EventCase; loop thread only
  prometheus::Histogram* append_seconds_ = nullptr;
};

// The service's factory (services::ServiceMain). Besides the shared
// configuration: JOBSCHED_MISFIRE_GRACE_MS (a slot later than this is a
// misfire, default 1000) and the state settings (services::StateSettings).
Result<std::unique_ptr<services::Service>> MakeScheduler(services::ServiceContext& context);

}  // namespace jobsched::scheduler
