// `jobctl shadow` as a user runs it: the real binary against the dev broker,
// on a history the scheduler's own Decide recorded (SimulatedScheduler) and
// appended to job-events.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "events/kafka_event_log.h"
#include "tests/support/devbroker.h"
#include "tests/support/process.h"
#include "tests/unit/scheduler_sim.h"

namespace jobsched::testing {
namespace {

using events::Envelope;

const std::string kJob = "00000000-0000-4000-8000-0000005ad0e1";

// A one-off job that always fails: max_retries 2, fixed 1 s backoff.
std::vector<Envelope> FailingOneOff() {
  const TimePoint start = *ParseRfc3339("2026-11-28T10:00:00Z");
  SimulatedScheduler::Options o;
  o.run_duration = std::chrono::milliseconds(500);
  SimulatedScheduler sim(start, o);
  Envelope e = events::MakeEnvelope(ids::EventId("JobSubmitted", kJob, ""), kJob,
                                    {"api", start, "corr", ""});
  v1::JobSpec* spec = e.mutable_job_submitted()->mutable_spec();
  spec->set_name("nightly-report");
  spec->set_type(v1::JOB_TYPE_FAIL);
  spec->set_priority(5);
  spec->set_max_retries(2);
  spec->mutable_retry_policy()->set_strategy(v1::RETRY_STRATEGY_FIXED);
  spec->mutable_retry_policy()->set_base_delay_ms(1000);
  sim.Append(e);
  sim.Advance(std::chrono::seconds(30));
  return sim.log();
}

class JobctlShadowLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("jobctl-shadow-");
    auto log = events::KafkaEventLog::Make({broker_.bootstrap(), {}});
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    auto producer = log.value()->NewProducer("shadow-test");
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    std::vector<events::Record> records;
    for (const Envelope& e : FailingOneOff()) {
      records.push_back({"job-events", e.job_id(), events::Encode(e)});
    }
    ASSERT_TRUE(producer.value()->Append(std::move(records)).ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string WritePolicy(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  // Runs jobctl to completion; its stdout and stderr land in `output`.
  int Jobctl(const std::vector<std::string>& args, std::string* output) {
    const std::string log = dir_ + "/out-" + std::to_string(++runs_);
    ChildOptions options;
    options.env = {{"KAFKA_BROKERS", broker_.bootstrap()}};
    options.log_path = log;
    ChildProcess child(BinPath("jobctl"), args, options);
    auto code = child.WaitExit(std::chrono::seconds(60));
    *output = ReadFile(log);
    return code.value_or(-1);
  }

  ScopedDevBroker broker_;
  std::string dir_;
  int runs_ = 0;
};

TEST_F(JobctlShadowLogTest, PrintsWhereMoreRetriesWouldDiffer) {
  const std::string policy = WritePolicy("more.json", R"({"max_retries": 4})");
  std::string out;
  ASSERT_EQ(Jobctl({"shadow", "--policy", policy, "--job", kJob}, &out), 0) << out;
  EXPECT_NE(out.find("job " + kJob +
                     " (nightly-report): 6 recorded decisions, 7 shadow; "
                     "differs at:"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("2026-11-28T10:00:03.500Z  recorded JobDead after attempt 3"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("shadow RetryScheduled attempt 4 at 2026-11-28T10:00:04.500Z (outcome "
                     "unknown: not in the record)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("shadow: 1 job compared, 1 differs"), std::string::npos) << out;

  // The whole log (no --job), as JSON: one object per difference, then the summary.
  ASSERT_EQ(Jobctl({"shadow", "--policy", policy, "--json"}, &out), 0) << out;
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) lines.push_back(j);
  }
  ASSERT_EQ(lines.size(), 3u) << out;
  EXPECT_EQ(lines[0]["job_id"], kJob);
  EXPECT_EQ(lines[0]["kind"], "changed");
  EXPECT_EQ(lines[1]["kind"], "only_shadow");
  EXPECT_EQ(lines[1]["shadow"]["attempt"], 4);
  EXPECT_EQ(lines[2]["summary"]["jobs_compared"], 1);
}

TEST_F(JobctlShadowLogTest, SamePolicyHasNoDifference) {
  const std::string policy = WritePolicy("same.json", R"({"max_retries": 2})");
  std::string out;
  ASSERT_EQ(Jobctl({"shadow", "--policy", policy, "--job", kJob}, &out), 0) << out;
  EXPECT_NE(out.find("6 recorded decisions, 6 shadow; no difference"), std::string::npos) << out;
  EXPECT_NE(out.find("shadow: 1 job compared, 0 differ"), std::string::npos) << out;
}

TEST_F(JobctlShadowLogTest, BadPolicyExitsTwoNamingTheField) {
  const std::string policy =
      WritePolicy("bad.json", R"({"retry_policy": {"strategy": "sometimes"}})");
  std::string out;
  EXPECT_EQ(Jobctl({"shadow", "--policy", policy}, &out), 2) << out;
  EXPECT_NE(out.find("retry_policy.strategy"), std::string::npos) << out;
}

}  // namespace
}  // namespace jobsched::testing
