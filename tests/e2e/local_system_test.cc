// The LocalSystem harness itself: several executor processes, each with its
// own environment and log, and process control by name (start, kill, stop,
// pause, resume). Checks the processes from /proc, not from what the
// executors do, so it holds whatever the executor's behaviour.
#include "tests/e2e/local_system.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/wait.h"

namespace jobsched::testing {
namespace {

using std::chrono::seconds;

// The environment of a running process.
std::map<std::string, std::string> EnvOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ");
  std::map<std::string, std::string> env;
  for (std::string kv; std::getline(in, kv, '\0');) {
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

// The state letter of /proc/<pid>/stat: 'T' when stopped (SIGSTOP).
char StateOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto paren = stat.rfind(')');  // the command name may contain spaces
  return paren != std::string::npos && paren + 2 < stat.size() ? stat[paren + 2] : '?';
}

TEST(LocalSystemHarness, RunsSeveralExecutorsEachWithItsOwnEnvAndLog) {
  LocalSystemOptions o;
  o.executor_slots = 3;
  o.extra_env = {{"JOBSCHED_EXECUTOR_POOL", "default"}};
  o.executors = {{"exec-1", {}},
                 {"exec-gpu", {{"JOBSCHED_EXECUTOR_POOL", "gpu"},
                               {"JOBSCHED_EXECUTOR_RESOURCES", "gpu_units=1"},
                               {"JOBSCHED_EXECUTOR_SLOTS", "1"}}}};
  LocalSystem system(o);

  std::vector<std::string> expected = {"projector", "scheduler", "dispatcher",
                                       "exec-1",    "exec-gpu",  "api"};
  EXPECT_EQ(system.Processes(), expected);
  const pid_t one = system.Pid("exec-1");
  const pid_t gpu = system.Pid("exec-gpu");
  ASSERT_GT(one, 0);
  ASSERT_GT(gpu, 0);
  EXPECT_NE(one, gpu);
  EXPECT_EQ(system.Pid("executor"), 0) << "no default executor when executors are given";
  EXPECT_THROW(system.Kill("executor"), std::invalid_argument);

  auto env1 = EnvOf(one);
  EXPECT_EQ(env1["JOBSCHED_EXECUTOR_ID"], "exec-1");
  EXPECT_EQ(env1["JOBSCHED_EXECUTOR_POOL"], "default");
  EXPECT_EQ(env1["JOBSCHED_EXECUTOR_SLOTS"], "3");
  auto env_gpu = EnvOf(gpu);
  EXPECT_EQ(env_gpu["JOBSCHED_EXECUTOR_ID"], "exec-gpu");
  EXPECT_EQ(env_gpu["JOBSCHED_EXECUTOR_POOL"], "gpu") << "its own env wins over extra_env";
  EXPECT_EQ(env_gpu["JOBSCHED_EXECUTOR_RESOURCES"], "gpu_units=1");
  EXPECT_EQ(env_gpu["JOBSCHED_EXECUTOR_SLOTS"], "1");

  // One log per process: each executor writes its own (its startup lines).
  ASSERT_TRUE(WaitFor([&] { return !ReadFile(system.log_dir() + "/exec-1.log").empty(); },
                      seconds(10)));
  ASSERT_TRUE(WaitFor([&] { return !ReadFile(system.log_dir() + "/exec-gpu.log").empty(); },
                      seconds(10)));

  // Pause / Resume: SIGSTOP and SIGCONT, the process stays the same.
  system.Pause("exec-gpu");
  EXPECT_TRUE(WaitFor([&] { return StateOf(gpu) == 'T'; }, seconds(5)));
  EXPECT_TRUE(system.Running("exec-gpu"));
  system.Resume("exec-gpu");
  EXPECT_TRUE(WaitFor([&] { return StateOf(gpu) != 'T'; }, seconds(5)));
  EXPECT_EQ(system.Pid("exec-gpu"), gpu);

  // Kill and Start by name: a new process with the same env.
  system.Kill("exec-1");
  EXPECT_FALSE(system.Running("exec-1"));
  EXPECT_EQ(system.Pid("exec-1"), 0);
  system.Start("exec-1");
  ASSERT_GT(system.Pid("exec-1"), 0);
  EXPECT_NE(system.Pid("exec-1"), one);
  EXPECT_EQ(EnvOf(system.Pid("exec-1"))["JOBSCHED_EXECUTOR_ID"], "exec-1");

  // A paused process still stops gracefully (it is resumed first).
  system.Pause("exec-1");
  system.Stop("exec-1");
  EXPECT_FALSE(system.Running("exec-1"));

  // Executors and other processes added later.
  system.AddExecutor({"exec-3", {{"JOBSCHED_EXECUTOR_POOL", "gpu"}}});
  ASSERT_GT(system.Pid("exec-3"), 0);
  EXPECT_EQ(EnvOf(system.Pid("exec-3"))["JOBSCHED_EXECUTOR_POOL"], "gpu");
  EXPECT_THROW(system.AddExecutor({"exec-3", {}}), std::invalid_argument);
  EXPECT_THROW(system.Start("nobody"), std::invalid_argument);
  system.AddProcess("scheduler-2", "scheduler");
  ASSERT_GT(system.Pid("scheduler-2"), 0);
  EXPECT_NE(system.Pid("scheduler-2"), system.Pid("scheduler"));

  // The destructor stops a paused process too (it resumes it first).
  system.Pause("exec-3");
}

TEST(LocalSystemHarness, ExecutorNamesMustBeUniqueAndNotAService) {
  // Rejected before anything starts.
  for (const auto& names : std::vector<std::vector<std::string>>{
           {"scheduler"}, {"api"}, {"exec-1", "exec-1"}, {""}}) {
    LocalSystemOptions o;
    o.executors.clear();
    for (const auto& name : names) o.executors.push_back({name, {}});
    EXPECT_THROW(LocalSystem{o}, std::invalid_argument) << names.size() << " " << names[0];
  }
}

}  // namespace
}  // namespace jobsched::testing
