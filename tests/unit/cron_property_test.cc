// Property tests: random expressions covering the whole grammar, checked
// against brute-force oracles that share no code with the implementation.
//   - The generator knows what each item it renders means; the oracle matcher
//     evaluates those items naively (std::chrono calendar, day-by-day scans).
//   - CronExpr::Next is compared with a day-then-second scan in local time,
//     and with a second-by-second scan of CronExpr::Matches.
//   - Schedule::Next in random zones is compared, slot by slot, with a scan
//     of every instant of a 3-day window (1 s steps) that applies the DST
//     policies itself; rarer expressions are compared with an oracle built on
//     date's local-time conversion.
//   - The never-fires refusal is compared with a scan of a 400-year cycle.
// The seed is printed; set CRON_PROPERTY_SEED to replay a failure.
#include <date/tz.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "events/cron.h"
#include "events/schedule.h"

namespace jobsched::cron {
namespace {

using std::chrono::seconds;

constexpr int64_t kDay = 86400;

uint64_t Seed() {
  static const uint64_t seed = [] {
    const char* env = std::getenv("CRON_PROPERTY_SEED");
    const uint64_t s = env ? std::strtoull(env, nullptr, 10) : 20260308;
    std::cout << "cron property seed: " << s << " (set CRON_PROPERTY_SEED to change)\n";
    return s;
  }();
  return seed;
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  int64_t Uniform(int64_t lo, int64_t hi) {  // inclusive
    return std::uniform_int_distribution<int64_t>(lo, hi)(gen_);
  }
  int Int(int lo, int hi) { return static_cast<int>(Uniform(lo, hi)); }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(gen_) < p; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(Uniform(0, static_cast<int64_t>(v.size()) - 1))];
  }

 private:
  std::mt19937_64 gen_;
};

// ---------------------------------------------------------------------------
// Generated expressions and their meaning.

enum class Kind {
  kStar,         // "*" or "*/step"
  kQuestion,     // "?"
  kValue,        // a
  kRange,        // a-b or a-b/step
  kFrom,         // a/step
  kLastMinus,    // L or L-a
  kLastWeekday,  // LW
  kNearest,      // aW
  kDowLast,      // aL
  kNth,          // a#b
};

struct Item {
  Kind kind;
  int a = 0;
  int b = 0;
  int step = 1;
};

struct Field {
  std::vector<Item> items;
  std::string text;
};

enum FieldIndex { kSec, kMin, kHour, kDom, kMon, kDow };
constexpr int kMinOf[] = {0, 0, 0, 1, 1, 0};
constexpr int kMaxOf[] = {59, 59, 23, 31, 12, 7};
constexpr int kWildMaxOf[] = {59, 59, 23, 31, 12, 6};

struct Expr {
  std::array<Field, 6> fields;
  std::string text;
};

const char* const kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                   "jul", "aug", "sep", "oct", "nov", "dec"};
const char* const kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

