// GET /api/v1/metrics's text (system_metrics.h): the rendering of a snapshot,
// checked line by line and by promtool (the Prometheus linter) when installed.
#include <gtest/gtest.h>

#include <string>

#include "services/api/system_metrics.h"
#include "tests/support/promtool.h"

namespace jobsched::api {
namespace {

bool HasLine(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

SystemSnapshot Sample() {
  SystemSnapshot s;
  s.jobs_by_status = {{"SUCCEEDED", 7}, {"QUEUED", 2}};
  s.executions_by_status = {{"SUCCEEDED", 7}, {"FAILED", 1}};
  s.queued_by_pool = {{"default", 2}, {"gpu", 1}};
  s.queued_by_priority = {{10, 2}, {0, 1}};
  s.queued = 3;
  s.running = 4;
  s.retrying = 1;
  s.waiting_by_reason = {{"no executor of pool \"gpu\"\nis active", 1}};
  s.executors["default"] = {.active = 2, .stale = 1, .slots_used = 3, .slots_free = 13};
  s.dead_letters_waiting = 5;
  s.dead_letters_requeued = 2;
  s.projections = {{"jobs", "job-events", 0, 40, 45, 0},
                   {"jobs", "job-events", 1, std::nullopt, 12, 2},
                   {"executors", "executors", 0, 9, 9, 0}};
  return s;
}

TEST(SystemMetricsTest, RendersEveryFamilyAsGauges) {
  const std::string text = RenderSystemMetrics(Sample());
  EXPECT_TRUE(HasLine(text, "# TYPE jobsched_system_jobs gauge")) << text;
  EXPECT_TRUE(HasLine(text, "jobsched_system_jobs{status=\"SUCCEEDED\"} 7")) << text;
  EXPECT_TRUE(HasLine(text, "jobsched_system_jobs{status=\"QUEUED\"} 2")) << text;
  EXPECT_TRUE(HasLine(text, "jobsched_system_executions{status=\"FAILED\"} 1")) << text;
  EXPECT_TRUE(HasLine(text, "jobsched_system_runs_in_flight{state=\"running\"} 4")) << text;
  EXPECT_TRUE(HasLine(text, "jobsched_system_queued_runs{pool=\"gpu\"} 1")) << text;
  EXPECT_TRUE(HasLine(text, "jobsched_system_queued_runs_by_priority{priority=\"10\"} 2")) << text;
  EXPECT_TRUE(HasLine(text, "jobsched_system_executors{pool=\"default\",status=\"stale\"} 1"))
      << text;
  EXPECT_TRUE(HasLine(text, "jobsched_system_executor_slots{pool=\"default\",state=\"free\"} 13"))
      << text;
  EXPECT_TRUE(HasLine(text, "jobsched_system_dead_letters{state=\"waiting\"} 5")) << text;
  EXPECT_TRUE(HasLine(text, "jobsched_system_kafka_up 1")) << text;
  EXPECT_EQ(text.find("_total"), std::string::npos) << "gauges only, no counter names";
}

TEST(SystemMetricsTest, EveryKnownStatusIsPresentWithZeros) {
  const std::string text = RenderSystemMetrics(SystemSnapshot{});
  for (const char* status : {"PENDING", "SCHEDULED", "QUEUED", "RUNNING", "RETRYING", "SUCCEEDED",
                             "DEAD", "CANCELED", "ACTIVE", "PAUSED", "COMPLETED", "DELETED"}) {
    EXPECT_TRUE(HasLine(text, std::string("jobsched_system_jobs{status=\"") + status + "\"} 0"))
        << status << "\n"
        << text;
  }
  for (const char* status :
       {"DUE", "DISPATCHED", "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELED", "LOST"}) {
    EXPECT_TRUE(
        HasLine(text, std::string("jobsched_system_executions{status=\"") + status + "\"} 0"))
        << status;
  }
  EXPECT_EQ(text.find("UNSPECIFIED"), std::string::npos);
}

TEST(SystemMetricsTest, LagIsHighWatermarkMinusNextOffset) {
  const std::string text = RenderSystemMetrics(Sample());
  EXPECT_TRUE(HasLine(text,
                      "jobsched_system_projection_lag_records{projection=\"jobs\","
                      "topic=\"job-events\",partition=\"0\"} 5"))
      << text;
  // No offsets row yet: the projection would start at the low watermark.
  EXPECT_TRUE(HasLine(text,
                      "jobsched_system_projection_lag_records{projection=\"jobs\","
                      "topic=\"job-events\",partition=\"1\"} 10"))
      << text;
  EXPECT_TRUE(HasLine(text,
                      "jobsched_system_projection_lag_records{projection=\"executors\","
                      "topic=\"executors\",partition=\"0\"} 0"))
      << text;
  EXPECT_TRUE(HasLine(text,
                      "jobsched_system_projection_next_offset{projection=\"jobs\","
                      "topic=\"job-events\",partition=\"0\"} 40"))
      << text;
  EXPECT_EQ(text.find("jobsched_system_projection_next_offset{projection=\"jobs\",topic=\"job-"
                      "events\",partition=\"1\"}"),
            std::string::npos)
      << "no row, no next offset";
  EXPECT_TRUE(
      HasLine(text, "jobsched_system_log_high_watermark{topic=\"job-events\",partition=\"1\"} 12"))
      << text;
}

TEST(SystemMetricsTest, WithoutKafkaTheLagIsLeftOut) {
  SystemSnapshot s = Sample();
  s.kafka_ok = false;
  for (ProjectionPosition& p : s.projections) p.high_watermark.reset();
  const std::string text = RenderSystemMetrics(s);
  EXPECT_TRUE(HasLine(text, "jobsched_system_kafka_up 0")) << text;
  EXPECT_EQ(text.find("jobsched_system_projection_lag_records{"), std::string::npos) << text;
  EXPECT_EQ(text.find("jobsched_system_log_high_watermark{"), std::string::npos) << text;
}

TEST(SystemMetricsTest, LabelValuesAreEscaped) {
  const std::string text = RenderSystemMetrics(Sample());
  EXPECT_TRUE(HasLine(text,
                      "jobsched_system_waiting_jobs{reason="
                      "\"no executor of pool \\\"gpu\\\"\\nis active\"} 1"))
      << text;
}

TEST(SystemMetricsTest, PromtoolAcceptsTheText) {
  ASSERT_TRUE(testing::HavePromtool()) << "no " << testing::kPromtool << " (infra/install-deps.sh)";
  for (const SystemSnapshot& s : {Sample(), SystemSnapshot{}}) {
    const std::string text = RenderSystemMetrics(s);
    testing::PromtoolResult r = testing::PromtoolCheckMetrics(text);
    EXPECT_EQ(r.exit_code, 0) << r.output << "\n" << text;
  }
}

}  // namespace
}  // namespace jobsched::api
