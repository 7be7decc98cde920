// Recurring jobs end to end: every service a separate process, the dev broker
// and PostgreSQL over TCP. The scheduler is killed with SIGKILL while jobs fire
// every second: no fire runs twice, and every slot is either run or on the
// record as skipped (misfire policy fire_once), also after retention dropped
// a job's JobSubmitted from its partition (recovery from the snapshot).
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <pqxx/pqxx>
#include <set>

#include "events/envelope.h"
#include "events/ids.h"
#include "events/kafka_event_log.h"
#include "events/memory_event_log.h"
#include "events/topics.h"
#include "services/common/logging.h"
#include "services/common/snapshot_store.h"
#include "tests/e2e/local_system.h"
#include "tests/support/test_http_server.h"
#include "tests/support/wait.h"

namespace jobsched::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kPartitions = 12;

std::string Submit(const LocalSystem& system, const json& spec) {
  ApiReply r = system.Api("POST", "/api/v1/jobs", spec);
  EXPECT_EQ(r.status, 201) << r.body.dump();
  EXPECT_EQ(r.body.value("status", ""), "ACTIVE") << r.body.dump();
  return r.body.value("job_id", "");
}

int64_t QueryInt(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  return tx.exec(sql)[0][0].as<int64_t>();
}

// What happened to a job's slots, from the projections.
struct Slots {
  std::map<int64_t, int> fired;  // scheduled_for (unix s) -> RunDue attempt 1 applied
  std::map<int64_t, int> started;               // scheduled_for -> executions that started
  std::vector<std::pair<int64_t, int64_t>> skipped;  // FireSkipped ranges (unix s)
  std::vector<int64_t> skip_counts;
};

Slots SlotsOf(const std::string& url, const std::string& job_id) {
  Slots s;
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  for (const auto& row : tx.exec_params(
           "SELECT extract(epoch FROM scheduled_for)::bigint, started_at IS NOT NULL "
           "FROM job_executions WHERE job_id = $1::uuid AND attempt = 1",
           job_id)) {
    ++s.fired[row[0].as<int64_t>()];
    if (row[1].as<bool>()) ++s.started[row[0].as<int64_t>()];
  }
  for (const auto& row :
       tx.exec_params("SELECT extract(epoch FROM scheduled_for)::bigint, "
                      "extract(epoch FROM scheduled_until)::bigint, "
                      "(fields->'fire_skipped'->>'count')::bigint "
                      "FROM job_logs WHERE job_id = $1::uuid AND event_type = 'FireSkipped' "
                      "AND outcome = 'applied' ORDER BY kafka_offset",
                      job_id)) {
    s.skipped.emplace_back(row[0].as<int64_t>(), row[1].as<int64_t>());
    s.skip_counts.push_back(row[2].as<int64_t>());
  }
  return s;
}

// Every second from the first fire to the last is fired once or skipped
// once, and no fire ran twice.
void ExpectEverySlotAccountedOnce(const Slots& s, const std::string& job_id) {
  ASSERT_FALSE(s.fired.empty()) << job_id;
  std::map<int64_t, int> seen = s.fired;
  for (size_t i = 0; i < s.skipped.size(); ++i) {
    auto [a, b] = s.skipped[i];
    EXPECT_EQ(b - a + 1, s.skip_counts[i]) << job_id << ": a skip record's count";
    for (int64_t t = a; t <= b; ++t) ++seen[t];
  }
  for (int64_t t = s.fired.begin()->first; t <= s.fired.rbegin()->first; ++t) {
    EXPECT_EQ(seen[t], 1) << job_id << ": slot " << t << " fired or skipped "
                          << seen[t] << " times";
  }
  for (const auto& [t, n] : s.started) EXPECT_EQ(n, 1) << job_id << ": slot " << t;
}

class RecurringEndToEndTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure() && system_) std::cerr << system_->LogTails();
  }
  std::unique_ptr<LocalSystem> system_;
};

