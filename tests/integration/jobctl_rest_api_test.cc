// The real jobctl binary ($JOBSCHED_BIN_DIR/jobctl) against the real API,
// run in process over a memory log, with the real projector filling a
// throwaway PostgreSQL: submit -> get -> logs -> cancel as a user types them,
// and the error paths (the API's message, an unreachable API).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "events/envelope.h"
#include "events/ids.h"
#include "tests/integration/api_fixture.h"
#include "tests/support/process.h"

namespace jobsched::api {
namespace {

using nlohmann::json;

struct JobctlRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// 'text' for sh, whatever it holds.
std::string ShellQuote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

class JobctlRestTest : public ApiFixture {
 protected:
  JobctlRestTest() : ApiFixture("jobctlrest-") {}

  void SetUp() override {
    CreateDatabase("jobctl_");
    CreateLog();
    StartApi(*producer_, database_url_);
    projector_ = StartRealProjector(log_, database_url_, topics_, store_);
    dir_ = testing::MakeTempDir("jobctl-rest-");
  }

  void TearDown() override {
    if (projector_) projector_->Stop();
    ApiFixture::TearDown();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Runs `jobctl --api <the API> args...` with `input` on stdin.
  JobctlRun Jobctl(const std::vector<std::string>& args, const std::string& input = "",
                   const std::string& api = "") {
    std::string command =
        ShellQuote(testing::BinPath("jobctl")) + " --api " + ShellQuote(api.empty() ? base_ : api);
    for (const auto& a : args) command += " " + ShellQuote(a);
    const std::string in = dir_ + "/in", out = dir_ + "/out", err = dir_ + "/err";
    {
      std::ofstream f(in, std::ios::trunc);
      f << input;
    }
    command += " <" + in + " >" + out + " 2>" + err;
    JobctlRun run;
    run.exit_code = testing::RunProcess("/bin/sh", {"-c", command}, "", std::chrono::seconds(30));
    run.out = testing::ReadFile(out);
    run.err = testing::ReadFile(err);
    return run;
  }

  std::vector<std::string> EventTypesOf(const std::string& job_id) {
    std::vector<std::string> out;
    for (const auto& e : Events()) {
      if (e.job_id() == job_id) out.emplace_back(events::EventType(e));
    }
    return out;
  }

  std::unique_ptr<projections::PgProjectionStore> store_;
  std::unique_ptr<projections::Projector> projector_;
  std::string dir_;
};

TEST_F(JobctlRestTest, SubmitGetLogsCancel) {
  JobctlRun submit = Jobctl({"submit", "--name", "demo", "--type", "echo", "--payload",
                             R"({"n": 1})", "--priority", "7"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  ASSERT_EQ(submit.out.size(), 37u) << submit.out;  // the id and a newline
  const std::string id = submit.out.substr(0, 36);
  ASSERT_TRUE(LooksLikeUuid(id)) << submit.out;
  EXPECT_EQ(submit.err, "");
  ASSERT_EQ(Events().size(), 1u);
  EXPECT_EQ(Events()[0].job_submitted().spec().priority(), 7);
  EXPECT_EQ(json::parse(Events()[0].job_submitted().spec().payload_json()), (json{{"n", 1}}));

  JobctlRun get = Jobctl({"get", id});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_NE(get.out.find("job_id        " + id + "\n"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("name          demo\n"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("status        PENDING\n"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("priority      7\n"), std::string::npos) << get.out;

  // --json, also after the command's arguments: the API's answer as it is.
  JobctlRun get_json = Jobctl({"get", id, "--json"});
  ASSERT_EQ(get_json.exit_code, 0) << get_json.err;
  json job = json::parse(get_json.out);
  EXPECT_EQ(job["job_id"], id);
  EXPECT_EQ(job["status"], "PENDING");
  EXPECT_EQ(get_json.out.back(), '\n');
  EXPECT_EQ(get_json.out.find('\n'), get_json.out.size() - 1);  // one line

  JobctlRun logs = Jobctl({"logs", id});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_NE(logs.out.find(" info  JobSubmitted     "), std::string::npos) << logs.out;

  JobctlRun cancel = Jobctl({"cancel", id});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_EQ(cancel.out, id + " cancel requested (status PENDING)\n");
  EXPECT_EQ(EventTypesOf(id), (std::vector<std::string>{"JobSubmitted", "CancelRequested"}));

  JobctlRun after = Jobctl({"logs", id, "--event-type", "CancelRequested", "--json"});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  json page = json::parse(after.out);
  ASSERT_EQ(page["logs"].size(), 1u) << after.out;
  EXPECT_EQ(page["logs"][0]["event_type"], "CancelRequested");

  JobctlRun list = Jobctl({"list", "--limit", "5"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out.rfind("JOB_ID ", 0), 0u) << list.out;
  EXPECT_NE(list.out.find(id + " "), std::string::npos) << list.out;
}

TEST_F(JobctlRestTest, SubmitReadsTheJobFromStdin) {
  JobctlRun submit = Jobctl({"submit", "-f", "-", "--json"},
                            R"({"name": "from stdin", "type": "sleep", "payload": {"ms": 5},
                          "idempotency_key": "stdin-1"})");
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  json job = json::parse(submit.out);
  EXPECT_EQ(job["name"], "from stdin");
  EXPECT_EQ(job["type"], "sleep");
  EXPECT_EQ(job["job_id"], ids::JobIdForIdempotencyKey("stdin-1"));

  // The same key again: the API's 409 names the job; exit 1.
  JobctlRun again =
      Jobctl({"submit", "-f", "-"}, R"({"type": "echo", "idempotency_key": "stdin-1"})");
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(again.out, "");
  EXPECT_EQ(again.err.rfind("jobctl: a job with this idempotency key exists: job " +
                                job["job_id"].get<std::string>(),
                            0),
            0u)
      << again.err;
  EXPECT_EQ(Events().size(), 1u);
}

TEST_F(JobctlRestTest, BadCronPrintsTheApisMessageAndAppendsNothing) {
  testing::HttpResponse direct =
      Call("POST", "/api/v1/jobs", R"({"type":"echo","schedule":"0 61 * * * *"})");
  ASSERT_EQ(direct.status, 400) << direct.body;
  const std::string message = Body(direct)["error"]["message"];
  ASSERT_EQ(message, "minute: 61 is out of range 0-59");

  JobctlRun bad = Jobctl({"submit", "--type", "echo", "--cron", "0 61 * * * *"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.out, "");
  EXPECT_EQ(bad.err, "jobctl: " + message + " (field schedule)\n");

  JobctlRun preview = Jobctl({"preview", "0 61 * * * *"});
  EXPECT_EQ(preview.exit_code, 1);
  EXPECT_EQ(preview.err, "jobctl: " + message + " (field cron)\n");
  EXPECT_TRUE(Events().empty());
}

TEST_F(JobctlRestTest, PreviewAcrossDst) {
  JobctlRun preview = Jobctl({"preview", "0 30 2 * * *", "--timezone", "America/New_York", "--from",
                              "2026-03-07T00:00:00Z", "--count", "3"});
  ASSERT_EQ(preview.exit_code, 0) << preview.err;
  EXPECT_EQ(preview.out,
            "2026-03-07T07:30:00Z  2026-03-07T02:30:00-05:00\n"
            "2026-03-08T07:00:00Z  2026-03-08T03:00:00-04:00\n"
            "2026-03-09T06:30:00Z  2026-03-09T02:30:00-04:00\n");
}

TEST_F(JobctlRestTest, CommandsTheApiRefusesExitOne) {
  JobctlRun unknown = Jobctl({"get", "00000000-0000-4000-8000-000000000000"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.err.rfind("jobctl: no job with id 00000000-0000-4000-8000-000000000000", 0), 0u)
      << unknown.err;

  JobctlRun submit = Jobctl({"submit", "--type", "echo"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  const std::string id = submit.out.substr(0, 36);
  JobctlRun pause = Jobctl({"pause", id});  // a one-off job has no schedule to pause
  EXPECT_EQ(pause.exit_code, 1);
  EXPECT_EQ(pause.err.rfind("jobctl: ", 0), 0u) << pause.err;
  EXPECT_EQ(EventTypesOf(id), (std::vector<std::string>{"JobSubmitted"}));

  JobctlRun nothing = Jobctl({"submit"});
  EXPECT_EQ(nothing.exit_code, 1);
  EXPECT_NE(nothing.err.find("-f FILE"), std::string::npos) << nothing.err;
}

TEST_F(JobctlRestTest, UnreachableApiSaysWhereAndWhatToDo) {
  const std::string api = "http://127.0.0.1:" + std::to_string(testing::FreeTcpPort());
  JobctlRun run = Jobctl({"get", "x"}, "", api);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err.rfind("jobctl: cannot reach the API at " + api + "/api/v1/jobs/x (", 0), 0u)
      << run.err;
  EXPECT_NE(run.err.find("infra/dev.sh"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("JOBSCHED_API_URL"), std::string::npos) << run.err;
}

TEST_F(JobctlRestTest, RecurringPauseResumeRun) {
  JobctlRun submit =
      Jobctl({"submit", "--type", "echo", "--cron", "0 0 3 * * *", "--timezone", "Europe/Paris"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  const std::string id = submit.out.substr(0, 36);
  JobctlRun get = Jobctl({"get", id});
  EXPECT_NE(get.out.find("schedule      0 0 3 * * * (Europe/Paris)\n"), std::string::npos)
      << get.out;
  JobctlRun pause = Jobctl({"pause", id});
  EXPECT_EQ(pause.exit_code, 0) << pause.err;
  EXPECT_EQ(pause.out, id + " PAUSED\n");
  JobctlRun resume = Jobctl({"resume", id});
  EXPECT_EQ(resume.exit_code, 0) << resume.err;
  EXPECT_EQ(resume.out, id + " ACTIVE\n");
  JobctlRun run = Jobctl({"run", id, "--idempotency-key", "rerun-1", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json answer = json::parse(run.out);
  EXPECT_EQ(answer["job_id"], id);
  EXPECT_TRUE(LooksLikeUuid(answer["run_id"].get<std::string>()));
  EXPECT_EQ(EventTypesOf(id), (std::vector<std::string>{"JobSubmitted", "PauseRequested",
                                                        "ResumeRequested", "RunRequested"}));
}

}  // namespace
}  // namespace jobsched::api
