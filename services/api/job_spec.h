// Validation of a job submission: the JSON body of POST /api/v1/jobs becomes
// a v1::JobSpec with every default filled in, or the first FieldError found.
// Pure (no I/O, no clock reads: `now` is passed in), thread-compatible.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "events/time.h"
#include "jobsched/v1/events.pb.h"

namespace jobsched::api {

// What is wrong with one field of a request, in terms a client can act on.
struct FieldError {
  // Machine-readable: "invalid_json" (the body is not a JSON object),
  // "unknown_field", "missing_field", "invalid_field", "payload_too_large".
  std::string code;
  // Says what to fix: `must be an integer from 1 to 3600000, got "abc"`.
  std::string message;
  // Dotted path of the offending field ("retry_policy.base_delay_ms"); "" when
  // the error concerns the whole body.
  std::string field;

  bool operator==(const FieldError&) const = default;
};

// Limits of a submission, exposed for tests and documentation.
inline constexpr size_t kMaxNameChars = 200;
inline constexpr size_t kMaxIdempotencyKeyChars = 200;
inline constexpr size_t kMaxUrlBytes = 2048;
inline constexpr size_t kMaxPayloadBytes = 1 << 20;  // serialized JSON
inline constexpr int64_t kMaxSleepMs = 3'600'000;
inline constexpr int64_t kMaxDelayMs = 86'400'000;  // retry_policy.max_delay_ms cap (1 day)
inline constexpr auto kMaxRunAtAhead = std::chrono::days(365);

// Validates `body` and returns the spec with defaults applied:
//   priority 5, max_retries 3, timeout_seconds 300, http.method POST,
//   retry_policy {exponential, base 1000 ms, max max(60000, base) ms}.
// A run_at in the past becomes `now`; an absent run_at stays unset (run now).
// payload_json is nlohmann's compact dump (object keys sorted). Returns the
// first error in a fixed field order, unknown fields first. Never throws for
// any JSON value.
std::variant<v1::JobSpec, FieldError> ParseJobSpec(const nlohmann::json& body, TimePoint now);

// "http", "echo", "sleep", "fail"; "" for JOB_TYPE_UNSPECIFIED.
std::string JobTypeName(v1::JobType type);
// "fixed", "exponential", "jitter"; "" for RETRY_STRATEGY_UNSPECIFIED.
std::string RetryStrategyName(v1::RetryStrategy strategy);

// A short JSON rendering of a client-supplied value for error messages
// (truncated to about 60 characters, invalid UTF-8 replaced).
std::string DescribeValue(const nlohmann::json& value);

}  // namespace jobsched::api
