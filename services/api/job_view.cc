#include "services/api/job_view.h"

#include "events/fold.h"
#include "services/api/job_spec.h"

namespace jobsched::api {
namespace {

using nlohmann::json;

json TimeOrNull(const google::protobuf::Timestamp& ts) {
  return IsSet(ts) ? json(FormatRfc3339(FromProto(ts))) : json(nullptr);
}

json TimeOrNull(const std::optional<TimePoint>& t) {
  return t ? json(FormatRfc3339(*t)) : json(nullptr);
}

json StringOrNull(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

template <typename T>
json OptionalOrNull(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

}  // namespace

json RenderJob(const v1::JobState& state) {
  const v1::JobSpec& spec = state.spec();
  json http = nullptr;
  if (spec.type() == v1::JOB_TYPE_HTTP) {
    json headers = json::object();
    for (const auto& [name, value] : spec.http().headers()) headers[name] = value;
    http = {{"url", spec.http().url()},
            {"method", spec.http().method()},
            {"headers", std::move(headers)},
            {"body", StringOrNull(spec.http().body())}};
  }
  json payload = nullptr;
  if (!spec.payload_json().empty()) {
    // Our own canonical JSON, so it parses; keep the text if it somehow does not.
    payload = json::parse(spec.payload_json(), nullptr, /*allow_exceptions=*/false);
    if (payload.is_discarded()) payload = spec.payload_json();
  }
  return {
      {"job_id", state.job_id()},
      {"name", spec.name()},
      {"type", JobTypeName(spec.type())},
      {"status", std::string(events::JobStatusName(state.status()))},
      {"priority", spec.priority()},
      {"max_retries", spec.max_retries()},
      {"attempts", state.attempt()},
      {"run_at", TimeOrNull(spec.run_at())},
      {"next_run_at", TimeOrNull(state.next_fire_at())},
      {"timeout_seconds", spec.timeout_seconds()},
      {"retry_policy",
       {{"strategy", RetryStrategyName(spec.retry_policy().strategy())},
        {"base_delay_ms", spec.retry_policy().base_delay_ms()},
        {"max_delay_ms", spec.retry_policy().max_delay_ms()}}},
      {"http", std::move(http)},
      {"payload", std::move(payload)},
      {"idempotency_key", StringOrNull(spec.idempotency_key())},
      {"cancel_requested", state.cancel_requested()},
      {"last_error", StringOrNull(state.last_error())},
      {"created_at", TimeOrNull(state.created_at())},
      {"updated_at", TimeOrNull(state.updated_at())},
  };
}

std::string ExecutionStatusName(std::string_view stored) {
  if (stored == "DUE" || stored == "DISPATCHED") return "QUEUED";
  return std::string(stored);
}

json RenderExecution(const ExecutionRow& row) {
  return {
      {"run_id", row.run_id},
      {"attempt", row.attempt},
      {"scheduled_for", TimeOrNull(row.scheduled_for)},
      {"started_at", TimeOrNull(row.started_at)},
      {"finished_at", TimeOrNull(row.finished_at)},
      {"status", ExecutionStatusName(row.status)},
      // 0 means "no HTTP call" (built-in handlers).
      {"http_status",
       row.http_status && *row.http_status != 0 ? json(*row.http_status) : json(nullptr)},
      {"duration_ms", OptionalOrNull(row.duration_ms)},
      {"error", row.error && !row.error->empty() ? json(*row.error) : json(nullptr)},
      {"executor_id",
       row.executor_id && !row.executor_id->empty() ? json(*row.executor_id) : json(nullptr)},
  };
}

}  // namespace jobsched::api
