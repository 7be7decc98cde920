// The operations reads of the API: executors, queue statistics and dead
// letters, from the projections of migration 003 (executors, jobs'
// run counts, dead_letters). One function per route, each in one read-only
// transaction on the connection it is lent; worker threads only (like
// job_queries.h). libpqxx exceptions propagate (PgPool maps them).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "events/time.h"
#include "services/api/cursor.h"

namespace jobsched::api {

// GET /api/v1/executors: {"executors": [{id, host, pool, slots, resources,
// running, held_runs, incarnation, task_partition, started_at,
// last_heartbeat, stopping, status}]} by id. status is STALE when the last
// heartbeat is older than `executor_timeout` at `now`, or was the last one of
// a graceful stop (stopping); else ACTIVE.
nlohmann::json ListExecutors(pqxx::connection& c, TimePoint now,
                             std::chrono::milliseconds executor_timeout);

// GET /api/v1/queue/stats: {"queued": {"by_priority": {"10": n, ...},
// "by_pool": {"default": n, ...}, "total": n}, "running": n, "retrying": n,
// "dead": n, "waiting_reasons": [{"reason", "count"}]}. Counts of runs in
// flight (a recurring job's runs included): queued = not started (DUE or
// DISPATCHED), running = RUNNING, retrying = failed and waiting for their
// retry (or requeued); dead = jobs DEAD; waiting_reasons = jobs whose queued
// run waits for an executor (RunWaiting), by reason, most first.
nlohmann::json QueueStats(pqxx::connection& c);

struct DeadLettersQuery {
  int limit = 50;
  bool include_requeued = false;
  std::optional<DeadLetterCursor> cursor;  // the page after this row
};

// GET /api/v1/dead-letters: {"dead_letters": [{job_id, name, type, pool,
// priority, status, last_run_id, attempts, reason, last_error, dead_at,
// requeued_at, requeues}], "next_cursor"}. status is the job's current one
// (DEAD until requeued, then as the fold has it).
nlohmann::json DeadLettersPage(pqxx::connection& c, const DeadLettersQuery& query);

}  // namespace jobsched::api
