// PartitionWorker: the shape the scheduler and the dispatcher share. A member
// of a consumer group on job-events that folds the partitions it owns
// (JobStateFollower: restored from a snapshot plus the log's tail on
// assignment, snapshotted as it goes) and acts on them from one loop thread,
// appending with a producer of its own.
//
// Derived classes implement the hooks; every hook runs on the loop thread
// (OnStart/OnStop on the thread calling Start/Stop). A derived destructor must
// call Stop(), because the loop calls virtual hooks.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "events/event_log.h"
#include "services/common/job_state_follower.h"
#include "services/common/service_main.h"

namespace jobsched::services {

class PartitionWorker : public Service {
 public:
  struct Options {
    std::string kind;         // "scheduler": names the logger and the producer
    std::string instance_id;  // producer = kind + "/" + instance_id
    std::string group_id;
    std::string topic;        // job-events
    std::string snapshot_topic;  // this kind's snapshots (used when state.snapshots)
    StateSettings state;
  };

  ~PartitionWorker() override;

  Status Start() final;  // producer, OnStart, follower, then the loop thread
  void Stop() final;     // idempotent; joins the loop, closes the follower, OnStop

  // Ready: the producer reaches a broker, and partitions are assigned and
  // every one of them is caught up (decisions run on complete states). A
  // member without partitions (more members than partitions) is not ready.
  Readiness Ready() override;
  // {"partitions": {"assigned": [...], "caught_up": [...]}}
  nlohmann::json Health() override;

 protected:
  PartitionWorker(Options options, events::EventLog& log, const Clock& clock);

  virtual Status OnStart() { return Status::Ok(); }
  virtual void OnStop() {}
  // `s`: the job's state after the event; nullptr when the job is not kept.
  virtual void OnEvent(int32_t partition, int64_t offset, const events::Envelope& e,
                       const events::JobState* s, const events::FoldResult& r, bool replaying) = 0;
  virtual void OnCaughtUp(int32_t partition) = 0;
  virtual void OnRevoked(int32_t partition) = 0;
  // Snapshot hooks: the derived class's own part of a partition's snapshot.
  virtual std::string SnapshotExtra(int32_t) { return ""; }
  virtual void OnRestored(int32_t, const std::string&) {}
  // One turn of the loop: poll through follower().PollOnce, then act.
  virtual void Step() = 0;
  // Appended to the "stopped" log line, e.g. "decisions=12".
  virtual std::string Summary() const { return ""; }

  events::EventLog& event_log() { return log_; }
  const Clock& clock() const { return clock_; }
  events::Producer& producer() { return *producer_; }
  JobStateFollower& follower() { return *follower_; }
  const std::string& producer_name() const { return producer_name_; }
  spdlog::logger& logger() { return *logger_; }

 private:
  Options options_;
  events::EventLog& log_;
  const Clock& clock_;
  std::string producer_name_;
  std::shared_ptr<spdlog::logger> logger_;
  std::unique_ptr<events::Producer> producer_;
  std::unique_ptr<JobStateFollower> follower_;
  std::atomic<bool> stop_{false};
  std::thread thread_;

  // The follower's partitions, as the admin thread sees them.
  mutable std::mutex status_mu_;
  std::set<int32_t> assigned_;   // guarded by status_mu_
  std::set<int32_t> caught_up_;  // guarded by status_mu_
};

}  // namespace jobsched::services
