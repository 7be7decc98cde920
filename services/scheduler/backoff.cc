#include "services/scheduler/backoff.h"

#include <algorithm>
#include <cstdint>

namespace jobsched::scheduler {
namespace {

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

Millis RetryDelay(const v1::RetryPolicy& policy, int failed_attempt, std::string_view run_id) {
  int64_t base = policy.base_delay_ms() > 0 ? policy.base_delay_ms() : kDefaultBaseDelayMs;
  int64_t max = policy.max_delay_ms() > 0 ? policy.max_delay_ms() : kDefaultMaxDelayMs;
  max = std::max(max, base);
  if (policy.strategy() == v1::RETRY_STRATEGY_FIXED) return Millis(base);

  int shift = std::clamp(failed_attempt - 1, 0, 62);
  int64_t exp = max;
  if (shift < 62 && base <= (max >> shift)) exp = base << shift;  // base * 2^shift without overflow
  if (policy.strategy() != v1::RETRY_STRATEGY_JITTER) return Millis(exp);  // exponential (default)

  int64_t half = exp / 2;
  int64_t spread = exp - half;
  int64_t extra = spread > 0 ? static_cast<int64_t>(Fnv1a(run_id) % static_cast<uint64_t>(spread + 1)) : 0;
  return Millis(half + extra);
}

}  // namespace jobsched::scheduler
