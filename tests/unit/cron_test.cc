// CronExpr: every grammar feature with literal next-fire times, the Vixie day
// rule, the Quartz specials, rare and never-firing expressions, and the exact
// shape of every parse error. Expected dates were read off a calendar.
#include "events/cron.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <variant>

#include "events/schedule.h"

namespace jobsched::cron {
namespace {

// "2026-03-08T02:30:00" as local seconds.
LocalSeconds L(const std::string& text) {
  int y, mo, d, h, mi, s;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &s) != 6) {
    ADD_FAILURE() << "bad time literal " << text;
    return LocalSeconds(0);
  }
  const std::chrono::sys_days day{std::chrono::year(y) / mo / d};
  return day.time_since_epoch() + std::chrono::hours(h) + std::chrono::minutes(mi) +
         std::chrono::seconds(s);
}

CronExpr Parse(const std::string& text) {
  auto parsed = CronExpr::Parse(text);
  if (auto* err = std::get_if<CronError>(&parsed)) {
    ADD_FAILURE() << "\"" << text << "\" refused: " << err->ToString();
    return std::get<CronExpr>(CronExpr::Parse("* * * * * *"));
  }
  return std::get<CronExpr>(parsed);
}

// The next fire of `expr` after `after`, rendered, or "none".
std::string Next(const std::string& expr, const std::string& after) {
  const std::optional<LocalSeconds> next = Parse(expr).Next(L(after));
  return next ? Schedule::FormatNominal(*next) : "none";
}

CronError Error(const std::string& text) {
  auto parsed = CronExpr::Parse(text);
  if (!std::holds_alternative<CronError>(parsed)) {
    ADD_FAILURE() << "\"" << text << "\" was accepted";
    return {};
  }
  return std::get<CronError>(parsed);
}

TEST(CronNextTest, EverySecondAndSixFields) {
  EXPECT_EQ(Next("* * * * * *", "2026-01-01T00:00:00"), "2026-01-01T00:00:01");
  EXPECT_EQ(Next("* * * * * *", "2026-12-31T23:59:59"), "2027-01-01T00:00:00");
  EXPECT_EQ(Next("15 30 9 * * *", "2026-01-01T09:30:15"), "2026-01-02T09:30:15");
}

TEST(CronNextTest, FiveFieldsMeanSecondZero) {
  EXPECT_EQ(Next("30 9 * * *", "2026-01-01T00:00:00"), "2026-01-01T09:30:00");
  EXPECT_EQ(Next("* * * * *", "2026-01-01T00:00:00"), "2026-01-01T00:01:00");
  EXPECT_FALSE(Parse("* * * * *").Matches(L("2026-01-01T00:01:01")));
  EXPECT_TRUE(Parse("* * * * *").Matches(L("2026-01-01T00:01:00")));
}

TEST(CronNextTest, Steps) {
  EXPECT_EQ(Next("*/15 * * * * *", "2026-01-01T00:00:00"), "2026-01-01T00:00:15");
  EXPECT_EQ(Next("*/15 * * * * *", "2026-01-01T00:00:50"), "2026-01-01T00:01:00");
  EXPECT_EQ(Next("0 10-40/5 * * * *", "2026-01-01T10:12:00"), "2026-01-01T10:15:00");
  EXPECT_EQ(Next("0 10-40/5 * * * *", "2026-01-01T10:40:00"), "2026-01-01T11:10:00");
  EXPECT_EQ(Next("0 5/15 * * * *", "2026-01-01T10:50:00"), "2026-01-01T11:05:00");
  EXPECT_EQ(Next("0 5/15 * * * *", "2026-01-01T10:20:00"), "2026-01-01T10:35:00");
  EXPECT_EQ(Next("0 0 0 1 */5 *", "2026-01-01T00:00:00"), "2026-06-01T00:00:00");
  // A step as large as the field keeps only the start.
  EXPECT_EQ(Next("*/60 * * * * *", "2026-01-01T00:00:00"), "2026-01-01T00:01:00");
}

TEST(CronNextTest, ListsAndRangesCarryOver) {
  EXPECT_EQ(Next("0 0 8,12,18 * * *", "2026-01-01T12:00:00"), "2026-01-01T18:00:00");
  EXPECT_EQ(Next("0 0 8,12,18 * * *", "2026-01-01T18:00:00"), "2026-01-02T08:00:00");
  EXPECT_EQ(Next("0,30 0-5,50 22-23 * * *", "2026-12-31T23:50:30"), "2027-01-01T22:00:00");
  EXPECT_EQ(Next("0 0 0 1 1 *", "2026-01-01T00:00:00"), "2027-01-01T00:00:00");
}

