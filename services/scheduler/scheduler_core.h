// SchedulerCore: the scheduler without I/O. It is told every folded event of
// the partitions its owner holds, keeps one keyed timer per job on the
// injected clock's time line, and, asked at a point in time, decides for the
// jobs that changed or whose timer is due (scheduler::Decide), returning the
// records to append. The Scheduler service wraps it in a consume-decide-
// produce loop; tests drive it directly in simulated time (SimulatedTime in
// tests/support), a day of every-second fires in milliseconds.
//
// In flight: a job whose decisions were handed out is not decided again
// until they come back through the log (its state then reflects them), or
// until `inflight_timeout` passes (the append was lost: decide again, with
// the same ids).
//
// Records are keyed by the job they are about. Events about other jobs
// (Decision::others: a workflow's jobs, a child's registration with its
// parents, a parent's word to its children) may land on partitions another
// scheduler owns and never come back here, so they are tracked by
// destination instead: done once the broker acknowledged them (OnAppended),
// after which the decision's `after` events record it in the job's own
// stream. A crash in between decides them again (same ids: duplicates).
//
// Thread-compatible: one thread (the owner's loop).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "events/envelope.h"
#include "events/event_log.h"
#include "events/timer_queue.h"
#include "services/scheduler/decide.h"

namespace jobsched::scheduler {

struct JobKey {
  int32_t partition = 0;
  std::string job_id;
  auto operator<=>(const JobKey&) const = default;
};

struct JobKeyHash {
  size_t operator()(const JobKey& k) const {
    return std::hash<std::string>()(k.job_id) ^ (static_cast<size_t>(k.partition) << 1);
  }
};

struct SchedulerCoreOptions {
  DecideContext decide;    // producer, misfire grace
  std::string topic = "job-events";  // where decisions are appended
  std::string dead_letter_topic;     // a DeadLetter beside each JobDead ("" = none)
  Millis inflight_timeout{30000};
};

class SchedulerCore {
 public:
  // Where the owner keeps the folded states: the state of a job (nullptr if
  // unknown) and whether a partition is caught up.
  struct States {
    std::function<const events::JobState*(int32_t partition, const std::string& job_id)> find;
    std::function<bool(int32_t partition)> caught_up;
  };

  SchedulerCore(SchedulerCoreOptions options, States states);

  // Every folded event; `state` is the job's state after it (nullptr: not kept).
  void OnEvent(int32_t partition, const events::Envelope& e, const events::JobState* state,
               bool replaying);
  // A partition's state is complete: decide for each of `job_ids` (log order).
  void OnCaughtUp(int32_t partition, const std::vector<std::string>& job_ids);
  void OnRevoked(int32_t partition);

  struct Batch {
    std::vector<events::Record> records;  // each job's events in order
    // The type of each job-events record among `records` (for metrics).
    std::vector<events::Envelope::EventCase> types;
    std::vector<JobKey> jobs;             // the jobs they decide for
    // Per job, the ids of the events about other jobs among `records`.
    std::vector<std::pair<JobKey, std::vector<std::string>>> others;
  };
  // Makes due timers' jobs dirty and decides for every dirty job of a
  // caught-up partition that is not in flight.
  Batch Decide(TimePoint now);
  // The batch could not be appended: its jobs are decided again (same ids)
  // after `retry_after`.
  void OnAppendFailed(const Batch& batch, TimePoint now, Millis retry_after);
  // The batch was acknowledged: events about other jobs are done, and their
  // deciders are decided again (to record it).
  void OnAppended(const Batch& batch);

  // When Decide has work next: now if jobs are dirty, else the earliest timer.
  std::optional<TimePoint> NextDeadline(TimePoint now) const;

  size_t timers() const { return timers_.size(); }
  size_t in_flight() const { return inflight_.size(); }

 private:
  struct InFlight {
    TimePoint since;
    std::unordered_set<std::string> event_ids;
  };

  void MarkDirty(const JobKey& key);
  // Whether every one of `others` was acknowledged for `key`.
  bool Acked(const JobKey& key, const std::vector<events::Envelope>& others) const;

  SchedulerCoreOptions options_;
  States states_;
  TimerQueue<JobKey, JobKeyHash> timers_;
  // Jobs to decide, in the order their causes arrived, so decisions (and so
  // RunDue order, which the dispatcher's FIFO follows) keep the log's order.
  std::vector<JobKey> dirty_;
  std::unordered_set<JobKey, JobKeyHash> dirty_set_;
  std::unordered_map<JobKey, InFlight, JobKeyHash> inflight_;
  // Ids of events about other jobs acknowledged, per deciding job; dropped
  // once the job decides nothing more about others.
  std::unordered_map<JobKey, std::unordered_set<std::string>, JobKeyHash> acked_;
};

}  // namespace jobsched::scheduler
