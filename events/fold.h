// The fold: the one definition of what an event means for a job.
//
//   state' = Apply(state, event)
//
// The scheduler, the dispatcher, the projector and `jobctl replay` all fold
// with this function, so "what is the state of job X after event N" has one
// answer. Pure: no I/O, no clock, no logging. Thread-compatible.
//
// The model: a job owns a schedule (one-off: one slot at run_at; recurring:
// cron slots); each fire of a slot makes a run; a run has attempts.
//
// Bounded state, constant cost. The state holds the schedule's cursor (the
// last slot consumed), the runs in flight (at most kMaxRunsInFlight) and
// fixed-size summaries (RunSummary: counters and the last kRecentOutcomes
// runs). A finished run of a recurring job leaves the state; a one-off job
// keeps its one run to the end. Apply checks everything before it changes
// anything, so a rejection leaves the state as it was without a copy.
//
// De-duplication by position, never by a set of ids:
//  - a fire or skip at or before the cursor is a duplicate; one that does not
//    continue the cursor (after_fire_id) is rejected as decided from a stale
//    state, so no slot passes without a record;
//  - a run event for a stage the run has passed (same or older lease, an
//    attempt already made) is a duplicate; one for a run no longer in flight
//    is a duplicate if the run is among the recent outcomes, else rejected;
//  - requests (cancel, pause, resume, delete, update) that change nothing
//    are duplicates.
//
// One-off job statuses (status after the event; "run" is its run):
//   (none)    --JobSubmitted-->    PENDING, or SCHEDULED when run_at > occurred_at
//   PENDING | SCHEDULED --RunDue(attempt 1)--> QUEUED   (run DUE)
//   RETRYING  --RunDue(attempt n+1)-->        QUEUED   (run DUE, a fresh attempt)
//   QUEUED    --RunDispatched-->   QUEUED                          (run DISPATCHED, lease epoch)
//   QUEUED    --RunStarted-->      RUNNING                         (run RUNNING)
//   QUEUED | RUNNING --RunSucceeded / RunFailed--> RUNNING        (run SUCCEEDED / FAILED / TIMED_OUT)
//   RUNNING (run SUCCEEDED)  --JobSucceeded-->   SUCCEEDED
//   RUNNING (run failed)     --RetryScheduled--> RETRYING  (only while attempts <= max_retries)
//   RUNNING (run failed)     --JobDead-->        DEAD
//   QUEUED | RUNNING --RunLost / RunReleased--> QUEUED  (run DUE again, same attempt; but
//                    AT_MOST_ONCE and started: run LOST, a failure that is not retried)
//   QUEUED | RUNNING --RunTimedOut--> RUNNING  (run TIMED_OUT: the dispatcher's backstop)
//   QUEUED (run DUE) --RunWaiting-->  QUEUED   (run wait_reason: fits no live executor)
//   DEAD      --JobRequeued-->    RETRYING  (max_retries + 1 attempts more, from now)
// Recurring job statuses:
//   (none)  --JobSubmitted(schedule)-->  ACTIVE
//   ACTIVE  --RunDue / FireSkipped-->    ACTIVE (cursor moves; runs in flight change)
//   ACTIVE  --PauseRequested--> PAUSED --ResumeRequested--> ACTIVE
//   ACTIVE | PAUSED --JobCompleted--> COMPLETED  (schedule exhausted, nothing in flight)
//   runs: RunSucceeded ends a run (succeeded); a failed run waits for
//   RetryScheduled (then RunDue attempt n+1) or RunDead; RunCanceled ends it.
// Dependencies (one-off jobs with depends_on; fold_dependencies.cc):
//   (none)  --JobSubmitted(depends_on)-->  WAITING (a parent pending) | BLOCKED (one failed)
//   WAITING | BLOCKED --DependencySatisfied / DependencyFailed--> WAITING | BLOCKED, or,
//                      every parent SATISFIED: PENDING (SCHEDULED before run_at)
//   any (a parent) --DependencyRegistered-->  same status, one more dependent
//   any (a parent) --DependentsNotified-->    same status, dependents told the outcome
//   (none)  --JobRequeued(state)-->  RETRYING  (a reader that evicted the dead job)
// Workflow runs (JobState.workflow_run; keyed by the workflow id):
//   (none)  --WorkflowSubmitted-->  PENDING  --WorkflowExpanded-->  COMPLETED
// A JOB_TYPE_WORKFLOW job's run: DUE --WorkflowStarted--> SUCCEEDED (never dispatched).
// Any job:
//   any non-terminal --CancelRequested--> same status, cancel_requested
//   any non-terminal --JobCanceled-->     CANCELED
//   any --DeleteRequested--> DELETED
//   non-terminal --JobUpdated--> same status, spec fields replaced
//
// Results carry the lease epoch of their dispatch; a result for an older
// epoch is rejected: recorded by whoever logs it, but it changes nothing.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "events/envelope.h"

