// Errors of the HTTP API, and the one place that maps them to HTTP statuses.
// Every error response has the body
//   {"error": {"code": "...", "message": "...", "field": "..."}}
// ("field" only when one field is at fault, plus any `details` members).
// Pure, thread-compatible.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "events/status.h"
#include "services/api/job_spec.h"

namespace jobsched::api {

struct ApiError {
  std::string code;     // machine-readable, see HttpStatusOf
  std::string message;  // for people: what went wrong and what to do
  std::string field;    // dotted path of the offending field or query parameter, or ""
  // Extra members of the "error" object (e.g. {"status": "SUCCEEDED"} for
  // job_terminal). Must be an object.
  nlohmann::json details = nlohmann::json::object();

  bool operator==(const ApiError&) const = default;
};

// The HTTP status of an error code; unknown codes are 500:
//   400 invalid_json, unknown_field, missing_field, invalid_field,
//       invalid_parameter, invalid_job_id, idempotency_key_conflict, invalid_argument,
//       invalid_workflow, invalid_workflow_id, unknown_dependency, invalid_dependency
//   404 not_found, job_not_found, workflow_not_found        405 method_not_allowed
//   408 request_timeout (Pistache's header/body timeouts)
//   409 job_terminal, job_not_recurring, job_not_dead, conflict, duplicate_idempotency_key,
//       workflow_not_expanded
//   410 last_event_id_expired (sse.h)
//   413 payload_too_large
//   503 kafka_unavailable (nothing appended), append_unconfirmed (handed to
//       Kafka, not confirmed: may be stored), database_unavailable, overloaded,
//       shutting_down
//   500 internal
//   501 not_implemented (a route whose handler this build does not wire)
int HttpStatusOf(std::string_view code);

// {"error": {...}} for `error`.
nlohmann::json ErrorBody(const ApiError& error);

ApiError FromFieldError(FieldError error);

// Maps a dependency's Status: kUnavailable and kTimeout become
// `unavailable_code` ("kafka_unavailable" or "database_unavailable"), the
// other codes their generic counterparts (invalid_argument, not_found,
// conflict, internal). `status` must not be ok.
ApiError FromStatus(const Status& status, std::string_view unavailable_code);

}  // namespace jobsched::api
