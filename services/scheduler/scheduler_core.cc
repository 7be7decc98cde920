#include "services/scheduler/scheduler_core.h"

#include "events/fold.h"
#include "jobsched/v1/runtime.pb.h"

namespace jobsched::scheduler {

using events::Envelope;
using events::JobState;

SchedulerCore::SchedulerCore(SchedulerCoreOptions options, States states)
    : options_(std::move(options)), states_(std::move(states)) {}

void SchedulerCore::MarkDirty(const JobKey& key) {
  if (dirty_set_.insert(key).second) dirty_.push_back(key);
}

void SchedulerCore::OnEvent(int32_t partition, const Envelope& e, const JobState* state,
                            bool replaying) {
  JobKey key{partition, e.job_id()};
  auto it = inflight_.find(key);
  if (it != inflight_.end()) {
    it->second.event_ids.erase(e.event_id());
    if (it->second.event_ids.empty()) inflight_.erase(it);
  }
  if (state == nullptr ||
      (events::IsTerminal(state->status()) && !events::HasUnnotifiedDependents(*state))) {
    timers_.Cancel(key);  // nothing more to decide for it
    acked_.erase(key);
    return;
  }
  if (!replaying) MarkDirty(key);
}

void SchedulerCore::OnCaughtUp(int32_t partition, const std::vector<std::string>& job_ids) {
  for (const std::string& id : job_ids) MarkDirty({partition, id});
}

void SchedulerCore::OnRevoked(int32_t partition) {
  std::erase_if(inflight_, [&](const auto& kv) { return kv.first.partition == partition; });
  std::erase_if(acked_, [&](const auto& kv) { return kv.first.partition == partition; });
  std::erase_if(dirty_, [&](const JobKey& k) { return k.partition == partition; });
  std::erase_if(dirty_set_, [&](const JobKey& k) { return k.partition == partition; });
  timers_.CancelIf([&](const JobKey& k) { return k.partition == partition; });
}

namespace {

// The record of a job that died, for consumers of `dead-letters`. Appended in
// the batch of its JobDead, so a redo may repeat it: its event_id dedupes.
v1::DeadLetter DeadLetterOf(const JobState& s, const Envelope& dead) {
  v1::DeadLetter d;
  d.set_job_id(s.job_id());
  *d.mutable_spec() = s.spec();
  d.set_last_run_id(dead.job_dead().last_run_id());
  d.set_attempts(dead.job_dead().attempts());
  d.set_reason(dead.job_dead().reason());
  d.set_last_error(s.last_error());
  *d.mutable_dead_at() = dead.occurred_at();
  d.set_event_id(dead.event_id());
  return d;
}

}  // namespace

SchedulerCore::Batch SchedulerCore::Decide(TimePoint now) {
  for (JobKey& key : timers_.PopDue(now)) MarkDirty(key);
  Batch batch;
  for (const JobKey& key : dirty_) {
    if (!states_.caught_up(key.partition)) continue;  // decided once caught up
    auto inflight = inflight_.find(key);
    if (inflight != inflight_.end()) {
      // Decided again when its decisions come back (OnEvent marks it dirty).
      if (now - inflight->second.since < options_.inflight_timeout) continue;
      inflight_.erase(inflight);  // lost: decide again (same ids)
    }
    const JobState* s = states_.find(key.partition, key.job_id);
    if (s == nullptr) continue;
    Decision d = scheduler::Decide(*s, now, options_.decide);
    std::vector<std::string> other_ids;
    if (d.others.empty()) {
      acked_.erase(key);
    } else if (Acked(key, d.others)) {
      for (Envelope& e : d.after) d.events.push_back(std::move(e));
    } else {
      for (const Envelope& e : d.others) {
        other_ids.push_back(e.event_id());
        batch.records.push_back({options_.topic, e.job_id(), events::Encode(e)});
        batch.types.push_back(e.event_case());
      }
    }
    if (d.events.empty() && other_ids.empty()) {
      if (d.wake_at) {
        timers_.Schedule(key, *d.wake_at);
      } else {
        timers_.Cancel(key);
      }
      continue;
    }
    if (!d.events.empty()) {
      InFlight& f = inflight_[key];
      f.since = now;
      for (const Envelope& e : d.events) {
        f.event_ids.insert(e.event_id());
        batch.records.push_back({options_.topic, key.job_id, events::Encode(e)});
        batch.types.push_back(e.event_case());
        if (e.has_job_dead() && !options_.dead_letter_topic.empty()) {
          batch.records.push_back(
              {options_.dead_letter_topic, key.job_id, events::Encode(DeadLetterOf(*s, e))});
        }
      }
    }
    if (!other_ids.empty()) batch.others.emplace_back(key, std::move(other_ids));
    batch.jobs.push_back(key);
    // Decided again when its decisions come back; this is the lost-append backstop.
    timers_.Schedule(key, now + options_.inflight_timeout);
  }
  dirty_.clear();
  dirty_set_.clear();
  return batch;
}

void SchedulerCore::OnAppendFailed(const Batch& batch, TimePoint now, Millis retry_after) {
  for (const JobKey& key : batch.jobs) {
    inflight_.erase(key);
    timers_.Schedule(key, now + retry_after);
  }
}

void SchedulerCore::OnAppended(const Batch& batch) {
  for (const auto& [key, ids] : batch.others) {
    acked_[key].insert(ids.begin(), ids.end());
    MarkDirty(key);  // its `after` events are due now
  }
}

bool SchedulerCore::Acked(const JobKey& key, const std::vector<Envelope>& others) const {
  auto it = acked_.find(key);
  if (it == acked_.end()) return false;
  for (const Envelope& e : others) {
    if (!it->second.contains(e.event_id())) return false;
  }
  return true;
}

std::optional<TimePoint> SchedulerCore::NextDeadline(TimePoint now) const {
  if (!dirty_.empty()) return now;
  return timers_.NextDeadline();
}

}  // namespace jobsched::scheduler
