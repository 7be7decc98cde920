// jobctl's REST commands without a server: arguments -> the request sent,
// and the API's answers -> the lines printed.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "services/jobctl/rest_requests.h"

namespace jobsched::jobctl {
namespace {

using nlohmann::json;

TEST(JobctlSubmitTest, FlagsBecomeTheJobsFields) {
  SubmitArgs args;
  args.name = "nightly report";
  args.type = "echo";
  args.cron = "0 30 2 * * MON-FRI";
  args.timezone = "America/New_York";
  args.payload = R"({"report": "daily"})";
  args.priority = 8;
  args.max_retries = 0;
  args.timeout_seconds = 60;
  args.pool = "gpu";
  args.depends_on = {"a", "b"};
  args.idempotency_key = "report-1";
  Result<ApiRequest> r = SubmitRequest(args);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->target, "/api/v1/jobs");
  EXPECT_EQ(r->headers, (std::vector<std::string>{"Idempotency-Key: report-1"}));
  EXPECT_EQ(json::parse(r->body), (json{{"name", "nightly report"},
                                        {"type", "echo"},
                                        {"schedule", "0 30 2 * * MON-FRI"},
                                        {"timezone", "America/New_York"},
                                        {"payload", {{"report", "daily"}}},
                                        {"priority", 8},
                                        {"max_retries", 0},
                                        {"timeout_seconds", 60},
                                        {"pool", "gpu"},
                                        {"depends_on", {"a", "b"}}}));
}

TEST(JobctlSubmitTest, FlagsOverrideTheDocument) {
  SubmitArgs args;
  args.document = R"({"name": "from file", "type": "http", "http": {"method": "PUT"},
                      "priority": 2, "run_at": "2030-01-01T00:00:00Z"})";
  args.priority = 9;
  args.url = "https://example.test/hook";
  args.run_at = "2031-01-01T00:00:00Z";
  Result<ApiRequest> r = SubmitRequest(args);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->headers.empty());
  EXPECT_EQ(json::parse(r->body),
            (json{{"name", "from file"},
                  {"type", "http"},
                  {"http", {{"method", "PUT"}, {"url", "https://example.test/hook"}}},
                  {"priority", 9},
                  {"run_at", "2031-01-01T00:00:00Z"}}));
}

