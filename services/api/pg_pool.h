// A small pool of libpqxx connections for the API's queries.
//
// Thread-safe. Each connection is used by one thread at a time: Run() lends a
// connection to the calling thread for the duration of `fn`. Connections are
// opened lazily (at most `size`), kept for reuse, and dropped when broken, so
// the pool recovers by itself once PostgreSQL is back.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "events/status.h"

namespace jobsched::api {

struct PgPoolOptions {
  size_t size = 4;                                      // connections at most
  std::chrono::seconds connect_timeout{3};              // libpq connect_timeout
  std::chrono::milliseconds statement_timeout{10'000};  // per statement, server side
  std::chrono::milliseconds acquire_timeout{5'000};     // waiting for a free connection
};

class PgPool {
 public:
  // `database_url` is a libpq connection string (URI or key=value form).
  PgPool(std::string database_url, PgPoolOptions options);
  ~PgPool();
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // Runs `fn` with a connection on the calling thread (blocking) and maps
  // failures to a Status:
  //   cannot connect, connection lost, server shutting down, statement
  //   timeout, no free connection in time      -> kUnavailable
  //   any other exception from libpqxx or `fn` -> kInternal (message kept)
  // A connection that was idle in the pool and turns out to be broken (the
  // server restarted) is dropped with every other idle connection (they are
  // as stale) and `fn` runs once more on a new connection, so `fn` must be
  // safe to repeat: reads, or writes inside one transaction.
  template <typename T>
  Result<T> Run(const std::function<T(pqxx::connection&)>& fn) {
    std::optional<T> out;
    Status s = RunImpl([&](pqxx::connection& c) { out.emplace(fn(c)); });
    if (!s.ok()) return s;
    return std::move(*out);
  }

  // Adds connect_timeout to a libpq connection string unless it has one.
  static std::string WithConnectTimeout(const std::string& url, std::chrono::seconds timeout);

  size_t idle();  // connections waiting in the pool (for tests)

 private:
  Status RunImpl(const std::function<void(pqxx::connection&)>& fn);
  // Returns an idle connection (unless `fresh`), or opens one; nullptr (and
  // `error`) on failure.
  std::unique_ptr<pqxx::connection> Acquire(bool fresh, bool* reused, Status* error);
  void Release(std::unique_ptr<pqxx::connection> conn);  // nullptr: it was broken
  void DropIdle();                                       // closes every idle connection

  const std::string url_;
  const PgPoolOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;  // guarded by mu_
  size_t open_ = 0;                                      // lent + idle; guarded by mu_
};

}  // namespace jobsched::api
