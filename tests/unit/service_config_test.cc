// ServiceConfig's consumer-group settings: per-service defaults, validation
// messages that name the variable, and the automatic group.instance.id (no
// two live processes on a host share one; a restart takes its old one back).
#include "services/common/config.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace jobsched::services {
namespace {

// Sets variables for one test and restores the previous values after it.
class ScopedEnv {
 public:
  explicit ScopedEnv(const std::map<std::string, std::string>& vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name.c_str());
      saved_[name] = old != nullptr ? std::optional<std::string>(old) : std::nullopt;
      setenv(name.c_str(), value.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

// Every test needs brokers; the group variables start unset.
std::map<std::string, std::string> Base(std::map<std::string, std::string> more = {}) {
  more.emplace("KAFKA_BROKERS", "127.0.0.1:9");
  for (const char* name : {"JOBSCHED_SESSION_TIMEOUT_MS", "JOBSCHED_GROUP_HEARTBEAT_MS",
                           "JOBSCHED_GROUP_INSTANCE_ID", "JOBSCHED_INSTANCE_ID"}) {
    more.emplace(name, "");  // EnvOr/EnvInt treat empty as unset
  }
  return more;
}

TEST(ServiceConfigGroups, SchedulerAndDispatcherHaveTheShortSessionOthersTheLongOne) {
  ScopedEnv env(Base());
  for (const char* service : {"scheduler", "dispatcher"}) {
    auto c = ServiceConfig::FromEnv(service);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->session_timeout_ms, 3000) << service;
    EXPECT_EQ(c->group_heartbeat_ms, 500) << service;
    EXPECT_EQ(c->group_instance_id, "") << service << ": dynamic membership by default";
  }
  for (const char* service : {"projector", "executor", ""}) {
    auto c = ServiceConfig::FromEnv(service);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->session_timeout_ms, 6000) << service;
  }
}

TEST(ServiceConfigGroups, VariablesOverrideTheDefaults) {
  ScopedEnv env(Base({{"JOBSCHED_SESSION_TIMEOUT_MS", "9000"},
                      {"JOBSCHED_GROUP_HEARTBEAT_MS", "3000"},
                      {"JOBSCHED_GROUP_INSTANCE_ID", "sched-east-1"}}));
  auto c = ServiceConfig::FromEnv("scheduler");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->session_timeout_ms, 9000);
  EXPECT_EQ(c->group_heartbeat_ms, 3000);
  EXPECT_EQ(c->group_instance_id, "sched-east-1");
}

TEST(ServiceConfigGroups, BadValuesAreRejectedNamingTheVariable) {
  struct Case {
    std::map<std::string, std::string> vars;
    std::string variable;
  };
  const Case cases[] = {
      {{{"JOBSCHED_SESSION_TIMEOUT_MS", "2999"}}, "JOBSCHED_SESSION_TIMEOUT_MS=2999"},
      {{{"JOBSCHED_SESSION_TIMEOUT_MS", "3s"}}, "JOBSCHED_SESSION_TIMEOUT_MS=3s"},
      {{{"JOBSCHED_SESSION_TIMEOUT_MS", "1800001"}}, "JOBSCHED_SESSION_TIMEOUT_MS=1800001"},
      {{{"JOBSCHED_GROUP_HEARTBEAT_MS", "1001"}}, "JOBSCHED_GROUP_HEARTBEAT_MS=1001"},
      {{{"JOBSCHED_GROUP_HEARTBEAT_MS", "0"}}, "JOBSCHED_GROUP_HEARTBEAT_MS=0"},
  };
  for (const Case& c : cases) {
    ScopedEnv env(Base(c.vars));
    auto config = ServiceConfig::FromEnv("scheduler");  // session 3000: heartbeat at most 1000
    ASSERT_FALSE(config.ok()) << c.variable;
    EXPECT_EQ(config.status().code(), ErrorCode::kInvalidArgument) << c.variable;
    EXPECT_NE(config.status().message().find(c.variable), std::string::npos)
        << config.status().message();
  }
}

TEST(ServiceConfigGroups, AutoInstanceIdUsesTheInstanceIdWhenSet) {
  ScopedEnv env(
      Base({{"JOBSCHED_GROUP_INSTANCE_ID", "auto"}, {"JOBSCHED_INSTANCE_ID", "node-7"}}));
  auto c = ServiceConfig::FromEnv("dispatcher");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->group_instance_id, "dispatcher-node-7");
}

// The id a child process gets from FromEnv(service); the child exits at once
// (its lock goes with it) unless `hold` is set, then it waits for SIGKILL.
struct Child {
  pid_t pid;
  std::string id;
};
Child AutoIdInChild(const std::string& service, bool hold) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    auto c = ServiceConfig::FromEnv(service);
    std::string id = c.ok() ? c->group_instance_id : "error: " + c.status().ToString();
    id += "\n";
    (void)!write(fds[1], id.data(), id.size());
    close(fds[1]);
    if (hold) pause();
    _exit(0);
  }
  close(fds[1]);
  std::string id;
  char buf[256];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) id.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  if (!id.empty() && id.back() == '\n') id.pop_back();
  return {pid, id};
}

TEST(ServiceConfigGroups, AutoInstanceIdsDifferPerLiveProcessAndComeBackAfterAnExit) {
  char tmpl[] = "/tmp/jobsched-config-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  ScopedEnv env(Base({{"JOBSCHED_GROUP_INSTANCE_ID", "auto"}, {"TMPDIR", tmpl}}));
  char host[256] = "host";
  gethostname(host, sizeof host - 1);
  const std::string prefix = std::string("scheduler-") + host + "-";

  // The pipe answers once the child holds its slot; kill -9 releases it.
  Child first = AutoIdInChild("scheduler", /*hold=*/true);
  Child second = AutoIdInChild("scheduler", /*hold=*/true);
  EXPECT_EQ(first.id, prefix + "0");
  EXPECT_EQ(second.id, prefix + "1");
  Child other_service = AutoIdInChild("dispatcher", /*hold=*/false);
  EXPECT_EQ(other_service.id, std::string("dispatcher-") + host + "-0");

  kill(first.pid, SIGKILL);
  waitpid(first.pid, nullptr, 0);
  Child restarted = AutoIdInChild("scheduler", /*hold=*/false);
  EXPECT_EQ(restarted.id, prefix + "0") << "a restart takes the freed slot back";

  kill(second.pid, SIGKILL);
  waitpid(second.pid, nullptr, 0);
  waitpid(other_service.pid, nullptr, 0);
  waitpid(restarted.pid, nullptr, 0);
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace jobsched::services
