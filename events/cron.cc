#include "events/cron.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jobsched::cron {
namespace {

constexpr int64_t kSecondsPerDay = 86400;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
constexpr int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct Civil {
  int64_t year;
  int month;
  int day;
};

constexpr Civil CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (month <= 2), month, day};
}

constexpr bool IsLeap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

constexpr int DaysInMonth(int64_t y, int m) {
  constexpr std::array<int, 13> kDays = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m];
}

// 0 = Sunday.
constexpr int WeekdayFromDays(int64_t z) {
  return static_cast<int>(z >= -4 ? (z + 4) % 7 : (z + 5) % 7 + 6);
}

constexpr int64_t FloorDiv(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

// Next() searches [0001-01-01T00:00:00, 10000-01-01T00:00:00).
constexpr int64_t kFirstSecond = DaysFromCivil(1, 1, 1) * kSecondsPerDay;
constexpr int64_t kEndSecond = DaysFromCivil(10000, 1, 1) * kSecondsPerDay;

// Bits 1..len.
constexpr uint32_t DaysUpTo(int len) {
  return static_cast<uint32_t>((uint64_t{1} << (len + 1)) - 2);
}

enum FieldIndex { kSecond = 0, kMinute, kHour, kDom, kMonth, kDow };

struct FieldSpec {
  const char* name;
  int min;
  int max;           // largest value accepted (7 for day of week)
  int wildcard_max;  // where "*" and "a/n" stop (6 for day of week)
};

constexpr std::array<FieldSpec, 6> kFields = {{
    {"second", 0, 59, 59},
    {"minute", 0, 59, 59},
    {"hour", 0, 23, 23},
    {"day of month", 1, 31, 31},
    {"month", 1, 12, 12},
    {"day of week", 0, 7, 6},
}};

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames = {"SUN", "MON", "TUE", "WED",
                                                       "THU", "FRI", "SAT"};

struct Macro {
  std::string_view name;
  std::string_view expansion;
};
constexpr std::array<Macro, 7> kMacros = {{
    {"@yearly", "0 0 0 1 1 *"},
    {"@annually", "0 0 0 1 1 *"},
    {"@monthly", "0 0 0 1 * *"},
    {"@weekly", "0 0 0 * * 0"},
    {"@daily", "0 0 0 * * *"},
    {"@midnight", "0 0 0 * * *"},
    {"@hourly", "0 0 * * * *"},
}};

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsBlank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> SplitBlanks(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && IsBlank(s[i])) ++i;
    size_t j = i;
    while (j < s.size() && !IsBlank(s[j])) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::vector<std::string_view> SplitCommas(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == ',') {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// All-digit text as a number, saturating at a value every range refuses.
std::optional<int64_t> ParseDigits(std::string_view s) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  int64_t v = 0;
  for (char c : s) v = std::min<int64_t>(v * 10 + (c - '0'), int64_t{1} << 40);
  return v;
}

}  // namespace

// Parses one expression into a CronExpr; every method returns the error of
// the first problem found, or nullopt.
class CronParser {
 public:
  explicit CronParser(CronExpr& out) : out_(out) {}

  std::optional<CronError> ParseFields(std::string_view text) {
    const std::vector<std::string_view> tokens = SplitBlanks(text);
    if (!tokens.empty() && tokens[0].front() == '@') return ParseMacro(tokens);
    if (tokens.size() != 5 && tokens.size() != 6) {
      return CronError{"", "expected 5 or 6 fields (or a macro such as @daily), got " +
                               std::to_string(tokens.size())};
    }
    std::array<std::string_view, 6> fields;
    if (tokens.size() == 5) {
      fields[kSecond] = "0";
      std::copy(tokens.begin(), tokens.end(), fields.begin() + 1);
    } else {
      std::copy(tokens.begin(), tokens.end(), fields.begin());
    }
    for (int f = kSecond; f <= kDow; ++f) {
      if (auto err = ParseField(static_cast<FieldIndex>(f), fields[f])) {
        return CronError{kFields[f].name, *err};
      }
    }
    out_.hour_wildcard_ = fields[kHour].front() == '*';
    return CheckFires(fields);
  }

