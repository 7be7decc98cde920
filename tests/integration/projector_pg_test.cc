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
#include "projections/migrations.h"
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

double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// CPU time of the server processes serving the connections named `application`.
double BackendCpuSeconds(const std::string& url, const std::string& application) {
  pqxx::connection c(url);
  pqxx::nontransaction txn(c);
  auto r = txn.exec_params("SELECT pid FROM pg_stat_activity WHERE application_name = $1",
                           application);
  long ticks = 0;
  for (const auto& row : r) {
    std::string stat = jobsched::testing::ReadFile("/proc/" + row[0].as<std::string>() + "/stat");
    if (stat.empty()) continue;
    std::istringstream in(stat.substr(stat.rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= 15 && in >> field; ++i) {
      if (i == 14 || i == 15) ticks += std::stol(field);  // utime, stime
    }
  }
  return static_cast<double>(ticks) / sysconf(_SC_CLK_TCK);
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
    std::string name = std::string("proj_") + info->name() + suffix;
    for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '_';
    std::string url = pg.CreateDatabase(name);
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
  const double cpu_start = ProcessCpuSeconds();
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(projector.Start().ok());
  ASSERT_TRUE(CaughtUp(url, 300s));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // CPU used by the projector process and by its PostgreSQL backend: on a busy
  // machine wall time says little, CPU per event says what an idle one does.
  const double client_cpu = ProcessCpuSeconds() - cpu_start;
  const double server_cpu = BackendCpuSeconds(url, "jobsched-projector");
  projector.Stop();
  double rate = events.size() / secs;
  std::printf(
      "[ projector ] %zu events in %.2f s = %.0f events/s wall (%llu batches, last %lld ms);"
      " CPU: projector %.2f s, PostgreSQL backends %.2f s\n",
      events.size(), secs, rate, static_cast<unsigned long long>(projector.stats().batches),
      static_cast<long long>(projector.stats().last_batch_ms), client_cpu, server_cpu);
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM job_logs"), static_cast<int64_t>(events.size()));
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM jobs WHERE status = 'SUCCEEDED'"), kJobs);
  EXPECT_GT(rate, 2000);  // loose for busy machines; the printed rate is the measurement
}

}  // namespace
}  // namespace jobsched::projections
