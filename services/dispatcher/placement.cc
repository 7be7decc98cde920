#include "services/dispatcher/placement.h"

#include <algorithm>

namespace jobsched::dispatcher {
namespace {

// A stopping executor hands its runs back (RunReleased) before its last
// heartbeat; leases still held this long after that heartbeat are lost.
constexpr Millis kReleaseGrace{2000};
// New work goes only to executors heard from this recently (a few heartbeat
// intervals), though their leases are declared lost only after
// executor_timeout: a dead executor then strands the runs it held, not the
// runs admitted in the half minute before anyone noticed.
constexpr Millis kFreshHeartbeat{5000};

std::string PoolOf(const std::string& pool) { return pool.empty() ? "default" : pool; }

std::string Number(double v) {
  std::string s = std::to_string(v);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

void Placement::Observe(const v1::ExecutorHeartbeat& hb, TimePoint received) {
  auto it = executors_.find(hb.executor_id());
  if (it != executors_.end() && FromProto(hb.sent_at()) < FromProto(it->second.hb.sent_at())) {
    return;  // e.g. a dead incarnation's last heartbeat, read after its successor's
  }
  Executor& x = executors_[hb.executor_id()];
  const bool new_incarnation = x.hb.incarnation() != hb.incarnation();
  x.hb = hb;
  x.received = received;
  x.pool = PoolOf(hb.pool());
  x.capacity = ToResources(hb.resources());
  x.others_slots = 0;
  x.others.clear();
  for (const v1::HeldRun& run : hb.runs()) {
    if (run.dispatcher_id() == dispatcher_id_) continue;  // counted from our own leases
    ++x.others_slots;
    for (const auto& [name, amount] : run.resources()) x.others[name] += amount;
  }
  if (new_incarnation) {
    // Leases on the old incarnation no longer use this executor's capacity.
    x.mine_slots = 0;
    x.mine.clear();
    for (const auto& [run_id, lease] : leases_) {
      if (lease.executor_id == hb.executor_id() && lease.incarnation == hb.incarnation()) {
        Count(lease, +1);
      }
    }
  }
}

void Placement::Count(const Lease& lease, int sign) {
  auto it = executors_.find(lease.executor_id);
  if (it == executors_.end() || it->second.hb.incarnation() != lease.incarnation) return;
  Executor& x = it->second;
  x.mine_slots += sign;
  for (const auto& [name, amount] : lease.resources) x.mine[name] += sign * amount;
}

void Placement::Hold(Lease lease) {
  Release(lease.run_id);
  Count(lease, +1);
  std::string run_id = lease.run_id;
  leases_.emplace(std::move(run_id), std::move(lease));
}

void Placement::Release(const std::string& run_id) {
  auto it = leases_.find(run_id);
  if (it == leases_.end()) return;
  Count(it->second, -1);
  leases_.erase(it);
}

const Lease* Placement::FindLease(const std::string& run_id) const {
  auto it = leases_.find(run_id);
  return it == leases_.end() ? nullptr : &it->second;
}

bool Placement::Live(const Executor& x, TimePoint now) const {
  return !x.hb.stopping() &&
         now - FromProto(x.hb.sent_at()) < std::min(executor_timeout_, kFreshHeartbeat);
}

bool Placement::Fits(const Executor& x, const Resources& need) const {
  if (Free(x) < 1) return false;
  for (const auto& [name, amount] : need) {
    if (amount <= 0) continue;
    auto cap = x.capacity.find(name);
    double have = cap == x.capacity.end() ? 0 : cap->second;
    auto used = [&](const Resources& r) {
      auto u = r.find(name);
      return u == r.end() ? 0.0 : u->second;
    };
    if (have - used(x.others) - used(x.mine) < amount) return false;
  }
  return true;
}

bool Placement::FitsEmpty(const Executor& x, const Resources& need) const {
  if (x.hb.slots() < 1) return false;
  for (const auto& [name, amount] : need) {
    auto cap = x.capacity.find(name);
    if ((cap == x.capacity.end() ? 0 : cap->second) < amount) return false;
  }
  return true;
}

std::optional<Target> Placement::Choose(const Need& need, TimePoint now,
                                        std::string* unplaceable) const {
  const Executor* best = nullptr;
  const std::string pool = PoolOf(need.pool);
  bool pool_live = false;
  bool could_fit = false;
  for (const auto& [id, x] : executors_) {
    if (x.pool != pool || !Live(x, now)) continue;
    pool_live = true;
    if (Fits(x, need.resources)) {
      if (best == nullptr || Free(x) > Free(*best)) best = &x;
      continue;
    }
    could_fit = could_fit || FitsEmpty(x, need.resources);
  }
  if (best != nullptr) {
    return Target{best->hb.executor_id(), best->hb.incarnation(), best->hb.task_partition()};
  }
  if (unplaceable != nullptr && !could_fit) {
    if (!pool_live) {
      *unplaceable = "no live executor in pool '" + pool + "'";
    } else {
      std::string needs;
      for (const auto& [name, amount] : need.resources) {
        if (!needs.empty()) needs += ", ";
        needs += name + " >= " + Number(amount);
      }
      *unplaceable = "no live executor in pool '" + pool + "' offers " +
                     (needs.empty() ? "a slot" : needs);
    }
  }
  return std::nullopt;
}

bool Placement::AnyRoom(TimePoint now) const {
  return std::any_of(executors_.begin(), executors_.end(),
                     [&](const auto& kv) { return Live(kv.second, now) && Free(kv.second) > 0; });
}

std::optional<Target> Placement::Find(const std::string& executor_id) const {
  auto it = executors_.find(executor_id);
  if (it == executors_.end()) return std::nullopt;
  const v1::ExecutorHeartbeat& hb = it->second.hb;
  return Target{hb.executor_id(), hb.incarnation(), hb.task_partition()};
}

std::vector<std::pair<Lease, std::string>> Placement::LostLeases(TimePoint now) const {
  std::vector<std::pair<Lease, std::string>> lost;
  const std::string timeout = std::to_string(executor_timeout_.count());
  for (const auto& [run_id, lease] : leases_) {
    if (!lease.confirmed) continue;  // its RunDispatched must precede any RunLost
    auto it = executors_.find(lease.executor_id);
    if (it == executors_.end()) {
      if (now - started_ >= executor_timeout_) {
        lost.emplace_back(lease, "executor not heard from in " + timeout + " ms");
      }
      continue;
    }
    const Executor& x = it->second;
    if (x.hb.incarnation() != lease.incarnation) {
      lost.emplace_back(lease, "executor restarted (incarnation " + x.hb.incarnation() + ")");
    } else if (x.hb.stopping() && x.hb.runs_size() == 0 && now - x.received >= kReleaseGrace) {
      lost.emplace_back(lease, "executor stopped without handing the run back");
    } else if (now - std::max(x.received, started_) >= executor_timeout_) {
      lost.emplace_back(lease, "executor missed heartbeats for " + timeout + " ms");
    }
  }
  return lost;
}

int Placement::LiveExecutors(TimePoint now) const {
  return static_cast<int>(std::count_if(executors_.begin(), executors_.end(),
                                        [&](const auto& kv) { return Live(kv.second, now); }));
}

int Placement::FreeSlots(TimePoint now) const {
  int free = 0;
  for (const auto& [id, x] : executors_) {
    if (Live(x, now)) free += std::max(0, Free(x));
  }
  return free;
}

}  // namespace jobsched::dispatcher