 private:
  std::optional<CronError> ParseMacro(const std::vector<std::string_view>& tokens) {
    const std::string name = Lower(tokens[0]);
    for (const Macro& m : kMacros) {
      if (m.name != name) continue;
      if (tokens.size() > 1) {
        return CronError{"", "unexpected text after " + name + ": " + Quote(tokens[1])};
      }
      return ParseFields(m.expansion);
    }
    return CronError{"", "unknown macro " + Quote(tokens[0]) +
                             " (expected @yearly, @annually, @monthly, @weekly, @daily, "
                             "@midnight or @hourly)"};
  }

  // A value: digits, or a name in the month and day-of-week fields.
  std::variant<int, std::string> Value(FieldIndex f, std::string_view s) const {
    if (auto v = ParseDigits(s)) {
      const FieldSpec& spec = kFields[f];
      if (*v < spec.min || *v > spec.max) {
        return std::string(s) + " is out of range " + std::to_string(spec.min) + "-" +
               std::to_string(spec.max);
      }
      return static_cast<int>(*v);
    }
    const std::string upper = Upper(s);
    if (f == kMonth) {
      for (size_t i = 0; i < kMonthNames.size(); ++i) {
        if (kMonthNames[i] == upper) return static_cast<int>(i + 1);
      }
      return "expected a number or a month name, got " + Quote(s);
    }
    if (f == kDow) {
      for (size_t i = 0; i < kDayNames.size(); ++i) {
        if (kDayNames[i] == upper) return static_cast<int>(i);
      }
      return "expected a number or a day name, got " + Quote(s);
    }
    return "expected a number, got " + Quote(s);
  }

  // A number in [lo, hi] that is part of the special `item`.
  static std::variant<int, std::string> SpecialPart(std::string_view s, int lo, int hi,
                                                    std::string_view item) {
    const std::optional<int64_t> v = ParseDigits(s);
    if (!v) return "expected a number, got " + Quote(s);
    if (*v < lo || *v > hi) {
      return std::string(s) + " is out of range " + std::to_string(lo) + "-" + std::to_string(hi) +
             " in " + Quote(item);
    }
    return static_cast<int>(*v);
  }

  std::optional<std::string> ParseField(FieldIndex f, std::string_view text) {
    if (text.find('?') != std::string_view::npos) {
      if (f != kDom && f != kDow) return "\"?\" is only allowed in day of month and day of week";
      if (text != "?") return "\"?\" must be the whole field";
    }
    const bool star = text.front() == '*' || text == "?";
    if (f == kDom) out_.dom_star_ = star;
    if (f == kDow) out_.dow_star_ = star;
    if (text == "?") {
      AddRange(f, kFields[f].min, kFields[f].wildcard_max, 1);
      return std::nullopt;
    }
    for (std::string_view item : SplitCommas(text)) {
      if (auto err = ParseItem(f, item)) return err;
    }
    return std::nullopt;
  }

  std::optional<std::string> ParseItem(FieldIndex f, std::string_view item) {
    if (f == kDom && IsDowSpecial(item) && !IsDomSpecial(item)) {
      return Quote(item) + " is only allowed in day of week";
    }
    if (f == kDow && IsDomSpecial(item) && !IsDowSpecial(item)) {
      return Quote(item) + " is only allowed in day of month";
    }
    if (f == kDom && IsDomSpecial(item)) return ParseDomSpecial(item);
    if (f == kDow && IsDowSpecial(item)) return ParseDowSpecial(item);
    const FieldSpec& spec = kFields[f];
    std::string_view range = item;
    int step = 1;
    const size_t slash = item.find('/');
    if (slash != std::string_view::npos) {
      range = item.substr(0, slash);
      const std::string_view step_text = item.substr(slash + 1);
      const std::optional<int64_t> v = ParseDigits(step_text);
      if (!v) return "expected a number, got " + Quote(step_text);
      const int span = spec.wildcard_max - spec.min + 1;
      if (*v < 1 || *v > span) {
        return "step " + std::string(step_text) + " is out of range 1-" + std::to_string(span);
      }
      step = static_cast<int>(*v);
    }
    int lo;
    int hi;
    if (range == "*") {
      lo = spec.min;
      hi = spec.wildcard_max;
    } else {
      const size_t dash = range.find('-');
      auto a = Value(f, range.substr(0, dash));
      if (auto* err = std::get_if<std::string>(&a)) return *err;
      lo = std::get<int>(a);
      hi = slash != std::string_view::npos ? std::max(lo, spec.wildcard_max) : lo;
      if (dash != std::string_view::npos) {
        auto b = Value(f, range.substr(dash + 1));
        if (auto* err = std::get_if<std::string>(&b)) return *err;
        hi = std::get<int>(b);
        if (lo > hi) {
          return "range " + std::string(range) + " is reversed (" + std::to_string(lo) + " > " +
                 std::to_string(hi) + ")";
        }
      }
    }
    AddRange(f, lo, hi, step);
    return std::nullopt;
  }

