// jobctl's REST commands without I/O: command-line arguments -> the API
// request (rest_client.h), and the API's JSON answer -> the concise human
// output. Pure and thread-compatible, so tests pin both directions.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "events/status.h"
#include "services/jobctl/rest_client.h"

namespace jobsched::jobctl {

// `jobctl submit`: the job as a JSON document (-f FILE, "-" for stdin) and/or
// flags for the common fields; a flag overrides the document's field.
struct SubmitArgs {
  std::optional<std::string> document;  // the text of the -f file
  std::string name;
  std::string type;             // http | echo | sleep | fail | workflow
  std::string url;              // http.url (type defaults to http)
  std::string cron;             // "schedule": a recurring job
  std::string timezone;         // with cron
  std::string run_at;           // RFC 3339
  std::string payload;          // JSON text
  std::string idempotency_key;  // sent as the Idempotency-Key header
  std::string pool;
  std::optional<int> priority;
  std::optional<int> max_retries;
  std::optional<int> timeout_seconds;
  std::vector<std::string> depends_on;
};
// POST /api/v1/jobs. kInvalidArgument when the document is not a JSON object,
// --payload is not JSON, or neither a document nor a field was given. The
// fields' values are the API's to check (it says what is wrong).
Result<ApiRequest> SubmitRequest(const SubmitArgs& args);

ApiRequest GetRequest(const std::string& job_id);

struct ListArgs {
  std::string status;  // a job status, "" = any
  std::optional<int> limit;
  std::string cursor;
};
ApiRequest ListRequest(const ListArgs& args);

ApiRequest CancelRequest(const std::string& job_id, bool cascade);

// POST /api/v1/jobs/{id}/{pause|resume|run}; an idempotency key ("" = none)
// makes a repeated command the same one.
ApiRequest CommandRequest(const std::string& job_id, const std::string& command,
                          const std::string& idempotency_key);

struct LogsArgs {
  std::string level;  // info | warn | error: the lowest shown
  std::string since;
  std::string until;
  std::string event_type;
  std::optional<int> limit;
  std::string cursor;
};
ApiRequest LogsRequest(const std::string& job_id, const LogsArgs& args);

struct PreviewArgs {
  std::string cron;
  std::string timezone;
  std::string from;
  std::optional<int> count;
  std::string dst_gap;
  std::string dst_overlap;
};
ApiRequest PreviewRequest(const PreviewArgs& args);

// "a b&c" -> "a%20b%26c": everything but RFC 3986's unreserved characters.
std::string PercentEncode(const std::string& text);

// What "jobctl: ..." says for an API error answer: the error's message (and
// the field at fault), or the status and the start of a body that is not the
// API's error JSON (e.g. from a proxy).
std::string ErrorMessage(long status, const std::string& body);

// Human output of each answer; every line ends with '\n'.
std::string FormatJob(const nlohmann::json& job);         // GET /jobs/{id}
std::string FormatJobList(const nlohmann::json& page);    // GET /jobs
std::string FormatLogs(const nlohmann::json& page);       // GET /jobs/{id}/logs
std::string FormatPreview(const nlohmann::json& answer);  // GET /schedules/preview
std::string FormatCancel(const nlohmann::json& answer);   // POST /jobs/{id}/cancel
std::string FormatCommand(const nlohmann::json& answer);  // pause, resume: "<id> PAUSED"
std::string FormatRun(const nlohmann::json& answer);      // run: the run and fire ids

}  // namespace jobsched::jobctl
