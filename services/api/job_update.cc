#include "services/api/job_update.h"

#include <algorithm>

#include "services/api/schedule_spec.h"

namespace jobsched::api {
namespace {

using nlohmann::json;

bool IsScheduleField(std::string_view field) {
  return field == "schedule" || field == "timezone" || field == "dst_gap" ||
         field == "dst_overlap" || field == "end_at" || field == "max_runs" ||
         field == "concurrency_policy" || field == "misfire_policy";
}

std::string UpdatableList() {
  std::string out;
  for (std::string_view f : kUpdatableFields) out += (out.empty() ? "" : ", ") + std::string(f);
  return out;
}

// Copies `field` (an updatable field) from `from` to `to`, as the fold does.
void CopyField(std::string_view field, const v1::JobSpec& from, v1::JobSpec& to) {
  const v1::ScheduleSpec& src = from.schedule();
  v1::ScheduleSpec* dst = IsScheduleField(field) ? to.mutable_schedule() : nullptr;
  if (field == "name") {
    to.set_name(from.name());
  } else if (field == "http") {
    *to.mutable_http() = from.http();
  } else if (field == "payload") {
    to.set_payload_json(from.payload_json());
  } else if (field == "priority") {
    to.set_priority(from.priority());
  } else if (field == "max_retries") {
    to.set_max_retries(from.max_retries());
  } else if (field == "retry_policy") {
    *to.mutable_retry_policy() = from.retry_policy();
  } else if (field == "timeout_seconds") {
    to.set_timeout_seconds(from.timeout_seconds());
  } else if (field == "schedule") {
    dst->set_cron(src.cron());
  } else if (field == "timezone") {
    dst->set_timezone(src.timezone());
  } else if (field == "dst_gap") {
    dst->set_dst_gap(src.dst_gap());
  } else if (field == "dst_overlap") {
    dst->set_dst_overlap(src.dst_overlap());
  } else if (field == "end_at") {
    *dst->mutable_end_at() = src.end_at();  // unset in `from`: an all-zero Timestamp, no end
  } else if (field == "max_runs") {
    dst->set_max_runs(src.max_runs());
  } else if (field == "concurrency_policy") {
    dst->set_concurrency_policy(src.concurrency_policy());
  } else if (field == "misfire_policy") {
    dst->set_misfire_policy(src.misfire_policy());
  }
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
    if (IsScheduleField(field) && !current.has_schedule()) {
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
  for (const std::string& field : update.changed) CopyField(field, from, update.spec);
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
