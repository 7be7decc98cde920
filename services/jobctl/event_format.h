// How jobctl's log commands print events, fold outcomes and job states, for
// people (one line per event) and for programs (one JSON object per line).
// Pure: no I/O beyond the stream it is handed.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "events/envelope.h"
#include "events/fold.h"
#include "services/jobctl/job_history.h"

namespace jobsched::jobctl {

// The first line of a history's output: which source answered and which
// offsets, e.g. "kafka job-events[3] offsets 12..40 (9 events)" or
// "archive (PostgreSQL job_logs): Kafka's log no longer holds this job's start".
std::string DescribeSource(const JobHistory& history, const std::string& topic);

// One event for people: offset (or "job-events[3]@12" with the partition),
// occurred_at, type, producer, short run id ("-" if none) and what it did,
// as job_logs describes it (given what the fold made of it, when known).
std::string EventLine(const RecordedEvent& e, bool with_partition,
                      const events::FoldResult* result = nullptr,
                      const events::JobState* state_after = nullptr);

// One event for programs: the envelope as events::ToJson gives it, plus
// "type", "partition", "offset" and "source".
nlohmann::json EventJson(const RecordedEvent& e, std::string_view source);

// A job's state for people, indented lines: status, schedule cursor, runs in
// flight (status, attempt), counters, and whatever else is set (paused,
// cancel requested, end reason, last error).
std::string StateLines(const events::JobState& state, std::string_view indent);

// A job state as JSON (events::ToJson, parsed).
nlohmann::json StateJson(const events::JobState& state);

// The event type names of the envelope ("JobSubmitted", "RunDue", ...), in
// schema order.
std::vector<std::string> EventTypeNames();

}  // namespace jobsched::jobctl
