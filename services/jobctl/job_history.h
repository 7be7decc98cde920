// A job's recorded events, read straight from `job-events` or, when the log
// cannot answer, from the archive in PostgreSQL (job_logs keeps every
// record's bytes). Used by `jobctl events`, `replay`, `why` and `shadow`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "events/envelope.h"
#include "events/event_log.h"
#include "events/status.h"
#include "events/topics.h"

namespace jobsched::jobctl {

struct Context;

// One record of `job-events`, decoded.
struct RecordedEvent {
  events::Envelope envelope;
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t timestamp_ms = 0;  // the record's CreateTime
};

enum class HistorySource { kLog, kArchive };
const char* ToString(HistorySource source);  // "kafka" | "archive"

struct JobHistory {
  HistorySource source = HistorySource::kLog;
  // Log only: the partition's oldest retained offset is past 0, so records
  // of this job may have expired (the archive, if reachable, was tried first).
  bool truncated = false;
  // Why the archive answered, or why a truncated log was kept (the archive
  // could not answer): for the line that names the source. "" otherwise.
  std::string note;
  std::vector<RecordedEvent> events;  // in log order (partition offset)
};

// Every record keyed by `job_id` in its partition of `job-events`, from the
// oldest retained offset to the high watermark at the time of the call.
// Records whose bytes do not decode are skipped and counted in `undecodable`.
Result<JobHistory> ReadJobHistoryFromLog(events::EventLog& log, const events::Topics& topics,
                                         const std::string& job_id, int* undecodable = nullptr);

// The same from job_logs (ordered by partition offset).
Result<JobHistory> ReadJobHistoryFromArchive(const std::string& database_url,
                                             const std::string& job_id);

// The log first; the archive when the log is unreachable or truncated past
// the job's start. Says which answered in JobHistory.source.
Result<JobHistory> ReadJobHistory(const Context& ctx, const std::string& job_id);
// The same on a given log (tests: an in-memory log with a truncated partition).
Result<JobHistory> ReadJobHistory(events::EventLog& log, const events::Topics& topics,
                                  const std::string& database_url, const std::string& job_id);

// Every record of `job-events` (all partitions), oldest retained to the high
// watermarks at the time of the call, optionally only those keyed by one of
// `job_ids`; per partition in offset order. For whole-log tools (shadow).
Result<std::vector<RecordedEvent>> ReadAllFromLog(events::EventLog& log,
                                                  const events::Topics& topics,
                                                  const std::vector<std::string>& job_ids = {});

}  // namespace jobsched::jobctl
