// A throwaway PostgreSQL cluster for tests (started with infra/pg.sh).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include "tests/support/process.h"

namespace jobsched::testing {

// A database name for one test: `prefix` + `test_name`, lower case, every
// character that is not a letter or digit made '_', at most 63 (PostgreSQL's limit).
std::string DatabaseNameFor(std::string_view prefix, std::string_view test_name);

// CPU seconds (user + system) the PostgreSQL server processes behind the
// connections named `application` have used so far; only those on this
// machine, read from /proc. Opens a connection of its own to `url`.
double BackendCpuSeconds(const std::string& url, const std::string& application);

// Owns one PostgreSQL cluster in a fresh /tmp folder on a free port, with trust
// auth for user postgres and durability off. The destructor stops the cluster
// and removes the folder; if the test process dies first, a watchdog process
// does both within about a second. Methods are thread-safe after construction.
class ScopedPostgres {
 public:
  // Starts the cluster (~1.5 s); throws std::runtime_error with pg.sh's output.
  ScopedPostgres();
  ~ScopedPostgres();
  ScopedPostgres(const ScopedPostgres&) = delete;
  ScopedPostgres& operator=(const ScopedPostgres&) = delete;

  // One cluster per test process, started on first use, stopped at exit.
  static ScopedPostgres& Shared();

  int port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }
  // libpq URI: postgresql://postgres@127.0.0.1:PORT/DB
  std::string ConnectionString(const std::string& db = "postgres") const;
  // Creates database `name` ([A-Za-z_][A-Za-z0-9_]*) unless it exists; returns
  // its connection string. Throws std::runtime_error on failure.
  std::string CreateDatabase(const std::string& name);

  // Fault injection: stops the server (fast shutdown: sessions are ended) /
  // starts it again on the same port with the same data. Throw
  // std::runtime_error with pg.sh's output on failure.
  void StopServer();
  void StartServer();

 private:
  // Stops the watchdog and the cluster, removes the folder; reports errors on stderr.
  void Cleanup() noexcept;

  std::string pg_sh_;  // infra/pg.sh
  std::string dir_;
  std::string data_dir_;
  std::string log_path_;  // output of pg.sh itself
  int port_ = 0;
  std::unique_ptr<ChildProcess> watchdog_;
  std::atomic<int> createdb_calls_{0};
};

}  // namespace jobsched::testing
