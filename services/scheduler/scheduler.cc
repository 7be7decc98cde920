#include "services/scheduler/scheduler.h"

#include <algorithm>
#include <chrono>

#include "services/common/logging.h"
#include "services/common/metrics.h"

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
           [this](int32_t p) { return follower().CaughtUp(p); }}) {
  if (options_.metrics == nullptr) {
    own_metrics_ = std::make_shared<prometheus::Registry>();
    options_.metrics = own_metrics_.get();
  }
  appended_family_ = &prometheus::BuildCounter()
                          .Name("jobsched_scheduler_events_appended_total")
                          .Help(
                              "Decisions the scheduler appended to job-events, by event type "
                              "(counted once acknowledged)")
                          .Register(*options_.metrics);
  append_seconds_ = &prometheus::BuildHistogram()
                         .Name("jobsched_scheduler_append_duration_seconds")
                         .Help("Time to append one batch of decisions until acknowledged")
                         .Register(*options_.metrics)
                         .Add({}, services::DurationBuckets());
}

prometheus::Counter& Scheduler::AppendedCounter(events::Envelope::EventCase type) {
  const size_t i = static_cast<size_t>(type);
  if (i >= appended_.size()) appended_.resize(i + 1, nullptr);
  if (appended_[i] == nullptr) {
    // The type's name as events::EventType spells it, from an envelope of it.
    events::Envelope e;
    const auto* field = events::Envelope::descriptor()->FindFieldByNumber(static_cast<int>(i));
    if (field != nullptr) e.GetReflection()->MutableMessage(&e, field);
    appended_[i] = &appended_family_->Add({{"type", std::string(events::EventType(e))}});
  }
  return *appended_[i];
}

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
        LogJob(logger(), spdlog::level::debug, "decided", services::RefOf(*e),
               {{"event", events::EventType(*e)}});
      }
    }
  }
  const auto append_start = std::chrono::steady_clock::now();
  Status st = producer().Append(batch.records);
  append_seconds_->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - append_start).count());
  if (!st.ok()) {
    // Nothing is lost: the jobs are decided again (same ids) after a pause.
    Log(logger(), spdlog::level::err, "appending decisions failed; will retry",
        {{"error", st.ToString()}, {"jobs", std::to_string(jobs)}});
    core_.OnAppendFailed(batch, now, Millis(1000));
    return;
  }
  core_.OnAppended(batch);
  decisions_appended_ += jobs;
  for (events::Envelope::EventCase type : batch.types) AppendedCounter(type).Increment();
}

Result<std::unique_ptr<services::Service>> MakeScheduler(services::ServiceContext& context) {
  auto state = services::StateSettings::FromEnv();
  if (!state.ok()) return state.status();
  auto grace = services::EnvInt("JOBSCHED_MISFIRE_GRACE_MS", 1000, 0, 86'400'000);
  if (!grace.ok()) return grace.status();
  SchedulerOptions options;
  options.instance_id = context.config.instance_id;
  options.topics = context.config.topics();
  options.misfire_grace = Millis(*grace);
  options.state = *state;
  options.metrics = &context.metrics;
  return std::unique_ptr<services::Service>(
      std::make_unique<Scheduler>(options, context.log, context.clock));
}

}  // namespace jobsched::scheduler
