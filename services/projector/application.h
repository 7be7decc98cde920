// The projector service's wiring: configuration from the environment, schema
// migrations, the event log, the PostgreSQL store, the Projector (job-events)
// and the ExecutorProjector (executors), so main() stays thin and integration
// tests can run the service in-process.
#pragma once

#include <memory>
#include <string>

#include "events/event_log.h"
#include "events/status.h"
#include "projections/executor_projector.h"
#include "projections/pg_projection_store.h"
#include "projections/projector.h"
#include "projections/rebuild.h"
#include "services/common/config.h"

namespace jobsched::projector {

struct ApplicationOptions {
  std::string database_url;
  projections::ProjectorOptions projector;
  projections::ExecutorProjectorOptions executors;  // the `executors` topic's heartbeats
};

// Options from `config` (topics, DATABASE_URL, instance id) and:
//   JOBSCHED_PROJECTOR_BATCH        records per batch, 1..100000 (default 1000)
//   JOBSCHED_PROJECTOR_CACHE_JOBS   job states kept in memory, 0..10000000 (default 50000)
// Fails naming the malformed variable.
Result<ApplicationOptions> OptionsFromEnv(const services::ServiceConfig& config);

// `jobsched-projector --rebuild [--from log|archive]`: rebuilds every
// projection of the database and the cluster `config` names (topics with
// their prefix, DATABASE_URL) with projections::RebuildProjections, and
// returns; the projector itself is not started. Safe while other projector
// processes run (they resume from the rebuilt offsets).
Result<projections::RebuildReport> Rebuild(const services::ServiceConfig& config,
                                           projections::RebuildSource source);

// Not thread-safe: one thread calls Start and Stop (Stop is idempotent and
// also runs on destruction).
class Application {
 public:
  // A projector on `log`, which is not owned and must outlive the application.
  Application(ApplicationOptions options, events::EventLog& log);
  // Reads OptionsFromEnv and connects to the Kafka cluster `config` names
  // (the application owns that log).
  static Result<std::unique_ptr<Application>> FromEnv(const services::ServiceConfig& config);

  ~Application();
  Application(const Application&) = delete;
  Application& operator=(const Application&) = delete;

  // Applies the schema migrations (the database must exist), then starts
  // projecting. kUnavailable if PostgreSQL cannot be reached.
  Status Start();
  // Stops projecting; an unwritten batch is consumed again on the next start.
  void Stop();

  projections::ProjectorStats stats() const { return projector_.stats(); }
  projections::ExecutorProjectorStats executor_stats() const { return executors_.stats(); }

 private:
  Application(ApplicationOptions options, std::unique_ptr<events::EventLog> owned,
              events::EventLog& log);

  std::unique_ptr<events::EventLog> owned_log_;  // declared first: outlives projector_
  ApplicationOptions options_;
  projections::PgProjectionStore store_;
  projections::Projector projector_;
  projections::ExecutorProjector executors_;
};

}  // namespace jobsched::projector