TEST(CronNextTest, MonthAndDayNamesAnyCase) {
  EXPECT_EQ(Next("0 0 0 1 jan,Jul *", "2026-01-01T00:00:00"), "2026-07-01T00:00:00");
  EXPECT_EQ(Next("0 0 0 1 MAR-may *", "2026-04-01T00:00:00"), "2026-05-01T00:00:00");
  // 2026-01-02 is a Friday; the next weekday is Monday the 5th.
  EXPECT_EQ(Next("0 0 9 * * MON-FRI", "2026-01-02T09:00:00"), "2026-01-05T09:00:00");
  EXPECT_EQ(Next("0 0 9 * * sat,Sun", "2026-01-01T00:00:00"), "2026-01-03T09:00:00");
}

TEST(CronNextTest, SundayIsZeroAndSeven) {
  // 2026-01-01 is a Thursday.
  EXPECT_EQ(Next("0 0 0 * * 0", "2026-01-01T00:00:00"), "2026-01-04T00:00:00");
  EXPECT_EQ(Next("0 0 0 * * 7", "2026-01-01T00:00:00"), "2026-01-04T00:00:00");
  // 5-7: Friday, Saturday, Sunday.
  EXPECT_EQ(Next("0 0 0 * * 5-7", "2026-01-04T00:00:00"), "2026-01-09T00:00:00");
  EXPECT_EQ(Next("0 0 0 * * 5-7", "2026-01-03T00:00:00"), "2026-01-04T00:00:00");
  // "*" and "a/n" stop at Saturday: 1/2 is MON, WED, FRI.
  EXPECT_EQ(Next("0 0 0 * * 1/2", "2026-01-02T00:00:00"), "2026-01-05T00:00:00");
  EXPECT_EQ(Next("0 0 0 * * 5-7/2", "2026-01-02T00:00:00"), "2026-01-04T00:00:00");
}

TEST(CronNextTest, QuestionMarkIsStar) {
  EXPECT_EQ(Next("0 0 0 ? * MON", "2026-01-01T00:00:00"), "2026-01-05T00:00:00");
  EXPECT_EQ(Next("0 0 0 13 * ?", "2026-01-01T00:00:00"), "2026-01-13T00:00:00");
}

TEST(CronNextTest, Macros) {
  EXPECT_EQ(Next("@yearly", "2026-03-01T00:00:00"), "2027-01-01T00:00:00");
  EXPECT_EQ(Next("@annually", "2026-03-01T00:00:00"), "2027-01-01T00:00:00");
  EXPECT_EQ(Next("@monthly", "2026-03-01T00:00:00"), "2026-04-01T00:00:00");
  EXPECT_EQ(Next("@weekly", "2026-01-01T00:00:00"), "2026-01-04T00:00:00");
  EXPECT_EQ(Next("@daily", "2026-01-01T00:00:00"), "2026-01-02T00:00:00");
  EXPECT_EQ(Next("@midnight", "2026-01-01T23:59:59"), "2026-01-02T00:00:00");
  EXPECT_EQ(Next("@hourly", "2026-01-01T00:00:00"), "2026-01-01T01:00:00");
  EXPECT_EQ(Next("@DAILY", "2026-01-01T00:00:00"), "2026-01-02T00:00:00");
  EXPECT_EQ(Parse("  @daily \t").text(), "@daily");
  EXPECT_EQ(Parse(" 0 0 * * * ").text(), "0 0 * * *");
}

TEST(CronNextTest, LastDayOfMonth) {
  EXPECT_EQ(Next("0 0 0 L * *", "2026-02-01T00:00:00"), "2026-02-28T00:00:00");
  EXPECT_EQ(Next("0 0 0 L * *", "2028-02-01T00:00:00"), "2028-02-29T00:00:00");
  EXPECT_EQ(Next("0 0 0 L * *", "2026-04-30T00:00:00"), "2026-05-31T00:00:00");
  EXPECT_EQ(Next("0 0 0 L-3 * *", "2026-02-01T00:00:00"), "2026-02-25T00:00:00");
  EXPECT_EQ(Next("0 0 0 L-3 * *", "2026-01-01T00:00:00"), "2026-01-28T00:00:00");
  // L-30 exists only in 31-day months (day 1).
  EXPECT_EQ(Next("0 0 0 L-30 * *", "2026-01-01T00:00:00"), "2026-03-01T00:00:00");
  EXPECT_EQ(Next("0 0 0 1,L * *", "2026-01-01T00:00:00"), "2026-01-31T00:00:00");
}

