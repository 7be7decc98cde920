// SimulatedScheduler: the scheduler's core in simulated time, for tests. One
// partition, folded in memory; every decision the core makes is appended and
// folded back at once (as the log would deliver it); a stand-in executor
// dispatches, starts and finishes due runs after a chosen duration. Advancing
// the clock fires the core's and the executor's timers in time order, so a day
// of every-second fires runs in milliseconds, without threads or real waits.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "events/envelope.h"
#include "events/ids.h"
#include "events/timer_queue.h"
#include "services/common/partition_state.h"
#include "services/scheduler/scheduler_core.h"

namespace jobsched::testing {

class SimulatedScheduler {
 public:
  struct Options {
    Millis misfire_grace{1000};
    Millis run_duration{0};      // how long each run takes on the stand-in executor
    bool runs_succeed = true;    // the stand-in executor's verdict
    bool executor_enabled = true;
  };

  SimulatedScheduler(TimePoint start, Options options) : options_(options), clock_(start) {
    NewCore();
  }
  explicit SimulatedScheduler(TimePoint start) : SimulatedScheduler(start, Options()) {}

  ManualClock& clock() { return clock_; }
  TimePoint now() const { return clock_.Now(); }
  Options& options() { return options_; }

  // Appends `e` as another service would, then lets the scheduler react now.
  void Append(const events::Envelope& e) {
    Fold(e);
    Settle();
  }

  // Moves simulated time to `t`, firing every timer due on the way in order.
  void AdvanceTo(TimePoint t) {
    for (int guard = 0; guard < 10'000'000; ++guard) {
      std::optional<TimePoint> next;
      if (up_) next = core_->NextDeadline(now());
      if (auto x = executor_.NextDeadline(); x && (!next || *x < *next)) next = x;
      if (!next || *next > t) break;
      if (*next > now()) clock_.Set(*next);
      FinishDueRuns();
      Settle();
    }
    clock_.Set(t);
    FinishDueRuns();
    Settle();
  }
  void Advance(Millis d) { AdvanceTo(now() + d); }

  // Scheduler downtime: while down, nothing is decided (the executor goes
  // on). Up() rebuilds the core from the folded state, as a restart would.
  void Down() { up_ = false; }
  void Up() {
    up_ = true;
    NewCore();
    std::vector<std::string> jobs;
    state_.ForEach([&](const events::JobState& s) {
      if (!events::IsTerminal(s.status()) || events::HasUnnotifiedDependents(s)) {
        jobs.push_back(s.job_id());
      }
    });
    core_->OnCaughtUp(0, jobs);
    Settle();
  }

  const events::JobState* Find(const std::string& job_id) const { return state_.Find(job_id); }
  const std::vector<events::Envelope>& log() const { return log_; }
  // The job's events of `type` ("" = all) that the fold applied, in log order.
  std::vector<events::Envelope> EventsOf(const std::string& job_id, std::string_view type) const {
    std::vector<events::Envelope> out;
    for (size_t i = 0; i < log_.size(); ++i) {
      const auto& e = log_[i];
      if (outcomes_[i] != events::Outcome::kApplied || e.job_id() != job_id) continue;
      if (type.empty() || events::EventType(e) == type) out.push_back(e);
    }
    return out;
  }
  // The fold outcome of every record, in log order.
  const std::vector<events::Outcome>& outcomes() const { return outcomes_; }
  const scheduler::SchedulerCore& core() const { return *core_; }

 private:
  void NewCore() {
    scheduler::SchedulerCoreOptions o;
    o.decide.producer = "scheduler/sim";
    o.decide.misfire_grace = options_.misfire_grace;
    core_ = std::make_unique<scheduler::SchedulerCore>(
        o, scheduler::SchedulerCore::States{
               [this](int32_t, const std::string& id) { return state_.Find(id); },
               [](int32_t) { return true; }});
  }

