#include "services/scheduler/scheduler.h"

#include <algorithm>

#include "services/common/logging.h"

namespace jobsched::scheduler {

using events::Envelope;
using events::JobState;
using services::Log;

Scheduler::Scheduler(SchedulerOptions options, events::EventLog& log, const Clock& clock)
    : PartitionWorker(
          {"scheduler", options.instance_id, options.group_id, options.topics.job_events,
           options.topics.scheduler_snapshots, options.state},
          log, clock),
      options_(std::move(options)),
      core_(
          [&] {
            SchedulerCoreOptions c;
            c.decide.producer = producer_name();
            c.decide.misfire_grace = options_.misfire_grace;
            c.topic = options_.topics.job_events;
            c.dead_letter_topic = options_.topics.dead_letters;
            c.inflight_timeout = options_.inflight_timeout;
            return c;
          }(),
          {[this](int32_t p, const std::string& id) { return follower().Find(p, id); },
           [this](int32_t p) { return follower().CaughtUp(p); }}) {}

std::string Scheduler::Summary() const {
  return "decisions=" + std::to_string(decisions_appended_.load());
}

void Scheduler::OnEvent(int32_t partition, int64_t, const Envelope& e, const JobState* s,
                        const events::FoldResult&, bool replaying) {
  core_.OnEvent(partition, e, s, replaying);
}

void Scheduler::OnCaughtUp(int32_t partition) {
  std::vector<std::string> jobs;
  follower().ForEachJob(partition, [&](const JobState& s) {
    // Terminal jobs too while they owe their dependents a word (a crash
    // between their end and the telling).
    if (!events::IsTerminal(s.status()) || events::HasUnnotifiedDependents(s)) {
      jobs.push_back(s.job_id());
    }
  });
  core_.OnCaughtUp(partition, jobs);
}

void Scheduler::OnRevoked(int32_t partition) { core_.OnRevoked(partition); }

void Scheduler::Step() {
  TimePoint now = clock().Now();
  Millis wait = options_.max_poll_wait;
  if (auto next = core_.NextDeadline(now)) {
    wait = std::clamp(std::chrono::duration_cast<Millis>(*next - now), Millis(0), wait);
  }
  follower().PollOnce(wait);
  now = clock().Now();
  SchedulerCore::Batch batch = core_.Decide(now);
  if (batch.records.empty()) return;
  size_t jobs = batch.jobs.size();
  if (logger().should_log(spdlog::level::debug)) {
    for (const auto& r : batch.records) {
      if (auto e = events::DecodeEnvelope(r.value); e.ok()) {
        Log(logger(), spdlog::level::debug, "decided",
            {{"job_id", e->job_id()}, {"event", events::EventType(*e)},
             {"event_id", e->event_id()}, {"run_id", events::RunIdOf(*e)}});
      }
    }
  }
  Status st = producer().Append(batch.records);
  if (!st.ok()) {
    // Nothing is lost: the jobs are decided again (same ids) after a pause.
    Log(logger(), spdlog::level::err, "appending decisions failed; will retry",
        {{"error", st.ToString()}, {"jobs", std::to_string(jobs)}});
    core_.OnAppendFailed(batch, now, Millis(1000));
    return;
  }
  core_.OnAppended(batch);
  decisions_appended_ += jobs;
}

}  // namespace jobsched::scheduler
