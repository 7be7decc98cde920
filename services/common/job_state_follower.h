// JobStateFollower: the fold of the job-events partitions a group member owns.
//
// The scheduler and the dispatcher each decide from the state of the jobs in
// their partitions. On assignment the follower replays each partition from its
// beginning (the whole partition is the state; there are no snapshots yet), and
// reports the partition caught up once it has folded everything that was in it
// when it was assigned. Deciding before that would act on a stale state.
//
// Thread-compatible: one thread calls Open, PollOnce and the accessors; the
// hooks run on that thread, inside PollOnce.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "events/envelope.h"
#include "events/event_log.h"
#include "events/fold.h"

namespace spdlog {
class logger;
}

namespace jobsched::services {

class JobStateFollower final : public events::RebalanceListener {
 public:
  struct Hooks {
    // Every folded event, whatever its outcome, with its position in the
    // partition. `replaying` while the partition is still being rebuilt.
    std::function<void(int32_t partition, int64_t offset, const events::Envelope&,
                       const events::JobState&, const events::FoldResult&, bool replaying)>
        on_event;
    // The partition's state is complete: decisions may start.
    std::function<void(int32_t partition)> on_caught_up;
    // The partition left this member: forget what was derived from it.
    std::function<void(int32_t partition)> on_revoked;
  };

  JobStateFollower(events::EventLog& log, std::string topic, std::string group_id,
                   std::string client_id, Hooks hooks, std::shared_ptr<spdlog::logger> logger);
  ~JobStateFollower() override;

  Status Open();
  // Polls once (waiting up to `timeout`) and folds what arrived. Returns the
  // number of records folded.
  size_t PollOnce(std::chrono::milliseconds timeout);
  void Close();

  // The state of a job in an owned partition, nullptr if unknown.
  const events::JobState* Find(int32_t partition, const std::string& job_id) const;
  bool CaughtUp(int32_t partition) const;
  // Iterates the jobs of a partition in the order they first appeared in the
  // log (for decisions after catch-up, which keep that order).
  void ForEachJob(int32_t partition,
                  const std::function<void(const events::JobState&)>& fn) const;
  size_t JobCount() const;

  // events::RebalanceListener
  std::map<events::TopicPartition, int64_t> OnAssigned(
      const std::vector<events::TopicPartition>& parts) override;
  void OnRevoked(const std::vector<events::TopicPartition>& parts) override;

 private:
  struct Partition {
    std::unordered_map<std::string, events::JobState> jobs;
    std::vector<std::string> order;  // job ids in order of first appearance
    int64_t next_offset = -1;  // -1: nothing folded yet
    int64_t target = -1;       // high watermark at assignment; -1: not known yet
    bool caught_up = false;
  };

  void ResolveTargets();
  void MaybeCaughtUp(int32_t id, Partition& p);

  events::EventLog& log_;
  std::string topic_;
  std::string group_id_;
  std::string client_id_;
  Hooks hooks_;
  std::shared_ptr<spdlog::logger> logger_;
  std::unique_ptr<events::Consumer> consumer_;
  std::map<int32_t, Partition> partitions_;
};

}  // namespace jobsched::services