TEST(CronNextTest, NearestWeekday) {
  // 2026-04-15 is a Wednesday, 2026-02-15 a Sunday, 2026-03-14 a Saturday.
  EXPECT_EQ(Next("0 0 0 15W * *", "2026-04-01T00:00:00"), "2026-04-15T00:00:00");
  EXPECT_EQ(Next("0 0 0 15W * *", "2026-02-01T00:00:00"), "2026-02-16T00:00:00");
  EXPECT_EQ(Next("0 0 0 14W * *", "2026-03-01T00:00:00"), "2026-03-13T00:00:00");
  // 2026-08-01 is a Saturday: 1W stays in August, on Monday the 3rd.
  EXPECT_EQ(Next("0 0 0 1W * *", "2026-07-15T00:00:00"), "2026-08-03T00:00:00");
  // 2026-11-01 is a Sunday: Monday the 2nd.
  EXPECT_EQ(Next("0 0 0 1W * *", "2026-10-15T00:00:00"), "2026-11-02T00:00:00");
  // April has no 31st, so 31W skips it; 2026-05-31 is a Sunday that ends
  // the month: Friday the 29th.
  EXPECT_EQ(Next("0 0 0 31W * *", "2026-04-01T00:00:00"), "2026-05-29T00:00:00");
  // 2026-10-31 is a Saturday: Friday the 30th.
  EXPECT_EQ(Next("0 0 0 31W * *", "2026-10-01T00:00:00"), "2026-10-30T00:00:00");
  EXPECT_EQ(Next("0 0 0 15w * *", "2026-04-01T00:00:00"), "2026-04-15T00:00:00");
}

TEST(CronNextTest, LastWeekday) {
  // 2026-01-31 is a Saturday, 2026-05-31 a Sunday, 2026-03-31 a Tuesday.
  EXPECT_EQ(Next("0 0 12 LW * *", "2026-01-01T00:00:00"), "2026-01-30T12:00:00");
  EXPECT_EQ(Next("0 0 12 LW * *", "2026-05-01T00:00:00"), "2026-05-29T12:00:00");
  EXPECT_EQ(Next("0 0 12 LW * *", "2026-03-01T00:00:00"), "2026-03-31T12:00:00");
}

TEST(CronNextTest, LastWeekdayOfMonth) {
  EXPECT_EQ(Next("0 0 0 ? * 5L", "2026-01-01T00:00:00"), "2026-01-30T00:00:00");
  EXPECT_EQ(Next("0 0 0 ? * FRIL", "2026-01-01T00:00:00"), "2026-01-30T00:00:00");
  // Last Sunday of January 2026 (7L = 0L).
  EXPECT_EQ(Next("0 0 0 ? * 7L", "2026-01-01T00:00:00"), "2026-01-25T00:00:00");
  EXPECT_EQ(Next("0 0 0 ? * 0L", "2026-01-01T00:00:00"), "2026-01-25T00:00:00");
}

TEST(CronNextTest, NthWeekdayOfMonth) {
  EXPECT_EQ(Next("0 0 0 ? * 1#2", "2026-01-01T00:00:00"), "2026-01-12T00:00:00");
  EXPECT_EQ(Next("0 0 0 ? * MON#2", "2026-01-12T00:00:00"), "2026-02-09T00:00:00");
  EXPECT_EQ(Next("0 0 0 ? * 4#1", "2026-01-01T00:00:00"), "2026-02-05T00:00:00");
  // Saturday #5: January 2026 has one (the 31st); February to April do not.
  EXPECT_EQ(Next("0 0 0 ? * 6#5", "2026-01-01T00:00:00"), "2026-01-31T00:00:00");
  EXPECT_EQ(Next("0 0 0 ? * 6#5", "2026-02-01T00:00:00"), "2026-05-30T00:00:00");
  EXPECT_EQ(Next("0 0 0 ? * 1#1,5L", "2026-01-06T00:00:00"), "2026-01-30T00:00:00");
}

