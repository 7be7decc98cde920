// GET /api/v1/schedules/preview: when a schedule would fire, without a job.
// Pure (no database, no Kafka, no clock: `now` is passed in), thread-safe;
// cheap enough to answer on an I/O thread (microseconds per fire).
#pragma once

#include <nlohmann/json.hpp>
#include <variant>

#include "events/time.h"
#include "services/api/api_error.h"
#include "services/api/request_params.h"

namespace jobsched::api {

inline constexpr int kDefaultPreviewCount = 10;
inline constexpr int kMaxPreviewCount = 1000;

// Query: cron (required), timezone (default UTC), dst_gap, dst_overlap
// (default auto), from (RFC 3339, default `now`), count (1..1000, default 10).
// Answers {"fires": [{"at": "2026-03-08T07:00:00Z", "local":
// "2026-03-08T03:00:00-04:00"}, ...]}: the first `count` firing slots
// strictly after `from` (DST-gap skips passed over; fewer only past year
// 9999), `at` in UTC and `local` in the schedule's zone, both to the second.
// An "@every" interval is anchored at `from`, as for a job submitted then.
// Errors: the schedule's as a submission reports them (invalid_field, the
// engine's message) with field cron, timezone, dst_gap or dst_overlap; a
// missing cron and bad from / count are invalid_parameter.
std::variant<nlohmann::json, ApiError> PreviewSchedule(const QueryParams& query, TimePoint now);

}  // namespace jobsched::api
