// DAG workflows end to end: every service a separate process, TWO schedulers
// sharing the job-events partitions (so parents and children are decided by
// different processes and hear of each other only through keyed events), the
// dev broker and PostgreSQL over TCP.
//  - a diamond, a chain of 100 and a 1 -> 1,000 -> 1 fan run in order;
//  - a failure in the middle blocks exactly its descendants (the release by
//    a requeue is scheduler_dag_test's);
//  - depends_on on existing jobs; cancel of a workflow and a cascade;
//  - kill -9 of both schedulers at four points of a workflow's expansion:
//    every job exists exactly once and runs once;
//  - a cycle and the size limits are 400s.
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <thread>

#include "events/ids.h"
#include "tests/e2e/local_system.h"
#include "tests/support/wait.h"

namespace jobsched::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

constexpr auto kLong = seconds(120);

json Job(const std::string& key, const std::vector<std::string>& depends_on = {},
         const std::string& type = "echo") {
  json j = {{"key", key}, {"name", key}, {"type", type}, {"max_retries", 0}};
  if (type == "sleep") j["payload"] = {{"ms", 2000}};
  if (!depends_on.empty()) j["depends_on"] = depends_on;
  return j;
}

class WorkflowE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    LocalSystemOptions o;
    o.executor_slots = 16;
    system_ = new LocalSystem(o);
    system_->AddProcess("scheduler-2", "scheduler", {{"JOBSCHED_INSTANCE_ID", "scheduler-2"}});
  }
  static void TearDownTestSuite() {
    delete system_;
    system_ = nullptr;
  }
  void TearDown() override {
    if (HasFailure() && system_ != nullptr) std::cerr << system_->LogTails();
  }

  static json Submit(const json& jobs, const std::string& name = "wf") {
    ApiReply r = system_->Api("POST", "/api/v1/workflows", {{"name", name}, {"jobs", jobs}});
    EXPECT_EQ(r.status, 201) << r.body.dump();
    return r.body;
  }

  static json Workflow(const std::string& id) {
    return system_->Api("GET", "/api/v1/workflows/" + id).body;
  }

  // Waits until the workflow's counts satisfy `done`; returns the last view.
  static json AwaitWorkflow(const std::string& id, const std::function<bool(const json&)>& done) {
    json w;
    bool ok = WaitFor(
        [&] {
          w = Workflow(id);
          return w.contains("counts") && done(w);
        },
        kLong, std::chrono::milliseconds(100));
    EXPECT_TRUE(ok) << w.dump().substr(0, 2000);
    return w;
  }

  static std::map<std::string, std::string> StatusByKey(const json& w) {
    std::map<std::string, std::string> out;
    for (const auto& j : w["jobs"]) out[j["key"]] = j["status"];
    return out;
  }

  static int64_t Scalar(const std::string& sql, const std::string& param) {
    pqxx::connection c(system_->database_url());
    pqxx::nontransaction tx(c);
    return tx.exec_params1(sql, param)[0].as<int64_t>();
  }

  // When each job of the workflow started its (only) run.
  static std::map<std::string, std::string> StartedByKey(const std::string& wid) {
    pqxx::connection c(system_->database_url());
    pqxx::nontransaction tx(c);
    std::map<std::string, std::string> out;
    for (const auto& row : tx.exec_params(
             "SELECT j.workflow_key, to_char(e.due_at, 'YYYY-MM-DD HH24:MI:SS.US') "
             "FROM jobs j JOIN job_executions e ON e.job_id = j.job_id WHERE j.workflow_id = $1",
             wid)) {
      out[row[0].as<std::string>()] = row[1].as<std::string>();
    }
    return out;
  }

  static LocalSystem* system_;
};

LocalSystem* WorkflowE2eTest::system_ = nullptr;

