#include "services/api/job_submit.h"

#include <utility>

#include "events/ids.h"
#include "services/api/job_spec.h"
#include "services/api/workflow_spec.h"

namespace jobsched::api {

using nlohmann::json;

std::variant<json, ApiError> ParseJsonBody(std::string_view body) {
  try {
    return json::parse(body);
  } catch (const json::parse_error& e) {
    // e.what() reads "[json.exception.parse_error.101] parse error at line 1, column 5: ..."
    std::string what = e.what();
    if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    return ApiError{
        "invalid_json",
        "the request body is not valid JSON (byte " + std::to_string(e.byte) + "): " + what, ""};
  }
}

std::optional<ApiError> CheckIdempotencyKey(const std::optional<std::string>& header) {
  if (!header) return std::nullopt;
  if (!header->empty() && header->size() <= kMaxIdempotencyKeyChars) return std::nullopt;
  return ApiError{"invalid_field",
                  "the Idempotency-Key header must be 1 to " +
                      std::to_string(kMaxIdempotencyKeyChars) + " characters",
                  "Idempotency-Key"};
}

std::variant<PlannedSubmission, ApiError> PlanJobSubmission(
    std::string_view body, const std::optional<std::string>& idempotency_header,
    const events::Origin& origin, const std::function<std::string()>& new_job_id) {
  auto parsed_body = ParseJsonBody(body);
  if (auto* error = std::get_if<ApiError>(&parsed_body)) return std::move(*error);
  auto parsed = ParseJobSpec(std::get<json>(parsed_body), origin.occurred_at);
  if (auto* error = std::get_if<FieldError>(&parsed)) return FromFieldError(std::move(*error));
  v1::JobSpec spec = std::move(std::get<v1::JobSpec>(parsed));

  if (auto error = CheckIdempotencyKey(idempotency_header)) return std::move(*error);
  if (idempotency_header) {
    const std::string& key = *idempotency_header;
    if (!spec.idempotency_key().empty() && spec.idempotency_key() != key) {
      return ApiError{"idempotency_key_conflict",
                      "the Idempotency-Key header and the body's idempotency_key differ; send "
                      "one, or the same value in both",
                      "idempotency_key"};
    }
    spec.set_idempotency_key(key);
  }
  PlannedSubmission plan;
  plan.keyed = !spec.idempotency_key().empty();
  const std::string job_id =
      plan.keyed ? ids::JobIdForIdempotencyKey(spec.idempotency_key()) : new_job_id();
  plan.event = events::MakeEnvelope(ids::EventId("JobSubmitted", job_id, ""), job_id, origin);
  *plan.event.mutable_job_submitted()->mutable_spec() = std::move(spec);
  if (plan.event.job_submitted().spec().has_workflow()) {
    if (auto error = CheckWorkflowEventSize(plan.event, "workflow")) {
      return FromFieldError(std::move(*error));
    }
  }
  return plan;
}

}  // namespace jobsched::api
