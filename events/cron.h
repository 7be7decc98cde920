// Cron expressions with seconds: parsing, validation and "next match" in
// local (zone-less) wall time. Zones, DST and intervals live in schedule.h.
//
// Grammar (one expression, fields separated by blanks):
//   6 fields   sec min hour dom mon dow
//   5 fields   min hour dom mon dow            (seconds = 0)
//   macros     @yearly @annually @monthly @weekly @daily @midnight @hourly
//              (= "0 0 0 1 1 *", "0 0 0 1 * *", "0 0 0 * * 0", "0 0 0 * * *", "0 0 * * * *")
// Each field: "*", "?" (dom/dow only; same as "*"), a value, a range "a-b",
// a step "*/n", "a/n" (from a to the field's max), "a-b/n", or a comma list
// of these. Month names JAN..DEC and weekday names SUN..SAT (any case) stand
// for their numbers anywhere a value is allowed. dow 0 and 7 are Sunday.
// Quartz extensions:
//   dom  "L" (last day of the month), "L-n" (n days before it), "nW" (the
//        weekday nearest day n, never leaving the month), "LW" (last weekday)
//   dow  "nL" (last weekday n of the month, e.g. 5L = last Friday),
//        "n#k" (k-th weekday n of the month, k in 1..5; 1#2 = second Monday)
// Day matching follows Vixie cron: when both dom and dow are restricted, a
// day matches if either matches; a field that starts with "*" (or is "?")
// counts as unrestricted.
//
// Precise rules (decisions where the grammar above leaves room):
//   - Vixie day rule, exactly as Vixie cron applies it: if dom or dow starts
//     with "*" or is "?", a day must match BOTH fields (a plain "*" or "?"
//     matches every day, so the other field alone decides); otherwise a day
//     matches if EITHER field does. So "0 0 0 */2 * 1" fires on Mondays that
//     fall on an odd day of the month, while "0 0 0 1-31/2 * 1" fires on every
//     odd day and on every Monday.
//   - "*" and "a/n" run over the field's values; in day of week they run over
//     0..6 ("1/2" is MON,WED,FRI), and 7 means Sunday only where it is written
//     (a value, or an explicit range such as "5-7" or "5-7/2").
//   - A step n is in 1..(number of values of the field): 1-60 for seconds and
//     minutes, 1-24 hours, 1-31 day of month, 1-12 month, 1-7 day of week.
//   - "?" stands alone (not in a list). "L" alone is refused in day of week
//     (Quartz reads it as Saturday); write "6L" or "SATL" style forms instead.
//     Weekday names work in the Quartz forms too: "FRIL", "MON#2".
//   - L-n takes n in 0..30 and fires only in months with more than n days.
//     "nW" fires only in months that have a day n, like n itself ("31W" skips
//     30-day months; "LW" is the last weekday of every month). The nearest
//     weekday of a Saturday is the Friday before, of a Sunday the Monday
//     after, except that the month is never left: "1W" on a Saturday is
//     Monday the 3rd, and a Sunday that ends the month gives the Friday before.
//   - Specials ("L", "L-n", "nW", "LW", "nL", "n#k") are single list items; they
//     combine with other items of their field ("1,15W,L" is valid).
//   - Macros and weekday/month names are case-insensitive.
// Error messages (CronError::message), by kind (outer quotes omitted):
//   out of range   61 is out of range 0-59
//                  6 is out of range 1-5 in "1#6"       (a part of a special)
//   bad token      expected a number, got "x"
//                  expected a number or a month name, got "x"   (month)
//                  expected a number or a day name, got "x"     (day of week)
//   reversed       range 40-10 is reversed (40 > 10)
//   step           step 0 is out of range 1-60
//   "?" misplaced  "?" is only allowed in day of month and day of week
//                  "?" must be the whole field
//   "L" in dow     "L" needs a weekday in day of week, e.g. 5L for the last Friday
//   wrong field    "1#2" is only allowed in day of week (also "5L" in day of month)
//                  "15W" is only allowed in day of month (also "LW", "L-2" in day of week)
//   field count    expected 5 or 6 fields (or a macro such as @daily), got 4
//   macro          unknown macro "@foo" (expected @yearly, @annually, @monthly, @weekly,
//                  @daily, @midnight or @hourly)
//                  unexpected text after @daily: "x"
//   never fires    the expression never fires: no day matches day of month 30 in month 2
//                  (day of week is named when it takes part: "... no day matches day of
//                  month */10 and day of week 6#5 in month 2")
// The never-fires check is exact and bounded: whether a day matches depends
// only on (month, length of the month, weekday of its first day), and every
// such combination occurs in the Gregorian calendar (whose pattern repeats
// every 400 years) within any few decades, so at most 12 * 2 * 7 month shapes
// are examined.
//
// Pure and thread-compatible; a parsed CronExpr is immutable and cheap to copy.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace jobsched::cron {

