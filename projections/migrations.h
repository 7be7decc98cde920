// Schema migrations for the PostgreSQL database the services share.
//
// The files infra/migrations/NNN_name.sql are embedded into the binary at
// build time (embed_migrations.cmake) and applied in version order. Each
// applied version is recorded in
//   schema_migrations(version int PRIMARY KEY, applied_at timestamptz)
// Every migration runs in its own transaction under a transaction-scoped
// advisory lock, so several services starting at once (api and projector)
// apply each migration exactly once and never see a half-applied one.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "events/status.h"
#include "projections/projection_log.h"

namespace jobsched::projections {

struct Migration {
  int version = 0;        // NNN of NNN_name.sql
  std::string name;       // the file name, "001_initial.sql"
  std::string_view sql;   // points into static storage
};

// The embedded migrations in ascending version order. Fails with
// kInternal if two files share a version or a name does not start with digits
// (a build mistake; tests catch it).
Result<std::vector<Migration>> EmbeddedMigrations();

// Applies every embedded migration not yet recorded in schema_migrations.
// The database must exist: this never creates it. Idempotent and safe to call
// concurrently from several processes. Errors: kUnavailable when the server
// cannot be reached (the message names DATABASE_URL without its password),
// kInternal when a migration fails (it is rolled back; earlier ones stay).
// Thread-safe (uses its own connection). Logs each applied migration to
// `log_sink`, or to the spdlog logger "migrations" when none is given.
Status ApplyMigrations(const std::string& database_url, LogSink log_sink = nullptr);

// `database_url` (a libpq URI or key=value string) for logs:
// "user@host:port/dbname", never the password. Unparseable input gives
// "(unparseable DATABASE_URL)".
std::string DescribeDatabaseUrl(const std::string& database_url);

namespace internal {
// Filled by the generated embedded_migrations.cc.
struct EmbeddedMigration {
  const char* name;
  const unsigned char* sql;
  size_t size;
};
extern const EmbeddedMigration kEmbeddedMigrations[];
extern const size_t kEmbeddedMigrationCount;
}  // namespace internal

}  // namespace jobsched::projections
