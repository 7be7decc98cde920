#include "services/api/schedule_preview.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>

#include "services/api/job_spec.h"
#include "services/api/schedule_spec.h"

namespace jobsched::api {
namespace {

using nlohmann::json;

const std::string* Find(const QueryParams& query, const std::string& name) {
  auto it = query.find(name);
  return it == query.end() ? nullptr : &it->second;
}

// A schedule policy parameter: invalid_field like the submission's field.
template <typename Enum>
std::optional<ApiError> ReadPolicy(const QueryParams& query, const std::string& name,
                                   std::optional<Enum> (*parse)(std::string_view),
                                   std::string_view choices, Enum* out) {
  const std::string* v = Find(query, name);
  if (v == nullptr) return std::nullopt;
  std::optional<Enum> parsed = parse(*v);
  if (!parsed) {
    return ApiError{"invalid_field",
                    "must be one of " + std::string(choices) + ", got " + DescribeValue(json(*v)),
                    name};
  }
  *out = *parsed;
  return std::nullopt;
}

}  // namespace

std::variant<json, ApiError> PreviewSchedule(const QueryParams& query, TimePoint now) {
  if (auto e = CheckQueryParams(query,
                                {"cron", "timezone", "from", "count", "dst_gap", "dst_overlap"})) {
    return *e;
  }
  v1::ScheduleSpec spec;
  const std::string* cron = Find(query, "cron");
  if (cron == nullptr) {
    return ApiError{
        "invalid_parameter",
        "is required: a cron expression such as \"0 0 9 * * MON-FRI\" or \"@every 90s\"", "cron"};
  }
  if (cron->empty() || cron->size() > kMaxCronChars) {
    return ApiError{"invalid_field",
                    "must be a cron expression of 1 to " + std::to_string(kMaxCronChars) +
                        " characters, got " + DescribeValue(json(*cron)),
                    "cron"};
  }
  spec.set_cron(*cron);
  spec.set_timezone("UTC");
  if (const std::string* zone = Find(query, "timezone")) {
    if (zone->empty()) {
      return ApiError{"invalid_field",
                      "must be an IANA time zone name such as \"Europe/Paris\", got \"\"",
                      "timezone"};
    }
    spec.set_timezone(*zone);
  }
  v1::DstGapPolicy gap = v1::DST_GAP_POLICY_UNSPECIFIED;
  if (auto e = ReadPolicy(query, "dst_gap", &ParseDstGap, "auto, shift, skip", &gap)) return *e;
  spec.set_dst_gap(gap);
  v1::DstOverlapPolicy overlap = v1::DST_OVERLAP_POLICY_UNSPECIFIED;
  if (auto e = ReadPolicy(query, "dst_overlap", &ParseDstOverlap, "auto, first, both", &overlap)) {
    return *e;
  }
  spec.set_dst_overlap(overlap);

  std::optional<TimePoint> from;
  if (auto e = ParseTimeParam(query, "from", &from)) return *e;
  int count = kDefaultPreviewCount;
  if (const std::string* c = Find(query, "count")) {
    bool digits =
        !c->empty() && c->size() <= 4 &&
        std::all_of(c->begin(), c->end(), [](unsigned char ch) { return std::isdigit(ch); });
    count = digits ? std::stoi(*c) : 0;
    if (count < 1 || count > kMaxPreviewCount) {
      return ApiError{"invalid_parameter",
                      "must be an integer from 1 to " + std::to_string(kMaxPreviewCount) +
                          ", got " + DescribeValue(json(*c)),
                      "count"};
    }
  }

  const TimePoint start = from.value_or(now);
  auto made = MakeSchedule(spec, start, "cron");
  if (auto* error = std::get_if<FieldError>(&made)) return FromFieldError(std::move(*error));
  const cron::Schedule& schedule = std::get<cron::Schedule>(made);

  json fires = json::array();
  TimePoint after = start;
  for (int i = 0; i < count; ++i) {
    std::optional<cron::Slot> slot = schedule.NextFire(after);
    if (!slot) break;
    fires.push_back(
        {{"at", FormatRfc3339Seconds(slot->at)}, {"local", schedule.FormatLocal(slot->at)}});
    after = slot->at;
  }
  return json{{"fires", std::move(fires)}};
}

}  // namespace jobsched::api
