// The projection contract on real PostgreSQL: migrations, rows of a realistic
// event sequence, identical rebuilds, restarts, fencing, and a database that
// goes down under the projector. Each test has its own database.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <sstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "events/fold.h"
#include "events/kafka_event_log.h"
#include "events/memory_event_log.h"
#include "projections/executor_projector.h"
#include "projections/jsonb_text.h"
#include "projections/migrations.h"
#include "projections/pg_internal.h"
#include "projections/pg_projection_store.h"
#include "projections/projector.h"
#include "tests/support/devbroker.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"
#include "tests/unit/fold_test_util.h"

namespace jobsched::projections {
namespace {

using events::Envelope;
using google::protobuf::util::MessageDifferencer;
using jobsched::testing::EventFactory;
using jobsched::testing::JobId;
using jobsched::testing::ScopedPostgres;
using jobsched::testing::T;
using jobsched::testing::WaitFor;
using namespace std::chrono_literals;

constexpr char kTopic[] = "job-events";
constexpr int kPartitions = 4;

// Job A: the shared lifecycle, with values that test quoting and escaping.
std::vector<Envelope> EscapingLifecycle(const EventFactory& f, int64_t t = 0) {
  std::vector<Envelope> life = jobsched::testing::Lifecycle(f, t, /*retry_delay_ms=*/6000);
  auto* http = life[0].mutable_job_submitted()->mutable_spec()->mutable_http();
  http->set_url("https://example.com/hook?a='b'");
  (*http->mutable_headers())["X-B"] = "2";
  (*http->mutable_headers())["X-A"] = "1";
  life[4].mutable_run_failed()->set_output(std::string("body with \0 NUL and 'quotes'", 27));
  return life;
}

// Job B: submitted for later, cancel requested, canceled.
std::vector<Envelope> Canceled(const EventFactory& f) {
  return {f.Submitted(T(0), T(3600)), f.CancelRequested(T(5)), f.Canceled(T(6))};
}

// Every row of a table, all columns as text, in primary-key order.
std::vector<std::string> Dump(const std::string& url, const std::string& table,
                              const std::string& key) {
  pqxx::connection c(url);
  pqxx::nontransaction txn(c);
  std::vector<std::string> out;
  for (const auto& row : txn.exec("SELECT t::text FROM " + table + " t ORDER BY " + key)) {
    out.push_back(row[0].as<std::string>());
  }
  return out;
}

struct Tables {
  std::vector<std::string> jobs, executions, logs, offsets;
  bool operator==(const Tables&) const = default;
};

Tables DumpAll(const std::string& url) {
  return {Dump(url, "jobs", "job_id"), Dump(url, "job_executions", "run_id"),
          Dump(url, "job_logs", "event_id"),
          Dump(url, "projection_offsets", "projection, topic, partition")};
}

int64_t QueryInt(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction txn(c);
  return txn.exec(sql)[0][0].as<int64_t>();
}

std::string QueryText(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction txn(c);
  auto r = txn.exec(sql);
  return r.empty() || r[0][0].is_null() ? "<null>" : r[0][0].as<std::string>();
}

class ProjectorPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(log_.CreateTopic(kTopic, kPartitions).ok());
    auto producer = log_.NewProducer("test");
    ASSERT_TRUE(producer.ok());
    producer_ = std::move(producer).value();
  }

  // A fresh, migrated database named after the test (+ suffix).
  std::string NewDatabase(ScopedPostgres& pg, const std::string& suffix = "") {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string url = pg.CreateDatabase(testing::DatabaseNameFor("proj_", info->name() + suffix));
    Status s = ApplyMigrations(url);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return url;
  }

  void Append(const std::vector<Envelope>& events) {
    std::vector<events::Record> records;
    for (const Envelope& e : events) {
      events::Record r;
      r.topic = kTopic;
      r.key = e.job_id();
      r.value = events::Encode(e);
      records.push_back(std::move(r));
    }
    ASSERT_TRUE(producer_->Append(std::move(records)).ok());
  }

  ProjectorOptions Options(const std::string& group = "jobsched-projector") {
    ProjectorOptions o;
    o.topic = kTopic;
    o.group_id = group;
    o.retry_backoff_initial = 20ms;
    o.retry_backoff_max = 200ms;
    o.progress_log_interval = 0ms;
    return o;
  }

  int64_t HighWatermarkSum() {
    int64_t sum = 0;
    for (int p = 0; p < kPartitions; ++p) sum += log_.GetWatermarks({kTopic, p})->high;
    return sum;
  }

  // Waits until the stored offsets of `url` cover everything appended.
  bool CaughtUp(const std::string& url, std::chrono::milliseconds timeout = 60s) {
    const int64_t high = HighWatermarkSum();
    pqxx::connection c(url);
    return WaitFor(
        [&] {
          pqxx::nontransaction txn(c);
          return txn.exec("SELECT coalesce(sum(next_offset), 0) FROM projection_offsets"
                          " WHERE projection = 'jobs'")[0][0]
                     .as<int64_t>() == high;
        },
        timeout, 50ms);
  }

  events::MemoryEventLog log_;
  std::unique_ptr<events::Producer> producer_;
};

TEST_F(ProjectorPgTest, MigrationsApplyTwiceAndConcurrently) {
  ScopedPostgres& pg = ScopedPostgres::Shared();
  std::string url = pg.CreateDatabase("proj_migrations");
  // Two starters at once (api and projector), then once more.
  Status a, b;
  std::thread other([&] { a = ApplyMigrations(url); });
  b = ApplyMigrations(url);
  other.join();
  ASSERT_TRUE(a.ok()) << a.ToString();
  ASSERT_TRUE(b.ok()) << b.ToString();
  Status again = ApplyMigrations(url);
  ASSERT_TRUE(again.ok()) << again.ToString();
  auto migrations = EmbeddedMigrations();
  ASSERT_TRUE(migrations.ok());
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM schema_migrations"),
            static_cast<int64_t>(migrations->size()));
  EXPECT_EQ(QueryInt(url, "SELECT min(version) FROM schema_migrations"), 1);
  for (const char* table : {"jobs", "job_executions", "job_logs", "projection_offsets"}) {
    EXPECT_EQ(QueryInt(url, std::string("SELECT count(*) FROM ") + table), 0) << table;
  }
}

