// Builder of one recurring job's events ("* * * * * *" slots after t0, which
// is on a whole second), with ids derived like the services derive them. For
// tests of the fold and of projections.
#pragma once

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>

#include "events/envelope.h"
#include "events/ids.h"
#include "events/job_schedule.h"

namespace jobsched::testing {

class RecurringEvents {
 public:
  RecurringEvents(std::string job_id, TimePoint t0) : job_(std::move(job_id)), t0_(t0) {}

  const std::string& job_id() const { return job_; }

  events::Envelope Make(std::string_view type, std::string_view cause, TimePoint at) const {
    return events::MakeEnvelope(ids::EventId(type, job_, cause), job_, {"test", at, "corr", ""});
  }

  events::Envelope Submitted(const std::string& cron = "* * * * * *",
                             v1::ConcurrencyPolicy policy = v1::CONCURRENCY_POLICY_FORBID) const {
    events::Envelope e = Make("JobSubmitted", "", t0_);
    v1::JobSpec* spec = e.mutable_job_submitted()->mutable_spec();
    spec->set_type(v1::JOB_TYPE_ECHO);
    spec->set_max_retries(1);
    spec->mutable_schedule()->set_cron(cron);
    spec->mutable_schedule()->set_concurrency_policy(policy);
    return e;
  }

  // The k-th slot of "* * * * * *" after t0.
  events::JobSlot Slot(int k) const {
    events::JobSlot s;
    s.at = t0_ + std::chrono::seconds(k);
    std::time_t tt = static_cast<std::time_t>(ToUnixMillis(s.at) / 1000);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    s.nominal_time = buf;
    s.fire_id = ids::FireId(job_, s.nominal_time, 1);
    return s;
  }

  std::string Run(int k, int attempt = 1) const {
    return ids::RunId(job_, Slot(k).fire_id, attempt);
  }

  // Fire of slot k, decided after slot `after` (0: the first).
  events::Envelope Due(int k, int after) const {
    return Due(Slot(k), Run(k), after == 0 ? "" : Slot(after).fire_id);
  }
  events::Envelope Due(const events::JobSlot& s, const std::string& run,
                       const std::string& after_fire_id) const {
    events::Envelope e = Make("RunDue", run, s.at);
    v1::RunDue* d = e.mutable_run_due();
    d->set_run_id(run);
    d->set_attempt(1);
    *d->mutable_scheduled_for() = ToProto(s.at);
    d->set_fire_id(s.fire_id);
    d->set_nominal_time(s.nominal_time);
    d->set_occurrence(1);
    d->set_kind(v1::FIRE_KIND_SCHEDULED);
    d->set_after_fire_id(after_fire_id);
    return e;
  }

  // Slots first..last skipped as misfires, decided after slot `after`.
  events::Envelope Skipped(int first, int last, int after) const {
    events::Envelope e = Make("FireSkipped", Slot(first).fire_id, Slot(last).at);
    v1::FireSkipped* k = e.mutable_fire_skipped();
    k->set_fire_id(Slot(first).fire_id);
    k->set_reason(v1::SKIP_REASON_MISFIRE);
    *k->mutable_scheduled_for() = ToProto(Slot(first).at);
    k->set_nominal_time(Slot(first).nominal_time);
    k->set_last_fire_id(Slot(last).fire_id);
    *k->mutable_last_scheduled_for() = ToProto(Slot(last).at);
    k->set_last_nominal_time(Slot(last).nominal_time);
    k->set_count(last - first + 1);
    k->set_after_fire_id(after == 0 ? "" : Slot(after).fire_id);
    return e;
  }

  // A request of the API that carries no data: pause, resume, delete.
  events::Envelope Request(std::string_view type, std::string_view cause, TimePoint at) const {
    events::Envelope e = Make(type, cause, at);
    if (type == "PauseRequested") e.mutable_pause_requested();
    if (type == "ResumeRequested") e.mutable_resume_requested();
    if (type == "DeleteRequested") e.mutable_delete_requested();
    return e;
  }

  events::Envelope Dispatched(const std::string& run, TimePoint at,
                              const std::string& executor = "") const {
    events::Envelope e = Make("RunDispatched", run + "/1", at);
    e.mutable_run_dispatched()->set_run_id(run);
    e.mutable_run_dispatched()->set_lease_epoch(1);
    e.mutable_run_dispatched()->set_executor_id(executor);
    return e;
  }

  events::Envelope Started(const std::string& run, TimePoint at,
                           const std::string& executor) const {
    events::Envelope e = Make("RunStarted", run + "/1", at);
    e.mutable_run_started()->set_run_id(run);
    e.mutable_run_started()->set_lease_epoch(1);
    e.mutable_run_started()->set_executor_id(executor);
    return e;
  }

  events::Envelope Succeeded(const std::string& run, TimePoint at, int64_t duration_ms = 3) const {
    events::Envelope e = Make("RunSucceeded", run + "/1", at);
    e.mutable_run_succeeded()->set_run_id(run);
    e.mutable_run_succeeded()->set_lease_epoch(1);
    e.mutable_run_succeeded()->set_duration_ms(duration_ms);
    return e;
  }

  events::Envelope Failed(const std::string& run, TimePoint at) const {
    events::Envelope e = Make("RunFailed", run + "/1", at);
    e.mutable_run_failed()->set_run_id(run);
    e.mutable_run_failed()->set_lease_epoch(1);
    e.mutable_run_failed()->set_kind(v1::FAILURE_KIND_ERROR);
    e.mutable_run_failed()->set_error("boom");
    return e;
  }

 private:
  std::string job_;
  TimePoint t0_;
};

}  // namespace jobsched::testing
