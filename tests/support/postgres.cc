#include "tests/support/postgres.h"

#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <pqxx/pqxx>
#include <stdexcept>
#include <system_error>

namespace jobsched::testing {
namespace {

constexpr auto kPgShTimeout = std::chrono::seconds(90);

}  // namespace

ScopedPostgres::ScopedPostgres()
    : pg_sh_(SourcePath("infra/pg.sh")),
      dir_(MakeTempDir("jobsched-pg-")),
      data_dir_(dir_ + "/data"),
      log_path_(dir_ + "/pg.sh.log") {
  // Stops the cluster and removes the folder if this process dies without
  // running the destructor (crash, abort, kill). Not tied to our lifetime.
  ChildOptions detached;
  detached.die_with_parent = false;
  watchdog_ = std::make_unique<ChildProcess>(
      "bash",
      std::vector<std::string>{
          "-c", "tail --pid=\"$0\" -f /dev/null; bash \"$1\" stop \"$2\"; rm -rf \"$3\"",
          std::to_string(getpid()), pg_sh_, data_dir_, dir_},
      detached);
  // FreeTcpPort() can race with another process: retry on a new port.
  std::string error;
  try {
    for (int attempt = 1; attempt <= 3; ++attempt) {
      port_ = FreeTcpPort();
      if (RunProcess("bash", {pg_sh_, "start", data_dir_, std::to_string(port_)}, log_path_,
                     kPgShTimeout) == 0) {
        return;
      }
    }
    error = "PostgreSQL did not start (infra/pg.sh start):\n" + TailFile(log_path_);
  } catch (const std::exception& e) {
    error = std::string("PostgreSQL did not start: ") + e.what();
  }
  Cleanup();
  throw std::runtime_error(error);
}

ScopedPostgres::~ScopedPostgres() { Cleanup(); }

void ScopedPostgres::Cleanup() noexcept {
  if (watchdog_->Running()) kill(-watchdog_->pid(), SIGKILL);  // bash and its tail
  watchdog_->Kill();
  try {
    int code = RunProcess("bash", {pg_sh_, "stop", data_dir_}, log_path_, kPgShTimeout);
    if (code != 0) {
      std::cerr << "ScopedPostgres: pg.sh stop failed:\n" << TailFile(log_path_) << "\n";
    }
    std::filesystem::remove_all(dir_);
  } catch (const std::exception& e) {  // called from a destructor: report, do not throw
    std::cerr << "ScopedPostgres: cleanup of " << dir_ << " failed: " << e.what() << "\n";
  }
}

void ScopedPostgres::StopServer() {
  if (RunProcess("bash", {pg_sh_, "stop", data_dir_}, log_path_, kPgShTimeout) != 0) {
    throw std::runtime_error("PostgreSQL did not stop (infra/pg.sh stop):\n" + TailFile(log_path_));
  }
}

void ScopedPostgres::StartServer() {
  if (RunProcess("bash", {pg_sh_, "start", data_dir_, std::to_string(port_)}, log_path_,
                 kPgShTimeout) != 0) {
    throw std::runtime_error("PostgreSQL did not start again (infra/pg.sh start):\n" +
                             TailFile(log_path_));
  }
}

ScopedPostgres& ScopedPostgres::Shared() {
  static ScopedPostgres instance;
  return instance;
}

std::string ScopedPostgres::ConnectionString(const std::string& db) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + db;
}

std::string DatabaseNameFor(std::string_view prefix, std::string_view test_name) {
  std::string name = std::string(prefix) + std::string(test_name);
  for (char& c : name) {
    c = std::isalnum(static_cast<unsigned char>(c))
            ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
            : '_';
  }
  return name.substr(0, 63);  // PostgreSQL's limit for identifiers
}

std::string ScopedPostgres::CreateDatabase(const std::string& name) {
  // A log per call keeps concurrent calls from interleaving their output.
  const std::string log = dir_ + "/createdb-" + std::to_string(++createdb_calls_) + ".log";
  if (RunProcess("bash", {pg_sh_, "createdb", std::to_string(port_), name}, log, kPgShTimeout) !=
      0) {
    throw std::runtime_error("creating database " + name + " failed:\n" + TailFile(log));
  }
  return ConnectionString(name);
}

double BackendCpuSeconds(const std::string& url, const std::string& application) {
  pqxx::connection c(url);
  pqxx::nontransaction txn(c);
  auto r =
      txn.exec_params("SELECT pid FROM pg_stat_activity WHERE application_name = $1", application);
  long ticks = 0;
  for (const auto& row : r) {
    std::vector<std::string> f = ProcStatFields(row[0].as<pid_t>());
    if (f.size() < 13) continue;                   // gone
    ticks += std::stol(f[11]) + std::stol(f[12]);  // utime, stime
  }
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace jobsched::testing
