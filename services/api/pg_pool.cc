#include "services/api/pg_pool.h"

#include <optional>

namespace jobsched::api {
namespace {

// SQLSTATE classes that mean "the server cannot serve this now", not "the
// query is wrong": 08 connection exception, 53 insufficient resources,
// 57 operator intervention (57014 statement timeout, 57P01 admin shutdown).
bool IsUnavailableState(const std::string& sqlstate) {
  return sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("53", 0) == 0 ||
         sqlstate.rfind("57", 0) == 0;
}

}  // namespace

PgPool::PgPool(std::string database_url, PgPoolOptions options)
    : url_(WithConnectTimeout(database_url, options.connect_timeout)), options_(options) {}

PgPool::~PgPool() = default;

std::string PgPool::WithConnectTimeout(const std::string& url, std::chrono::seconds timeout) {
  if (url.find("connect_timeout") != std::string::npos) return url;
  std::string value = "connect_timeout=" + std::to_string(timeout.count());
  if (url.find("://") != std::string::npos) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + value;
  }
  return url.empty() ? value : url + " " + value;
}

std::unique_ptr<pqxx::connection> PgPool::Acquire(bool fresh, bool* reused, Status* error) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    bool ready = cv_.wait_for(lock, options_.acquire_timeout,
                              [&] { return !idle_.empty() || open_ < options_.size; });
    if (!ready) {
      *error = Status::Unavailable("all " + std::to_string(options_.size) +
                                   " PostgreSQL connections are busy");
      return nullptr;
    }
    if (fresh && open_ >= options_.size) {
      // Make room for a new connection: an idle one is as suspect as the
      // broken one it would replace.
      idle_.pop_back();
      --open_;
    }
    if (!fresh && !idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      *reused = true;
      return conn;
    }
    ++open_;  // reserve the slot; connect outside the lock
  }
  *reused = false;
  try {
    auto conn = std::make_unique<pqxx::connection>(url_);
    pqxx::nontransaction tx(*conn);
    tx.exec("SET statement_timeout = " + std::to_string(options_.statement_timeout.count()));
    return conn;
  } catch (const std::exception& e) {
    *error = Status::Unavailable(std::string("cannot connect to PostgreSQL: ") + e.what());
  }
  Release(nullptr);
  return nullptr;
}

void PgPool::Release(std::unique_ptr<pqxx::connection> conn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (conn && conn->is_open()) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
  }
  cv_.notify_one();
}

void PgPool::DropIdle() {
  std::vector<std::unique_ptr<pqxx::connection>> stale;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stale.swap(idle_);
    open_ -= stale.size();
  }
  cv_.notify_all();
  // Closed outside the lock: closing a dead socket may take a moment.
}

size_t PgPool::idle() {
  std::lock_guard<std::mutex> lock(mu_);
  return idle_.size();
}

Status PgPool::RunImpl(const std::function<void(pqxx::connection&)>& fn) {
  // After the server restarted, every pooled connection is dead but looks
  // fine until used. The first one that fails proves it: drop them all and
  // run `fn` once more on a new connection, so the request still succeeds.
  bool retried = false;
  while (true) {
    bool reused = false;
    Status error;
    std::unique_ptr<pqxx::connection> conn = Acquire(/*fresh=*/retried, &reused, &error);
    if (!conn) return error;
    Status failure;
    bool broken = false;
    try {
      fn(*conn);
      Release(std::move(conn));
      return Status::Ok();
    } catch (const pqxx::broken_connection& e) {
      broken = true;
      failure = Status::Unavailable(std::string("PostgreSQL connection lost: ") + e.what());
    } catch (const pqxx::sql_error& e) {
      bool unavailable = IsUnavailableState(e.sqlstate());
      // 57P01 admin_shutdown and the like end the session: the connection is gone.
      broken = !conn->is_open() || e.sqlstate().rfind("57P", 0) == 0;
      if (unavailable || broken) {
        failure = Status::Unavailable(std::string("PostgreSQL: ") + e.what());
      } else {
        failure = Status::Internal(std::string("PostgreSQL query failed: ") + e.what());
      }
      if (!unavailable && !broken) {
        Release(std::move(conn));
        return failure;
      }
    } catch (const std::exception& e) {
      broken = !conn->is_open();
      failure = broken ? Status::Unavailable(std::string("PostgreSQL connection lost: ") + e.what())
                       : Status::Internal(e.what());
      if (!broken) {
        Release(std::move(conn));
        return failure;
      }
    }
    Release(nullptr);
    if (!broken) return failure;  // unavailable (e.g. statement timeout): not a stale pool
    DropIdle();
    // Retry once, and only a connection that had been idle in the pool: a
    // fresh one that breaks means the server is down now.
    if (retried || !reused) return failure;
    retried = true;
  }
}

}  // namespace jobsched::api
