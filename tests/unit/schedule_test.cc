// Schedule: cron expressions on the time line around real DST transitions
// (America/New_York, Europe/Berlin, Australia/Lord_Howe, Pacific/Apia), every
// DST policy, coalescing, skip slots and cursors, "@every", formatting and
// errors. Time is computed, never waited for; expected instants come from the
// published transitions (e.g. New York springs forward at 2026-03-08T07:00Z).
#include "events/schedule.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <variant>
#include <vector>

namespace jobsched::cron {
namespace {

using std::chrono::seconds;

LocalSeconds Local(const std::string& text) {
  int y, mo, d, h, mi, s;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &s) != 6) {
    ADD_FAILURE() << "bad time literal " << text;
    return LocalSeconds(0);
  }
  const std::chrono::sys_days day{std::chrono::year(y) / mo / d};
  return day.time_since_epoch() + std::chrono::hours(h) + std::chrono::minutes(mi) + seconds(s);
}

// "2026-03-08T07:00:00Z".
TimePoint Utc(const std::string& text) { return TimePoint(Local(text)); }

std::string UtcText(TimePoint t) {
  return Schedule::FormatNominal(std::chrono::floor<seconds>(t).time_since_epoch()) + "Z";
}

Schedule Make(ScheduleSpec spec, TimePoint anchor = TimePoint{}) {
  auto made = Schedule::Make(spec, anchor);
  if (auto* err = std::get_if<ScheduleError>(&made)) {
    ADD_FAILURE() << "refused: " << err->field << ": " << err->message;
    return std::get<Schedule>(Schedule::Make({"* * * * * *"}, anchor));
  }
  return std::get<Schedule>(made);
}

Schedule Make(const std::string& cron, const std::string& zone, DstGap gap = DstGap::kAuto,
              DstOverlap overlap = DstOverlap::kAuto) {
  return Make(ScheduleSpec{cron, zone, gap, overlap});
}

// "fire 07:00:00Z 2026-03-08T03:00:00-04:00 nominal 2026-03-08T02:30:00 occ 1 x1".
std::string Describe(const Schedule& s, const std::optional<Slot>& slot) {
  if (!slot) return "none";
  const std::string utc = UtcText(slot->at);
  return std::string(slot->fires() ? "fire " : "skip ") + utc.substr(11) + " " +
         s.FormatLocal(slot->at) + " nominal " + Schedule::FormatNominal(slot->nominal) + " occ " +
         std::to_string(slot->occurrence) + " x" + std::to_string(slot->coalesced);
}

// The `n` slots after the instant `after`, consumed with cursors.
std::vector<std::string> Slots(const Schedule& s, TimePoint after, int n) {
  std::vector<std::string> out;
  std::optional<Slot> slot = s.Next(after);
  for (int i = 0; i < n && slot; ++i) {
    out.push_back(Describe(s, slot));
    slot = s.Next(slot->at, slot->nominal);
  }
  return out;
}

using Lines = std::vector<std::string>;

TEST(ScheduleTest, UtcIsTheDefault) {
  const Schedule s = Make("0 0 12 * * *", "");
  EXPECT_EQ(s.spec().timezone, "");
  const std::optional<Slot> slot = s.Next(Utc("2026-03-08T12:00:00"));
  ASSERT_TRUE(slot);
  EXPECT_EQ(slot->at, Utc("2026-03-09T12:00:00"));
  EXPECT_EQ(slot->utc_offset_s, 0);
  EXPECT_EQ(s.FormatLocal(slot->at), "2026-03-09T12:00:00+00:00");
  EXPECT_EQ(Make("0 0 12 * * *", "UTC").FormatLocal(Utc("2026-03-09T12:00:00")),
            "2026-03-09T12:00:00+00:00");
}

TEST(ScheduleTest, PoliciesResolveAuto) {
  const Schedule interval = Make("0 */15 * * * *", "America/New_York");
  EXPECT_EQ(interval.dst_gap(), DstGap::kSkip);
  EXPECT_EQ(interval.dst_overlap(), DstOverlap::kBoth);
  EXPECT_FALSE(interval.is_interval());
  const Schedule fixed = Make("0 30 2 * * *", "America/New_York");
  EXPECT_EQ(fixed.dst_gap(), DstGap::kShift);
  EXPECT_EQ(fixed.dst_overlap(), DstOverlap::kFirst);
  const Schedule hourly = Make("@hourly", "America/New_York");
  EXPECT_EQ(hourly.dst_gap(), DstGap::kSkip);
  const Schedule forced = Make("0 30 2 * * *", "UTC", DstGap::kSkip, DstOverlap::kBoth);
  EXPECT_EQ(forced.dst_gap(), DstGap::kSkip);
  EXPECT_EQ(forced.dst_overlap(), DstOverlap::kBoth);
}

