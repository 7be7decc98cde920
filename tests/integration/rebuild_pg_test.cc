// Projection rebuilds (projections/rebuild.h) on the dev broker and a real
// PostgreSQL: a varied workload is projected live, every projection table is
// snapshotted (all columns as text, in primary-key order), damaged, rebuilt
// from the log and from the archive, and compared table by table with the
// live snapshot. A live projector keeps running through the rebuilds and
// goes on projecting into the swapped-in tables.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "events/kafka_event_log.h"
#include "events/memory_event_log.h"
#include "projections/executor_projector.h"
#include "projections/migrations.h"
#include "projections/pg_projection_store.h"
#include "projections/projector.h"
#include "projections/rebuild.h"
#include "tests/integration/rebuild_workload.h"
#include "tests/support/devbroker.h"
#include "tests/support/postgres.h"
#include "tests/support/wait.h"

namespace jobsched::projections {
namespace {

using jobsched::testing::ScopedPostgres;
using jobsched::testing::WaitFor;
namespace workload = jobsched::testing::rebuild;
using namespace std::chrono_literals;

constexpr char kEvents[] = "job-events";
constexpr char kExecutors[] = "executors";

using workload::ExpectSame;
using workload::QueryInt;
using workload::Snapshot;
using workload::StoredSum;
Snapshot Take(const std::string& url) { return workload::TakeSnapshot(url); }

void Exec(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction txn(c);
  txn.exec(sql);
}

class RebuildPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<jobsched::testing::ScopedDevBroker>(
        jobsched::testing::TopicList{{kEvents, 4}, {kExecutors, 2}});
    auto kafka = events::KafkaEventLog::Make({.brokers = broker_->bootstrap(), .extra = {}});
    ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
    kafka_ = std::move(kafka).value();
    auto producer = kafka_->NewProducer("test");
    ASSERT_TRUE(producer.ok());
    producer_ = std::move(producer).value();
  }

  std::string NewDatabase(const std::string& suffix) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string url = ScopedPostgres::Shared().CreateDatabase(
        jobsched::testing::DatabaseNameFor("rebuild_", info->name() + suffix));
    Status s = ApplyMigrations(url);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return url;
  }

  // Appends workloads [from, to) and their heartbeats.
  void AppendWorkloads(int from, int to) {
    std::vector<workload::Item> items;
    for (int n = from; n < to; ++n) {
      for (auto& i : workload::JobEvents(kEvents, n, n * 10)) items.push_back(std::move(i));
      for (auto& i : workload::Heartbeats(kExecutors, n, n * 10)) items.push_back(std::move(i));
    }
    for (const workload::Item& i : items) ++appended_[i.topic];
    Status s = producer_->Append(workload::ToRecords(items));
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // Both projections of `url` cover every appended record (all partitions
  // start at offset 0, so the sum of next offsets is the record count).
  bool CaughtUp(const std::string& url) {
    return WaitFor(
        [&] {
          return StoredSum(url, "jobs") == appended_[kEvents] &&
                 StoredSum(url, "executors") == appended_[kExecutors];
        },
        60s, 50ms);
  }

  RebuildOptions Options(const std::string& url, RebuildSource source) {
    RebuildOptions o;
    o.database_url = url;
    o.source = source;
    o.topic = kEvents;
    o.executors_topic = kExecutors;
    o.stall_timeout = 30s;
    return o;
  }

  std::unique_ptr<jobsched::testing::ScopedDevBroker> broker_;
  std::unique_ptr<events::KafkaEventLog> kafka_;
  std::unique_ptr<events::Producer> producer_;
  std::map<std::string, int64_t> appended_;
};