  // "L", "LW", "L-n", "nW".
  static bool IsDomSpecial(std::string_view item) {
    const std::string upper = Upper(item);
    return upper == "L" || upper == "LW" || upper.starts_with("L-") ||
           (upper.size() > 1 && upper.back() == 'W');
  }

  std::optional<std::string> ParseDomSpecial(std::string_view item) {
    const std::string upper = Upper(item);
    if (upper == "L") {
      out_.dom_last_ |= 1;
    } else if (upper == "LW") {
      out_.dom_last_weekday_ = true;
    } else if (upper.starts_with("L-")) {
      auto n = SpecialPart(item.substr(2), 0, 30, item);
      if (auto* err = std::get_if<std::string>(&n)) return *err;
      out_.dom_last_ |= uint32_t{1} << std::get<int>(n);
    } else {
      auto n = SpecialPart(item.substr(0, item.size() - 1), 1, 31, item);
      if (auto* err = std::get_if<std::string>(&n)) return *err;
      out_.dom_nearest_weekday_ |= uint32_t{1} << std::get<int>(n);
    }
    return std::nullopt;
  }

  // "L" (refused), "nL", "n#k".
  static bool IsDowSpecial(std::string_view item) {
    return item.find('#') != std::string_view::npos ||
           (!item.empty() && (item.back() == 'L' || item.back() == 'l'));
  }

  std::optional<std::string> ParseDowSpecial(std::string_view item) {
    const size_t hash = item.find('#');
    const bool last = hash == std::string_view::npos;
    const std::string_view day_text = item.substr(0, last ? item.size() - 1 : hash);
    if (last && day_text.empty()) {
      return "\"L\" needs a weekday in day of week, e.g. 5L for the last Friday";
    }
    auto d = ParseDigits(day_text) ? SpecialPart(day_text, 0, 7, item) : Value(kDow, day_text);
    if (auto* err = std::get_if<std::string>(&d)) return *err;
    const int day = std::get<int>(d) % 7;
    if (last) {
      out_.dow_last_ |= static_cast<uint8_t>(1u << day);
      return std::nullopt;
    }
    auto k = SpecialPart(item.substr(hash + 1), 1, 5, item);
    if (auto* err = std::get_if<std::string>(&k)) return *err;
    out_.dow_nth_ |= uint64_t{1} << (day * 8 + std::get<int>(k));
    return std::nullopt;
  }

  void AddRange(FieldIndex f, int lo, int hi, int step) {
    for (int v = lo; v <= hi; v += step) {
      switch (f) {
        case kSecond:
          out_.seconds_ |= uint64_t{1} << v;
          break;
        case kMinute:
          out_.minutes_ |= uint64_t{1} << v;
          break;
        case kHour:
          out_.hours_ |= uint32_t{1} << v;
          break;
        case kDom:
          out_.dom_ |= uint32_t{1} << v;
          break;
        case kMonth:
          out_.months_ |= static_cast<uint16_t>(1u << v);
          break;
        case kDow:
          out_.dow_ |= static_cast<uint8_t>(1u << (v % 7));
          break;
      }
    }
  }