TEST_F(ProjectorPgTest, MigrationsNameTheUrlWhenTheDatabaseIsMissing) {
  ScopedPostgres& pg = ScopedPostgres::Shared();
  std::string url = pg.ConnectionString("no_such_database");
  Status s = ApplyMigrations(url);
  EXPECT_EQ(s.code(), ErrorCode::kUnavailable);
  EXPECT_NE(s.message().find("DATABASE_URL=postgres@127.0.0.1:" + std::to_string(pg.port()) +
                             "/no_such_database"),
            std::string::npos)
      << s.message();
}

TEST_F(ProjectorPgTest, ProjectsARealisticSequenceIntoTheTables) {
  ScopedPostgres& pg = ScopedPostgres::Shared();
  std::string url = NewDatabase(pg);
  EventFactory a(JobId(1)), b(JobId(2));
  std::vector<Envelope> life = EscapingLifecycle(a);
  std::vector<Envelope> canceled = Canceled(b);
  PgProjectionStore store({.database_url = url});
  Projector projector(log_, store, Options());
  ASSERT_TRUE(projector.Start().ok());
  Append({life[0], life[1], canceled[0], life[1]});  // life[1] redelivered
  Append(std::vector<Envelope>(life.begin() + 2, life.end()));
  Append({canceled[1], canceled[2]});
  ASSERT_TRUE(CaughtUp(url));
  projector.Stop();

  // jobs
  const std::string ja = "'" + a.job_id() + "'";
  const std::string jb = "'" + b.job_id() + "'";
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', name, type, status, priority, max_retries,"
                           " attempts, run_at, next_fire_at, cancel_requested, last_error,"
                           " correlation_id, version) FROM jobs WHERE job_id = " + ja),
            "test job|http|SUCCEEDED|5|2|2|f|HTTP 500|corr-1|11");  // concat_ws skips NULLs
  EXPECT_EQ(QueryText(url, "SELECT created_at = to_timestamp(" +
                               std::to_string(ToUnixMillis(T(0)) / 1000) +
                               ") AND updated_at = to_timestamp(" +
                               std::to_string(ToUnixMillis(T(14)) / 1000) +
                               ") FROM jobs WHERE job_id = " + ja),
            "t");
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', status, cancel_requested, attempts, version,"
                           " run_at = to_timestamp(" +
                               std::to_string(ToUnixMillis(T(3600)) / 1000) +
                               ")) FROM jobs WHERE job_id = " + jb),
            "CANCELED|t|0|3|t");
  {
    pqxx::connection c(url);
    pqxx::nontransaction txn(c);
    auto r = txn.exec("SELECT fold_state FROM jobs WHERE job_id = " + ja);
    pqxx::binarystring bytes(r[0][0]);
    events::JobState state;
    ASSERT_TRUE(state.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
    EXPECT_TRUE(MessageDifferencer::Equals(state, events::FoldAll(life)));
  }

  // job_executions
  const std::string run1 = a.RunId(1), run2 = a.RunId(2);
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM job_executions"), 2);
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', job_id, attempt, status, executor_id,"
                           " lease_epoch, http_status, duration_ms, error,"
                           " finished_at IS NOT NULL, length(output))"
                           " FROM job_executions WHERE run_id = '" + run1 + "'"),
            a.job_id() + "|1|FAILED|exec-1|1|500|0|HTTP 500|t|27");
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', attempt, status, http_status, duration_ms,"
                           " output, started_at = to_timestamp(" +
                               std::to_string(ToUnixMillis(T(12)) / 1000) +
                               ")) FROM job_executions WHERE run_id = '" + run2 + "'"),
            "2|SUCCEEDED|200|12|ok|t");

  // job_logs: one row per record, the redelivered RunDue as "duplicate"
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM job_logs"),
            static_cast<int64_t>(life.size() + canceled.size() + 1));
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM job_logs WHERE job_id = " + ja), 12);
  EXPECT_EQ(QueryText(url, "SELECT string_agg(event_type || ':' || outcome, ','"
                           " ORDER BY kafka_offset) FROM job_logs WHERE job_id = " + ja),
            "JobSubmitted:applied,RunDue:applied,RunDue:duplicate,RunDispatched:applied,"
            "RunStarted:applied,RunFailed:applied,RetryScheduled:applied,RunDue:applied,"
            "RunDispatched:applied,RunStarted:applied,RunSucceeded:applied,JobSucceeded:applied");
  EXPECT_EQ(QueryText(url, "SELECT string_agg(event_type || ':' || level || ':' || message, ','"
                           " ORDER BY kafka_offset) FROM job_logs WHERE job_id = " + jb),
            "JobSubmitted:info:job submitted: echo \"test job\", run at " +
                FormatRfc3339(T(3600)) +
                ", max_retries 2,CancelRequested:info:cancel requested: test,"
                "JobCanceled:info:job canceled: test");
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', level, outcome, run_id, message) FROM job_logs"
                           " WHERE event_id = '" + life[4].event_id() + "'"),
            "error|applied|" + run1 + "|run " + run1.substr(0, 8) +
                " attempt 1 failed: HTTP 500");
  EXPECT_EQ(QueryText(url, "SELECT message FROM job_logs WHERE event_id = '" +
                               life[0].event_id() + "'"),
            "job submitted: http POST https://example.com/hook?a='b' \"test job\", max_retries 2");
  EXPECT_EQ(QueryText(url, "SELECT fields->>'event_id' = event_id::text AND"
                           " fields->'retry_scheduled'->>'delay_ms' = '6000'"
                           " FROM job_logs WHERE event_id = '" + life[5].event_id() + "'"),
            "t");
  {
    pqxx::connection c(url);
    pqxx::nontransaction txn(c);
    for (const Envelope& e : life) {
      auto r = txn.exec("SELECT envelope, producer, ts = to_timestamp(" +
                        std::to_string(ToUnixMillis(FromProto(e.occurred_at())) / 1000) +
                        ") FROM job_logs WHERE outcome = 'applied' AND event_id = " +
                        txn.quote(e.event_id()));
      ASSERT_EQ(r.size(), 1u);
      pqxx::binarystring bytes(r[0][0]);
      auto stored = events::DecodeEnvelope(bytes.str());
      ASSERT_TRUE(stored.ok());
      EXPECT_TRUE(MessageDifferencer::Equals(stored.value(), e));
      EXPECT_EQ(r[0][1].as<std::string>(), "test");
      EXPECT_TRUE(r[0][2].as<bool>());
    }
  }
  EXPECT_EQ(projector.stats().duplicates, 1u);
}

