// The dispatcher service: decides where and in what order due runs execute
// (consumer group "jobsched-dispatcher" on job-events).
//
// It folds its partitions (JobStateFollower, restored from its snapshots on
// dispatcher-snapshots plus the log's tail), keeps the runs that are due in
// a RunQueue (priority with aging, FIFO within a priority), and places each on
// a live executor of its pool with room for its slot and resources
// (Placement, fed by the heartbeats on `executors`). Admitting a run appends
// RunDispatched (next lease epoch, the chosen executor and its incarnation)
// to job-events, and only then the RunTask to the executor's own partition of
// `run-tasks`: an executor can never report on a run the log does not yet
// show as dispatched. A task that could not be sent is retried; after a crash
// between the two appends, the partition's new owner re-sends the task of
// every run still DISPATCHED (same epoch, same ids) once it has caught up.
//
// Leases. A run leased to an executor that restarted, stopped without
// handing it back or missed heartbeats for executor_timeout gets RunLost; the
// fold makes it due again (or ends it LOST for AT_MOST_ONCE runs that had
// started) and it is placed again under the next epoch. A run with no result
// within its timeout plus a grace of its dispatch gets RunTimedOut. A run that
// fits no live executor of its pool gets RunWaiting with the reason, once per
// reason, and stays queued. When a job is canceled or deleted, or a run
// replaced, the executor holding a lease on it is told to abort (a RunTask
// with cancel set).
//
// One thread runs the loop.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include "events/event_log.h"
#include "events/time.h"
#include "events/topics.h"
#include "services/common/partition_worker.h"
#include "services/common/service_main.h"
#include "services/dispatcher/placement.h"
#include "services/dispatcher/run_queue.h"

namespace jobsched::dispatcher {

struct DispatcherOptions {
  std::string instance_id = "dispatcher";
  std::string group_id = "jobsched-dispatcher";
  events::Topics topics;
  Millis max_poll_wait{20};
  Millis executor_timeout{30000};  // no heartbeat this long: the executor's leases are lost
  Millis priority_aging{60000};    // one priority step per this much waiting (RunQueue)
  Millis run_timeout_grace{30000};  // RunTimedOut: the run's timeout plus this
  Millis default_run_timeout{3'600'000};  // for timeout_seconds 0 (the executors' default)
  Millis pending_timeout{30000};  // a decision not seen back in the log after this is redone
  int prefetch = 16;  // runs offered per executor slot (Placement: credits)
  services::StateSettings state;  // snapshots and eviction
  // Where the dispatcher's metrics go (not owned; must outlive it). Null: a
  // registry of its own, which nobody reads.
  prometheus::Registry* metrics = nullptr;
  // How often the gauges (queue depth, executors) are refreshed.
  Millis metrics_interval{1000};
};

class Dispatcher final : public services::PartitionWorker {
 public:
  Dispatcher(DispatcherOptions options, events::EventLog& log, const Clock& clock);
  ~Dispatcher() override { Stop(); }

  uint64_t dispatched() const { return dispatched_; }

 private:
  Status OnStart() override;  // opens the heartbeats consumer
  void OnStop() override;
  void OnEvent(int32_t partition, int64_t offset, const events::Envelope& e,
               const events::JobState* s, const events::FoldResult& r, bool replaying) override;
  void OnCaughtUp(int32_t partition) override;
  void OnRevoked(int32_t partition) override;
  std::string SnapshotExtra(int32_t partition) override;
  void OnRestored(int32_t partition, const std::string& extra) override;
  void Step() override;
  std::string Summary() const override;

