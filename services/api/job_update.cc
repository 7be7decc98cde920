#include "services/api/job_update.h"

#include <algorithm>

#include "events/fold.h"
#include "services/api/schedule_spec.h"
#include "services/api/workflow_spec.h"

namespace jobsched::api {
namespace {

using nlohmann::json;

std::string UpdatableList() {
  std::string out;
  for (std::string_view f : kUpdatableFields) out += (out.empty() ? "" : ", ") + std::string(f);
  return out;
}

}  // namespace

std::optional<FieldError> CheckUpdateShape(const json& patch) {
  if (!patch.is_object()) {
    return FieldError{"invalid_json",
                      "the request body must be a JSON object of the fields to change, got " +
                          std::string(patch.type_name()),
                      ""};
  }
  if (patch.empty()) {
    return FieldError{
        "missing_field",
        "the request body names no field to change; send one or more of " + UpdatableList(), ""};
  }
  for (const auto& [key, value] : patch.items()) {
    if (std::find(kImmutableFields.begin(), kImmutableFields.end(), key) !=
        kImmutableFields.end()) {
      return FieldError{"invalid_field",
                        "cannot be changed after submission; fields that can: " + UpdatableList(),
                        key};
    }
  }
  if (auto it = patch.find("schedule"); it != patch.end() && it->is_null()) {
    return FieldError{"invalid_field",
                      "cannot be removed: a recurring job stays recurring (delete it instead)",
                      "schedule"};
  }
  return CheckKnownFields(patch, kUpdatableFields, "");
}

std::variant<JobUpdate, FieldError> ParseJobUpdate(const json& patch, const v1::JobSpec& current,
                                                   TimePoint now) {
  if (auto error = CheckUpdateShape(patch)) return *error;
  JobUpdate update;
  for (std::string_view field : kUpdatableFields) {
    if (!patch.contains(field)) continue;
    if (events::IsScheduleField(field) && !current.has_schedule()) {
      return FieldError{"job_not_recurring",
                        "is a setting of recurring jobs; this job is a one-off job (an update "
                        "cannot add a schedule: submit a recurring job instead)",
                        std::string(field)};
    }
    update.changed.emplace_back(field);
  }
  json body = SpecToBody(current);
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      body.erase(key);
    } else {
      body[key] = value;
    }
  }
  SpecParseOptions options;
  options.check_end_at_future = patch.contains("end_at");
  auto parsed = ParseJobSpec(body, now, options);
  if (auto* error = std::get_if<FieldError>(&parsed)) return std::move(*error);
  const v1::JobSpec& from = std::get<v1::JobSpec>(parsed);
  update.spec = current;
  for (const std::string& field : update.changed) {
    std::string why;  // every updatable field applies: the fold's own merge, so both agree
    if (!events::ApplySpecChange(field, from, update.spec, &why)) {
      return FieldError{"invalid_field", why, field};
    }
  }
  return update;
}

json SpecToBody(const v1::JobSpec& spec) {
  json body = {
      {"name", spec.name()}, {"priority", spec.priority()}, {"max_retries", spec.max_retries()}};
  if (spec.type() != v1::JOB_TYPE_UNSPECIFIED) body["type"] = JobTypeName(spec.type());
  if (spec.timeout_seconds() > 0) body["timeout_seconds"] = spec.timeout_seconds();
  json policy = json::object();
  const v1::RetryPolicy& rp = spec.retry_policy();
  if (rp.strategy() != v1::RETRY_STRATEGY_UNSPECIFIED) {
    policy["strategy"] = RetryStrategyName(rp.strategy());
  }
  if (rp.base_delay_ms() > 0) policy["base_delay_ms"] = rp.base_delay_ms();
  if (rp.max_delay_ms() > 0) policy["max_delay_ms"] = rp.max_delay_ms();
  body["retry_policy"] = std::move(policy);
  if (!spec.resources().empty()) {
    json resources = json::object();
    for (const auto& [name, amount] : spec.resources()) resources[name] = amount;
    body["resources"] = std::move(resources);
  }
  body["pool"] = std::string(PoolOf(spec));
  body["execution_type"] = ExecutionTypeName(spec.execution_type());
  if (spec.type() == v1::JOB_TYPE_HTTP) {
    json http = {{"url", spec.http().url()}};
    if (!spec.http().method().empty()) http["method"] = spec.http().method();
    json headers = json::object();
    for (const auto& [name, value] : spec.http().headers()) headers[name] = value;
    if (!headers.empty()) http["headers"] = std::move(headers);
    if (!spec.http().body().empty()) http["body"] = spec.http().body();
    body["http"] = std::move(http);
  }
  if (!spec.payload_json().empty()) {
    json payload = json::parse(spec.payload_json(), nullptr, /*allow_exceptions=*/false);
    if (!payload.is_discarded()) body["payload"] = std::move(payload);
  }
  if (spec.type() == v1::JOB_TYPE_WORKFLOW) body["workflow"] = WorkflowToBody(spec.workflow());
  if (spec.has_schedule()) {
    const v1::ScheduleSpec& s = spec.schedule();
    body["schedule"] = s.cron();
    body["timezone"] = s.timezone().empty() ? "UTC" : s.timezone();
    body["dst_gap"] = DstGapName(s.dst_gap());
    body["dst_overlap"] = DstOverlapName(s.dst_overlap());
    if (IsSet(s.start_at())) body["start_at"] = FormatRfc3339(FromProto(s.start_at()));
    if (IsSet(s.end_at())) body["end_at"] = FormatRfc3339(FromProto(s.end_at()));
    if (s.max_runs() > 0) body["max_runs"] = s.max_runs();
    body["concurrency_policy"] = ConcurrencyPolicyName(s.concurrency_policy());
    body["misfire_policy"] = MisfirePolicyName(s.misfire_policy());
  }
  return body;
}

}  // namespace jobsched::api