TEST_F(ProjectorPgTest, RebuildsYieldIdenticalTablesAndRestartsResume) {
  ScopedPostgres& pg = ScopedPostgres::Shared();
  std::string url1 = NewDatabase(pg, "_1");
  std::string url2 = NewDatabase(pg, "_2");
  std::vector<Envelope> first, second;
  for (int j = 0; j < 40; ++j) {
    EventFactory f(JobId(100 + j));
    std::vector<Envelope> events = j % 5 == 0 ? Canceled(f) : EscapingLifecycle(f, j);
    size_t half = events.size() / 2;
    first.insert(first.end(), events.begin(), events.begin() + half);
    second.insert(second.end(), events.begin() + half, events.end());
  }
  PgProjectionStore store1({.database_url = url1});
  {
    Projector p(log_, store1, Options());
    ASSERT_TRUE(p.Start().ok());
    Append(first);
    ASSERT_TRUE(CaughtUp(url1));
  }
  // A restart resumes from the stored offsets: only the new events are read.
  Append(second);
  {
    Projector p(log_, store1, Options());
    ASSERT_TRUE(p.Start().ok());
    ASSERT_TRUE(CaughtUp(url1));
    p.Stop();
    EXPECT_EQ(p.stats().records, second.size());
    EXPECT_EQ(p.stats().duplicates, 0u);
  }
  Tables before = DumpAll(url1);
  EXPECT_EQ(before.logs.size(), first.size() + second.size());

  // A second, fresh database built in one go (small batches, no cache).
  PgProjectionStore store2({.database_url = url2});
  {
    ProjectorOptions o = Options("rebuild-2");
    o.max_batch_records = 13;
    o.state_cache_jobs = 0;
    Projector p(log_, store2, o);
    ASSERT_TRUE(p.Start().ok());
    ASSERT_TRUE(CaughtUp(url2));
  }
  EXPECT_TRUE(DumpAll(url2) == before);

  // Replay from offset 0 into the first database: everything is a duplicate.
  QueryInt(url1, "WITH d AS (DELETE FROM projection_offsets RETURNING 1) SELECT count(*) FROM d");
  {
    Projector p(log_, store1, Options());
    ASSERT_TRUE(p.Start().ok());
    ASSERT_TRUE(CaughtUp(url1));
    p.Stop();
    EXPECT_EQ(p.stats().records, first.size() + second.size());
    EXPECT_EQ(p.stats().duplicates, first.size() + second.size());
  }
  EXPECT_TRUE(DumpAll(url1) == before);
}

TEST_F(ProjectorPgTest, WriteIsFencedByTheStoredOffsets) {
  ScopedPostgres& pg = ScopedPostgres::Shared();
  std::string url = NewDatabase(pg);
  PgProjectionStore store({.database_url = url});
  EventFactory f(JobId(9));
  events::JobState state = events::FoldAll(std::vector<Envelope>{f.Submitted(T(0))});
  ProjectionBatch batch;
  batch.projection = "jobs";
  batch.topic = kTopic;
  batch.jobs = {state};
  batch.offsets = {{0, std::nullopt, 1}, {1, std::nullopt, 5}};
  ASSERT_TRUE(store.Write(batch).ok());
  // The same batch again (a retry after a lost COMMIT acknowledgement).
  EXPECT_EQ(store.Write(batch).code(), ErrorCode::kConflict);
  // A zombie that believes partition 1 is at 3.
  ProjectionBatch zombie = batch;
  zombie.offsets = {{0, 1, 2}, {1, 3, 6}};
  EXPECT_EQ(store.Write(zombie).code(), ErrorCode::kConflict);
  EXPECT_EQ(QueryText(url, "SELECT string_agg(partition || '@' || next_offset, ','"
                           " ORDER BY partition) FROM projection_offsets"),
            "0@1,1@5");
  // The right successor is accepted.
  zombie.offsets = {{0, 1, 2}, {1, 5, 6}};
  EXPECT_TRUE(store.Write(zombie).ok());
  auto loaded = store.LoadStates({f.job_id(), JobId(10), "not-a-uuid"});
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), 1u);
  EXPECT_EQ(loaded->at(f.job_id()).SerializeAsString(), state.SerializeAsString());
  auto offsets = store.LoadOffsets("jobs", kTopic, {0, 1, 2});
  ASSERT_TRUE(offsets.ok());
  EXPECT_EQ(*offsets, (std::map<int32_t, int64_t>{{0, 2}, {1, 6}}));
}

TEST_F(ProjectorPgTest, SurvivesPostgresGoingDownWithoutLosingOrRepeating) {
  ScopedPostgres pg;  // our own cluster: this test stops it
  std::string url = NewDatabase(pg);
  std::string reference = NewDatabase(pg, "_ref");
  const std::string pg_sh = jobsched::testing::SourcePath("infra/pg.sh");
  const std::string pg_log = pg.data_dir() + "/../restart.log";
  std::vector<Envelope> events;
  for (int j = 0; j < 30; ++j) {
    auto life = EscapingLifecycle(EventFactory(JobId(500 + j)), j);
    events.insert(events.end(), life.begin(), life.end());
  }
  const size_t third = events.size() / 3;
  PgProjectionStore store({.database_url = url});
  Projector projector(log_, store, Options());
  ASSERT_TRUE(projector.Start().ok());
  Append(std::vector<Envelope>(events.begin(), events.begin() + third));
  ASSERT_TRUE(CaughtUp(url));

  ASSERT_EQ(jobsched::testing::RunProcess("bash", {pg_sh, "stop", pg.data_dir()}, pg_log, 60s), 0);
  Append(std::vector<Envelope>(events.begin() + third, events.begin() + 2 * third));
  ASSERT_TRUE(WaitFor([&] { return projector.stats().write_failures >= 2; }, 30s));
  Append(std::vector<Envelope>(events.begin() + 2 * third, events.end()));
  ASSERT_EQ(jobsched::testing::RunProcess(
                "bash", {pg_sh, "start", pg.data_dir(), std::to_string(pg.port())}, pg_log, 60s),
            0);
  ASSERT_TRUE(CaughtUp(url));
  projector.Stop();
  EXPECT_GE(projector.stats().write_failures, 2u);

  // Identical to a projection that never saw an outage.
  PgProjectionStore ref_store({.database_url = reference});
  Projector ref(log_, ref_store, Options("reference"));
  ASSERT_TRUE(ref.Start().ok());
  ASSERT_TRUE(CaughtUp(reference));
  ref.Stop();
  EXPECT_TRUE(DumpAll(url) == DumpAll(reference));
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM job_logs"), static_cast<int64_t>(events.size()));
}

