// jobctl's commands that read `job-events` (events, tail, replay, why), as
// functions over a history or a log so tests can run them on an in-memory
// log; log_commands.cc wires them to the command line.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "events/event_log.h"
#include "events/status.h"
#include "events/time.h"
#include "events/topics.h"
#include "services/api/why.h"
#include "services/jobctl/job_history.h"

namespace jobsched::jobctl {

// `jobctl events`: the source line, then one line per event (each described
// as job_logs would, given what the fold made of it); --json: one object per
// event (EventJson), no source line.
void PrintEvents(const JobHistory& history, const std::string& topic, bool json,
                 std::ostream& out);

// Where `jobctl replay` stops: events whose occurred_at <= until, or whose
// offset <= offset (neither: the whole history).
struct ReplayLimit {
  std::optional<TimePoint> until;
  std::optional<int64_t> offset;
};

// `jobctl replay`: folds the history with events::Apply up to `limit`,
// printing each event with the fold's outcome and the state after it, then
// the final state. Returns how many events were folded.
int PrintReplay(const JobHistory& history, const std::string& topic, const ReplayLimit& limit,
                bool json, std::ostream& out);

// The facts GET /jobs/{id}/why loads from job_logs, taken from a history
// instead: the fold of it, its applied lifecycle events, and the applied
// slot records at and just before T's second. `runs` (optional) receives
// every run record as the fold last left it (by run id).
api::WhyFacts WhyFactsFromHistory(const JobHistory& history, TimePoint at, TimePoint now,
                                  std::map<std::string, v1::RunRecord>* runs = nullptr);

// `jobctl why`: the verdict as the API renders it (api::RenderWhy), and for
// a fire the status and attempt count of its run's latest attempt.
nlohmann::json ExplainFromHistory(const JobHistory& history, TimePoint at, TimePoint now);

// Prints ExplainFromHistory's answer: the verdict, its reason, run and fire
// ids, and its details; --json: the answer plus "source".
void PrintWhy(const nlohmann::json& answer, const std::string& source, bool json,
              std::ostream& out);

struct TailOptions {
  std::vector<std::string> types;  // event type names; empty: every type
  std::string job_id;              // "": every job
  bool from_beginning = false;     // else only records appended from now on
  int64_t count = 0;               // > 0: stop after this many matching events
  bool json = false;
};

// `jobctl tail`: every partition of `job-events`, without a consumer group
// (nothing committed, no other reader disturbed), printing matching events
// as they arrive until `stop` or `count`. `on_ready` runs once the starting
// offsets are fixed: every record appended after it is seen.
Status Tail(events::EventLog& log, const events::Topics& topics, const TailOptions& options,
            std::ostream& out, std::ostream& err, const std::atomic<bool>& stop,
            const std::function<void()>& on_ready = {});

}  // namespace jobsched::jobctl
