// Awaiting conditions in tests: poll a predicate, never sleep a fixed time.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

namespace jobsched::testing {

// Calls `pred` every `poll` until it returns true (-> true) or `timeout` has
// passed (-> false; `pred` is evaluated once more at the deadline). Runs on the
// calling thread; exceptions from `pred` propagate.
inline bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                    std::chrono::milliseconds poll = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(poll, deadline - now));
  }
  return true;
}

}  // namespace jobsched::testing
