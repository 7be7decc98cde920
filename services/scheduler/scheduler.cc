#include "services/scheduler/scheduler.h"

#include "events/fold.h"
#include "services/common/logging.h"
#include "services/scheduler/decide.h"

namespace jobsched::scheduler {

using events::Envelope;
using events::JobState;
using services::Log;

Scheduler::Scheduler(SchedulerOptions options, events::EventLog& log, const Clock& clock)
    : PartitionWorker({"scheduler", options.instance_id, options.group_id, options.topics.job_events},
                      log),
      options_(std::move(options)),
      clock_(clock) {}

std::string Scheduler::Summary() const {
  return "decisions=" + std::to_string(decisions_appended_.load());
}

void Scheduler::OnEvent(int32_t partition, int64_t, const Envelope& e, const JobState& s,
                        const events::FoldResult&, bool replaying) {
  auto it = inflight_.find(e.job_id());
  if (it != inflight_.end()) {
    it->second.event_ids.erase(e.event_id());
    if (it->second.event_ids.empty()) inflight_.erase(it);
  }
  if (!replaying && s.status() != v1::JOB_STATUS_UNSPECIFIED && !events::IsTerminal(s.status())) {
    MarkDirty(partition, e.job_id());
  }
}

void Scheduler::MarkDirty(int32_t partition, const std::string& job_id) {
  if (dirty_set_.insert({partition, job_id}).second) dirty_.push_back({partition, job_id});
}

void Scheduler::OnCaughtUp(int32_t partition) {
  follower().ForEachJob(partition, [&](const JobState& s) {
    if (!events::IsTerminal(s.status())) MarkDirty(partition, s.job_id());
  });
}

void Scheduler::OnRevoked(int32_t partition) {
  std::erase_if(inflight_, [&](const auto& kv) { return kv.second.partition == partition; });
  std::erase_if(dirty_, [&](const JobKey& k) { return k.first == partition; });
  std::erase_if(dirty_set_, [&](const JobKey& k) { return k.first == partition; });
  // Timers of the partition are dropped lazily: Find() fails for them.
}

void Scheduler::DecideDirty(TimePoint now) {
  std::vector<events::Record> records;
  std::vector<std::string> jobs;
  for (const auto& [partition, job_id] : dirty_) {
    if (!follower().CaughtUp(partition)) continue;  // decided once caught up
    auto inflight = inflight_.find(job_id);
    if (inflight != inflight_.end()) {
      if (now - inflight->second.since < options_.inflight_timeout) continue;  // wait to see it
      Log(logger(), spdlog::level::warn, "decision not seen back in the log; deciding again",
          {{"job_id", job_id}});
      inflight_.erase(inflight);
    }
    const JobState* s = follower().Find(partition, job_id);
    if (s == nullptr) continue;
    Decision d = Decide(*s, now, producer_name());
    if (d.wake_at) timers_.push({*d.wake_at, partition, job_id});
    if (d.events.empty()) continue;
    InFlight& f = inflight_[job_id];
    f.partition = partition;
    f.since = now;
    for (const Envelope& e : d.events) {
      f.event_ids.insert(e.event_id());
      Log(logger(), spdlog::level::debug, "decided",
          {{"job_id", job_id}, {"event", events::EventType(e)}, {"event_id", e.event_id()},
           {"run_id", events::RunIdOf(e)}});
      records.push_back({options_.topics.job_events, job_id, events::Encode(e)});
    }
    jobs.push_back(job_id);
    timers_.push({now + options_.inflight_timeout, partition, job_id});
  }
  dirty_.clear();
  dirty_set_.clear();
  if (records.empty()) return;
  Status st = producer().Append(std::move(records));
  if (!st.ok()) {
    // Nothing is lost: the jobs are decided again (same ids) after a pause.
    Log(logger(), spdlog::level::err, "appending decisions failed; will retry",
        {{"error", st.ToString()}, {"jobs", std::to_string(jobs.size())}});
    for (const auto& job_id : jobs) {
      auto it = inflight_.find(job_id);
      if (it == inflight_.end()) continue;
      timers_.push({now + Millis(1000), it->second.partition, job_id});
      inflight_.erase(it);
    }
    return;
  }
  decisions_appended_ += jobs.size();
}

void Scheduler::Step() {
  TimePoint now = clock_.Now();
  Millis wait = options_.max_poll_wait;
  if (!timers_.empty()) {
    wait = std::clamp(std::chrono::duration_cast<Millis>(timers_.top().at - now), Millis(0), wait);
  }
  if (!dirty_.empty()) wait = Millis(0);
  follower().PollOnce(wait);
  now = clock_.Now();
  while (!timers_.empty() && timers_.top().at <= now) {
    MarkDirty(timers_.top().partition, timers_.top().job_id);
    timers_.pop();
  }
  if (!dirty_.empty()) DecideDirty(now);
}

}  // namespace jobsched::scheduler
