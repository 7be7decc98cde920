// The policy file of `jobctl shadow`: a PATCH body of the REST API limited to
// the fields that change scheduler decisions, validated by the API's own
// parsers (CheckUpdateShape, ParseJobUpdate) so a file is accepted iff a
// PATCH of those fields would be.
#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "events/fold.h"
#include "services/api/job_update.h"
#include "services/jobctl/shadow.h"

namespace jobsched::jobctl::shadow {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 10> kPolicyFields = {
    "max_retries", "retry_policy", "schedule", "timezone",           "dst_gap",
    "dst_overlap", "end_at",       "max_runs", "concurrency_policy", "misfire_policy"};

bool IsPolicyField(std::string_view name) {
  return std::find(kPolicyFields.begin(), kPolicyFields.end(), name) != kPolicyFields.end();
}

std::string PolicyFieldList() {
  std::string out;
  for (std::string_view f : kPolicyFields) out += (out.empty() ? "" : ", ") + std::string(f);
  return out + ", jobs";
}

// A recurring job to validate the file against before any job is read: the
// values are checked as a PATCH of any recurring job would check them. Its
// anchor lies in the past so an end_at of a recorded day is accepted.
v1::JobSpec ProbeSpec() {
  v1::JobSpec spec;
  spec.set_name("shadow policy check");
  spec.set_type(v1::JOB_TYPE_ECHO);
  spec.set_priority(5);
  spec.set_max_retries(3);
  spec.mutable_schedule()->set_cron("0 0 0 * * *");
  spec.mutable_schedule()->set_timezone("UTC");
  return spec;
}

// "schedule": {"cron": ..., "timezone": ...} becomes the API's flat fields.
std::optional<PolicyError> FlattenSchedule(json& patch) {
  auto it = patch.find("schedule");
  if (it == patch.end() || !it->is_object()) return std::nullopt;
  json nested = *it;
  patch.erase(it);
  if (nested.empty()) return PolicyError{"schedule", "is an empty object; give \"cron\""};
  for (const auto& [key, value] : nested.items()) {
    const std::string name = key == "cron" ? "schedule" : key;
    if (key == "schedule" || !events::IsScheduleField(name)) {
      return PolicyError{"schedule." + key,
                         "is not a schedule field; inside \"schedule\" use cron, timezone, "
                         "dst_gap, dst_overlap, end_at, max_runs, concurrency_policy, "
                         "misfire_policy"};
    }
    if (patch.contains(name)) {
      return PolicyError{"schedule." + key, "is also given as \"" + name + "\" at the top level"};
    }
    patch[name] = value;
  }
  return std::nullopt;
}

}  // namespace

std::variant<Policy, PolicyError> ParsePolicy(const std::string& text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return PolicyError{"", "is not valid JSON"};
  if (!doc.is_object()) {
    return PolicyError{"", std::string("must be a JSON object, got ") + doc.type_name()};
  }
  Policy policy;
  if (auto jobs = doc.find("jobs"); jobs != doc.end()) {
    if (!jobs->is_array()) return PolicyError{"jobs", "must be an array of job ids"};
    for (const json& id : *jobs) {
      if (!id.is_string() || id.get<std::string>().empty()) {
        return PolicyError{"jobs", "must be an array of job ids (strings), got " + id.dump()};
      }
      policy.jobs.push_back(id.get<std::string>());
    }
    doc.erase(jobs);
  }
  if (auto error = FlattenSchedule(doc)) return *error;
  for (const auto& [key, value] : doc.items()) {
    if (!IsPolicyField(key)) {
      return PolicyError{key, "is not a retry or schedule policy field; a policy file may give " +
                                  PolicyFieldList()};
    }
  }
  if (doc.empty()) {
    return PolicyError{"", "changes nothing; give one or more of " + PolicyFieldList()};
  }
  auto checked = api::ParseJobUpdate(doc, ProbeSpec(), FromUnixMillis(0));
  if (auto* error = std::get_if<api::FieldError>(&checked)) {
    return PolicyError{error->field, error->message};
  }
  policy.patch = std::move(doc);
  return policy;
}

}  // namespace jobsched::jobctl::shadow