TEST(JobctlSubmitTest, RejectsWhatIsNotAJob) {
  SubmitArgs nothing;
  EXPECT_EQ(SubmitRequest(nothing).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(SubmitRequest(nothing).status().message().find("-f FILE"), std::string::npos);
  SubmitArgs bad_json;
  bad_json.document = "{\"name\": ";
  EXPECT_EQ(SubmitRequest(bad_json).status().message(), "the job document (-f) is not valid JSON");
  SubmitArgs array;
  array.document = "[1]";
  EXPECT_EQ(SubmitRequest(array).status().message(), "the job document (-f) must be a JSON object");
  SubmitArgs payload;
  payload.type = "echo";
  payload.payload = "ms=5";
  EXPECT_EQ(SubmitRequest(payload).status().code(), ErrorCode::kInvalidArgument);
}

TEST(JobctlRequestsTest, PathsAndQueries) {
  EXPECT_EQ(GetRequest("7c0f"), (ApiRequest{"GET", "/api/v1/jobs/7c0f", "", {}}));
  // Whatever the user typed stays inside its path segment.
  EXPECT_EQ(GetRequest("../health").target, "/api/v1/jobs/..%2Fhealth");
  EXPECT_EQ(ListRequest({}).target, "/api/v1/jobs");
  EXPECT_EQ(ListRequest({.status = "DEAD", .limit = 20, .cursor = "eHw="}).target,
            "/api/v1/jobs?status=DEAD&limit=20&cursor=eHw%3D");
  EXPECT_EQ(CancelRequest("j", false), (ApiRequest{"POST", "/api/v1/jobs/j/cancel", "", {}}));
  EXPECT_EQ(CancelRequest("j", true).target, "/api/v1/jobs/j/cancel?cascade=true");
  EXPECT_EQ(CommandRequest("j", "pause", ""), (ApiRequest{"POST", "/api/v1/jobs/j/pause", "", {}}));
  EXPECT_EQ(CommandRequest("j", "run", "rerun-42"),
            (ApiRequest{"POST", "/api/v1/jobs/j/run", "", {"Idempotency-Key: rerun-42"}}));
  LogsArgs logs;
  logs.level = "warn";
  logs.since = "2026-03-01T00:00:00+01:00";
  logs.limit = 5;
  EXPECT_EQ(LogsRequest("j", logs).target,
            "/api/v1/jobs/j/logs?level=warn&since=2026-03-01T00%3A00%3A00%2B01%3A00&limit=5");
  PreviewArgs preview;
  preview.cron = "0 30 2 * * *";
  preview.timezone = "America/New_York";
  preview.count = 3;
  EXPECT_EQ(PreviewRequest(preview).target,
            "/api/v1/schedules/preview?cron=0%2030%202%20%2A%20%2A%20%2A"
            "&timezone=America%2FNew_York&count=3");
}

TEST(JobctlRequestsTest, ErrorMessageIsTheApisMessage) {
  EXPECT_EQ(ErrorMessage(400, R"({"error":{"code":"invalid_field","field":"schedule",)"
                              R"("message":"minute: 61 is out of range 0-59"}})"),
            "minute: 61 is out of range 0-59 (field schedule)");
  EXPECT_EQ(ErrorMessage(404, R"({"error":{"code":"job_not_found","message":"no job with id x"}})"),
            "no job with id x");
  EXPECT_EQ(ErrorMessage(502, "<html>bad gateway</html>"),
            "the API answered HTTP 502: <html>bad gateway</html>");
  EXPECT_EQ(ErrorMessage(500, ""), "the API answered HTTP 500 without a body");
}

TEST(JobctlFormatTest, OneOffJob) {
  json job = {{"job_id", "7c0f"},
              {"name", "notify"},
              {"type", "http"},
              {"status", "QUEUED"},
              {"priority", 8},
              {"attempts", 1},
              {"max_retries", 3},
              {"pool", "default"},
              {"recurring", false},
              {"queue_reason", "no live executor"},
              {"http", {{"url", "https://b/h"}, {"method", "POST"}}},
              {"run_at", nullptr},
              {"last_error", nullptr},
              {"cancel_requested", true},
              {"depends_on", json::array()},
              {"created_at", "2026-03-01T12:00:00.000Z"}};
  EXPECT_EQ(FormatJob(job),
            "job_id        7c0f\n"
            "name          notify\n"
            "type          http POST https://b/h\n"
            "status        QUEUED\n"
            "queue_reason  no live executor\n"
            "priority      8\n"
            "attempts      1 (max_retries 3)\n"
            "pool          default\n"
            "cancel        requested\n"
            "created_at    2026-03-01T12:00:00.000Z\n");
}

TEST(JobctlFormatTest, RecurringJob) {
  json job = {{"job_id", "d47f"},
              {"name", "tick"},
              {"type", "echo"},
              {"status", "ACTIVE"},
              {"priority", 5},
              {"attempts", 0},
              {"max_retries", 3},
              {"schedule", {{"cron", "*/30 * * * * *"}, {"timezone", "UTC"}}},
              {"next_fire_at", "2026-11-28T08:35:00.000Z"},
              {"counts", {{"fires", 2}, {"skipped", 1}}}};
  EXPECT_EQ(FormatJob(job),
            "job_id        d47f\n"
            "name          tick\n"
            "type          echo\n"
            "status        ACTIVE\n"
            "schedule      */30 * * * * * (UTC)\n"
            "next_fire_at  2026-11-28T08:35:00.000Z\n"
            "counts        fires 2, skipped 1\n"
            "priority      5\n"
            "attempts      0 (max_retries 3)\n");
}

TEST(JobctlFormatTest, ListsLogsAndPreviews) {
  json page = {{"jobs",
                {{{"job_id", "3f1e0000-0000-4000-8000-000000000000"},
                  {"status", "DEAD"},
                  {"priority", 5},
                  {"type", "fail"},
                  {"created_at", "2026-03-01T12:00:00.000Z"},
                  {"name", "always fails"}}}},
               {"next_cursor", "eHwy"}};
  EXPECT_EQ(FormatJobList(page),
            "JOB_ID                               STATUS     PRI TYPE     CREATED_AT"
            "               NAME\n"
            "3f1e0000-0000-4000-8000-000000000000 DEAD       5   fail     "
            "2026-03-01T12:00:00.000Z always fails\n"
            "more: --cursor eHwy\n");
  EXPECT_EQ(FormatJobList({{"jobs", json::array()}, {"next_cursor", nullptr}}), "no jobs\n");

  json logs = {{"logs",
                {{{"ts", "2026-11-28T08:35:55.000Z"},
                  {"level", "warn"},
                  {"event_type", "FireSkipped"},
                  {"outcome", "applied"},
                  {"message", "skipped 1 fire"}},
                 {{"ts", "2026-11-28T08:35:50.000Z"},
                  {"level", "info"},
                  {"event_type", "RunSucceeded"},
                  {"outcome", "rejected"},
                  {"message", "late result"}}}},
               {"next_cursor", nullptr}};
  EXPECT_EQ(FormatLogs(logs),
            "2026-11-28T08:35:55.000Z warn  FireSkipped      skipped 1 fire\n"
            "2026-11-28T08:35:50.000Z info  RunSucceeded     late result [rejected]\n");

  json fires = {{"fires",
                 {{{"at", "2026-03-07T07:30:00Z"}, {"local", "2026-03-07T02:30:00-05:00"}},
                  {{"at", "2026-03-08T07:00:00Z"}, {"local", "2026-03-08T03:00:00-04:00"}}}}};
  EXPECT_EQ(FormatPreview(fires),
            "2026-03-07T07:30:00Z  2026-03-07T02:30:00-05:00\n"
            "2026-03-08T07:00:00Z  2026-03-08T03:00:00-04:00\n");
}

TEST(JobctlFormatTest, CommandAnswers) {
  EXPECT_EQ(FormatCancel({{"job_id", "j"}, {"status", "RUNNING"}, {"cancel_requested", true}}),
            "j cancel requested (status RUNNING)\n");
  EXPECT_EQ(FormatCancel({{"job_id", "j"}, {"status", "RUNNING"}, {"canceled_descendants", 2}}),
            "j cancel requested (status RUNNING), 2 descendants canceled\n");
  EXPECT_EQ(FormatCommand({{"job_id", "j"}, {"status", "PAUSED"}}), "j PAUSED\n");
  EXPECT_EQ(FormatRun({{"job_id", "j"}, {"run_id", "r"}, {"fire_id", "f"}}), "j run r (fire f)\n");
}

}  // namespace
}  // namespace jobsched::jobctl
