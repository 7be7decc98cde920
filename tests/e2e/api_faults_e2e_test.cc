// The API under faults, end to end (every service a process, the dev broker
// and PostgreSQL over TCP): a client's own writes are visible at once,
// duplicate submissions make one job, a broker outage fails submissions fast
// without appending them, and a PostgreSQL outage stops reads but not
// submissions.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "events/ids.h"
#include "events/kafka_event_log.h"
#include "events/time.h"
#include "events/topics.h"
#include "tests/e2e/local_system.h"
#include "tests/support/http_client.h"
#include "tests/support/wait.h"

namespace jobsched::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

constexpr int kPartitions = 12;

json EchoJob(const std::string& name) {
  return {{"name", name}, {"type", "echo"}, {"payload", {{"name", name}}}};
}

struct Reply {
  long status = 0;
  json body;
  milliseconds took{0};
};

// POST /api/v1/jobs with an Idempotency-Key; a transport failure is status 0.
Reply Submit(const LocalSystem& system, const json& spec, const std::string& key,
             long timeout_ms = 10000) {
  std::vector<std::string> headers = {"Content-Type: application/json"};
  if (!key.empty()) headers.push_back("Idempotency-Key: " + key);
  Reply reply;
  const auto t0 = SteadyClock::now();
  try {
    HttpResponse r =
        HttpRequest("POST", system.ApiUrl("/api/v1/jobs"), spec.dump(), headers, timeout_ms);
    reply.status = r.status;
    reply.body = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  } catch (const std::exception& e) {
    reply.body = {{"transport_error", e.what()}};
  }
  reply.took = std::chrono::duration_cast<milliseconds>(SteadyClock::now() - t0);
  return reply;
}

int64_t QueryInt(const std::string& url, const std::string& sql, const std::string& job_id) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  return tx.exec_params(sql, job_id)[0][0].as<int64_t>();
}

// Every key in job-events, read from the start of each partition to its end.
std::set<std::string> KeysInLog(const std::string& bootstrap) {
  events::KafkaConfig config;
  config.brokers = bootstrap;
  auto log = events::KafkaEventLog::Make(config);
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  if (!log.ok()) return {};
  events::ConsumerOptions options;
  options.topics = {events::Topics().job_events};
  options.client_id = "api-faults-e2e-reader";
  auto consumer = log.value()->NewConsumer(options);
  EXPECT_TRUE(consumer.ok()) << consumer.status().ToString();
  if (!consumer.ok()) return {};
  std::vector<events::TopicPartition> parts;
  for (int p = 0; p < kPartitions; ++p) parts.push_back({events::Topics().job_events, p});
  auto marks = consumer.value()->QueryWatermarks(parts, seconds(10));
  EXPECT_TRUE(marks.ok()) << marks.status().ToString();
  if (!marks.ok()) return {};
  std::map<int32_t, int64_t> next;  // partition -> next offset to see
  std::set<std::string> keys;
  auto done = [&] {
    for (const auto& [tp, w] : marks.value()) {
      if (next.count(tp.partition) ? next[tp.partition] < w.high : w.high > w.low) return false;
    }
    return true;
  };
  const auto deadline = SteadyClock::now() + seconds(30);
  while (!done() && SteadyClock::now() < deadline) {
    for (const events::Record& r : consumer.value()->Poll(1000, milliseconds(200))) {
      keys.insert(r.key);
      next[r.partition] = r.offset + 1;
    }
  }
  EXPECT_TRUE(done()) << "job-events was not read to its end";
  consumer.value()->Close();
  return keys;
}

bool KafkaReported(const LocalSystem& system, const std::string& state) {
  try {
    HttpResponse h = HttpRequest("GET", system.ApiUrl("/health"), "", {}, 2000);
    return json::parse(h.body, nullptr, false).value("kafka", "") == state;
  } catch (const std::exception&) {
    return false;
  }
}

class ApiFaultsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure() && system_) std::cerr << system_->LogTails();
  }

  std::unique_ptr<LocalSystem> system_ = std::make_unique<LocalSystem>();
};

