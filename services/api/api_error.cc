#include "services/api/api_error.h"

#include <array>
#include <utility>

namespace jobsched::api {

int HttpStatusOf(std::string_view code) {
  static constexpr std::array<std::pair<std::string_view, int>, 32> kTable = {{
      {"invalid_json", 400},
      {"unknown_field", 400},
      {"missing_field", 400},
      {"invalid_field", 400},
      {"invalid_parameter", 400},
      {"invalid_job_id", 400},
      {"idempotency_key_conflict", 400},
      {"invalid_argument", 400},
      {"invalid_workflow", 400},  // a workflow's graph or size (workflow_spec.h)
      {"invalid_workflow_id", 400},
      {"unknown_dependency", 400},  // depends_on names a job that does not exist
      {"invalid_dependency", 400},  // ... one that cannot be a parent (recurring, full)
      {"not_found", 404},
      {"job_not_found", 404},
      {"workflow_not_found", 404},
      {"method_not_allowed", 405},
      {"request_timeout", 408},
      {"job_terminal", 409},
      {"job_not_recurring", 409},
      {"job_not_dead", 409},  // requeue of a job that is not DEAD
      {"conflict", 409},
      {"workflow_not_expanded", 409},  // cancel before the scheduler expanded it
      {"duplicate_idempotency_key", 409},
      {"last_event_id_expired", 410},  // a stream resumed from before retention (sse.h)
      {"payload_too_large", 413},
      {"kafka_unavailable", 503},
      {"append_unconfirmed", 503},
      {"database_unavailable", 503},
      {"overloaded", 503},
      {"shutting_down", 503},
      {"internal", 500},
      {"not_implemented", 501},  // a route whose handler is not wired in this build
  }};
  for (const auto& [name, status] : kTable) {
    if (name == code) return status;
  }
  return 500;
}

nlohmann::json ErrorBody(const ApiError& error) {
  nlohmann::json inner = {{"code", error.code}, {"message", error.message}};
  if (!error.field.empty()) inner["field"] = error.field;
  if (error.details.is_object()) {
    for (const auto& [key, value] : error.details.items()) inner[key] = value;
  }
  return {{"error", std::move(inner)}};
}

ApiError FromFieldError(FieldError error) {
  return {std::move(error.code), std::move(error.message), std::move(error.field)};
}

ApiError FromStatus(const Status& status, std::string_view unavailable_code) {
  std::string code;
  switch (status.code()) {
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
      code = unavailable_code;
      break;
    case ErrorCode::kInvalidArgument:
      code = "invalid_argument";
      break;
    case ErrorCode::kNotFound:
      code = "not_found";
      break;
    case ErrorCode::kConflict:
      code = "conflict";
      break;
    case ErrorCode::kOk:  // a caller bug; report it rather than pretend success
    case ErrorCode::kInternal:
      code = "internal";
      break;
  }
  return {std::move(code), status.message(), ""};
}

}  // namespace jobsched::api
