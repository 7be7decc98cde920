// The opaque pagination cursors of the API's lists: the sort key of the last
// row of a page as base64url (no padding), exact (times in UTC with
// microseconds, "2026-11-22T10:15:30.123456Z", as PostgreSQL stores them), so
// paging never skips or repeats a row:
//   GET /api/v1/jobs                    "<created_at>|<job_id>"
//   GET /api/v1/jobs/{id}/executions    "x|<due_at>|<attempt>|<run_id>"
//   GET /api/v1/jobs/{id}/logs          "log|<kafka_offset>"
//   GET /api/v1/dead-letters            "dead|<dead_at>|<job_id>"
//   GET /api/v1/workflows               "wf|<submitted_at>|<workflow_id>"
// Pure, thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace jobsched::api {

struct ListCursor {
  std::string created_at;  // "YYYY-MM-DDTHH:MM:SS.ffffffZ"
  std::string job_id;      // a UUID
  bool operator==(const ListCursor&) const = default;
};

std::string EncodeCursor(const ListCursor& cursor);
// nullopt unless `text` is a cursor EncodeCursor made (well-formed time and UUID).
std::optional<ListCursor> DecodeCursor(std::string_view text);

// Executions are listed newest first by (due_at, attempt, run_id).
struct ExecutionCursor {
  std::string due_at;  // "YYYY-MM-DDTHH:MM:SS.ffffffZ"
  int attempt = 0;     // >= 1
  std::string run_id;  // a UUID
  bool operator==(const ExecutionCursor&) const = default;
};

std::string EncodeExecutionCursor(const ExecutionCursor& cursor);
// nullopt unless `text` is a cursor EncodeExecutionCursor made.
std::optional<ExecutionCursor> DecodeExecutionCursor(std::string_view text);

// Logs are listed newest first by kafka_offset (a job's records share one partition).
std::string EncodeLogCursor(int64_t offset);
// nullopt unless `text` is a cursor EncodeLogCursor made (offset >= 0).
std::optional<int64_t> DecodeLogCursor(std::string_view text);

// Events (GET /jobs/{id}/events) are listed oldest first by kafka_offset; a
// log cursor is not an event cursor, nor the reverse.
std::string EncodeEventCursor(int64_t offset);
// nullopt unless `text` is a cursor EncodeEventCursor made (offset >= 0).
std::optional<int64_t> DecodeEventCursor(std::string_view text);

// Dead letters are listed newest first by (dead_at, job_id).
struct DeadLetterCursor {
  std::string dead_at;  // "YYYY-MM-DDTHH:MM:SS.ffffffZ"
  std::string job_id;   // a UUID
  bool operator==(const DeadLetterCursor&) const = default;
};

std::string EncodeDeadLetterCursor(const DeadLetterCursor& cursor);
// nullopt unless `text` is a cursor EncodeDeadLetterCursor made.
std::optional<DeadLetterCursor> DecodeDeadLetterCursor(std::string_view text);

// Workflows are listed newest first by (submitted_at, workflow_id).
struct WorkflowCursor {
  std::string submitted_at;  // "YYYY-MM-DDTHH:MM:SS.ffffffZ"
  std::string workflow_id;   // a UUID
  bool operator==(const WorkflowCursor&) const = default;
};

std::string EncodeWorkflowCursor(const WorkflowCursor& cursor);
// nullopt unless `text` is a cursor EncodeWorkflowCursor made.
std::optional<WorkflowCursor> DecodeWorkflowCursor(std::string_view text);

std::string Base64UrlEncode(std::string_view bytes);
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace jobsched::api