TEST(CronNextTest, VixieDayRuleBothRestrictedMeansEither) {
  // The 13th or any Friday.
  const CronExpr e = Parse("0 0 0 13 * 5");
  EXPECT_EQ(Schedule::FormatNominal(*e.Next(L("2026-01-01T00:00:00"))), "2026-01-02T00:00:00");
  EXPECT_EQ(Schedule::FormatNominal(*e.Next(L("2026-01-09T00:00:00"))), "2026-01-13T00:00:00");
  EXPECT_EQ(Schedule::FormatNominal(*e.Next(L("2026-01-13T00:00:00"))), "2026-01-16T00:00:00");
  // Odd days or Mondays.
  EXPECT_EQ(Next("0 0 0 1-31/2 * 1", "2026-01-01T00:00:00"), "2026-01-03T00:00:00");
  EXPECT_EQ(Next("0 0 0 1-31/2 * 1", "2026-01-11T00:00:00"), "2026-01-12T00:00:00");
  // Specials take part in the "either" too: the last day or a Monday.
  EXPECT_EQ(Next("0 0 0 L * 1", "2026-01-26T00:00:00"), "2026-01-31T00:00:00");
}

TEST(CronNextTest, VixieDayRuleStarPrefixedFieldMeansBoth) {
  // dom "*/2" starts with "*": days must be odd AND Mondays (5th, 19th).
  EXPECT_EQ(Next("0 0 0 */2 * 1", "2026-01-01T00:00:00"), "2026-01-05T00:00:00");
  EXPECT_EQ(Next("0 0 0 */2 * 1", "2026-01-05T00:00:00"), "2026-01-19T00:00:00");
  // dow "*/2" (SUN, TUE, THU, SAT) with dom 13: a 13th on one of those days.
  // 2026-01-13 is a Tuesday, 2026-02-13 a Friday, 2026-03-13 a Friday,
  // 2026-04-13 a Monday, 2026-05-13 a Wednesday, 2026-06-13 a Saturday.
  EXPECT_EQ(Next("0 0 0 13 * */2", "2026-01-01T00:00:00"), "2026-01-13T00:00:00");
  EXPECT_EQ(Next("0 0 0 13 * */2", "2026-01-13T00:00:00"), "2026-06-13T00:00:00");
  // A plain "*" matches every day, so the other field decides alone.
  EXPECT_EQ(Next("0 0 0 * * 1", "2026-01-01T00:00:00"), "2026-01-05T00:00:00");
  EXPECT_EQ(Next("0 0 0 13 * *", "2026-01-01T00:00:00"), "2026-01-13T00:00:00");
}

TEST(CronNextTest, RareExpressionsAreFound) {
  EXPECT_EQ(Next("0 0 0 29 2 *", "2026-01-01T00:00:00"), "2028-02-29T00:00:00");
  // 2100 is not a leap year.
  EXPECT_EQ(Next("0 0 0 29 2 *", "2096-03-01T00:00:00"), "2104-02-29T00:00:00");
  // February 29th on a Saturday: 2020, then 2048.
  EXPECT_EQ(Next("0 0 0 ? 2 6#5", "2020-03-01T00:00:00"), "2048-02-29T00:00:00");
  EXPECT_EQ(Next("0 0 0 29 2 6", "2026-01-01T00:00:00"), "2026-02-07T00:00:00");
  EXPECT_EQ(Next("0 0 0 * 2 6#5", "2026-01-01T00:00:00"), "2048-02-29T00:00:00");
}

TEST(CronNextTest, NothingPastYear9999) {
  EXPECT_EQ(Next("0 0 0 1 1 *", "9999-06-01T00:00:00"), "none");
  EXPECT_EQ(Next("* * * * * *", "9999-12-31T23:59:58"), "9999-12-31T23:59:59");
  EXPECT_EQ(Next("* * * * * *", "9999-12-31T23:59:59"), "none");
  EXPECT_EQ(Next("0 0 0 29 2 *", "9996-03-01T00:00:00"), "none");
}

TEST(CronNextTest, BeforeTheEpoch) {
  EXPECT_EQ(Next("0 0 0 29 2 *", "1899-01-01T00:00:00"), "1904-02-29T00:00:00");
  EXPECT_EQ(Next("0 0 12 * * *", "1969-12-31T12:00:00"), "1970-01-01T12:00:00");
}

