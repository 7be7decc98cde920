// A recurring schedule on the time line: a cron expression (cron.h) in an
// IANA time zone with explicit DST policies, or a fixed interval ("@every").
// It turns nominal local times into instants, in instant order, and says
// which nominal times do not fire and why. Zones come from date/tz (the
// system's tzdata). Pure (tzdata is read once, lazily) and thread-safe for
// concurrent const use.
//
// Vocabulary
//   nominal time  a local wall-clock time the expression names (02:30 local)
//   slot          one entry of the schedule in instant order: a fire, or a
//                 nominal time that does not fire (a DST-gap skip)
//   occurrence    1, or 2 for the second instant of a repeated local time
//                 (autumn: 01:30 happens twice in America/New_York)
//
// DST policies
//   dst_gap (nominal time that does not exist: spring forward)
//     shift  fire once at the first instant after the gap
//     skip   do not fire; the slot is reported as kSkipDstGap
//   dst_overlap (nominal time that exists twice: fall back)
//     first  fire on the first occurrence only (no slot for the second)
//     both   fire on both occurrences (occurrence 1 and 2)
//   auto (the default for both): when the cron hour field starts with "*"
//     the schedule is an interval: gap = skip, overlap = both; otherwise
//     gap = shift, overlap = first.
// Several nominal times that land on one instant (e.g. 02:00 and 02:30
// shifted to 03:00, and 03:00 itself) are one fire: the slot carries the
// earliest nominal time and `coalesced` counts them all.
//
// "@every <duration>" (e.g. "@every 90s", "@every 1h30m", units h, m, s; at
// least 1s, at most 366 days) fires at anchor + k * interval for every
// integer k, on the absolute time line: no DST effects, nominal time = the
// UTC wall time of the instant, occurrence 1.
//
// Slot order: by (at, nominal). A cursor is the (at, nominal) of the last
// slot consumed; Next() returns the first slot ordered after it.
//
// Precise rules (decisions where the text above leaves room):
//   - Gaps and overlaps are any change of the zone's UTC offset, DST or not
//     (Pacific/Apia skipped all of 2011-12-30: a 24-hour gap). "The first
//     instant after the gap" is the transition instant itself, whose local
//     time is the end of the gap: 02:30 shifted fires at 03:00 (not 03:30),
//     and coalesces with 03:00 when that matches too.
//   - Skip slots are one per skipped nominal time, all at the transition
//     instant, in nominal order, before a fire at that instant (whose nominal
//     time, the end of the gap, is larger). NextFire() passes them all.
//   - A coalesced fire is one slot: a cursor on it, (at, earliest nominal),
//     is past every nominal time it merged.
//   - The second occurrence of a local time is its instant in the interval
//     right after a fall-back transition (real zones never chain transitions
//     closer than the size of the shift).
//   - Cursors and `at` are in milliseconds but slots fall on whole seconds: a
//     cursor with a fraction of a second is after every slot of its second.
//   - "@every": each unit at most once, in the order h, m, s ("1h30m15s",
//     "90m"); "@every" itself in any case. The anchor is floored to a whole
//     second. The timezone is validated and used by FormatLocal and
//     `utc_offset_s` (the zone's offset at `at`), but nominal times stay UTC
//     wall times. dst_gap()/dst_overlap() resolve kAuto as for an interval
//     (skip, both); no policy has any effect on "@every".
//   - Make() refuses a dst_gap / dst_overlap outside its enum with field
//     "dst_gap" / "dst_overlap" ("unknown policy 7"), and reports a missing
//     tzdata as {"timezone", "time zone database unavailable: <why>"}.
//   - FormatLocal renders offsets as +HH:MM, or +HH:MM:SS for historical
//     offsets with seconds (local mean time before 1900).
//   - Zone data comes from the system's TZif files through date/tz, which
//     read their explicit transitions only (through 2037 in Debian's
//     tzdata), not the rule string that extends them: after the last listed
//     transition the last offset holds (in America/New_York, EST all year
//     from 2037-11-01). Schedules reaching further use that offset.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "events/cron.h"
#include "events/time.h"

namespace jobsched::cron {

enum class DstGap { kAuto = 0, kShift = 1, kSkip = 2 };
enum class DstOverlap { kAuto = 0, kFirst = 1, kBoth = 2 };

struct ScheduleSpec {
  std::string cron;              // a cron expression (cron.h) or "@every <duration>"
  std::string timezone = "UTC";  // IANA name; "" means UTC
  DstGap dst_gap = DstGap::kAuto;
  DstOverlap dst_overlap = DstOverlap::kAuto;
};

// Why a schedule was refused; `field` is the ScheduleSpec member at fault.
struct ScheduleError {
  std::string field;    // "cron" or "timezone" ("dst_gap"/"dst_overlap": value outside the enum)
  std::string message;  // e.g. "minute: 61 is out of range 0-59", "unknown time zone \"Mars/Base\""
  bool operator==(const ScheduleError&) const = default;
};

struct Slot {
  enum class Kind {
    kFire,        // fires at `at`
    kSkipDstGap,  // `nominal` does not exist and dst_gap resolves to skip;
                  // `at` is the first instant after the gap (the transition)
  };
  Kind kind = Kind::kFire;
  TimePoint at;              // whole seconds
  LocalSeconds nominal{0};   // local wall time the expression named
  int occurrence = 1;        // 2: second occurrence of a repeated local time
  int coalesced = 1;         // nominal times merged into this fire (>= 1)
  int64_t utc_offset_s = 0;  // offset of `at` in the zone (local = at + offset)

  bool fires() const { return kind == Kind::kFire; }
};

class Schedule {
 public:
  // Validates and prepares. `anchor` is the origin of "@every" intervals
  // (start_at, else the submission time); cron schedules ignore it.
  static std::variant<Schedule, ScheduleError> Make(const ScheduleSpec& spec, TimePoint anchor);

  // The first slot ordered after the cursor (after_at, after_nominal), i.e.
  // with at > after_at, or at == after_at and nominal > after_nominal.
  // nullopt only past year 9999. Costs microseconds (field-by-field search
  // plus a few zone lookups), whatever the gap to the next fire.
  std::optional<Slot> Next(TimePoint after_at, LocalSeconds after_nominal) const;
  // The first slot strictly after the instant `after` (any nominal).
  std::optional<Slot> Next(TimePoint after) const;
  // The first slot that fires (skips passed over) after the instant `after`.
  std::optional<Slot> NextFire(TimePoint after) const;

  // Effective policies after resolving kAuto.
  DstGap dst_gap() const;
  DstOverlap dst_overlap() const;
  bool is_interval() const;  // "@every"
  const ScheduleSpec& spec() const;

  // "2026-03-08T03:00:00-04:00": the instant in the schedule's zone.
  std::string FormatLocal(TimePoint at) const;
  // "2026-03-08T02:30:00": a nominal time (no offset: it may not exist).
  static std::string FormatNominal(LocalSeconds nominal);
  // Its inverse: "2026-03-08T02:30:00" -> local seconds; nullopt if malformed.
  static std::optional<LocalSeconds> ParseNominal(std::string_view text);

 private:
  struct Impl;
  explicit Schedule(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace jobsched::cron
