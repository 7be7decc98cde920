#include "services/api/schedule_spec.h"

#include <chrono>

namespace jobsched::api {

std::string DstGapName(v1::DstGapPolicy policy) {
  switch (policy) {
    case v1::DST_GAP_POLICY_SHIFT:
      return "shift";
    case v1::DST_GAP_POLICY_SKIP:
      return "skip";
    default:
      return "auto";
  }
}

std::string DstOverlapName(v1::DstOverlapPolicy policy) {
  switch (policy) {
    case v1::DST_OVERLAP_POLICY_FIRST:
      return "first";
    case v1::DST_OVERLAP_POLICY_BOTH:
      return "both";
    default:
      return "auto";
  }
}

std::string ConcurrencyPolicyName(v1::ConcurrencyPolicy policy) {
  switch (policy) {
    case v1::CONCURRENCY_POLICY_ALLOW:
      return "allow";
    case v1::CONCURRENCY_POLICY_REPLACE:
      return "replace";
    default:
      return "forbid";
  }
}

std::string MisfirePolicyName(v1::MisfirePolicy policy) {
  switch (policy) {
    case v1::MISFIRE_POLICY_SKIP:
      return "skip";
    case v1::MISFIRE_POLICY_FIRE_ALL:
      return "fire_all";
    default:
      return "fire_once";
  }
}

std::string SkipReasonName(v1::SkipReason reason) {
  switch (reason) {
    case v1::SKIP_REASON_OVERLAP:
      return "overlap";
    case v1::SKIP_REASON_MISFIRE:
      return "misfire";
    case v1::SKIP_REASON_DST_GAP:
      return "dst_gap";
    default:
      return "unspecified";
  }
}

std::optional<v1::DstGapPolicy> ParseDstGap(std::string_view name) {
  if (name == "auto") return v1::DST_GAP_POLICY_UNSPECIFIED;
  if (name == "shift") return v1::DST_GAP_POLICY_SHIFT;
  if (name == "skip") return v1::DST_GAP_POLICY_SKIP;
  return std::nullopt;
}

std::optional<v1::DstOverlapPolicy> ParseDstOverlap(std::string_view name) {
  if (name == "auto") return v1::DST_OVERLAP_POLICY_UNSPECIFIED;
  if (name == "first") return v1::DST_OVERLAP_POLICY_FIRST;
  if (name == "both") return v1::DST_OVERLAP_POLICY_BOTH;
  return std::nullopt;
}

std::optional<v1::ConcurrencyPolicy> ParseConcurrencyPolicy(std::string_view name) {
  if (name == "allow") return v1::CONCURRENCY_POLICY_ALLOW;
  if (name == "forbid") return v1::CONCURRENCY_POLICY_FORBID;
  if (name == "replace") return v1::CONCURRENCY_POLICY_REPLACE;
  return std::nullopt;
}

std::optional<v1::MisfirePolicy> ParseMisfirePolicy(std::string_view name) {
  if (name == "fire_once") return v1::MISFIRE_POLICY_FIRE_ONCE;
  if (name == "skip") return v1::MISFIRE_POLICY_SKIP;
  if (name == "fire_all") return v1::MISFIRE_POLICY_FIRE_ALL;
  return std::nullopt;
}

cron::ScheduleSpec ToEngineSpec(const v1::ScheduleSpec& spec) {
  cron::ScheduleSpec out;
  out.cron = spec.cron();
  out.timezone = spec.timezone().empty() ? "UTC" : spec.timezone();
  switch (spec.dst_gap()) {
    case v1::DST_GAP_POLICY_SHIFT:
      out.dst_gap = cron::DstGap::kShift;
      break;
    case v1::DST_GAP_POLICY_SKIP:
      out.dst_gap = cron::DstGap::kSkip;
      break;
    default:
      out.dst_gap = cron::DstGap::kAuto;
      break;
  }
  switch (spec.dst_overlap()) {
    case v1::DST_OVERLAP_POLICY_FIRST:
      out.dst_overlap = cron::DstOverlap::kFirst;
      break;
    case v1::DST_OVERLAP_POLICY_BOTH:
      out.dst_overlap = cron::DstOverlap::kBoth;
      break;
    default:
      out.dst_overlap = cron::DstOverlap::kAuto;
      break;
  }
  return out;
}

std::variant<cron::Schedule, FieldError> MakeSchedule(const v1::ScheduleSpec& spec,
                                                      TimePoint anchor,
                                                      std::string_view cron_field) {
  auto made = cron::Schedule::Make(ToEngineSpec(spec), anchor);
  if (auto* error = std::get_if<cron::ScheduleError>(&made)) {
    std::string field = error->field == "cron" ? std::string(cron_field) : error->field;
    return FieldError{"invalid_field", error->message, std::move(field)};
  }
  return std::get<cron::Schedule>(std::move(made));
}

std::string FormatRfc3339Seconds(TimePoint t) {
  std::string text = FormatRfc3339(std::chrono::floor<std::chrono::seconds>(t));
  // "....:SS.000Z" -> "....:SS" + "Z"
  return text.substr(0, text.size() - 5) + "Z";
}

}  // namespace jobsched::api
