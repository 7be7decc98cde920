// Builders of envelopes for tests of the fold and of decisions.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "events/envelope.h"
#include "events/ids.h"

namespace jobsched::testing {

inline TimePoint T(int64_t seconds) { return FromUnixMillis(1'800'000'000'000 + seconds * 1000); }

class EventFactory {
 public:
  explicit EventFactory(std::string job_id = "00000000-0000-4000-8000-000000000001")
      : job_id_(std::move(job_id)) {}

  const std::string& job_id() const { return job_id_; }

  events::Envelope Base(const std::string& type, const std::string& cause, TimePoint at) const {
    return events::MakeEnvelope(ids::EventId(type, job_id_, cause), job_id_,
                                events::Origin{"test", at, "corr-1", ""});
  }

  events::Envelope Submitted(TimePoint at, std::optional<TimePoint> run_at = std::nullopt,
                             int max_retries = 2, int priority = 5) const {
    auto e = Base("JobSubmitted", "", at);
    auto* spec = e.mutable_job_submitted()->mutable_spec();
    spec->set_name("test job");
    spec->set_type(v1::JOB_TYPE_ECHO);
    spec->set_priority(priority);
    spec->set_max_retries(max_retries);
    if (run_at) *spec->mutable_run_at() = ToProto(*run_at);
    return e;
  }

  // The only fire of a one-off job, and its attempts.
  std::string FireId() const { return ids::OnceFireId(job_id_); }
  std::string RunId(int attempt) const { return ids::RunId(job_id_, FireId(), attempt); }

  // Attempt `attempt` of the one-off job's fire is due (scheduled_for: its
  // slot, or retry_at for attempts after the first).
  events::Envelope Due(TimePoint at, TimePoint scheduled_for, int attempt) const {
    std::string run = RunId(attempt);
    auto e = Base("RunDue", run, at);
    auto* d = e.mutable_run_due();
    d->set_run_id(run);
    d->set_attempt(attempt);
    *d->mutable_scheduled_for() = ToProto(scheduled_for);
    d->set_priority(5);
    d->set_fire_id(FireId());
    d->set_kind(v1::FIRE_KIND_SCHEDULED);
    return e;
  }

  events::Envelope Dispatched(TimePoint at, const std::string& run, int64_t epoch = 1) const {
    auto e = Base("RunDispatched", run + "/" + std::to_string(epoch), at);
    e.mutable_run_dispatched()->set_run_id(run);
    e.mutable_run_dispatched()->set_lease_epoch(epoch);
    return e;
  }

  events::Envelope Started(TimePoint at, const std::string& run, int64_t epoch = 1) const {
    auto e = Base("RunStarted", run + "/" + std::to_string(epoch), at);
    e.mutable_run_started()->set_run_id(run);
    e.mutable_run_started()->set_lease_epoch(epoch);
    e.mutable_run_started()->set_executor_id("exec-1");
    return e;
  }

  events::Envelope Succeeded(TimePoint at, const std::string& run, int64_t epoch = 1) const {
    auto e = Base("RunSucceeded", run + "/" + std::to_string(epoch), at);
    auto* r = e.mutable_run_succeeded();
    r->set_run_id(run);
    r->set_lease_epoch(epoch);
    r->set_http_status(200);
    r->set_duration_ms(12);
    r->set_output("ok");
    return e;
  }

  events::Envelope Failed(TimePoint at, const std::string& run, int64_t epoch = 1,
                          v1::FailureKind kind = v1::FAILURE_KIND_HTTP_STATUS) const {
    auto e = Base("RunFailed", run + "/" + std::to_string(epoch), at);
    auto* r = e.mutable_run_failed();
    r->set_run_id(run);
    r->set_lease_epoch(epoch);
    r->set_kind(kind);
    r->set_http_status(500);
    r->set_error("HTTP 500");
    return e;
  }

  events::Envelope Retry(TimePoint at, const std::string& failed_run, int next_attempt,
                         TimePoint retry_at) const {
    auto e = Base("RetryScheduled", failed_run, at);
    auto* r = e.mutable_retry_scheduled();
    r->set_failed_run_id(failed_run);
    r->set_next_attempt(next_attempt);
    *r->mutable_retry_at() = ToProto(retry_at);
    return e;
  }

  events::Envelope JobSucceeded(TimePoint at, const std::string& run) const {
    auto e = Base("JobSucceeded", run, at);
    e.mutable_job_succeeded()->set_run_id(run);
    return e;
  }

  events::Envelope Dead(TimePoint at, const std::string& run) const {
    auto e = Base("JobDead", run, at);
    e.mutable_job_dead()->set_last_run_id(run);
    return e;
  }

  events::Envelope CancelRequested(TimePoint at) const {
    auto e = Base("CancelRequested", "", at);
    e.mutable_cancel_requested()->set_reason("test");
    return e;
  }

  events::Envelope Canceled(TimePoint at) const {
    auto e = Base("JobCanceled", "", at);
    e.mutable_job_canceled()->set_reason("test");
    return e;
  }

 private:
  std::string job_id_;
};

// "00000000-0000-4000-8000-<n, 12 digits>": a readable job id.
inline std::string JobId(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", n);
  return buf;
}

// A job's whole life from time t: submitted (HTTP POST), attempt 1 fails with
// HTTP 500, retry after `retry_delay_ms`, attempt 2 succeeds, job succeeded.
// 11 events; index 0 is JobSubmitted, index 4 the RunFailed.
inline std::vector<events::Envelope> Lifecycle(const EventFactory& f, int64_t t = 0,
                                               int64_t retry_delay_ms = 2000) {
  events::Envelope submitted = f.Submitted(T(t));
  auto* spec = submitted.mutable_job_submitted()->mutable_spec();
  spec->set_type(v1::JOB_TYPE_HTTP);
  spec->mutable_http()->set_method("POST");
  spec->mutable_http()->set_url("https://example.com/hook");
  std::string run1 = f.RunId(1);
  std::string run2 = f.RunId(2);
  events::Envelope retry = f.Retry(T(t + 4), run1, 2, T(t + 10));
  retry.mutable_retry_scheduled()->set_delay_ms(retry_delay_ms);
  return {submitted,
          f.Due(T(t + 1), T(t), 1),
          f.Dispatched(T(t + 2), run1),
          f.Started(T(t + 3), run1),
          f.Failed(T(t + 3), run1),
          retry,
          f.Due(T(t + 10), T(t + 10), 2),
          f.Dispatched(T(t + 11), run2),
          f.Started(T(t + 12), run2),
          f.Succeeded(T(t + 13), run2),
          f.JobSucceeded(T(t + 14), run2)};
}

}  // namespace jobsched::testing
