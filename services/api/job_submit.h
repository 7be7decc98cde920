// POST /api/v1/jobs as a pure command: the request's body, its
// Idempotency-Key header, the origin (who, when) and a source of fresh ids
// in; the JobSubmitted to append, or the 400 that rejects the request, out.
// No I/O: what needs the database (the key's existing job, depends_on's
// parents) and the log happens in the handler (job_handlers.cc).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "events/envelope.h"
#include "services/api/api_error.h"

namespace jobsched::api {

// The request body as JSON, or the invalid_json error that says where it breaks.
std::variant<nlohmann::json, ApiError> ParseJsonBody(std::string_view body);

// The Idempotency-Key header, when sent, must be 1 to kMaxIdempotencyKeyChars
// long (400 invalid_field, field "Idempotency-Key").
std::optional<ApiError> CheckIdempotencyKey(const std::optional<std::string>& header);

struct PlannedSubmission {
  events::Envelope event;  // JobSubmitted, keyed (and headed) by the new job's id
  bool keyed = false;      // the job id derives from an idempotency key
};

// Validates the body (ParseJobSpec at origin.occurred_at), merges the
// Idempotency-Key header into the spec (400 idempotency_key_conflict when it
// differs from the body's idempotency_key), and builds JobSubmitted: job id
// ids::JobIdForIdempotencyKey(key) when keyed, else new_job_id(); event id
// ids::EventId("JobSubmitted", job, "") (a JobSubmitted appended twice for
// one key is one job: the fold ignores the second); an embedded workflow
// must fit in one event. Errors in the order a client fixes them: JSON,
// spec, header, key conflict, size.
std::variant<PlannedSubmission, ApiError> PlanJobSubmission(
    std::string_view body, const std::optional<std::string>& idempotency_header,
    const events::Origin& origin, const std::function<std::string()>& new_job_id);

}  // namespace jobsched::api
