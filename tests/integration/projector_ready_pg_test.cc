// The projector service's /ready and its projection metrics against a real
// PostgreSQL (the log is the in-memory one): not ready before it starts;
// ready once its partitions are assigned and projected, with the lag gauges
// at 0 and the events counted; not ready while PostgreSQL is down, ready
// again once it is back.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <map>
#include <string>

#include "events/envelope.h"
#include "events/ids.h"
#include "events/memory_event_log.h"
#include "events/topics.h"
#include "services/common/metrics.h"
#include "services/projector/application.h"
#include "tests/support/metric_sample.h"
#include "tests/support/postgres.h"
#include "tests/support/wait.h"

namespace jobsched {
namespace {

using std::chrono::milliseconds;

constexpr auto kWait = milliseconds(30'000);

double ValueOf(prometheus::Registry& registry, const std::string& name,
               const std::map<std::string, std::string>& labels) {
  return testing::MetricValue(registry, name, labels);
}

bool CheckOk(const services::Readiness& r, const std::string& check) {
  return r.checks.contains(check) && r.checks[check].value("ok", false);
}

TEST(ProjectorReadyPgTest, ReadyWhenCaughtUpAndPostgresAnswers) {
  testing::ScopedPostgres pg;
  events::Topics topics;
  events::MemoryEventLog log;
  ASSERT_TRUE(log.CreateTopic(topics.job_events, 2).ok());
  ASSERT_TRUE(log.CreateTopic(topics.executors, 1).ok());
  auto producer = std::move(log.NewProducer("test")).value();
  constexpr int kJobs = 40;
  std::vector<events::Record> records;
  for (int i = 0; i < kJobs; ++i) {
    const std::string job_id = RandomId();
    events::Envelope e = events::MakeEnvelope(ids::EventId("JobSubmitted", job_id, ""), job_id,
                                              {"test", SystemClock::Instance().Now(), "c", ""});
    auto* spec = e.mutable_job_submitted()->mutable_spec();
    spec->set_name("job");
    spec->set_type(v1::JOB_TYPE_ECHO);
    records.push_back({topics.job_events, job_id, events::Encode(e)});
  }
  ASSERT_TRUE(producer->Append(std::move(records)).ok());

  prometheus::Registry registry;
  projector::ApplicationOptions o;
  o.database_url = pg.CreateDatabase("projector_ready");
  o.projector.topic = topics.job_events;
  o.executors.topic = topics.executors;
  o.metrics = &registry;
  o.monitor_interval = milliseconds(100);
  projector::Application app(o, log);
  EXPECT_FALSE(app.Ready().ready) << "ready before it started";

  ASSERT_TRUE(app.Start().ok());
  services::Readiness ready;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        ready = app.Ready();
        return ready.ready;
      },
      kWait))
      << ready.checks.dump();
  for (const char* check : {"kafka", "postgres", "partitions_assigned", "caught_up"}) {
    EXPECT_TRUE(CheckOk(ready, check)) << check << ": " << ready.checks.dump();
  }
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return ValueOf(registry, "jobsched_projector_events_total", {{"result", "applied"}}) ==
                   kJobs &&
               ValueOf(registry, "jobsched_projection_lag_records",
                       {{"projection", "jobs"}, {"partition", "0"}}) == 0 &&
               ValueOf(registry, "jobsched_projection_lag_records",
                       {{"projection", "jobs"}, {"partition", "1"}}) == 0;
      },
      kWait))
      << services::SerializeMetrics(registry);
  EXPECT_EQ(ValueOf(registry, "jobsched_projection_lag_seconds",
                    {{"projection", "jobs"}, {"partition", "0"}}),
            0);
  nlohmann::json health = app.Health();
  EXPECT_EQ(health["projection"]["applied"], kJobs) << health.dump();
  EXPECT_EQ(health["partitions"].size(), 2u) << health.dump();

  pg.StopServer();
  ASSERT_TRUE(testing::WaitFor([&] { return !CheckOk(app.Ready(), "postgres"); }, kWait));
  EXPECT_FALSE(app.Ready().ready);
  pg.StartServer();
  ASSERT_TRUE(testing::WaitFor([&] { return app.Ready().ready; }, kWait))
      << app.Ready().checks.dump();
  app.Stop();
}

}  // namespace
}  // namespace jobsched
