#include "events/schedule.h"

#include <date/tz.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <exception>
#include <limits>
#include <utility>

namespace jobsched::cron {
namespace {

using std::chrono::seconds;

constexpr int64_t kSecondsPerDay = 86400;
// 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z: slots live in between.
constexpr int64_t kFirstInstant = -62135596800;
constexpr int64_t kEndInstant = 253402300800;
constexpr int64_t kMaxEverySeconds = 366 * kSecondsPerDay;

constexpr int64_t FloorDiv(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

bool IsBlank(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

// "@every <duration>" (any case for "@every"), or nullopt for anything else.
std::optional<std::string_view> EveryArgument(std::string_view text) {
  constexpr std::string_view kEvery = "@every";
  if (text.size() < kEvery.size()) return std::nullopt;
  for (size_t i = 0; i < kEvery.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != kEvery[i]) return std::nullopt;
  }
  const std::string_view rest = text.substr(kEvery.size());
  if (!rest.empty() && !IsBlank(rest.front())) return std::nullopt;
  return Trim(rest);
}

// "1h30m", "90s": groups of digits and a unit, units in the order h, m, s,
// each at most once. The interval in seconds, or the error message.
std::variant<int64_t, std::string> ParseEvery(std::string_view text) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  const std::string bad = "expected a duration such as 90s or 1h30m (units h, m, s), got " + quoted;
  if (text.empty()) return bad;
  constexpr std::string_view kUnits = "hms";
  constexpr int64_t kUnitSeconds[] = {3600, 60, 1};
  size_t next_unit = 0;
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    int64_t v = 0;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') {
      v = std::min<int64_t>(v * 10 + (text[j] - '0'), kMaxEverySeconds + 1);
      ++j;
    }
    if (j == i || j == text.size()) return bad;
    const size_t unit = kUnits.find(text[j], next_unit);
    if (unit == std::string_view::npos) return bad;
    next_unit = unit + 1;
    total = std::min(total + v * kUnitSeconds[unit], kMaxEverySeconds + 1);
    i = j + 1;
  }
  if (total < 1) return "the interval must be at least 1s, got " + quoted;
  if (total > kMaxEverySeconds) {
    return "the interval must be at most 366 days (8784h), got " + quoted;
  }
  return total;
}

TimePoint Instant(int64_t s) { return TimePoint(seconds(s)); }

int64_t Offset(const date::sys_info& info) { return info.offset.count(); }
int64_t Begin(const date::sys_info& info) { return info.begin.time_since_epoch().count(); }
int64_t End(const date::sys_info& info) { return info.end.time_since_epoch().count(); }

// "2026-03-08T02:30:00" for local seconds `s`.
std::string FormatCivil(int64_t s) {
  const int64_t days = FloorDiv(s, kSecondsPerDay);
  const int64_t sod = s - days * kSecondsPerDay;
  const date::year_month_day ymd{date::local_days(date::days(static_cast<int>(days)))};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(sod / 3600), static_cast<int>(sod / 60 % 60),
                static_cast<int>(sod % 60));
  return buf;
}

Slot MakeSlot(Slot::Kind kind, int64_t at, int64_t nominal, int occurrence, int64_t coalesced,
              int64_t offset) {
  Slot slot;
  slot.kind = kind;
  slot.at = Instant(at);
  slot.nominal = LocalSeconds(nominal);
  slot.occurrence = occurrence;
  slot.coalesced = static_cast<int>(coalesced);
  slot.utc_offset_s = offset;
  return slot;
}

}  // namespace

struct Schedule::Impl {
  ScheduleSpec spec;
  const date::time_zone* zone = nullptr;
  std::optional<CronExpr> cron;  // absent for "@every"
  int64_t every_s = 0;
  int64_t anchor_s = 0;
  DstGap gap = DstGap::kShift;
  DstOverlap overlap = DstOverlap::kFirst;

  // The first slot after (a, n); a in whole seconds.
  std::optional<Slot> NextEvery(int64_t a, int64_t n) const;
  std::optional<Slot> NextCron(int64_t a, int64_t n) const;
  // The first slot after (a, n) among those of interval `info` (instants in
  // [begin, end), including the gap slots at begin), given the offset of the
  // interval before it.
  std::optional<Slot> InInterval(const date::sys_info& info, int64_t prev_offset, int64_t a,
                                 int64_t n) const;
  int64_t PrevOffset(const date::sys_info& info) const;
  int64_t OffsetAt(int64_t s) const {
    return Offset(zone->get_info(date::sys_seconds(seconds(s))));
  }
};

