// Unit tests of GET /api/v1/schedules/preview (schedule_preview.h), with
// literal expected fire times across DST transitions.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "services/api/schedule_preview.h"

namespace jobsched::api {

// For readable failures.
void PrintTo(const ApiError& e, std::ostream* os) { *os << ErrorBody(e).dump(); }

namespace {

using nlohmann::json;

const TimePoint kNow = *ParseRfc3339("2026-03-01T12:00:00.250Z");

json MustPreview(const QueryParams& query) {
  auto r = PreviewSchedule(query, kNow);
  if (auto* e = std::get_if<ApiError>(&r)) {
    ADD_FAILURE() << "unexpected error " << e->code << " " << e->field << ": " << e->message;
    return {};
  }
  return std::get<json>(r);
}

ApiError MustFail(const QueryParams& query) {
  auto r = PreviewSchedule(query, kNow);
  if (auto* e = std::get_if<ApiError>(&r)) return *e;
  ADD_FAILURE() << "accepted";
  return {};
}

json Fire(const char* at, const char* local) { return {{"at", at}, {"local", local}}; }

TEST(Preview, SpringForwardShiftsTheMissingTimeByDefault) {
  json r = MustPreview({{"cron", "0 30 2 * * *"},
                        {"timezone", "America/New_York"},
                        {"from", "2026-03-07T00:00:00Z"},
                        {"count", "3"}});
  EXPECT_EQ(r, (json{{"fires",
                      {Fire("2026-03-07T07:30:00Z", "2026-03-07T02:30:00-05:00"),
                       Fire("2026-03-08T07:00:00Z", "2026-03-08T03:00:00-04:00"),
                       Fire("2026-03-09T06:30:00Z", "2026-03-09T02:30:00-04:00")}}}));
}

TEST(Preview, SpringForwardSkipsTheMissingTimeWhenAsked) {
  json r = MustPreview({{"cron", "0 30 2 * * *"},
                        {"timezone", "America/New_York"},
                        {"from", "2026-03-07T00:00:00Z"},
                        {"count", "3"},
                        {"dst_gap", "skip"}});
  EXPECT_EQ(r, (json{{"fires",
                      {Fire("2026-03-07T07:30:00Z", "2026-03-07T02:30:00-05:00"),
                       Fire("2026-03-09T06:30:00Z", "2026-03-09T02:30:00-04:00"),
                       Fire("2026-03-10T06:30:00Z", "2026-03-10T02:30:00-04:00")}}}));
}

TEST(Preview, IntervalSchedulesSkipTheGapByDefault) {
  json r = MustPreview({{"cron", "0 */30 * * * *"},
                        {"timezone", "America/New_York"},
                        {"from", "2026-03-08T06:00:00Z"},
                        {"count", "4"}});
  EXPECT_EQ(r, (json{{"fires",
                      {Fire("2026-03-08T06:30:00Z", "2026-03-08T01:30:00-05:00"),
                       Fire("2026-03-08T07:00:00Z", "2026-03-08T03:00:00-04:00"),
                       Fire("2026-03-08T07:30:00Z", "2026-03-08T03:30:00-04:00"),
                       Fire("2026-03-08T08:00:00Z", "2026-03-08T04:00:00-04:00")}}}));
}

TEST(Preview, FallBackFiresOnceOrTwice) {
  QueryParams q = {{"cron", "0 30 1 * * *"},
                   {"timezone", "America/New_York"},
                   {"from", "2026-11-01T00:00:00Z"},
                   {"count", "2"}};
  EXPECT_EQ(MustPreview(q), (json{{"fires",
                                   {Fire("2026-11-01T05:30:00Z", "2026-11-01T01:30:00-04:00"),
                                    Fire("2026-11-02T06:30:00Z", "2026-11-02T01:30:00-05:00")}}}));
  q["dst_overlap"] = "both";
  EXPECT_EQ(MustPreview(q), (json{{"fires",
                                   {Fire("2026-11-01T05:30:00Z", "2026-11-01T01:30:00-04:00"),
                                    Fire("2026-11-01T06:30:00Z", "2026-11-01T01:30:00-05:00")}}}));
}

TEST(Preview, DefaultsToTenFiresStrictlyAfterNowInUtc) {
  json r = MustPreview({{"cron", "*/15 * * * * *"}});
  ASSERT_EQ(r["fires"].size(), 10u);
  EXPECT_EQ(r["fires"][0], Fire("2026-03-01T12:00:15Z", "2026-03-01T12:00:15+00:00"));
  EXPECT_EQ(r["fires"][9], Fire("2026-03-01T12:02:30Z", "2026-03-01T12:02:30+00:00"));
  // A fire exactly at `from` is not "after" it.
  json at =
      MustPreview({{"cron", "0 * * * * *"}, {"from", "2026-03-01T12:00:00Z"}, {"count", "1"}});
  EXPECT_EQ(at["fires"][0]["at"], "2026-03-01T12:01:00Z");
}

TEST(Preview, EveryIsAnchoredAtFrom) {
  json r = MustPreview({{"cron", "@every 90s"},
                        {"from", "2026-03-01T12:00:00Z"},
                        {"timezone", "Asia/Kolkata"},
                        {"count", "2"}});
  EXPECT_EQ(r, (json{{"fires",
                      {Fire("2026-03-01T12:01:30Z", "2026-03-01T17:31:30+05:30"),
                       Fire("2026-03-01T12:03:00Z", "2026-03-01T17:33:00+05:30")}}}));
}

TEST(Preview, AThousandFiresAtMost) {
  json r =
      MustPreview({{"cron", "* * * * * *"}, {"from", "2026-03-01T00:00:00Z"}, {"count", "1000"}});
  ASSERT_EQ(r["fires"].size(), 1000u);
  EXPECT_EQ(r["fires"][999]["at"], "2026-03-01T00:16:40Z");
}

TEST(Preview, AcceptsAnUnencodedPlusInFrom) {
  // "+01:00" sent without %2B arrives as " 01:00".
  json r =
      MustPreview({{"cron", "0 0 * * * *"}, {"from", "2026-03-01T12:30:00 01:00"}, {"count", "1"}});
  EXPECT_EQ(r["fires"][0]["at"], "2026-03-01T12:00:00Z");
}

TEST(Preview, ErrorsAreTheSubmissionsWithFieldCron) {
  EXPECT_EQ(MustFail({{"cron", "0 61 * * * *"}}),
            (ApiError{"invalid_field", "minute: 61 is out of range 0-59", "cron"}));
  EXPECT_EQ(ErrorBody(MustFail({{"cron", "0 61 * * * *"}})),
            (json{{"error",
                   {{"code", "invalid_field"},
                    {"message", "minute: 61 is out of range 0-59"},
                    {"field", "cron"}}}}));
  EXPECT_EQ(MustFail({{"cron", "* * * * *"}, {"timezone", "Mars/Base"}}),
            (ApiError{"invalid_field", "unknown time zone \"Mars/Base\"", "timezone"}));
  EXPECT_EQ(
      MustFail({{"cron", "* * * * *"}, {"dst_gap", "never"}}),
      (ApiError{"invalid_field", "must be one of auto, shift, skip, got \"never\"", "dst_gap"}));
  EXPECT_EQ(MustFail({{"cron", "* * * * *"}, {"dst_overlap", "twice"}}).field, "dst_overlap");

  ApiError missing = MustFail({});
  EXPECT_EQ(missing.code, "invalid_parameter");
  EXPECT_EQ(missing.field, "cron");
  for (const char* count : {"0", "1001", "abc", "-1", ""}) {
    SCOPED_TRACE(count);
    EXPECT_EQ(MustFail({{"cron", "* * * * *"}, {"count", count}}),
              (ApiError{"invalid_parameter",
                        "must be an integer from 1 to 1000, got \"" + std::string(count) + "\"",
                        "count"}));
  }
  ApiError from = MustFail({{"cron", "* * * * *"}, {"from", "yesterday"}});
  EXPECT_EQ(from.code, "invalid_parameter");
  EXPECT_EQ(from.field, "from");
  ApiError unknown = MustFail({{"cron", "* * * * *"}, {"tz", "UTC"}});
  EXPECT_EQ(unknown.code, "invalid_parameter");
  EXPECT_EQ(unknown.field, "tz");
  EXPECT_EQ(HttpStatusOf(unknown.code), 400);
}

}  // namespace
}  // namespace jobsched::api