// New York springs forward at 2026-03-08T07:00Z: 02:00 EST becomes 03:00 EDT.
TEST(ScheduleNewYorkSpringTest, FixedTimeShiftsToTheEndOfTheGap) {
  const Schedule s = Make("0 30 2 * * *", "America/New_York");
  EXPECT_EQ(
      Slots(s, Utc("2026-03-07T00:00:00"), 3),
      (Lines{"fire 07:30:00Z 2026-03-07T02:30:00-05:00 nominal 2026-03-07T02:30:00 occ 1 x1",
             "fire 07:00:00Z 2026-03-08T03:00:00-04:00 nominal 2026-03-08T02:30:00 occ 1 x1",
             "fire 06:30:00Z 2026-03-09T02:30:00-04:00 nominal 2026-03-09T02:30:00 occ 1 x1"}));
  const std::optional<Slot> shifted = s.Next(Utc("2026-03-08T00:00:00"));
  ASSERT_TRUE(shifted);
  EXPECT_EQ(shifted->at, Utc("2026-03-08T07:00:00"));
  EXPECT_EQ(shifted->utc_offset_s, -4 * 3600);
}

TEST(ScheduleNewYorkSpringTest, FixedTimeSkipped) {
  const Schedule s = Make("0 30 2 * * *", "America/New_York", DstGap::kSkip);
  EXPECT_EQ(
      Slots(s, Utc("2026-03-08T00:00:00"), 2),
      (Lines{"skip 07:00:00Z 2026-03-08T03:00:00-04:00 nominal 2026-03-08T02:30:00 occ 1 x1",
             "fire 06:30:00Z 2026-03-09T02:30:00-04:00 nominal 2026-03-09T02:30:00 occ 1 x1"}));
  EXPECT_EQ(Describe(s, s.NextFire(Utc("2026-03-08T00:00:00"))),
            "fire 06:30:00Z 2026-03-09T02:30:00-04:00 nominal 2026-03-09T02:30:00 occ 1 x1");
}

TEST(ScheduleNewYorkSpringTest, ShiftedTimesCoalesceWithTheEndOfTheGap) {
  // 02:00 and 02:30 do not exist; shifted, they land on 03:00, which fires too.
  const Schedule s = Make("0 0,30 2,3 * * *", "America/New_York");
  EXPECT_EQ(
      Slots(s, Utc("2026-03-08T06:00:00"), 2),
      (Lines{"fire 07:00:00Z 2026-03-08T03:00:00-04:00 nominal 2026-03-08T02:00:00 occ 1 x3",
             "fire 07:30:00Z 2026-03-08T03:30:00-04:00 nominal 2026-03-08T03:30:00 occ 1 x1"}));
  // A cursor inside the coalesced slot is past all of it.
  EXPECT_EQ(Describe(s, s.Next(Utc("2026-03-08T07:00:00"), Local("2026-03-08T02:30:00"))),
            "fire 07:30:00Z 2026-03-08T03:30:00-04:00 nominal 2026-03-08T03:30:00 occ 1 x1");
  // A cursor before it at the same instant still sees it.
  EXPECT_EQ(Describe(s, s.Next(Utc("2026-03-08T07:00:00"), Local("2026-03-08T01:59:59"))),
            "fire 07:00:00Z 2026-03-08T03:00:00-04:00 nominal 2026-03-08T02:00:00 occ 1 x3");
}

TEST(ScheduleNewYorkSpringTest, SkippedTimesAreSlotsBeforeTheFireAtTheSameInstant) {
  const Schedule s = Make("0 0,30 2,3 * * *", "America/New_York", DstGap::kSkip);
  EXPECT_EQ(
      Slots(s, Utc("2026-03-08T06:00:00"), 4),
      (Lines{"skip 07:00:00Z 2026-03-08T03:00:00-04:00 nominal 2026-03-08T02:00:00 occ 1 x1",
             "skip 07:00:00Z 2026-03-08T03:00:00-04:00 nominal 2026-03-08T02:30:00 occ 1 x1",
             "fire 07:00:00Z 2026-03-08T03:00:00-04:00 nominal 2026-03-08T03:00:00 occ 1 x1",
             "fire 07:30:00Z 2026-03-08T03:30:00-04:00 nominal 2026-03-08T03:30:00 occ 1 x1"}));
  EXPECT_EQ(Describe(s, s.NextFire(Utc("2026-03-08T06:00:00"))),
            "fire 07:00:00Z 2026-03-08T03:00:00-04:00 nominal 2026-03-08T03:00:00 occ 1 x1");
}

