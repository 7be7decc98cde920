// The fold: the one definition of what an event means for a job.
//
//   state' = Apply(state, event)
//
// The scheduler, the dispatcher, the projector and `jobctl replay` all fold
// with this function, so "what is the state of job X after event N" has one
// answer. Pure: no I/O, no clock, no logging. Thread-compatible.
//
// The job state machine (status after the event; "run" is the current run):
//
//   (none)    --JobSubmitted-->    PENDING, or SCHEDULED when run_at > occurred_at
//   PENDING | SCHEDULED | RETRYING --RunDue(attempt+1)--> QUEUED   (run DUE)
//   QUEUED    --RunDispatched-->   QUEUED                          (run DISPATCHED, lease epoch)
//   QUEUED    --RunStarted-->      RUNNING                         (run RUNNING)
//   QUEUED | RUNNING --RunSucceeded / RunFailed--> RUNNING        (run SUCCEEDED / FAILED / TIMED_OUT)
//   RUNNING (run SUCCEEDED)  --JobSucceeded-->   SUCCEEDED
//   RUNNING (run failed)     --RetryScheduled--> RETRYING  (only while attempts <= max_retries)
//   RUNNING (run failed)     --JobDead-->        DEAD
//   any non-terminal --CancelRequested--> same status, cancel_requested
//   any non-terminal --JobCanceled-->     CANCELED
//
// Results carry the lease epoch of their dispatch; a result for another run or
// an old epoch is rejected: recorded by whoever logs it, but it changes nothing.
#pragma once

#include <string>
#include <string_view>

#include "events/envelope.h"

namespace jobsched::events {

enum class Outcome {
  kApplied,    // the state changed
  kDuplicate,  // this event id was applied before; state unchanged
  kRejected,   // not valid in the current state; state unchanged
};

struct FoldResult {
  Outcome outcome = Outcome::kApplied;
  std::string reason;  // why it was rejected, for logs and audit
  bool applied() const { return outcome == Outcome::kApplied; }
};

// Applies `event` to `state` (the state of event.job_id(); a default state for
// a job never seen). On kDuplicate and kRejected, `state` is left untouched.
FoldResult Apply(JobState& state, const Envelope& event);

// Convenience for tests and replay: folds a sequence from the empty state.
template <typename Range>
JobState FoldAll(const Range& events) {
  JobState s;
  for (const Envelope& e : events) Apply(s, e);
  return s;
}

bool IsTerminal(v1::JobStatus status);
// "PENDING", "SCHEDULED", ... as used by the API and the tables.
std::string_view JobStatusName(v1::JobStatus status);
// Inverse of JobStatusName; JOB_STATUS_UNSPECIFIED for unknown names.
v1::JobStatus ParseJobStatus(std::string_view name);
// "DUE", "DISPATCHED", "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT".
std::string_view RunStatusName(v1::RunStatus status);
bool IsRunFinished(v1::RunStatus status);
std::string_view OutcomeName(Outcome outcome);

// The id of the last event applied to the job ("" for a new job): the
// causation id of a decision made from this state.
std::string LastAppliedEventId(const JobState& state);

// The current run, or nullptr before the first RunDue.
const v1::RunRecord* CurrentRun(const JobState& state);

}  // namespace jobsched::events