TEST_F(RebuildPgTest, RebuiltTablesEqualTheLiveOnesRowForRow) {
  const std::string url = NewDatabase("");
  AppendWorkloads(0, 3);
  PgProjectionStore store({.database_url = url});
  ProjectorOptions po;
  po.topic = kEvents;
  po.progress_log_interval = 0ms;
  Projector live(*kafka_, store, po);
  ExecutorProjectorOptions eo;
  eo.topic = kExecutors;
  ExecutorProjector live_executors(*kafka_, store, eo);
  ASSERT_TRUE(live.Start().ok());
  ASSERT_TRUE(live_executors.Start().ok());
  ASSERT_TRUE(CaughtUp(url));
  const Snapshot before = Take(url);

  // The workload covers what the brief lists, so the comparison is not of
  // empty tables.
  EXPECT_EQ(before.at("jobs").size(), 3u * 9);  // 6 jobs + 3 workflow jobs, per workload
  EXPECT_EQ(before.at("workflows").size(), 3u);
  EXPECT_EQ(before.at("job_dependencies").size(), 3u * 2);
  EXPECT_EQ(before.at("dead_letters").size(), 3u * 2);
  EXPECT_EQ(before.at("executors").size(), 3u * 2);
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM job_logs WHERE outcome = 'duplicate'"), 3);
  EXPECT_GE(QueryInt(url, "SELECT count(*) FROM job_logs WHERE outcome = 'rejected'"), 3);
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM job_logs WHERE event_type = 'FireSkipped'"), 3);
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM dead_letters WHERE requeued_at IS NOT NULL"), 3);
  // Every record is archived: the undecodable one of each workload apart.
  EXPECT_EQ(static_cast<int64_t>(before.at("job_logs").size()), appended_[kEvents] - 3);
  EXPECT_EQ(before.at("undecodable_records").size(), 3u);

  // The comparison can fail: damage every kind of table...
  auto damage = [&](bool logs_too) {
    Exec(url, "UPDATE jobs SET name = 'tampered', version = version + 1"
              " WHERE job_id = (SELECT min(job_id::text)::uuid FROM jobs)");
    Exec(url, "DELETE FROM job_executions"
              " WHERE run_id = (SELECT max(run_id::text)::uuid FROM job_executions)");
    Exec(url, "UPDATE workflows SET expanded_at = NULL");
    Exec(url, "DELETE FROM job_dependencies WHERE status = 'SATISFIED'");
    Exec(url, "UPDATE dead_letters SET requeued_at = NULL");
    Exec(url, "UPDATE executors SET running = running + 7");
    if (logs_too) {
      Exec(url, "DELETE FROM job_logs WHERE outcome = 'duplicate'");
      Exec(url, "UPDATE undecodable_records SET error = 'tampered'");
    }
    const Snapshot damaged = Take(url);
    for (const char* table : {"jobs", "job_executions", "workflows", "job_dependencies",
                              "dead_letters", "executors"}) {
      EXPECT_NE(damaged.at(table), before.at(table)) << table;
    }
    if (logs_too) {
      EXPECT_NE(damaged.at("job_logs"), before.at("job_logs"));
      EXPECT_NE(damaged.at("undecodable_records"), before.at("undecodable_records"));
    }
  };

  // ... and the rebuild from the log restores it, job_logs included, while
  // the live projector keeps running.
  damage(/*logs_too=*/true);
  auto from_log = RebuildProjections(*kafka_, Options(url, RebuildSource::kLog));
  ASSERT_TRUE(from_log.ok()) << from_log.status().ToString();
  ExpectSame(before, Take(url), "rebuilt from the log");
  EXPECT_EQ(static_cast<int64_t>(from_log->events), appended_[kEvents]);
  EXPECT_EQ(from_log->undecodable, 3u);
  EXPECT_EQ(from_log->duplicates, 3u);
  EXPECT_EQ(static_cast<int64_t>(from_log->heartbeats), appended_[kExecutors]);
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM pg_namespace WHERE nspname = 'jobsched_rebuild'"),
            0);
  const std::string printed = FormatRebuildReport(from_log.value());
  EXPECT_NE(printed.find("rebuilt from the log (job-events from offset 0) into schema public"),
            std::string::npos)
      << printed;
  EXPECT_NE(printed.find("job_logs"), std::string::npos) << printed;

  // From the archive: job_logs is the source and is kept as it is.
  damage(/*logs_too=*/false);
  auto from_archive = RebuildProjections(*kafka_, Options(url, RebuildSource::kArchive));
  ASSERT_TRUE(from_archive.ok()) << from_archive.status().ToString();
  ExpectSame(before, Take(url), "rebuilt from the archive");
  EXPECT_EQ(static_cast<int64_t>(from_archive->events), appended_[kEvents] - 3);
  EXPECT_EQ(from_archive->undecodable, 0u);  // never archived

  // The live projector goes on projecting into the swapped-in tables, and
  // the result equals a projection that never saw a rebuild.
  AppendWorkloads(3, 5);
  ASSERT_TRUE(CaughtUp(url));
  live.Stop();
  live_executors.Stop();
  const std::string reference = NewDatabase("_ref");
  PgProjectionStore ref_store({.database_url = reference});
  po.group_id = "reference";
  eo.group_id = "reference-executors";
  Projector ref(*kafka_, ref_store, po);
  ExecutorProjector ref_executors(*kafka_, ref_store, eo);
  ASSERT_TRUE(ref.Start().ok());
  ASSERT_TRUE(ref_executors.Start().ok());
  ASSERT_TRUE(CaughtUp(reference));
  ref.Stop();
  ref_executors.Stop();
  ExpectSame(Take(reference), Take(url), "live projector after two rebuilds vs reference");
}