  // Refuses expressions whose day fields match no day of any allowed month:
  // a day's match depends only on the month's length and first weekday, and
  // every (month, length, first weekday) combination occurs in the calendar.
  std::optional<CronError> CheckFires(const std::array<std::string_view, 6>& fields) const {
    for (int m = 1; m <= 12; ++m) {
      if (!(out_.months_ >> m & 1)) continue;
      for (int len : {DaysInMonth(2001, m), DaysInMonth(2000, m)}) {
        for (int first_wd = 0; first_wd < 7; ++first_wd) {
          if (out_.MonthMask(len, first_wd) != 0) return std::nullopt;
        }
      }
    }
    std::string what;
    if (fields[kDom] != "*" && fields[kDom] != "?") {
      what = "day of month " + std::string(fields[kDom]);
    }
    if (fields[kDow] != "*" && fields[kDow] != "?") {
      what +=
          (what.empty() ? "" : " and ") + std::string("day of week ") + std::string(fields[kDow]);
    }
    return CronError{"", "the expression never fires: no day matches " + what + " in month " +
                             std::string(fields[kMonth])};
  }

  CronExpr& out_;
};

std::string CronError::ToString() const { return field.empty() ? message : field + ": " + message; }

std::variant<CronExpr, CronError> CronExpr::Parse(std::string_view text) {
  CronExpr expr;
  expr.text_ = std::string(Trim(text));
  CronParser parser(expr);
  if (auto err = parser.ParseFields(expr.text_)) return *err;
  return expr;
}

uint32_t CronExpr::MonthMask(int length, int first_weekday) const {
  const auto weekday = [first_weekday](int d) { return (first_weekday + d - 1) % 7; };
  uint32_t dom_mask = dom_;
  for (uint32_t bits = dom_last_; bits != 0; bits &= bits - 1) {
    const int n = std::countr_zero(bits);
    if (length - n >= 1) dom_mask |= uint32_t{1} << (length - n);
  }
  for (uint32_t bits = dom_nearest_weekday_ & DaysUpTo(length); bits != 0; bits &= bits - 1) {
    const int n = std::countr_zero(bits);
    int d = n;
    if (weekday(n) == 6) d = n == 1 ? 3 : n - 1;
    if (weekday(n) == 0) d = n == length ? n - 2 : n + 1;
    dom_mask |= uint32_t{1} << d;
  }
  if (dom_last_weekday_) {
    const int wd = weekday(length);
    dom_mask |= uint32_t{1} << (wd == 6 ? length - 1 : wd == 0 ? length - 2 : length);
  }

  uint32_t week = 0;  // days 1..7 whose weekday is in dow_
  for (int d = 1; d <= 7; ++d) {
    if (dow_ >> weekday(d) & 1) week |= uint32_t{1} << d;
  }
  uint32_t dow_mask = week | week << 7 | week << 14 | week << 21 | week << 28;
  const int last_weekday = weekday(length);
  for (int w = 0; w < 7; ++w) {
    if (dow_last_ >> w & 1) dow_mask |= uint32_t{1} << (length - (last_weekday - w + 7) % 7);
    const int first = 1 + (w - first_weekday + 7) % 7;
    for (int k = 1; k <= 5; ++k) {
      const int d = first + 7 * (k - 1);
      if ((dow_nth_ >> (w * 8 + k) & 1) && d <= length) dow_mask |= uint32_t{1} << d;
    }
  }
  const uint32_t days = dom_star_ || dow_star_ ? dom_mask & dow_mask : dom_mask | dow_mask;
  return days & DaysUpTo(length);
}

uint32_t CronExpr::DayMask(int64_t year, int month) const {
  return MonthMask(DaysInMonth(year, month), WeekdayFromDays(DaysFromCivil(year, month, 1)));
}

bool CronExpr::Matches(LocalSeconds t) const {
  const int64_t s = t.count();
  const int64_t days = FloorDiv(s, kSecondsPerDay);
  const int64_t sod = s - days * kSecondsPerDay;
  const Civil c = CivilFromDays(days);
  return (seconds_ >> (sod % 60) & 1) && (minutes_ >> (sod / 60 % 60) & 1) &&
         (hours_ >> (sod / 3600) & 1) && (months_ >> c.month & 1) &&
         (DayMask(c.year, c.month) >> c.day & 1);
}

