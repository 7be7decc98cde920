// Human-readable descriptions of events for the job_logs table.
// Pure: no I/O, no clock; the same event and fold result always give the same
// text, so a projection rebuilt from the log has identical rows.
#pragma once

#include <string>

#include "events/envelope.h"
#include "events/fold.h"

namespace jobsched::projections {

struct EventDescription {
  std::string level;    // "info" | "warn" | "error"
  std::string message;  // e.g. "run 1a2b3c4d attempt 2 failed: HTTP 500"
};

// Describes `event` given what the fold made of it. Rejected events are
// "warn" with "rejected: <reason>", except a result from a lease the run no
// longer holds: "late result from lease 1 ignored: the run was re-dispatched
// under lease 2 (run 1a2b3c4d attempt 1, RunSucceeded)". Failed runs, runs
// that end LOST, dispatcher timeouts and dead jobs are "error"; lost,
// handed-back and waiting runs "warn"; everything else is "info".
// `state_after`, the job's state after the fold (optional), adds the attempt
// number to run events and tells what a lost lease led to.
EventDescription Describe(const events::Envelope& event, const events::FoldResult& result,
                          const events::JobState* state_after = nullptr);

// The lower-case job type as stored in jobs.type: "http", "echo", "sleep",
// "fail", "workflow" ("unspecified" for JOB_TYPE_UNSPECIFIED).
std::string JobTypeName(v1::JobType type);

}  // namespace jobsched::projections