TEST(ScheduleNewYorkSpringTest, IntervalSkipsByDefault) {
  const Schedule s = Make("0 */15 * * * *", "America/New_York");
  EXPECT_EQ(
      Slots(s, Utc("2026-03-08T06:30:00"), 7),
      (Lines{"fire 06:45:00Z 2026-03-08T01:45:00-05:00 nominal 2026-03-08T01:45:00 occ 1 x1",
             "skip 07:00:00Z 2026-03-08T03:00:00-04:00 nominal 2026-03-08T02:00:00 occ 1 x1",
             "skip 07:00:00Z 2026-03-08T03:00:00-04:00 nominal 2026-03-08T02:15:00 occ 1 x1",
             "skip 07:00:00Z 2026-03-08T03:00:00-04:00 nominal 2026-03-08T02:30:00 occ 1 x1",
             "skip 07:00:00Z 2026-03-08T03:00:00-04:00 nominal 2026-03-08T02:45:00 occ 1 x1",
             "fire 07:00:00Z 2026-03-08T03:00:00-04:00 nominal 2026-03-08T03:00:00 occ 1 x1",
             "fire 07:15:00Z 2026-03-08T03:15:00-04:00 nominal 2026-03-08T03:15:00 occ 1 x1"}));
}

TEST(ScheduleNewYorkSpringTest, IntervalShifted) {
  const Schedule s = Make("0 */15 * * * *", "America/New_York", DstGap::kShift);
  EXPECT_EQ(
      Slots(s, Utc("2026-03-08T06:30:00"), 3),
      (Lines{"fire 06:45:00Z 2026-03-08T01:45:00-05:00 nominal 2026-03-08T01:45:00 occ 1 x1",
             "fire 07:00:00Z 2026-03-08T03:00:00-04:00 nominal 2026-03-08T02:00:00 occ 1 x5",
             "fire 07:15:00Z 2026-03-08T03:15:00-04:00 nominal 2026-03-08T03:15:00 occ 1 x1"}));
  // Every second of the missing hour plus 03:00:00 itself.
  const Schedule every_second = Make("* * * * * *", "America/New_York", DstGap::kShift);
  const std::optional<Slot> slot = every_second.Next(Utc("2026-03-08T06:59:59"));
  ASSERT_TRUE(slot);
  EXPECT_EQ(slot->at, Utc("2026-03-08T07:00:00"));
  EXPECT_EQ(slot->coalesced, 3601);
}

TEST(ScheduleCursorTest, SkipSlotsAtOneInstantAreOrderedByNominal) {
  const Schedule s = Make("0 */15 * * * *", "America/New_York");
  const TimePoint t = Utc("2026-03-08T07:00:00");
  EXPECT_EQ(s.Next(t, Local("2026-03-08T01:59:59"))->nominal, Local("2026-03-08T02:00:00"));
  EXPECT_EQ(s.Next(t, Local("2026-03-08T02:00:00"))->nominal, Local("2026-03-08T02:15:00"));
  EXPECT_EQ(s.Next(t, Local("2026-03-08T02:20:00"))->nominal, Local("2026-03-08T02:30:00"));
  const std::optional<Slot> fire = s.Next(t, Local("2026-03-08T02:45:00"));
  ASSERT_TRUE(fire);
  EXPECT_TRUE(fire->fires());
  EXPECT_EQ(fire->at, t);
  EXPECT_EQ(fire->nominal, Local("2026-03-08T03:00:00"));
  EXPECT_EQ(s.Next(t, Local("2026-03-08T03:00:00"))->at, Utc("2026-03-08T07:15:00"));
  // Next(instant) is strictly after the instant, whatever the nominal.
  EXPECT_EQ(s.Next(t)->at, Utc("2026-03-08T07:15:00"));
  // A fractional cursor is after every slot of its second.
  EXPECT_EQ(s.Next(t + std::chrono::milliseconds(1), Local("2000-01-01T00:00:00"))->at,
            Utc("2026-03-08T07:15:00"));
  EXPECT_EQ(s.Next(t - std::chrono::milliseconds(1), Local("2099-01-01T00:00:00"))->nominal,
            Local("2026-03-08T02:00:00"));
}

TEST(ScheduleCursorTest, NextFirePassesSkipSlots) {
  const Schedule s = Make("0 */15 * * * *", "America/New_York");
  const std::optional<Slot> fire = s.NextFire(Utc("2026-03-08T06:45:00"));
  ASSERT_TRUE(fire);
  EXPECT_TRUE(fire->fires());
  EXPECT_EQ(fire->at, Utc("2026-03-08T07:00:00"));
  EXPECT_EQ(fire->nominal, Local("2026-03-08T03:00:00"));
  // Only the missing hour matches: the next fire is the next day.
  const Schedule only_gap = Make("0 */20 2 * * *", "America/New_York", DstGap::kSkip);
  EXPECT_EQ(only_gap.Next(Utc("2026-03-08T06:00:00"))->kind, Slot::Kind::kSkipDstGap);
  EXPECT_EQ(Describe(only_gap, only_gap.NextFire(Utc("2026-03-08T06:00:00"))),
            "fire 06:00:00Z 2026-03-09T02:00:00-04:00 nominal 2026-03-09T02:00:00 occ 1 x1");
}