TEST(CronMatchesTest, MatchesEveryField) {
  const CronExpr e = Parse("30 15 9 1-7 JUN MON");
  // 2026-06-01 is a Monday; both day fields are restricted, so any day 1-7
  // of June, or any Monday of June, matches.
  EXPECT_TRUE(e.Matches(L("2026-06-01T09:15:30")));
  EXPECT_TRUE(e.Matches(L("2026-06-03T09:15:30")));
  EXPECT_TRUE(e.Matches(L("2026-06-15T09:15:30")));
  EXPECT_FALSE(e.Matches(L("2026-06-16T09:15:30")));
  EXPECT_FALSE(e.Matches(L("2026-06-01T09:15:31")));
  EXPECT_FALSE(e.Matches(L("2026-06-01T09:16:30")));
  EXPECT_FALSE(e.Matches(L("2026-06-01T10:15:30")));
  EXPECT_FALSE(e.Matches(L("2026-07-01T09:15:30")));
}

TEST(CronExprTest, HourIsWildcard) {
  EXPECT_TRUE(Parse("0 */15 * * * *").HourIsWildcard());
  EXPECT_TRUE(Parse("0 0 */2 * * *").HourIsWildcard());
  EXPECT_TRUE(Parse("@hourly").HourIsWildcard());
  EXPECT_TRUE(Parse("*/5 * * * *").HourIsWildcard());
  EXPECT_FALSE(Parse("0 30 2 * * *").HourIsWildcard());
  EXPECT_FALSE(Parse("0 0 0-23 * * *").HourIsWildcard());
  EXPECT_FALSE(Parse("@daily").HourIsWildcard());
}

TEST(CronExprTest, CountMatches) {
  const CronExpr e = Parse("0 */15 * * * *");
  EXPECT_EQ(e.CountMatches(L("2026-03-08T02:00:00"), L("2026-03-08T03:00:00")), 4);
  EXPECT_EQ(e.CountMatches(L("2026-03-08T02:00:01"), L("2026-03-08T03:00:00")), 3);
  EXPECT_EQ(e.CountMatches(L("2026-03-08T02:00:00"), L("2026-03-08T02:00:00")), 0);
  EXPECT_EQ(e.CountMatches(L("2026-03-07T00:00:00"), L("2026-03-09T00:00:00")), 2 * 96);
  EXPECT_EQ(Parse("* * * * * *").CountMatches(L("2011-12-30T00:00:00"), L("2011-12-31T00:00:00")),
            86400);
  // Days that do not match count nothing: Mondays only, 2026-01-05 is one.
  EXPECT_EQ(Parse("0 0 * * * 1").CountMatches(L("2026-01-04T00:00:00"), L("2026-01-06T12:00:00")),
            24);
}

TEST(CronParseTest, ErrorsNameTheFieldAndTheProblem) {
  const CronError minute = Error("0 61 * * * *");
  EXPECT_EQ(minute, (CronError{"minute", "61 is out of range 0-59"}));
  EXPECT_EQ(minute.ToString(), "minute: 61 is out of range 0-59");
  EXPECT_EQ(Error("60 * * * * *"), (CronError{"second", "60 is out of range 0-59"}));
  EXPECT_EQ(Error("0 0 24 * * *"), (CronError{"hour", "24 is out of range 0-23"}));
  EXPECT_EQ(Error("0 0 0 0 * *"), (CronError{"day of month", "0 is out of range 1-31"}));
  EXPECT_EQ(Error("0 0 0 32 * *"), (CronError{"day of month", "32 is out of range 1-31"}));
  EXPECT_EQ(Error("0 0 0 * 13 *"), (CronError{"month", "13 is out of range 1-12"}));
  EXPECT_EQ(Error("0 0 0 * 0 *"), (CronError{"month", "0 is out of range 1-12"}));
  EXPECT_EQ(Error("0 0 0 * * 8"), (CronError{"day of week", "8 is out of range 0-7"}));
  EXPECT_EQ(Error("0 0 0 * * 1-8"), (CronError{"day of week", "8 is out of range 0-7"}));
  EXPECT_EQ(Error("99999999999999999999 * * * * *"),
            (CronError{"second", "99999999999999999999 is out of range 0-59"}));
  EXPECT_EQ(Error("0 61 * * *"), (CronError{"hour", "61 is out of range 0-23"}));
}

