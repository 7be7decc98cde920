#include "services/scheduler/decide.h"

#include "events/fold.h"
#include "events/ids.h"
#include "services/scheduler/backoff.h"

namespace jobsched::scheduler {

using events::Envelope;
using events::JobState;

namespace {

Envelope NewEvent(const JobState& s, std::string_view type, std::string_view cause, TimePoint now,
                  const std::string& producer) {
  events::Origin origin{producer, now, s.correlation_id(), events::LastAppliedEventId(s)};
  return events::MakeEnvelope(ids::EventId(type, s.job_id(), cause), s.job_id(), origin);
}

// The next run is due at next_fire_at: make it due now, or wake up then.
void DueOrWait(const JobState& s, TimePoint now, const std::string& producer, Decision& d) {
  TimePoint fire = FromProto(s.next_fire_at());
  if (now < fire) {
    d.wake_at = fire;
    return;
  }
  int attempt = s.attempt() + 1;
  std::string run_id = ids::RunId(s.job_id(), fire, attempt);
  Envelope e = NewEvent(s, "RunDue", run_id, now, producer);
  auto* due = e.mutable_run_due();
  due->set_run_id(run_id);
  due->set_attempt(attempt);
  *due->mutable_scheduled_for() = s.next_fire_at();
  due->set_priority(s.spec().priority());
  d.events.push_back(std::move(e));
}

void AfterFailure(const JobState& s, const v1::RunRecord& run, TimePoint now,
                  const std::string& producer, Decision& d) {
  if (s.attempt() <= s.spec().max_retries()) {
    Millis delay = RetryDelay(s.spec().retry_policy(), s.attempt(), run.run_id());
    // From the run's end, not from `now`: the decision must not depend on when it is made.
    TimePoint retry_at = FromProto(run.finished_at()) + delay;
    Envelope e = NewEvent(s, "RetryScheduled", run.run_id(), now, producer);
    auto* r = e.mutable_retry_scheduled();
    r->set_failed_run_id(run.run_id());
    r->set_next_attempt(s.attempt() + 1);
    *r->mutable_retry_at() = ToProto(retry_at);
    r->set_delay_ms(delay.count());
    d.events.push_back(std::move(e));
    return;
  }
  Envelope e = NewEvent(s, "JobDead", run.run_id(), now, producer);
  auto* dead = e.mutable_job_dead();
  dead->set_last_run_id(run.run_id());
  dead->set_attempts(s.attempt());
  dead->set_reason("failed " + std::to_string(s.attempt()) + " of " +
                   std::to_string(s.spec().max_retries() + 1) + " attempts; last error: " +
                   run.error());
  d.events.push_back(std::move(e));
}

}  // namespace

Decision Decide(const JobState& s, TimePoint now, const std::string& producer) {
  Decision d;
  if (s.status() == v1::JOB_STATUS_UNSPECIFIED || events::IsTerminal(s.status())) return d;

  if (s.cancel_requested()) {
    // Queued or running work is abandoned: a result that arrives later is
    // recorded but changes nothing (the fold rejects it on a CANCELED job).
    Envelope e = NewEvent(s, "JobCanceled", "", now, producer);
    e.mutable_job_canceled()->set_reason("canceled by request");
    d.events.push_back(std::move(e));
    return d;
  }

  switch (s.status()) {
    case v1::JOB_STATUS_PENDING:
    case v1::JOB_STATUS_SCHEDULED:
    case v1::JOB_STATUS_RETRYING:
      DueOrWait(s, now, producer, d);
      break;
    case v1::JOB_STATUS_RUNNING: {
      const v1::RunRecord* run = events::CurrentRun(s);
      if (run == nullptr) break;
      if (run->status() == v1::RUN_STATUS_SUCCEEDED) {
        Envelope e = NewEvent(s, "JobSucceeded", run->run_id(), now, producer);
        e.mutable_job_succeeded()->set_run_id(run->run_id());
        d.events.push_back(std::move(e));
      } else if (run->status() == v1::RUN_STATUS_FAILED ||
                 run->status() == v1::RUN_STATUS_TIMED_OUT) {
        AfterFailure(s, *run, now, producer, d);
      }
      break;
    }
    default:
      break;  // QUEUED: the dispatcher's and the executor's turn
  }
  return d;
}

}  // namespace jobsched::scheduler
