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

std::unique_ptr<pqxx::connection> PgPool::Acquire(bool* reused, Status* error) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    bool ready = cv_.wait_for(lock, options_.acquire_timeout,
                              [&] { return !idle_.empty() || open_ < options_.size; });
    if (!ready) {
      *error = Status::Unavailable("all " + std::to_string(options_.size) +
                                   " PostgreSQL connections are busy");
      return nullptr;
    }
    if (!idle_.empty()) {
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

Status PgPool::RunImpl(const std::function<void(pqxx::connection&)>& fn) {
  for (int attempt = 1;; ++attempt) {
    bool reused = false;
    Status error;
    std::unique_ptr<pqxx::connection> conn = Acquire(&reused, &error);
    if (!conn) return error;
    try {
      fn(*conn);
      Release(std::move(conn));
      return Status::Ok();
    } catch (const pqxx::broken_connection& e) {
      Release(nullptr);
      // A stale pooled connection (server restarted since): retry once on a fresh one.
      if (reused && attempt == 1) continue;
      return Status::Unavailable(std::string("PostgreSQL connection lost: ") + e.what());
    } catch (const pqxx::sql_error& e) {
      bool unavailable = IsUnavailableState(e.sqlstate());
      Release(conn->is_open() && !unavailable ? std::move(conn) : nullptr);
      if (unavailable) return Status::Unavailable(std::string("PostgreSQL: ") + e.what());
      return Status::Internal(std::string("PostgreSQL query failed: ") + e.what());
    } catch (const std::exception& e) {
      Release(conn->is_open() ? std::move(conn) : nullptr);
      return Status::Internal(e.what());
    }
  }
}

}  // namespace jobsched::api