TEST(CronParseTest, BadTokens) {
  EXPECT_EQ(Error("x * * * * *"), (CronError{"second", "expected a number, got \"x\""}));
  EXPECT_EQ(Error("0 JAN * * * *"), (CronError{"minute", "expected a number, got \"JAN\""}));
  EXPECT_EQ(Error("0 0 0 1,,2 * *"), (CronError{"day of month", "expected a number, got \"\""}));
  EXPECT_EQ(Error("0 0 1- * * *"), (CronError{"hour", "expected a number, got \"\""}));
  EXPECT_EQ(Error("0 0 -1 * * *"), (CronError{"hour", "expected a number, got \"\""}));
  EXPECT_EQ(Error("0 0 0 * FOO *"),
            (CronError{"month", "expected a number or a month name, got \"FOO\""}));
  EXPECT_EQ(Error("0 0 0 * * FUNDAY"),
            (CronError{"day of week", "expected a number or a day name, got \"FUNDAY\""}));
  EXPECT_EQ(Error("0 15W * * * *"), (CronError{"minute", "expected a number, got \"15W\""}));
  EXPECT_EQ(Error("0 0 0 * * 1/x"), (CronError{"day of week", "expected a number, got \"x\""}));
  EXPECT_EQ(Error("0 0 0 * * MON#x"), (CronError{"day of week", "expected a number, got \"x\""}));
  EXPECT_EQ(Error("0 0 0 L-x * *"), (CronError{"day of month", "expected a number, got \"x\""}));
  EXPECT_EQ(Error("0 0 0 L * 5X"),
            (CronError{"day of week", "expected a number or a day name, got \"5X\""}));
}

TEST(CronParseTest, ReversedRangesAndSteps) {
  EXPECT_EQ(Error("0 40-10 * * * *"), (CronError{"minute", "range 40-10 is reversed (40 > 10)"}));
  EXPECT_EQ(Error("0 0 0 * * FRI-MON"),
            (CronError{"day of week", "range FRI-MON is reversed (5 > 1)"}));
  EXPECT_EQ(Error("*/0 * * * * *"), (CronError{"second", "step 0 is out of range 1-60"}));
  EXPECT_EQ(Error("0 0 1-5/0 * * *"), (CronError{"hour", "step 0 is out of range 1-24"}));
  EXPECT_EQ(Error("0 0 */25 * * *"), (CronError{"hour", "step 25 is out of range 1-24"}));
  EXPECT_EQ(Error("0 0 0 * * */8"), (CronError{"day of week", "step 8 is out of range 1-7"}));
}

TEST(CronParseTest, QuartzSpecialsOutOfRange) {
  EXPECT_EQ(Error("0 0 0 * * 1#6"), (CronError{"day of week", "6 is out of range 1-5 in \"1#6\""}));
  EXPECT_EQ(Error("0 0 0 * * 1#0"), (CronError{"day of week", "0 is out of range 1-5 in \"1#0\""}));
  EXPECT_EQ(Error("0 0 0 * * 8#1"), (CronError{"day of week", "8 is out of range 0-7 in \"8#1\""}));
  EXPECT_EQ(Error("0 0 0 * * 8L"), (CronError{"day of week", "8 is out of range 0-7 in \"8L\""}));
  EXPECT_EQ(Error("0 0 0 L-31 * *"),
            (CronError{"day of month", "31 is out of range 0-30 in \"L-31\""}));
  EXPECT_EQ(Error("0 0 0 32W * *"),
            (CronError{"day of month", "32 is out of range 1-31 in \"32W\""}));
  EXPECT_EQ(Error("0 0 0 0W * *"), (CronError{"day of month", "0 is out of range 1-31 in \"0W\""}));
  EXPECT_EQ(Error("0 0 0 * * L"),
            (CronError{"day of week",
                       "\"L\" needs a weekday in day of week, e.g. 5L for the last Friday"}));
}

TEST(CronParseTest, SpecialsInTheWrongDayField) {
  EXPECT_EQ(Error("0 0 0 1#2 * ?"),
            (CronError{"day of month", "\"1#2\" is only allowed in day of week"}));
  EXPECT_EQ(Error("0 0 0 5L * ?"),
            (CronError{"day of month", "\"5L\" is only allowed in day of week"}));
  EXPECT_EQ(Error("0 0 0 ? * 15W"),
            (CronError{"day of week", "\"15W\" is only allowed in day of month"}));
  EXPECT_EQ(Error("0 0 0 ? * LW"),
            (CronError{"day of week", "\"LW\" is only allowed in day of month"}));
  EXPECT_EQ(Error("0 0 0 ? * L-2"),
            (CronError{"day of week", "\"L-2\" is only allowed in day of month"}));
}