TEST_F(WorkflowE2eTest, DiamondRunsInOrderAcrossTwoSchedulers) {
  json r = Submit({Job("extract"), Job("transform-a", {"extract"}), Job("transform-b", {"extract"}),
                   Job("load", {"transform-a", "transform-b"})});
  const std::string wid = r["workflow_id"];
  ASSERT_EQ(r["jobs"].size(), 4u);
  json w = AwaitWorkflow(wid, [](const json& w) { return w["status"] == "SUCCEEDED"; });
  EXPECT_EQ(w["counts"]["succeeded"], 4);
  EXPECT_EQ(w["edges"].size(), 4u);
  auto started = StartedByKey(wid);
  EXPECT_LT(started["extract"], started["transform-a"]);
  EXPECT_LT(started["transform-a"], started["load"]);
  EXPECT_LT(started["transform-b"], started["load"]);
}

TEST_F(WorkflowE2eTest, ChainOfAHundredAndFanOutOfAThousand) {
  json chain = json::array();
  for (int i = 0; i < 100; ++i) {
    chain.push_back(i == 0 ? Job("c0") : Job("c" + std::to_string(i), {"c" + std::to_string(i - 1)}));
  }
  json fan = json::array({Job("root")});
  std::vector<std::string> middle;
  for (int i = 0; i < 1000; ++i) {
    middle.push_back("m" + std::to_string(i));
    fan.push_back(Job(middle.back(), {"root"}));
  }
  fan.push_back(Job("sink", middle));
  const std::string chain_id = Submit(chain, "chain")["workflow_id"];
  const std::string fan_id = Submit(fan, "fan")["workflow_id"];
  AwaitWorkflow(chain_id, [](const json& w) { return w["counts"]["succeeded"] == 100; });
  AwaitWorkflow(fan_id, [](const json& w) { return w["counts"]["succeeded"] == 1002; });
  auto started = StartedByKey(chain_id);
  for (int i = 1; i < 100; ++i) {
    EXPECT_LT(started["c" + std::to_string(i - 1)], started["c" + std::to_string(i)]) << i;
  }
  auto fan_started = StartedByKey(fan_id);
  for (const auto& m : middle) EXPECT_LT(fan_started[m], fan_started["sink"]) << m;
  EXPECT_EQ(Scalar("SELECT count(*) FROM job_executions e JOIN jobs j USING (job_id) "
                   "WHERE j.workflow_id = $1",
                   fan_id),
            1002);
  // Parents and children were decided by both scheduler processes.
  EXPECT_EQ(Scalar("SELECT count(DISTINCT l.producer) FROM job_logs l JOIN jobs j USING (job_id) "
                   "WHERE j.workflow_id = $1 AND l.event_type = 'RunDue'",
                   fan_id),
            2);
}

TEST_F(WorkflowE2eTest, AFailureBlocksExactlyItsDescendants) {
  json r = Submit({Job("a"), Job("b", {"a"}, "fail"), Job("c", {"b"}), Job("d", {"c"}),
                   Job("e", {"a"}), Job("f", {"b", "e"}), Job("g")});
  const std::string wid = r["workflow_id"];
  json w = AwaitWorkflow(wid, [](const json& w) { return w["status"] == "FAILED"; });
  auto status = StatusByKey(w);
  EXPECT_EQ(status["b"], "DEAD");
  for (const char* k : {"c", "d", "f"}) EXPECT_EQ(status[k], "BLOCKED") << k;
  for (const char* k : {"a", "e", "g"}) EXPECT_EQ(status[k], "SUCCEEDED") << k;
  EXPECT_EQ(w["counts"]["blocked"], 3);
  EXPECT_EQ(w["counts"]["failed"], 1);
  const std::string d = ids::WorkflowJobId(wid, "d");
  json deps = system_->Api("GET", "/api/v1/jobs/" + d + "/dependencies").body;
  ASSERT_EQ(deps["parents"].size(), 1u) << deps.dump();
  EXPECT_EQ(deps["parents"][0]["dependency"], "FAILED");
  EXPECT_EQ(Scalar("SELECT count(*) FROM job_executions e JOIN jobs j USING (job_id) "
                   "WHERE j.workflow_id = $1 AND j.workflow_key IN ('c', 'd', 'f')",
                   wid),
            0);
}

