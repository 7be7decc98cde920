// End to end: every service as a separate process against the dev broker and
// a throwaway PostgreSQL; requests over HTTP; results read back through the
// API (i.e. from the PostgreSQL projections).
#include <gtest/gtest.h>

#include <set>

#include "events/time.h"
#include "tests/e2e/local_system.h"
#include "tests/support/test_http_server.h"
#include "tests/support/wait.h"

namespace jobsched::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class EndToEndTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { system_ = new LocalSystem(); }
  static void TearDownTestSuite() {
    delete system_;
    system_ = nullptr;
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << system_->LogTails();
  }

  // Submits and returns the job id (asserting 201).
  std::string Submit(const json& spec) {
    ApiReply r = system_->Api("POST", "/api/v1/jobs", spec);
    EXPECT_EQ(r.status, 201) << r.body.dump();
    return r.body.value("job_id", "");
  }

  json Executions(const std::string& job_id, int limit = 10) {
    ApiReply r = system_->Api("GET", "/api/v1/jobs/" + job_id + "/executions?limit=" +
                                         std::to_string(limit));
    EXPECT_EQ(r.status, 200) << r.body.dump();
    return r.body["executions"];
  }

  static LocalSystem* system_;
};

LocalSystem* EndToEndTest::system_ = nullptr;

TEST_F(EndToEndTest, HttpJobSucceedsWithTheTargetsStatus) {
  TestHttpServer target([](const TestHttpServer::Request&) {
    return TestHttpServer::Reply{202, "accepted by target", {}};
  });
  std::string id = Submit({{"name", "call target"},
                           {"type", "http"},
                           {"http", {{"url", target.url("/hook")}, {"body", "{\"x\":1}"},
                                     {"headers", {{"X-Custom", "yes"}}}}}});
  ASSERT_FALSE(id.empty());
  json job = AwaitJobStatus(*system_, id, "SUCCEEDED", seconds(60));
  ASSERT_EQ(job.value("status", ""), "SUCCEEDED") << job.dump();
  EXPECT_EQ(job.value("attempts", 0), 1);

  json runs = Executions(id);
  ASSERT_EQ(runs.size(), 1u) << runs.dump();
  EXPECT_EQ(runs[0]["status"], "SUCCEEDED");
  EXPECT_EQ(runs[0]["http_status"], 202);
  EXPECT_EQ(runs[0]["attempt"], 1);
  EXPECT_FALSE(runs[0]["started_at"].is_null());
  EXPECT_FALSE(runs[0]["finished_at"].is_null());
  EXPECT_GE(runs[0].value("duration_ms", -1), 0);

  auto requests = target.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].path, "/hook");
  EXPECT_EQ(requests[0].body, "{\"x\":1}");
  EXPECT_EQ(requests[0].headers["x-custom"], "yes");
  EXPECT_EQ(requests[0].headers["idempotency-key"], runs[0]["run_id"].get<std::string>());
}

TEST_F(EndToEndTest, FailingTargetIsRetriedWithBackoffThenDead) {
  TestHttpServer target([](const TestHttpServer::Request&) {
    return TestHttpServer::Reply{500, "boom", {}};
  });
  const int max_retries = 2;
  const int delay_ms = 300;
  std::string id = Submit({{"name", "always 500"},
                           {"type", "http"},
                           {"http", {{"url", target.url("/fail")}, {"method", "PUT"}}},
                           {"max_retries", max_retries},
                           {"retry_policy", {{"strategy", "fixed"}, {"base_delay_ms", delay_ms}}}});
  json job = AwaitJobStatus(*system_, id, "DEAD", seconds(60));
  ASSERT_EQ(job.value("status", ""), "DEAD") << job.dump();
  EXPECT_EQ(job.value("attempts", 0), max_retries + 1);

  json runs = Executions(id);
  ASSERT_EQ(runs.size(), static_cast<size_t>(max_retries + 1)) << runs.dump();
  std::set<std::string> run_ids;
  for (size_t i = 0; i < runs.size(); ++i) {
    EXPECT_EQ(runs[i]["status"], "FAILED");
    EXPECT_EQ(runs[i]["http_status"], 500);
    EXPECT_EQ(runs[i]["attempt"], max_retries + 1 - static_cast<int>(i)) << "newest first";
    run_ids.insert(runs[i]["run_id"].get<std::string>());
  }
  EXPECT_EQ(run_ids.size(), runs.size()) << "each attempt is its own run";
  // The backoff is honoured: no attempt starts before the previous one ended + delay.
  for (size_t i = 0; i + 1 < runs.size(); ++i) {
    auto started = ParseRfc3339(runs[i]["started_at"].get<std::string>());
    auto prev_finished = ParseRfc3339(runs[i + 1]["finished_at"].get<std::string>());
    ASSERT_TRUE(started && prev_finished);
    EXPECT_GE((*started - *prev_finished).count(), delay_ms) << runs.dump();
  }
  EXPECT_EQ(target.request_count(), static_cast<size_t>(max_retries + 1));
  std::set<std::string> keys;
  for (const auto& r : target.requests()) {
    EXPECT_EQ(r.method, "PUT");
    keys.insert(r.headers.at("idempotency-key"));
  }
  EXPECT_EQ(keys, run_ids);
}

