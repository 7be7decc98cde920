// Execution under executor faults, end to end: every service a separate
// process, several executors, the dev broker and PostgreSQL over TCP.
//  - kill -9 an executor mid-run: the run completes on another, one result counts;
//  - a paused (zombie) executor's late result is recorded and changes nothing;
//  - SIGTERM hands a running run back without spending an attempt;
//  - with one slot and strict admission, 50 jobs of mixed priority start in
//    priority order;
//  - a gpu_units job waits, saying why, until a GPU executor comes;
//  - timeout_seconds aborts a long handler; cancel aborts a running one.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>

#include <pqxx/pqxx>

#include "tests/e2e/local_system.h"
#include "tests/support/wait.h"

namespace jobsched::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kLong = seconds(60);

// Sleeps are long (seconds) so that a run is still going when a test acts on
// its executor, even while the projector lags on a loaded machine.
class ExecutionE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    LocalSystemOptions o;
    o.extra_env = {{"JOBSCHED_EXECUTOR_TIMEOUT_MS", "3000"},
                   {"JOBSCHED_EXECUTOR_STOP_GRACE_MS", "300"},
                   {"JOBSCHED_RUN_TIMEOUT_GRACE_MS", "2000"}};
    o.executors = {ExecutorSpec{"exec-1", {{"JOBSCHED_EXECUTOR_SLOTS", "2"}}},
                   ExecutorSpec{"exec-2", {{"JOBSCHED_EXECUTOR_SLOTS", "2"}}},
                   ExecutorSpec{"solo",
                                {{"JOBSCHED_EXECUTOR_SLOTS", "1"},
                                 {"JOBSCHED_EXECUTOR_POOL", "solo"}}}};
    system_ = new LocalSystem(o);
  }
  static void TearDownTestSuite() {
    delete system_;
    system_ = nullptr;
  }

  void TearDown() override {
    if (HasFailure() && system_ != nullptr) std::cerr << system_->LogTails();
  }

  static std::string Submit(const json& spec) {
    ApiReply r = system_->Api("POST", "/api/v1/jobs", spec);
    EXPECT_EQ(r.status, 201) << r.body.dump();
    return r.body.value("job_id", "");
  }

  static json SleepJob(int ms, const std::string& pool = "default") {
    return {{"name", "sleep " + std::to_string(ms)}, {"type", "sleep"},
            {"payload", {{"ms", ms}}}, {"pool", pool}, {"max_retries", 0}};
  }

  static pqxx::result Query(const std::string& sql, const std::string& job_id) {
    pqxx::connection c(system_->database_url());
    pqxx::nontransaction tx(c);
    return tx.exec_params(sql, job_id);
  }

  // The executor running the job's current attempt, once it started.
  static std::string AwaitRunningOn(const std::string& job_id) {
    std::string executor;
    WaitFor(
        [&] {
          pqxx::result r = Query(
              "SELECT executor_id FROM job_executions WHERE job_id = $1::uuid "
              "AND status = 'RUNNING' AND executor_id IS NOT NULL",
              job_id);
          if (r.empty()) return false;
          executor = r[0][0].as<std::string>();
          return true;
        },
        kLong);
    return executor;
  }

  // How many of the job's records of `type` the fold gave `outcome`.
  static int Records(const std::string& job_id, const std::string& type,
                     const std::string& outcome = "applied") {
    return Query("SELECT count(*) FROM job_logs WHERE job_id = $1::uuid AND event_type = '" +
                     type + "' AND outcome = '" + outcome + "'",
                 job_id)[0][0]
        .as<int>();
  }

  static bool AwaitRecord(const std::string& job_id, const std::string& type,
                          const std::string& outcome = "applied") {
    return WaitFor([&] { return Records(job_id, type, outcome) > 0; }, kLong);
  }

  static std::string Other(const std::string& executor) {
    return executor == "exec-1" ? "exec-2" : "exec-1";
  }

  static LocalSystem* system_;
};

LocalSystem* ExecutionE2eTest::system_ = nullptr;

TEST_F(ExecutionE2eTest, AKilledExecutorsRunCompletesElsewhereAndCountsOnce) {
  std::string job = Submit(SleepJob(5000));
  std::string victim = AwaitRunningOn(job);
  ASSERT_FALSE(victim.empty());
  system_->Kill(victim);
  json done = AwaitJobStatus(*system_, job, "SUCCEEDED", kLong);
  EXPECT_EQ(done.value("status", ""), "SUCCEEDED") << done.dump();
  EXPECT_EQ(Records(job, "RunLost"), 1);
  EXPECT_EQ(Records(job, "RunSucceeded"), 1);
  pqxx::result run = Query(
      "SELECT executor_id, attempt, lease_epoch, releases FROM job_executions "
      "WHERE job_id = $1::uuid", job);
  ASSERT_EQ(run.size(), 1u);
  EXPECT_EQ(run[0][0].as<std::string>(), Other(victim));
  EXPECT_EQ(run[0][1].as<int>(), 1) << "a lost lease spends no attempt";
  EXPECT_EQ(run[0][2].as<int>(), 2);
  EXPECT_EQ(run[0][3].as<int>(), 1);
  system_->Start(victim);  // a new incarnation, for the tests that follow
}

