// The scheduler's decisions: given one job's folded state and the time, which
// events should be appended now, and when to look at the job again.
//
// Pure. Every decision gets a deterministic event id derived from its cause,
// so deciding twice (a redo after a crash, a timer that fires while the first
// decision is still in flight) yields the same events, which the fold then
// ignores as duplicates. Slot decisions (RunDue of a scheduled fire,
// FireSkipped) are chained on the job's schedule cursor, so a decision made
// from a stale state is rejected by the fold rather than firing a slot twice.
//
// Recurring jobs, per slot of the schedule that is due (at <= now):
//  - a slot more than `misfire_grace` late was missed (the scheduler was down
//    or the job paused): misfire_policy fire_once fires the latest missed slot
//    (none if a slot is on time) and skips the others, skip skips them all,
//    fire_all fires the latest 100 and skips older ones (MISFIRE);
//  - a DST-gap slot under the skip policy is skipped (DST_GAP);
//  - a fire while a run is in flight follows concurrency_policy: forbid skips
//    it (OVERLAP; slots before the end of the job's last run count as
//    overlaps, not misfires), allow runs it (at most kMaxRunsInFlight),
//    replace cancels the runs in flight (RunCanceled) and fires. Under forbid
//    the slots a run overlaps are recorded when it ends, as one range, or a
//    minute after the oldest of them (an every-second job with a long run
//    appends a record a minute, not a second);
//  - consecutive skips with one reason become one FireSkipped with a count.
// Manual runs (RunRequested) are made due at once, whatever the policy.
// Dependencies and workflows: a child registers with parents it was not
// submitted with (DependencyRegistered, keyed by the parent); a job whose
// outcome is known (SUCCEEDED; DEAD, CANCELED, DELETED or BLOCKED) tells each
// dependent not told yet (DependencySatisfied / DependencyFailed, keyed by the
// child); a workflow run is expanded into its jobs' JobSubmitted; a
// JOB_TYPE_WORKFLOW job's due run starts a workflow run (WorkflowSubmitted).
// Failed runs are retried with backoff (RetryScheduled, then RunDue) or give
// up (one-off: JobDead; recurring: RunDead). A recurring job whose schedule
// is exhausted (end_at, max_runs) completes once nothing is in flight.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "events/envelope.h"

namespace jobsched::scheduler {

struct DecideContext {
  std::string producer;  // "scheduler/<id>"
  Millis misfire_grace{1000};
  // At most this many due slots are examined per decision; the rest are
  // decided next time (a long outage of an every-second job).
  int max_slots_per_decision = 10'000;
};

struct Decision {
  std::vector<events::Envelope> events;  // about this job (keyed by it)
  // Events about other jobs (keyed by them). Their arrival never shows in
  // this job's state, so `after` records it: events about this job that the
  // owner appends instead of `others` once every one of them is known to be
  // appended (SchedulerCore tracks the acknowledgements). Both are empty or
  // both are not.
  std::vector<events::Envelope> others;
  std::vector<events::Envelope> after;
  std::optional<TimePoint> wake_at;  // look again at this time
};

Decision Decide(const events::JobState& state, TimePoint now, const DecideContext& context);
// With the default context for `producer`.
Decision Decide(const events::JobState& state, TimePoint now, const std::string& producer);

}  // namespace jobsched::scheduler