// The same contract through the Kafka adapter and the dev broker: group
// assignment, OnAssigned positioning from the stored offsets, informational
// commits, and a restart that resumes where the tables say.
TEST_F(ProjectorPgTest, ProjectsFromTheDevBrokerAndResumesAfterRestart) {
  ScopedPostgres& pg = ScopedPostgres::Shared();
  std::string url = NewDatabase(pg);
  jobsched::testing::ScopedDevBroker broker({{kTopic, kPartitions}});
  auto kafka = events::KafkaEventLog::Make({.brokers = broker.bootstrap(), .extra = {}});
  ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
  auto producer = kafka.value()->NewProducer("test");
  ASSERT_TRUE(producer.ok());
  auto append = [&](const std::vector<Envelope>& events) {
    std::vector<events::Record> records;
    for (const Envelope& e : events) {
      records.push_back({.topic = kTopic, .key = e.job_id(), .value = events::Encode(e)});
    }
    Status s = producer.value()->Append(std::move(records));
    ASSERT_TRUE(s.ok()) << s.ToString();
  };
  auto stored_sum = [&] {
    return QueryInt(url, "SELECT coalesce(sum(next_offset), 0) FROM projection_offsets");
  };
  std::vector<Envelope> first, second;
  for (int j = 0; j < 20; ++j) {
    auto life = EscapingLifecycle(EventFactory(JobId(700 + j)), j);
    first.insert(first.end(), life.begin(), life.begin() + 6);
    second.insert(second.end(), life.begin() + 6, life.end());
  }
  PgProjectionStore store({.database_url = url});
  {
    Projector p(*kafka.value(), store, Options());
    ASSERT_TRUE(p.Start().ok());
    append(first);
    ASSERT_TRUE(WaitFor([&] { return stored_sum() == static_cast<int64_t>(first.size()); }, 60s));
  }
  append(second);
  {
    Projector p(*kafka.value(), store, Options());
    ASSERT_TRUE(p.Start().ok());
    const int64_t total = static_cast<int64_t>(first.size() + second.size());
    ASSERT_TRUE(WaitFor([&] { return stored_sum() == total; }, 60s));
    p.Stop();
    EXPECT_EQ(p.stats().records, second.size());
  }
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM job_logs"),
            static_cast<int64_t>(first.size() + second.size()));
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM jobs WHERE status = 'SUCCEEDED' AND version = 11"),
            20);
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM job_executions"), 40);
}

// ---------------------------------------------------------------------------
// Issue 6: leases, queues, dead letters and executors.

// RunLost / RunReleased / RunWaiting / JobRequeued of job `f`.
Envelope Lost(const EventFactory& f, TimePoint at, const std::string& run, int64_t epoch,
              const std::string& executor) {
  Envelope e = f.Base("RunLost", run + "/" + std::to_string(epoch), at);
  e.mutable_run_lost()->set_run_id(run);
  e.mutable_run_lost()->set_lease_epoch(epoch);
  e.mutable_run_lost()->set_executor_id(executor);
  e.mutable_run_lost()->set_reason("no heartbeat for 30000 ms");
  return e;
}

Envelope Waiting(const EventFactory& f, TimePoint at, const std::string& run,
                 const std::string& reason) {
  Envelope e = f.Base("RunWaiting", run + "/" + reason, at);
  e.mutable_run_waiting()->set_run_id(run);
  e.mutable_run_waiting()->set_reason(reason);
  return e;
}

Envelope Requeued(const EventFactory& f, TimePoint at) {
  Envelope e = f.Base("JobRequeued", "requeue:1", at);
  e.mutable_job_requeued()->set_reason("requested through the API");
  return e;
}

// RunDispatched to `executor` under lease `epoch`.
Envelope DispatchedTo(const EventFactory& f, TimePoint at, const std::string& run, int64_t epoch,
                      const std::string& executor) {
  Envelope e = f.Dispatched(at, run, epoch);
  e.mutable_run_dispatched()->set_executor_id(executor);
  e.mutable_run_dispatched()->set_executor_incarnation(executor + "-inc");
  return e;
}

