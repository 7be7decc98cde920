// Exactly-once projection under kill -9: the real jobsched-projector, fed a
// steady stream of a few thousand events on the dev broker, is SIGKILLed at
// random points (after awaited progress in projection_offsets) and
// restarted, again and again. Once it has caught up, every projection table
// must equal a fresh projection of the same log into a second database: no
// lost rows, no duplicated rows, job_logs exactly one row per archived
// (partition, offset).
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "events/kafka_event_log.h"
#include "projections/executor_projector.h"
#include "projections/migrations.h"
#include "projections/pg_projection_store.h"
#include "projections/projector.h"
#include "tests/integration/rebuild_workload.h"
#include "tests/support/devbroker.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace jobsched::projections {
namespace {

using jobsched::testing::ChildProcess;
using jobsched::testing::ScopedPostgres;
using jobsched::testing::WaitFor;
namespace workload = jobsched::testing::rebuild;
using namespace std::chrono_literals;

constexpr char kEvents[] = "job-events";
constexpr char kExecutors[] = "executors";
constexpr int kMinWorkloads = 40;  // ~66 job-events records and 4 heartbeats each
constexpr int kKills = 6;

using workload::QueryInt;
using workload::StoredSum;

TEST(ProjectorKillE2eTest, KilledRepeatedlyUnderLoadProjectsEveryRecordExactlyOnce) {
  jobsched::testing::ScopedDevBroker broker({{kEvents, 8}, {kExecutors, 2}});
  ScopedPostgres& pg = ScopedPostgres::Shared();
  const std::string url = pg.CreateDatabase("kill_projector");
  const std::string reference = pg.CreateDatabase("kill_projector_ref");
  ASSERT_TRUE(ApplyMigrations(url).ok());
  ASSERT_TRUE(ApplyMigrations(reference).ok());
  auto kafka = events::KafkaEventLog::Make({.brokers = broker.bootstrap(), .extra = {}});
  ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();

  // The load: a workload (~70 records) every 400 ms from another thread,
  // until the kills are done (and at least kMinWorkloads).
  std::atomic<int64_t> appended_events{0}, appended_heartbeats{0};
  std::atomic<bool> load_failed{false}, kills_done{false};
  std::atomic<int> workloads{0};
  std::thread loader([&] {
    auto producer = kafka.value()->NewProducer("load");
    if (!producer.ok()) {
      load_failed = true;
      return;
    }
    for (int n = 0; !kills_done || n < kMinWorkloads; ++n) {
      std::vector<workload::Item> items = workload::JobEvents(kEvents, n, n * 10);
      for (auto& i : workload::Heartbeats(kExecutors, n, n * 10)) items.push_back(std::move(i));
      int64_t events = 0, heartbeats = 0;
      for (const workload::Item& i : items) ++(i.topic == kEvents ? events : heartbeats);
      if (!producer.value()->Append(workload::ToRecords(items)).ok()) {
        load_failed = true;
        return;
      }
      appended_events += events;
      appended_heartbeats += heartbeats;
      ++workloads;
      std::this_thread::sleep_for(400ms);  // pacing: a steady stream, not a burst
    }
  });

  // Small batches and a short session: many commits to interrupt, and a
  // restarted member gets its partitions back quickly.
  jobsched::testing::ChildOptions child;
  child.env = {{"KAFKA_BROKERS", broker.bootstrap()},
               {"DATABASE_URL", url},
               {"JOBSCHED_PROJECTOR_BATCH", "40"},
               {"JOBSCHED_SESSION_TIMEOUT_MS", "3000"},
               {"JOBSCHED_LOG_LEVEL", "info"}};
  child.log_path = jobsched::testing::MakeTempDir("projector-kill-") + "/projector.log";
  const std::string binary = jobsched::testing::BinPath("jobsched-projector");
  auto projector = std::make_unique<ChildProcess>(binary, std::vector<std::string>{}, child);

  const unsigned seed = std::random_device{}();
  std::printf("[ kill -9 ] seed %u, log %s\n", seed, child.log_path.c_str());
  std::mt19937 random(seed);
  int64_t stored = 0;
  for (int kill = 0; kill < kKills; ++kill) {
    // Await some progress of this incarnation (a random amount, so the kill
    // lands before, during or after a batch commits), then kill -9.
    const int64_t target = stored + 1 + static_cast<int64_t>(random() % 300);
    ASSERT_TRUE(WaitFor([&] { return StoredSum(url, "jobs") >= target; }, 60s, 5ms))
        << "no progress after restart " << kill << "\n"
        << jobsched::testing::TailFile(child.log_path);
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 40));  // a random point
    projector->Kill();
    EXPECT_EQ(projector->ExitCode(), 128 + SIGKILL);
    stored = StoredSum(url, "jobs");
    std::printf("[ kill -9 ] kill %d: %lld of %lld job-events records projected\n", kill + 1,
                static_cast<long long>(stored), static_cast<long long>(appended_events.load()));
    projector = std::make_unique<ChildProcess>(binary, std::vector<std::string>{}, child);
  }
  kills_done = true;
  loader.join();
  ASSERT_FALSE(load_failed.load());
  const int workload_count = workloads.load();
  std::map<std::string, int64_t> expected = {{kEvents, appended_events.load()},
                                             {kExecutors, appended_heartbeats.load()}};
  std::printf("[ kill -9 ] %d workloads: %lld job-events records, %lld heartbeats\n",
              workload_count,
              static_cast<long long>(expected[kEvents]),
              static_cast<long long>(expected[kExecutors]));
  ASSERT_TRUE(WaitFor(
      [&] {
        return StoredSum(url, "jobs") == expected[kEvents] &&
               StoredSum(url, "executors") == expected[kExecutors];
      },
      120s, 50ms))
      << jobsched::testing::TailFile(child.log_path);
  EXPECT_TRUE(projector->Running());
  projector->Stop();

  // The reference: one uninterrupted projection of the same log.
  {
    PgProjectionStore store({.database_url = reference});
    ProjectorOptions po;
    po.topic = kEvents;
    po.group_id = "reference";
    po.progress_log_interval = 0ms;
    ExecutorProjectorOptions eo;
    eo.topic = kExecutors;
    eo.group_id = "reference-executors";
    Projector p(*kafka.value(), store, po);
    ExecutorProjector e(*kafka.value(), store, eo);
    ASSERT_TRUE(p.Start().ok());
    ASSERT_TRUE(e.Start().ok());
    ASSERT_TRUE(WaitFor(
        [&] {
          return StoredSum(reference, "jobs") == expected[kEvents] &&
                 StoredSum(reference, "executors") == expected[kExecutors];
        },
        120s, 50ms));
  }

  workload::ExpectSame(workload::TakeSnapshot(reference), workload::TakeSnapshot(url),
                       "killed vs uninterrupted");
  // job_logs: exactly one row per archived record, none missing: every
  // record but the one undecodable record of each workload.
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM job_logs"), expected[kEvents] - workload_count);
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM undecodable_records"), workload_count);
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM (SELECT 1 FROM job_logs GROUP BY topic,"
                          " kafka_partition, kafka_offset HAVING count(*) > 1) d"),
            0);
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM jobs"), 9 * workload_count);
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM job_logs WHERE outcome = 'duplicate'"),
            workload_count);  // only the workload's own redelivery, none from the restarts
}

}  // namespace
}  // namespace jobsched::projections
