// Unit tests of the GET routes' parameters (request_params.h), their
// cursors (cursor.h) and the views of executions, stats and logs (job_view.h).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "events/envelope.h"
#include "events/fold.h"
#include "events/ids.h"
#include "services/api/cursor.h"
#include "services/api/job_view.h"
#include "services/api/request_params.h"

namespace jobsched::api {

void PrintTo(const ApiError& e, std::ostream* os) { *os << ErrorBody(e).dump(); }

namespace {

using nlohmann::json;

template <typename T>
T Must(const std::variant<T, ApiError>& r) {
  if (auto* e = std::get_if<ApiError>(&r)) {
    ADD_FAILURE() << e->field << ": " << e->message;
    return {};
  }
  return std::get<T>(r);
}

template <typename T>
ApiError Fails(const std::variant<T, ApiError>& r) {
  if (auto* e = std::get_if<ApiError>(&r)) return *e;
  ADD_FAILURE() << "accepted";
  return {};
}

TEST(ExecutionsQuery, LimitAndCursor) {
  ExecutionsQuery d = Must(ParseExecutionsQuery({}));
  EXPECT_EQ(d.limit, 5);
  EXPECT_FALSE(d.cursor);
  ExecutionCursor c{"2026-03-01T12:00:00.123456Z", 3, "0b6a3c1e-9f0d-4c7a-8b5e-1d2c3b4a5f60"};
  ExecutionsQuery q =
      Must(ParseExecutionsQuery({{"limit", "100"}, {"cursor", EncodeExecutionCursor(c)}}));
  EXPECT_EQ(q.limit, 100);
  EXPECT_EQ(q.cursor, c);
  EXPECT_EQ(
      Fails(ParseExecutionsQuery({{"limit", "101"}})),
      (ApiError{"invalid_parameter", "must be an integer from 1 to 100, got \"101\"", "limit"}));
  EXPECT_EQ(Fails(ParseExecutionsQuery({{"cursor", "bogus"}})).field, "cursor");
  // A jobs-list cursor is not an executions cursor.
  EXPECT_EQ(Fails(ParseExecutionsQuery(
                      {{"cursor", EncodeCursor({"2026-03-01T12:00:00.123456Z", c.run_id})}}))
                .field,
            "cursor");
  EXPECT_EQ(Fails(ParseExecutionsQuery({{"page", "2"}})).field, "page");
}

TEST(LogsQuery, LevelIsAMinimum) {
  EXPECT_TRUE(Must(ParseLogsQuery({})).levels.empty());
  EXPECT_EQ(Must(ParseLogsQuery({{"level", "info"}})).levels,
            (std::vector<std::string>{"info", "warn", "error"}));
  EXPECT_EQ(Must(ParseLogsQuery({{"level", "warn"}})).levels,
            (std::vector<std::string>{"warn", "error"}));
  EXPECT_EQ(Must(ParseLogsQuery({{"level", "error"}})).levels, (std::vector<std::string>{"error"}));
  EXPECT_EQ(Fails(ParseLogsQuery({{"level", "debug"}})),
            (ApiError{"invalid_parameter",
                      "must be one of info, warn, error (the lowest level shown), got \"debug\"",
                      "level"}));
}

TEST(LogsQuery, TimesTypesLimitAndCursor) {
  LogsQuery q = Must(ParseLogsQuery({{"since", "2026-03-01T12:00:00Z"},
                                     {"until", "2026-03-01T14:00:00+01:00"},
                                     {"event_type", "FireSkipped"},
                                     {"limit", "500"},
                                     {"cursor", EncodeLogCursor(42)}}));
  EXPECT_EQ(FormatRfc3339(*q.since), "2026-03-01T12:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(*q.until), "2026-03-01T13:00:00.000Z");
  EXPECT_EQ(q.event_type, "FireSkipped");
  EXPECT_EQ(q.limit, 500);
  EXPECT_EQ(q.before_offset, 42);
  EXPECT_EQ(Must(ParseLogsQuery({})).limit, 100);
  EXPECT_EQ(Fails(ParseLogsQuery({{"limit", "501"}})).field, "limit");
  EXPECT_EQ(Fails(ParseLogsQuery({{"since", "yesterday"}})).field, "since");
  EXPECT_EQ(
      Fails(ParseLogsQuery({{"since", "2026-03-01T12:00:00Z"}, {"until", "2026-03-01T12:00:00Z"}})),
      (ApiError{"invalid_parameter", "must be after since (2026-03-01T12:00:00.000Z)", "until"}));
  ApiError type = Fails(ParseLogsQuery({{"event_type", "RunDueX"}}));
  EXPECT_EQ(type.field, "event_type");
  EXPECT_NE(type.message.find("JobSubmitted, CancelRequested, RunDue,"), std::string::npos)
      << type.message;
  EXPECT_EQ(Fails(ParseLogsQuery({{"cursor", EncodeExecutionCursor(
                                                 {"2026-03-01T12:00:00.123456Z", 1, RandomId()})}}))
                .field,
            "cursor");
}

TEST(LogsQuery, AnUnencodedPlusIsReadAsPlus) {
  LogsQuery q = Must(ParseLogsQuery({{"until", "2026-03-01T13:00:00 01:00"}}));
  EXPECT_EQ(FormatRfc3339(*q.until), "2026-03-01T12:00:00.000Z");
}

TEST(WhyQuery, AtIsRequired) {
  EXPECT_EQ(FormatRfc3339(Must(ParseWhyQuery({{"at", "2026-03-08T07:00:00.5Z"}}))),
            "2026-03-08T07:00:00.500Z");
  EXPECT_EQ(Fails(ParseWhyQuery({})),
            (ApiError{"invalid_parameter",
                      "is required: the instant to explain, e.g. at=2026-03-08T07:00:00Z", "at"}));
  EXPECT_EQ(Fails(ParseWhyQuery({{"at", "now"}})).field, "at");
  EXPECT_EQ(Fails(ParseWhyQuery({{"at", "2026-03-08T07:00:00Z"}, {"x", "1"}})).field, "x");
}

TEST(KnownEventTypes, EveryEventOfTheSchema) {
  const auto& types = KnownEventTypes();
  EXPECT_EQ(types.size(), 33u);
  EXPECT_EQ(types.front(), "JobSubmitted");
  EXPECT_EQ(types.back(), "WorkflowStarted");
  for (const auto& t : types) EXPECT_FALSE(t.empty());
}

TEST(Cursors, RoundTripAndRejectForgeries) {
  ExecutionCursor c{"2026-03-01T12:00:00.123456Z", 12, "0b6a3c1e-9f0d-4c7a-8b5e-1d2c3b4a5f60"};
  EXPECT_EQ(DecodeExecutionCursor(EncodeExecutionCursor(c)), c);
  EXPECT_FALSE(DecodeExecutionCursor(Base64UrlEncode("x|2026-03-01T12:00:00Z|1|" + c.run_id)));
  EXPECT_FALSE(DecodeExecutionCursor(Base64UrlEncode("x|" + c.due_at + "|0|" + c.run_id)));
  EXPECT_FALSE(DecodeExecutionCursor(Base64UrlEncode("x|" + c.due_at + "|01|" + c.run_id)));
  EXPECT_FALSE(DecodeExecutionCursor(Base64UrlEncode("x|" + c.due_at + "|1|nope")));
  EXPECT_EQ(DecodeLogCursor(EncodeLogCursor(0)), 0);
  EXPECT_EQ(DecodeLogCursor(EncodeLogCursor(123456789012)), 123456789012);
  EXPECT_FALSE(DecodeLogCursor(Base64UrlEncode("log|-1")));
  EXPECT_FALSE(DecodeLogCursor(Base64UrlEncode("log|")));
  EXPECT_FALSE(DecodeLogCursor(Base64UrlEncode("log|1x")));
  EXPECT_FALSE(DecodeLogCursor("!!"));
}

// ---------------------------------------------------------------------------

TEST(RenderExecution, RecurringFields) {
  ExecutionRow row;
  row.run_id = "r";
  row.fire_id = "f";
  row.attempt = 1;
  row.kind = "manual";
  row.nominal_time = "";
  row.status = "SUCCEEDED";
  row.scheduled_for = *ParseRfc3339("2026-03-01T12:00:00Z");
  row.started_at = *ParseRfc3339("2026-03-01T12:00:00.250Z");
  row.drift_ms = 250;
  json v = RenderExecution(row);
  EXPECT_EQ(v["fire_id"], "f");
  EXPECT_EQ(v["kind"], "manual");
  EXPECT_EQ(v["nominal_time"], nullptr);
  EXPECT_EQ(v["drift_ms"], 250);
  EXPECT_EQ(v["lease_epoch"], nullptr);
  EXPECT_EQ(v["releases"], 0);
  EXPECT_EQ(v.size(), 19u);
  for (const char* key : {"run_id", "fire_id", "attempt", "kind", "nominal_time", "scheduled_for",
                          "started_at", "finished_at", "status", "http_status", "duration_ms",
                          "drift_ms", "error", "executor_id", "lease_epoch", "releases",
                          "permanent", "retry_after_ms", "queue_reason"}) {
    EXPECT_TRUE(v.contains(key)) << key;
  }
  row.nominal_time = "2026-03-01T13:00:00";
  EXPECT_EQ(RenderExecution(row)["nominal_time"], "2026-03-01T13:00:00");
  row.status = "CANCELED";
  EXPECT_EQ(RenderExecution(row)["status"], "CANCELED");
}

TEST(RenderStats, CountsFromTheSummaryPercentilesFromTheWindow) {
  v1::JobState state;
  state.set_job_id("j");
  v1::RunSummary* sum = state.mutable_summary();
  sum->set_fires(10);
  sum->set_manual_fires(2);
  sum->set_succeeded(6);
  sum->set_failed(2);
  sum->set_canceled(1);
  sum->set_skipped(4);
  StatsWindow w;
  w.attempts = 9;
  w.duration_ms = {120, 900, 950};
  w.drift_ms = {3, 40, 41};
  EXPECT_EQ(RenderStats(state, w),
            (json{{"job_id", "j"},
                  {"runs", 9},
                  {"succeeded", 6},
                  {"failed", 2},
                  {"canceled", 1},
                  {"skipped", 4},
                  {"success_rate", 0.75},
                  {"duration_ms", {{"p50", 120}, {"p99", 900}, {"max", 950}}},
                  {"drift_ms", {{"p50", 3}, {"p99", 40}, {"max", 41}}},
                  {"window", 9}}));
  v1::JobState fresh;
  fresh.set_job_id("k");
  json empty = RenderStats(fresh, {});
  EXPECT_EQ(empty["runs"], 0);
  EXPECT_EQ(empty["success_rate"], nullptr);
  EXPECT_EQ(empty["duration_ms"], (json{{"p50", nullptr}, {"p99", nullptr}, {"max", nullptr}}));
  EXPECT_EQ(empty["window"], 0);
}

TEST(RenderLog, Shape) {
  LogRow row;
  row.offset = 17;
  row.ts = *ParseRfc3339("2026-03-01T12:00:00.5Z");
  row.level = "warn";
  row.event_type = "FireSkipped";
  row.outcome = "applied";
  row.message = "skipped 1 fire at 2026-03-01T12:00:00: overlap";
  row.event_id = "e";
  EXPECT_EQ(RenderLog(row), (json{{"ts", "2026-03-01T12:00:00.500Z"},
                                  {"level", "warn"},
                                  {"event_type", "FireSkipped"},
                                  {"outcome", "applied"},
                                  {"message", "skipped 1 fire at 2026-03-01T12:00:00: overlap"},
                                  {"event_id", "e"},
                                  {"run_id", nullptr},
                                  {"offset", 17}}));
}

}  // namespace
}  // namespace jobsched::api