// A late result from an old lease is a job_logs record with a clear message
// and changes no row: the job and its execution are what the events without
// it make of them. An at_most_once run lost while running ends LOST.
TEST_F(ProjectorPgTest, LateResultsFromAnOldLeaseAreRecordedAndChangeNothing) {
  ScopedPostgres& pg = ScopedPostgres::Shared();
  std::string url = NewDatabase(pg);
  EventFactory a(JobId(61)), b(JobId(62));
  const std::string run = a.RunId(1);
  std::vector<Envelope> life = {a.Submitted(T(0)),
                                a.Due(T(1), T(0), 1),
                                DispatchedTo(a, T(2), run, 1, "exec-1"),
                                a.Started(T(3), run, 1),
                                Lost(a, T(40), run, 1, "exec-1"),
                                DispatchedTo(a, T(41), run, 2, "exec-2")};
  Envelope late = a.Succeeded(T(42), run, 1);  // the zombie exec-1 reports at last
  Envelope at_most_once = b.Submitted(T(0));
  at_most_once.mutable_job_submitted()->mutable_spec()->set_execution_type(
      v1::EXECUTION_TYPE_AT_MOST_ONCE);
  std::vector<Envelope> lost = {at_most_once,
                                b.Due(T(1), T(0), 1),
                                DispatchedTo(b, T(2), b.RunId(1), 1, "exec-1"),
                                b.Started(T(3), b.RunId(1), 1),
                                Lost(b, T(40), b.RunId(1), 1, "exec-1")};
  PgProjectionStore store({.database_url = url});
  Projector projector(log_, store, Options());
  ASSERT_TRUE(projector.Start().ok());
  Append(life);
  Append(lost);
  ASSERT_TRUE(CaughtUp(url));
  const std::string ja = "'" + a.job_id() + "'";
  const std::string job_row =
      "SELECT concat_ws('|', status, version, updated_at, queued_runs, running_runs,"
      " md5(fold_state)) FROM jobs WHERE job_id = " + ja;
  const std::string execution_row =
      "SELECT concat_ws('|', status, lease_epoch, executor_id, executor_incarnation, releases,"
      " started_at IS NULL, error) FROM job_executions WHERE run_id = '" + run + "'";
  const std::string job_before = QueryText(url, job_row);
  const std::string execution_before = QueryText(url, execution_row);
  EXPECT_EQ(execution_before,
            "DISPATCHED|2|exec-2|exec-2-inc|1|t|lost: no heartbeat for 30000 ms (executor exec-1)");
  Append({late});
  ASSERT_TRUE(CaughtUp(url));
  projector.Stop();

  EXPECT_EQ(projector.stats().rejected, 1u);
  EXPECT_EQ(QueryText(url, job_row), job_before);
  EXPECT_EQ(QueryText(url, execution_row), execution_before);
  {
    pqxx::connection c(url);
    pqxx::nontransaction txn(c);
    auto r = txn.exec("SELECT fold_state FROM jobs WHERE job_id = " + ja);
    pqxx::binarystring bytes(r[0][0]);
    events::JobState state;
    ASSERT_TRUE(state.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
    EXPECT_TRUE(MessageDifferencer::Equals(state, events::FoldAll(life)));
  }
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', level, outcome, event_type, run_id, message)"
                           " FROM job_logs WHERE event_id = '" + late.event_id() + "'"),
            "warn|rejected|RunSucceeded|" + run +
                "|late result from lease 1 ignored: the run was re-dispatched under lease 2"
                " (run " + run.substr(0, 8) + " attempt 1, RunSucceeded)");
  EXPECT_EQ(QueryText(url, "SELECT string_agg(event_type || ':' || level || ':' || message, ','"
                           " ORDER BY kafka_offset) FROM job_logs WHERE job_id = " + ja +
                           " AND event_type IN ('RunDispatched', 'RunLost')"),
            "RunDispatched:info:run " + run.substr(0, 8) +
                " attempt 1 dispatched to executor exec-1 (lease epoch 1),"
                "RunLost:warn:run " + run.substr(0, 8) +
                " attempt 1 lost by executor exec-1 (lease epoch 1): no heartbeat for 30000 ms;"
                " due again under a new lease,"
                "RunDispatched:info:run " + run.substr(0, 8) +
                " attempt 1 dispatched to executor exec-2 (lease epoch 2)");
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM job_executions WHERE job_id = " + ja), 1);

  // at_most_once: lost while running, it ends LOST and is not run again.
  const std::string jb = "'" + b.job_id() + "'";
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', status, lease_epoch, executor_id, permanent,"
                           " finished_at IS NOT NULL) FROM job_executions WHERE job_id = " + jb),
            "LOST|1|exec-1|t|t");
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', level, message) FROM job_logs WHERE"
                           " event_type = 'RunLost' AND job_id = " + jb),
            "error|run " + b.RunId(1).substr(0, 8) +
                " attempt 1 lost by executor exec-1 (lease epoch 1): no heartbeat for 30000 ms;"
                " at_most_once: it had started, so it ends LOST without a rerun");
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', execution_type, queued_runs, running_runs)"
                           " FROM jobs WHERE job_id = " + jb),
            "at_most_once|0|0");
}

