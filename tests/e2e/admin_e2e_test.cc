// Every service's admin port as an operator meets it: the real binaries on
// the dev broker and a throwaway PostgreSQL, each with JOBSCHED_ADMIN_PORT=0
// and a port file. /ready turns 200, a job runs, /health is JSON, /metrics and
// GET /api/v1/metrics pass `promtool check metrics`, and SIGTERM ends every
// service with exit code 0. Also: a malformed setting ends a service with
// exit code 2 and a message naming the variable.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tests/e2e/local_system.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/promtool.h"
#include "tests/support/wait.h"

namespace jobsched::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

std::string AdminUrl(int port, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(port) + path;
}

// GET that never throws: status 0 when nothing answers.
HttpResponse Get(const std::string& url) {
  try {
    return HttpRequest("GET", url, "", {}, 5000);
  } catch (const std::exception& e) {
    HttpResponse r;
    r.body = e.what();
    return r;
  }
}

bool HasFamily(const std::string& text, const std::string& name) {
  return text.find("# TYPE " + name + " ") != std::string::npos;
}

// What each service's /metrics must hold beyond jobsched_service_info.
const std::map<std::string, std::vector<std::string>>& ExpectedFamilies() {
  static const std::map<std::string, std::vector<std::string>> kFamilies = {
      {"api",
       {"jobsched_service_start_time_seconds", "jobsched_api_requests_total",
        "jobsched_api_request_duration_seconds", "jobsched_api_jobs_submitted_total"}},
      {"projector",
       {"jobsched_service_start_time_seconds", "jobsched_projection_lag_records",
        "jobsched_projector_events_total", "jobsched_kafka_consumer_lag"}},
      {"scheduler",
       {"jobsched_service_start_time_seconds", "jobsched_scheduler_events_appended_total",
        "jobsched_kafka_consumer_lag"}},
      {"dispatcher",
       {"jobsched_service_start_time_seconds", "jobsched_dispatcher_events_appended_total",
        "jobsched_kafka_consumer_lag"}},
      {"executor",
       {"jobsched_service_start_time_seconds", "jobsched_runs_total",
        "jobsched_run_duration_seconds", "jobsched_schedule_drift_seconds",
        "jobsched_executor_slots"}},
  };
  return kFamilies;
}

