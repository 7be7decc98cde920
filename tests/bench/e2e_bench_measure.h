// The end-to-end benchmark's measurements: when the bench's jobs finished
// (jobs rows), what their events say (job_logs occurred_at), what they cost
// (job_logs rows, PostgreSQL row writes) and the CPU of idle processes (/proc).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "tests/bench/e2e_bench_load.h"

namespace jobsched::bench {

struct Percentiles {
  int n = 0;  // samples; the rest are -1 when 0
  double p50 = -1, p90 = -1, p99 = -1, max = -1;
};
Percentiles Summarize(std::vector<double> samples);  // nearest rank

// The hops of a run, each measured between the first applied occurred_at of
// two events of the job.
inline constexpr const char* kHops[][2] = {{"JobSubmitted", "RunDue"},
                                           {"RunDue", "RunDispatched"},
                                           {"RunDispatched", "RunStarted"},
                                           {"RunStarted", "RunSucceeded"},
                                           {"RunSucceeded", "JobSucceeded"}};
inline constexpr int kHopCount = sizeof(kHops) / sizeof(kHops[0]);

struct Completion {
  int succeeded = 0;
  int terminal = 0;  // SUCCEEDED or any other end (FAILED, DEAD, CANCELED)
  bool timed_out = false;
  Steady::time_point at;  // the poll that saw the last one
};

// Polls the jobs projection until `want` jobs named `name_prefix`... created
// at or after `since_unix` have ended, or `timeout` passes, or a minute
// passes without one more ending (timed_out either way).
Completion AwaitCompletion(pqxx::connection& conn, const std::string& name_prefix,
                           double since_unix, int want, std::chrono::milliseconds timeout);

struct JobTimings {
  // Every job_logs row of the jobs, whatever its outcome (applied,
  // duplicate, rejected): the log's budget.
  std::map<std::string, int64_t> rows_by_type;
  int64_t rows = 0;
  int64_t rows_not_applied = 0;
  // Latencies in milliseconds. From the job's origin (the scheduled send
  // time) when `from_origin`, else from its JobSubmitted. "Start" is the
  // RunStarted occurred_at (the executor stamps it just before the handler
  // runs); a job without one falls back to job_executions.started_at.
  Percentiles to_start, to_succeeded;
  int start_fallbacks = 0;
  double hop_p50_ms[kHopCount] = {};  // -1 when no job has both events
  double last_succeeded_unix = 0;     // the latest JobSucceeded occurred_at
};

JobTimings ReadTimings(pqxx::connection& conn, const std::vector<SubmittedJob>& jobs,
                       bool from_origin);

// n_tup_ins + n_tup_upd + n_tup_del of every user table ("schema.table").
// PostgreSQL publishes a backend's counts when it goes idle, at most once a
// second: read it a second or more after the writes of interest.
std::map<std::string, int64_t> ReadTableWrites(pqxx::connection& conn);

// A process whose CPU is watched.
struct WatchedProcess {
  std::string name;
  pid_t pid = 0;
  bool with_children = false;  // PostgreSQL: the postmaster and its backends
};

// The processes of a running stack on this machine: each jobsched service
// whose environment has DATABASE_URL == `database_url` (named after its
// binary, jobsched-<service>; a second one of a kind gets "#<pid>"), the dev
// broker whose bootstrap file or address those services use, and the
// PostgreSQL postmaster started with "-p <the URL's port>" (with its
// backends). Processes of other users cannot be read and are left out.
std::vector<WatchedProcess> DiscoverStack(const std::string& database_url);

// Parses "name=pid"; false if it is not that.
bool ParseWatched(const std::string& spec, WatchedProcess* out);

// CPU seconds each process has used so far (user + system, every thread);
// -1 for a process that is gone.
std::map<std::string, double> SnapshotCpu(const std::vector<WatchedProcess>& procs);

// CPU of each process over `seconds` of wall time, in % of one core
// (user + system, every thread); -1 for a process that vanished.
std::vector<std::pair<std::string, double>> MeasureCpu(const std::vector<WatchedProcess>& procs,
                                                       double seconds);

}  // namespace jobsched::bench