// jobs carries what queue statistics need (pool, queued / running /
// retrying runs, the queue reason); dead_letters follows JobDead and
// JobRequeued; the job's status follows the fold.
TEST_F(ProjectorPgTest, QueueColumnsAndDeadLetters) {
  ScopedPostgres& pg = ScopedPostgres::Shared();
  std::string url = NewDatabase(pg);
  EventFactory q(JobId(71)), d(JobId(72));
  Envelope gpu = q.Submitted(T(0), std::nullopt, 2, 8);
  auto* spec = gpu.mutable_job_submitted()->mutable_spec();
  spec->set_pool("gpu");
  (*spec->mutable_resources())["gpu_units"] = 1;
  const std::string reason = "no live executor in pool gpu has gpu_units 1 free";
  Envelope fail = d.Failed(T(3), d.RunId(1));
  fail.mutable_run_failed()->set_permanent(true);
  fail.mutable_run_failed()->set_http_status(404);
  fail.mutable_run_failed()->set_error("HTTP 404");
  fail.mutable_run_failed()->set_retry_after_ms(5000);
  Envelope dead = d.Dead(T(4), d.RunId(1));
  dead.mutable_job_dead()->set_attempts(1);
  dead.mutable_job_dead()->set_reason("permanent failure: HTTP 404");

  PgProjectionStore store({.database_url = url});
  Projector projector(log_, store, Options());
  ASSERT_TRUE(projector.Start().ok());
  Append({gpu, q.Due(T(1), T(0), 1), Waiting(q, T(2), q.RunId(1), reason)});
  Append({d.Submitted(T(0)), d.Due(T(1), T(0), 1), d.Dispatched(T(2), d.RunId(1)),
          d.Started(T(2), d.RunId(1)), fail, dead});
  ASSERT_TRUE(CaughtUp(url));
  const std::string jq = "'" + q.job_id() + "'", jd = "'" + d.job_id() + "'";
  const std::string queue_columns =
      "SELECT concat_ws('|', status, pool, priority, queued_runs, running_runs, retrying_runs,"
      " queue_reason) FROM jobs WHERE job_id = ";
  EXPECT_EQ(QueryText(url, queue_columns + jq), "QUEUED|gpu|8|1|0|0|" + reason);
  EXPECT_EQ(QueryText(url, "SELECT wait_reason FROM job_executions WHERE job_id = " + jq), reason);
  EXPECT_EQ(QueryText(url, "SELECT message FROM job_logs WHERE event_type = 'RunWaiting'"),
            "run " + q.RunId(1).substr(0, 8) + " attempt 1 waits for an executor: " + reason);
  EXPECT_EQ(QueryText(url, queue_columns + jd), "DEAD|default|5|0|0|0");
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', status, permanent, retry_after_ms)"
                           " FROM job_executions WHERE job_id = " + jd),
            "FAILED|t|5000");
  EXPECT_EQ(QueryText(url, "SELECT message FROM job_logs WHERE event_type = 'RunFailed'"),
            "run " + d.RunId(1).substr(0, 8) +
                " attempt 1 failed: HTTP 404; permanent: not retried;"
                " the target asks to retry after 5000 ms");
  const std::string letter =
      "SELECT concat_ws('|', name, type, pool, priority, last_run_id, attempts, reason,"
      " last_error, dead_at = to_timestamp(" + std::to_string(ToUnixMillis(T(4)) / 1000) +
      "), event_id, requeues, requeued_at) FROM dead_letters WHERE job_id = " + jd;
  EXPECT_EQ(QueryText(url, letter), "test job|echo|default|5|" + d.RunId(1) +
                                        "|1|permanent failure: HTTP 404|HTTP 404|t|" +
                                        dead.event_id() + "|0");  // requeued_at NULL
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM dead_letters"), 1);

  // Dispatched: the reason is gone. Requeued: the letter is marked, the job
  // RETRYING with its run waiting for the retry.
  Append({DispatchedTo(q, T(5), q.RunId(1), 1, "gpu-1"), Requeued(d, T(6))});
  ASSERT_TRUE(CaughtUp(url));
  projector.Stop();
  EXPECT_EQ(QueryText(url, queue_columns + jq), "QUEUED|gpu|8|1|0|0");  // queue_reason NULL
  EXPECT_EQ(QueryText(url, "SELECT wait_reason FROM job_executions WHERE job_id = " + jq),
            "<null>");
  EXPECT_EQ(QueryText(url, queue_columns + jd), "RETRYING|default|5|0|0|1");
  EXPECT_EQ(QueryText(url, "SELECT requeued_at = to_timestamp(" +
                               std::to_string(ToUnixMillis(T(6)) / 1000) +
                               ") FROM dead_letters WHERE job_id = " + jd),
            "t");
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', level, message) FROM job_logs"
                           " WHERE event_type = 'JobRequeued'"),
            "info|job requeued from the dead letters: 3 more attempts; requested through the API");
}

// One batch holding a death and its requeue writes the whole row, marked.
TEST_F(ProjectorPgTest, DeathAndRequeueInOneBatch) {
  ScopedPostgres& pg = ScopedPostgres::Shared();
  std::string url = NewDatabase(pg);
  EventFactory d(JobId(73));
  Append({d.Submitted(T(0)), d.Due(T(1), T(0), 1), d.Dispatched(T(2), d.RunId(1)),
          d.Started(T(2), d.RunId(1)), d.Failed(T(3), d.RunId(1)), d.Dead(T(4), d.RunId(1)),
          Requeued(d, T(5))});
  PgProjectionStore store({.database_url = url});
  Projector projector(log_, store, Options());
  ASSERT_TRUE(projector.Start().ok());
  ASSERT_TRUE(CaughtUp(url));
  projector.Stop();
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', last_run_id, requeued_at IS NOT NULL)"
                           " FROM dead_letters"),
            d.RunId(1) + "|t");
}

// The `executors` topic: the latest heartbeat of each executor, stored with
// the offsets in one transaction, resumed from them after a restart.
TEST_F(ProjectorPgTest, ExecutorsFromHeartbeats) {
  ScopedPostgres& pg = ScopedPostgres::Shared();
  std::string url = NewDatabase(pg);
  constexpr char kExecutors[] = "executors";
  ASSERT_TRUE(log_.CreateTopic(kExecutors, 4).ok());
  auto heartbeat = [](const std::string& id, int64_t at, int running) {
    v1::ExecutorHeartbeat hb;
    hb.set_executor_id(id);
    hb.set_host("host-" + id);
    hb.set_pool(id == "gpu-1" ? "gpu" : "");
    hb.set_slots(4);
    hb.set_running(running);
    (*hb.mutable_resources())["cpu"] = 8;
    (*hb.mutable_resources())["memory_mb"] = 16384;
    if (id == "gpu-1") (*hb.mutable_resources())["gpu_units"] = 1.5;
    hb.set_incarnation("inc-" + id);
    hb.set_task_partition(3);
    *hb.mutable_started_at() = ToProto(T(0));
    *hb.mutable_sent_at() = ToProto(T(at));
    for (int i = 0; i < running; ++i) {
      v1::HeldRun* run = hb.add_runs();
      run->set_run_id("run-" + std::to_string(i));
      run->set_lease_epoch(i + 1);
      run->set_started(true);
    }
    return hb;
  };
  auto append = [&](std::vector<std::pair<std::string, std::string>> records) {
    std::vector<events::Record> out;
    for (auto& [key, value] : records) {
      out.push_back({.topic = kExecutors, .key = key, .value = std::move(value)});
    }
    ASSERT_TRUE(producer_->Append(std::move(out)).ok());
  };
  auto high = [&] {
    int64_t sum = 0;
    for (int p = 0; p < 4; ++p) sum += log_.GetWatermarks({kExecutors, p})->high;
    return sum;
  };
  auto caught_up = [&] {
    const int64_t want = high();
    return WaitFor(
        [&] {
          return QueryInt(url, "SELECT coalesce(sum(next_offset), 0) FROM projection_offsets"
                               " WHERE projection = 'executors'") == want;
        },
        30s, 50ms);
  };
  v1::ExecutorHeartbeat stopping = heartbeat("exec-b", 5, 0);
  stopping.set_stopping(true);
  append({{"exec-a", events::Encode(heartbeat("exec-a", 1, 0))},
          {"gpu-1", events::Encode(heartbeat("gpu-1", 1, 0))},
          {"exec-a", events::Encode(heartbeat("exec-a", 2, 2))},  // the latest wins
          {"exec-b", events::Encode(stopping)},
          {"exec-c", events::Encode(heartbeat("exec-c", 1, 0))},
          {"exec-c", ""},  // tombstone: compacted away
          {"junk", "not a heartbeat"}});
  PgProjectionStore store({.database_url = url});
  ExecutorProjectorOptions o;
  o.topic = kExecutors;
  o.retry_backoff_initial = 20ms;
  o.retry_backoff_max = 200ms;
  {
    ExecutorProjector projector(log_, store, o);
    ASSERT_TRUE(projector.Start().ok());
    ASSERT_TRUE(caught_up());
    projector.Stop();
    EXPECT_EQ(projector.stats().records, 7u);
    EXPECT_EQ(projector.stats().undecodable, 1u);
  }
  EXPECT_EQ(QueryText(url, "SELECT string_agg(executor_id, ',' ORDER BY executor_id)"
                           " FROM executors"),
            "exec-a,exec-b,gpu-1");
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', host, pool, slots, resources::text, running,"
                           " held_runs, runs::text, incarnation, task_partition, started_at ="
                           " to_timestamp(" + std::to_string(ToUnixMillis(T(0)) / 1000) +
                           "), last_heartbeat = to_timestamp(" +
                           std::to_string(ToUnixMillis(T(2)) / 1000) +
                           "), stopping) FROM executors WHERE executor_id = 'exec-a'"),
            "host-exec-a|default|4|{\"cpu\": 8, \"memory_mb\": 16384}|2|2|"
            "[{\"run_id\": \"run-0\", \"started\": true, \"lease_epoch\": 1}, "
            "{\"run_id\": \"run-1\", \"started\": true, \"lease_epoch\": 2}]|inc-exec-a|3|t|t|f");
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', pool, resources->>'gpu_units') FROM executors"
                           " WHERE executor_id = 'gpu-1'"),
            "gpu|1.5");
  EXPECT_EQ(QueryText(url, "SELECT stopping FROM executors WHERE executor_id = 'exec-b'"), "t");

  // A restart reads only what is new.
  append({{"gpu-1", events::Encode(heartbeat("gpu-1", 9, 1))}});
  {
    ExecutorProjector projector(log_, store, o);
    ASSERT_TRUE(projector.Start().ok());
    ASSERT_TRUE(caught_up());
    projector.Stop();
    EXPECT_EQ(projector.stats().records, 1u);
  }
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', running, held_runs) FROM executors"
                           " WHERE executor_id = 'gpu-1'"),
            "1|1");
}

