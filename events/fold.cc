#include "events/fold.h"

#include <google/protobuf/util/message_differencer.h>

#include "events/fold_internal.h"
#include "events/ids.h"
#include "events/job_schedule.h"

namespace jobsched::events {
namespace {

using internal::Duplicate;
using internal::Reject;
using internal::StatusText;
using v1::JobStatus;
using v1::RunRecord;
using v1::RunStatus;

int RunIndex(const JobState& s, std::string_view run_id) {
  for (int i = 0; i < s.runs_size(); ++i) {
    if (s.runs(i).run_id() == run_id) return i;
  }
  return -1;
}

int FireIndex(const JobState& s, std::string_view fire_id) {
  for (int i = 0; i < s.runs_size(); ++i) {
    if (s.runs(i).fire_id() == fire_id) return i;
  }
  return -1;
}

bool RecentFire(const JobState& s, std::string_view fire_id) {
  for (const auto& o : s.summary().recent()) {
    if (o.fire_id() == fire_id) return true;
  }
  return false;
}

// A run event whose run is not in flight: a late copy of an event for a run
// that already ended (duplicate), or one the job never had (rejected).
bool OneOff(const JobState& s) { return !s.spec().has_schedule(); }

// Whether `run_id` is an attempt this job made due before the attempt now
// in flight, or of a run that ended recently: a run event for it is a late
// copy of a stage already passed. Ids derive from (job, fire, attempt), so
// position decides; no set of ids is kept.
bool EarlierAttempt(const JobState& s, std::string_view run_id) {
  auto attempt_of = [&](const std::string& fire_id, int attempts) {
    for (int k = 1; k <= attempts; ++k) {
      if (ids::RunId(s.job_id(), fire_id, k) == run_id) return true;
    }
    return false;
  };
  for (const RunRecord& r : s.runs()) {
    if (attempt_of(r.fire_id(), r.attempt() - 1)) return true;
  }
  for (const v1::RunOutcome& o : s.summary().recent()) {
    if (o.run_id() == run_id || attempt_of(o.fire_id(), o.attempts())) return true;
  }
  return false;
}

// The run in flight with `run_id`, or why there is none: a duplicate for an
// earlier attempt or an ended run, a rejection for a run the job never had.
FoldResult LocateRun(const JobState& s, std::string_view run_id, int* index) {
  *index = RunIndex(s, run_id);
  if (*index >= 0) return {};
  if (EarlierAttempt(s, run_id)) {
    return Duplicate("run " + std::string(run_id) + " is an attempt that already ended");
  }
  if (OneOff(s)) return Reject("run " + std::string(run_id) + " is not the current run of the job");
  return Reject("run " + std::string(run_id) + " is not in flight");
}

void RecordOutcome(JobState& s, const RunRecord& run, RunStatus status) {
  v1::RunSummary* sum = s.mutable_summary();
  switch (status) {
    case v1::RUN_STATUS_SUCCEEDED: sum->set_succeeded(sum->succeeded() + 1); break;
    case v1::RUN_STATUS_CANCELED: sum->set_canceled(sum->canceled() + 1); break;
    default: sum->set_failed(sum->failed() + 1); break;
  }
  if (sum->recent_size() >= kRecentOutcomes) sum->mutable_recent()->DeleteSubrange(0, 1);
  v1::RunOutcome* o = sum->add_recent();
  o->set_run_id(run.run_id());
  o->set_fire_id(run.fire_id());
  o->set_status(status);
  *o->mutable_scheduled_for() = run.fire_scheduled_for();
  *o->mutable_finished_at() = run.finished_at();
  o->set_attempts(run.attempt());
  o->set_duration_ms(run.duration_ms());
}

// Ends the run at `index` (a recurring job's): summarised, then removed.
void EndRun(JobState& s, int index, RunStatus status, FoldEffects* fx) {
  RunRecord* run = s.mutable_runs(index);
  if (status == v1::RUN_STATUS_CANCELED) run->set_status(status);
  RecordOutcome(s, *run, status);
  if (fx) fx->run = std::move(*run);
  s.mutable_runs()->DeleteSubrange(index, 1);
}

// Sets next_fire_at from the schedule (recurring jobs that are ACTIVE).
void UpdateNextFire(JobState& s) {
  s.clear_next_fire_at();
  if (OneOff(s) || s.status() != v1::JOB_STATUS_ACTIVE) return;
  auto schedule = JobSchedule::For(s);
  if (!schedule.ok()) return;  // validated when the schedule was set
  if (auto slot = schedule->NextFire(s.cursor(), s.summary().fires())) {
    *s.mutable_next_fire_at() = ToProto(slot->at);
  }
}

// A slot decision (RunDue attempt 1 of a scheduled fire, FireSkipped) must
// continue the cursor. Returns ok to apply; otherwise duplicate or rejected.
FoldResult CheckChain(const JobState& s, std::string_view first_fire_id, TimePoint last_at,
                      std::string_view last_nominal, std::string_view after_fire_id) {
  const v1::ScheduleCursor& c = s.cursor();
  if (!c.fire_id().empty()) {
    if (OneOff(s)) return Duplicate("the job's only fire was made");
    if (CompareSlotPosition(last_at, last_nominal, FromProto(c.at()), c.nominal_time()) <= 0) {
      return Duplicate("slot " + std::string(first_fire_id) + " is at or before the cursor");
    }
  }
  if (after_fire_id != c.fire_id()) {
    return Reject("decided after fire '" + std::string(after_fire_id) +
                  "' but the schedule's cursor is at '" + c.fire_id() + "'");
  }
  return {};
}

FoldResult ApplySubmitted(JobState& s, const Envelope& e) {
  if (s.status() != v1::JOB_STATUS_UNSPECIFIED) {
    if (e.event_id() == s.submitted_event_id()) return Duplicate("job already submitted");
    return Reject("job already exists");
  }
  const v1::JobSpec& spec = e.job_submitted().spec();
  auto schedule = JobSchedule::For(e.job_id(), spec, FromProto(e.occurred_at()));
  if (!schedule.ok()) return Reject("invalid schedule: " + schedule.status().message());
  s.set_job_id(e.job_id());
  *s.mutable_spec() = spec;
  *s.mutable_created_at() = e.occurred_at();
  s.set_correlation_id(e.correlation_id());
  s.set_submitted_event_id(e.event_id());
  *s.mutable_cursor() = schedule->InitialCursor();
  if (schedule->recurring()) {
    if (!spec.depends_on().empty()) return Reject("a recurring job cannot have depends_on");
    s.set_status(v1::JOB_STATUS_ACTIVE);
    UpdateNextFire(s);
    return {};
  }
  bool delayed = IsSet(spec.run_at()) && FromProto(spec.run_at()) > FromProto(e.occurred_at());
  s.set_status(delayed ? v1::JOB_STATUS_SCHEDULED : v1::JOB_STATUS_PENDING);
  *s.mutable_next_fire_at() = delayed ? spec.run_at() : e.occurred_at();
  internal::InitDependencies(s, e);  // WAITING / BLOCKED while parents hold it
  return {};
}

RunRecord NewRun(const Envelope& e) {
  const v1::RunDue& due = e.run_due();
  RunRecord run;
  run.set_run_id(due.run_id());
  run.set_attempt(due.attempt());
  run.set_status(v1::RUN_STATUS_DUE);
  *run.mutable_scheduled_for() = due.scheduled_for();
  *run.mutable_due_at() = e.occurred_at();
  run.set_priority(due.priority());
  run.set_fire_id(due.fire_id());
  run.set_nominal_time(due.nominal_time());
  run.set_occurrence(due.occurrence());
  run.set_kind(due.kind() == v1::FIRE_KIND_MANUAL ? v1::FIRE_KIND_MANUAL
                                                   : v1::FIRE_KIND_SCHEDULED);
  return run;
}

// The job may start a new fire's run.
FoldResult CheckCanFire(const JobState& s, bool manual) {
  JobStatus st = s.status();
  bool ok = OneOff(s)
                ? (!manual && (st == v1::JOB_STATUS_PENDING || st == v1::JOB_STATUS_SCHEDULED))
                : (st == v1::JOB_STATUS_ACTIVE || (manual && st == v1::JOB_STATUS_PAUSED));
  if (!ok) return Reject("a run cannot become due while the job is " + StatusText(s));
  if (s.cancel_requested()) return Reject("cancel requested");
  if (s.runs_size() >= kMaxRunsInFlight && !OneOff(s)) {
    return Reject(std::to_string(s.runs_size()) + " runs in flight, the most a job may have");
  }
  return {};
}

FoldResult ApplyFirstAttempt(JobState& s, const Envelope& e, FoldEffects* fx) {
  const v1::RunDue& due = e.run_due();
  bool manual = due.kind() == v1::FIRE_KIND_MANUAL;
  int requested = -1;
  if (manual) {
    for (int i = 0; i < s.requested_size(); ++i) {
      if (s.requested(i).fire_id() == due.fire_id()) requested = i;
    }
    if (requested < 0) {
      if (FireIndex(s, due.fire_id()) >= 0 || RecentFire(s, due.fire_id())) {
        return Duplicate("manual run " + due.fire_id() + " was already made due");
      }
      return Reject("no manual run " + due.fire_id() + " was requested");
    }
  } else {
    TimePoint at = FromProto(due.scheduled_for());
    if (auto c = CheckChain(s, due.fire_id(), at, due.nominal_time(), due.after_fire_id());
        !c.applied()) {
      return c;
    }
  }
  if (auto c = CheckCanFire(s, manual); !c.applied()) return c;

  RunRecord* run = s.add_runs();
  *run = NewRun(e);
  *run->mutable_fire_scheduled_for() = due.scheduled_for();
  v1::RunSummary* sum = s.mutable_summary();
  sum->set_attempts(sum->attempts() + 1);
  if (manual) {
    s.mutable_requested()->DeleteSubrange(requested, 1);
    sum->set_manual_fires(sum->manual_fires() + 1);
  } else {
    v1::ScheduleCursor* c = s.mutable_cursor();
    *c->mutable_at() = due.scheduled_for();
    c->set_nominal_time(due.nominal_time());
    c->set_occurrence(due.occurrence());
    c->set_fire_id(due.fire_id());
    sum->set_fires(sum->fires() + 1);
  }
  s.set_current_run_id(due.run_id());
  if (fx) fx->run = *run;
  if (OneOff(s)) {
    s.set_attempt(1);
    s.set_status(v1::JOB_STATUS_QUEUED);
    s.clear_next_fire_at();
  } else if (!manual) {
    UpdateNextFire(s);
  }
  return {};
}

FoldResult ApplyRetryAttempt(JobState& s, const Envelope& e, FoldEffects* fx) {
  const v1::RunDue& due = e.run_due();
  int i = FireIndex(s, due.fire_id());
  if (i < 0) {
    if (RecentFire(s, due.fire_id()))
      return Duplicate("the run of fire " + due.fire_id() + " ended");
    return Reject("no run of fire " + due.fire_id() + " is in flight");
  }
  const RunRecord& run = s.runs(i);
  if (run.attempt() >= due.attempt()) {
    return Duplicate("attempt " + std::to_string(due.attempt()) + " was already made due");
  }
  if (due.attempt() != run.attempt() + 1 || !IsSet(run.retry_at())) {
    return Reject("attempt " + std::to_string(due.attempt()) + " does not follow attempt " +
                  std::to_string(run.attempt()) + " (no retry scheduled)");
  }
  if (s.cancel_requested()) return Reject("cancel requested");
  if (OneOff(s) ? s.status() != v1::JOB_STATUS_RETRYING : IsTerminal(s.status())) {
    return Reject("a retry cannot become due while the job is " + StatusText(s));
  }
  RunRecord next = NewRun(e);
  next.set_kind(run.kind());
  *next.mutable_fire_scheduled_for() = run.fire_scheduled_for();
  next.set_fire_id(run.fire_id());
  next.set_nominal_time(run.nominal_time());
  next.set_occurrence(run.occurrence());
  *s.mutable_runs(i) = std::move(next);
  v1::RunSummary* sum = s.mutable_summary();
  sum->set_attempts(sum->attempts() + 1);
  s.set_current_run_id(due.run_id());
  if (fx) fx->run = s.runs(i);
  if (OneOff(s)) {
    s.set_attempt(due.attempt());
    s.set_status(v1::JOB_STATUS_QUEUED);
    s.clear_next_fire_at();
  }
  return {};
}

FoldResult ApplyRunDue(JobState& s, const Envelope& e, FoldEffects* fx) {
  const v1::RunDue& due = e.run_due();
  if (due.run_id().empty()) return Reject("RunDue without run_id");
  if (due.attempt() < 1) return Reject("RunDue without an attempt number");
  if (due.fire_id().empty()) return Reject("RunDue without fire_id");
  return due.attempt() == 1 ? ApplyFirstAttempt(s, e, fx) : ApplyRetryAttempt(s, e, fx);
}

FoldResult ApplyDispatched(JobState& s, const Envelope& e, FoldEffects* fx) {
  const v1::RunDispatched& d = e.run_dispatched();
  int i;
  if (auto c = LocateRun(s, d.run_id(), &i); !c.applied()) return c;
  RunRecord* run = s.mutable_runs(i);
  if (run->status() != v1::RUN_STATUS_DUE && d.lease_epoch() <= run->lease_epoch()) {
    return Duplicate("run already dispatched under this or a later lease");
  }
  if (IsTerminal(s.status())) return Reject("cannot dispatch while the job is " + StatusText(s));
  bool fresh = run->status() == v1::RUN_STATUS_DUE;
  bool redispatch = run->status() == v1::RUN_STATUS_DISPATCHED;
  if (!fresh && !redispatch) {
    return Reject("run is " + std::string(RunStatusName(run->status())) + "; cannot redispatch");
  }
  run->set_status(v1::RUN_STATUS_DISPATCHED);
  run->set_lease_epoch(d.lease_epoch());
  run->set_executor_id(d.executor_id());
  run->set_executor_incarnation(d.executor_incarnation());
  run->clear_wait_reason();
  *run->mutable_dispatched_at() = e.occurred_at();
  if (fx) fx->run = *run;
  return {};
}

// Finds the run a result-like event concerns under the current lease.
FoldResult FindLeasedRun(const JobState& s, std::string_view run_id, int64_t epoch, int* index) {
  if (auto c = LocateRun(s, run_id, index); !c.applied()) return c;
  const RunRecord& run = s.runs(*index);
  if (epoch != run.lease_epoch()) {
    return Reject("lease epoch " + std::to_string(epoch) + " is not the current epoch " +
                  std::to_string(run.lease_epoch()));
  }
  return {};
}

FoldResult ApplyStarted(JobState& s, const Envelope& e, FoldEffects* fx) {
  const v1::RunStarted& r = e.run_started();
  int i;
  if (auto c = FindLeasedRun(s, r.run_id(), r.lease_epoch(), &i); !c.applied()) return c;
  RunRecord* run = s.mutable_runs(i);
  if (run->status() == v1::RUN_STATUS_RUNNING || IsRunFinished(run->status())) {
    return Duplicate("run already started under this lease");
  }
  if (IsTerminal(s.status())) return Reject("run started while the job is " + StatusText(s));
  if (run->status() != v1::RUN_STATUS_DISPATCHED) {
    return Reject("run is " + std::string(RunStatusName(run->status())) + ", not DISPATCHED");
  }
  run->set_status(v1::RUN_STATUS_RUNNING);
  run->set_executor_id(r.executor_id());
  *run->mutable_started_at() = e.occurred_at();
  if (fx) fx->run = *run;
  if (OneOff(s)) s.set_status(v1::JOB_STATUS_RUNNING);
  return {};
}

// Shared by RunSucceeded and RunFailed: both end the current attempt. A
// second result of the same kind under the same lease is a duplicate (the
// executor ran it again); one of the other kind is rejected: the first wins.
FoldResult CheckRunEnd(const JobState& s, std::string_view run_id, int64_t epoch, bool success,
                       int* index) {
  if (auto c = FindLeasedRun(s, run_id, epoch, index); !c.applied()) return c;
  RunStatus rs = s.runs(*index).status();
  if (rs == v1::RUN_STATUS_LOST) return Reject("late result: the run's lease was lost");
  if (IsRunFinished(rs)) {
    bool same = success ? rs == v1::RUN_STATUS_SUCCEEDED : IsRunFailed(rs);
    if (same) return Duplicate("run already finished under this lease");
    return Reject("run already finished as " + std::string(RunStatusName(rs)));
  }
  if (IsTerminal(s.status())) return Reject("run result arrived while the job is " + StatusText(s));
  if (rs != v1::RUN_STATUS_DISPATCHED && rs != v1::RUN_STATUS_RUNNING) {
    return Reject("run is " + std::string(RunStatusName(rs)) + " and cannot finish");
  }
  return {};
}

// `started_at`: when the result says its handler began (a run whose
// RunStarted was never appended); unset, the result's own time stands in.
void FinishRun(JobState& s, RunRecord* run, const Envelope& e, RunStatus status,
               std::string_view executor_id, int32_t http_status, int64_t duration_ms,
               const std::string& output,
               const google::protobuf::Timestamp& started_at = google::protobuf::Timestamp()) {
  run->set_status(status);
  if (run->executor_id().empty()) run->set_executor_id(std::string(executor_id));
  if (!IsSet(run->started_at())) {
    *run->mutable_started_at() = IsSet(started_at) ? started_at : e.occurred_at();
  }
  *run->mutable_finished_at() = e.occurred_at();
  run->set_http_status(http_status);
  run->set_duration_ms(duration_ms);
  run->set_output(output);
  if (OneOff(s)) s.set_status(v1::JOB_STATUS_RUNNING);
}

// The bookkeeping every failed attempt shares (RunFailed, RunTimedOut, a lost
// AT_MOST_ONCE run).
void FailAttempt(JobState& s, RunRecord* run, const std::string& error, FoldEffects* fx) {
  run->set_error(error);
  s.set_last_error(error);
  v1::RunSummary* sum = s.mutable_summary();
  sum->set_attempts_failed(sum->attempts_failed() + 1);
  if (fx) fx->run = *run;
}

FoldResult ApplySucceeded(JobState& s, const Envelope& e, FoldEffects* fx) {
  const v1::RunSucceeded& r = e.run_succeeded();
  int i;
  if (auto c = CheckRunEnd(s, r.run_id(), r.lease_epoch(), true, &i); !c.applied()) return c;
  RunRecord* run = s.mutable_runs(i);
  FinishRun(s, run, e, v1::RUN_STATUS_SUCCEEDED, r.executor_id(), r.http_status(), r.duration_ms(),
            r.output(), r.started_at());
  if (OneOff(s)) {
    if (fx) fx->run = *run;
  } else {
    EndRun(s, i, v1::RUN_STATUS_SUCCEEDED, fx);  // a recurring job's run needs no verdict
  }
  return {};
}

FoldResult ApplyFailed(JobState& s, const Envelope& e, FoldEffects* fx) {
  const v1::RunFailed& r = e.run_failed();
  int i;
  if (auto c = CheckRunEnd(s, r.run_id(), r.lease_epoch(), false, &i); !c.applied()) return c;
  RunRecord* run = s.mutable_runs(i);
  RunStatus status = r.kind() == v1::FAILURE_KIND_TIMED_OUT ? v1::RUN_STATUS_TIMED_OUT
                                                             : v1::RUN_STATUS_FAILED;
  FinishRun(s, run, e, status, r.executor_id(), r.http_status(), r.duration_ms(), r.output(),
            r.started_at());
  run->set_permanent(r.permanent() || r.kind() == v1::FAILURE_KIND_CANCELED);
  run->set_retry_after_ms(r.retry_after_ms());
  FailAttempt(s, run, r.error(), fx);
  return {};
}

FoldResult ApplyTimedOut(JobState& s, const Envelope& e, FoldEffects* fx) {
  const v1::RunTimedOut& r = e.run_timed_out();
  int i;
  if (auto c = CheckRunEnd(s, r.run_id(), r.lease_epoch(), false, &i); !c.applied()) return c;
  RunRecord* run = s.mutable_runs(i);
  int64_t ms = 0;
  if (IsSet(run->dispatched_at())) {
    ms = std::chrono::duration_cast<Millis>(FromProto(e.occurred_at()) -
                                            FromProto(run->dispatched_at()))
             .count();
  }
  FinishRun(s, run, e, v1::RUN_STATUS_TIMED_OUT, r.executor_id(), 0, ms, "");
  FailAttempt(s, run,
              "no result within " + std::to_string(r.timeout_ms()) + " ms of the dispatch to " +
                  r.executor_id() + " (the dispatcher's backstop)",
              fx);
  return {};
}

// RunLost and RunReleased: the lease holder will not report. A run that may
// repeat goes back to the queue under the same attempt; an AT_MOST_ONCE run
// that had started ends LOST (its side effect may have happened).
FoldResult ApplyLeaseEnd(JobState& s, const Envelope& e, std::string_view run_id, int64_t epoch,
                         const std::string& why, FoldEffects* fx) {
  int i;
  if (auto c = FindLeasedRun(s, run_id, epoch, &i); !c.applied()) return c;
  RunRecord* run = s.mutable_runs(i);
  if (run->status() == v1::RUN_STATUS_DUE || run->status() == v1::RUN_STATUS_LOST) {
    return Duplicate("the lease already ended");
  }
  if (IsRunFinished(run->status())) {
    return Reject("run already finished as " + std::string(RunStatusName(run->status())));
  }
  if (IsTerminal(s.status())) return Reject("lease ended while the job is " + StatusText(s));
  bool at_most_once = s.spec().execution_type() == v1::EXECUTION_TYPE_AT_MOST_ONCE;
  if (at_most_once && run->status() == v1::RUN_STATUS_RUNNING) {
    FinishRun(s, run, e, v1::RUN_STATUS_LOST, run->executor_id(), 0, 0, "");
    run->set_permanent(true);
    FailAttempt(s, run, why + "; at_most_once: not run again", fx);
    return {};
  }
  run->set_status(v1::RUN_STATUS_DUE);
  run->clear_executor_id();
  run->clear_executor_incarnation();
  run->clear_dispatched_at();
  run->clear_started_at();
  run->set_releases(run->releases() + 1);
  run->set_error(why);
  if (OneOff(s)) s.set_status(v1::JOB_STATUS_QUEUED);
  if (fx) fx->run = *run;
  return {};
}

// A JOB_TYPE_WORKFLOW job's run is not executed: the scheduler appends the
// workflow run it starts, then this, which ends the run as a success.
FoldResult ApplyWorkflowStarted(JobState& s, const Envelope& e, FoldEffects* fx) {
  const v1::WorkflowStarted& w = e.workflow_started();
  int i;
  if (auto c = LocateRun(s, w.run_id(), &i); !c.applied()) return c;
  RunRecord* run = s.mutable_runs(i);
  if (run->status() == v1::RUN_STATUS_SUCCEEDED) return Duplicate("workflow already started");
  if (s.spec().type() != v1::JOB_TYPE_WORKFLOW) return Reject("not a workflow trigger");
  if (run->status() != v1::RUN_STATUS_DUE) {
    return Reject("run is " + std::string(RunStatusName(run->status())) + ", not DUE");
  }
  if (IsTerminal(s.status())) return Reject("job is already " + StatusText(s));
  FinishRun(s, run, e, v1::RUN_STATUS_SUCCEEDED, "", 0, 0,
            R"({"workflow_id":")" + w.workflow_id() + R"("})");
  if (OneOff(s)) {
    if (fx) fx->run = *run;
  } else {
    EndRun(s, i, v1::RUN_STATUS_SUCCEEDED, fx);
  }
  return {};
}

FoldResult ApplyRunWaiting(JobState& s, const Envelope& e, FoldEffects* fx) {
  const v1::RunWaiting& w = e.run_waiting();
  int i;
  if (auto c = LocateRun(s, w.run_id(), &i); !c.applied()) return c;
  RunRecord* run = s.mutable_runs(i);
  if (run->status() != v1::RUN_STATUS_DUE) return Reject("run is no longer waiting");
  if (run->wait_reason() == w.reason()) return Duplicate("already waiting for this reason");
  run->set_wait_reason(w.reason());
  if (fx) fx->run = *run;
  return {};
}

FoldResult ApplyJobRequeued(JobState& s, const Envelope& e) {
  if (s.status() == v1::JOB_STATUS_UNSPECIFIED) {
    // The reader evicted the job long after it died: resume from the state
    // the API read (Apply lets this one event through for an unknown job).
    JobState carried;
    if (!carried.ParseFromString(e.job_requeued().state()) || carried.job_id() != e.job_id()) {
      return Reject("job does not exist here and the requeue carries no state of it");
    }
    if (carried.status() != v1::JOB_STATUS_DEAD) {
      return Reject("the requeue carries a state that is not DEAD");
    }
    s = std::move(carried);
  }
  if (!OneOff(s)) return Reject("a recurring job is never DEAD; its failed runs are RunDead");
  if (s.status() != v1::JOB_STATUS_DEAD) {
    // Requeued, and its next attempt not made due yet.
    if (s.status() == v1::JOB_STATUS_RETRYING && s.requeues() > 0 &&
        s.attempt_base() == s.attempt()) {
      return Duplicate("job already requeued");
    }
    return Reject("only a DEAD job can be requeued; this one is " + StatusText(s));
  }
  int i = RunIndex(s, s.current_run_id());
  if (i < 0) return Reject("the dead job has no run to requeue");
  RunRecord* run = s.mutable_runs(i);
  *run->mutable_retry_at() = e.occurred_at();
  s.set_attempt_base(run->attempt());
  s.set_requeues(s.requeues() + 1);
  s.set_status(v1::JOB_STATUS_RETRYING);
  s.clear_end_reason();
  *s.mutable_next_fire_at() = e.occurred_at();
  return {};
}

// The failed run `run_id` awaiting a verdict; its index.
FoldResult FindFailedRun(const JobState& s, std::string_view run_id, int* index) {
  if (auto c = LocateRun(s, run_id, index); !c.applied()) return c;
  const RunRecord& run = s.runs(*index);
  if (!IsRunFailed(run.status())) return Reject("run " + std::string(run_id) + " has not failed");
  return {};
}

FoldResult ApplyRetryScheduled(JobState& s, const Envelope& e) {
  const v1::RetryScheduled& r = e.retry_scheduled();
  int i;
  if (auto c = FindFailedRun(s, r.failed_run_id(), &i); !c.applied()) return c;
  const RunRecord& run = s.runs(i);
  if (IsSet(run.retry_at())) return Duplicate("retry already scheduled");
  if (IsTerminal(s.status())) return Reject("cannot retry while the job is " + StatusText(s));
  if (s.cancel_requested()) return Reject("cancel requested");
  if (r.next_attempt() != run.attempt() + 1)
    return Reject("retry does not follow the current attempt");
  if (!CanRetry(s, run)) {
    return Reject("no retry left: attempt " + std::to_string(run.attempt()) + ", max_retries " +
                  std::to_string(s.spec().max_retries()) +
                  (run.permanent() ? ", and the failure is permanent" : ""));
  }
  *s.mutable_runs(i)->mutable_retry_at() = r.retry_at();
  if (OneOff(s)) {
    s.set_status(v1::JOB_STATUS_RETRYING);
    *s.mutable_next_fire_at() = r.retry_at();
  }
  return {};
}

FoldResult ApplyJobSucceeded(JobState& s, const Envelope& e) {
  if (s.status() == v1::JOB_STATUS_SUCCEEDED) return Duplicate("job already succeeded");
  if (!OneOff(s)) return Reject("a recurring job does not succeed; it completes");
  const RunRecord* run = CurrentRun(s);
  if (s.status() != v1::JOB_STATUS_RUNNING || run == nullptr ||
      run->status() != v1::RUN_STATUS_SUCCEEDED || run->run_id() != e.job_succeeded().run_id()) {
    return Reject("the current run has not succeeded");
  }
  s.set_status(v1::JOB_STATUS_SUCCEEDED);
  RecordOutcome(s, *run, v1::RUN_STATUS_SUCCEEDED);
  return {};
}

FoldResult ApplyJobDead(JobState& s, const Envelope& e) {
  if (s.status() == v1::JOB_STATUS_DEAD) return Duplicate("job already dead");
  if (!OneOff(s)) return Reject("a recurring job does not die; its runs do (RunDead)");
  const RunRecord* run = CurrentRun(s);
  if (s.status() != v1::JOB_STATUS_RUNNING || run == nullptr || !IsRunFailed(run->status()) ||
      run->run_id() != e.job_dead().last_run_id()) {
    return Reject("the current run has not failed");
  }
  s.set_status(v1::JOB_STATUS_DEAD);
  s.set_end_reason(e.job_dead().reason());
  RecordOutcome(s, *run, run->status());
  return {};
}

FoldResult ApplyRunDead(JobState& s, const Envelope& e, FoldEffects* fx) {
  const v1::RunDead& r = e.run_dead();
  if (OneOff(s)) return Reject("a one-off job's run ends with JobDead");
  int i;
  if (auto c = FindFailedRun(s, r.run_id(), &i); !c.applied()) return c;
  if (IsSet(s.runs(i).retry_at())) return Reject("a retry is scheduled for run " + r.run_id());
  EndRun(s, i, s.runs(i).status(), fx);
  return {};
}

FoldResult ApplyRunCanceled(JobState& s, const Envelope& e, FoldEffects* fx) {
  const v1::RunCanceled& r = e.run_canceled();
  if (OneOff(s)) return Reject("a one-off job's run ends with the job (JobCanceled)");
  int i;
  if (auto c = LocateRun(s, r.run_id(), &i); !c.applied()) return c;
  if (IsTerminal(s.status()))
    return Reject("cannot cancel a run while the job is " + StatusText(s));
  RunRecord* run = s.mutable_runs(i);
  if (!IsSet(run->finished_at())) *run->mutable_finished_at() = e.occurred_at();
  run->set_error(r.reason());
  EndRun(s, i, v1::RUN_STATUS_CANCELED, fx);
  return {};
}

FoldResult ApplyFireSkipped(JobState& s, const Envelope& e) {
  const v1::FireSkipped& k = e.fire_skipped();
  if (k.fire_id().empty() || k.last_fire_id().empty() || k.count() < 1) {
    return Reject("FireSkipped without fire ids or count");
  }
  if (auto c = CheckChain(s, k.fire_id(), FromProto(k.last_scheduled_for()), k.last_nominal_time(),
                          k.after_fire_id());
      !c.applied()) {
    return c;
  }
  if (OneOff(s) || s.status() != v1::JOB_STATUS_ACTIVE) {
    return Reject("slots cannot be skipped while the job is " + StatusText(s));
  }
  v1::ScheduleCursor* c = s.mutable_cursor();
  *c->mutable_at() = k.last_scheduled_for();
  c->set_nominal_time(k.last_nominal_time());
  c->set_occurrence(k.last_occurrence());
  c->set_fire_id(k.last_fire_id());
  v1::RunSummary* sum = s.mutable_summary();
  sum->set_skipped(sum->skipped() + k.count());
  UpdateNextFire(s);
  return {};
}

FoldResult ApplyJobCompleted(JobState& s, const Envelope& e) {
  if (s.status() == v1::JOB_STATUS_COMPLETED) return Duplicate("job already completed");
  if (OneOff(s)) return Reject("a one-off job ends with JobSucceeded or JobDead");
  if (s.status() != v1::JOB_STATUS_ACTIVE && s.status() != v1::JOB_STATUS_PAUSED) {
    return Reject("cannot complete while the job is " + StatusText(s));
  }
  if (s.runs_size() > 0 || s.requested_size() > 0) {
    return Reject("runs are still in flight or requested");
  }
  s.set_status(v1::JOB_STATUS_COMPLETED);
  s.set_end_reason(e.job_completed().reason());
  s.clear_next_fire_at();
  return {};
}

FoldResult ApplyCancelRequested(JobState& s) {
  if (s.cancel_requested() || s.status() == v1::JOB_STATUS_CANCELED) {
    return Duplicate("cancel already requested");
  }
  if (IsTerminal(s.status())) return Reject("job is already " + StatusText(s));
  s.set_cancel_requested(true);
  return {};
}

FoldResult ApplyJobCanceled(JobState& s, const Envelope& e) {
  if (s.status() == v1::JOB_STATUS_CANCELED) return Duplicate("job already canceled");
  if (IsTerminal(s.status())) return Reject("job is already " + StatusText(s));
  s.set_status(v1::JOB_STATUS_CANCELED);
  s.set_end_reason(e.job_canceled().reason());
  s.clear_next_fire_at();
  return {};
}

FoldResult ApplyPause(JobState& s, const Envelope& e) {
  if (OneOff(s)) return Reject("only recurring jobs can be paused");
  if (s.status() == v1::JOB_STATUS_PAUSED) return Duplicate("job already paused");
  if (s.status() != v1::JOB_STATUS_ACTIVE)
    return Reject("cannot pause a " + StatusText(s) + " job");
  s.set_status(v1::JOB_STATUS_PAUSED);
  *s.mutable_paused_at() = e.occurred_at();
  s.clear_next_fire_at();
  return {};
}

FoldResult ApplyResume(JobState& s) {
  if (OneOff(s)) return Reject("only recurring jobs can be resumed");
  if (s.status() == v1::JOB_STATUS_ACTIVE) return Duplicate("job already active");
  if (s.status() != v1::JOB_STATUS_PAUSED)
    return Reject("cannot resume a " + StatusText(s) + " job");
  s.set_status(v1::JOB_STATUS_ACTIVE);
  s.clear_paused_at();
  UpdateNextFire(s);
  return {};
}

FoldResult ApplyRunRequested(JobState& s, const Envelope& e) {
  const v1::RunRequested& r = e.run_requested();
  if (r.fire_id().empty() || r.run_id().empty()) return Reject("RunRequested without ids");
  if (OneOff(s)) return Reject("only recurring jobs can be run on demand");
  for (const auto& q : s.requested()) {
    if (q.fire_id() == r.fire_id()) return Duplicate("run already requested");
  }
  if (FireIndex(s, r.fire_id()) >= 0 || RecentFire(s, r.fire_id())) {
    return Duplicate("requested run already made due");
  }
  if (s.status() != v1::JOB_STATUS_ACTIVE && s.status() != v1::JOB_STATUS_PAUSED) {
    return Reject("cannot run a " + StatusText(s) + " job");
  }
  if (s.cancel_requested()) return Reject("cancel requested");
  if (s.requested_size() >= kMaxRequestedRuns) {
    return Reject(std::to_string(kMaxRequestedRuns) + " manual runs are already waiting");
  }
  v1::RequestedRun* q = s.add_requested();
  q->set_fire_id(r.fire_id());
  q->set_run_id(r.run_id());
  *q->mutable_requested_at() = e.occurred_at();
  return {};
}

FoldResult ApplyDelete(JobState& s) {
  if (s.status() == v1::JOB_STATUS_DELETED) return Duplicate("job already deleted");
  s.set_status(v1::JOB_STATUS_DELETED);
  s.clear_next_fire_at();
  return {};
}

FoldResult ApplyJobUpdated(JobState& s, const Envelope& e) {
  const v1::JobUpdated& u = e.job_updated();
  if (IsTerminal(s.status())) return Reject("cannot update a " + StatusText(s) + " job");
  if (u.spec().has_schedule() != s.spec().has_schedule()) {
    return Reject("an update cannot turn a one-off job into a recurring one or back");
  }
  v1::JobSpec merged = s.spec();
  for (const std::string& field : u.changed()) {
    std::string why;
    if (!ApplySpecChange(field, u.spec(), merged, &why)) return Reject(why);
  }
  if (google::protobuf::util::MessageDifferencer::Equals(merged, s.spec())) {
    return Duplicate("the update changes nothing");
  }
  auto schedule = JobSchedule::For(s.job_id(), merged, FromProto(s.created_at()));
  if (!schedule.ok()) return Reject("invalid schedule: " + schedule.status().message());
  s.mutable_spec()->Swap(&merged);
  UpdateNextFire(s);
  return {};
}

FoldResult Dispatch(JobState& s, const Envelope& e, FoldEffects* fx) {
  switch (e.event_case()) {
    case Envelope::kJobSubmitted: return ApplySubmitted(s, e);
    case Envelope::kCancelRequested: return ApplyCancelRequested(s);
    case Envelope::kRunDue: return ApplyRunDue(s, e, fx);
    case Envelope::kRunDispatched: return ApplyDispatched(s, e, fx);
    case Envelope::kRunStarted: return ApplyStarted(s, e, fx);
    case Envelope::kRunSucceeded: return ApplySucceeded(s, e, fx);
    case Envelope::kRunFailed: return ApplyFailed(s, e, fx);
    case Envelope::kRetryScheduled: return ApplyRetryScheduled(s, e);
    case Envelope::kJobSucceeded: return ApplyJobSucceeded(s, e);
    case Envelope::kJobDead: return ApplyJobDead(s, e);
    case Envelope::kJobCanceled: return ApplyJobCanceled(s, e);
    case Envelope::kFireSkipped: return ApplyFireSkipped(s, e);
    case Envelope::kRunDead: return ApplyRunDead(s, e, fx);
    case Envelope::kRunCanceled: return ApplyRunCanceled(s, e, fx);
    case Envelope::kJobCompleted: return ApplyJobCompleted(s, e);
    case Envelope::kJobUpdated: return ApplyJobUpdated(s, e);
    case Envelope::kPauseRequested: return ApplyPause(s, e);
    case Envelope::kResumeRequested: return ApplyResume(s);
    case Envelope::kRunRequested: return ApplyRunRequested(s, e);
    case Envelope::kDeleteRequested: return ApplyDelete(s);
    case Envelope::kRunTimedOut: return ApplyTimedOut(s, e, fx);
    case Envelope::kRunLost: {
      const v1::RunLost& l = e.run_lost();
      return ApplyLeaseEnd(s, e, l.run_id(), l.lease_epoch(),
                           "lost: " + l.reason() + " (executor " + l.executor_id() + ")", fx);
    }
    case Envelope::kRunReleased: {
      const v1::RunReleased& r = e.run_released();
      return ApplyLeaseEnd(s, e, r.run_id(), r.lease_epoch(),
                           "released by executor " + r.executor_id() + ": " + r.reason(), fx);
    }
    case Envelope::kRunWaiting: return ApplyRunWaiting(s, e, fx);
    case Envelope::kJobRequeued: return ApplyJobRequeued(s, e);
    case Envelope::kWorkflowStarted: return ApplyWorkflowStarted(s, e, fx);
    case Envelope::kDependencyRegistered:
    case Envelope::kDependenciesRegistered:
    case Envelope::kDependencySatisfied:
    case Envelope::kDependencyFailed:
    case Envelope::kDependentsNotified:
    case Envelope::kWorkflowSubmitted:
    case Envelope::kWorkflowExpanded: return internal::ApplyDependencyEvent(s, e);
    case Envelope::EVENT_NOT_SET: break;
  }
  return Reject("envelope carries no event");
}

}  // namespace

FoldResult Apply(JobState& state, const Envelope& e, FoldEffects* effects) {
  if (e.event_id().empty()) return Reject("event has no event_id");
  if (e.job_id().empty()) return Reject("event has no job_id");
  if (!state.job_id().empty() && state.job_id() != e.job_id()) {
    return Reject("event for job " + e.job_id() + " applied to job " + state.job_id());
  }
  if (state.status() == v1::JOB_STATUS_UNSPECIFIED && e.event_case() != Envelope::kJobSubmitted &&
      e.event_case() != Envelope::kWorkflowSubmitted && e.event_case() != Envelope::kJobRequeued) {
    return Reject("job does not exist (no JobSubmitted applied)");
  }
  if (!state.last_event_id().empty() && state.last_event_id() == e.event_id()) {
    return Duplicate("event already applied");  // the commonest redelivery, whatever its kind
  }
  // Every handler checks before it changes anything: no copy of the state.
  FoldResult r = Dispatch(state, e, effects);
  if (!r.applied()) return r;
  state.set_last_event_id(e.event_id());
  state.set_version(state.version() + 1);
  *state.mutable_updated_at() = e.occurred_at();
  return r;
}

bool IsTerminal(v1::JobStatus s) {
  return s == v1::JOB_STATUS_SUCCEEDED || s == v1::JOB_STATUS_DEAD ||
         s == v1::JOB_STATUS_CANCELED || s == v1::JOB_STATUS_COMPLETED ||
         s == v1::JOB_STATUS_DELETED;
}

bool IsRecurring(const JobState& s) { return s.spec().has_schedule(); }

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
    case v1::JOB_STATUS_ACTIVE: return "ACTIVE";
    case v1::JOB_STATUS_PAUSED: return "PAUSED";
    case v1::JOB_STATUS_COMPLETED: return "COMPLETED";
    case v1::JOB_STATUS_DELETED: return "DELETED";
    case v1::JOB_STATUS_WAITING: return "WAITING";
    case v1::JOB_STATUS_BLOCKED: return "BLOCKED";
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
    case v1::RUN_STATUS_CANCELED: return "CANCELED";
    case v1::RUN_STATUS_LOST: return "LOST";
    default: return "UNKNOWN";
  }
}