namespace jobsched::events {

inline constexpr int kMaxRunsInFlight = 32;   // per job (concurrency_policy allow)
inline constexpr int kMaxRequestedRuns = 10;  // manual runs waiting per job
inline constexpr int kRecentOutcomes = 5;     // RunSummary.recent
inline constexpr int kMaxDependents = 1000;   // children per job (JobState.dependents)

enum class Outcome {
  kApplied,    // the state changed
  kDuplicate,  // already applied (recognised by position); state unchanged
  kRejected,   // not valid in the current state; state unchanged
};

struct FoldResult {
  Outcome outcome = Outcome::kApplied;
  std::string reason;  // why it was rejected or is a duplicate, for logs and audit
  bool applied() const { return outcome == Outcome::kApplied; }
};

// What an applied event did beyond the state, for the projector.
struct FoldEffects {
  // The run record the event created or changed, as it stands after the
  // event, also when the event ended the run and removed it from the state.
  std::optional<v1::RunRecord> run;
};

// Applies `event` to `state` (the state of event.job_id(); a default state
// for a job never seen). On kDuplicate and kRejected, `state` is untouched.
// `effects`, when given, is filled for applied events. Constant cost per
// event whatever the job's age.
FoldResult Apply(JobState& state, const Envelope& event, FoldEffects* effects = nullptr);

// Convenience for tests and replay: folds a sequence from the empty state.
template <typename Range>
JobState FoldAll(const Range& events) {
  JobState s;
  for (const Envelope& e : events) Apply(s, e);
  return s;
}

bool IsTerminal(v1::JobStatus status);
bool IsRecurring(const JobState& state);
// "PENDING", "SCHEDULED", ..., "ACTIVE", "PAUSED", "COMPLETED", "DELETED".
std::string_view JobStatusName(v1::JobStatus status);
// Inverse of JobStatusName; JOB_STATUS_UNSPECIFIED for unknown names.
v1::JobStatus ParseJobStatus(std::string_view name);
// "DUE", "DISPATCHED", "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELED", "LOST".
std::string_view RunStatusName(v1::RunStatus status);
bool IsRunFinished(v1::RunStatus status);
bool IsRunFailed(v1::RunStatus status);  // FAILED, TIMED_OUT or LOST
// Whether a failed attempt of `run` may be retried: not permanent, not lost,
// and attempts since the last requeue within max_retries + 1.
bool CanRetry(const JobState& state, const v1::RunRecord& run);
std::string_view OutcomeName(Outcome outcome);

// What JobUpdated means for one field it names: copies `field` (an API field
// name: "schedule", "timezone", "http", "priority", ...) from `from` into
// `to`. False, saying why, for a name it does not know or a schedule field of
// a job without one. The API validates a PATCH with the same function.
bool ApplySpecChange(std::string_view field, const v1::JobSpec& from, v1::JobSpec& to,
                     std::string* why);
// Whether an update's `field` belongs to the schedule (recurring jobs only).
bool IsScheduleField(std::string_view field);

// What a job's dependents are to be told: SATISFIED once it SUCCEEDED;
// FAILED when it ended otherwise (DEAD, CANCELED, DELETED) or is BLOCKED;
// UNSPECIFIED while it may still succeed.
v1::DependencyStatus DependentsOutcome(v1::JobStatus status);
v1::DependencyStatus DependentsOutcome(const JobState& state);
// Whether a dependent has not been told DependentsOutcome yet (its parent's
// scheduler owes it a DependencySatisfied / DependencyFailed).
bool HasUnnotifiedDependents(const JobState& state);
// "PENDING", "SATISFIED", "FAILED".
std::string_view DependencyStatusName(v1::DependencyStatus status);

// The id of the last event applied to the job ("" for a new job): the
// causation id of a decision made from this state.
std::string LastAppliedEventId(const JobState& state);

// The run made due last (one-off: the job's run), or nullptr.
const v1::RunRecord* CurrentRun(const JobState& state);
// The run in flight with this (attempt's) run id, or nullptr.
const v1::RunRecord* FindRun(const JobState& state, std::string_view run_id);

}  // namespace jobsched::events