TEST(AdminE2eTest, EveryServiceIsReadyHealthyScrapableAndStopsCleanly) {
  LocalSystem system;
  const std::vector<std::string> names = system.Processes();
  ASSERT_EQ(names.size(), 5u);

  std::map<std::string, int> ports;
  for (const std::string& name : names) ports[name] = system.AdminPort(name);

  for (const std::string& name : names) {
    HttpResponse last;
    bool ready = WaitFor(
        [&] {
          last = Get(AdminUrl(ports[name], "/ready"));
          return last.status == 200;
        },
        seconds(60), std::chrono::milliseconds(100));
    ASSERT_TRUE(ready) << name << " /ready: " << last.status << " " << last.body << "\n"
                       << system.LogTails();
    json body = json::parse(last.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << name << ": " << last.body;
    EXPECT_EQ(body.value("ready", false), true) << name << ": " << last.body;
    EXPECT_TRUE(body.contains("checks")) << name << ": " << last.body;
  }

  ApiReply submitted =
      system.Api("POST", "/api/v1/jobs",
                 {{"name", "admin-e2e"}, {"type", "echo"}, {"payload", {{"hello", "admin"}}}});
  ASSERT_EQ(submitted.status, 201) << submitted.body.dump();
  const std::string job_id = submitted.body.value("job_id", submitted.body.value("id", ""));
  ASSERT_FALSE(job_id.empty()) << submitted.body.dump();
  json job = AwaitJobStatus(system, job_id, "SUCCEEDED", seconds(60));
  ASSERT_EQ(job.value("status", ""), "SUCCEEDED") << job.dump() << "\n" << system.LogTails();

  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    HttpResponse health = Get(AdminUrl(ports[name], "/health"));
    EXPECT_EQ(health.status, 200) << health.body;
    json h = json::parse(health.body, nullptr, false);
    ASSERT_TRUE(h.is_object()) << health.body;
    EXPECT_TRUE(h.contains("status") && h["status"].is_string()) << health.body;
    EXPECT_EQ(h.value("service", ""), name) << health.body;

    // Some families are refreshed once a second (lag gauges) or appear with
    // their first observation: await them all in one scrape.
    HttpResponse metrics;
    auto has_all = [&] {
      metrics = Get(AdminUrl(ports[name], "/metrics"));
      if (metrics.status != 200) return false;
      for (const std::string& family : ExpectedFamilies().at(name)) {
        if (!HasFamily(metrics.body, family)) return false;
      }
      return true;
    };
    const bool complete = WaitFor(has_all, seconds(15), std::chrono::milliseconds(100));
    ASSERT_EQ(metrics.status, 200) << metrics.body;
    EXPECT_NE(metrics.body.find("jobsched_service_info{"), std::string::npos) << metrics.body;
    EXPECT_NE(metrics.body.find("service=\"" + name + "\""), std::string::npos) << metrics.body;
    for (const std::string& family : ExpectedFamilies().at(name)) {
      EXPECT_TRUE(HasFamily(metrics.body, family)) << family << " missing:\n" << metrics.body;
    }
    EXPECT_TRUE(complete);
    ASSERT_TRUE(HavePromtool()) << "promtool missing: run infra/install-deps.sh";
    PromtoolResult lint = PromtoolCheckMetrics(metrics.body);
    EXPECT_EQ(lint.exit_code, 0) << lint.output << "\n" << metrics.body;
  }

  // The system's view, served by the API on its main port.
  HttpResponse system_metrics = Get(system.ApiUrl("/api/v1/metrics"));
  ASSERT_EQ(system_metrics.status, 200) << system_metrics.body;
  EXPECT_NE(system_metrics.headers["content-type"].find("text/plain"), std::string::npos)
      << system_metrics.headers["content-type"];
  const std::string& text = system_metrics.body;
  EXPECT_NE(text.find("jobsched_system_jobs{status=\"SUCCEEDED\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("jobsched_system_executions{status=\"SUCCEEDED\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("jobsched_system_executors{pool=\"default\",status=\"active\"} 1\n"),
            std::string::npos)
      << text << "\n/api/v1/executors: " << system.Api("GET", "/api/v1/executors").body.dump();
  EXPECT_NE(text.find("jobsched_system_kafka_up 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("jobsched_system_projection_lag_records{projection=\"jobs\","
                      "topic=\"job-events\",partition=\"0\"}"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("jobsched_service_info{"), std::string::npos) << "the API's own registry";
  if (HavePromtool()) {
    PromtoolResult lint = PromtoolCheckMetrics(text);
    EXPECT_EQ(lint.exit_code, 0) << lint.output << "\n" << text;
  } else {
    ADD_FAILURE() << "no " << kPromtool << " (infra/install-deps.sh installs it)";
  }

  // SIGTERM, the API first (as LocalSystem stops them). The bound only
  // catches a hang: JOBSCHED_STOP_TIMEOUT_MS is 30 s by default.
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    EXPECT_EQ(system.Stop(*it, seconds(60)), 0) << *it << "\n" << system.LogTails();
  }
}

struct BadSetting {
  std::string service;
  std::string variable;
  std::string value;
};

void PrintTo(const BadSetting& b, std::ostream* os) {
  *os << "jobsched-" << b.service << " with " << b.variable << "=" << b.value;
}

class BadSettingTest : public ::testing::TestWithParam<BadSetting> {};

TEST_P(BadSettingTest, ExitsWithCodeTwoNamingTheVariable) {
  const BadSetting& bad = GetParam();
  const std::string dir = MakeTempDir("jobsched-badsetting-");
  ChildOptions options;
  options.log_path = dir + "/" + bad.service + ".log";
  // Nothing listens there; a configuration error must stop the start before
  // any connection matters.
  options.env = {{"KAFKA_BROKERS", "127.0.0.1:1"},
                 {"DATABASE_URL", "postgresql://127.0.0.1:1/none"},
                 {"JOBSCHED_ADMIN_PORT", "0"},
                 {"JOBSCHED_API_PORT", "0"}};
  options.env[bad.variable] = bad.value;  // may replace one of the above
  ChildProcess child(BinPath("jobsched-" + bad.service), {}, options);
  std::optional<int> code = child.WaitExit(seconds(60));
  const std::string log = ReadFile(options.log_path);
  ASSERT_TRUE(code.has_value()) << "still running:\n" << log;
  EXPECT_EQ(*code, 2) << log;
  EXPECT_NE(log.find(bad.variable), std::string::npos) << log;
}

INSTANTIATE_TEST_SUITE_P(
    Settings, BadSettingTest,
    ::testing::Values(BadSetting{"scheduler", "JOBSCHED_ADMIN_PORT", "abc"},
                      BadSetting{"api", "JOBSCHED_ADMIN_PORT", "70000"},
                      BadSetting{"dispatcher", "JOBSCHED_SESSION_TIMEOUT_MS", "-1"},
                      BadSetting{"projector", "JOBSCHED_STOP_TIMEOUT_MS", "soon"},
                      BadSetting{"executor", "JOBSCHED_EXECUTOR_SLOTS", "0"}),
    [](const ::testing::TestParamInfo<BadSetting>& info) {
      return info.param.service + "_" + std::to_string(info.index);
    });

}  // namespace
}  // namespace jobsched::testing
