// The recurring-schedule vocabulary of the API: the names clients use for
// the ScheduleSpec enums (events.proto), and validation of a schedule by the
// engine (events/schedule.h) with errors in the API's FieldError shape.
// Pure, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "events/job_schedule.h"
#include "events/schedule.h"
#include "events/time.h"
#include "jobsched/v1/events.pb.h"
#include "services/api/job_spec.h"

namespace jobsched::api {

inline constexpr size_t kMaxCronChars = 200;
inline constexpr int64_t kMaxRuns = 1'000'000'000;

// The names of the schedule's enums (events/job_schedule.h), as the API
// takes and renders them.
using events::ConcurrencyPolicyName;
using events::DstGapName;
using events::DstOverlapName;
using events::MisfirePolicyName;
using events::ParseConcurrencyPolicy;
using events::ParseDstGap;
using events::ParseDstOverlap;
using events::ParseMisfirePolicy;
using events::SkipReasonName;

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