// ---------------------------------------------------------------------------
// The write path: binary COPY, rows copied straight into their tables when
// they cannot exist yet, the rest merged.

// A job_logs row for `e` at `offset` of partition 0, as the projector builds it.
JobLogRow LogRow(const Envelope& e, int64_t offset, const std::string& message) {
  JobLogRow row;
  row.event_id = e.event_id();
  row.job_id = e.job_id();
  row.run_id = std::string(events::RunIdOf(e));
  row.ts = e.occurred_at();
  row.level = "info";
  row.event_type = std::string(events::EventType(e));
  row.outcome = "applied";
  row.message = message;
  row.producer = e.producer();
  row.fields_json = JsonbText(e);
  row.topic = kTopic;
  row.partition = 0;
  row.offset = offset;
  row.envelope = events::Encode(e);
  return row;
}

// Values at the edges of what the columns hold are stored as the text path
// stored them: times clamped to years 1..9999 and cut to microseconds, NUL
// characters as U+FFFD, empty and non-UUID values as NULL, ids in any case.
TEST_F(ProjectorPgTest, StoresEdgeValuesExactly) {
  ScopedPostgres& pg = ScopedPostgres::Shared();
  std::string url = NewDatabase(pg);
  PgProjectionStore store({.database_url = url});
  const std::string upper = "ABCDEF00-0000-4000-8000-0000000000AA";
  EventFactory f(upper);
  std::vector<Envelope> life = {f.Submitted(T(0)), f.Due(T(1), T(0), 1)};
  events::JobState state = events::FoldAll(life);
  state.mutable_spec()->set_name(std::string("n\0me", 4));
  state.mutable_spec()->mutable_run_at()->set_seconds(-100'000'000'000);  // before year 1
  state.mutable_next_fire_at()->set_seconds(int64_t{1} << 50);            // after 9999
  state.mutable_updated_at()->set_nanos(123'456'789);
  ASSERT_EQ(state.runs_size(), 1);
  v1::RunRecord run = state.runs(0);
  run.set_output(std::string("o\0k", 3));
  run.set_fire_id("not-a-uuid");
  ProjectionBatch batch;
  batch.projection = "jobs";
  batch.topic = kTopic;
  batch.jobs = {state};
  batch.new_jobs = {true};
  batch.executions = {{upper, run, /*created=*/true}};
  JobLogRow row = LogRow(life[1], 0, std::string("m\0sg", 4));
  row.run_id = "not-a-uuid";
  row.fields_json = "{\"a\":\"x\\u0000y\",\"b\":[1.50,\"\\\\u0000\"]}";
  row.envelope = std::string("\0\xff\x01", 3);
  row.scheduled_for.set_seconds(1);
  row.scheduled_for.set_nanos(999);  // below a microsecond
  batch.logs = {row};
  batch.offsets = {{0, std::nullopt, 1}};
  Status s = store.Write(batch);
  ASSERT_TRUE(s.ok()) << s.ToString();

  const std::string lower = "abcdef00-0000-4000-8000-0000000000aa";
  auto utc = [](const std::string& column) {
    return "(" + column + " AT TIME ZONE 'UTC')::text";
  };
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', job_id, name, " + utc("run_at") + ", " +
                               utc("next_fire_at") + ", " + utc("updated_at") + ") FROM jobs"),
            lower + "|n\xEF\xBF\xBDme|0001-01-01 00:00:00|9999-12-31 23:59:59|"
                    "2027-01-15 08:00:01.123456");
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', run_id, job_id, output, fire_id IS NULL,"
                           " http_status IS NULL, retry_after_ms IS NULL) FROM job_executions"),
            f.RunId(1) + "|" + lower + "|o\xEF\xBF\xBDk|t|t|t");
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', job_id, run_id IS NULL, message, fields::text,"
                           " encode(envelope, 'hex'), " + utc("scheduled_for") +
                           ", scheduled_until IS NULL) FROM job_logs"),
            lower + "|t|m\xEF\xBF\xBDsg|{\"a\": \"x\xEF\xBF\xBDy\", \"b\": [1.50, \"\\\\u0000\"]}|"
                    "00ff01|1970-01-01 00:00:01|t");
}