// New York falls back at 2026-11-01T06:00Z: 02:00 EDT becomes 01:00 EST.
TEST(ScheduleNewYorkFallTest, FixedTimeFiresOnTheFirstOccurrence) {
  const Schedule s = Make("0 30 1 * * *", "America/New_York");
  EXPECT_EQ(
      Slots(s, Utc("2026-11-01T00:00:00"), 2),
      (Lines{"fire 05:30:00Z 2026-11-01T01:30:00-04:00 nominal 2026-11-01T01:30:00 occ 1 x1",
             "fire 06:30:00Z 2026-11-02T01:30:00-05:00 nominal 2026-11-02T01:30:00 occ 1 x1"}));
}

TEST(ScheduleNewYorkFallTest, FixedTimeFiresTwiceWithBoth) {
  const Schedule s = Make("0 30 1 * * *", "America/New_York", DstGap::kAuto, DstOverlap::kBoth);
  EXPECT_EQ(
      Slots(s, Utc("2026-11-01T00:00:00"), 3),
      (Lines{"fire 05:30:00Z 2026-11-01T01:30:00-04:00 nominal 2026-11-01T01:30:00 occ 1 x1",
             "fire 06:30:00Z 2026-11-01T01:30:00-05:00 nominal 2026-11-01T01:30:00 occ 2 x1",
             "fire 06:30:00Z 2026-11-02T01:30:00-05:00 nominal 2026-11-02T01:30:00 occ 1 x1"}));
  // Starting between the two occurrences finds the second.
  const std::optional<Slot> second = s.Next(Utc("2026-11-01T05:45:00"));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->occurrence, 2);
  EXPECT_EQ(second->utc_offset_s, -5 * 3600);
}

TEST(ScheduleNewYorkFallTest, IntervalRunsThroughBothOccurrences) {
  const Schedule s = Make("0 */15 * * * *", "America/New_York");
  EXPECT_EQ(
      Slots(s, Utc("2026-11-01T05:30:00"), 7),
      (Lines{"fire 05:45:00Z 2026-11-01T01:45:00-04:00 nominal 2026-11-01T01:45:00 occ 1 x1",
             "fire 06:00:00Z 2026-11-01T01:00:00-05:00 nominal 2026-11-01T01:00:00 occ 2 x1",
             "fire 06:15:00Z 2026-11-01T01:15:00-05:00 nominal 2026-11-01T01:15:00 occ 2 x1",
             "fire 06:30:00Z 2026-11-01T01:30:00-05:00 nominal 2026-11-01T01:30:00 occ 2 x1",
             "fire 06:45:00Z 2026-11-01T01:45:00-05:00 nominal 2026-11-01T01:45:00 occ 2 x1",
             "fire 07:00:00Z 2026-11-01T02:00:00-05:00 nominal 2026-11-01T02:00:00 occ 1 x1",
             "fire 07:15:00Z 2026-11-01T02:15:00-05:00 nominal 2026-11-01T02:15:00 occ 1 x1"}));
}

TEST(ScheduleNewYorkFallTest, IntervalWithFirstSkipsTheRepeatedHour) {
  const Schedule s = Make("0 */15 * * * *", "America/New_York", DstGap::kAuto, DstOverlap::kFirst);
  EXPECT_EQ(
      Slots(s, Utc("2026-11-01T05:30:00"), 2),
      (Lines{"fire 05:45:00Z 2026-11-01T01:45:00-04:00 nominal 2026-11-01T01:45:00 occ 1 x1",
             "fire 07:00:00Z 2026-11-01T02:00:00-05:00 nominal 2026-11-01T02:00:00 occ 1 x1"}));
}