TEST_F(ExecutionE2eTest, AZombiesLateResultIsRecordedAndChangesNothing) {
  std::string job = Submit(SleepJob(5000));
  std::string zombie = AwaitRunningOn(job);
  ASSERT_FALSE(zombie.empty());
  system_->Pause(zombie);  // no heartbeats: its lease is lost after 3 s
  json done = AwaitJobStatus(*system_, job, "SUCCEEDED", kLong);
  EXPECT_EQ(done.value("status", ""), "SUCCEEDED") << done.dump();
  system_->Resume(zombie);  // it finishes its sleep and reports under lease 1
  ASSERT_TRUE(AwaitRecord(job, "RunSucceeded", "rejected"));
  EXPECT_EQ(Records(job, "RunSucceeded"), 1);
  pqxx::result msg = Query(
      "SELECT message FROM job_logs WHERE job_id = $1::uuid AND event_type = 'RunSucceeded' "
      "AND outcome = 'rejected'", job);
  EXPECT_NE(msg[0][0].as<std::string>().find("lease"), std::string::npos)
      << msg[0][0].as<std::string>();
  json after = system_->Api("GET", "/api/v1/jobs/" + job).body;
  EXPECT_EQ(after.value("status", ""), "SUCCEEDED");
  pqxx::result run =
      Query("SELECT executor_id FROM job_executions WHERE job_id = $1::uuid", job);
  EXPECT_EQ(run[0][0].as<std::string>(), Other(zombie)) << "the zombie's result did not count";
}

TEST_F(ExecutionE2eTest, SigtermHandsARunningRunBackWithoutSpendingAnAttempt) {
  std::string job = Submit(SleepJob(5000));
  std::string leaving = AwaitRunningOn(job);
  ASSERT_FALSE(leaving.empty());
  system_->Stop(leaving);
  ASSERT_TRUE(AwaitRecord(job, "RunReleased"));
  json done = AwaitJobStatus(*system_, job, "SUCCEEDED", kLong);
  EXPECT_EQ(done.value("status", ""), "SUCCEEDED") << done.dump();
  EXPECT_EQ(Records(job, "RunFailed"), 0);
  pqxx::result run =
      Query("SELECT attempt, executor_id FROM job_executions WHERE job_id = $1::uuid", job);
  ASSERT_EQ(run.size(), 1u);
  EXPECT_EQ(run[0][0].as<int>(), 1);
  EXPECT_EQ(run[0][1].as<std::string>(), Other(leaving));
  system_->Start(leaving);
}

// Strict admission (JOBSCHED_DISPATCH_PREFETCH=1): an executor holds no more
// runs than it runs, so every run that waits, waits in the dispatcher's
// priority queue. (With the default prefetch an executor also queues a few
// runs of its own, highest priority first, and a run admitted before a
// higher one arrived may start first.)
class StrictAdmissionE2eTest : public ExecutionE2eTest {
 public:
  static void SetUpTestSuite() {
    LocalSystemOptions o;
    o.extra_env = {{"JOBSCHED_DISPATCH_PREFETCH", "1"}};
    o.executors = {ExecutorSpec{
        "solo", {{"JOBSCHED_EXECUTOR_SLOTS", "1"}, {"JOBSCHED_EXECUTOR_POOL", "solo"}}}};
    system_ = new LocalSystem(o);
  }
};

TEST_F(StrictAdmissionE2eTest, WithOneSlotJobsStartInPriorityOrder) {
  // The solo pool's one slot is taken while the 50 are submitted.
  std::string blocker = Submit(SleepJob(6000, "solo"));
  ASSERT_EQ(AwaitRunningOn(blocker), "solo");
  std::vector<std::pair<int, std::string>> jobs;  // (priority, job id) in submission order
  for (int i = 0; i < 50; ++i) {
    int priority = (i * 7) % 11;
    // 3 ms each, so that no two start within the same millisecond (the
    // resolution of started_at, by which the order is read back).
    json spec = SleepJob(3, "solo");
    spec["name"] = "p" + std::to_string(priority);
    spec["priority"] = priority;
    jobs.emplace_back(priority, Submit(spec));
  }
  for (const auto& [priority, job] : jobs) {
    json j = AwaitJobStatus(*system_, job, "SUCCEEDED", kLong);
    ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump();
  }
  pqxx::connection c(system_->database_url());
  pqxx::nontransaction tx(c);
  std::vector<std::string> started;
  for (const auto& row : tx.exec("SELECT e.job_id::text FROM job_executions e JOIN jobs j "
                                 "USING (job_id) WHERE j.pool = 'solo' AND j.name LIKE 'p%' "
                                 "ORDER BY e.started_at, e.dispatched_at")) {
    started.push_back(row[0].as<std::string>());
  }
  ASSERT_EQ(started.size(), jobs.size());
  std::map<std::string, int> priority_of;
  for (const auto& [p, id] : jobs) priority_of[id] = p;
  std::vector<int> started_priorities;
  for (const auto& id : started) started_priorities.push_back(priority_of[id]);
  std::vector<int> expected = started_priorities;
  std::sort(expected.begin(), expected.end(), std::greater<>());
  // Within a priority the dispatcher keeps due-time order, to the
  // millisecond: submissions this close may share one, so only the
  // priorities are compared.
  EXPECT_EQ(started_priorities, expected) << "higher priority first";
}

