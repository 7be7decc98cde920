// Identifiers. Every event id is derived from what caused the event, so a
// service that redoes a step after a crash produces the same id and every fold
// recognises the redo as a duplicate.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include "events/time.h"

namespace jobsched {

// A UUID-formatted id (version 8, RFC 9562) from SHA-256 over the parts,
// length-prefixed so ("ab","c") != ("a","bc"). Pure and stable across releases:
// changing it would break de-duplication of events written by older versions.
std::string DeterministicId(std::initializer_list<std::string_view> parts);

// A random UUID v4, for ids that nothing else determines (a new job without an
// idempotency key, an executor instance).
std::string RandomId();

// Ids the services derive. Each names its inputs so callers cannot mix them up.
namespace ids {
std::string JobIdForIdempotencyKey(std::string_view key);
// A slot of a recurring schedule: the nominal local time it names
// ("2026-03-08T02:30:00") and its occurrence (2 for the second instant of a
// repeated local time). Stable across restarts and time-zone data updates.
std::string FireId(std::string_view job_id, std::string_view nominal_time, int occurrence);
// The only fire of a one-off job.
std::string OnceFireId(std::string_view job_id);
// A manual run (RunRequested), from the id of the event that asked for it.
std::string ManualFireId(std::string_view job_id, std::string_view request_event_id);
// Attempt `attempt` (1-based) of a fire's run.
std::string RunId(std::string_view job_id, std::string_view fire_id, int attempt);
// A job of a workflow run: stable, so a repeated expansion is a no-op.
std::string WorkflowJobId(std::string_view workflow_id, std::string_view key);
// The workflow run a fire of a JOB_TYPE_WORKFLOW job starts.
std::string WorkflowRunId(std::string_view trigger_job_id, std::string_view fire_id);
// The id of an event that is the unique consequence of `cause` within a job:
// e.g. EventId("RunDue", job_id, run_id).
std::string EventId(std::string_view event_type, std::string_view job_id, std::string_view cause);
}  // namespace ids

bool LooksLikeUuid(std::string_view s);

}  // namespace jobsched