  void Fold(const events::Envelope& e) {
    log_.push_back(e);
    auto applied = state_.Apply(static_cast<int64_t>(log_.size()) - 1, e);
    outcomes_.push_back(applied.result.outcome);
    if (up_) core_->OnEvent(0, e, applied.state, false);
    if (options_.executor_enabled && applied.result.applied() && e.has_run_due() &&
        applied.state->spec().type() != v1::JOB_TYPE_WORKFLOW) {  // started, not executed
      StartRun(e.job_id(), e.run_due().run_id());
    }
  }

  // Decides until the core has nothing due now.
  void Settle() {
    for (int guard = 0; up_ && guard < 10000; ++guard) {
      auto next = core_->NextDeadline(now());
      if (!next || *next > now()) return;
      auto batch = core_->Decide(now());
      if (batch.records.empty()) return;
      for (const auto& r : batch.records) {
        if (r.topic == "job-events") Fold(events::DecodeEnvelope(r.value).value());
      }
      core_->OnAppended(batch);
    }
  }

  events::Envelope Make(const std::string& type, const std::string& job_id,
                        const std::string& cause) {
    return events::MakeEnvelope(ids::EventId(type, job_id, cause), job_id,
                                {"sim", now(), "corr", ""});
  }

  // The stand-in executor: dispatch and start now, finish after run_duration.
  void StartRun(const std::string& job_id, const std::string& run_id) {
    auto d = Make("RunDispatched", job_id, run_id + "/1");
    d.mutable_run_dispatched()->set_run_id(run_id);
    d.mutable_run_dispatched()->set_lease_epoch(1);
    auto s = Make("RunStarted", job_id, run_id + "/1");
    s.mutable_run_started()->set_run_id(run_id);
    s.mutable_run_started()->set_lease_epoch(1);
    s.mutable_run_started()->set_executor_id("sim");
    pending_starts_.push_back(d);
    pending_starts_.push_back(s);
    running_[run_id] = job_id;
    executor_.Schedule(run_id, now() + options_.run_duration);
  }

  // Folds the dispatches and starts of runs made due, after the RunDue that
  // caused them (not inside Fold).
  void FoldPendingStarts() {
    while (!pending_starts_.empty()) {
      auto e = pending_starts_.front();
      pending_starts_.erase(pending_starts_.begin());
      Fold(e);
    }
  }

  void FinishDueRuns() {
    FoldPendingStarts();
    for (const std::string& run_id : executor_.PopDue(now())) {
      std::string job_id = running_[run_id];
      running_.erase(run_id);
      const events::JobState* s = state_.Find(job_id);
      if (s == nullptr || events::FindRun(*s, run_id) == nullptr) continue;  // canceled
      if (options_.runs_succeed && s->spec().type() != v1::JOB_TYPE_FAIL) {
        auto r = Make("RunSucceeded", job_id, run_id + "/1");
        r.mutable_run_succeeded()->set_run_id(run_id);
        r.mutable_run_succeeded()->set_lease_epoch(1);
        Fold(r);
      } else {
        auto r = Make("RunFailed", job_id, run_id + "/1");
        r.mutable_run_failed()->set_run_id(run_id);
        r.mutable_run_failed()->set_lease_epoch(1);
        r.mutable_run_failed()->set_kind(v1::FAILURE_KIND_ERROR);
        r.mutable_run_failed()->set_error("scripted failure");
        Fold(r);
      }
    }
    FoldPendingStarts();  // runs made due by the results above
  }

  Options options_;
  ManualClock clock_;
  services::PartitionState state_;
  std::unique_ptr<scheduler::SchedulerCore> core_;
  bool up_ = true;
  std::vector<events::Envelope> log_;
  std::vector<events::Outcome> outcomes_;
  TimerQueue<std::string> executor_;
  std::map<std::string, std::string> running_;  // run_id -> job_id
  std::vector<events::Envelope> pending_starts_;
};

}  // namespace jobsched::testing