// Seconds of local wall time since 1970-01-01T00:00:00 (no zone): the same
// representation as date::local_seconds, kept free of date.h here.
using LocalSeconds = std::chrono::seconds;

// Why an expression was refused.
struct CronError {
  // The cron field at fault: "second", "minute", "hour", "day of month",
  // "month", "day of week"; "" when the error concerns the whole expression
  // (wrong number of fields, unknown macro, never fires).
  std::string field;
  // Says what is wrong, e.g. "61 is out of range 0-59", "expected a number, got \"x\"".
  std::string message;
  // "minute: 61 is out of range 0-59", or just the message when field is "".
  std::string ToString() const;
  bool operator==(const CronError&) const = default;
};

class CronExpr {
 public:
  // Parses and validates `text`. Refuses (CronError) anything outside the
  // grammar, out-of-range values, ranges whose start exceeds their end, steps
  // of 0, and expressions that can never match any date (e.g. "0 0 0 30 2 *",
  // "0 0 0 31 4,6,9,11 *"); the latter never loops: the check is bounded.
  static std::variant<CronExpr, CronError> Parse(std::string_view text);

  // The first local time strictly after `after` that matches. Jumps field by
  // field (year, month, day, hour, minute, second), never scanning second by
  // second; costs microseconds. nullopt only past year 9999.
  std::optional<LocalSeconds> Next(LocalSeconds after) const;

  // Whether local time `t` matches every field.
  bool Matches(LocalSeconds t) const;

  // True when the hour field starts with "*" (e.g. "*", "*/2"): the schedule
  // is an interval, which decides the `auto` DST policies (schedule.h).
  bool HourIsWildcard() const;

  // The number of matching local times in [from, to). Costs O(days spanned):
  // meant for short ranges such as a DST gap (schedule.h counts the nominal
  // times it coalesces with it).
  int64_t CountMatches(LocalSeconds from, LocalSeconds to) const;

  // The text as given (trimmed).
  const std::string& text() const { return text_; }

 private:
  friend class CronParser;
  CronExpr() = default;
  // Bit d (1..31) set: day d of `month` (1..12) of `year` matches dom and dow
  // under the Vixie rule.
  uint32_t DayMask(int64_t year, int month) const;
  // The same for a month of `length` days whose day 1 is weekday `first_weekday`
  // (0 = Sunday): all that day matching depends on.
  uint32_t MonthMask(int length, int first_weekday) const;
  // Matching times of day in [0, second_of_day), second_of_day in 0..86400.
  int64_t CountTimesBefore(int64_t second_of_day) const;

  std::string text_;
  // Bit sets: second/minute 0..59, hour 0..23, dom 1..31, month 1..12, dow 0..6.
  uint64_t seconds_ = 0;
  uint64_t minutes_ = 0;
  uint32_t hours_ = 0;
  uint32_t dom_ = 0;
  uint16_t months_ = 0;
  uint8_t dow_ = 0;
  // The field starts with "*" or is "?" (Vixie: then days must match both).
  bool dom_star_ = false;
  bool dow_star_ = false;
  bool hour_wildcard_ = false;
  // Quartz specials (0 / false when absent).
  uint32_t dom_last_ = 0;             // bit n set: "L-n" ("L" is n = 0)
  bool dom_last_weekday_ = false;     // LW
  uint32_t dom_nearest_weekday_ = 0;  // bit d set: "dW"
  uint8_t dow_last_ = 0;              // bit d set: "dL"
  uint64_t dow_nth_ = 0;              // bit (d*8+k) set: "d#k"
};

}  // namespace jobsched::cron