TEST_F(WorkflowE2eTest, DependsOnExistingJobsAndCascadingCancel) {
  ApiReply p = system_->Api("POST", "/api/v1/jobs",
                            {{"name", "parent"}, {"type", "sleep"}, {"payload", {{"ms", 1500}}}});
  ASSERT_EQ(p.status, 201) << p.body.dump();
  const std::string parent = p.body["job_id"];
  ApiReply c = system_->Api("POST", "/api/v1/jobs",
                            {{"name", "child"}, {"type", "echo"}, {"depends_on", {parent}}});
  ASSERT_EQ(c.status, 201) << c.body.dump();
  const std::string child = c.body["job_id"];
  ApiReply g = system_->Api("POST", "/api/v1/jobs",
                            {{"name", "grandchild"}, {"type", "echo"}, {"depends_on", {child}}});
  ASSERT_EQ(g.status, 201) << g.body.dump();
  json last;
  ASSERT_TRUE(WaitFor(
      [&] {
        last = system_->Api("GET", "/api/v1/jobs/" + g.body["job_id"].get<std::string>()).body;
        return last["status"] == "SUCCEEDED";
      },
      kLong))
      << last.dump();

  ApiReply unknown = system_->Api("POST", "/api/v1/jobs",
                                  {{"name", "orphan"},
                                   {"type", "echo"},
                                   {"depends_on", {"7d0e3a4e-0000-4000-8000-00000000beef"}}});
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.dump().find("7d0e3a4e-0000-4000-8000-00000000beef"), std::string::npos);

  // Cascade: a long parent, two generations below it; cancel the parent with cascade.
  json r = Submit({Job("slow", {}, "sleep"), Job("x", {"slow"}), Job("y", {"x"})}, "cascade");
  const std::string cascade_id = r["workflow_id"];
  const std::string slow = ids::WorkflowJobId(cascade_id, "slow");
  ASSERT_TRUE(WaitFor([&] { return Workflow(cascade_id)["counts"]["waiting"] == 2; }, kLong));
  ApiReply cancel = system_->Api("POST", "/api/v1/jobs/" + slow + "/cancel?cascade=true");
  ASSERT_LT(cancel.status, 300) << cancel.body.dump();
  json w = AwaitWorkflow(cascade_id, [](const json& w) { return w["counts"]["canceled"] == 3; });
  EXPECT_EQ(w["status"], "CANCELED");
}

TEST_F(WorkflowE2eTest, CancelingAWorkflowCancelsEveryJobNotEnded) {
  json r = Submit({Job("s1", {}, "sleep"), Job("s2", {"s1"}), Job("s3", {"s2"})}, "to cancel");
  const std::string wid = r["workflow_id"];
  ASSERT_TRUE(WaitFor([&] { return Workflow(wid)["counts"]["waiting"] == 2; }, kLong));
  ApiReply cancel = system_->Api("POST", "/api/v1/workflows/" + wid + "/cancel");
  ASSERT_EQ(cancel.status, 202) << cancel.body.dump();
  json w = AwaitWorkflow(wid, [](const json& w) { return w["counts"]["canceled"] == 3; });
  EXPECT_EQ(w["status"], "CANCELED");
}

