#include "services/api/job_commands.h"

#include <nlohmann/json.hpp>

#include "events/fold.h"
#include "events/ids.h"

namespace jobsched::api {
namespace {

constexpr char kApiReason[] = "requested through the API";

std::string_view EventTypeOf(Command command) {
  switch (command) {
    case Command::kPause:
      return "PauseRequested";
    case Command::kResume:
      return "ResumeRequested";
    case Command::kRunNow:
      return "RunRequested";
    case Command::kDelete:
      return "DeleteRequested";
  }
  return "";
}

std::string RequestEventId(std::string_view event_type, std::string_view job_id,
                           const std::optional<std::string>& idempotency_key) {
  if (!idempotency_key) return RandomId();
  return ids::EventId(event_type, job_id, "Idempotency-Key:" + *idempotency_key);
}

}  // namespace

std::string CommandEventId(Command command, std::string_view job_id,
                           const std::optional<std::string>& idempotency_key) {
  if (command == Command::kDelete) return ids::EventId("DeleteRequested", job_id, "");
  return RequestEventId(EventTypeOf(command), job_id, idempotency_key);
}

std::string UpdateEventId(std::string_view job_id,
                          const std::optional<std::string>& idempotency_key) {
  return RequestEventId("JobUpdated", job_id, idempotency_key);
}

events::Envelope MakeCommand(Command command, const std::string& job_id, std::string event_id,
                             const events::Origin& origin) {
  events::Envelope e = events::MakeEnvelope(std::move(event_id), job_id, origin);
  switch (command) {
    case Command::kPause:
      e.mutable_pause_requested()->set_reason(kApiReason);
      break;
    case Command::kResume:
      e.mutable_resume_requested()->set_reason(kApiReason);
      break;
    case Command::kRunNow: {
      std::string fire_id = ids::ManualFireId(job_id, e.event_id());
      e.mutable_run_requested()->set_run_id(ids::RunId(job_id, fire_id, 1));
      e.mutable_run_requested()->set_fire_id(std::move(fire_id));
      break;
    }
    case Command::kDelete:
      e.mutable_delete_requested()->set_reason(kApiReason);
      break;
  }
  return e;
}

events::Envelope MakeUpdate(const std::string& job_id, std::string event_id,
                            const events::Origin& origin, JobUpdate update) {
  events::Envelope e = events::MakeEnvelope(std::move(event_id), job_id, origin);
  v1::JobUpdated* u = e.mutable_job_updated();
  *u->mutable_spec() = std::move(update.spec);
  for (std::string& field : update.changed) u->add_changed(std::move(field));
  return e;
}

std::variant<v1::JobState, ApiError> CheckCommand(const v1::JobState& state,
                                                  const events::Envelope& event,
                                                  bool recurring_only) {
  v1::JobState after = state;
  events::FoldResult result = events::Apply(after, event);
  if (result.outcome != events::Outcome::kRejected) return after;
  const std::string status(events::JobStatusName(state.status()));
  std::string code = "conflict";
  if (recurring_only && !events::IsRecurring(state)) {
    code = "job_not_recurring";
  } else if (events::IsTerminal(state.status())) {
    code = "job_terminal";
  }
  return ApiError{std::move(code),
                  "job " + state.job_id() + " is " + status +
                      (events::IsRecurring(state) ? "" : " (a one-off job)") + ": " + result.reason,
                  "", nlohmann::json{{"status", status}}};
}

}  // namespace jobsched::api