// Berlin: 2026-03-29 02:00 CET -> 03:00 CEST at 01:00Z; 2026-10-25 03:00 CEST
// -> 02:00 CET at 01:00Z.
TEST(ScheduleBerlinTest, SpringGap) {
  const Schedule shift = Make("0 30 2 * * *", "Europe/Berlin");
  EXPECT_EQ(
      Slots(shift, Utc("2026-03-28T12:00:00"), 2),
      (Lines{"fire 01:00:00Z 2026-03-29T03:00:00+02:00 nominal 2026-03-29T02:30:00 occ 1 x1",
             "fire 00:30:00Z 2026-03-30T02:30:00+02:00 nominal 2026-03-30T02:30:00 occ 1 x1"}));
  const Schedule skip = Make("0 30 2 * * *", "Europe/Berlin", DstGap::kSkip);
  EXPECT_EQ(Describe(skip, skip.Next(Utc("2026-03-28T12:00:00"))),
            "skip 01:00:00Z 2026-03-29T03:00:00+02:00 nominal 2026-03-29T02:30:00 occ 1 x1");
  const Schedule both_hours = Make("0 0,30 2,3 * * *", "Europe/Berlin");
  EXPECT_EQ(Describe(both_hours, both_hours.Next(Utc("2026-03-29T00:00:00"))),
            "fire 01:00:00Z 2026-03-29T03:00:00+02:00 nominal 2026-03-29T02:00:00 occ 1 x3");
  const Schedule interval = Make("0 */15 * * * *", "Europe/Berlin");
  EXPECT_EQ(
      Slots(interval, Utc("2026-03-29T00:45:00"), 2),
      (Lines{"skip 01:00:00Z 2026-03-29T03:00:00+02:00 nominal 2026-03-29T02:00:00 occ 1 x1",
             "skip 01:00:00Z 2026-03-29T03:00:00+02:00 nominal 2026-03-29T02:15:00 occ 1 x1"}));
}

TEST(ScheduleBerlinTest, AutumnOverlap) {
  const Schedule first = Make("0 30 2 * * *", "Europe/Berlin");
  EXPECT_EQ(
      Slots(first, Utc("2026-10-24T12:00:00"), 2),
      (Lines{"fire 00:30:00Z 2026-10-25T02:30:00+02:00 nominal 2026-10-25T02:30:00 occ 1 x1",
             "fire 01:30:00Z 2026-10-26T02:30:00+01:00 nominal 2026-10-26T02:30:00 occ 1 x1"}));
  const Schedule both = Make("0 30 2 * * *", "Europe/Berlin", DstGap::kAuto, DstOverlap::kBoth);
  EXPECT_EQ(
      Slots(both, Utc("2026-10-24T12:00:00"), 2),
      (Lines{"fire 00:30:00Z 2026-10-25T02:30:00+02:00 nominal 2026-10-25T02:30:00 occ 1 x1",
             "fire 01:30:00Z 2026-10-25T02:30:00+01:00 nominal 2026-10-25T02:30:00 occ 2 x1"}));
  const Schedule interval = Make("0 */30 * * * *", "Europe/Berlin");
  EXPECT_EQ(
      Slots(interval, Utc("2026-10-25T00:15:00"), 4),
      (Lines{"fire 00:30:00Z 2026-10-25T02:30:00+02:00 nominal 2026-10-25T02:30:00 occ 1 x1",
             "fire 01:00:00Z 2026-10-25T02:00:00+01:00 nominal 2026-10-25T02:00:00 occ 2 x1",
             "fire 01:30:00Z 2026-10-25T02:30:00+01:00 nominal 2026-10-25T02:30:00 occ 2 x1",
             "fire 02:00:00Z 2026-10-25T03:00:00+01:00 nominal 2026-10-25T03:00:00 occ 1 x1"}));
}

