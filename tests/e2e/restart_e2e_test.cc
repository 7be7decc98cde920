// The whole system survives its own restart, as infra/dev.sh restarts it: the
// dev broker stores its log under a data dir and restores it, PostgreSQL keeps
// its data. A recurring job accepted before the restart still exists and
// fires again, no slot fires twice, and a delayed one-off that falls due after
// the restart runs once.
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include <chrono>
#include <ctime>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "tests/e2e/local_system.h"
#include "tests/support/wait.h"

namespace jobsched::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

struct Execution {
  int64_t scheduled_for_ms = 0;
  std::string fire_id;
  bool started = false;
  int64_t started_ms = 0;
};

std::vector<Execution> ExecutionsOf(const std::string& url, const std::string& job_id) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  std::vector<Execution> out;
  for (const auto& row : tx.exec_params(
           "SELECT (extract(epoch FROM scheduled_for) * 1000)::bigint, "
           "coalesce(fire_id::text, ''), "
           "started_at IS NOT NULL, coalesce((extract(epoch FROM started_at) * 1000)::bigint, 0) "
           "FROM job_executions WHERE job_id = $1::uuid AND attempt = 1",
           job_id)) {
    out.push_back({row[0].as<int64_t>(), row[1].as<std::string>(), row[2].as<bool>(),
                   row[3].as<int64_t>()});
  }
  return out;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Rfc3339(int64_t unix_ms) {
  std::time_t t = unix_ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return std::string(buf) + "." + std::to_string(1000 + unix_ms % 1000).substr(1) + "Z";
}

class RestartEndToEndTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure() && system_) std::cerr << system_->LogTails();
  }
  std::unique_ptr<LocalSystem> system_;
};

TEST_F(RestartEndToEndTest, JobsAndSchedulesSurviveARestartOfTheWholeSystem) {
  LocalSystemOptions o;
  o.persistent_broker = true;
  system_ = std::make_unique<LocalSystem>(o);
  const std::string& url = system_->database_url();

  ApiReply r = system_->Api("POST", "/api/v1/jobs",
                            {{"name", "tick"}, {"type", "echo"}, {"schedule", "*/2 * * * * *"}});
  ASSERT_EQ(r.status, 201) << r.body.dump();
  const std::string recurring = r.body.value("job_id", "");
  ASSERT_TRUE(WaitFor(
      [&] {
        int started = 0;
        for (const auto& e : ExecutionsOf(url, recurring)) started += e.started;
        return started >= 2;
      },
      seconds(30)));

  // Due after the restart (which takes a few seconds: graceful stops, the
  // restore, consumer groups forming).
  r = system_->Api("POST", "/api/v1/jobs",
                   {{"name", "later"}, {"type", "echo"}, {"run_at", Rfc3339(NowMs() + 12000)}});
  ASSERT_EQ(r.status, 201) << r.body.dump();
  const std::string delayed = r.body.value("job_id", "");
  EXPECT_EQ(r.body.value("status", ""), "SCHEDULED") << r.body.dump();

  const int64_t before_restart = NowMs();
  system_->RestartAll();
  const int64_t after_restart = NowMs();
  std::cerr << "restart took " << after_restart - before_restart << " ms\n";
  EXPECT_NE(system_->BrokerLog().find("restored "), std::string::npos) << system_->BrokerLog();

  // Both jobs are still there through the API.
  r = system_->Api("GET", "/api/v1/jobs/" + recurring);
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body.value("status", ""), "ACTIVE") << r.body.dump();
  EXPECT_EQ(r.body["schedule"].value("cron", ""), "*/2 * * * * *") << r.body.dump();
  r = system_->Api("GET", "/api/v1/jobs/" + delayed);
  ASSERT_EQ(r.status, 200) << r.body.dump();

  // The recurring job fires again: two slots due after the restart run.
  ASSERT_TRUE(WaitFor(
      [&] {
        int started = 0;
        for (const auto& e : ExecutionsOf(url, recurring)) {
          started += e.started && e.scheduled_for_ms > after_restart;
        }
        return started >= 2;
      },
      seconds(30)))
      << "the recurring job did not fire after the restart";

  // The delayed one-off runs, once, after the restart.
  json job = AwaitJobStatus(*system_, delayed, "SUCCEEDED", seconds(30));
  EXPECT_EQ(job.value("status", ""), "SUCCEEDED") << job.dump();
  std::vector<Execution> once = ExecutionsOf(url, delayed);
  ASSERT_EQ(once.size(), 1u);
  EXPECT_TRUE(once[0].started);
  EXPECT_GT(once[0].started_ms, before_restart);

  // No slot fired twice, before, across or after the restart.
  std::map<int64_t, int> per_slot;
  std::map<std::string, int> per_fire;
  for (const auto& e : ExecutionsOf(url, recurring)) {
    ++per_slot[e.scheduled_for_ms];
    ++per_fire[e.fire_id];
  }
  for (const auto& [slot, n] : per_slot) EXPECT_EQ(n, 1) << "slot " << Rfc3339(slot);
  for (const auto& [fire, n] : per_fire) EXPECT_EQ(n, 1) << "fire " << fire;
  EXPECT_GE(per_slot.size(), 4u);
}

}  // namespace
}  // namespace jobsched::testing
