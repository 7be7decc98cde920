// Validation of a workflow: the JSON of POST /api/v1/workflows (and the
// `workflow` member of a JOB_TYPE_WORKFLOW job, its trigger) becomes a
// v1::WorkflowSpec whose graph is known to be sound, or the FieldError that
// says what to fix. Also the `depends_on` of POST /api/v1/jobs. Pure (no I/O,
// no clock reads: `now` is passed in), thread-compatible.
//
// A workflow is accepted whole or not at all: the API appends it as ONE
// WorkflowSubmitted event, so every check happens here, before anything is
// appended, and the scheduler that expands it never meets a bad graph.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "events/envelope.h"
#include "events/time.h"
#include "services/api/job_spec.h"

namespace jobsched::api {

// Sizes of a workflow (documented in the README). The issue asks for at
// least 1,000 jobs per workflow and 1,000 edges per job.
inline constexpr size_t kMaxWorkflowJobs = 2'000;
// Parents of one job: depends_on of a workflow job (keys) or of POST /jobs (ids).
inline constexpr size_t kMaxDependsOn = 1'000;
// Children of one job (the fold keeps them in the parent's state).
inline constexpr size_t kMaxDependents = 1'000;
// The encoded event that carries a workflow (WorkflowSubmitted, or a
// trigger's JobSubmitted): below Kafka's default 1 MB message limit, with room
// for the headers the scheduler adds when a trigger fires.
inline constexpr size_t kMaxWorkflowEventBytes = 900'000;
inline constexpr size_t kMaxWorkflowKeyChars = 100;  // [A-Za-z0-9_.-]{1,100}

// FieldError.code of a workflow whose graph or size is refused (400): a
// duplicate or unknown key, a self edge, a cycle, a limit passed.
inline constexpr std::string_view kInvalidWorkflow = "invalid_workflow";

// Validates `body` = {name, jobs: [{key, <job fields>, depends_on: [key]}]}.
// `path` is where the object sits in the request ("" for POST /workflows,
// "workflow" in a trigger job), so fields read "jobs[2].http.url" or
// "workflow.jobs[2].http.url". Each job's fields are those of POST /jobs,
// parsed by ParseJobSpec (same defaults, codes and messages, the message
// prefixed with the job's key), except: no schedule (nor its fields), no
// idempotency_key, no type "workflow", and depends_on names keys of this
// workflow. A job without a name is named after its key. Then
// CheckWorkflowGraph. Returns the first error found.
std::variant<v1::WorkflowSpec, FieldError> ParseWorkflow(const nlohmann::json& body, TimePoint now,
                                                         std::string_view path = "");

// The graph checks on a parsed spec, each an invalid_workflow error naming
// the offending key(s): no job, more than kMaxWorkflowJobs, a duplicate key,
// a depends_on entry that is unknown, the job itself or listed twice, more
// than kMaxDependsOn parents or kMaxDependents children of a job, and a
// cycle: "cycle: extract -> transform -> load -> extract" (the keys in edge
// order, parent before child, starting from the job listed first, that key
// repeated at the end). Iterative: a 2,000-deep chain needs no deep stack.
std::optional<FieldError> CheckWorkflowGraph(const v1::WorkflowSpec& spec,
                                             std::string_view path = "");

// invalid_workflow when the encoded `event` (it carries a workflow) passes
// kMaxWorkflowEventBytes: "split the workflow".
std::optional<FieldError> CheckWorkflowEventSize(const events::Envelope& event,
                                                 std::string_view path = "");

// POST /api/v1/jobs `depends_on`: an array of at most kMaxDependsOn distinct
// job ids (UUIDs, stored in lower case) into spec->depends_on. `value` null
// or absent: none. Whether the jobs exist is the caller's question.
std::optional<FieldError> ParseDependsOn(const nlohmann::json* value, v1::JobSpec* spec);

// The request body ParseWorkflow turns back into `spec` (SpecToBody for each
// job, with its key and depends_on): a PATCH of a trigger job re-validates
// its spec through it.
nlohmann::json WorkflowToBody(const v1::WorkflowSpec& spec);

// The workflow id an Idempotency-Key names (POST /workflows): the same key,
// the same workflow. Distinct from the job id the same key names.
std::string WorkflowIdForIdempotencyKey(std::string_view key);

}  // namespace jobsched::api