std::variant<Schedule, ScheduleError> Schedule::Make(const ScheduleSpec& spec, TimePoint anchor) {
  auto impl = std::make_shared<Impl>();
  impl->spec = spec;
  const std::string_view text = Trim(spec.cron);
  if (auto every = EveryArgument(text)) {
    auto parsed = ParseEvery(*every);
    if (auto* err = std::get_if<std::string>(&parsed)) return ScheduleError{"cron", *err};
    impl->every_s = std::get<int64_t>(parsed);
    impl->anchor_s = std::chrono::floor<seconds>(anchor).time_since_epoch().count();
  } else {
    auto parsed = CronExpr::Parse(text);
    if (auto* err = std::get_if<CronError>(&parsed)) return ScheduleError{"cron", err->ToString()};
    impl->cron = std::get<CronExpr>(std::move(parsed));
  }

  const std::string zone_name = spec.timezone.empty() ? "UTC" : spec.timezone;
  try {
    date::get_tzdb();
  } catch (const std::exception& e) {
    return ScheduleError{"timezone", std::string("time zone database unavailable: ") + e.what()};
  }
  try {
    impl->zone = date::locate_zone(zone_name);
  } catch (const std::exception&) {
    return ScheduleError{"timezone", "unknown time zone \"" + zone_name + "\""};
  }

  const bool interval = !impl->cron || impl->cron->HourIsWildcard();
  switch (spec.dst_gap) {
    case DstGap::kAuto:
      impl->gap = interval ? DstGap::kSkip : DstGap::kShift;
      break;
    case DstGap::kShift:
    case DstGap::kSkip:
      impl->gap = spec.dst_gap;
      break;
    default:
      return ScheduleError{"dst_gap",
                           "unknown policy " + std::to_string(static_cast<int>(spec.dst_gap))};
  }
  switch (spec.dst_overlap) {
    case DstOverlap::kAuto:
      impl->overlap = interval ? DstOverlap::kBoth : DstOverlap::kFirst;
      break;
    case DstOverlap::kFirst:
    case DstOverlap::kBoth:
      impl->overlap = spec.dst_overlap;
      break;
    default:
      return ScheduleError{"dst_overlap",
                           "unknown policy " + std::to_string(static_cast<int>(spec.dst_overlap))};
  }
  return Schedule(std::move(impl));
}

std::optional<Slot> Schedule::Impl::NextEvery(int64_t a, int64_t n) const {
  int64_t at = anchor_s + (FloorDiv(a - anchor_s, every_s) + 1) * every_s;
  // A fire exactly at `a` is after the cursor when its nominal (= at) is.
  if (at - every_s == a && a > n) at = a;
  if (at >= kEndInstant) return std::nullopt;
  return MakeSlot(Slot::Kind::kFire, at, at, 1, 1, OffsetAt(at));
}

int64_t Schedule::Impl::PrevOffset(const date::sys_info& info) const {
  const int64_t begin = Begin(info);
  if (begin <= kFirstInstant) return Offset(info);
  return OffsetAt(begin - 1);
}

std::optional<Slot> Schedule::Impl::InInterval(const date::sys_info& info, int64_t prev_offset,
                                               int64_t a, int64_t n) const {
  const int64_t begin = Begin(info);
  const int64_t end = End(info);
  const int64_t offset = Offset(info);
  // Local times the interval covers: [begin + offset, end + offset).
  int64_t lo = begin + offset;
  if (a >= begin) lo = std::max(lo, a + offset + (n >= a + offset ? 1 : 0));

  // Spring forward: local [begin + prev_offset, begin + offset) does not exist.
  if (offset > prev_offset && begin >= a) {
    const int64_t gap_lo = begin + prev_offset;
    const int64_t gap_hi = begin + offset;
    const std::optional<LocalSeconds> first = cron->Next(LocalSeconds(gap_lo - 1));
    if (first && first->count() < gap_hi) {
      if (gap == DstGap::kSkip) {
        const int64_t from = begin > a ? gap_lo - 1 : std::max(n, gap_lo - 1);
        const std::optional<LocalSeconds> skipped = cron->Next(LocalSeconds(from));
        if (skipped && skipped->count() < gap_hi) {
          return MakeSlot(Slot::Kind::kSkipDstGap, begin, skipped->count(), 1, 1, offset);
        }
      } else {
        if (begin > a || first->count() > n) {
          const int64_t coalesced = cron->CountMatches(LocalSeconds(gap_lo), LocalSeconds(gap_hi)) +
                                    (cron->Matches(LocalSeconds(gap_hi)) ? 1 : 0);
          return MakeSlot(Slot::Kind::kFire, begin, first->count(), 1, coalesced, offset);
        }
        // The shifted fire at `begin` was consumed, and with it the nominal
        // time `begin + offset` it coalesced.
        lo = std::max(lo, gap_hi + 1);
      }
    }
  }

  // Fall back: local [begin + offset, begin + prev_offset) happened before.
  const bool overlap_here = offset < prev_offset;
  if (overlap_here && overlap == DstOverlap::kFirst) lo = std::max(lo, begin + prev_offset);
  const std::optional<LocalSeconds> next = cron->Next(LocalSeconds(lo - 1));
  if (!next || next->count() >= end + offset) return std::nullopt;
  const int occurrence = overlap_here && next->count() < begin + prev_offset ? 2 : 1;
  return MakeSlot(Slot::Kind::kFire, next->count() - offset, next->count(), occurrence, 1, offset);
}