// A client's command right after the 201 finds its job, every time (no 404
// "may take a moment to appear"), and the cancel takes effect. The jobs wait
// an hour, so the cancel meets a job that is still waiting (scheduler only).
TEST_F(ApiFaultsTest, CancelAtOnceAfterTheAnswerNeverMisses) {
  const LocalSystem& system = *system_;
  std::vector<std::string> ids;
  std::vector<std::string> misses;
  for (int i = 0; i < 100; ++i) {
    json spec = EchoJob("later-" + std::to_string(i));
    spec["run_at"] = FormatRfc3339(SystemClock::Instance().Now() + std::chrono::hours(1));
    ApiReply created = system.Api("POST", "/api/v1/jobs", spec);
    ASSERT_EQ(created.status, 201) << created.body.dump();
    const std::string id = created.body["job_id"];
    ids.push_back(id);
    ApiReply got = system.Api("GET", "/api/v1/jobs/" + id);
    if (got.status != 200) misses.push_back("GET " + id + ": " + got.body.dump());
    ApiReply cancel = system.Api("POST", "/api/v1/jobs/" + id + "/cancel");
    if (cancel.status != 202) misses.push_back("cancel " + id + ": " + cancel.body.dump());
    ApiReply after = system.Api("GET", "/api/v1/jobs/" + id);
    if (after.status != 200 || after.body["cancel_requested"] != true) {
      misses.push_back("GET after cancel " + id + ": " + after.body.dump());
    }
  }
  EXPECT_TRUE(misses.empty()) << misses.size() << " misses; first: " << misses.front();
  for (const std::string& id : ids) {
    EXPECT_EQ(AwaitJobStatus(system, id, "CANCELED", seconds(60)).value("status", ""), "CANCELED")
        << id;
  }
}

