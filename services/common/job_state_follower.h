// JobStateFollower: the fold of the job-events partitions a group member owns.
//
// The scheduler and the dispatcher each decide from the state of the jobs in
// their partitions. On assignment the follower restores each partition from
// its latest snapshot (SnapshotStore) and folds the log's tail from the
// offset the snapshot reflects; without a snapshot it replays the partition
// from its oldest record. It reports a partition caught up once it has
// folded everything that was in it when it was assigned: deciding before
// that would act on a stale state.
//
// It also keeps the member's memory bounded and its recovery short
// (Maintain): terminal jobs are evicted after a linger, and a snapshot of a
// partition is written every `state.snapshot_interval`, or every
// `state.snapshot_every_bytes` of folded log, whichever comes first.
//
// Thread-compatible: one thread calls Open, PollOnce, Maintain and the
// accessors; the hooks run on that thread, inside PollOnce (and inside Open's
// first polls, through the rebalance callbacks).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "events/envelope.h"
#include "events/event_log.h"
#include "events/fold.h"
#include "services/common/config.h"
#include "services/common/partition_state.h"
#include "services/common/snapshot_store.h"

namespace spdlog {
class logger;
}

namespace jobsched::services {

struct FollowerOptions {
  std::string topic;       // job-events
  std::string group_id;
  std::string client_id;   // also the snapshots' writer name
  std::string owner;       // "scheduler" | "dispatcher": whose snapshots
  std::string snapshot_topic;  // "" (or state.snapshots off) = replay from the start
  StateSettings state;
};

class JobStateFollower final : public events::RebalanceListener {
 public:
  struct Hooks {
    // Every folded event, whatever its outcome, with its position in the
    // partition; `state` is the job's state after it (nullptr: the job is not
    // kept). `replaying` while the partition is still being rebuilt.
    std::function<void(int32_t partition, int64_t offset, const events::Envelope&,
                       const events::JobState* state, const events::FoldResult&, bool replaying)>
        on_event;
    // Partitions were assigned to this member (maybe none: more members than
    // partitions); they are being restored.
    std::function<void(const std::vector<int32_t>& partitions)> on_assigned;
    // The partition's state is complete: decisions may start.
    std::function<void(int32_t partition)> on_caught_up;
    // The partition left this member: forget what was derived from it.
    std::function<void(int32_t partition)> on_revoked;
    // Snapshots: the owner's own part of a partition's snapshot, and its
    // restoration (before any event of the tail is folded).
    std::function<std::string(int32_t partition)> snapshot_extra;
    std::function<void(int32_t partition, const std::string& extra)> on_restored;
  };

  JobStateFollower(events::EventLog& log, events::Producer& producer, FollowerOptions options,
                   Hooks hooks, std::shared_ptr<spdlog::logger> logger);
  ~JobStateFollower() override;

  Status Open();
  // Polls once (waiting up to `timeout`) and folds what arrived. Returns the
  // number of records folded.
  size_t PollOnce(std::chrono::milliseconds timeout);
  // Evicts lingering terminal jobs and writes the snapshots that are due.
  // `force`: snapshot every caught-up partition that changed (graceful stop).
  void Maintain(TimePoint now, bool force = false);
  void Close();

  // The state of a job in an owned partition, nullptr if unknown.
  const events::JobState* Find(int32_t partition, const std::string& job_id) const;
  bool CaughtUp(int32_t partition) const;
  // The jobs of a partition, in the order they first appeared in the log.
  void ForEachJob(int32_t partition,
                  const std::function<void(const events::JobState&)>& fn) const;
  size_t JobCount() const;
  uint64_t snapshots_written() const { return snapshots_written_; }

  // events::RebalanceListener
  std::map<events::TopicPartition, int64_t> OnAssigned(
      const std::vector<events::TopicPartition>& parts) override;
  void OnRevoked(const std::vector<events::TopicPartition>& parts) override;

 private:
  struct Partition {
    PartitionState state;
    int64_t target = -1;       // high watermark at assignment; -1: not known yet
    bool caught_up = false;
    bool restored = false;     // started from a snapshot
    uint64_t snapshot_folded = 0;  // state.folded() at the last snapshot
    uint64_t bytes_since_snapshot = 0;  // record bytes folded since the last snapshot
    uint64_t snapshot_bytes = 0;        // size of the last snapshot written
    TimePoint snapshot_at;         // when the last snapshot was written (or assignment)
  };

  void ResolveTargets();
  void MaybeCaughtUp(int32_t id, Partition& p);
  void WriteSnapshot(int32_t id, Partition& p, TimePoint now);

  events::EventLog& log_;
  FollowerOptions options_;
  Hooks hooks_;
  std::shared_ptr<spdlog::logger> logger_;
  std::unique_ptr<SnapshotStore> snapshots_;
  std::unique_ptr<events::Consumer> consumer_;
  std::map<int32_t, Partition> partitions_;
  TimePoint last_eviction_;
  uint64_t snapshots_written_ = 0;
};

}  // namespace jobsched::services