std::string RandomCase(Rng& rng, std::string s) {
  for (char& c : s) {
    if (rng.Chance(0.5)) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return s;
}

std::string ValueText(Rng& rng, int f, int v) {
  if (f == kMon && rng.Chance(0.3)) return RandomCase(rng, kMonthNames[v - 1]);
  if (f == kDow && v < 7 && rng.Chance(0.3)) return RandomCase(rng, kDayNames[v]);
  return std::to_string(v);
}

// Renders and records one plain item of field f.
std::string PlainItem(Rng& rng, int f, Item& item) {
  const int lo = kMinOf[f];
  const int hi = kMaxOf[f];
  const int span = kWildMaxOf[f] - lo + 1;
  const int step = rng.Chance(0.5) ? rng.Int(1, std::min(span, 6)) : rng.Int(1, span);
  switch (rng.Int(0, 4)) {
    case 0:
      item = {Kind::kStar, 0, 0, step};
      return step == 1 && rng.Chance(0.5) ? "*" : "*/" + std::to_string(step);
    case 1: {
      const int a = rng.Int(lo, hi);
      item = {Kind::kValue, a, 0, 1};
      return ValueText(rng, f, a);
    }
    case 2: {
      const int a = rng.Int(lo, hi);
      const int b = rng.Int(a, hi);
      const bool stepped = rng.Chance(0.4);
      item = {Kind::kRange, a, b, stepped ? step : 1};
      return ValueText(rng, f, a) + "-" + ValueText(rng, f, b) +
             (stepped ? "/" + std::to_string(step) : "");
    }
    default: {
      const int a = rng.Int(lo, hi);
      item = {Kind::kFrom, a, 0, step};
      return ValueText(rng, f, a) + "/" + std::to_string(step);
    }
  }
}

std::string DomSpecial(Rng& rng, Item& item) {
  switch (rng.Int(0, 3)) {
    case 0: {
      const int n = rng.Chance(0.5) ? 0 : rng.Chance(0.5) ? rng.Int(1, 5) : rng.Int(25, 30);
      item = {Kind::kLastMinus, n};
      return n == 0 ? "L" : "L-" + std::to_string(n);
    }
    case 1:
      item = {Kind::kLastWeekday};
      return rng.Chance(0.5) ? "LW" : "lw";
    default: {
      const int n =
          rng.Chance(0.5) ? rng.Pick(std::vector<int>{1, 2, 15, 28, 29, 30, 31}) : rng.Int(1, 31);
      item = {Kind::kNearest, n};
      return std::to_string(n) + (rng.Chance(0.8) ? "W" : "w");
    }
  }
}

std::string DowSpecial(Rng& rng, Item& item) {
  const int d = rng.Int(0, 7);
  const std::string day =
      d < 7 && rng.Chance(0.3) ? RandomCase(rng, kDayNames[d]) : std::to_string(d);
  if (rng.Chance(0.4)) {
    item = {Kind::kDowLast, d};
    return day + "L";
  }
  const int k = rng.Chance(0.3) ? 5 : rng.Int(1, 5);
  item = {Kind::kNth, d, k};
  return day + "#" + std::to_string(k);
}

Field GenField(Rng& rng, int f) {
  Field field;
  if ((f == kDom || f == kDow) && rng.Chance(0.15)) {
    field.items.push_back({Kind::kQuestion});
    field.text = "?";
    return field;
  }
  if (rng.Chance(f == kDom || f == kDow || f == kMon ? 0.4 : 0.25)) {
    field.items.push_back({Kind::kStar});
    field.text = "*";
    return field;
  }
  const int n = rng.Chance(0.6) ? 1 : rng.Int(2, 3);
  for (int i = 0; i < n; ++i) {
    Item item;
    std::string text;
    if (f == kDom && rng.Chance(0.35)) {
      text = DomSpecial(rng, item);
    } else if (f == kDow && rng.Chance(0.35)) {
      text = DowSpecial(rng, item);
    } else {
      text = PlainItem(rng, f, item);
    }
    field.items.push_back(item);
    field.text += (i ? "," : "") + text;
  }
  return field;
}

// "*" or a number.
Field Literal(const std::string& text) {
  Field field;
  field.text = text;
  if (text == "*") {
    field.items.push_back({Kind::kStar});
  } else {
    field.items.push_back({Kind::kValue, std::stoi(text)});
  }
  return field;
}

Expr Assemble(std::array<Field, 6> fields, bool five) {
  Expr e{std::move(fields), ""};
  for (int f = five ? kMin : kSec; f <= kDow; ++f) {
    e.text += (e.text.empty() ? "" : " ") + e.fields[f].text;
  }
  return e;
}

// Any expression of the grammar, macros included.
Expr GenExpr(Rng& rng) {
  if (rng.Chance(0.05)) {
    static const std::vector<std::pair<std::string, std::string>> kMacros = {
        {"@yearly", "0 0 0 1 1 *"}, {"@annually", "0 0 0 1 1 *"}, {"@monthly", "0 0 0 1 * *"},
        {"@weekly", "0 0 0 * * 0"}, {"@daily", "0 0 0 * * *"},    {"@midnight", "0 0 0 * * *"},
        {"@hourly", "0 0 * * * *"}};
    const auto& [name, expansion] = rng.Pick(kMacros);
    std::array<Field, 6> fields;
    size_t pos = 0;
    for (int f = 0; f < 6; ++f) {
      const size_t next = expansion.find(' ', pos);
      fields[f] = Literal(expansion.substr(pos, next - pos));
      pos = next + 1;
    }
    Expr e = Assemble(std::move(fields), false);
    e.text = RandomCase(rng, name);
    return e;
  }
  const bool five = rng.Chance(0.3);
  std::array<Field, 6> fields;
  for (int f = 0; f < 6; ++f) fields[f] = GenField(rng, f);
  if (five) fields[kSec] = Literal("0");
  return Assemble(std::move(fields), five);
}

// Expressions that fire often enough to have slots in a 3-day window, with
// hours biased towards the small hours where transitions happen.
Expr GenFrequentExpr(Rng& rng) {
  std::array<Field, 6> fields;
  const auto pick = [&](int f, const std::vector<std::string>& texts) {
    Field field;
    field.text = rng.Pick(texts);
    // Parse the few shapes used here into items.
    size_t pos = 0;
    while (pos <= field.text.size()) {
      const size_t comma = std::min(field.text.find(',', pos), field.text.size());
      const std::string part = field.text.substr(pos, comma - pos);
      Item item;
      const size_t slash = part.find('/');
      const int step = slash == std::string::npos ? 1 : std::stoi(part.substr(slash + 1));
      const std::string range = part.substr(0, slash);
      const size_t dash = range.find('-');
      if (range == "*") {
        item = {Kind::kStar, 0, 0, step};
      } else if (range == "?") {
        item = {Kind::kQuestion};
      } else if (range == "L") {
        item = {Kind::kLastMinus, 0};
      } else if (dash != std::string::npos) {
        item = {Kind::kRange, std::stoi(range.substr(0, dash)), std::stoi(range.substr(dash + 1)),
                step};
      } else if (slash != std::string::npos) {
        item = {Kind::kFrom, std::stoi(range), 0, step};
      } else {
        item = {Kind::kValue, std::stoi(range)};
      }
      field.items.push_back(item);
      pos = comma + 1;
    }
    fields[f] = field;
  };
  pick(kSec, {"0", "0", "0,30", "*/20", "15", "59", "*/7"});
  pick(kMin, {"*", "*/15", "*/20", "0,30", "5/10", "0-10", "*/7", "30", "0", "45"});
  pick(kHour, {"*", "*", "*/2", "1-3", "0-5,22-23", "2", "1,2,3", "0-3/3", "1", "3", "23", "0"});
  pick(kDom, {"*", "*", "*", "?", "*/2", "1-15", "L", "2-31"});
  pick(kMon, {"*", "*", "*", "1-6", "*/2"});
  pick(kDow, {"*", "*", "?", "1-5", "0,6", "*/2", "0-7"});
  return Assemble(std::move(fields), false);
}

// ---------------------------------------------------------------------------
// The oracle matcher.

struct Date {
  int y;
  int m;
  int d;
};

Date ToDate(int64_t day) {
  const std::chrono::year_month_day ymd{std::chrono::sys_days(std::chrono::days(day))};
  return {static_cast<int>(ymd.year()), static_cast<int>(static_cast<unsigned>(ymd.month())),
          static_cast<int>(static_cast<unsigned>(ymd.day()))};
}

int LengthOf(int y, int m) {
  const std::chrono::year_month_day_last last{std::chrono::year(y) / std::chrono::month(m) /
                                              std::chrono::last};
  return static_cast<int>(static_cast<unsigned>(last.day()));
}

int WeekdayOf(int y, int m, int d) {
  return static_cast<int>(
      std::chrono::weekday(std::chrono::sys_days(std::chrono::year(y) / m / d)).c_encoding());
}

bool PlainMatches(const Item& item, int v, int f) {
  const int lo = kMinOf[f];
  switch (item.kind) {
    case Kind::kStar:
      return v >= lo && v <= kWildMaxOf[f] && (v - lo) % item.step == 0;
    case Kind::kQuestion:
      return true;
    case Kind::kValue:
      return v == item.a;
    case Kind::kRange:
      return v >= item.a && v <= item.b && (v - item.a) % item.step == 0;
    case Kind::kFrom:
      return v >= item.a && v <= std::max(item.a, kWildMaxOf[f]) && (v - item.a) % item.step == 0;
    default:
      return false;
  }
}

bool FieldMatches(const Field& field, int f, int v) {
  for (const Item& item : field.items) {
    if (PlainMatches(item, v, f)) return true;
  }
  return false;
}

bool IsWeekend(int y, int m, int d) {
  const int wd = WeekdayOf(y, m, d);
  return wd == 0 || wd == 6;
}

bool DomItemMatches(const Item& item, int y, int m, int d) {
  const int len = LengthOf(y, m);
  switch (item.kind) {
    case Kind::kLastMinus:
      return d == len - item.a;
    case Kind::kLastWeekday: {
      int x = len;
      while (IsWeekend(y, m, x)) --x;
      return d == x;
    }
    case Kind::kNearest: {
      if (item.a > len) return false;
      // The weekday of the month closest to day a (never a tie: a Saturday
      // is 1 from Friday and 2 from Monday, a Sunday the other way round).
      int best = -1;
      for (int x = 1; x <= len; ++x) {
        if (IsWeekend(y, m, x)) continue;
        if (best < 0 || std::abs(x - item.a) < std::abs(best - item.a)) best = x;
      }
      return d == best;
    }
    default:
      return PlainMatches(item, d, kDom);
  }
}

bool DowItemMatches(const Item& item, int y, int m, int d) {
  const int wd = WeekdayOf(y, m, d);
  switch (item.kind) {
    case Kind::kDowLast:
      return wd == item.a % 7 && d + 7 > LengthOf(y, m);
    case Kind::kNth:
      return wd == item.a % 7 && (d - 1) / 7 + 1 == item.b;
    default:
      return PlainMatches(item, wd, kDow) || (wd == 0 && PlainMatches(item, 7, kDow));
  }
}

bool DayMatches(const Expr& e, int y, int m, int d) {
  if (!FieldMatches(e.fields[kMon], kMon, m)) return false;
  bool dom = false;
  for (const Item& item : e.fields[kDom].items) dom = dom || DomItemMatches(item, y, m, d);
  bool dow = false;
  for (const Item& item : e.fields[kDow].items) dow = dow || DowItemMatches(item, y, m, d);
  const auto star = [](const Field& f) { return f.text[0] == '*' || f.text == "?"; };
  return star(e.fields[kDom]) || star(e.fields[kDow]) ? dom && dow : dom || dow;
}

// Fast repeated evaluation of one expression: time-of-day tables and a
// one-day cache over the naive day matcher.
class Oracle {
 public:
  explicit Oracle(const Expr& e) : e_(e) {
    for (int v = 0; v < 60; ++v) {
      sec_[v] = FieldMatches(e.fields[kSec], kSec, v);
      min_[v] = FieldMatches(e.fields[kMin], kMin, v);
    }
    for (int v = 0; v < 24; ++v) hour_[v] = FieldMatches(e.fields[kHour], kHour, v);
  }

  bool Day(int64_t day) {
    if (day != cached_day_) {
      const Date dt = ToDate(day);
      cached_day_ = day;
      cached_ = DayMatches(e_, dt.y, dt.m, dt.d);
    }
    return cached_;
  }

  bool Time(int64_t sod) const {
    return hour_[sod / 3600] && min_[sod / 60 % 60] && sec_[sod % 60];
  }

  bool Matches(int64_t local) {
    const int64_t day = local >= 0 ? local / kDay : (local - kDay + 1) / kDay;
    return Day(day) && Time(local - day * kDay);
  }

  // Day-then-second scan: the first match after `after`, searching
  // `max_days` days. nullopt: none in that span.
  std::optional<int64_t> Next(int64_t after, int max_days) {
    const int64_t t = after + 1;
    int64_t day = t >= 0 ? t / kDay : (t - kDay + 1) / kDay;
    int64_t from = t - day * kDay;
    for (int i = 0; i < max_days; ++i, ++day, from = 0) {
      if (!Day(day)) continue;
      for (int64_t sod = from; sod < kDay; ++sod) {
        if (Time(sod)) return day * kDay + sod;
      }
    }
    return std::nullopt;
  }

 private:
  const Expr& e_;
  bool sec_[60];
  bool min_[60];
  bool hour_[24];
  int64_t cached_day_ = INT64_MIN;
  bool cached_ = false;
};

// Whether any day of the 400-year Gregorian cycle matches.
bool FiresIn400Years(const Expr& e) {
  for (int y = 2000; y < 2400; ++y) {
    for (int m = 1; m <= 12; ++m) {
      if (!FieldMatches(e.fields[kMon], kMon, m)) continue;
      for (int d = 1, len = LengthOf(y, m); d <= len; ++d) {
        if (DayMatches(e, y, m, d)) return true;
      }
    }
  }
  return false;
}

int64_t LocalOf(int y, int m, int d) {
  return std::chrono::sys_days(std::chrono::year(y) / m / d).time_since_epoch().count() * kDay;
}

std::string Show(int64_t local) { return Schedule::FormatNominal(LocalSeconds(local)); }

// ---------------------------------------------------------------------------

TEST(CronPropertyTest, NextAgreesWithDayThenSecondScan) {
  Rng rng(Seed());
  int checked = 0;
  int refused = 0;
  for (int c = 0; c < 700; ++c) {
    const Expr e = GenExpr(rng);
    auto parsed = CronExpr::Parse(e.text);
    if (auto* err = std::get_if<CronError>(&parsed)) {
      // Generated expressions are well formed: only "never fires" may refuse.
      EXPECT_EQ(err->field, "") << e.text << ": " << err->ToString();
      EXPECT_EQ(err->message.rfind("the expression never fires", 0), 0u) << e.text;
      EXPECT_FALSE(FiresIn400Years(e)) << e.text << " was refused but fires";
      ++refused;
      continue;
    }
    const CronExpr& cron = std::get<CronExpr>(parsed);
    Oracle oracle(e);
    for (int k = 0; k < 6; ++k) {
      int64_t after;
      if (k % 3 == 0) {
        // Near the end of a month, where L, W and # live.
        const int y = rng.Int(1990, 2060);
        const int m = rng.Int(1, 12);
        after = LocalOf(y, m, LengthOf(y, m)) - rng.Uniform(0, 3 * kDay);
      } else {
        after = LocalOf(1990, 1, 1) + rng.Uniform(0, 70LL * 365 * kDay);
      }
      const std::optional<LocalSeconds> got = cron.Next(LocalSeconds(after));
      const std::optional<int64_t> want = oracle.Next(after, 366 * 60);
      ASSERT_TRUE(got) << e.text << " after " << Show(after);
      if (!want) {
        EXPECT_GT(got->count(), after + 366LL * 60 * kDay) << e.text << " after " << Show(after);
        continue;
      }
      ASSERT_EQ(Show(got->count()), Show(*want)) << e.text << " after " << Show(after);
      EXPECT_TRUE(cron.Matches(*got)) << e.text;
      ++checked;
      // Matches() scanned second by second over the hour and a half before
      // the answer.
      for (int64_t t = std::max(after + 1, *want - 5400); t < *want; ++t) {
        ASSERT_FALSE(cron.Matches(LocalSeconds(t))) << e.text << " at " << Show(t);
      }
    }
    for (int k = 0; k < 50; ++k) {
      const int64_t t = LocalOf(1970, 1, 1) + rng.Uniform(0, 80LL * 365 * kDay);
      ASSERT_EQ(cron.Matches(LocalSeconds(t)), oracle.Matches(t)) << e.text << " at " << Show(t);
    }
  }
  std::cout << checked << " Next() comparisons, " << refused << " never-firing expressions\n";
  EXPECT_GT(checked, 2000);
}

TEST(CronPropertyTest, NeverFiresRefusalIsExact) {
  Rng rng(Seed() + 1);
  int accepted = 0;
  int refused = 0;
  for (int c = 0; c < 400; ++c) {
    std::array<Field, 6> fields;
    for (int f : {kSec, kMin, kHour}) fields[f] = Literal("0");
    // Short months and days near their ends.
    Field months;
    const int n_months = rng.Int(1, 2);
    for (int i = 0; i < n_months; ++i) {
      const int m =
          rng.Chance(0.9) ? rng.Pick(std::vector<int>{2, 2, 4, 6, 9, 11}) : rng.Int(1, 12);
      months.items.push_back({Kind::kValue, m});
      months.text += (i ? "," : "") + std::to_string(m);
    }
    fields[kMon] = months;
    Field dom;
    const int n_dom = rng.Int(1, 2);
    for (int i = 0; i < n_dom; ++i) {
      Item item;
      std::string text;
      switch (rng.Int(0, 3)) {
        case 0: {
          const int d = rng.Int(28, 31);
          item = {Kind::kValue, d};
          text = std::to_string(d);
          break;
        }
        case 1: {
          const int n = rng.Int(26, 30);
          item = {Kind::kLastMinus, n};
          text = "L-" + std::to_string(n);
          break;
        }
        case 2: {
          const int n = rng.Int(29, 31);
          item = {Kind::kNearest, n};
          text = std::to_string(n) + "W";
          break;
        }
        default: {
          const int step = rng.Int(7, 15);
          item = {Kind::kStar, 0, 0, step};
          text = "*/" + std::to_string(step);
          break;
        }
      }
      dom.items.push_back(item);
      dom.text += (i ? "," : "") + text;
    }
    fields[kDom] = dom;
    if (rng.Chance(0.5)) {
      fields[kDow] = Literal("*");
    } else {
      Field dow;
      const int d = rng.Int(0, 6);
      dow.items.push_back({Kind::kNth, d, 5});
      dow.text = std::to_string(d) + "#5";
      fields[kDow] = dow;
    }
    const Expr e = Assemble(std::move(fields), false);
    const bool fires = FiresIn400Years(e);
    auto parsed = CronExpr::Parse(e.text);
    EXPECT_EQ(std::holds_alternative<CronExpr>(parsed), fires) << e.text;
    if (!fires) {
      ASSERT_TRUE(std::holds_alternative<CronError>(parsed));
      EXPECT_EQ(std::get<CronError>(parsed).field, "");
    }
    (fires ? accepted : refused)++;
  }
  std::cout << accepted << " accepted, " << refused << " refused\n";
  EXPECT_GT(accepted, 50);
  EXPECT_GT(refused, 30);
}

// ---------------------------------------------------------------------------
// Schedules against an instant-by-instant scan.

struct Expected {
  Slot::Kind kind;
  int64_t at;
  int64_t nominal;
  int occurrence;
  int coalesced;
  int64_t offset;
};

std::string Show(const Expected& s) {
  return std::string(s.kind == Slot::Kind::kFire ? "fire" : "skip") + " at " + Show(s.at) +
         "Z nominal " + Show(s.nominal) + " occ " + std::to_string(s.occurrence) + " x" +
         std::to_string(s.coalesced) + " off " + std::to_string(s.offset);
}

std::string Show(const Slot& s) {
  return Show(Expected{s.kind, std::chrono::floor<seconds>(s.at).time_since_epoch().count(),
                       s.nominal.count(), s.occurrence, s.coalesced, s.utc_offset_s});
}

const std::vector<std::string> kZones = {
    "America/New_York",  "Europe/Berlin",     "Australia/Lord_Howe", "Asia/Kathmandu",
    "America/Sao_Paulo", "Pacific/Apia",      "Europe/London",       "UTC",
    "Pacific/Chatham",   "Africa/Casablanca", "Europe/Dublin",       "America/St_Johns",
    "Antarctica/Troll",  "Asia/Tehran"};

// UTC offsets of `zone`, second by second over [from, to), from its sys_info.
class Offsets {
 public:
  Offsets(const date::time_zone* zone, int64_t from, int64_t to) : from_(from) {
    offsets_.reserve(static_cast<size_t>(to - from));
    date::sys_info info = zone->get_info(date::sys_seconds(seconds(from)));
    for (int64_t t = from; t < to; ++t) {
      if (date::sys_seconds(seconds(t)) >= info.end) info = zone->get_info(info.end);
      offsets_.push_back(info.offset.count());
      distinct_.insert(info.offset.count());
    }
  }
  int64_t At(int64_t t) const { return offsets_[static_cast<size_t>(t - from_)]; }
  bool Covers(int64_t t) const {
    return t >= from_ && t < from_ + static_cast<int64_t>(offsets_.size());
  }
  const std::set<int64_t>& distinct() const { return distinct_; }

 private:
  int64_t from_;
  std::vector<int64_t> offsets_;
  std::set<int64_t> distinct_;
};

// Every slot with `at` in (start, end], applying the policies to the local
// times found by scanning each instant (and each local second of each gap).
std::vector<Expected> ScanSlots(Oracle& oracle, const Offsets& offsets, int64_t start, int64_t end,
                                DstGap gap, DstOverlap overlap) {
  std::vector<Expected> out;
  for (int64_t i = start + 1; i <= end; ++i) {
    const int64_t local = i + offsets.At(i);
    const int64_t prev_local = i - 1 + offsets.At(i - 1);
    std::vector<int64_t> missing;
    for (int64_t g = prev_local + 1; g < local; ++g) {
      if (oracle.Matches(g)) missing.push_back(g);
    }
    const bool natural = oracle.Matches(local);
    int occurrence = 1;
    if (natural) {
      // A second occurrence: an earlier instant with the same local time.
      for (int64_t o : offsets.distinct()) {
        const int64_t j = local - o;
        if (j < i && offsets.Covers(j) && offsets.At(j) == o) occurrence = 2;
      }
    }
    const int64_t offset = offsets.At(i);
    if (!missing.empty() && gap == DstGap::kShift) {
      out.push_back({Slot::Kind::kFire, i, missing.front(), 1,
                     static_cast<int>(missing.size()) + (natural ? 1 : 0), offset});
      continue;
    }
    for (int64_t g : missing) out.push_back({Slot::Kind::kSkipDstGap, i, g, 1, 1, offset});
    if (natural && !(occurrence == 2 && overlap == DstOverlap::kFirst)) {
      out.push_back({Slot::Kind::kFire, i, local, occurrence, 1, offset});
    }
  }
  return out;
}

// Transitions of `zone` between 1970 and 2037.
std::vector<int64_t> Transitions(const date::time_zone* zone) {
  std::vector<int64_t> out;
  date::sys_info info = zone->get_info(date::sys_days(date::year(1970) / 1 / 1));
  while (info.end < date::sys_days(date::year(2037) / 12 / 31)) {
    const date::sys_info next = zone->get_info(info.end);
    if (next.offset != info.offset) out.push_back(info.end.time_since_epoch().count());
    info = next;
  }
  return out;
}

TEST(SchedulePropertyTest, NextAgreesWithInstantScan) {
  Rng rng(Seed() + 2);
  std::map<std::string, std::vector<int64_t>> transitions;
  for (const std::string& name : kZones) transitions[name] = Transitions(date::locate_zone(name));
  int compared = 0;
  int slots = 0;
  int skips = 0;
  int seconds_seen = 0;
  int coalesced = 0;
  const int cases = 600;
  for (int c = 0; c < cases; ++c) {
    const Expr e = GenFrequentExpr(rng);
    const std::string& zone_name = rng.Pick(kZones);
    const date::time_zone* zone = date::locate_zone(zone_name);
    const std::vector<int64_t>& ts = transitions[zone_name];
    int64_t start;
    if (!ts.empty() && rng.Chance(0.75)) {
      start = rng.Pick(ts) - rng.Uniform(0, 2 * kDay + 3600);
    } else {
      start = LocalOf(1971, 1, 1) + rng.Uniform(0, 66LL * 365 * kDay);
    }
    const DstGap gap = static_cast<DstGap>(rng.Int(0, 2));
    const DstOverlap overlap = static_cast<DstOverlap>(rng.Int(0, 2));
    auto made = Schedule::Make(ScheduleSpec{e.text, zone_name, gap, overlap}, TimePoint{});
    ASSERT_TRUE(std::holds_alternative<Schedule>(made)) << e.text;
    const Schedule& schedule = std::get<Schedule>(made);
    // The oracle resolves kAuto from the text itself.
    const bool interval = e.fields[kHour].text[0] == '*';
    const DstGap want_gap = gap != DstGap::kAuto ? gap : interval ? DstGap::kSkip : DstGap::kShift;
    const DstOverlap want_overlap = overlap != DstOverlap::kAuto ? overlap
                                    : interval                   ? DstOverlap::kBoth
                                                                 : DstOverlap::kFirst;
    ASSERT_EQ(schedule.dst_gap(), want_gap) << e.text;
    ASSERT_EQ(schedule.dst_overlap(), want_overlap) << e.text;

    const int64_t end = start + 3 * kDay;
    const Offsets offsets(zone, start - 2 * kDay, end + 2 * kDay);
    Oracle oracle(e);
    const std::vector<Expected> want =
        ScanSlots(oracle, offsets, start, end, want_gap, want_overlap);
    const std::string context = "\"" + e.text + "\" in " + zone_name + " from " + Show(start) +
                                "Z gap " + std::to_string(static_cast<int>(want_gap)) +
                                " overlap " + std::to_string(static_cast<int>(want_overlap));
    std::optional<Slot> got = schedule.Next(TimePoint(seconds(start)));
    if (want.empty()) {
      // Nothing in the window: the next slot is past it.
      if (got) {
        EXPECT_GT(std::chrono::floor<seconds>(got->at).time_since_epoch().count(), end) << context;
      }
      continue;
    }
    ++compared;
    for (size_t k = 0; k < want.size(); ++k) {
      ASSERT_TRUE(got) << context << ": missing " << Show(want[k]);
      ASSERT_EQ(Show(*got), Show(want[k])) << context << " slot " << k;
      got = schedule.Next(got->at, got->nominal);
    }
    if (got) {
      EXPECT_GT(std::chrono::floor<seconds>(got->at).time_since_epoch().count(), end) << context;
    }
    // A cursor just before a slot at its own instant finds that slot.
    const Expected& pick = want[static_cast<size_t>(rng.Uniform(0, std::ssize(want) - 1))];
    const std::optional<Slot> again =
        schedule.Next(TimePoint(seconds(pick.at)), LocalSeconds(pick.nominal - 1));
    ASSERT_TRUE(again) << context;
    EXPECT_EQ(Show(*again), Show(pick)) << context;
    // NextFire: the first fire of the scan.
    const auto first_fire = std::find_if(
        want.begin(), want.end(), [](const Expected& s) { return s.kind == Slot::Kind::kFire; });
    if (first_fire != want.end()) {
      const std::optional<Slot> fire = schedule.NextFire(TimePoint(seconds(start)));
      ASSERT_TRUE(fire) << context;
      EXPECT_EQ(Show(*fire), Show(*first_fire)) << context;
    }
    slots += static_cast<int>(want.size());
    for (const Expected& s : want) {
      skips += s.kind == Slot::Kind::kSkipDstGap;
      seconds_seen += s.occurrence == 2;
      coalesced += s.coalesced > 1;
    }
  }
  std::cout << compared << " of " << cases << " schedules compared, " << slots << " slots ("
            << skips << " skips, " << seconds_seen << " second occurrences, " << coalesced
            << " coalesced)\n";
  EXPECT_GT(compared, cases * 3 / 5);
  EXPECT_GT(skips, 0);
  EXPECT_GT(seconds_seen, 0);
  EXPECT_GT(coalesced, 0);
}

// ---------------------------------------------------------------------------
// Rare expressions on the time line: an oracle from date's local-time
// conversion (local_info), far from the cursor.

std::optional<Expected> LocalInfoNext(const CronExpr& cron, const date::time_zone* zone,
                                      int64_t after, DstGap gap, DstOverlap overlap) {
  // Every instant of a local time n lies in [n - 14h, n + 12h] (offsets are
  // within -12h..+14h, and a gap's transition lies between the two).
  std::vector<Expected> found;
  std::optional<int64_t> best;
  std::optional<LocalSeconds> n = cron.Next(LocalSeconds(after - 13 * 3600));
  for (; n && (!best || n->count() - 14 * 3600 <= *best); n = cron.Next(*n)) {
    const date::local_info li = zone->get_info(date::local_seconds(*n));
    std::vector<Expected> candidates;
    switch (li.result) {
      case date::local_info::unique:
        candidates.push_back({Slot::Kind::kFire, n->count() - li.first.offset.count(), n->count(),
                              1, 1, li.first.offset.count()});
        break;
      case date::local_info::ambiguous:
        candidates.push_back({Slot::Kind::kFire, n->count() - li.first.offset.count(), n->count(),
                              1, 1, li.first.offset.count()});
        if (overlap == DstOverlap::kBoth) {
          candidates.push_back({Slot::Kind::kFire, n->count() - li.second.offset.count(),
                                n->count(), 2, 1, li.second.offset.count()});
        }
        break;
      case date::local_info::nonexistent:
        candidates.push_back({gap == DstGap::kShift ? Slot::Kind::kFire : Slot::Kind::kSkipDstGap,
                              li.second.begin.time_since_epoch().count(), n->count(), 1, 1,
                              li.second.offset.count()});
        break;
    }
    for (const Expected& s : candidates) {
      if (s.at <= after) continue;
      found.push_back(s);
      if (!best || s.at < *best) best = s.at;
    }
  }
  if (!best) return std::nullopt;
  // Shifted times and the natural time at one instant are one fire.
  std::optional<Expected> first;
  int at_best = 0;
  for (const Expected& s : found) {
    if (s.at != *best) continue;
    ++at_best;
    if (!first || s.nominal < first->nominal) first = s;
  }
  if (first->kind == Slot::Kind::kFire) first->coalesced = at_best;
  if (gap == DstGap::kSkip) first->coalesced = 1;
  return first;
}

TEST(SchedulePropertyTest, RareExpressionsAgreeWithLocalTimeConversion) {
  Rng rng(Seed() + 3);
  int compared = 0;
  for (int c = 0; c < 400; ++c) {
    Expr e = GenExpr(rng);
    // Keep it rare: a single time of day.
    for (int f : {kSec, kMin, kHour}) {
      e.fields[f] = Literal(std::to_string(rng.Int(0, f == kHour ? 23 : 59)));
    }
    if (rng.Chance(0.5)) e.fields[kHour] = Literal(std::to_string(rng.Int(1, 3)));
    e = Assemble(e.fields, false);
    auto parsed = CronExpr::Parse(e.text);
    if (!std::holds_alternative<CronExpr>(parsed)) continue;
    const CronExpr& cron = std::get<CronExpr>(parsed);
    const std::string& zone_name = rng.Pick(kZones);
    const date::time_zone* zone = date::locate_zone(zone_name);
    const DstGap gap = rng.Chance(0.5) ? DstGap::kShift : DstGap::kSkip;
    const DstOverlap overlap = rng.Chance(0.5) ? DstOverlap::kFirst : DstOverlap::kBoth;
    auto made = Schedule::Make(ScheduleSpec{e.text, zone_name, gap, overlap}, TimePoint{});
    ASSERT_TRUE(std::holds_alternative<Schedule>(made));
    const Schedule& schedule = std::get<Schedule>(made);
    int64_t after = LocalOf(1971, 1, 1) + rng.Uniform(0, 66LL * 365 * kDay);
    for (int k = 0; k < 4; ++k) {
      const std::optional<Expected> want = LocalInfoNext(cron, zone, after, gap, overlap);
      const std::optional<Slot> got = schedule.Next(TimePoint(seconds(after)));
      const std::string context =
          "\"" + e.text + "\" in " + zone_name + " after " + Show(after) + "Z";
      ASSERT_EQ(got.has_value(), want.has_value()) << context;
      if (!want) break;
      ASSERT_EQ(Show(*got), Show(*want)) << context;
      ++compared;
      after = want->at;
    }
  }
  std::cout << compared << " far-ahead comparisons\n";
  EXPECT_GT(compared, 500);
}

TEST(SchedulePropertyTest, EveryIsAnchoredAndStrictlyAfter) {
  Rng rng(Seed() + 4);
  for (int c = 0; c < 2000; ++c) {
    const int64_t interval = rng.Chance(0.5) ? rng.Uniform(1, 7200) : rng.Uniform(1, 366 * kDay);
    const int64_t anchor_ms =
        (LocalOf(1971, 1, 1) + rng.Uniform(0, 60LL * 365 * kDay)) * 1000 + rng.Uniform(0, 999);
    const std::string text = "@every " + std::to_string(interval) + "s";
    auto made = Schedule::Make(ScheduleSpec{text, "Europe/London"},
                               TimePoint(std::chrono::milliseconds(anchor_ms)));
    ASSERT_TRUE(std::holds_alternative<Schedule>(made)) << text;
    const Schedule& s = std::get<Schedule>(made);
    const int64_t anchor = anchor_ms / 1000;
    const int64_t after_ms = anchor_ms + rng.Uniform(-3 * interval * 1000, 3 * interval * 1000);
    const std::optional<Slot> slot = s.Next(TimePoint(std::chrono::milliseconds(after_ms)));
    ASSERT_TRUE(slot);
    const int64_t at = std::chrono::floor<seconds>(slot->at).time_since_epoch().count();
    const std::string context =
        text + " anchor_ms " + std::to_string(anchor_ms) + " after_ms " + std::to_string(after_ms);
    EXPECT_EQ(slot->at.time_since_epoch().count(), at * 1000) << context;
    EXPECT_EQ(((at - anchor) % interval + interval) % interval, 0) << context;
    EXPECT_GT(at * 1000, after_ms) << context;
    EXPECT_LE((at - interval) * 1000, after_ms) << context;
    EXPECT_EQ(slot->nominal.count(), at) << context;
  }
}

}  // namespace
}  // namespace jobsched::cron