// Lord Howe moves by 30 minutes: 2026-04-05 02:00 (+11) -> 01:30 (+10:30) at
// 2026-04-04T15:00Z; 2026-10-04 02:00 (+10:30) -> 02:30 (+11) at 2026-10-03T15:30Z.
TEST(ScheduleLordHoweTest, HalfHourOverlap) {
  const Schedule first = Make("0 45 1 * * *", "Australia/Lord_Howe");
  EXPECT_EQ(
      Slots(first, Utc("2026-04-04T12:00:00"), 2),
      (Lines{"fire 14:45:00Z 2026-04-05T01:45:00+11:00 nominal 2026-04-05T01:45:00 occ 1 x1",
             "fire 15:15:00Z 2026-04-06T01:45:00+10:30 nominal 2026-04-06T01:45:00 occ 1 x1"}));
  const Schedule both =
      Make("0 45 1 * * *", "Australia/Lord_Howe", DstGap::kAuto, DstOverlap::kBoth);
  EXPECT_EQ(
      Slots(both, Utc("2026-04-04T12:00:00"), 2),
      (Lines{"fire 14:45:00Z 2026-04-05T01:45:00+11:00 nominal 2026-04-05T01:45:00 occ 1 x1",
             "fire 15:15:00Z 2026-04-05T01:45:00+10:30 nominal 2026-04-05T01:45:00 occ 2 x1"}));
  // 01:15 is before the repeated half hour: once.
  const Schedule before =
      Make("0 15 1 * * *", "Australia/Lord_Howe", DstGap::kAuto, DstOverlap::kBoth);
  EXPECT_EQ(
      Slots(before, Utc("2026-04-04T12:00:00"), 2),
      (Lines{"fire 14:15:00Z 2026-04-05T01:15:00+11:00 nominal 2026-04-05T01:15:00 occ 1 x1",
             "fire 14:45:00Z 2026-04-06T01:15:00+10:30 nominal 2026-04-06T01:15:00 occ 1 x1"}));
  const Schedule interval = Make("0 */15 * * * *", "Australia/Lord_Howe");
  EXPECT_EQ(
      Slots(interval, Utc("2026-04-04T14:20:00"), 5),
      (Lines{"fire 14:30:00Z 2026-04-05T01:30:00+11:00 nominal 2026-04-05T01:30:00 occ 1 x1",
             "fire 14:45:00Z 2026-04-05T01:45:00+11:00 nominal 2026-04-05T01:45:00 occ 1 x1",
             "fire 15:00:00Z 2026-04-05T01:30:00+10:30 nominal 2026-04-05T01:30:00 occ 2 x1",
             "fire 15:15:00Z 2026-04-05T01:45:00+10:30 nominal 2026-04-05T01:45:00 occ 2 x1",
             "fire 15:30:00Z 2026-04-05T02:00:00+10:30 nominal 2026-04-05T02:00:00 occ 1 x1"}));
}

TEST(ScheduleLordHoweTest, HalfHourGap) {
  const Schedule shift = Make("0 15 2 * * *", "Australia/Lord_Howe");
  EXPECT_EQ(
      Slots(shift, Utc("2026-10-03T12:00:00"), 2),
      (Lines{"fire 15:30:00Z 2026-10-04T02:30:00+11:00 nominal 2026-10-04T02:15:00 occ 1 x1",
             "fire 15:15:00Z 2026-10-05T02:15:00+11:00 nominal 2026-10-05T02:15:00 occ 1 x1"}));
  const Schedule interval = Make("0 */15 * * * *", "Australia/Lord_Howe");
  EXPECT_EQ(
      Slots(interval, Utc("2026-10-03T15:00:00"), 5),
      (Lines{"fire 15:15:00Z 2026-10-04T01:45:00+10:30 nominal 2026-10-04T01:45:00 occ 1 x1",
             "skip 15:30:00Z 2026-10-04T02:30:00+11:00 nominal 2026-10-04T02:00:00 occ 1 x1",
             "skip 15:30:00Z 2026-10-04T02:30:00+11:00 nominal 2026-10-04T02:15:00 occ 1 x1",
             "fire 15:30:00Z 2026-10-04T02:30:00+11:00 nominal 2026-10-04T02:30:00 occ 1 x1",
             "fire 15:45:00Z 2026-10-04T02:45:00+11:00 nominal 2026-10-04T02:45:00 occ 1 x1"}));
}

// Samoa skipped 2011-12-30 entirely: -10 to +14 at 2011-12-30T10:00Z.
TEST(ScheduleApiaTest, WholeDayGap) {
  const Schedule noon = Make("0 0 12 * * *", "Pacific/Apia");
  EXPECT_EQ(
      Slots(noon, Utc("2011-12-29T23:00:00"), 2),
      (Lines{"fire 10:00:00Z 2011-12-31T00:00:00+14:00 nominal 2011-12-30T12:00:00 occ 1 x1",
             "fire 22:00:00Z 2011-12-31T12:00:00+14:00 nominal 2011-12-31T12:00:00 occ 1 x1"}));
  const Schedule hourly = Make("0 0 * * * *", "Pacific/Apia");
  int skips = 0;
  std::optional<Slot> slot = hourly.Next(Utc("2011-12-30T09:00:00"));
  while (slot && !slot->fires()) {
    EXPECT_EQ(slot->at, Utc("2011-12-30T10:00:00"));
    EXPECT_EQ(slot->nominal, Local("2011-12-30T00:00:00") + std::chrono::hours(skips));
    ++skips;
    slot = hourly.Next(slot->at, slot->nominal);
  }
  EXPECT_EQ(skips, 24);
  EXPECT_EQ(Describe(hourly, slot),
            "fire 10:00:00Z 2011-12-31T00:00:00+14:00 nominal 2011-12-31T00:00:00 occ 1 x1");
  EXPECT_EQ(Describe(hourly, hourly.NextFire(Utc("2011-12-30T09:00:00"))), Describe(hourly, slot));
  const Schedule shifted = Make("0 0 * * * *", "Pacific/Apia", DstGap::kShift);
  EXPECT_EQ(shifted.Next(Utc("2011-12-30T09:00:00"))->coalesced, 25);
}