TEST_F(WorkflowE2eTest, KillingASchedulerWhileItExpandsAWorkflowMakesEveryJobOnce) {
  // Every broker round trip takes 250 ms, so an expansion (its 500 JobSubmitted
  // appended, then WorkflowExpanded once they are acknowledged) spans about a
  // second; both schedulers are killed at a different point of it for each
  // workflow, then restarted, and whoever owns the workflow expands it again.
  std::vector<std::string> workflows;
  for (int delay_ms : {300, 500, 700, 900}) {
    json jobs = json::array();
    for (int i = 0; i < 500; ++i) jobs.push_back(Job("j" + std::to_string(i)));
    system_->broker().Control("rtt -1 250");
    ApiReply r = system_->Api("POST", "/api/v1/workflows", {{"name", "big"}, {"jobs", jobs}});
    ASSERT_EQ(r.status, 201) << r.body.dump();
    workflows.push_back(r.body["workflow_id"]);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));  // the fault's timing
    system_->Kill("scheduler");
    system_->Kill("scheduler-2");
    system_->broker().Control("rtt -1 0");
    system_->Start("scheduler");
    system_->Start("scheduler-2");
    // Done once the restarted schedulers own every partition again.
    AwaitWorkflow(workflows.back(), [](const json& w) { return w["counts"]["succeeded"] == 500; });
  }
  int64_t repeated = 0;
  for (const std::string& wid : workflows) {
    EXPECT_EQ(Scalar("SELECT count(*) FROM jobs WHERE workflow_id = $1", wid), 500);
    EXPECT_EQ(Scalar("SELECT count(*) FROM job_logs l JOIN jobs j USING (job_id) "
                     "WHERE j.workflow_id = $1 AND l.event_type = 'JobSubmitted' "
                     "AND l.outcome = 'applied'",
                     wid),
              500);
    EXPECT_EQ(Scalar("SELECT count(*) FROM job_executions e JOIN jobs j USING (job_id) "
                     "WHERE j.workflow_id = $1",
                     wid),
              500);
    // How much of the expansion was appended twice (each repeat a duplicate to the fold).
    repeated += Scalar("SELECT count(*) FROM job_logs l JOIN jobs j USING (job_id) "
                       "WHERE j.workflow_id = $1 AND l.event_type = 'JobSubmitted' "
                       "AND l.outcome = 'duplicate'",
                       wid);
  }
  std::cout << "JobSubmitted appended again by a restarted scheduler: " << repeated << "\n";
}

TEST_F(WorkflowE2eTest, ARecurringTriggerStartsANewWorkflowRunEachFire) {
  ApiReply t = system_->Api(
      "POST", "/api/v1/jobs",
      {{"name", "every 2 s"},
       {"type", "workflow"},
       {"schedule", "*/2 * * * * *"},
       {"workflow", {{"name", "tick"}, {"jobs", {Job("first"), Job("second", {"first"})}}}}});
  ASSERT_EQ(t.status, 201) << t.body.dump();
  const std::string trigger = t.body["job_id"];
  json runs;
  ASSERT_TRUE(WaitFor(
      [&] {
        runs = system_->Api("GET", "/api/v1/workflows?trigger_job_id=" + trigger).body;
        int done = 0;
        for (const auto& w : runs["workflows"]) done += w["status"] == "SUCCEEDED";
        return done >= 2;
      },
      kLong, std::chrono::milliseconds(100)))
      << runs.dump();
  ASSERT_EQ(system_->Api("POST", "/api/v1/jobs/" + trigger + "/cancel").status, 202);
  std::set<std::string> ids;
  for (const auto& w : runs["workflows"]) {
    ids.insert(w["workflow_id"].get<std::string>());
    EXPECT_EQ(w["trigger_job_id"], trigger);
  }
  EXPECT_EQ(ids.size(), runs["workflows"].size());  // one workflow run per fire
}

TEST_F(WorkflowE2eTest, ACycleAndTheSizeLimitsAreRefusedWithWhatToFix) {
  ApiReply cycle = system_->Api(
      "POST", "/api/v1/workflows",
      {{"name", "etl"},
       {"jobs", {Job("extract", {"load"}), Job("transform", {"extract"}),
                 Job("load", {"transform"})}}});
  EXPECT_EQ(cycle.status, 400);
  EXPECT_NE(cycle.body.dump().find("cycle: "), std::string::npos) << cycle.body.dump();
  json too_many = json::array();
  for (int i = 0; i < 2001; ++i) too_many.push_back(Job("j" + std::to_string(i)));
  ApiReply big = system_->Api("POST", "/api/v1/workflows", {{"name", "big"}, {"jobs", too_many}});
  EXPECT_EQ(big.status, 400);
  EXPECT_EQ(system_->Api("POST", "/api/v1/workflows", {{"name", "empty"}, {"jobs", json::array()}})
                .status,
            400);
}

}  // namespace
}  // namespace jobsched::testing