std::optional<Slot> Schedule::Impl::NextCron(int64_t a, int64_t n) const {
  date::sys_info info = zone->get_info(date::sys_seconds(seconds(a)));
  int64_t prev_offset = PrevOffset(info);
  for (;;) {
    if (auto slot = InInterval(info, prev_offset, a, n)) return slot;
    if (End(info) >= kEndInstant) return std::nullopt;
    date::sys_info next = zone->get_info(info.end);
    prev_offset = Offset(info);
    // When the first nominal time from the start of `next`'s local times lies
    // beyond them, go straight to the interval that holds it: the intervals
    // in between hold no match (yearly expressions cross two per year).
    const int64_t local_start = Begin(next) + std::min(prev_offset, Offset(next));
    const std::optional<LocalSeconds> nominal = cron->Next(LocalSeconds(local_start - 1));
    if (!nominal) return std::nullopt;
    if (nominal->count() >= End(next) + Offset(next)) {
      const date::local_info li = zone->get_info(date::local_seconds(*nominal));
      const date::sys_info& target =
          li.result == date::local_info::nonexistent ? li.second : li.first;
      if (target.begin > next.begin) {
        info = target;
        prev_offset = PrevOffset(info);
        continue;
      }
    }
    info = next;
  }
}

std::optional<Slot> Schedule::Next(TimePoint after_at, LocalSeconds after_nominal) const {
  const auto whole = std::chrono::floor<seconds>(after_at);
  int64_t a = whole.time_since_epoch().count();
  int64_t n = after_nominal.count();
  // Slots are at whole seconds: after a fractional instant means after its second.
  if (whole != after_at) n = std::numeric_limits<int64_t>::max();
  if (a >= kEndInstant) return std::nullopt;
  if (a < kFirstInstant) {
    a = kFirstInstant - 1;
    n = std::numeric_limits<int64_t>::max();
  }
  return impl_->cron ? impl_->NextCron(a, n) : impl_->NextEvery(a, n);
}

std::optional<Slot> Schedule::Next(TimePoint after) const {
  return Next(after, LocalSeconds(std::numeric_limits<int64_t>::max()));
}

std::optional<Slot> Schedule::NextFire(TimePoint after) const {
  std::optional<Slot> slot = Next(after);
  while (slot && !slot->fires()) {
    // Every skip slot at `at` has a nominal time in the gap, which ends at
    // the local time of `at`: pass them all at once.
    const int64_t gap_end =
        std::chrono::floor<seconds>(slot->at).time_since_epoch().count() + slot->utc_offset_s;
    slot = Next(slot->at, LocalSeconds(gap_end - 1));
  }
  return slot;
}

DstGap Schedule::dst_gap() const { return impl_->gap; }
DstOverlap Schedule::dst_overlap() const { return impl_->overlap; }
bool Schedule::is_interval() const { return !impl_->cron; }
const ScheduleSpec& Schedule::spec() const { return impl_->spec; }

std::string Schedule::FormatLocal(TimePoint at) const {
  const int64_t s = std::chrono::floor<seconds>(at).time_since_epoch().count();
  const int64_t offset = impl_->OffsetAt(s);
  const int64_t magnitude = offset < 0 ? -offset : offset;
  char buf[32];
  if (magnitude % 60 == 0) {
    std::snprintf(buf, sizeof buf, "%c%02d:%02d", offset < 0 ? '-' : '+',
                  static_cast<int>(magnitude / 3600), static_cast<int>(magnitude / 60 % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%c%02d:%02d:%02d", offset < 0 ? '-' : '+',
                  static_cast<int>(magnitude / 3600), static_cast<int>(magnitude / 60 % 60),
                  static_cast<int>(magnitude % 60));
  }
  return FormatCivil(s + offset) + buf;
}

std::string Schedule::FormatNominal(LocalSeconds nominal) { return FormatCivil(nominal.count()); }

std::optional<LocalSeconds> Schedule::ParseNominal(std::string_view text) {
  int y, mo, d, h, mi, s;
  char tail;
  const std::string buf(text);
  if (std::sscanf(buf.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &s, &tail) != 6) {
    return std::nullopt;
  }
  const date::year_month_day ymd{date::year(y), date::month(static_cast<unsigned>(mo)),
                                 date::day(static_cast<unsigned>(d))};
  if (!ymd.ok() || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) return std::nullopt;
  const int64_t days = date::local_days(ymd).time_since_epoch().count();
  return LocalSeconds(days * kSecondsPerDay + h * 3600 + mi * 60 + s);
}

}  // namespace jobsched::cron
