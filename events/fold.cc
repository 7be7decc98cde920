#include "events/fold.h"

#include <algorithm>

namespace jobsched::events {
namespace {

using v1::JobStatus;
using v1::RunRecord;
using v1::RunStatus;

FoldResult Reject(std::string reason) { return {Outcome::kRejected, std::move(reason)}; }

std::string StatusText(const JobState& s) { return std::string(JobStatusName(s.status())); }

v1::RunRecord* MutableCurrentRun(JobState& s) {
  return const_cast<RunRecord*>(CurrentRun(s));  // s is ours to mutate
}

// Checks that a run event targets the current run under the current lease.
FoldResult CheckRunEvent(JobState& s, std::string_view run_id, int64_t epoch, RunRecord** run) {
  *run = MutableCurrentRun(s);
  if (*run == nullptr || (*run)->run_id() != run_id) {
    return Reject("run " + std::string(run_id) + " is not the current run of the job");
  }
  if (epoch != (*run)->lease_epoch()) {
    return Reject("lease epoch " + std::to_string(epoch) + " is not the current epoch " +
                  std::to_string((*run)->lease_epoch()));
  }
  return {};
}

bool RunFailed(const RunRecord* run) {
  return run != nullptr &&
         (run->status() == v1::RUN_STATUS_FAILED || run->status() == v1::RUN_STATUS_TIMED_OUT);
}

FoldResult ApplySubmitted(JobState& s, const Envelope& e) {
  if (s.status() != v1::JOB_STATUS_UNSPECIFIED) return Reject("job already exists");
  const v1::JobSpec& spec = e.job_submitted().spec();
  s.set_job_id(e.job_id());
  *s.mutable_spec() = spec;
  *s.mutable_created_at() = e.occurred_at();
  s.set_correlation_id(e.correlation_id());
  s.set_submitted_event_id(e.event_id());
  bool delayed = IsSet(spec.run_at()) && FromProto(spec.run_at()) > FromProto(e.occurred_at());
  s.set_status(delayed ? v1::JOB_STATUS_SCHEDULED : v1::JOB_STATUS_PENDING);
  *s.mutable_next_fire_at() = delayed ? spec.run_at() : e.occurred_at();
  return {};
}

FoldResult ApplyRunDue(JobState& s, const Envelope& e) {
  const v1::RunDue& due = e.run_due();
  JobStatus st = s.status();
  if (st != v1::JOB_STATUS_PENDING && st != v1::JOB_STATUS_SCHEDULED &&
      st != v1::JOB_STATUS_RETRYING) {
    return Reject("a run cannot become due while the job is " + StatusText(s));
  }
  if (s.cancel_requested()) return Reject("cancel requested");
  if (due.run_id().empty()) return Reject("RunDue without run_id");
  if (due.attempt() != s.attempt() + 1) {
    return Reject("attempt " + std::to_string(due.attempt()) + " does not follow attempt " +
                  std::to_string(s.attempt()));
  }
  RunRecord* run = s.add_runs();
  run->set_run_id(due.run_id());
  run->set_attempt(due.attempt());
  run->set_status(v1::RUN_STATUS_DUE);
  *run->mutable_scheduled_for() = due.scheduled_for();
  *run->mutable_due_at() = e.occurred_at();
  run->set_priority(due.priority());
  s.set_attempt(due.attempt());
  s.set_current_run_id(due.run_id());
  s.clear_next_fire_at();
  s.set_status(v1::JOB_STATUS_QUEUED);
  return {};
}

FoldResult ApplyDispatched(JobState& s, const Envelope& e) {
  const v1::RunDispatched& d = e.run_dispatched();
  if (s.status() != v1::JOB_STATUS_QUEUED) {
    return Reject("cannot dispatch while the job is " + StatusText(s));
  }
  RunRecord* run = MutableCurrentRun(s);
  if (run == nullptr || run->run_id() != d.run_id()) return Reject("not the current run");
  bool fresh = run->status() == v1::RUN_STATUS_DUE;
  bool redispatch = run->status() == v1::RUN_STATUS_DISPATCHED && d.lease_epoch() > run->lease_epoch();
  if (!fresh && !redispatch) return Reject("run already dispatched under this or a later lease");
  run->set_status(v1::RUN_STATUS_DISPATCHED);
  run->set_lease_epoch(d.lease_epoch());
  *run->mutable_dispatched_at() = e.occurred_at();
  return {};
}

FoldResult ApplyStarted(JobState& s, const Envelope& e) {
  const v1::RunStarted& r = e.run_started();
  if (s.status() != v1::JOB_STATUS_QUEUED) {
    return Reject("run started while the job is " + StatusText(s));
  }
  RunRecord* run;
  if (auto c = CheckRunEvent(s, r.run_id(), r.lease_epoch(), &run); !c.applied()) return c;
  if (run->status() != v1::RUN_STATUS_DISPATCHED) {
    return Reject("run is " + std::string(RunStatusName(run->status())) + ", not DISPATCHED");
  }
  run->set_status(v1::RUN_STATUS_RUNNING);
  run->set_executor_id(r.executor_id());
  *run->mutable_started_at() = e.occurred_at();
  s.set_status(v1::JOB_STATUS_RUNNING);
  return {};
}

// Shared by RunSucceeded and RunFailed: both end the current run.
FoldResult CheckRunEnd(JobState& s, std::string_view run_id, int64_t epoch, RunRecord** run) {
  if (s.status() != v1::JOB_STATUS_QUEUED && s.status() != v1::JOB_STATUS_RUNNING) {
    return Reject("run result arrived while the job is " + StatusText(s));
  }
  if (auto c = CheckRunEvent(s, run_id, epoch, run); !c.applied()) return c;
  RunStatus rs = (*run)->status();
  if (rs != v1::RUN_STATUS_DISPATCHED && rs != v1::RUN_STATUS_RUNNING) {
    return Reject("run is " + std::string(RunStatusName(rs)) + " and cannot finish");
  }
  return {};
}

void FinishRun(JobState& s, RunRecord* run, const Envelope& e, RunStatus status,
               std::string_view executor_id, int32_t http_status, int64_t duration_ms,
               const std::string& output) {
  run->set_status(status);
  if (run->executor_id().empty()) run->set_executor_id(std::string(executor_id));
  if (!IsSet(run->started_at())) *run->mutable_started_at() = e.occurred_at();
  *run->mutable_finished_at() = e.occurred_at();
  run->set_http_status(http_status);
  run->set_duration_ms(duration_ms);
  run->set_output(output);
  s.set_status(v1::JOB_STATUS_RUNNING);
}

FoldResult ApplySucceeded(JobState& s, const Envelope& e) {
  const v1::RunSucceeded& r = e.run_succeeded();
  RunRecord* run;
  if (auto c = CheckRunEnd(s, r.run_id(), r.lease_epoch(), &run); !c.applied()) return c;
  FinishRun(s, run, e, v1::RUN_STATUS_SUCCEEDED, r.executor_id(), r.http_status(), r.duration_ms(),
            r.output());
  return {};
}

FoldResult ApplyFailed(JobState& s, const Envelope& e) {
  const v1::RunFailed& r = e.run_failed();
  RunRecord* run;
  if (auto c = CheckRunEnd(s, r.run_id(), r.lease_epoch(), &run); !c.applied()) return c;
  RunStatus status = r.kind() == v1::FAILURE_KIND_TIMED_OUT ? v1::RUN_STATUS_TIMED_OUT
                                                             : v1::RUN_STATUS_FAILED;
  FinishRun(s, run, e, status, r.executor_id(), r.http_status(), r.duration_ms(), r.output());
  run->set_error(r.error());
  s.set_last_error(r.error());
  return {};
}

FoldResult ApplyRetryScheduled(JobState& s, const Envelope& e) {
  const v1::RetryScheduled& r = e.retry_scheduled();
  const RunRecord* run = CurrentRun(s);
  if (s.status() != v1::JOB_STATUS_RUNNING || !RunFailed(run) || run->run_id() != r.failed_run_id()) {
    return Reject("no failed current run " + r.failed_run_id() + " to retry");
  }
  if (s.cancel_requested()) return Reject("cancel requested");
  if (r.next_attempt() != s.attempt() + 1) return Reject("retry does not follow the current attempt");
  if (s.attempt() > s.spec().max_retries()) {
    return Reject("retries exhausted: " + std::to_string(s.attempt()) + " attempts, max_retries " +
                  std::to_string(s.spec().max_retries()));
  }
  s.set_status(v1::JOB_STATUS_RETRYING);
  *s.mutable_next_fire_at() = r.retry_at();
  return {};
}

FoldResult ApplyJobSucceeded(JobState& s, const Envelope& e) {
  const RunRecord* run = CurrentRun(s);
  if (s.status() != v1::JOB_STATUS_RUNNING || run == nullptr ||
      run->status() != v1::RUN_STATUS_SUCCEEDED || run->run_id() != e.job_succeeded().run_id()) {
    return Reject("the current run has not succeeded");
  }
  s.set_status(v1::JOB_STATUS_SUCCEEDED);
  return {};
}

FoldResult ApplyJobDead(JobState& s, const Envelope& e) {
  const RunRecord* run = CurrentRun(s);
  if (s.status() != v1::JOB_STATUS_RUNNING || !RunFailed(run) ||
      run->run_id() != e.job_dead().last_run_id()) {
    return Reject("the current run has not failed");
  }
  s.set_status(v1::JOB_STATUS_DEAD);
  return {};
}

FoldResult ApplyCancelRequested(JobState& s) {
  if (IsTerminal(s.status())) return Reject("job is already " + StatusText(s));
  s.set_cancel_requested(true);
  return {};
}

FoldResult ApplyJobCanceled(JobState& s) {
  if (IsTerminal(s.status())) return Reject("job is already " + StatusText(s));
  s.set_status(v1::JOB_STATUS_CANCELED);
  s.clear_next_fire_at();
  return {};
}

FoldResult Dispatch(JobState& s, const Envelope& e) {
  switch (e.event_case()) {
    case Envelope::kJobSubmitted: return ApplySubmitted(s, e);
    case Envelope::kCancelRequested: return ApplyCancelRequested(s);
    case Envelope::kRunDue: return ApplyRunDue(s, e);
    case Envelope::kRunDispatched: return ApplyDispatched(s, e);
    case Envelope::kRunStarted: return ApplyStarted(s, e);
    case Envelope::kRunSucceeded: return ApplySucceeded(s, e);
    case Envelope::kRunFailed: return ApplyFailed(s, e);
    case Envelope::kRetryScheduled: return ApplyRetryScheduled(s, e);
    case Envelope::kJobSucceeded: return ApplyJobSucceeded(s, e);
    case Envelope::kJobDead: return ApplyJobDead(s, e);
    case Envelope::kJobCanceled: return ApplyJobCanceled(s);
    case Envelope::EVENT_NOT_SET: break;
  }
  return Reject("envelope carries no event");
}

}  // namespace

FoldResult Apply(JobState& state, const Envelope& e) {
  if (e.event_id().empty()) return Reject("event has no event_id");
  if (e.job_id().empty()) return Reject("event has no job_id");
  if (!state.job_id().empty() && state.job_id() != e.job_id()) {
    return Reject("event for job " + e.job_id() + " applied to job " + state.job_id());
  }
  const auto& seen = state.applied_event_ids();
  if (std::find(seen.begin(), seen.end(), e.event_id()) != seen.end()) {
    return {Outcome::kDuplicate, "event already applied"};
  }
  if (state.status() == v1::JOB_STATUS_UNSPECIFIED && e.event_case() != Envelope::kJobSubmitted) {
    return Reject("job does not exist (no JobSubmitted applied)");
  }
  // Work on a copy so a rejection deep inside leaves `state` untouched.
  JobState next = state;
  FoldResult r = Dispatch(next, e);
  if (!r.applied()) return r;
  next.add_applied_event_ids(e.event_id());
  next.set_version(next.version() + 1);
  *next.mutable_updated_at() = e.occurred_at();
  state.Swap(&next);
  return r;
}

bool IsTerminal(v1::JobStatus s) {
  return s == v1::JOB_STATUS_SUCCEEDED || s == v1::JOB_STATUS_DEAD || s == v1::JOB_STATUS_CANCELED;
}

std::string_view JobStatusName(v1::JobStatus s) {
  switch (s) {
    case v1::JOB_STATUS_PENDING: return "PENDING";
    case v1::JOB_STATUS_SCHEDULED: return "SCHEDULED";
    case v1::JOB_STATUS_QUEUED: return "QUEUED";
    case v1::JOB_STATUS_RUNNING: return "RUNNING";
    case v1::JOB_STATUS_RETRYING: return "RETRYING";
    case v1::JOB_STATUS_SUCCEEDED: return "SUCCEEDED";
    case v1::JOB_STATUS_DEAD: return "DEAD";
    case v1::JOB_STATUS_CANCELED: return "CANCELED";
    default: return "UNKNOWN";
  }
}

v1::JobStatus ParseJobStatus(std::string_view name) {
  for (int i = v1::JobStatus_MIN; i <= v1::JobStatus_MAX; ++i) {
    auto s = static_cast<v1::JobStatus>(i);
    if (v1::JobStatus_IsValid(i) && s != v1::JOB_STATUS_UNSPECIFIED && JobStatusName(s) == name) {
      return s;
    }
  }
  return v1::JOB_STATUS_UNSPECIFIED;
}

std::string_view RunStatusName(v1::RunStatus s) {
  switch (s) {
    case v1::RUN_STATUS_DUE: return "DUE";
    case v1::RUN_STATUS_DISPATCHED: return "DISPATCHED";
    case v1::RUN_STATUS_RUNNING: return "RUNNING";
    case v1::RUN_STATUS_SUCCEEDED: return "SUCCEEDED";
    case v1::RUN_STATUS_FAILED: return "FAILED";
    case v1::RUN_STATUS_TIMED_OUT: return "TIMED_OUT";
    default: return "UNKNOWN";
  }
}

bool IsRunFinished(v1::RunStatus s) {
  return s == v1::RUN_STATUS_SUCCEEDED || s == v1::RUN_STATUS_FAILED ||
         s == v1::RUN_STATUS_TIMED_OUT;
}

std::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kApplied: return "applied";
    case Outcome::kDuplicate: return "duplicate";
    case Outcome::kRejected: return "rejected";
  }
  return "unknown";
}

std::string LastAppliedEventId(const JobState& s) {
  return s.applied_event_ids().empty() ? std::string() : *s.applied_event_ids().rbegin();
}

const v1::RunRecord* CurrentRun(const JobState& s) {
  if (s.current_run_id().empty()) return nullptr;
  for (int i = s.runs_size() - 1; i >= 0; --i) {
    if (s.runs(i).run_id() == s.current_run_id()) return &s.runs(i);
  }
  return nullptr;
}

}  // namespace jobsched::events
