// The projector service's wiring: configuration from the environment, schema
// migrations, the PostgreSQL store, the Projector (job-events) and the
// ExecutorProjector (executors), behind services::Service so main() is one
// call to ServiceMain and integration tests can run the service in-process.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "events/event_log.h"
#include "events/status.h"
#include "projections/executor_projector.h"
#include "projections/pg_projection_store.h"
#include "projections/projector.h"
#include "projections/rebuild.h"
#include "services/common/config.h"
#include "services/common/service_main.h"

namespace jobsched::projector {

struct ApplicationOptions {
  std::string database_url;
  projections::ProjectorOptions projector;
  projections::ExecutorProjectorOptions executors;  // the `executors` topic's heartbeats
  // Where the projector's metrics go (not owned; must outlive it). Null: a
  // registry of its own, which nobody reads.
  prometheus::Registry* metrics = nullptr;
  // Ready() counts the projection caught up while no assigned partition has
  // more records than this left to project.
  int64_t ready_max_lag_records = 1000;
  // How often the monitor probes PostgreSQL and refreshes the lag gauges.
  std::chrono::milliseconds monitor_interval{1000};
};

// Options from `config` (topics, DATABASE_URL, instance id) and:
//   JOBSCHED_PROJECTOR_BATCH        most records per batch, 1..100000 (default 10000)
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
class Application final : public services::Service {
 public:
  // A projector on `log`, which is not owned and must outlive the application.
  Application(ApplicationOptions options, events::EventLog& log);

  ~Application() override;
  Application(const Application&) = delete;
  Application& operator=(const Application&) = delete;

  // Applies the schema migrations (the database must exist), then starts
  // projecting. kUnavailable if PostgreSQL cannot be reached.
  Status Start() override;
  // Stops projecting; an unwritten batch is consumed again on the next start.
  void Stop() override;
  // Kafka reachable (a producer's view: lost every broker, or its metadata
  // probe failed), PostgreSQL reachable (the monitor's probe, once a
  // second, not older than 5 s), partitions of job-events assigned, and each
  // caught up: at most ready_max_lag_records left to project.
  services::Readiness Ready() override;
  // {"projection": counters, "partitions": [{partition, projected,
  // high_watermark, lag_records}]}
  nlohmann::json Health() override;

  projections::ProjectorStats stats() const { return projector_.stats(); }
  projections::ExecutorProjectorStats executor_stats() const { return executors_.stats(); }

 private:
  ApplicationOptions options_;
  projections::PgProjectionStore store_;
  projections::Projector projector_;
  projections::ExecutorProjector executors_;

  // The monitor thread: probes PostgreSQL and sets the gauges, every
  // monitor_interval, until Stop.
  void MonitorLoop();
  void RegisterMetrics();
  void UpdateMetrics();

  events::EventLog& log_;
  std::unique_ptr<events::Producer> probe_;  // only for Reachable()
  std::thread monitor_;
  std::mutex mu_;  // guards what follows
  std::condition_variable monitor_cv_;
  bool stop_monitor_ = false;
  bool pg_ok_ = false;
  std::string pg_detail_ = "not probed yet";
  std::chrono::steady_clock::time_point pg_checked_at_{};

  std::shared_ptr<prometheus::Registry> own_metrics_;  // when options_.metrics is null
  prometheus::Family<prometheus::Gauge>* lag_records_ = nullptr;
  prometheus::Family<prometheus::Gauge>* lag_seconds_ = nullptr;
  struct PartitionGauges {
    prometheus::Gauge* records = nullptr;
    prometheus::Gauge* seconds = nullptr;  // null until an event was projected
  };
  std::map<int32_t, PartitionGauges> partition_gauges_;  // monitor thread only
  // jobsched_projector_events_total{result}: applied, duplicate, rejected,
  // undecodable; set from the projector's stats by their increase.
  std::array<prometheus::Counter*, 4> events_{};
  prometheus::Counter* batches_ = nullptr;
  prometheus::Counter* write_failures_ = nullptr;
  projections::ProjectorStats counted_;  // monitor thread only: stats already counted
};

// The service's factory (services::ServiceMain): options from
// OptionsFromEnv(context.config).
Result<std::unique_ptr<services::Service>> MakeProjector(services::ServiceContext& context);

// The projector's own command line: `--rebuild [--from log|archive]` runs
// Rebuild, prints its report and exits instead of projecting.
void AddCommandLine(CLI::App& cli, services::OneShot* one_shot);

}  // namespace jobsched::projector