TEST(ScheduleTest, RareExpressionsFarAhead) {
  EXPECT_EQ(Describe(Make("0 0 0 29 2 *", "America/New_York"),
                     Make("0 0 0 29 2 *", "America/New_York").Next(Utc("2026-01-01T00:00:00"))),
            "fire 05:00:00Z 2028-02-29T00:00:00-05:00 nominal 2028-02-29T00:00:00 occ 1 x1");
  const Schedule lord_howe = Make("0 0 0 29 2 *", "Australia/Lord_Howe");
  EXPECT_EQ(lord_howe.Next(Utc("2026-01-01T00:00:00"))->at, Utc("2028-02-28T13:00:00"));
  const Schedule saturday = Make("0 0 0 ? 2 6#5", "Europe/Berlin");
  EXPECT_EQ(saturday.Next(Utc("2020-03-01T00:00:00"))->at, Utc("2048-02-28T23:00:00"));
  EXPECT_FALSE(Make("0 0 0 1 1 *", "Europe/Berlin").Next(Utc("9999-06-01T00:00:00")));
}

TEST(ScheduleEveryTest, AnchoredOnBothSidesStrictlyAfterTheCursor) {
  const TimePoint anchor = Utc("2026-03-08T06:00:00");
  const Schedule s = Make(ScheduleSpec{"@every 1h30m"}, anchor);
  EXPECT_TRUE(s.is_interval());
  EXPECT_EQ(s.Next(anchor)->at, Utc("2026-03-08T07:30:00"));
  EXPECT_EQ(s.Next(anchor - seconds(1))->at, anchor);
  EXPECT_EQ(s.Next(Utc("2026-03-08T07:29:59"))->at, Utc("2026-03-08T07:30:00"));
  // Before the anchor too: 06:00 - 3 * 1h30 = 01:30.
  EXPECT_EQ(s.Next(Utc("2026-03-08T00:00:00"))->at, Utc("2026-03-08T01:30:00"));
  EXPECT_EQ(s.Next(Utc("2026-03-07T23:59:59"))->at, Utc("2026-03-08T00:00:00"));
  // The cursor's nominal breaks a tie at the same instant.
  const TimePoint t = Utc("2026-03-08T07:30:00");
  EXPECT_EQ(s.Next(t, Local("2026-03-08T07:29:59"))->at, t);
  EXPECT_EQ(s.Next(t, Local("2026-03-08T07:30:00"))->at, Utc("2026-03-08T09:00:00"));
}

TEST(ScheduleEveryTest, DstHasNoEffect) {
  const Schedule s =
      Make(ScheduleSpec{"@every 90m", "America/New_York"}, Utc("2026-03-08T06:00:00"));
  EXPECT_EQ(
      Slots(s, Utc("2026-03-08T05:00:00"), 3),
      (Lines{"fire 06:00:00Z 2026-03-08T01:00:00-05:00 nominal 2026-03-08T06:00:00 occ 1 x1",
             "fire 07:30:00Z 2026-03-08T03:30:00-04:00 nominal 2026-03-08T07:30:00 occ 1 x1",
             "fire 09:00:00Z 2026-03-08T05:00:00-04:00 nominal 2026-03-08T09:00:00 occ 1 x1"}));
  EXPECT_EQ(s.Next(Utc("2026-03-08T07:00:00"))->utc_offset_s, -4 * 3600);
  EXPECT_EQ(s.dst_gap(), DstGap::kSkip);
  EXPECT_EQ(s.dst_overlap(), DstOverlap::kBoth);
}

TEST(ScheduleEveryTest, DurationsAndAnchorFraction) {
  const TimePoint anchor = Utc("2026-01-01T00:00:00") + std::chrono::milliseconds(750);
  EXPECT_EQ(Make(ScheduleSpec{"@every 90s"}, anchor).Next(anchor)->at, Utc("2026-01-01T00:01:30"));
  EXPECT_EQ(Make(ScheduleSpec{"@every 1s"}, anchor).Next(anchor)->at, Utc("2026-01-01T00:00:01"));
  EXPECT_EQ(Make(ScheduleSpec{"@EVERY 1h2m3s"}, anchor).Next(anchor)->at,
            Utc("2026-01-01T01:02:03"));
  EXPECT_EQ(Make(ScheduleSpec{"  @every   8784h "}, anchor).Next(anchor)->at,
            Utc("2027-01-02T00:00:00"));
}

