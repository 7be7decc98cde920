#include "services/api/job_view.h"

#include <cmath>

#include "events/fold.h"
#include "services/api/job_spec.h"
#include "services/api/schedule_spec.h"

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

json RenderSchedule(const v1::ScheduleSpec& s) {
  return {{"cron", s.cron()},
          {"timezone", s.timezone().empty() ? "UTC" : s.timezone()},
          {"dst_gap", DstGapName(s.dst_gap())},
          {"dst_overlap", DstOverlapName(s.dst_overlap())},
          {"start_at", TimeOrNull(s.start_at())},
          {"end_at", TimeOrNull(s.end_at())},
          {"max_runs", s.max_runs() > 0 ? json(s.max_runs()) : json(nullptr)},
          {"concurrency_policy", ConcurrencyPolicyName(s.concurrency_policy())},
          {"misfire_policy", MisfirePolicyName(s.misfire_policy())}};
}

// Integral amounts render as integers ({"cpu": 2}, not 2.0).
json Amount(double v) {
  if (v == std::floor(v) && std::fabs(v) < 9e15) return json(static_cast<int64_t>(v));
  return json(v);
}

json RenderResources(const google::protobuf::Map<std::string, double>& resources) {
  json out = json::object();
  for (const auto& [name, amount] : resources) out[name] = Amount(amount);
  return out;
}

// Why the job's queued run is not dispatched (RunWaiting), or null: the first
// run waiting with a reason (a one-off job has one run).
json QueueReason(const v1::JobState& state) {
  if (events::IsTerminal(state.status())) return nullptr;
  for (const v1::RunRecord& run : state.runs()) {
    if (run.status() == v1::RUN_STATUS_DUE && !run.wait_reason().empty()) {
      return run.wait_reason();
    }
  }
  return nullptr;
}

// The lease of the current run while an executor holds it, or null.
json Lease(const v1::JobState& state) {
  const v1::RunRecord* run = events::CurrentRun(state);
  if (run == nullptr || events::IsTerminal(state.status()) ||
      (run->status() != v1::RUN_STATUS_DISPATCHED && run->status() != v1::RUN_STATUS_RUNNING)) {
    return nullptr;
  }
  return {{"run_id", run->run_id()},
          {"epoch", run->lease_epoch()},
          {"executor_id", StringOrNull(run->executor_id())},
          {"executor_incarnation", StringOrNull(run->executor_incarnation())},
          {"dispatched_at", TimeOrNull(run->dispatched_at())}};
}

json RenderPercentiles(const Percentiles& p) {
  return {{"p50", OptionalOrNull(p.p50)},
          {"p99", OptionalOrNull(p.p99)},
          {"max", OptionalOrNull(p.max)}};
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
  const bool recurring = events::IsRecurring(state);
  json view = {
      {"job_id", state.job_id()},
      {"name", spec.name()},
      {"type", JobTypeName(spec.type())},
      {"status", std::string(events::JobStatusName(state.status()))},
      {"recurring", recurring},
      {"priority", spec.priority()},
      {"max_retries", spec.max_retries()},
      {"attempts", state.attempt()},
      {"run_at", TimeOrNull(spec.run_at())},
      {"next_run_at", TimeOrNull(state.next_fire_at())},
      {"next_fire_at", TimeOrNull(state.next_fire_at())},
      {"timeout_seconds", spec.timeout_seconds()},
      {"resources", RenderResources(spec.resources())},
      {"pool", std::string(PoolOf(spec))},
      {"execution_type", ExecutionTypeName(spec.execution_type())},
      {"queue_reason", QueueReason(state)},
      {"lease", Lease(state)},
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
      {"depends_on",
       json(std::vector<std::string>(spec.depends_on().begin(), spec.depends_on().end()))},
      {"workflow_id", StringOrNull(spec.workflow_id())},
      {"workflow_key", StringOrNull(spec.workflow_key())},
  };
  if (spec.type() == v1::JOB_TYPE_WORKFLOW) {
    // The template's outline; its runs are listed by GET /workflows?trigger_job_id=.
    view["workflow"] = {{"name", spec.workflow().name()}, {"jobs", spec.workflow().jobs_size()}};
  }
  if (!recurring) return view;
  const v1::RunSummary& sum = state.summary();
  view["schedule"] = RenderSchedule(spec.schedule());
  view["last_fire_at"] =
      state.cursor().fire_id().empty() ? json(nullptr) : TimeOrNull(state.cursor().at());
  view["runs_in_flight"] = state.runs_size();
  view["paused_at"] = TimeOrNull(state.paused_at());
  view["end_reason"] = StringOrNull(state.end_reason());
  view["counts"] = {{"fires", sum.fires()},         {"manual_runs", sum.manual_fires()},
                    {"succeeded", sum.succeeded()}, {"failed", sum.failed()},
                    {"canceled", sum.canceled()},   {"skipped", sum.skipped()}};
  return view;
}

