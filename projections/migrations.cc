#include "projections/migrations.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <set>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "projections/pg_internal.h"

namespace jobsched::projections {
namespace {

// Key of the transaction-scoped advisory lock that serialises migrations
// across processes ("jobsched" in ASCII).
constexpr int64_t kMigrationLockKey = 0x6a6f627363686564;

constexpr char kCreateMigrationsTable[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version int PRIMARY KEY,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

}  // namespace

Result<std::vector<Migration>> EmbeddedMigrations() {
  std::vector<Migration> out;
  std::set<int> versions;
  for (size_t i = 0; i < internal::kEmbeddedMigrationCount; ++i) {
    const internal::EmbeddedMigration& m = internal::kEmbeddedMigrations[i];
    std::string name = m.name;
    size_t digits = 0;
    while (digits < name.size() && std::isdigit(static_cast<unsigned char>(name[digits]))) ++digits;
    if (digits == 0 || digits > 9) {
      return Status::Internal("migration " + name + " does not start with a version number");
    }
    int version = std::stoi(name.substr(0, digits));
    if (version <= 0 || !versions.insert(version).second) {
      return Status::Internal("migration " + name + " repeats version " + std::to_string(version) +
                              " or uses version 0");
    }
    out.push_back({version, std::move(name),
                   std::string_view(reinterpret_cast<const char*>(m.sql), m.size)});
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  return out;
}

std::string DescribeDatabaseUrl(const std::string& database_url) {
  char* error = nullptr;
  PQconninfoOption* opts = PQconninfoParse(database_url.c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  if (opts == nullptr) return "(unparseable DATABASE_URL)";
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> guard(opts, &PQconninfoFree);
  std::string host, hostaddr, port, dbname, user;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    std::string_view k = o->keyword;
    if (k == "host") host = o->val;
    if (k == "hostaddr") hostaddr = o->val;
    if (k == "port") port = o->val;
    if (k == "dbname") dbname = o->val;
    if (k == "user") user = o->val;
  }
  if (host.empty()) host = hostaddr.empty() ? "(default host)" : hostaddr;
  std::string out = user.empty() ? "" : user + "@";
  out += host;
  if (!port.empty()) out += ":" + port;
  out += "/" + (dbname.empty() ? std::string("(default db)") : dbname);
  return out;
}

Status ApplyMigrations(const std::string& database_url, LogSink log_sink) {
  auto migrations = EmbeddedMigrations();
  if (!migrations.ok()) return migrations.status();
  ProjectionLogger log("migrations", std::move(log_sink));
  std::unique_ptr<pqxx::connection> conn;
  try {
    conn = std::make_unique<pqxx::connection>(database_url);
  } catch (const std::exception& e) {
    // Whatever the cause (server down, bad URL, unknown database), the message
    // says where we tried to connect; the caller may retry later.
    return Status::Unavailable("cannot connect to PostgreSQL at DATABASE_URL=" +
                               DescribeDatabaseUrl(database_url) +
                               " (the database must exist): " + e.what());
  }
  for (const Migration& m : *migrations) {
    const std::string what = "migration " + m.name;
    try {
      pqxx::work txn(*conn, "migration");
      txn.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")");
      txn.exec(kCreateMigrationsTable);
      pqxx::result done =
          txn.exec_params("SELECT 1 FROM schema_migrations WHERE version = $1", m.version);
      if (!done.empty()) {
        txn.commit();
        continue;
      }
      txn.exec(std::string(m.sql));
      txn.exec_params("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())",
                      m.version);
      txn.commit();
      log.Log(spdlog::level::info, "applied migration",
              {{"migration", m.name}, {"database", DescribeDatabaseUrl(database_url)}});
    } catch (const std::exception& e) {
      Status s = internal::TranslatePgError(e, what + " failed");
      log.Log(spdlog::level::err, s.message());
      return s;
    }
  }
  return Status::Ok();
}

}  // namespace jobsched::projections