TEST(ScheduleErrorTest, Errors) {
  const auto error = [](const ScheduleSpec& spec) {
    auto made = Schedule::Make(spec, TimePoint{});
    if (!std::holds_alternative<ScheduleError>(made)) {
      ADD_FAILURE() << spec.cron << " in " << spec.timezone << " was accepted";
      return ScheduleError{};
    }
    return std::get<ScheduleError>(made);
  };
  EXPECT_EQ(error({"0 0 * * * *", "Mars/Base"}),
            (ScheduleError{"timezone", "unknown time zone \"Mars/Base\""}));
  EXPECT_EQ(error({"0 61 * * * *", "UTC"}),
            (ScheduleError{"cron", "minute: 61 is out of range 0-59"}));
  EXPECT_EQ(error({"0 0 0 30 2 *"}),
            (ScheduleError{
                "cron", "the expression never fires: no day matches day of month 30 in month 2"}));
  EXPECT_EQ(error({"@every 0s"}),
            (ScheduleError{"cron", "the interval must be at least 1s, got \"0s\""}));
  EXPECT_EQ(
      error({"@every 8785h"}),
      (ScheduleError{"cron", "the interval must be at most 366 days (8784h), got \"8785h\""}));
  EXPECT_EQ(error({"@every 99999999999999999999s"}),
            (ScheduleError{"cron",
                           "the interval must be at most 366 days (8784h), got "
                           "\"99999999999999999999s\""}));
  for (const char* bad : {"1.5h", "30m1h", "1h1h", "10", "h", "1d", "1h 30m"}) {
    EXPECT_EQ(
        error({std::string("@every ") + bad}),
        (ScheduleError{"cron", "expected a duration such as 90s or 1h30m (units h, m, s), got \"" +
                                   std::string(bad) + "\""}));
  }
  EXPECT_EQ(error({"@every"}),
            (ScheduleError{"cron",
                           "expected a duration such as 90s or 1h30m (units h, m, s), got \"\""}));
  EXPECT_EQ(error({"@everyday"}),
            (ScheduleError{"cron",
                           "unknown macro \"@everyday\" (expected @yearly, @annually, "
                           "@monthly, @weekly, @daily, @midnight or @hourly)"}));
  EXPECT_EQ(error({"0 0 * * * *", "UTC", static_cast<DstGap>(7)}),
            (ScheduleError{"dst_gap", "unknown policy 7"}));
  EXPECT_EQ(error({"0 0 * * * *", "UTC", DstGap::kAuto, static_cast<DstOverlap>(-1)}),
            (ScheduleError{"dst_overlap", "unknown policy -1"}));
}

TEST(ScheduleFormatTest, LocalAndNominal) {
  const Schedule ny = Make("0 0 * * * *", "America/New_York");
  EXPECT_EQ(ny.FormatLocal(Utc("2026-03-08T07:00:00")), "2026-03-08T03:00:00-04:00");
  EXPECT_EQ(ny.FormatLocal(Utc("2026-03-08T06:59:59")), "2026-03-08T01:59:59-05:00");
  EXPECT_EQ(ny.FormatLocal(Utc("2026-03-08T07:00:00") + std::chrono::milliseconds(999)),
            "2026-03-08T03:00:00-04:00");
  // Local mean time before 1883: -4:56:02.
  EXPECT_EQ(ny.FormatLocal(Utc("1880-01-01T04:56:02")), "1880-01-01T00:00:00-04:56:02");
  EXPECT_EQ(Make("0 0 * * * *", "Asia/Kathmandu").FormatLocal(Utc("2026-01-01T00:00:00")),
            "2026-01-01T05:45:00+05:45");
  EXPECT_EQ(Schedule::FormatNominal(Local("2026-03-08T02:30:00")), "2026-03-08T02:30:00");
  EXPECT_EQ(Schedule::FormatNominal(Local("1969-12-31T23:59:59")), "1969-12-31T23:59:59");
  EXPECT_EQ(Schedule::FormatNominal(Local("0001-01-01T00:00:00")), "0001-01-01T00:00:00");
  // ParseNominal is FormatNominal's inverse (a cursor stores the nominal text).
  for (const char* text : {"2026-03-08T02:30:00", "1969-12-31T23:59:59", "2024-02-29T23:59:59"}) {
    ASSERT_TRUE(Schedule::ParseNominal(text).has_value()) << text;
    EXPECT_EQ(Schedule::FormatNominal(*Schedule::ParseNominal(text)), text);
  }
  EXPECT_EQ(*Schedule::ParseNominal("2026-03-08T02:30:00"), Local("2026-03-08T02:30:00"));
  for (const char* bad : {"", "2026-02-30T00:00:00", "2026-03-08T24:00:00", "2026-03-08 02:30:00",
                          "2026-03-08T02:30:00Z"}) {
    EXPECT_FALSE(Schedule::ParseNominal(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace jobsched::cron
