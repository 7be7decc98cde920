// The commands the API appends for an existing job (pause, resume, run now,
// update, delete): their events and event ids, and the check of an event
// against the fold before it is appended, so a request the fold would reject
// is answered 409 and appends nothing. Pure, thread-compatible.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "events/envelope.h"
#include "services/api/api_error.h"
#include "services/api/job_update.h"

namespace jobsched::api {

enum class Command {
  kPause,   // PauseRequested
  kResume,  // ResumeRequested
  kRunNow,  // RunRequested
  kDelete,  // DeleteRequested
};

// The event id of a command. With the client's Idempotency-Key it is derived
// from (event type, job, key), so a retried request appends the same event
// (and, for a run, the same fire and run ids) and the fold recognises the
// repeat; without a key it is random: every request is a new command. A
// delete happens once per job: its id is derived from the job alone.
std::string CommandEventId(Command command, std::string_view job_id,
                           const std::optional<std::string>& idempotency_key);
// The same for JobUpdated.
std::string UpdateEventId(std::string_view job_id,
                          const std::optional<std::string>& idempotency_key);

// The command's envelope; a run's fire_id = ids::ManualFireId(job, event_id)
// and run_id = ids::RunId(job, fire_id, 1).
events::Envelope MakeCommand(Command command, const std::string& job_id, std::string event_id,
                             const events::Origin& origin);
// JobUpdated with the update's whole spec and changed fields.
events::Envelope MakeUpdate(const std::string& job_id, std::string event_id,
                            const events::Origin& origin, JobUpdate update);

// Applies `event` to a copy of `state` with the fold. Applied, or a
// duplicate (an idempotent repeat, e.g. pausing a PAUSED job): the state
// after it. Rejected: a 409 ApiError whose message has the fold's reason and
// whose details have the job's status: job_not_recurring for a
// recurring-only command on a one-off job, job_terminal for a job that has
// ended, conflict otherwise (e.g. 10 manual runs already waiting).
std::variant<v1::JobState, ApiError> CheckCommand(const v1::JobState& state,
                                                  const events::Envelope& event,
                                                  bool recurring_only);

}  // namespace jobsched::api