std::optional<LocalSeconds> CronExpr::Next(LocalSeconds after) const {
  if (after.count() >= kEndSecond - 1) return std::nullopt;
  const int64_t start = std::max(after.count() + 1, kFirstSecond);
  const int64_t start_days = FloorDiv(start, kSecondsPerDay);
  const int64_t sod = start - start_days * kSecondsPerDay;
  const Civil c = CivilFromDays(start_days);
  int64_t y = c.year;
  int m = c.month;
  int d = c.day;
  int hh = static_cast<int>(sod / 3600);
  int mm = static_cast<int>(sod / 60 % 60);
  int ss = static_cast<int>(sod % 60);

  // The day mask of (mask_y, mask_m), recomputed only when the month changes.
  int64_t mask_y = -1;
  int mask_m = 0;
  uint32_t mask = 0;
  const auto next_month = [&] {
    if (++m > 12) {
      m = 1;
      ++y;
    }
    d = 1;
    hh = mm = ss = 0;
  };
  const auto next_day = [&] {
    if (d >= DaysInMonth(y, m)) {
      next_month();
      return;
    }
    ++d;
    hh = mm = ss = 0;
  };
  while (y <= 9999) {
    if (!(months_ >> m & 1)) {
      const uint16_t later = months_ & static_cast<uint16_t>(0xFFFFu << (m + 1));
      if (later == 0) {
        ++y;
        m = std::countr_zero(months_);
      } else {
        m = std::countr_zero(later);
      }
      d = 1;
      hh = mm = ss = 0;
      continue;
    }
    if (y != mask_y || m != mask_m) {
      mask_y = y;
      mask_m = m;
      mask = DayMask(y, m);
    }
    const uint32_t days = mask & (~uint32_t{0} << d);
    if (days == 0) {
      next_month();
      continue;
    }
    if (const int nd = std::countr_zero(days); nd != d) {
      d = nd;
      hh = mm = ss = 0;
    }
    const uint32_t hours = hours_ & (~uint32_t{0} << hh);
    if (hours == 0) {
      next_day();
      continue;
    }
    if (const int nh = std::countr_zero(hours); nh != hh) {
      hh = nh;
      mm = ss = 0;
    }
    const uint64_t minutes = minutes_ & (~uint64_t{0} << mm);
    if (minutes == 0) {
      if (++hh == 24) {
        next_day();
      } else {
        mm = ss = 0;
      }
      continue;
    }
    if (const int nm = std::countr_zero(minutes); nm != mm) {
      mm = nm;
      ss = 0;
    }
    const uint64_t seconds = seconds_ & (~uint64_t{0} << ss);
    if (seconds == 0) {
      if (++mm == 60) {
        if (++hh == 24) {
          next_day();
        } else {
          mm = ss = 0;
        }
      } else {
        ss = 0;
      }
      continue;
    }
    ss = std::countr_zero(seconds);
    return LocalSeconds(DaysFromCivil(y, m, d) * kSecondsPerDay + hh * 3600 + mm * 60 + ss);
  }
  return std::nullopt;
}

bool CronExpr::HourIsWildcard() const { return hour_wildcard_; }

int64_t CronExpr::CountTimesBefore(int64_t second_of_day) const {
  const int h = static_cast<int>(second_of_day / 3600);
  const int m = static_cast<int>(second_of_day / 60 % 60);
  const int s = static_cast<int>(second_of_day % 60);
  const int64_t per_minute = std::popcount(seconds_);
  const int64_t per_hour = std::popcount(minutes_) * per_minute;
  int64_t n = std::popcount(hours_ & ((uint32_t{1} << h) - 1)) * per_hour;
  if (h < 24 && (hours_ >> h & 1)) {
    n += std::popcount(minutes_ & ((uint64_t{1} << m) - 1)) * per_minute;
    if (minutes_ >> m & 1) n += std::popcount(seconds_ & ((uint64_t{1} << s) - 1));
  }
  return n;
}

int64_t CronExpr::CountMatches(LocalSeconds from, LocalSeconds to) const {
  const int64_t lo = std::max(from.count(), kFirstSecond);
  const int64_t hi = std::min(to.count(), kEndSecond);
  int64_t n = 0;
  for (int64_t day = FloorDiv(lo, kSecondsPerDay); day * kSecondsPerDay < hi; ++day) {
    const Civil c = CivilFromDays(day);
    if (!(months_ >> c.month & 1) || !(DayMask(c.year, c.month) >> c.day & 1)) continue;
    const int64_t begin = day * kSecondsPerDay;
    n += CountTimesBefore(std::min(hi - begin, kSecondsPerDay)) -
         CountTimesBefore(std::max(lo - begin, int64_t{0}));
  }
  return n;
}

}  // namespace jobsched::cron