// After retention dropped the start of a partition only the archive has
// those events: a rebuild from the log refuses (naming --from archive) and
// leaves the tables alone; one from the archive restores them.
TEST_F(RebuildPgTest, RefusesTheLogAfterRetentionAndRebuildsFromTheArchive) {
  const std::string url = NewDatabase("");
  events::MemoryEventLog memory;
  ASSERT_TRUE(memory.CreateTopic(kEvents, 2).ok());
  ASSERT_TRUE(memory.CreateTopic(kExecutors, 1).ok());
  auto producer = memory.NewProducer("test");
  ASSERT_TRUE(producer.ok());
  std::vector<workload::Item> items = workload::JobEvents(kEvents, 0);
  const int64_t records = static_cast<int64_t>(items.size());
  ASSERT_TRUE(producer.value()->Append(workload::ToRecords(items)).ok());
  PgProjectionStore store({.database_url = url});
  ProjectorOptions po;
  po.topic = kEvents;
  {
    Projector live(memory, store, po);
    ASSERT_TRUE(live.Start().ok());
    ASSERT_TRUE(WaitFor([&] { return StoredSum(url, "jobs") == records; }, 30s));
  }
  const Snapshot before = Take(url);
  const int64_t new_low = memory.GetWatermarks({kEvents, 1})->high / 2;
  ASSERT_GT(new_low, 0);
  ASSERT_TRUE(memory.Truncate({kEvents, 1}, new_low).ok());

  Exec(url, "UPDATE jobs SET status = 'tampered'");
  const Snapshot damaged = Take(url);
  RebuildOptions o = Options(url, RebuildSource::kLog);
  auto refused = RebuildProjections(memory, o);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kConflict);
  EXPECT_NE(refused.status().message().find("job-events[1] starts at offset " +
                                            std::to_string(new_low) + ", not 0"),
            std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("--from archive"), std::string::npos);
  ExpectSame(damaged, Take(url), "untouched after the refusal");

  o.source = RebuildSource::kArchive;
  auto rebuilt = RebuildProjections(memory, o);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString();
  ExpectSame(before, Take(url), "rebuilt from the archive after retention");
  // The undecodable record is archived apart and kept as it was.
  EXPECT_EQ(static_cast<int64_t>(rebuilt->events), records - 1);
}

TEST(RebuildOptionsTest, SearchPathIsAddedToEitherFormOfUrl) {
  auto uri = WithSearchPath("postgresql://postgres@127.0.0.1:5433/db?application_name=x", "s1");
  ASSERT_TRUE(uri.ok());
  EXPECT_NE(uri->find("dbname='db'"), std::string::npos) << *uri;
  EXPECT_NE(uri->find("port='5433'"), std::string::npos) << *uri;
  EXPECT_NE(uri->find("options='-csearch_path=\"s1\"'"), std::string::npos) << *uri;
  auto kv = WithSearchPath("host=h dbname=d options='-cwork_mem=64MB'", "s2");
  ASSERT_TRUE(kv.ok());
  EXPECT_NE(kv->find("options='-cwork_mem=64MB -csearch_path=\"s2\"'"), std::string::npos) << *kv;
  EXPECT_FALSE(WithSearchPath("postgresql://[broken", "s").ok());
  EXPECT_FALSE(ParseRebuildSource("kafka").ok());
  EXPECT_EQ(ParseRebuildSource("archive").value(), RebuildSource::kArchive);
}

}  // namespace
}  // namespace jobsched::projections
