// Validation of a job submission: the JSON body of POST /api/v1/jobs becomes
// a v1::JobSpec with every default filled in, or the first FieldError found.
// Pure (no I/O, no clock reads: `now` is passed in), thread-compatible.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
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
inline constexpr int kMaxRetries = 100;             // attempts = max_retries + 1
inline constexpr int64_t kMaxDelayMs = 86'400'000;  // retry_policy.max_delay_ms cap (1 day)
inline constexpr auto kMaxRunAtAhead = std::chrono::days(365);
inline constexpr size_t kMaxResources = 16;          // names in `resources`
inline constexpr size_t kMaxResourceNameChars = 40;  // [a-z][a-z0-9_]{0,39}
inline constexpr size_t kMaxPoolChars = 63;          // [a-z0-9][a-z0-9_.-]{0,62}
inline constexpr std::string_view kDefaultPool = "default";

// How ParseJobSpec checks fields against `now`.
struct SpecParseOptions {
  // end_at must lie after `now`. A submission always checks it; an update
  // (job_update.h) re-validates the merged spec and checks it only when the
  // update gives end_at, so a job whose end_at just passed can still be edited.
  bool check_end_at_future = true;
};

// Validates `body` and returns the spec with defaults applied:
//   type http when `http` is given (else required), name derived when absent
//   (DefaultJobName), priority 5, max_retries 3, timeout_seconds 300,
//   http.method POST, retry_policy {exponential, base 1000 ms, max
//   max(60000, base) ms}, pool "default", execution_type AT_LEAST_ONCE.
// resources: at most kMaxResources names ([a-z][a-z0-9_]{0,39}: "cpu",
// "memory_mb", any custom one such as "gpu_units") to non-negative numbers;
// pool: [a-z0-9][a-z0-9_.-]{0,62}; execution_type: "at_least_once" |
// "at_most_once". A bad resource names its entry ("resources.gpu_units").
// A run_at in the past becomes `now`; an absent run_at stays unset (run now).
// payload_json is nlohmann's compact dump (object keys sorted).
// Recurring jobs: `schedule` (cron text, events/cron.h, or "@every 90s") makes
// the job recurring, with timezone (IANA, default "UTC"), dst_gap and
// dst_overlap (default auto), start_at, end_at (after start_at and after
// `now`), max_runs (>= 1; absent = unlimited), concurrency_policy (default
// forbid) and misfire_policy (default fire_once), all validated by the
// schedule engine anchored at start_at, else `now` (schedule_spec.h). run_at
// with schedule, or a schedule field without schedule, is invalid_field.
// depends_on: parent job ids (ParseDependsOn, workflow_spec.h), one-off jobs
// only. type "workflow" (a trigger) requires `workflow`, parsed by
// ParseWorkflow with fields under "workflow."; `workflow` on another type and
// `payload` on a trigger are invalid_field.
// Returns the first error in a fixed field order, unknown fields first. Never
// throws for any JSON value.
std::variant<v1::JobSpec, FieldError> ParseJobSpec(const nlohmann::json& body, TimePoint now,
                                                   const SpecParseOptions& options = {});

// The name of a job submitted without one: "<METHOD> <url>" for http jobs
// ("POST https://example.com/hook"), "workflow <its name>" for a trigger,
// else the type ("echo"); at most
// kMaxNameChars characters.
std::string DefaultJobName(const v1::JobSpec& spec);

// "http", "echo", "sleep", "fail", "workflow"; "" for JOB_TYPE_UNSPECIFIED.
std::string JobTypeName(v1::JobType type);
// "at_least_once" (also for EXECUTION_TYPE_UNSPECIFIED) or "at_most_once".
std::string ExecutionTypeName(v1::ExecutionType type);
// The job's pool: "default" when the spec leaves it empty.
std::string_view PoolOf(const v1::JobSpec& spec);
// "fixed", "exponential", "jitter"; "" for RETRY_STRATEGY_UNSPECIFIED.
std::string RetryStrategyName(v1::RetryStrategy strategy);

// unknown_field for the first member of object `obj` not in `allowed`, with
// a "did you mean" hint and the allowed names; `prefix` is the dotted path of
// `obj` ("" at the top, "http." inside http).
std::optional<FieldError> CheckKnownFields(const nlohmann::json& obj,
                                           std::span<const std::string_view> allowed,
                                           const std::string& prefix);

// A short JSON rendering of a client-supplied value for error messages
// (truncated to about 60 characters, invalid UTF-8 replaced).
std::string DescribeValue(const nlohmann::json& value);

}  // namespace jobsched::api
