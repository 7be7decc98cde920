// Where a run may go: the executors heard on `executors` (heartbeats), what
// each has free, and the leases this dispatcher holds on them. Pure (the
// caller passes the time); thread-compatible.
//
// Capacity. An executor offers `slots` runs at once and named resources
// (cpu, memory_mb, gpu_units, ...) to one pool. A run needs one slot and its
// spec's resources, from an executor of its pool. What an executor has free,
// as this dispatcher sees it: its capacity, minus the leases this dispatcher
// holds on it (counted from the moment of the decision, before any
// heartbeat shows them), minus the runs its last heartbeat reports as leased
// by other dispatchers. Several dispatchers therefore share executors
// without a coordinator: each may over-admit by what another admitted since
// the last heartbeat (at most one heartbeat interval of admissions); the
// executor queues such excess and never runs more than its slots.
//
// Credits. A slot is not held idle across log round trips: an executor is
// offered `prefetch` runs per slot (running plus waiting in its own queue,
// highest priority first), so its workers find the next run at hand while
// the result of the last one travels back through the log. Resources are
// never prefetched: a run that needs them waits here until they are free.
// With prefetch 1 an executor holds no more runs than it runs.
//
// Liveness. An executor takes new work while its last heartbeat was sent
// within 5 s (or `executor_timeout` if shorter) and it is not stopping. A
// lease is lost when its holder
// restarted (the heartbeat names a new incarnation), stopped with the run
// not handed back, or was not heard for `executor_timeout` (counted from the
// later of its last heartbeat's arrival and this dispatcher's start, so that
// a restarted dispatcher gives every executor a full timeout to be heard).
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "events/time.h"
#include "jobsched/v1/runtime.pb.h"

namespace jobsched::dispatcher {

using Resources = std::map<std::string, double>;

// What one run asks of an executor besides a slot.
struct Need {
  std::string pool = "default";
  Resources resources;
};

// A run this dispatcher leased to an executor.
struct Lease {
  std::string run_id;
  std::string job_id;
  int32_t partition = 0;
  int64_t epoch = 0;
  std::string executor_id;
  std::string incarnation;
  Resources resources;
  TimePoint dispatched_at;
  bool confirmed = false;  // its RunDispatched is back in the log
};

// An executor to send a task to.
struct Target {
  std::string executor_id;
  std::string incarnation;
  int32_t task_partition = 0;
};

class Placement {
 public:
  Placement(std::string dispatcher_id, Millis executor_timeout, TimePoint started,
            int prefetch = 1)
      : dispatcher_id_(std::move(dispatcher_id)),
        executor_timeout_(executor_timeout),
        started_(started),
        prefetch_(std::max(prefetch, 1)) {}

  // A heartbeat older than one already seen for the executor is ignored.
  void Observe(const v1::ExecutorHeartbeat& hb, TimePoint received);

  // Leases: replaces the lease of `lease.run_id` if any.
  void Hold(Lease lease);
  void Release(const std::string& run_id);
  const Lease* FindLease(const std::string& run_id) const;
  const std::map<std::string, Lease>& leases() const { return leases_; }

  // The live executor of `need.pool` with room for it (the most free slots;
  // ties by id), or nullopt. Then, when no live executor of the pool could
  // take it even empty, `unplaceable` says which need is unmet.
  std::optional<Target> Choose(const Need& need, TimePoint now, std::string* unplaceable) const;
  // Whether any live executor has a free slot.
  bool AnyRoom(TimePoint now) const;
  // The executor's current incarnation and task partition, if heard of.
  std::optional<Target> Find(const std::string& executor_id) const;

  // Leases whose holder is gone, with why (see the header comment).
  std::vector<std::pair<Lease, std::string>> LostLeases(TimePoint now) const;

  int LiveExecutors(TimePoint now) const;
  int FreeSlots(TimePoint now) const;  // credits, summed over live executors

 private:
  struct Executor {
    v1::ExecutorHeartbeat hb;
    TimePoint received;
    std::string pool;
    Resources capacity;
    // Used by other dispatchers' runs, as the last heartbeat reported.
    int others_slots = 0;
    Resources others;
    // Used by this dispatcher's leases of the current incarnation.
    int mine_slots = 0;
    Resources mine;
  };

  bool Live(const Executor& x, TimePoint now) const;
  int Free(const Executor& x) const {
    return x.hb.slots() * prefetch_ - x.others_slots - x.mine_slots;
  }
  bool Fits(const Executor& x, const Resources& need) const;
  // Whether `x` could take `need` with nothing else running on it.
  bool FitsEmpty(const Executor& x, const Resources& need) const;
  void Count(const Lease& lease, int sign);

  std::string dispatcher_id_;
  Millis executor_timeout_;
  TimePoint started_;
  int prefetch_;
  std::map<std::string, Executor> executors_;
  std::map<std::string, Lease> leases_;  // run_id -> lease
};

// The resources of a job spec's map, as a Resources value.
template <typename ProtoMap>
Resources ToResources(const ProtoMap& m) {
  return Resources(m.begin(), m.end());
}

}  // namespace jobsched::dispatcher
