// Time for jobsched: one millisecond-precision time point type, an injectable
// Clock, and conversions to Protobuf and RFC 3339.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <google/protobuf/timestamp.pb.h>

namespace jobsched {

using Millis = std::chrono::milliseconds;
using TimePoint = std::chrono::time_point<std::chrono::system_clock, Millis>;

// The source of "now". Services read time only through a Clock so tests can
// move it. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override;
  static SystemClock& Instance();
};

// A clock that moves only when told to.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start) : now_ms_(start.time_since_epoch().count()) {}
  TimePoint Now() const override { return TimePoint(Millis(now_ms_.load())); }
  void Set(TimePoint t) { now_ms_ = t.time_since_epoch().count(); }
  void Advance(Millis d) { now_ms_ += d.count(); }

 private:
  std::atomic<int64_t> now_ms_;
};

int64_t ToUnixMillis(TimePoint t);
TimePoint FromUnixMillis(int64_t ms);

google::protobuf::Timestamp ToProto(TimePoint t);
// An unset (all-zero) Timestamp maps to the epoch.
TimePoint FromProto(const google::protobuf::Timestamp& ts);
bool IsSet(const google::protobuf::Timestamp& ts);

// "2026-11-22T10:15:30.123Z" (UTC, milliseconds).
std::string FormatRfc3339(TimePoint t);
// Accepts RFC 3339 date-times: "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)";
// 't'/'z' and a space separator are accepted as well. nullopt if malformed.
std::optional<TimePoint> ParseRfc3339(std::string_view text);

}  // namespace jobsched
