// Prints how long the cron engine takes to find fires: for each expression,
// the next 1,000 fires from a start (2026-01-01T00:00:00, or 2026-03-01 to
// cross New York's spring-forward) with CronExpr::Next (local time) and with
// Schedule::Next (on the time line, in a zone), as the median of several runs
// in microseconds per fire. Asserts nothing.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "events/cron.h"
#include "events/schedule.h"

namespace {

using jobsched::TimePoint;
using jobsched::cron::CronExpr;
using jobsched::cron::LocalSeconds;
using jobsched::cron::Schedule;
using jobsched::cron::ScheduleSpec;
using jobsched::cron::Slot;

constexpr int kFires = 1000;
constexpr int kRuns = 9;
// 2026-01-01T00:00:00 and 2026-03-01T00:00:00 (UTC, and local for CronExpr).
constexpr int64_t kJanuary = 1767225600;
constexpr int64_t kMarch = 1772323200;

// Median over kRuns of the microseconds per fire of `run`, which finds
// kFires fires and returns a checksum (so the work is not optimized away).
double MedianMicrosPerFire(const std::function<int64_t()>& run, int64_t& checksum) {
  std::vector<double> runs;
  for (int i = 0; i < kRuns; ++i) {
    const auto begin = std::chrono::steady_clock::now();
    checksum += run();
    const auto end = std::chrono::steady_clock::now();
    runs.push_back(std::chrono::duration<double, std::micro>(end - begin).count() / kFires);
  }
  std::nth_element(runs.begin(), runs.begin() + kRuns / 2, runs.end());
  return runs[kRuns / 2];
}

struct Case {
  const char* label;
  const char* cron;
  const char* zone;
  int64_t start;
};

}  // namespace

int main() {
  const std::vector<Case> cases = {
      {"every second", "* * * * * *", "UTC", kJanuary},
      {"every 15 minutes", "0 */15 * * * *", "UTC", kJanuary},
      {"weekdays 9-17", "0 0 9-17 * * MON-FRI", "UTC", kJanuary},
      {"February 29", "0 0 0 29 2 *", "UTC", kJanuary},
      {"last weekday, noon", "0 0 12 LW * *", "UTC", kJanuary},
      {"second Monday", "0 0 0 ? * 1#2", "UTC", kJanuary},
      {"every 15 minutes, DST zone", "0 */15 * * * *", "America/New_York", kMarch},
      {"02:30 daily, DST zone", "0 30 2 * * *", "America/New_York", kJanuary},
      {"February 29, DST zone", "0 0 0 29 2 *", "America/New_York", kJanuary},
  };
  int64_t checksum = 0;
  std::printf("%-28s %-22s %-18s %14s %16s  %s\n", "case", "expression", "zone", "CronExpr us",
              "Schedule us", "1000th fire");
  for (const Case& c : cases) {
    const CronExpr cron = std::get<CronExpr>(CronExpr::Parse(c.cron));
    const Schedule schedule =
        std::get<Schedule>(Schedule::Make(ScheduleSpec{c.cron, c.zone}, TimePoint{}));
    const double cron_us = MedianMicrosPerFire(
        [&] {
          LocalSeconds t(c.start);
          for (int i = 0; i < kFires; ++i) t = *cron.Next(t);
          return t.count();
        },
        checksum);
    std::string last;
    const double schedule_us = MedianMicrosPerFire(
        [&] {
          std::optional<Slot> slot = schedule.Next(TimePoint(std::chrono::seconds(c.start)));
          for (int i = 1; i < kFires; ++i) slot = schedule.Next(slot->at, slot->nominal);
          last = schedule.FormatLocal(slot->at);
          return slot->at.time_since_epoch().count();
        },
        checksum);
    std::printf("%-28s %-22s %-18s %14.3f %16.3f  %s\n", c.label, c.cron, c.zone, cron_us,
                schedule_us, last.c_str());
  }
  std::printf("(median of %d runs of %d fires each; checksum %lld)\n", kRuns, kFires,
              static_cast<long long>(checksum));
  return 0;
}