// 100 submissions with one key at once: one 201, 99 409s with the job, one
// JobSubmitted in the log, one run. (Needs executors to run the job.)
TEST_F(ApiFaultsTest, ConcurrentDuplicateSubmissionsMakeOneJobThatRunsOnce) {
  const LocalSystem& system = *system_;
  constexpr int kRequests = 100;
  std::vector<std::future<Reply>> calls;
  for (int i = 0; i < kRequests; ++i) {
    calls.push_back(std::async(std::launch::async, [&system, i] {
      json spec = EchoJob("dup");
      spec["priority"] = i % 10;  // the bodies differ; the key decides
      return Submit(system, spec, "dup-key");
    }));
  }
  const std::string id = ids::JobIdForIdempotencyKey("dup-key");
  int created = 0;
  int duplicates = 0;
  for (auto& call : calls) {
    Reply r = call.get();
    if (r.status == 201) {
      ++created;
      EXPECT_EQ(r.body.value("job_id", ""), id);
    } else {
      EXPECT_EQ(r.status, 409) << r.body.dump();
      EXPECT_EQ(r.body["error"].value("code", ""), "duplicate_idempotency_key") << r.body.dump();
      EXPECT_EQ(r.body["job"].value("job_id", ""), id) << r.body.dump();
      ++duplicates;
    }
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(duplicates, kRequests - 1);

  json job = AwaitJobStatus(system, id, "SUCCEEDED", seconds(90));
  ASSERT_EQ(job.value("status", ""), "SUCCEEDED") << job.dump();
  const std::string& db = system.database_url();
  EXPECT_EQ(QueryInt(db,
                     "SELECT count(*) FROM job_logs WHERE job_id = $1::uuid"
                     " AND event_type = 'JobSubmitted'",
                     id),
            1);
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM job_executions WHERE job_id = $1::uuid", id), 1);
  EXPECT_EQ(QueryInt(db,
                     "SELECT count(*) FROM job_logs WHERE job_id = $1::uuid"
                     " AND event_type = 'RunSucceeded' AND outcome = 'applied'",
                     id),
            1)
      << "the job ran once";
}

// The dev broker down for 10 s: submissions meanwhile answer 503 within a
// second and are not appended, ever; everything accepted before completes,
// and submissions work again soon after the broker is back. (The completion
// part needs executors.)
TEST_F(ApiFaultsTest, BrokerDownFailsSubmissionsFastAndLosesNothingAccepted) {
  LocalSystem& system = *system_;
  std::vector<std::string> before;
  for (int i = 0; i < 20; ++i) {
    Reply r = Submit(system, EchoJob("before-" + std::to_string(i)), "before-" + std::to_string(i));
    ASSERT_EQ(r.status, 201) << r.body.dump();
    before.push_back(r.body["job_id"]);
  }
  // Projected before the outage, so reads during it need no Kafka at all.
  ASSERT_TRUE(WaitFor(
      [&] {
        pqxx::connection c(system.database_url());
        pqxx::nontransaction tx(c);
        int64_t rows = 0;
        for (const std::string& id : before) {
          rows += tx.exec_params("SELECT count(*) FROM jobs WHERE job_id = $1::uuid", id)[0][0]
                      .as<int64_t>();
        }
        return rows == static_cast<int64_t>(before.size());
      },
      seconds(30)));

  const auto down_at = SteadyClock::now();
  system.broker().Control("down -1");
  // The API's producer notices at once (its connections close).
  ASSERT_TRUE(WaitFor([&] { return KafkaReported(system, "down"); }, seconds(15)))
      << "the API did not notice the broker going down";
  // kafka_unavailable (not append_unconfirmed, which comes only after the 5 s
  // append deadline) is the answer of the path that hands nothing to the
  // producer: that, not a stopwatch, is what the test asserts. How fast it
  // answered is printed.
  std::vector<std::string> refused_keys;
  milliseconds slowest{0};
  int submitted = 0;
  while (SteadyClock::now() - down_at < seconds(10) || submitted < 20) {
    const std::string key = "during-" + std::to_string(submitted++);
    Reply r = Submit(system, EchoJob(key), key, 5000);
    EXPECT_EQ(r.status, 503) << key << ": " << r.body.dump();
    EXPECT_EQ(r.body["error"].value("code", ""), "kafka_unavailable") << r.body.dump();
    slowest = std::max(slowest, r.took);
    refused_keys.push_back(key);
    // Reads do not need Kafka.
    EXPECT_EQ(system.Api("GET", "/api/v1/jobs/" + before[0]).status, 200);
    std::this_thread::sleep_for(milliseconds(200));  // pacing the client, not awaiting a state
  }
  std::cerr << submitted << " submissions refused while the broker was down, the slowest in "
            << slowest.count() << " ms\n";

  system.broker().Control("up -1");
  const auto up_at = SteadyClock::now();
  ASSERT_TRUE(WaitFor([&] { return KafkaReported(system, "ok"); }, seconds(15)))
      << "the API did not notice the broker coming back";
  std::cerr << "API saw the broker back after "
            << std::chrono::duration_cast<milliseconds>(SteadyClock::now() - up_at).count()
            << " ms\n";
  Reply after = Submit(system, EchoJob("after"), "after");
  ASSERT_EQ(after.status, 201) << after.body.dump();

  for (const std::string& id : before) {
    EXPECT_EQ(AwaitJobStatus(system, id, "SUCCEEDED", seconds(120)).value("status", ""),
              "SUCCEEDED")
        << id;
  }
  EXPECT_EQ(
      AwaitJobStatus(system, after.body["job_id"], "SUCCEEDED", seconds(60)).value("status", ""),
      "SUCCEEDED");
  // None of the refused submissions reached the log, even late.
  std::set<std::string> keys = KeysInLog(system.bootstrap());
  EXPECT_TRUE(keys.count(after.body["job_id"].get<std::string>()));
  for (const std::string& key : refused_keys) {
    const std::string id = ids::JobIdForIdempotencyKey(key);
    EXPECT_FALSE(keys.count(id)) << key << " was appended after its 503";
    EXPECT_EQ(system.Api("GET", "/api/v1/jobs/" + id).status, 404) << key;
  }
}

// PostgreSQL down: submissions are still accepted (with or without a key),
// reads answer 503; after the restart the first reads succeed and the
// projector catches up with what was accepted meanwhile.
TEST_F(ApiFaultsTest, PostgresDownStillAcceptsSubmissionsAndCatchesUp) {
  LocalSystem& system = *system_;
  Reply earlier = Submit(system, EchoJob("earlier"), "");
  ASSERT_EQ(earlier.status, 201) << earlier.body.dump();
  const std::string earlier_id = earlier.body["job_id"];
  ASSERT_EQ(AwaitJobStatus(system, earlier_id, "PENDING", seconds(30)).value("job_id", ""),
            earlier_id);

  system.postgres().StopServer();
  std::vector<std::string> accepted;
  for (int i = 0; i < 10; ++i) {
    const std::string key = i % 2 == 0 ? "pg-down-" + std::to_string(i) : "";
    Reply r = Submit(system, EchoJob("pg-down-" + std::to_string(i)), key);
    EXPECT_EQ(r.status, 201) << r.body.dump();
    if (r.status == 201) accepted.push_back(r.body["job_id"]);
  }
  for (const std::string& path :
       {"/api/v1/jobs/" + earlier_id, "/api/v1/jobs/" + accepted[0], std::string("/api/v1/jobs")}) {
    ApiReply r = system.Api("GET", path);
    EXPECT_EQ(r.status, 503) << path << ": " << r.body.dump();
    EXPECT_EQ(r.body["error"].value("code", ""), "database_unavailable") << r.body.dump();
  }

  system.postgres().StartServer();
  // The API's pooled connections are all stale now: the first read still works.
  ApiReply first = system.Api("GET", "/api/v1/jobs/" + earlier_id);
  EXPECT_EQ(first.status, 200) << first.body.dump();
  for (const std::string& id : accepted) {
    EXPECT_TRUE(
        WaitFor([&] { return system.Api("GET", "/api/v1/jobs/" + id).status == 200; }, seconds(60)))
        << "the projector did not catch up with " << id;
  }
  // And they ran meanwhile or since (needs executors).
  for (const std::string& id : accepted) {
    EXPECT_EQ(AwaitJobStatus(system, id, "SUCCEEDED", seconds(60)).value("status", ""), "SUCCEEDED")
        << id;
  }
}

}  // namespace
}  // namespace jobsched::testing
