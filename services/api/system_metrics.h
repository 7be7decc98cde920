// GET /api/v1/metrics: the whole system as the API sees it, in Prometheus's
// text exposition format (0.0.4). Every jobsched_system_* series is a gauge:
// a point-in-time count read from the PostgreSQL projections (and the Kafka
// high watermarks) at scrape time, not a counter the API keeps. Rates belong
// to the services' own counters on their admin ports; these answer "how
// many, right now". The API process's own registries follow them.
//
// Three parts, so each can be tested alone: the snapshot (plain data), the
// pure rendering of a snapshot, and the reads that fill one (PostgreSQL via
// ops_queries.h, Kafka watermarks via the event log).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "events/event_log.h"
#include "events/status.h"
#include "events/time.h"
#include "events/topics.h"

namespace prometheus {
class Registry;
}

namespace jobsched::api {

// Where one projection stands on one partition of the topic it folds.
struct ProjectionPosition {
  std::string projection;  // projection_offsets.projection: "jobs", "executors"
  std::string topic;
  int32_t partition = 0;
  std::optional<int64_t> next_offset;     // none: the projection has no row yet
  std::optional<int64_t> high_watermark;  // none: Kafka could not be asked
  std::optional<int64_t> low_watermark;
};

// Executors of one pool, judged as GET /api/v1/executors judges them.
struct PoolExecutors {
  int64_t active = 0;
  int64_t stale = 0;
  int64_t slots_used = 0;  // runs in progress on ACTIVE executors
  int64_t slots_free = 0;  // slots - running of ACTIVE executors (never below 0)
};

struct SystemSnapshot {
  std::map<std::string, int64_t> jobs_by_status;        // jobs projection, DELETED included
  std::map<std::string, int64_t> executions_by_status;  // job_executions rows (one per attempt)
  // As GET /api/v1/queue/stats computes them (runs, not jobs).
  std::map<std::string, int64_t> queued_by_pool;
  std::map<int, int64_t> queued_by_priority;
  int64_t queued = 0;
  int64_t running = 0;
  int64_t retrying = 0;
  std::map<std::string, int64_t> waiting_by_reason;  // jobs whose queued run waits, by reason
  std::map<std::string, PoolExecutors> executors;    // by pool
  int64_t dead_letters_waiting = 0;                  // dead, not requeued
  int64_t dead_letters_requeued = 0;
  std::vector<ProjectionPosition> projections;
  bool kafka_ok = true;  // the watermarks could be read
};

// The exposition text of `s` (jobsched_system_* gauges, HELP and TYPE lines,
// every known job and execution status present, zeros included). Pure.
std::string RenderSystemMetrics(const SystemSnapshot& s);

// Fills the PostgreSQL part of a snapshot (everything but the watermarks;
// projections get their next_offset rows). Reuses ops_queries.h's queue
// statistics and executors. libpqxx exceptions propagate.
SystemSnapshot ReadSystemSnapshot(pqxx::connection& c, TimePoint now,
                                  std::chrono::milliseconds executor_timeout);

// The projections the projector keeps, and the topic each folds.
std::map<std::string, std::string> KnownProjections(const events::Topics& topics);

struct SystemMetricsSources {
  std::string database_url;
  events::EventLog* log = nullptr;  // for partition counts and watermarks; not owned
  events::Topics topics;
  std::chrono::milliseconds executor_timeout{30'000};
  Clock* clock = nullptr;  // not owned
  // The API process's registries, appended after the system's gauges (the
  // same registry listed twice is served once); not owned.
  std::vector<prometheus::Registry*> registries;
};

// ApiOptions::system_metrics: a thread-safe function that reads a snapshot
// and renders it. kUnavailable when PostgreSQL cannot be read; with Kafka
// unreachable the lag series are left out and jobsched_system_kafka_up is 0.
std::function<Result<std::string>()> MakeSystemMetricsCollector(SystemMetricsSources sources);

}  // namespace jobsched::api