std::string ExecutionStatusName(std::string_view stored) {
  if (stored == "DUE" || stored == "DISPATCHED") return "QUEUED";
  return std::string(stored);
}

json RenderExecution(const ExecutionRow& row) {
  return {
      {"run_id", row.run_id},
      {"fire_id", OptionalOrNull(row.fire_id)},
      {"attempt", row.attempt},
      {"kind", OptionalOrNull(row.kind)},
      {"nominal_time",
       row.nominal_time && !row.nominal_time->empty() ? json(*row.nominal_time) : json(nullptr)},
      {"scheduled_for", TimeOrNull(row.scheduled_for)},
      {"started_at", TimeOrNull(row.started_at)},
      {"finished_at", TimeOrNull(row.finished_at)},
      {"status", ExecutionStatusName(row.status)},
      // 0 means "no HTTP call" (built-in handlers).
      {"http_status",
       row.http_status && *row.http_status != 0 ? json(*row.http_status) : json(nullptr)},
      {"duration_ms", OptionalOrNull(row.duration_ms)},
      {"drift_ms", OptionalOrNull(row.drift_ms)},
      {"error", row.error && !row.error->empty() ? json(*row.error) : json(nullptr)},
      {"executor_id",
       row.executor_id && !row.executor_id->empty() ? json(*row.executor_id) : json(nullptr)},
      {"lease_epoch", row.lease_epoch > 0 ? json(row.lease_epoch) : json(nullptr)},
      {"releases", row.releases},
      {"permanent", row.permanent},
      {"retry_after_ms", row.retry_after_ms > 0 ? json(row.retry_after_ms) : json(nullptr)},
      {"queue_reason",
       row.wait_reason && !row.wait_reason->empty() ? json(*row.wait_reason) : json(nullptr)},
  };
}

json RenderStats(const v1::JobState& state, const StatsWindow& window) {
  const v1::RunSummary& sum = state.summary();
  const int64_t decided = sum.succeeded() + sum.failed();
  return {
      {"job_id", state.job_id()},
      {"runs", sum.succeeded() + sum.failed() + sum.canceled()},
      {"succeeded", sum.succeeded()},
      {"failed", sum.failed()},
      {"canceled", sum.canceled()},
      {"skipped", sum.skipped()},
      {"success_rate",
       decided > 0 ? json(static_cast<double>(sum.succeeded()) / static_cast<double>(decided))
                   : json(nullptr)},
      {"duration_ms", RenderPercentiles(window.duration_ms)},
      {"drift_ms", RenderPercentiles(window.drift_ms)},
      {"window", window.attempts},
  };
}

json RenderLog(const LogRow& row) {
  return {{"ts", FormatRfc3339(row.ts)},
          {"level", row.level},
          {"event_type", row.event_type},
          {"outcome", row.outcome},
          {"message", row.message},
          {"event_id", row.event_id},
          {"run_id", OptionalOrNull(row.run_id)},
          {"offset", row.offset}};
}

}  // namespace jobsched::api