TEST_F(ExecutionE2eTest, AGpuJobWaitsForAGpuExecutor) {
  json spec = {{"name", "train"}, {"type", "echo"}, {"resources", {{"gpu_units", 1}}}};
  std::string job = Submit(spec);
  ASSERT_TRUE(WaitFor(
      [&] {
        json j = system_->Api("GET", "/api/v1/jobs/" + job).body;
        return j.value("status", "") == "QUEUED" && j["queue_reason"].is_string();
      },
      kLong));
  json waiting = system_->Api("GET", "/api/v1/jobs/" + job).body;
  EXPECT_EQ(waiting["queue_reason"], "no live executor in pool 'default' offers gpu_units >= 1");
  system_->AddExecutor(ExecutorSpec{"gpu-1", {{"JOBSCHED_EXECUTOR_RESOURCES", "gpu_units=1"},
                                              {"JOBSCHED_EXECUTOR_SLOTS", "1"}}});
  json done = AwaitJobStatus(*system_, job, "SUCCEEDED", kLong);
  EXPECT_EQ(done.value("status", ""), "SUCCEEDED") << done.dump();
  pqxx::result run =
      Query("SELECT executor_id FROM job_executions WHERE job_id = $1::uuid", job);
  EXPECT_EQ(run[0][0].as<std::string>(), "gpu-1");
  system_->Kill("gpu-1");  // so later jobs are not placed on it
}

TEST_F(ExecutionE2eTest, TimeoutSecondsAbortsTheHandler) {
  json spec = SleepJob(30'000);
  spec["timeout_seconds"] = 1;
  std::string job = Submit(spec);
  json dead = AwaitJobStatus(*system_, job, "DEAD", seconds(20));
  EXPECT_EQ(dead.value("status", ""), "DEAD") << dead.dump();
  pqxx::result run = Query(
      "SELECT status, extract(epoch FROM finished_at - started_at) FROM job_executions "
      "WHERE job_id = $1::uuid", job);
  ASSERT_EQ(run.size(), 1u);
  EXPECT_EQ(run[0][0].as<std::string>(), "TIMED_OUT");
  EXPECT_LT(run[0][1].as<double>(), 10.0) << "aborted at its timeout, not after the sleep";
}

TEST_F(ExecutionE2eTest, CancelAbortsARunningHandler) {
  // The solo executor's only slot: it is free again only if the sleep is aborted.
  std::string job = Submit(SleepJob(60'000, "solo"));
  ASSERT_EQ(AwaitRunningOn(job), "solo");
  ApiReply cancel = system_->Api("POST", "/api/v1/jobs/" + job + "/cancel");
  EXPECT_EQ(cancel.status, 202) << cancel.body.dump();
  json canceled = AwaitJobStatus(*system_, job, "CANCELED", kLong);
  EXPECT_EQ(canceled.value("status", ""), "CANCELED");
  ASSERT_TRUE(AwaitRecord(job, "RunFailed", "rejected")) << "the aborted handler reports";
  pqxx::result msg = Query(
      "SELECT fields->'run_failed'->>'kind' FROM job_logs WHERE job_id = $1::uuid "
      "AND event_type = 'RunFailed'", job);
  EXPECT_EQ(msg[0][0].as<std::string>(), "FAILURE_KIND_CANCELED");
  std::string next = Submit({{"name", "after"}, {"type", "echo"}, {"pool", "solo"}});
  json done = AwaitJobStatus(*system_, next, "SUCCEEDED", seconds(20));
  EXPECT_EQ(done.value("status", ""), "SUCCEEDED") << "the slot was freed by the abort";
  ApiReply again = system_->Api("POST", "/api/v1/jobs/" + job + "/cancel");
  EXPECT_EQ(again.status, 409) << again.body.dump();
}

}  // namespace
}  // namespace jobsched::testing