TEST(CronParseTest, QuestionMarkPlacement) {
  EXPECT_EQ(Error("? * * * * *"),
            (CronError{"second", "\"?\" is only allowed in day of month and day of week"}));
  EXPECT_EQ(Error("0 0 0 * ? *"),
            (CronError{"month", "\"?\" is only allowed in day of month and day of week"}));
  EXPECT_EQ(Error("0 0 0 ?,1 * *"), (CronError{"day of month", "\"?\" must be the whole field"}));
  EXPECT_EQ(Error("0 0 0 * * ?/2"), (CronError{"day of week", "\"?\" must be the whole field"}));
}

TEST(CronParseTest, FieldCountAndMacros) {
  EXPECT_EQ(Error("* * * *"),
            (CronError{"", "expected 5 or 6 fields (or a macro such as @daily), got 4"}));
  EXPECT_EQ(Error("* * * * * * *"),
            (CronError{"", "expected 5 or 6 fields (or a macro such as @daily), got 7"}));
  EXPECT_EQ(Error("   "),
            (CronError{"", "expected 5 or 6 fields (or a macro such as @daily), got 0"}));
  const CronError macro = Error("@fortnightly");
  EXPECT_EQ(macro, (CronError{"",
                              "unknown macro \"@fortnightly\" (expected @yearly, @annually, "
                              "@monthly, @weekly, @daily, @midnight or @hourly)"}));
  EXPECT_EQ(macro.ToString(), macro.message);
  EXPECT_EQ(Error("@daily 5"), (CronError{"", "unexpected text after @daily: \"5\""}));
}

TEST(CronParseTest, NeverFiringExpressionsAreRefused) {
  EXPECT_EQ(
      Error("0 0 0 30 2 *"),
      (CronError{"", "the expression never fires: no day matches day of month 30 in month 2"}));
  EXPECT_EQ(Error("0 0 0 31 4,6,9,11 *"),
            (CronError{"",
                       "the expression never fires: no day matches day of month 31 in month "
                       "4,6,9,11"}));
  EXPECT_EQ(Error("0 0 0 L-30 2 *"),
            (CronError{"",
                       "the expression never fires: no day matches day of month L-30 in "
                       "month 2"}));
  EXPECT_EQ(Error("0 0 0 30W FEB ?"),
            (CronError{"",
                       "the expression never fires: no day matches day of month 30W in "
                       "month FEB"}));
  EXPECT_EQ(Error("0 0 0 31 APR-JUN/2 *"),
            (CronError{"",
                       "the expression never fires: no day matches day of month 31 in "
                       "month APR-JUN/2"}));
  // "*/10" starts with "*", so both fields must match: days 1, 11, 21, 31
  // that are the fifth Saturday of February (only ever the 29th).
  EXPECT_EQ(Error("0 0 0 */10 2 6#5"),
            (CronError{"",
                       "the expression never fires: no day matches day of month */10 and day "
                       "of week 6#5 in month 2"}));
}

TEST(CronParseTest, RareButPossibleExpressionsAreAccepted) {
  for (const char* text : {"0 0 0 29 2 *", "0 0 0 31 1-4 *", "0 0 0 L-28 2 *", "0 0 0 29W 2 *",
                           "0 0 0 ? 2 6#5", "0 0 0 */7 2 0#5", "0 0 0 30 2 5", "0 0 0 31 4 1#1"}) {
    EXPECT_TRUE(std::holds_alternative<CronExpr>(CronExpr::Parse(text))) << text;
  }
  // 29W fires only in leap Februaries (day 29 must exist); 2028-02-29 is a Tuesday.
  EXPECT_EQ(Next("0 0 0 29W 2 *", "2026-01-01T00:00:00"), "2028-02-29T00:00:00");
  // Both restricted: "day 30 or a Friday" fires on Fridays of February.
  EXPECT_EQ(Next("0 0 0 30 2 5", "2026-01-01T00:00:00"), "2026-02-06T00:00:00");
}

}  // namespace
}  // namespace jobsched::cron