bool IsRunFinished(v1::RunStatus s) {
  return s == v1::RUN_STATUS_SUCCEEDED || IsRunFailed(s) || s == v1::RUN_STATUS_CANCELED ||
         s == v1::RUN_STATUS_LOST;
}

bool IsRunFailed(v1::RunStatus s) {
  return s == v1::RUN_STATUS_FAILED || s == v1::RUN_STATUS_TIMED_OUT || s == v1::RUN_STATUS_LOST;
}

bool CanRetry(const JobState& s, const v1::RunRecord& run) {
  return !run.permanent() && run.status() != v1::RUN_STATUS_LOST &&
         run.attempt() - s.attempt_base() <= s.spec().max_retries();
}

std::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kApplied: return "applied";
    case Outcome::kDuplicate: return "duplicate";
    case Outcome::kRejected: return "rejected";
  }
  return "unknown";
}

bool IsScheduleField(std::string_view f) {
  return f == "schedule" || f == "timezone" || f == "dst_gap" || f == "dst_overlap" ||
         f == "end_at" || f == "max_runs" || f == "concurrency_policy" || f == "misfire_policy";
}

bool ApplySpecChange(std::string_view f, const v1::JobSpec& from, v1::JobSpec& to,
                     std::string* why) {
  const bool schedule_field = IsScheduleField(f);
  if (schedule_field && !to.has_schedule()) {
    *why = "cannot update \"" + std::string(f) + "\" of a one-off job: it has no schedule";
    return false;
  }
  const v1::ScheduleSpec& src = from.schedule();
  v1::ScheduleSpec* sched = schedule_field ? to.mutable_schedule() : nullptr;
  if (f == "name") to.set_name(from.name());
  else if (f == "type") to.set_type(from.type());
  else if (f == "http") *to.mutable_http() = from.http();
  else if (f == "payload") to.set_payload_json(from.payload_json());
  else if (f == "priority") to.set_priority(from.priority());
  else if (f == "max_retries") to.set_max_retries(from.max_retries());
  else if (f == "retry_policy") *to.mutable_retry_policy() = from.retry_policy();
  else if (f == "timeout_seconds") to.set_timeout_seconds(from.timeout_seconds());
  else if (f == "resources") *to.mutable_resources() = from.resources();
  else if (f == "pool") to.set_pool(from.pool());
  else if (f == "execution_type") to.set_execution_type(from.execution_type());
  else if (f == "schedule") sched->set_cron(src.cron());
  else if (f == "timezone") sched->set_timezone(src.timezone());
  else if (f == "dst_gap") sched->set_dst_gap(src.dst_gap());
  else if (f == "dst_overlap") sched->set_dst_overlap(src.dst_overlap());
  else if (f == "end_at") *sched->mutable_end_at() = src.end_at();
  else if (f == "max_runs") sched->set_max_runs(src.max_runs());
  else if (f == "concurrency_policy") sched->set_concurrency_policy(src.concurrency_policy());
  else if (f == "misfire_policy") sched->set_misfire_policy(src.misfire_policy());
  else {
    *why = "cannot update field \"" + std::string(f) + "\"";
    return false;
  }
  return true;
}

std::string LastAppliedEventId(const JobState& s) { return s.last_event_id(); }

const v1::RunRecord* CurrentRun(const JobState& s) {
  return s.current_run_id().empty() ? nullptr : FindRun(s, s.current_run_id());
}

const v1::RunRecord* FindRun(const JobState& s, std::string_view run_id) {
  int i = RunIndex(s, run_id);
  return i < 0 ? nullptr : &s.runs(i);
}

}  // namespace jobsched::events
