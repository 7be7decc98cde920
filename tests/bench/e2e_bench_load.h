// The end-to-end benchmark's load generators: echo jobs submitted over HTTP
// from a pool of keep-alive connections, closed loop (as fast as the API
// answers, one job or one batch per request) or open loop (at a fixed rate,
// on a schedule that does not wait for the API).
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace jobsched::bench {

using Steady = std::chrono::steady_clock;

// One accepted job.
struct SubmittedJob {
  std::string job_id;
  // Wall-clock instant (unix seconds) latencies are measured from: the
  // scheduled send time in the open loop, the actual send time in the closed.
  double origin_unix = 0;
};

struct LoadResult {
  std::vector<SubmittedJob> accepted;
  int rejected = 0;           // items answered 4xx (the job is invalid; nothing runs)
  int failed = 0;             // items lost to a 5xx, a transport error or an unreadable reply
  std::string first_problem;  // the first rejection or failure, for the report
  Steady::time_point start;   // the first (scheduled) send
  Steady::time_point end;     // the last reply
  double start_unix = 0;      // `start` on the wall clock
  // Per request: reply time minus the origin (scheduled send in the open
  // loop), milliseconds.
  std::vector<double> ack_ms;
  double max_send_lag_ms = 0;  // open loop: how late the latest send left
  double last_send_s = 0;      // open loop: the last actual send, seconds after start
};

struct LoadOptions {
  std::string api_base;     // "http://host:port", no trailing slash
  std::string name_prefix;  // job i is named name_prefix + i
  int clients = 8;          // keep-alive connections, one thread each
  int batch = 0;            // closed loop: > 0 submits through POST /api/v1/jobs/batch
};

// Submits `jobs` echo jobs as fast as `clients` connections are answered.
LoadResult RunClosedLoop(const LoadOptions& options, int jobs);

// Submits rate * seconds echo jobs, job i scheduled at start + i / rate, one
// POST /api/v1/jobs each. A send that finds every connection busy leaves
// late, and its latencies still count from its scheduled time, so queueing
// in front of the API is not hidden (no coordinated omission).
LoadResult RunOpenLoop(const LoadOptions& options, double rate, double seconds);

// The body POST /api/v1/jobs accepts for the i-th job.
std::string EchoJob(const std::string& name_prefix, int i);

}  // namespace jobsched::bench
