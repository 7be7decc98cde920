// The recurring-schedule vocabulary of the API: the names clients use for
// the ScheduleSpec enums (events.proto), and validation of a schedule by the
// engine (events/schedule.h) with errors in the API's FieldError shape.
// Pure, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "events/schedule.h"
#include "events/time.h"
#include "jobsched/v1/events.pb.h"
#include "services/api/job_spec.h"

namespace jobsched::api {

inline constexpr size_t kMaxCronChars = 200;
inline constexpr int64_t kMaxRuns = 1'000'000'000;

// Names as the API takes and renders them. Zero enum values are the
// defaults and render as such: "auto", "auto", "forbid", "fire_once".
std::string DstGapName(v1::DstGapPolicy policy);                  // auto | shift | skip
std::string DstOverlapName(v1::DstOverlapPolicy policy);          // auto | first | both
std::string ConcurrencyPolicyName(v1::ConcurrencyPolicy policy);  // allow | forbid | replace
std::string MisfirePolicyName(v1::MisfirePolicy policy);          // fire_once | skip | fire_all
// "overlap", "misfire", "dst_gap"; "unspecified" for SKIP_REASON_UNSPECIFIED.
std::string SkipReasonName(v1::SkipReason reason);

// Inverses of the names above; nullopt for any other text. The defaults
// parse to explicit values (forbid -> FORBID, fire_once -> FIRE_ONCE), auto
// to the zero value (auto is a policy of its own, resolved by the engine).
std::optional<v1::DstGapPolicy> ParseDstGap(std::string_view name);
std::optional<v1::DstOverlapPolicy> ParseDstOverlap(std::string_view name);
std::optional<v1::ConcurrencyPolicy> ParseConcurrencyPolicy(std::string_view name);
std::optional<v1::MisfirePolicy> ParseMisfirePolicy(std::string_view name);

// The engine's spec for `spec` (an empty timezone is UTC).
cron::ScheduleSpec ToEngineSpec(const v1::ScheduleSpec& spec);

// The engine's schedule for `spec` anchored at `anchor` (start_at, else the
// submission time), or the error a client sees: code invalid_field, the
// engine's message unchanged ("minute: 61 is out of range 0-59",
// "unknown time zone \"Mars/Base\""), and field `cron_field` ("schedule" in a
// job, "cron" in a preview) for the expression, else the engine's field
// ("timezone", "dst_gap", "dst_overlap").
std::variant<cron::Schedule, FieldError> MakeSchedule(const v1::ScheduleSpec& spec,
                                                      TimePoint anchor,
                                                      std::string_view cron_field);

// "2026-03-08T07:00:00Z": RFC 3339 UTC to the second (a fraction is dropped).
std::string FormatRfc3339Seconds(TimePoint t);

}  // namespace jobsched::api
