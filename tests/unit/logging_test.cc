// Structured logs: in JSON mode every line is one JSON object with the
// context fields, whatever the message contains.
#include "services/common/logging.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <sstream>

namespace jobsched::services {
namespace {

std::vector<nlohmann::json> Lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(Logging, JsonLinesCarryFieldsAndEscapeEverything) {
  std::ostringstream sink_text;
  auto logger = std::make_shared<spdlog::logger>(
      "logging-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(sink_text));
  spdlog::register_logger(logger);
  ServiceConfig config;
  config.log_format = "json";
  InitLogging(config);

  Log(*logger, spdlog::level::warn, "run \"failed\"\n\ttwice",
      {{"job_id", "j-1"}, {"run_id", ""}, {"error", "HTTP 500: {\"x\":\"\\\\\"}\x01"}});
  logger->info("plain message with \"quotes\"");

  auto lines = Lines(sink_text.str());
  ASSERT_EQ(lines.size(), 2u) << sink_text.str();
  EXPECT_EQ(lines[0]["level"], "warning");
  EXPECT_EQ(lines[0]["logger"], "logging-test");
  EXPECT_EQ(lines[0]["msg"], "run \"failed\"\n\ttwice");
  EXPECT_EQ(lines[0]["job_id"], "j-1");
  EXPECT_FALSE(lines[0].contains("run_id")) << "empty fields are left out";
  EXPECT_EQ(lines[0]["error"], "HTTP 500: {\"x\":\"\\\\\"}\x01");
  EXPECT_TRUE(lines[0]["ts"].get<std::string>().ends_with("Z"));
  EXPECT_EQ(lines[1]["msg"], "plain message with \"quotes\"");

  config.log_format = "text";
  InitLogging(config);
  sink_text.str("");
  Log(*logger, spdlog::level::info, "decided", {{"job_id", "j-2"}, {"event_id", "e-9"}});
  EXPECT_NE(sink_text.str().find("decided job_id=j-2 event_id=e-9"), std::string::npos)
      << sink_text.str();
  spdlog::drop("logging-test");
}

TEST(Logging, LinesAboutAJobNameJobRunEventAndCorrelation) {
  std::ostringstream sink_text;
  auto logger = std::make_shared<spdlog::logger>(
      "logging-job-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(sink_text));
  spdlog::register_logger(logger);
  ServiceConfig config;
  config.log_format = "json";
  InitLogging(config);

  v1::Envelope e;
  e.set_event_id("e-1");
  e.set_job_id("j-1");
  e.set_correlation_id("req-7");
  e.mutable_run_started()->set_run_id("r-1");
  LogJob(*logger, spdlog::level::info, "run started", RefOf(e), {{"attempt", "2"}});

  v1::RunTask task;
  task.set_job_id("j-2");
  task.set_run_id("r-2");
  task.set_dispatch_event_id("e-dispatch");
  task.set_correlation_id("req-8");
  LogJob(*logger, spdlog::level::warn, "handler threw", RefOf(task));

  auto lines = Lines(sink_text.str());
  ASSERT_EQ(lines.size(), 2u) << sink_text.str();
  EXPECT_EQ(lines[0]["job_id"], "j-1");
  EXPECT_EQ(lines[0]["run_id"], "r-1");
  EXPECT_EQ(lines[0]["event_id"], "e-1");
  EXPECT_EQ(lines[0]["correlation_id"], "req-7");
  EXPECT_EQ(lines[0]["attempt"], "2");
  EXPECT_EQ(lines[1]["job_id"], "j-2");
  EXPECT_EQ(lines[1]["run_id"], "r-2");
  EXPECT_EQ(lines[1]["event_id"], "e-dispatch");
  EXPECT_EQ(lines[1]["correlation_id"], "req-8");

  config.log_format = "text";
  InitLogging(config);
  spdlog::drop("logging-job-test");
}

}  // namespace
}  // namespace jobsched::services