// ARCHITECTURE: "a restart after retention expired forgets no job": the
// scheduler recovers from its snapshot, not from the (truncated) partition.
TEST_F(RecurringEndToEndTest, EverySecondJobFiresOncePerSlotAcrossAKillAfterRetention) {
  LocalSystemOptions o;
  o.partitions = kPartitions;
  o.extra_env = {{"JOBSCHED_SNAPSHOT_INTERVAL_MS", "500"}};
  system_ = std::make_unique<LocalSystem>(o);
  std::string job = Submit(*system_, {{"schedule", "* * * * * *"}, {"type", "echo"}});
  ASSERT_FALSE(job.empty());
  const std::string& url = system_->database_url();
  ASSERT_TRUE(WaitFor([&] { return SlotsOf(url, job).started.size() >= 3; }, seconds(60)));

  // Where the job's JobSubmitted sits, and a scheduler snapshot past it.
  const int32_t partition = events::PartitionForKey(job, kPartitions);
  const int64_t submitted_at = QueryInt(
      url, "SELECT kafka_offset FROM job_logs WHERE job_id = '" + job +
               "' AND event_type = 'JobSubmitted'");
  auto log = events::KafkaEventLog::Make({system_->bootstrap(), {}});
  ASSERT_TRUE(log.ok());
  auto producer = std::move(log.value()->NewProducer("flood")).value();
  services::SnapshotStore snapshots(*log.value(), *producer, events::Topics().scheduler_snapshots,
                                    "scheduler", services::GetLogger("e2e"));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = snapshots.ReadLatest(partition);
        return s.ok() && s->has_value() && (*s)->next_offset() > submitted_at;
      },
      seconds(30)));

  // Push the JobSubmitted out of the broker's memory (~5 MiB per partition)
  // with harmless records for a job that does not exist, on the same
  // partition. Random text: the producer compresses, so repeated bytes
  // would take no room.
  std::string filler_job;
  for (int i = 0; filler_job.empty(); ++i) {
    std::string id = DeterministicId({"filler", std::to_string(i)});
    if (events::PartitionForKey(id, kPartitions) == partition) filler_job = id;
  }
  events::ConsumerOptions watch;
  watch.topics = {events::Topics().job_events};
  watch.partitions = {{events::Topics().job_events, partition}};
  watch.client_id = "e2e-watermarks";
  auto consumer = std::move(log.value()->NewConsumer(watch)).value();
  auto low = [&] {
    auto wm = consumer->QueryWatermarks({events::Topics().job_events, partition}, seconds(10));
    return wm.ok() ? wm->low : -1;
  };
  std::mt19937_64 rng(7);
  const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64 && low() <= submitted_at; ++i) {
    std::string noise(512 * 1024, ' ');
    for (char& c : noise) c = kAlphabet[rng() % 64];
    events::Envelope e = events::MakeEnvelope(
        ids::EventId("CancelRequested", filler_job, std::to_string(i)), filler_job,
        {"e2e", SystemClock::Instance().Now(), "flood", ""});
    e.mutable_cancel_requested()->set_reason(std::move(noise));
    ASSERT_TRUE(
        producer->Append({{events::Topics().job_events, filler_job, events::Encode(e)}}).ok());
  }
  const int64_t retained_from = low();
  ASSERT_GT(retained_from, submitted_at) << "the JobSubmitted is still retained";
  // The scheduler snapshots every MiB of log (JOBSCHED_SNAPSHOT_EVERY_BYTES):
  // await one that covers what retention dropped, or the restart would lose
  // events whatever the design (the README's retention rule).
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = snapshots.ReadLatest(partition);
        return s.ok() && s->has_value() && (*s)->next_offset() >= retained_from;
      },
      seconds(30)));

  system_->Kill("scheduler");
  const int64_t killed_at = ToUnixMillis(SystemClock::Instance().Now()) / 1000;
  system_->Start("scheduler");
  // It fires again, after the restart, from the snapshot.
  ASSERT_TRUE(WaitFor(
      [&] {
        Slots s = SlotsOf(url, job);
        return !s.started.empty() && s.started.rbegin()->first > killed_at + 3;
      },
      seconds(60)));
  Slots s = SlotsOf(url, job);
  ExpectEverySlotAccountedOnce(s, job);
  EXPECT_NE(system_->LogTails().find("partition restored from snapshot"), std::string::npos);
}

TEST_F(RecurringEndToEndTest, HundredEverySecondJobsLoseNoSlotAndRunNoneTwiceAcrossAKill) {
  LocalSystemOptions o;
  o.partitions = kPartitions;
  o.executor_slots = 64;
  system_ = std::make_unique<LocalSystem>(o);
  TestHttpServer target;
  std::vector<std::string> jobs;
  for (int i = 0; i < 100; ++i) {
    jobs.push_back(
        Submit(*system_, {{"schedule", "* * * * * *"},
                          {"http", {{"url", target.url("/tick/" + std::to_string(i))}}}}));
    ASSERT_FALSE(jobs.back().empty());
  }
  const std::string& url = system_->database_url();
  auto started_since = [&](int64_t t) {
    return QueryInt(url, "SELECT count(DISTINCT job_id) FROM job_executions WHERE started_at > "
                         "to_timestamp(" + std::to_string(t) + ")");
  };
  int64_t t0 = ToUnixMillis(SystemClock::Instance().Now()) / 1000;
  ASSERT_TRUE(WaitFor([&] { return started_since(t0 + 2) == 100; }, seconds(60)));

  system_->Kill("scheduler");
  const int64_t killed_at = ToUnixMillis(SystemClock::Instance().Now()) / 1000;
  system_->Start("scheduler");
  ASSERT_TRUE(WaitFor([&] { return started_since(killed_at + 3) == 100; }, seconds(90)));

  int64_t misfire_skips = 0;
  for (const std::string& job : jobs) {
    Slots s = SlotsOf(url, job);
    ExpectEverySlotAccountedOnce(s, job);
    misfire_skips += static_cast<int64_t>(s.skipped.size());
  }
  EXPECT_GT(misfire_skips, 0) << "the kill left slots to the misfire policy";
  // Side effects: every request the target saw carried a distinct run id.
  std::map<std::string, int> per_run;
  for (const auto& r : target.requests()) ++per_run[r.headers.at("idempotency-key")];
  for (const auto& [run, n] : per_run) EXPECT_EQ(n, 1) << "run " << run << " called twice";
}

}  // namespace
}  // namespace jobsched::testing
