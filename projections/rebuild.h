// Rebuilding the projections: every table the projector writes is thrown
// away and folded again, from one of two sources:
//
//   kLog      `job-events` from offset 0 (refused when retention has dropped
//             the start of a partition: those events survive only in the
//             archive), job_logs included;
//   kArchive  job_logs, the archive of every projected record (its bytes, in
//             (partition, offset) order); job_logs itself is kept as it is.
//
// Both run the normal Projector (poll → fold → one transaction of rows and
// offsets per batch) and, for `executors`, the ExecutorProjector on the
// `executors` topic (the archive holds job-events only).
//
// Safe beside a live projector: the rebuild writes into a scratch schema
// (fresh tables from the embedded migrations), then swaps the rebuilt tables
// in, in one transaction (DROP the live table, ALTER TABLE … SET SCHEMA), so
// readers see the old tables or the new ones, never a mix. The rebuilt
// projection_offsets come with them: a live projector's next write is fenced
// on offsets it no longer finds, so it restarts from the rebuilt offsets and
// projects what arrived during the rebuild. A session advisory lock keeps two
// rebuilds of one database apart.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "events/event_log.h"
#include "events/status.h"
#include "projections/projection_log.h"

namespace jobsched::projections {

enum class RebuildSource { kLog, kArchive };
const char* ToString(RebuildSource source);  // "log" | "archive"
// "log" or "archive"; kInvalidArgument otherwise.
Result<RebuildSource> ParseRebuildSource(const std::string& text);

struct RebuildOptions {
  std::string database_url;  // the live tables: the first schema of its search_path
  RebuildSource source = RebuildSource::kLog;
  std::string topic = "job-events";
  // The heartbeats' topic; empty: the executors table is kept as it is.
  std::string executors_topic = "executors";
  // Where the tables are rebuilt before the swap; dropped first if a crashed
  // rebuild left it behind.
  std::string scratch_schema = "jobsched_rebuild";
  size_t max_batch_records = 1000;
  // Fails when the rebuild makes no progress for this long.
  std::chrono::milliseconds stall_timeout{60000};
  // Receives the projectors' and the rebuild's log lines; unset: spdlog
  // logger "rebuild".
  LogSink log_sink;
};

struct RebuiltTable {
  std::string name;
  int64_t rows = 0;
  std::string from;  // "job-events", "executors topic", "kept (the archive)", …
};

struct RebuildReport {
  RebuildSource source = RebuildSource::kLog;
  std::string schema;  // where the tables live (the live schema)
  std::vector<RebuiltTable> tables;
  uint64_t events = 0;  // job-events records folded
  uint64_t applied = 0;
  uint64_t duplicates = 0;
  uint64_t rejected = 0;
  uint64_t undecodable = 0;
  uint64_t heartbeats = 0;  // executors records read
  std::map<int32_t, int64_t> next_offsets;  // job-events partition → next offset stored
  double seconds = 0;
};

// Rebuilds every projection of `options.database_url` (applying the
// migrations first). `log` is the Kafka cluster: job-events for kLog, the
// executors topic for both sources. Errors: kConflict when the log no longer
// starts at offset 0 (kLog) or another rebuild holds the lock; kUnavailable
// when Kafka or PostgreSQL cannot be reached; kTimeout when it stalls;
// kInternal otherwise. On any error the live tables are untouched.
// Not thread-safe with itself on one database (the advisory lock refuses).
Result<RebuildReport> RebuildProjections(events::EventLog& log, const RebuildOptions& options);

// The report for people: one line per table, then events and time, e.g.
//   rebuilt from log (job-events from offset 0) into schema public in 2.41 s
//     jobs              40 rows  from job-events
//   …
//   1234 events folded (1200 applied, 30 duplicate, 4 rejected, 0 undecodable), 12 heartbeats
std::string FormatRebuildReport(const RebuildReport& report);

// `database_url` (URI or key=value) as a key=value string whose sessions use
// `schema` alone as their search_path. Internal to the rebuild; exposed for tests.
Result<std::string> WithSearchPath(const std::string& database_url, const std::string& schema);

}  // namespace jobsched::projections
