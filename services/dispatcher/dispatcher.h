// The dispatcher service: decides where and in what order due runs execute
// (consumer group "jobsched-dispatcher" on job-events).
//
// It folds its partitions (JobStateFollower, restored from its snapshots on
// dispatcher-snapshots plus the log's tail), keeps the runs that are due in
// a RunQueue (a recurring job may have several), and admits them only while
// live executors have free slots:
// capacity is the sum of the slots in recent heartbeats on `executors`;
// in flight are the runs it dispatched that have not finished. Admitting a run
// appends RunDispatched to job-events with the next lease epoch, and only then
// the RunTask to `run-tasks` (key run_id): an executor can never report on a
// run the log does not yet show as dispatched. A task that could not be sent
// is retried; after a crash between the two appends, the partition's new owner
// re-sends the task of every run still DISPATCHED (same epoch, same ids) once
// it has caught up. The side effect may repeat (at least once); the record of
// it does not.
//
// One thread runs the loop. Known limit: with several dispatchers each one
// counts only its own partitions' runs against the whole capacity.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>

#include "events/event_log.h"
#include "events/time.h"
#include "events/topics.h"
#include "services/common/partition_worker.h"
#include "services/dispatcher/capacity.h"
#include "services/dispatcher/run_queue.h"

namespace jobsched::dispatcher {

struct DispatcherOptions {
  std::string instance_id = "dispatcher";
  std::string group_id = "jobsched-dispatcher";
  events::Topics topics;
  Millis max_poll_wait{20};
  Millis heartbeat_expiry{5000};
  Millis pending_timeout{30000};  // a RunDispatched not seen back after this is redone
  services::StateSettings state;  // snapshots and eviction
};

class Dispatcher final : public services::PartitionWorker {
 public:
  Dispatcher(DispatcherOptions options, events::EventLog& log, const Clock& clock);
  ~Dispatcher() override { Stop(); }

  uint64_t dispatched() const { return dispatched_; }

 private:
  struct Pending {
    std::string event_id;
    std::string job_id;
    int32_t partition;
    TimePoint since;
  };

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

  void PollHeartbeats();
  // Puts the runs of `job_id` where its state says (nullptr: the job is gone).
  void Reevaluate(int32_t partition, const std::string& job_id, const events::JobState* s);
  void Forget(const std::string& run_id);
  void ExpirePending(TimePoint now);
  void DispatchReady(TimePoint now);
  void SendTasks();
  v1::RunTask MakeTask(const events::JobState& s, const v1::RunRecord& run, TimePoint now) const;
  size_t InFlight() const { return running_.size() + pending_.size(); }

  DispatcherOptions options_;
  const Clock& clock_;
  std::unique_ptr<events::Consumer> heartbeats_;

  // Loop-thread state.
  RunQueue queue_;
  Capacity capacity_;
  std::unordered_map<std::string, int32_t>
      running_;  // run_id -> partition: dispatched, not finished
  std::unordered_map<std::string, Pending>
      pending_;  // run_id -> RunDispatched appended, not yet seen
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
  std::vector<events::Record> unsent_tasks_;  // dispatched runs whose task is still to append

  std::atomic<uint64_t> dispatched_{0};
};

}  // namespace jobsched::dispatcher
