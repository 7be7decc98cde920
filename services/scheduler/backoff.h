// Retry delays. Pure and deterministic: the same failed run always gets the
// same delay, so a scheduler that redoes a decision after a crash emits the
// same RetryScheduled event (same id, same retry_at).
#pragma once

#include <string_view>

#include "events/time.h"
#include "jobsched/v1/events.pb.h"

namespace jobsched::scheduler {

inline constexpr int64_t kDefaultBaseDelayMs = 1000;
inline constexpr int64_t kDefaultMaxDelayMs = 60000;

// Delay before the attempt that follows `failed_attempt` (1-based):
//   fixed:       base
//   exponential: min(max, base * 2^(failed_attempt-1))
//   jitter:      "equal jitter": half the exponential delay plus a uniform
//                share of the other half, drawn from a hash of `run_id`.
// Unset policy fields take the defaults above; the result is never above max
// (nor below 0).
Millis RetryDelay(const v1::RetryPolicy& policy, int failed_attempt, std::string_view run_id);

}  // namespace jobsched::scheduler