TEST_F(EndToEndTest, CancelBeforeRunAtNeverRuns) {
  TestHttpServer target;
  auto run_at = [](int seconds_ahead) {
    return FormatRfc3339(SystemClock::Instance().Now() + std::chrono::seconds(seconds_ahead));
  };
  std::string canceled = Submit({{"name", "to cancel"},
                                 {"type", "http"},
                                 {"http", {{"url", target.url("/canceled")}}},
                                 {"run_at", run_at(2)}});
  ASSERT_FALSE(canceled.empty());
  json before = AwaitJobStatus(*system_, canceled, "SCHEDULED", seconds(30));
  ASSERT_EQ(before.value("status", ""), "SCHEDULED") << before.dump();

  ApiReply cancel = system_->Api("POST", "/api/v1/jobs/" + canceled + "/cancel");
  EXPECT_EQ(cancel.status, 202) << cancel.body.dump();
  json job = AwaitJobStatus(*system_, canceled, "CANCELED", seconds(30));
  ASSERT_EQ(job.value("status", ""), "CANCELED") << job.dump();

  // A witness due after the canceled job's run_at: once it has run, the
  // canceled job's time has passed too, and it must not have run.
  std::string witness = Submit({{"name", "witness"},
                                {"type", "http"},
                                {"http", {{"url", target.url("/witness")}}},
                                {"run_at", run_at(3)}});
  json w = AwaitJobStatus(*system_, witness, "SUCCEEDED", seconds(60));
  ASSERT_EQ(w.value("status", ""), "SUCCEEDED") << w.dump();
  auto requests = target.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/witness");
  EXPECT_TRUE(Executions(canceled).empty());

  // Canceling a terminal job is a conflict that names the status.
  ApiReply again = system_->Api("POST", "/api/v1/jobs/" + canceled + "/cancel");
  EXPECT_EQ(again.status, 409) << again.body.dump();
  EXPECT_NE(again.body.dump().find("CANCELED"), std::string::npos) << again.body.dump();
}

TEST_F(EndToEndTest, BuiltInHandlers) {
  std::string echo = Submit({{"name", "echo"}, {"type", "echo"}, {"payload", {{"hello", "world"}}}});
  std::string fail = Submit({{"name", "fail"}, {"type", "fail"}, {"max_retries", 0}});
  std::string sleep = Submit({{"name", "sleep"}, {"type", "sleep"}, {"payload", {{"ms", 50}}}});
  EXPECT_EQ(AwaitJobStatus(*system_, echo, "SUCCEEDED", seconds(60)).value("status", ""), "SUCCEEDED");
  EXPECT_EQ(AwaitJobStatus(*system_, fail, "DEAD", seconds(60)).value("status", ""), "DEAD");
  EXPECT_EQ(AwaitJobStatus(*system_, sleep, "SUCCEEDED", seconds(60)).value("status", ""), "SUCCEEDED");
  json runs = Executions(sleep);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_GE(runs[0].value("duration_ms", 0), 50);
}

TEST_F(EndToEndTest, BadInputIsAClearErrorAndNeverAJob) {
  ApiReply r = system_->Api("POST", "/api/v1/jobs", {{"name", "x"}, {"type", "teleport"}});
  EXPECT_EQ(r.status, 400);
  ASSERT_TRUE(r.body.contains("error")) << r.body.dump();
  EXPECT_EQ(r.body["error"]["field"], "type");
  EXPECT_FALSE(r.body["error"].value("message", "").empty());
  ApiReply missing = system_->Api("GET", "/api/v1/jobs/00000000-0000-4000-8000-000000000000");
  EXPECT_EQ(missing.status, 404);
  EXPECT_TRUE(missing.body.contains("error"));
}

// A crash of the scheduler, dispatcher and executor (SIGKILL) loses no
// accepted job and repeats no completed one.
TEST_F(EndToEndTest, CrashOfEveryWorkerLosesNoJob) {
  const int n = 30;
  std::vector<std::string> ids;
  for (int i = 0; i < n / 2; ++i) {
    ids.push_back(Submit({{"name", "before crash " + std::to_string(i)}, {"type", "echo"}}));
  }
  system_->Kill("scheduler");
  system_->Kill("dispatcher");
  system_->Kill("executor");
  // Accepted while every worker is down: Kafka holds them.
  for (int i = n / 2; i < n; ++i) {
    ids.push_back(Submit({{"name", "during crash " + std::to_string(i)}, {"type", "echo"}}));
  }
  system_->Start("scheduler");
  system_->Start("dispatcher");
  system_->Start("executor");
  for (const auto& id : ids) {
    json job = AwaitJobStatus(*system_, id, "SUCCEEDED", seconds(90));
    ASSERT_EQ(job.value("status", ""), "SUCCEEDED") << job.dump();
    EXPECT_EQ(job.value("attempts", 0), 1) << "a crash must not count as a failed attempt";
    EXPECT_EQ(Executions(id).size(), 1u);
  }
}

}  // namespace
}  // namespace jobsched::testing
