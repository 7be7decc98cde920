// GET /api/v1/jobs/{id}/why?at=T: why a job did not fire at T, or which run
// it made then, decided from the job's own events (job_logs). Pure (no I/O,
// no clock: `now` is passed in), thread-compatible.
//
// Slots are matched to the second: T's fraction is dropped, and a record
// whose slot lies in T's second is at T. Verdicts, in the order they are
// tried:
//   fired         a scheduled fire at T made run `run_id` (RunDue attempt 1)
//   skipped       T is a slot a FireSkipped covers: skip_reason overlap |
//                 misfire | dst_gap, with the record's detail and range
//   paused        ...unless the skip was a misfire and the job was paused at
//                 T: then (and for any T inside a pause) paused, between
//                 PauseRequested at paused_at and ResumeRequested at
//                 resumed_at (null: still paused)
//   before_start  T precedes the job: its submission, or start_at
//   after_end     the job had ended by T (completed, canceled, deleted, a
//                 one-off's success or death), T lies past end_at, max_runs
//                 was reached before T, or the job ended before the
//                 scheduler reached T's slot
//   not_yet       T is in the future (next_fire_at: the job's next fire)
//   not_a_slot    T is not a fire time of the schedule in force at T (the
//                 submitted spec with the JobUpdated events before T): the
//                 nearest fire times before and after it (previous_fire,
//                 next_fire), within the job's start and end_at
//   pending       T is a slot that is due, but the scheduler has not
//                 decided it yet (the schedule's cursor is before T)
//   unknown       T is a slot the schedule's cursor has passed, but no fire
//                 or skip covers it in job_logs (e.g. the job's schedule
//                 changed after T was decided)
// One-off jobs have one slot, at run_at (or the submission).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "events/envelope.h"
#include "events/time.h"

namespace jobsched::api {

// What the API loads for one question.
struct WhyFacts {
  TimePoint at;          // T, as asked (any precision)
  TimePoint now;         // the API's clock
  v1::JobState current;  // the job's projected state (jobs.fold_state)
  // The job's applied JobSubmitted, JobUpdated, PauseRequested,
  // ResumeRequested, CancelRequested, JobCanceled, JobCompleted,
  // JobSucceeded, JobDead and DeleteRequested, in log order.
  std::vector<events::Envelope> lifecycle;
  // Applied slot records near T, in any order: every RunDue and FireSkipped
  // whose scheduled_for lies in T's second, and the last scheduled fires
  // (RunDue attempt 1, not manual) or FireSkipped before that second (the
  // last two: a fire and a skip may share an instant).
  std::vector<events::Envelope> slots;
};

struct WhyVerdict {
  std::string verdict;  // see above
  std::string reason;   // one sentence for people, with the times involved
  std::string run_id;   // fired: attempt 1 of the fire's run; else ""
  std::string fire_id;  // fired, skipped (first slot of the record); else ""
  // Verdict-specific members: fired {scheduled_for, nominal_time}, skipped
  // {skip_reason, detail, from, to, count}, paused {paused_at, resumed_at},
  // before_start {start}, after_end {ended_at}, not_yet {next_fire_at,
  // is_slot}, not_a_slot {previous_fire, next_fire}, pending {cursor_at}.
  nlohmann::json details = nlohmann::json::object();
  std::vector<std::string> events;  // event ids of the records the verdict rests on
};

WhyVerdict ExplainWhy(const WhyFacts& facts);

// {"at", "verdict", "reason", "run_id"?, "fire_id"?, ...details, "events"}:
// `at` is T to the second (RFC 3339 UTC), run_id/fire_id only when set.
nlohmann::json RenderWhy(TimePoint at, const WhyVerdict& verdict);

}  // namespace jobsched::api
