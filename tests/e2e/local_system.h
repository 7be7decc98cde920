// LocalSystem: the whole of jobsched on this machine for end-to-end tests and
// benchmarks: a throwaway PostgreSQL, the dev broker, and every service as a
// separate process (projector, scheduler, dispatcher, executor, api), talking
// over TCP exactly as in production. Not thread-safe; use from the test thread.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/devbroker.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"

namespace jobsched::testing {

struct LocalSystemOptions {
  int executor_slots = 8;
  int partitions = 12;  // of job-events (and the snapshot topics) on the dev broker
  std::string log_level = "info";
  std::map<std::string, std::string> extra_env;  // for every service
};

struct ApiReply {
  long status = 0;
  nlohmann::json body;  // null when the body is not JSON
};

class LocalSystem {
 public:
  static constexpr const char* kServices[] = {"projector", "scheduler", "dispatcher", "executor",
                                              "api"};

  // Starts everything and waits until the API answers /health (throws with
  // the logs' tails if it does not within 30 s).
  explicit LocalSystem(LocalSystemOptions options = {});
  ~LocalSystem();

  std::string ApiUrl(const std::string& path) const;
  ApiReply Api(const std::string& method, const std::string& path,
               const nlohmann::json& body = nullptr) const;
  const std::string& database_url() const { return database_url_; }
  const std::string& bootstrap() const { return broker_->bootstrap(); }

  // Process control for crash tests.
  void Start(const std::string& service);
  void Kill(const std::string& service);  // SIGKILL
  void Stop(const std::string& service);  // SIGTERM, graceful
  bool Running(const std::string& service);

  // The tails of every service's log, for failure messages.
  std::string LogTails() const;

  // For benchmarks that watch the processes. The pid of a running service,
  // of the dev broker ("devbroker") or of PostgreSQL's postmaster
  // ("postgres"); 0 when it is not running or unknown.
  pid_t Pid(const std::string& name) const;
  // The folder holding every service's log (<service>.log); kept after exit.
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
  std::map<std::string, std::unique_ptr<ChildProcess>> services_;
};

// GETs /api/v1/jobs/{id} until its status is `status` (or any terminal
// status, which ends the wait early). Returns the last job JSON seen.
nlohmann::json AwaitJobStatus(const LocalSystem& system, const std::string& job_id,
                              const std::string& status, std::chrono::milliseconds timeout);

}  // namespace jobsched::testing
