// LocalSystem: the whole of jobsched on this machine for end-to-end tests and
// benchmarks: a throwaway PostgreSQL, the dev broker, and every service as a
// separate process (projector, scheduler, dispatcher, one or more executors,
// api), talking over TCP exactly as in production. Not thread-safe; use from
// the test thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tests/support/devbroker.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"

namespace jobsched::testing {

// One executor process.
struct ExecutorSpec {
  // Names the process in Start/Kill/Stop/Pause/Resume/Running/Pid and its
  // log (<log_dir>/<name>.log); also its JOBSCHED_EXECUTOR_ID unless `env`
  // or extra_env sets one.
  std::string name = "executor";
  // On top of everything else (extra_env included), e.g.
  // {{"JOBSCHED_EXECUTOR_POOL", "gpu"}, {"JOBSCHED_EXECUTOR_RESOURCES", "gpu_units=1"},
  //  {"JOBSCHED_EXECUTOR_SLOTS", "1"}}.
  std::map<std::string, std::string> env;
};

struct LocalSystemOptions {
  int executor_slots = 8;  // JOBSCHED_EXECUTOR_SLOTS of every executor, unless its env says
  int partitions = 12;  // of job-events (and the snapshot topics) on the dev broker
  std::string log_level = "info";
  std::map<std::string, std::string> extra_env;  // for every service
  // The executor processes started with the system, in this order (names
  // must be unique and must not be another service's). Empty: none.
  std::vector<ExecutorSpec> executors = {ExecutorSpec{}};
  // The dev broker stores its log and the services' committed group offsets
  // in a data dir (under log_dir()), as infra/dev.sh runs it, so that
  // RestartAll() keeps them. Off: the log lives in memory only.
  bool persistent_broker = false;
};

struct ApiReply {
  long status = 0;
  nlohmann::json body;  // null when the body is not JSON
};

class LocalSystem {
 public:
  // The services, in start order; "executor" stands for every executor of
  // LocalSystemOptions::executors.
  static constexpr const char* kServices[] = {"projector", "scheduler", "dispatcher", "executor",
                                              "api"};

  // Starts everything and waits until the API answers /health (throws with
  // the logs' tails if it does not within 30 s).
  explicit LocalSystem(LocalSystemOptions options = {});
  ~LocalSystem();

  std::string ApiUrl(const std::string& path) const;
  // The admin port (/health, /ready, /metrics) of a process (by name, as in
  // Start): every process gets JOBSCHED_ADMIN_PORT=0 and writes the port it
  // bound to a file, which this awaits. Throws if none appears in `timeout`.
  int AdminPort(const std::string& name,
                std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  ApiReply Api(const std::string& method, const std::string& path,
               const nlohmann::json& body = nullptr) const;
  const std::string& database_url() const { return database_url_; }
  const std::string& bootstrap() const { return broker_->bootstrap(); }

  // Process control for crash tests. `name` names a process: "projector",
  // "scheduler", "dispatcher", "api", an executor's ExecutorSpec::name (just
  // "executor" by default) or one added by AddExecutor/AddProcess; anything
  // else throws std::invalid_argument. Start (re)starts the process with its
  // env as configured (a running one is killed first).
  void Start(const std::string& name);
  void Kill(const std::string& name);  // SIGKILL
  // SIGTERM (resumes a paused one first), graceful; SIGKILL after `grace`.
  // Returns the exit code (128 + signal if killed).
  int Stop(const std::string& name, std::chrono::milliseconds grace = std::chrono::seconds(10));
  bool Running(const std::string& name);  // a paused process is running
  // SIGSTOP / SIGCONT: a paused process keeps its sockets but sends nothing
  // (no heartbeats, no results) until resumed, as a zombie executor would.
  void Pause(const std::string& name);
  void Resume(const std::string& name);

  // Stops the whole system gracefully (every service in reverse start order,
  // the dev broker, PostgreSQL) and starts it again on the same data, as a
  // restart of infra/dev.sh does; waits until the API answers /health.
  // Needs persistent_broker. Throws std::logic_error without it, and
  // std::runtime_error if the broker did not store its log whole or a part
  // does not come back.
  void RestartAll();

  // Adds an executor (e.g. a GPU executor a test brings in later) and starts
  // it. Throws std::invalid_argument if the name is taken.
  void AddExecutor(const ExecutorSpec& spec);
  // Adds and starts another process of `service` (e.g. a second "scheduler"
  // named "scheduler-2") with `env` on top of the common one. Throws
  // std::invalid_argument if the name is taken.
  void AddProcess(const std::string& name, const std::string& service,
                  std::map<std::string, std::string> env = {});
  // Every process name, in start order (for benchmarks that watch them).
  std::vector<std::string> Processes() const;

  // The dependencies, for fault injection (ScopedDevBroker::Control,
  // ScopedPostgres::StopServer / StartServer).
  ScopedDevBroker& broker() { return *broker_; }
  ScopedPostgres& postgres() { return *postgres_; }

  // The tails of every process's log, for failure messages.
  std::string LogTails() const;

  // For benchmarks that watch the processes. The pid of a running process
  // (by name, as in Start), of the dev broker ("devbroker") or of PostgreSQL's postmaster
  // ("postgres"); 0 when it is not running or unknown.
  pid_t Pid(const std::string& name) const;
  // The folder holding every process's log (<name>.log); kept after exit.
  const std::string& log_dir() const { return dir_; }
  // The dev broker's log so far (it warns when it drops old events).
  std::string BrokerLog() const { return broker_->Log(); }

 private:
  LocalSystemOptions options_;
  std::string dir_;
  std::unique_ptr<ScopedPostgres> postgres_;
  std::unique_ptr<ScopedDevBroker> broker_;
  std::string database_url_;
  int api_port_ = 0;
  void StartBroker();
  std::string AdminPortFile(const std::string& name) const;
  void StopServices();
  void AwaitHealthy();
  struct ProcessSpec {
    std::string service;  // the binary is jobsched-<service>
    std::map<std::string, std::string> env;
  };
  ProcessSpec& SpecOf(const std::string& name);
  ChildProcess& ProcessOf(const std::string& name);
  void Register(const std::string& name, ProcessSpec spec);

  std::vector<std::string> order_;            // process names, in start order
  std::map<std::string, ProcessSpec> specs_;  // by name
  std::map<std::string, std::unique_ptr<ChildProcess>> services_;  // by name, once started
  std::set<std::string> paused_;
};

// For benchmarks run from the build tree without ctest: the services are the
// binaries beside the running one, the migrations under `source_dir` (either
// unless JOBSCHED_BIN_DIR / JOBSCHED_SOURCE_DIR already say otherwise).
void UseServicesBesideThisBinary(const std::string& source_dir);
// Adds each "NAME=VALUE" of a benchmark's --env options to `env`; false,
// saying why on stderr, for one without '='.
bool AddEnvSettings(const std::vector<std::string>& settings,
                    std::map<std::string, std::string>& env);

// GETs /api/v1/jobs/{id} until its status is `status` (or any terminal
// status, which ends the wait early). Returns the last job JSON seen.
nlohmann::json AwaitJobStatus(const LocalSystem& system, const std::string& job_id,
                              const std::string& status, std::chrono::milliseconds timeout);

}  // namespace jobsched::testing
