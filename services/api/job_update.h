// PATCH /api/v1/jobs/{id}: which fields a client may change, and how a change
// is validated: exactly like a submission. Pure (no I/O, no clock: `now` is
// passed in), thread-compatible.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "events/time.h"
#include "jobsched/v1/events.pb.h"
#include "services/api/job_spec.h"

namespace jobsched::api {

// The fields an update may name (API field names, as JobUpdated.changed
// lists them, in this order). The schedule's fields need a recurring job.
inline constexpr std::array<std::string_view, 18> kUpdatableFields = {"name",
                                                                      "http",
                                                                      "payload",
                                                                      "priority",
                                                                      "max_retries",
                                                                      "retry_policy",
                                                                      "timeout_seconds",
                                                                      "resources",
                                                                      "pool",
                                                                      "execution_type",
                                                                      "schedule",
                                                                      "timezone",
                                                                      "dst_gap",
                                                                      "dst_overlap",
                                                                      "end_at",
                                                                      "max_runs",
                                                                      "concurrency_policy",
                                                                      "misfire_policy"};

// Fields of a submission that no update can change.
inline constexpr std::array<std::string_view, 6> kImmutableFields = {
    "type", "run_at", "start_at", "idempotency_key", "depends_on", "workflow"};

// A validated update: JobUpdated's content.
struct JobUpdate {
  v1::JobSpec spec;                  // the whole spec after the change
  std::vector<std::string> changed;  // the fields given, in kUpdatableFields order
};

// Checks what can be checked without the job: `patch` is a JSON object that
// names at least one field, each updatable. Errors: invalid_json (not an
// object), missing_field (no field), invalid_field (a field that cannot
// change, or "schedule": null: a recurring job stays recurring),
// unknown_field (anything else, with a "did you mean" hint).
std::optional<FieldError> CheckUpdateShape(const nlohmann::json& patch);

// Validates `patch` against the job's `current` spec. The submission body
// `current` amounts to (SpecToBody), with the patch's members laid over it
// (null: back to the default, e.g. "end_at": null removes the end), goes
// through ParseJobSpec, so every error is the one a submission would get;
// end_at must lie after `now` only when the patch gives it. The result is
// `current` with the named fields taken from the parsed spec by the fold's
// own events::ApplySpecChange. A schedule field on a one-off job is job_not_recurring (409).
std::variant<JobUpdate, FieldError> ParseJobUpdate(const nlohmann::json& patch,
                                                   const v1::JobSpec& current, TimePoint now);

// The submission body ParseJobSpec turns back into `spec`, without run_at,
// idempotency_key and depends_on (no update changes them); a trigger's
// workflow is included (WorkflowToBody), as ParseJobSpec requires it; unset
// values are left out.
nlohmann::json SpecToBody(const v1::JobSpec& spec);

}  // namespace jobsched::api