// The hints that a row cannot exist yet (new_jobs, ExecutionRow::created)
// and the copy of every record straight into job_logs are only shortcuts: a
// batch that meets rows already there is merged, with the text path's result.
TEST_F(ProjectorPgTest, RowsAlreadyThereAreMergedWhateverTheHints) {
  ScopedPostgres& pg = ScopedPostgres::Shared();
  std::string url = NewDatabase(pg);
  PgProjectionStore store({.database_url = url});
  EventFactory f(JobId(31));
  std::vector<Envelope> life = jobsched::testing::Lifecycle(f);
  auto batch_of = [&](size_t applied, std::optional<int64_t> expected, int64_t first_log,
                      int64_t next, const std::string& message) {
    events::JobState state =
        events::FoldAll(std::vector<Envelope>(life.begin(), life.begin() + applied));
    ProjectionBatch b;
    b.projection = "jobs";
    b.topic = kTopic;
    b.jobs = {state};
    b.new_jobs = {true};  // wrong from the second batch on
    b.executions = {{f.job_id(), state.runs(0), /*created=*/true}};
    for (int64_t o = first_log; o < next; ++o) b.logs.push_back(LogRow(life[o], o, message));
    b.offsets = {{0, expected, next}};
    return b;
  };
  Status s = store.Write(batch_of(2, std::nullopt, 0, 2, "first"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  // Records 0 and 1 again (projected over their rows), with wrong hints.
  s = store.Write(batch_of(4, 2, 0, 4, "second"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', version, status) FROM jobs"), "4|RUNNING");
  EXPECT_EQ(QueryText(url, "SELECT status FROM job_executions"), "RUNNING");
  EXPECT_EQ(QueryText(url, "SELECT string_agg(kafka_offset || ':' || message, ','"
                           " ORDER BY kafka_offset) FROM job_logs"),
            "0:first,1:first,2:second,3:second");
  // Fresh records go straight in again.
  s = store.Write(batch_of(6, 4, 4, 6, "third"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM job_logs"), 6);
  EXPECT_EQ(QueryText(url, "SELECT concat_ws('|', version, attempts) FROM jobs"), "6|1");
}

// job_logs.fields holds the value events::ToJson gives (JsonbText is only faster).
TEST_F(ProjectorPgTest, LogFieldsAreToJsonsValue) {
  ScopedPostgres& pg = ScopedPostgres::Shared();
  std::string url = NewDatabase(pg);
  EventFactory a(JobId(41));
  std::vector<Envelope> life = EscapingLifecycle(a);
  Envelope submitted = a.Submitted(T(0));
  auto* spec = submitted.mutable_job_submitted()->mutable_spec();
  (*spec->mutable_resources())["cpu"] = 0.1;
  (*spec->mutable_resources())["memory_mb"] = 8192;
  spec->set_payload_json(std::string("{\"x\":\"\0\"}", 9));
  life[0] = submitted;
  PgProjectionStore store({.database_url = url});
  Projector projector(log_, store, Options());
  ASSERT_TRUE(projector.Start().ok());
  Append(life);
  ASSERT_TRUE(CaughtUp(url));
  projector.Stop();
  pqxx::connection c(url);
  pqxx::nontransaction txn(c);
  for (const Envelope& e : life) {
    auto r = txn.exec_params(
        "SELECT fields::text = $2::jsonb::text FROM job_logs WHERE event_id = $1",
        e.event_id(), internal::PgJson(events::ToJson(e)));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(r[0][0].as<bool>()) << events::EventType(e);
  }
}

// Measures a full rebuild: 4,000 jobs × 11 events through PgProjectionStore.
TEST_F(ProjectorPgTest, Throughput) {
  ScopedPostgres& pg = ScopedPostgres::Shared();
  std::string url = NewDatabase(pg);
  std::vector<Envelope> events;
  constexpr int kJobs = 4000;
  for (int i = 0; i < 11; ++i) {
    for (int j = 0; j < kJobs; ++j) {
      // Built per job and index: interleaved as on a busy topic.
      static std::vector<std::vector<Envelope>> lives;
      if (lives.size() < static_cast<size_t>(kJobs)) lives.resize(kJobs);
      if (lives[j].empty()) lives[j] = EscapingLifecycle(EventFactory(JobId(10000 + j)), j);
      events.push_back(lives[j][i]);
    }
  }
  Append(events);
  PgProjectionStore store({.database_url = url});
  Projector projector(log_, store, Options());
  const double cpu_start = jobsched::testing::SelfCpuSeconds();
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(projector.Start().ok());
  ASSERT_TRUE(CaughtUp(url, 300s));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // CPU used by the projector process and by its PostgreSQL backend: on a busy
  // machine wall time says little, CPU per event says what an idle one does.
  const double client_cpu = jobsched::testing::SelfCpuSeconds() - cpu_start;
  const double server_cpu = jobsched::testing::BackendCpuSeconds(url, "jobsched-projector");
  projector.Stop();
  double rate = events.size() / secs;
  std::printf(
      "[ projector ] %zu events in %.2f s = %.0f events/s wall (%llu batches, last %lld ms);"
      " CPU: projector %.2f s, PostgreSQL backends %.2f s\n",
      events.size(), secs, rate, static_cast<unsigned long long>(projector.stats().batches),
      static_cast<long long>(projector.stats().last_batch_ms), client_cpu, server_cpu);
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM job_logs"), static_cast<int64_t>(events.size()));
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM jobs WHERE status = 'SUCCEEDED'"), kJobs);
  // No bound on the rate: a test that fails on a stopwatch is flaky on shared
  // machines; the printed figures are the measurement.
}

}  // namespace
}  // namespace jobsched::projections