  void PollHeartbeats(TimePoint now);
  // Puts the runs of `job_id` where its state says (nullptr: the job is
  // gone); `cause`, when given, is the event that changed it.
  void Reevaluate(int32_t partition, const std::string& job_id, const events::JobState* s,
                  const events::Envelope* cause = nullptr);
  void Forget(const std::string& run_id);
  void ExpirePending(TimePoint now);
  void EndLostLeases(TimePoint now);  // RunLost, RunTimedOut
  void DispatchReady(TimePoint now);
  // Appends `facts`; true when acknowledged. `what` names them in the log.
  bool AppendFacts(std::vector<events::Record> facts, const char* what);
  void SendTasks();
  void SendCancel(const Lease& lease, const std::string& reason);
  events::Envelope NewFact(const events::JobState& s, std::string_view type,
                           const std::string& cause, TimePoint now) const;
  v1::RunTask MakeTask(const events::JobState& s, const v1::RunRecord& run, const Target& target,
                       TimePoint now) const;
  events::Record TaskRecord(const v1::RunTask& task, int32_t partition) const;
  void RegisterMetrics();
  // Sets the gauges from the queue and the placement, at most once per
  // metrics_interval (the queue is walked: O(queued runs)).
  void UpdateGauges(TimePoint now);

  DispatcherOptions options_;
  const Clock& clock_;
  std::unique_ptr<events::Consumer> heartbeats_;

  // Loop-thread state.
  RunQueue queue_;
  Placement placement_;  // executors and this dispatcher's leases
  struct Due {
    int64_t offset;  // of its RunDue (FIFO order)
    int32_t partition;
  };
  std::unordered_map<std::string, Due> due_offsets_;  // run_id -> its RunDue
  // The runs each job had in flight when last seen, to notice those that left.
  struct JobRuns {
    int32_t partition = 0;
    std::vector<std::string> runs;
  };
  std::unordered_map<std::string, JobRuns> job_runs_;
  // Facts appended about a run and not yet seen back ("<run_id>/<epoch>" or
  // the RunWaiting's id -> when), so that one loss is declared once.
  std::unordered_map<std::string, TimePoint> declared_;
  std::vector<events::Record> unsent_tasks_;  // tasks (and cancels) still to append
  TimePoint next_reason_scan_;                // DispatchReady while no slot is free

  std::atomic<uint64_t> dispatched_{0};

  // Metrics (loop thread; prometheus-cpp's metrics are themselves thread-safe).
  std::shared_ptr<prometheus::Registry> own_metrics_;  // when options_.metrics is null
  struct Appended {
    prometheus::Counter* dispatched = nullptr;
    prometheus::Counter* waiting = nullptr;
    prometheus::Counter* lost = nullptr;
    prometheus::Counter* timed_out = nullptr;
  } appended_;
  prometheus::Counter* tasks_sent_ = nullptr;
  prometheus::Histogram* append_seconds_ = nullptr;
  prometheus::Family<prometheus::Gauge>* queue_depth_family_ = nullptr;
  // (pool, priority band) -> its gauge; a pair seen once stays (at 0).
  std::map<std::pair<std::string, int>, prometheus::Gauge*> queue_depth_;
  prometheus::Gauge* live_executors_ = nullptr;
  prometheus::Gauge* free_credits_ = nullptr;
  prometheus::Gauge* leases_gauge_ = nullptr;
  TimePoint next_gauges_{};
};

// The service's factory (services::ServiceMain). Besides the shared
// configuration and the state settings (services::StateSettings):
//   JOBSCHED_EXECUTOR_TIMEOUT_MS    an executor not heard for this long is STALE and its
//                                   runs are lost (default 30000)
//   JOBSCHED_PRIORITY_AGING_MS      waiting this long counts as one priority step (60000)
//   JOBSCHED_RUN_TIMEOUT_GRACE_MS   RunTimedOut after a run's timeout plus this (30000)
//   JOBSCHED_EXECUTOR_DEFAULT_TIMEOUT_S  the timeout of runs with timeout_seconds 0 (3600)
//   JOBSCHED_DISPATCH_PREFETCH      runs offered per executor slot, running plus queued
//                                   on the executor (default 16; 1: none queued there)
Result<std::unique_ptr<services::Service>> MakeDispatcher(services::ServiceContext& context);

}  // namespace jobsched::dispatcher
