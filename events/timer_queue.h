// Keyed timers on a Clock's time line: at most one deadline per key, so
// scheduling a key again moves its timer instead of adding a second one.
// The owner asks for the next deadline, waits on its clock (a real one, or a
// test's simulated one), and pops the keys that are due. Pure data
// structure; thread-compatible.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "events/time.h"

namespace jobsched {

template <typename Key, typename Hash = std::hash<Key>>
class TimerQueue {
 public:
  // Sets `key`'s deadline to `at`, replacing any earlier setting.
  void Schedule(const Key& key, TimePoint at) {
    Cancel(key);
    by_key_.emplace(key, at);
    order_.emplace(at, key);
  }

  // Removes `key`'s timer; false if it had none.
  bool Cancel(const Key& key) {
    auto it = by_key_.find(key);
    if (it == by_key_.end()) return false;
    order_.erase({it->second, key});
    by_key_.erase(it);
    return true;
  }

  std::optional<TimePoint> DeadlineOf(const Key& key) const {
    auto it = by_key_.find(key);
    if (it == by_key_.end()) return std::nullopt;
    return it->second;
  }

  std::optional<TimePoint> NextDeadline() const {
    if (order_.empty()) return std::nullopt;
    return order_.begin()->first;
  }

  // Removes and returns the keys whose deadline is at or before `now`,
  // earliest first (ties in key order).
  std::vector<Key> PopDue(TimePoint now) {
    std::vector<Key> due;
    while (!order_.empty() && order_.begin()->first <= now) {
      due.push_back(order_.begin()->second);
      by_key_.erase(order_.begin()->second);
      order_.erase(order_.begin());
    }
    return due;
  }

  // Removes every timer whose key satisfies `pred`.
  template <typename Pred>
  void CancelIf(Pred pred) {
    for (auto it = order_.begin(); it != order_.end();) {
      if (pred(it->second)) {
        by_key_.erase(it->second);
        it = order_.erase(it);
      } else {
        ++it;
      }
    }
  }

  size_t size() const { return by_key_.size(); }
  bool empty() const { return by_key_.empty(); }

 private:
  std::set<std::pair<TimePoint, Key>> order_;
  std::unordered_map<Key, TimePoint, Hash> by_key_;
};

}  // namespace jobsched
