// Runs callbacks at deadlines, on one internal thread. Used to answer a
// request whose Kafka acknowledgement is overdue (librdkafka may keep trying
// for minutes; an HTTP client should not hang that long).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace jobsched::api {

// Thread-safe.
class DeadlineTimer {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  DeadlineTimer();
  ~DeadlineTimer();  // Stop()
  DeadlineTimer(const DeadlineTimer&) = delete;
  DeadlineTimer& operator=(const DeadlineTimer&) = delete;

  // Runs `fn` on the timer thread at (or soon after) `when`, unless stopped
  // first. `fn` must be quick and must not throw.
  void At(TimePoint when, std::function<void()> fn);

  // Joins the thread; callbacks not yet due are destroyed unrun. Idempotent;
  // must not be called from a callback.
  void Stop();

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<TimePoint, std::function<void()>> due_;  // guarded by mu_
  bool stopping_ = false;                                // guarded by mu_
  std::thread thread_;
};

}  // namespace jobsched::api
