// Recurring-jobs benchmark: jobs that fire every second on the local stack,
// and how long the scheduler takes to recover with a long log. Prints
// figures; asserts nothing about speed: the figures are for people.
//
// Firing part, for each N of --jobs: a fresh LocalSystem (every service a
// process, the dev broker, PostgreSQL). N recurring `echo` jobs are submitted
// over HTTP (keep-alive clients) with schedule "* * * * * *", start_at T (a
// whole second far enough ahead that every submission lands first) and,
// unless --no-end-at, end_at half a second before T + --seconds, so nothing
// fires after the window. After the window and a drain (until every slot of
// the window has fired or been skipped and every fired run has started;
// bounded), PostgreSQL answers for the slots of the window [T, T + seconds):
//   expected  N x seconds slots
//   fired     attempt-1 executions with scheduled_for in the window (RunDue applied)
//   started   those whose handler started
//   skipped   slots covered by an applied FireSkipped, by reason
//   missed    expected - fired - skipped: slots neither run nor on the record
//   doubled   slots with more than one attempt-1 execution, fires with more
//             than one started run, runs with more than one RunStarted record
//   drift     job_executions.drift_ms (started_at - scheduled_for) p50/p99/max
//   fires/s   runs started during the window / seconds, and per 10 s
//   memory    the scheduler's RSS before the submissions, with the N jobs
//             folded but idle (just before T), at the window's end and after
//             the drain; per job = (RSS - RSS before) / N
// and, to show what limits the figures, the median and p99 of each hop of a
// run and every process's CPU over the window.
//
// Recovery part: a dev broker with --recovery-partitions partitions, and a
// log of --recovery-events events written straight to Kafka: --recovery-jobs
// every-second jobs, each JobSubmitted, then its fires (RunDue attempt 1
// chained on the schedule's cursor, RunDispatched epoch 1, RunStarted,
// RunSucceeded), then PauseRequested, all with the services' deterministic
// ids. A sample of jobs is folded here (events::Apply) to check that every
// event applies. The jobs end paused so that a scheduler that has caught up
// has nothing to decide: the log stays the same from round to round. Then,
// each round, jobsched-scheduler is started (a) with JOBSCHED_SNAPSHOTS=off
// and (b) with snapshots on after a graceful stop left a snapshot of every
// partition; from its JSON log: process start -> "partitions assigned" ->
// the last "partition caught up".
//
//   jobsched-bench-recurring [--jobs 1000,10000] [--seconds 60] [--slots 256]
//       [--recovery-events 1000000] [--rounds 1] [--recovery-rounds 3] ...
//   (--help lists every option)
#include <curl/curl.h>
#include <sys/types.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "events/envelope.h"
#include "events/fold.h"
#include "events/ids.h"
#include "events/job_schedule.h"
#include "events/kafka_event_log.h"
#include "events/topics.h"
#include "tests/e2e/local_system.h"
#include "tests/support/devbroker.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

using namespace jobsched;
using namespace jobsched::testing;
using nlohmann::json;
using Steady = std::chrono::steady_clock;

namespace {

constexpr const char* kEverySecond = "* * * * * *";
constexpr int kBucketSeconds = 10;  // the per-window table of the firing part
// Partition sizing of the firing part: ~5 events of ~300 bytes per fire,
// against the dev broker's ~5 MiB per partition, with a quarter of margin.
constexpr double kBytesPerFire = 5 * 300;
constexpr double kBrokerBytesPerPartition = 5 << 20;

double Secs(Steady::duration d) { return std::chrono::duration<double>(d).count(); }

double Median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int64_t NowUnixMillis() { return ToUnixMillis(SystemClock::Instance().Now()); }

// Sleeps until the wall clock reads `unix_ms` (a point in time the benchmark
// chose, such as the start of the window; not a wait for a condition).
void SleepUntilUnixMillis(int64_t unix_ms) {
  int64_t wait = unix_ms - NowUnixMillis();
  if (wait > 0) std::this_thread::sleep_for(std::chrono::milliseconds(wait));
}

std::string Rfc3339(int64_t unix_ms) { return FormatRfc3339(FromUnixMillis(unix_ms)); }

// ---------------------------------------------------------------------------
// Options.

struct Options {
  // Firing part.
  std::vector<int> jobs{1000, 10000};
  int seconds = 60;
  int partitions = 0;  // 0: sized from jobs x seconds
  int slots = 256;
  int clients = 16;
  int rounds = 1;
  double lead_s = 0;  // 0: 5 s + 2 ms per job
  int drain_timeout_s = 600;
  int stall_s = 60;
  bool end_at = true;
  std::string extra_json;  // merged into every submission
  std::string log_level = "warn";
  std::map<std::string, std::string> env;  // for every service
  // Recovery part.
  int64_t recovery_events = 1'000'000;
  int recovery_jobs = 10'000;
  int recovery_partitions = 128;
  int recovery_rounds = 3;
  int verify_every = 100;  // fold every n-th job of the log here
  std::string only;        // "", "firing" or "recovery"
};

// ---------------------------------------------------------------------------
// Processes: memory and CPU from /proc.

struct Memory {
  int64_t rss_kib = 0;   // VmRSS
  int64_t peak_kib = 0;  // VmHWM: the highest RSS so far
};

Memory ReadMemory(pid_t pid) {
  Memory m;
  if (pid <= 0) return m;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) m.rss_kib = std::atoll(line.c_str() + 6);
    if (line.rfind("VmHWM:", 0) == 0) m.peak_kib = std::atoll(line.c_str() + 6);
  }
  return m;
}

double Mib(int64_t kib) { return kib / 1024.0; }

// User + system CPU seconds of `pid` (all its threads); 0 if gone.
double CpuSeconds(pid_t pid) {
  if (pid <= 0) return 0;
  auto f = ProcStatFields(pid);
  if (f.size() < 13) return 0;
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::atof(f[11].c_str()) + std::atof(f[12].c_str())) / ticks;  // utime, stime
}

// CPU seconds of `pid` and of its children (PostgreSQL's backends).
double TreeCpuSeconds(pid_t pid) {
  if (pid <= 0) return 0;
  double total = CpuSeconds(pid);
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    pid_t child = std::atoi(name.c_str());
    auto f = ProcStatFields(child);
    if (f.size() >= 2 && std::atoi(f[1].c_str()) == pid) total += CpuSeconds(child);
  }
  return total;
}

// The processes of a LocalSystem whose CPU the firing part reports.
constexpr const char* kWatched[] = {"scheduler", "dispatcher", "executor", "projector",
                                    "api",       "devbroker",  "postgres"};

struct CpuSample {
  Steady::time_point at;
  std::map<std::string, double> seconds;  // per watched process
  double machine_busy = 0;                // ticks, every core
  double machine_total = 0;
};

CpuSample SampleCpu(const LocalSystem& system) {
  CpuSample s;
  s.at = Steady::now();
  for (const char* name : kWatched) {
    pid_t pid = system.Pid(name);
    s.seconds[name] = std::string(name) == "postgres" ? TreeCpuSeconds(pid) : CpuSeconds(pid);
  }
  // /proc/stat: "cpu user nice system idle iowait irq softirq steal ..."
  std::istringstream in(ReadFile("/proc/stat"));
  std::string cpu;
  double v[8] = {};
  in >> cpu;
  for (double& x : v) in >> x;
  s.machine_total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
  s.machine_busy = s.machine_total - v[3] - v[4];
  return s;
}

// ---------------------------------------------------------------------------
// HTTP: one keep-alive connection per client thread.


// ---------------------------------------------------------------------------
// Firing part.

struct Bucket {  // kBucketSeconds of the window, by scheduled_for (started: by started_at)
  int64_t fired = 0, skipped = 0, started_in = 0;
  double p50 = -1, p99 = -1, max = -1;
};

struct Hop {
  const char* name;
  double p50 = -1, p99 = -1;
};

struct FiringRound {
  bool ok = false;
  std::string error;  // why the round could not run
  int jobs = 0, partitions = 0;
  int64_t t0 = 0;  // the window's first slot, unix seconds
  bool end_at = false;
  double submit_s = 0;
  int failed_submits = 0;
  std::string first_failure;
  double submitted_before_t_s = 0;  // negative: the last submission came after T
  int64_t expected = 0, fired = 0, started = 0, skipped = 0, missed = 0;
  std::map<std::string, int64_t> skipped_by_reason;
  int64_t doubled_slots = 0, doubled_rows = 0, fires_started_twice = 0, runs_started_twice = 0;
  int64_t doubled() const { return doubled_rows + fires_started_twice + runs_started_twice; }
  double drift_p50 = -1, drift_p99 = -1, drift_max = -1;
  double fires_per_s = 0;  // runs started during the window / seconds
  int64_t started_after_window = 0;
  std::vector<Bucket> buckets;
  std::vector<Hop> hops;
  // job-events records during the window, by event type.
  std::vector<std::pair<std::string, int64_t>> log_volume;
  Memory sched_before, sched_idle, sched_end, sched_after, disp_before, disp_end, disp_after;
  std::map<std::string, double> cpu_pct;  // % of one core over the window
  double machine_pct = 0;                 // likewise, every process on the machine
  double drain_s = 0;
  std::string drain_end;  // settled | stalled | timed out
  int broker_drops = 0;   // "dropped old events" warnings about job-events
  std::string log_dir;
  double KibPerJob(const Memory& after) const {
    return jobs > 0 ? static_cast<double>(after.rss_kib - sched_before.rss_kib) / jobs : 0;
  }
};

int PartitionsFor(const Options& o, int jobs) {
  if (o.partitions > 0) return o.partitions;
  double bytes = kBytesPerFire * jobs * (o.seconds + 10) * 1.25;
  return std::max(12, static_cast<int>(std::ceil(bytes / kBrokerBytesPerPartition)));
}

// One one-off echo job to SUCCEEDED: every consumer group has formed and
// every hop works before anything is measured.
void WarmUp(const LocalSystem& system) {
  ApiReply r = system.Api("POST", "/api/v1/jobs", {{"name", "warm-up"}, {"type", "echo"}});
  if (r.status != 201) {
    throw std::runtime_error("warm-up job refused: " + std::to_string(r.status) + " " +
                             r.body.dump());
  }
  const std::string path = "/api/v1/jobs/" + r.body.value("job_id", "");
  std::string status, dead;
  WaitFor(
      [&] {
        for (const char* name : LocalSystem::kServices) {
          if (system.Pid(name) == 0) dead = name;  // e.g. a setting it refused
        }
        ApiReply g = system.Api("GET", path);
        if (g.status == 200) status = g.body.value("status", "");
        return !dead.empty() || status == "SUCCEEDED";
      },
      std::chrono::seconds(60), std::chrono::milliseconds(25));
  if (!dead.empty()) {
    throw std::runtime_error("jobsched-" + dead + " exited:\n" + system.LogTails());
  }
  if (status != "SUCCEEDED") {
    throw std::runtime_error("warm-up job is " + status + " after 60 s:\n" + system.LogTails());
  }
}

// What the window's slots became so far (polled while draining).
struct Progress {
  int64_t fired = 0, started = 0, skipped = 0;
  bool operator==(const Progress&) const = default;
};

// The window's predicate on job_executions (alias-free); $1, $2 = T, T + seconds.
constexpr const char* kInWindow =
    "attempt = 1 AND scheduled_for >= to_timestamp($1::bigint) "
    "AND scheduled_for < to_timestamp($2::bigint)";

// Applied FireSkipped records overlapping the window: first and last slot
// (unix seconds) and reason.
constexpr const char* kSkipRows =
    "SELECT extract(epoch FROM scheduled_for)::bigint, "
    "       extract(epoch FROM COALESCE(scheduled_until, scheduled_for))::bigint, "
    "       COALESCE(fields->'fire_skipped'->>'reason', fields->'fireSkipped'->>'reason', '?') "
    "FROM job_logs WHERE event_type = 'FireSkipped' AND outcome = 'applied' "
    "AND scheduled_for < to_timestamp($2::bigint) "
    "AND COALESCE(scheduled_until, scheduled_for) >= to_timestamp($1::bigint)";

// The first column of the one row `sql` answers, with $1 = lo and $2 = hi.
int64_t QueryInt(pqxx::transaction_base& tx, const std::string& sql, int64_t lo, int64_t hi) {
  return tx.exec_params1(sql, lo, hi)[0].as<int64_t>();
}

// The window [lo, hi) so far. A skip record covering slots [a, b] counts
// the seconds of [a, b] inside the window.
Progress QueryProgress(pqxx::connection& conn, int64_t lo, int64_t hi) {
  pqxx::nontransaction tx(conn);
  Progress p;
  const std::string where = std::string(" FROM job_executions WHERE ") + kInWindow;
  p.fired = QueryInt(tx, "SELECT count(*)" + where, lo, hi);
  p.started = QueryInt(tx, "SELECT count(started_at)" + where, lo, hi);
  p.skipped = QueryInt(tx,
                       "SELECT COALESCE(sum(GREATEST(0, LEAST(s.b, $2::bigint - 1) "
                       "- GREATEST(s.a, $1::bigint) + 1)), 0)::bigint FROM (" +
                           std::string(kSkipRows) + ") AS s (a, b, reason)",
                       lo, hi);
  return p;
}

double OrMinus1(const pqxx::field& f) { return f.is_null() ? -1 : f.as<double>(); }

// Everything the round reports about the window, from PostgreSQL.
void QueryWindow(pqxx::connection& conn, const Options& o, FiringRound& r) {
  const int64_t lo = r.t0, hi = r.t0 + o.seconds;
  const int nb = (o.seconds + kBucketSeconds - 1) / kBucketSeconds;
  r.buckets.assign(nb, Bucket{});
  pqxx::nontransaction tx(conn);
  const std::string where = std::string(" FROM job_executions WHERE ") + kInWindow;

  auto totals = tx.exec_params1(
      "SELECT count(*), count(started_at), "
      "       percentile_cont(0.5) WITHIN GROUP (ORDER BY drift_ms), "
      "       percentile_cont(0.99) WITHIN GROUP (ORDER BY drift_ms), max(drift_ms), "
      "       count(*) FILTER (WHERE started_at < to_timestamp($2::bigint))" +
          where,
      lo, hi);
  r.fired = totals[0].as<int64_t>();
  r.started = totals[1].as<int64_t>();
  r.drift_p50 = OrMinus1(totals[2]);
  r.drift_p99 = OrMinus1(totals[3]);
  r.drift_max = OrMinus1(totals[4]);
  r.fires_per_s = totals[5].as<double>() / o.seconds;

  for (const auto& row : tx.exec_params(
           "SELECT floor((extract(epoch FROM scheduled_for) - $1::bigint) / $3::int)::int, "
           "       count(*), "
           "       percentile_cont(0.5) WITHIN GROUP (ORDER BY drift_ms), "
           "       percentile_cont(0.99) WITHIN GROUP (ORDER BY drift_ms), max(drift_ms)" +
               where + " GROUP BY 1",
           lo, hi, kBucketSeconds)) {
    int b = row[0].as<int>();
    if (b < 0 || b >= nb) continue;
    r.buckets[b].fired = row[1].as<int64_t>();
    r.buckets[b].p50 = OrMinus1(row[2]);
    r.buckets[b].p99 = OrMinus1(row[3]);
    r.buckets[b].max = OrMinus1(row[4]);
  }
  for (const auto& row : tx.exec_params(
           "SELECT floor((extract(epoch FROM started_at) - $1::bigint) / $3::int)::int, count(*)" +
               where + " AND started_at IS NOT NULL GROUP BY 1",
           lo, hi, kBucketSeconds)) {
    int b = row[0].as<int>();
    if (b >= nb) {
      r.started_after_window += row[1].as<int64_t>();
    } else if (b >= 0) {
      r.buckets[b].started_in = row[1].as<int64_t>();
    }
  }

  // Skipped slots, clipped to the window (every second is a slot).
  for (const auto& row : tx.exec_params(kSkipRows, lo, hi)) {
    int64_t a = std::max(row[0].as<int64_t>(), lo), b = std::min(row[1].as<int64_t>(), hi - 1);
    if (b < a) continue;
    std::string reason = row[2].as<std::string>();
    if (reason.rfind("SKIP_REASON_", 0) == 0) reason = reason.substr(12);
    std::transform(reason.begin(), reason.end(), reason.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    r.skipped_by_reason[reason] += b - a + 1;
    r.skipped += b - a + 1;
    for (int64_t t = a; t <= b; ++t) ++r.buckets[(t - lo) / kBucketSeconds].skipped;
  }

  // Doubles: a slot made due twice; a fire whose runs started twice (two
  // attempts); a run whose handler started twice (two RunStarted records).
  auto dup = tx.exec_params1("SELECT count(*), COALESCE(sum(n - 1), 0) FROM (SELECT count(*) AS n" +
                                 where + " GROUP BY job_id, scheduled_for HAVING count(*) > 1) d",
                             lo, hi);
  r.doubled_slots = dup[0].as<int64_t>();
  r.doubled_rows = dup[1].as<int64_t>();
  r.fires_started_twice = QueryInt(tx,
                                   "SELECT count(*) FROM (SELECT fire_id FROM job_executions "
                                   "WHERE started_at IS NOT NULL AND fire_id IN (SELECT fire_id" +
                                       where + ") GROUP BY fire_id HAVING count(*) > 1) d",
                                   lo, hi);
  r.runs_started_twice = QueryInt(tx,
                                  "SELECT count(*) FROM (SELECT l.run_id FROM job_logs l "
                                  "JOIN job_executions e ON e.run_id = l.run_id "
                                  "WHERE l.event_type = 'RunStarted' AND e.attempt = 1 "
                                  "AND e.scheduled_for >= to_timestamp($1::bigint) "
                                  "AND e.scheduled_for < to_timestamp($2::bigint) "
                                  "GROUP BY l.run_id HAVING count(*) > 1) d",
                                  lo, hi);

  // Where the time goes: each hop of a run, from the events' own timestamps.
  const std::pair<const char*, const char*> hops[] = {
      {"slot -> RunDue (scheduler)", "due_at - scheduled_for"},
      {"RunDue -> RunDispatched (dispatcher)", "dispatched_at - due_at"},
      {"RunDispatched -> RunStarted (executor)", "started_at - dispatched_at"},
      {"RunStarted -> finished (handler)", "finished_at - started_at"}};
  std::string sql;
  for (const auto& [name, expr] : hops) {
    for (const char* q : {"0.5", "0.99"}) {
      sql += std::string(sql.empty() ? "SELECT " : ", ") + "percentile_cont(" + q +
             ") WITHIN GROUP (ORDER BY extract(epoch FROM " + expr + ") * 1000)";
    }
  }
  auto h = tx.exec_params1(sql + where, lo, hi);
  int i = 0;
  for (const auto& [name, expr] : hops) {
    r.hops.push_back({name, OrMinus1(h[i]), OrMinus1(h[i + 1])});
    i += 2;
  }
  r.missed = r.expected - r.fired - r.skipped;

  // What the log carried during the window (every service folds all of it).
  for (const auto& row : tx.exec_params(
           "SELECT event_type, count(*) FROM job_logs WHERE ts >= to_timestamp($1::bigint) "
           "AND ts < to_timestamp($2::bigint) GROUP BY 1 ORDER BY 2 DESC",
           lo, hi)) {
    r.log_volume.emplace_back(row[0].as<std::string>(), row[1].as<int64_t>());
  }
}

// Counts the broker's warnings that it dropped events of job-events.
int BrokerDrops(const std::string& broker_log, const std::string& topic) {
  int n = 0;
  const std::string needle = "dropped old events on " + topic + "[";
  for (size_t p = broker_log.find(needle); p != std::string::npos;
       p = broker_log.find(needle, p + 1)) {
    ++n;
  }
  return n;
}

FiringRound RunFiringRound(const Options& o, int jobs, int round) {
  FiringRound r;
  r.jobs = jobs;
  r.partitions = PartitionsFor(o, jobs);
  r.expected = static_cast<int64_t>(jobs) * o.seconds;

  LocalSystemOptions lo;
  lo.executor_slots = o.slots;
  lo.partitions = r.partitions;
  lo.log_level = o.log_level;
  lo.extra_env = o.env;
  LocalSystem system(lo);
  r.log_dir = system.log_dir();
  WarmUp(system);
  r.sched_before = ReadMemory(system.Pid("scheduler"));
  r.disp_before = ReadMemory(system.Pid("dispatcher"));

  // The window starts at a whole second far enough ahead for every submission.
  const double lead = o.lead_s > 0 ? o.lead_s : 5 + 0.002 * jobs;
  r.t0 = (NowUnixMillis() + static_cast<int64_t>(lead * 1000) + 999) / 1000;
  json extra = o.extra_json.empty() ? json::object() : json::parse(o.extra_json);
  auto body = [&](int i, bool with_end_at) {
    json b = {{"name", "rbench-" + std::to_string(round) + "-" + std::to_string(i)},
              {"type", "echo"},
              {"schedule", kEverySecond},
              {"start_at", Rfc3339(r.t0 * 1000)}};
    if (with_end_at) b["end_at"] = Rfc3339((r.t0 + o.seconds) * 1000 - 500);
    b.update(extra);
    return b.dump();
  };

  // The first submission alone: it tells whether the API takes recurring
  // jobs (and end_at) at all.
  const std::string url = system.ApiUrl("/api/v1/jobs");
  const auto submit_start = Steady::now();
  r.end_at = o.end_at;
  {
    HttpSession http(30000);
    std::string reply;
    long status = http.Post(url, body(0, r.end_at), &reply);
    json err = json::parse(reply, nullptr, false);
    std::string field = err.is_object() && err.contains("error") && err["error"].is_object()
                            ? err["error"].value("field", "")
                            : "";
    if (status == 400 && r.end_at && field == "end_at") {
      std::printf("  note: the API refuses end_at (%s); the jobs keep firing after the window\n",
                  reply.c_str());
      r.end_at = false;
      status = http.Post(url, body(0, false), &reply);
    }
    if (status != 201) {
      r.error =
          "POST /api/v1/jobs with a schedule answered " + std::to_string(status) + ": " + reply;
      return r;
    }
  }
  std::atomic<int> next{1};
  std::atomic<int> failed{0};
  std::mutex failure_mu;
  std::vector<std::thread> clients;
  for (int c = 0; c < o.clients; ++c) {
    clients.emplace_back([&] {
      HttpSession http(30000);
      std::string reply;
      for (int i = next++; i < jobs; i = next++) {
        long status = http.Post(url, body(i, r.end_at), &reply);
        if (status != 201) {
          ++failed;
          std::lock_guard<std::mutex> lock(failure_mu);
          if (r.first_failure.empty()) r.first_failure = std::to_string(status) + " " + reply;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  r.submit_s = Secs(Steady::now() - submit_start);
  r.failed_submits = failed;
  r.submitted_before_t_s = (r.t0 * 1000 - NowUnixMillis()) / 1000.0;

  // The jobs are folded (the scheduler reads its own partitions within
  // milliseconds) but nothing fires yet: their memory, without traffic.
  SleepUntilUnixMillis(r.t0 * 1000 - 500);
  r.sched_idle = ReadMemory(system.Pid("scheduler"));
  SleepUntilUnixMillis(r.t0 * 1000);
  CpuSample cpu0 = SampleCpu(system);
  SleepUntilUnixMillis((r.t0 + o.seconds) * 1000);
  CpuSample cpu1 = SampleCpu(system);
  r.sched_end = ReadMemory(system.Pid("scheduler"));
  r.disp_end = ReadMemory(system.Pid("dispatcher"));
  const double wall = Secs(cpu1.at - cpu0.at);
  for (const char* name : kWatched) {
    r.cpu_pct[name] = 100 * (cpu1.seconds[name] - cpu0.seconds[name]) / wall;
  }
  const double cores = static_cast<double>(std::thread::hardware_concurrency());
  r.machine_pct = 100 * cores * (cpu1.machine_busy - cpu0.machine_busy) /
                  std::max(1.0, cpu1.machine_total - cpu0.machine_total);

  // Drain: until every slot of the window is fired or skipped and every fired
  // run has started, unless progress stalls or the bound passes.
  pqxx::connection conn(system.database_url());
  const auto drain_start = Steady::now();
  Progress last;
  auto last_change = drain_start;
  r.drain_end = "timed out";
  WaitFor(
      [&] {
        Progress p = QueryProgress(conn, r.t0, r.t0 + o.seconds);
        if (p.fired + p.skipped >= r.expected && p.started >= p.fired) {
          r.drain_end = "settled";
          return true;
        }
        if (!(p == last)) last_change = Steady::now();
        last = p;
        if (Steady::now() - last_change > std::chrono::seconds(o.stall_s)) {
          r.drain_end = "stalled";
          return true;
        }
        return false;
      },
      std::chrono::seconds(o.drain_timeout_s), std::chrono::seconds(1));
  r.drain_s = Secs(Steady::now() - drain_start);
  r.sched_after = ReadMemory(system.Pid("scheduler"));
  r.disp_after = ReadMemory(system.Pid("dispatcher"));
  QueryWindow(conn, o, r);
  r.broker_drops = BrokerDrops(system.BrokerLog(), events::Topics().job_events);
  r.ok = true;
  return r;
}

void PrintFiringRound(const Options& o, const FiringRound& r) {
  if (!r.ok) {
    std::printf("  %d jobs: not run: %s\n", r.jobs, r.error.c_str());
    return;
  }
  std::printf("  window %s + %d s, %d partitions, %d executor slots, end_at %s\n",
              Rfc3339(r.t0 * 1000).c_str(), o.seconds, r.partitions, o.slots,
              r.end_at ? "on" : "off (jobs fire on)");
  std::printf("  submitted %d jobs in %.1f s (%.0f/s, %d failed%s%s), %.1f s before T\n", r.jobs,
              r.submit_s, r.jobs / r.submit_s, r.failed_submits,
              r.first_failure.empty() ? "" : "; first: ", r.first_failure.c_str(),
              r.submitted_before_t_s);
  std::string reasons;
  for (const auto& [reason, n] : r.skipped_by_reason) {
    reasons += (reasons.empty() ? "" : ", ") + reason + " " + std::to_string(n);
  }
  std::printf(
      "  slots     expected %lld  fired %lld  started %lld  skipped %lld%s%s%s  missed %lld\n",
      (long long)r.expected, (long long)r.fired, (long long)r.started, (long long)r.skipped,
      reasons.empty() ? "" : " (", reasons.c_str(), reasons.empty() ? "" : ")",
      (long long)r.missed);
  std::printf(
      "  doubled   %lld  (slots made due twice %lld, fires started twice %lld, runs "
      "started twice %lld)\n",
      (long long)r.doubled(), (long long)r.doubled_slots, (long long)r.fires_started_twice,
      (long long)r.runs_started_twice);
  std::printf(
      "  fires/s   %.0f sustained (runs started during the window / %d s; %lld of the "
      "window's runs started after it)\n",
      r.fires_per_s, o.seconds, (long long)r.started_after_window);
  std::printf("  drift ms  p50 %.0f  p99 %.0f  max %.0f  (scheduled_for -> handler start)\n",
              r.drift_p50, r.drift_p99, r.drift_max);
  std::printf("  per %d s  %-9s %8s %8s %9s %8s %8s %8s\n", kBucketSeconds, "slots", "fired",
              "skipped", "starts/s", "p50 ms", "p99 ms", "max ms");
  for (size_t b = 0; b < r.buckets.size(); ++b) {
    const Bucket& x = r.buckets[b];
    int from = static_cast<int>(b) * kBucketSeconds;
    int to = std::min(o.seconds, from + kBucketSeconds);
    std::printf("            T+%-2d..%-3d %8lld %8lld %9.0f %8.0f %8.0f %8.0f\n", from, to,
                (long long)x.fired, (long long)x.skipped,
                x.started_in / static_cast<double>(to - from), x.p50, x.p99, x.max);
  }
  std::printf("  hops ms   %-40s %8s %8s\n", "(window's attempt-1 runs)", "p50", "p99");
  for (const Hop& h : r.hops) std::printf("            %-40s %8.1f %8.1f\n", h.name, h.p50, h.p99);
  std::printf(
      "  memory    scheduler RSS: before %.1f MiB, jobs idle %.1f, window end %.1f, after "
      "drain %.1f, peak %.1f MiB\n",
      Mib(r.sched_before.rss_kib), Mib(r.sched_idle.rss_kib), Mib(r.sched_end.rss_kib),
      Mib(r.sched_after.rss_kib), Mib(r.sched_after.peak_kib));
  std::printf(
      "            scheduler per job: %.2f KiB idle, %.2f KiB at window end, %.2f KiB "
      "after drain\n",
      r.KibPerJob(r.sched_idle), r.KibPerJob(r.sched_end), r.KibPerJob(r.sched_after));
  std::printf(
      "            dispatcher RSS: before %.1f MiB, window end %.1f, after drain %.1f, "
      "peak %.1f MiB\n",
      Mib(r.disp_before.rss_kib), Mib(r.disp_end.rss_kib), Mib(r.disp_after.rss_kib),
      Mib(r.disp_after.peak_kib));
  int64_t records = 0;
  std::string volume;
  for (const auto& [type, n] : r.log_volume) {
    records += n;
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s%s %.0f", volume.empty() ? "" : ", ", type.c_str(),
                  static_cast<double>(n) / o.seconds);
    volume += buf;
  }
  std::printf("  log       %.0f job-events records/s during the window: %s\n",
              static_cast<double>(records) / o.seconds, volume.c_str());
  std::string cpu;
  double ours = 0;
  for (const char* name : kWatched) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s%s %.0f", cpu.empty() ? "" : ", ", name, r.cpu_pct.at(name));
    cpu += buf;
    ours += r.cpu_pct.at(name);
  }
  std::printf("  CPU %%     over the window, %% of one core: %s\n", cpu.c_str());
  std::printf("            jobsched processes %.0f%%, whole machine %.0f%% of %u00%%\n", ours,
              r.machine_pct, std::thread::hardware_concurrency());
  std::printf("  drain     %.1f s (%s)%s\n", r.drain_s, r.drain_end.c_str(),
              r.broker_drops > 0 ? "; WARNING: the dev broker dropped job-events records "
                                   "(more --partitions)"
                                 : "");
  std::printf("  logs      %s\n", r.log_dir.c_str());
}

// ---------------------------------------------------------------------------
// Recovery part: the log.

struct HistoryStats {
  int64_t events = 0;
  int64_t bytes = 0;  // encoded envelopes (the broker stores them lz4-compressed)
  int jobs = 0, min_fires = 0, max_fires = 0;
  double seconds = 0;
  int verified_jobs = 0;
  std::string problem;  // the first event of a sampled job that did not apply
  // A sampled job's folded state after its fires: encoded, and in memory
  // (protobuf's SpaceUsedLong), averaged over the sample.
  double state_bytes = 0, state_space = 0;
};

// Builds the history of one every-second job step by step, as the services
// would have written it (same ids, causation chained on the last event).
class JobHistory {
 public:
  JobHistory(int index, TimePoint submitted_at)
      : job_id_(DeterministicId({"jobsched-bench-recurring", std::to_string(index)})) {
    v1::JobSpec spec;  // what the API makes of {"schedule": "* * * * * *", "type": "echo"}
    spec.set_name("recovery-bench-" + std::to_string(index));
    spec.set_type(v1::JOB_TYPE_ECHO);
    spec.set_priority(5);
    spec.set_max_retries(3);
    spec.mutable_retry_policy()->set_strategy(v1::RETRY_STRATEGY_EXPONENTIAL);
    spec.mutable_retry_policy()->set_base_delay_ms(1000);
    spec.mutable_retry_policy()->set_max_delay_ms(60000);
    spec.set_timeout_seconds(300);
    v1::ScheduleSpec* s = spec.mutable_schedule();
    s->set_cron(kEverySecond);
    s->set_timezone("UTC");
    s->set_concurrency_policy(v1::CONCURRENCY_POLICY_FORBID);
    s->set_misfire_policy(v1::MISFIRE_POLICY_FIRE_ONCE);
    auto schedule = events::JobSchedule::For(job_id_, spec, submitted_at);
    if (!schedule.ok()) throw std::runtime_error(schedule.status().ToString());
    schedule_.emplace(std::move(schedule).value());
    cursor_ = schedule_->InitialCursor();
    events::Envelope e = New("JobSubmitted", "", "api/bench", submitted_at);
    *e.mutable_job_submitted()->mutable_spec() = std::move(spec);
    out_.push_back(std::move(e));
  }

  // The next slot's fire: RunDue -> RunDispatched -> RunStarted -> RunSucceeded.
  void Fire() {
    auto slot = schedule_->Next(cursor_, fires_);
    if (!slot) throw std::runtime_error("the every-second schedule ended");
    const std::string run_id = ids::RunId(job_id_, slot->fire_id, 1);
    const std::string lease = run_id + "/1";
    events::Envelope due = New("RunDue", run_id, "scheduler/bench", slot->at + Millis(2));
    v1::RunDue* d = due.mutable_run_due();
    d->set_run_id(run_id);
    d->set_attempt(1);
    *d->mutable_scheduled_for() = ToProto(slot->at);
    d->set_priority(5);
    d->set_fire_id(slot->fire_id);
    d->set_nominal_time(slot->nominal_time);
    d->set_occurrence(slot->occurrence);
    d->set_kind(v1::FIRE_KIND_SCHEDULED);
    d->set_after_fire_id(cursor_.fire_id());
    d->set_coalesced(slot->coalesced);
    out_.push_back(std::move(due));

    events::Envelope dispatched =
        New("RunDispatched", lease, "dispatcher/bench", slot->at + Millis(4));
    dispatched.mutable_run_dispatched()->set_run_id(run_id);
    dispatched.mutable_run_dispatched()->set_lease_epoch(1);
    dispatched.mutable_run_dispatched()->set_dispatcher_id("bench");
    out_.push_back(std::move(dispatched));

    events::Envelope started = New("RunStarted", lease, "executor/bench", slot->at + Millis(6));
    started.mutable_run_started()->set_run_id(run_id);
    started.mutable_run_started()->set_executor_id("bench");
    started.mutable_run_started()->set_lease_epoch(1);
    out_.push_back(std::move(started));

    events::Envelope ok = New("RunSucceeded", lease, "executor/bench", slot->at + Millis(7));
    ok.mutable_run_succeeded()->set_run_id(run_id);
    ok.mutable_run_succeeded()->set_executor_id("bench");
    ok.mutable_run_succeeded()->set_lease_epoch(1);
    ok.mutable_run_succeeded()->set_duration_ms(1);
    out_.push_back(std::move(ok));

    cursor_ = events::JobSchedule::CursorAt(*slot);
    last_at_ = slot->at;
    ++fires_;
  }

  // A user paused the job after its last fire.
  void Pause() {
    events::Envelope e = New("PauseRequested", "bench", "api/bench", last_at_ + Millis(500));
    e.mutable_pause_requested()->set_reason("paused by the recovery benchmark");
    out_.push_back(std::move(e));
  }

  const std::string& job_id() const { return job_id_; }
  // The events built since the last call.
  std::vector<events::Envelope> Take() { return std::exchange(out_, {}); }

 private:
  events::Envelope New(std::string_view type, std::string_view cause, const std::string& producer,
                       TimePoint at) {
    events::Envelope e = events::MakeEnvelope(ids::EventId(type, job_id_, cause), job_id_,
                                              {producer, at, job_id_, last_event_id_});
    last_event_id_ = e.event_id();
    return e;
  }

  std::string job_id_;
  std::optional<events::JobSchedule> schedule_;
  v1::ScheduleCursor cursor_;
  int64_t fires_ = 0;
  TimePoint last_at_;
  std::string last_event_id_;
  std::vector<events::Envelope> out_;
};

// Writes the recovery log to job-events, in time order as the services
// would have (every job submitted, then each second every job's fire, then
// the pauses), folding every `verify_every`-th job here as it goes.
HistoryStats WriteHistory(const std::string& bootstrap, const Options& o) {
  HistoryStats st;
  const int jobs = o.recovery_jobs;
  const int64_t fires_total = std::max<int64_t>(jobs, (o.recovery_events - 2LL * jobs) / 4);
  st.jobs = jobs;
  st.min_fires = static_cast<int>(fires_total / jobs);
  st.max_fires = st.min_fires + (fires_total % jobs != 0 ? 1 : 0);
  auto fires_of = [&](int i) { return st.min_fires + (i < fires_total % jobs ? 1 : 0); };

  // Far enough in the past that every slot has passed.
  const int64_t now_s = NowUnixMillis() / 1000;
  const int64_t base_s = now_s - st.max_fires - 600;

  auto log = events::KafkaEventLog::Make({bootstrap, {}});
  if (!log.ok()) throw std::runtime_error(log.status().ToString());
  auto producer_or = log.value()->NewProducer("bench-history");
  if (!producer_or.ok()) throw std::runtime_error(producer_or.status().ToString());
  std::unique_ptr<events::Producer> producer = std::move(producer_or).value();
  const std::string topic = events::Topics().job_events;

  std::vector<events::Record> batch;
  std::map<int, events::JobState> sampled;  // job index -> its fold so far
  auto flush = [&] {
    if (batch.empty()) return;
    Status s = producer->Append(std::exchange(batch, {}));
    if (!s.ok()) throw std::runtime_error("writing the history: " + s.ToString());
  };
  auto emit = [&](int index, JobHistory& job) {
    for (events::Envelope& e : job.Take()) {
      if (o.verify_every > 0 && index % o.verify_every == 0 && st.problem.empty()) {
        events::FoldResult fr = events::Apply(sampled[index], e);
        if (!fr.applied()) {
          st.problem = std::string(events::EventType(e)) + " of job " + job.job_id() + ": " +
                       std::string(events::OutcomeName(fr.outcome)) + ": " + fr.reason;
        }
      }
      std::string value = events::Encode(e);
      st.bytes += static_cast<int64_t>(value.size());
      ++st.events;
      batch.push_back({topic, job.job_id(), std::move(value)});
    }
    if (batch.size() >= 20'000) flush();
  };

  const auto start = Steady::now();
  std::vector<JobHistory> history;
  history.reserve(jobs);
  for (int i = 0; i < jobs; ++i) {
    history.emplace_back(i, FromUnixMillis(base_s * 1000 + (i % 900)));
    emit(i, history.back());
  }
  for (int f = 0; f < st.max_fires; ++f) {
    for (int i = 0; i < jobs; ++i) {
      if (f >= fires_of(i)) continue;
      history[i].Fire();
      emit(i, history[i]);
    }
  }
  for (int i = 0; i < jobs; ++i) {
    history[i].Pause();
    emit(i, history[i]);
  }
  flush();
  st.seconds = Secs(Steady::now() - start);
  for (const auto& [index, state] : sampled) {
    if (state.status() != v1::JOB_STATUS_PAUSED && st.problem.empty()) {
      st.problem = "sampled job " + std::to_string(index) + " ends " +
                   std::string(events::JobStatusName(state.status())) + ", not PAUSED";
    }
  }
  st.verified_jobs = static_cast<int>(sampled.size());
  for (const auto& [index, state] : sampled) {
    st.state_bytes += static_cast<double>(state.ByteSizeLong()) / sampled.size();
    st.state_space += static_cast<double>(state.SpaceUsedLong()) / sampled.size();
  }
  return st;
}

// The sum of job-events' high watermarks and the largest low watermark.
std::pair<int64_t, int64_t> Watermarks(const std::string& bootstrap, int partitions) {
  auto log = events::KafkaEventLog::Make({bootstrap, {}});
  if (!log.ok()) throw std::runtime_error(log.status().ToString());
  const std::string topic = events::Topics().job_events;
  events::ConsumerOptions opts;  // no group: reads watermarks only
  opts.topics = {topic};
  opts.client_id = "bench-watermarks";
  auto consumer = log.value()->NewConsumer(opts);
  if (!consumer.ok()) throw std::runtime_error(consumer.status().ToString());
  int64_t high = 0, low = 0;
  for (int p = 0; p < partitions; ++p) {
    auto wm = consumer.value()->QueryWatermarks({topic, p}, std::chrono::seconds(10));
    if (!wm.ok()) throw std::runtime_error(wm.status().ToString());
    high += wm->high;
    low = std::max(low, wm->low);
  }
  consumer.value()->Close();
  return {high, low};
}

// ---------------------------------------------------------------------------
// Recovery part: timing a scheduler's start.

struct StartTiming {
  bool ok = false;
  std::string error;
  double assigned_s = -1;   // process start -> "partitions assigned, catching up"
  double caught_up_s = -1;  // process start -> the last "partition caught up"
  int restored = 0;         // "partition restored from snapshot" lines
  int caught_up = 0;
  int64_t jobs = 0, folded = 0;  // summed over the caught-up lines
  Memory memory;                 // right after catching up
  int exit_code = -1;            // of the graceful stop
};

// Starts jobsched-scheduler (JSON logs) against `bootstrap`, awaits the
// "partition caught up" line of each of `partitions`, reads its memory, then
// stops it gracefully (which snapshots every partition when snapshots are on).
StartTiming TimeSchedulerStart(const std::string& bootstrap, int partitions, bool snapshots,
                               const Options& o, const std::string& log_path) {
  StartTiming t;
  ChildOptions opts;
  opts.log_path = log_path;
  opts.env = {{"KAFKA_BROKERS", bootstrap},
              {"JOBSCHED_LOG_FORMAT", "json"},
              {"JOBSCHED_LOG_LEVEL", "info"},
              {"JOBSCHED_SNAPSHOTS", snapshots ? "on" : "off"}};
  for (const auto& [k, v] : o.env) opts.env[k] = v;
  std::filesystem::remove(log_path);

  const int64_t start_ms = NowUnixMillis();
  ChildProcess scheduler(BinPath("jobsched-scheduler"), {}, opts);
  size_t read = 0;  // bytes of the log already parsed
  std::string pending;
  int64_t last_caught_up_ms = 0;
  auto scan = [&] {
    std::string text = ReadFile(log_path);
    if (text.size() <= read) return;
    pending += text.substr(read);
    read = text.size();
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      json line = json::parse(pending.substr(0, nl), nullptr, false);
      pending.erase(0, nl + 1);
      if (!line.is_object()) continue;
      const std::string msg = line.value("msg", "");
      auto ts = ParseRfc3339(line.value("ts", ""));
      const int64_t at_ms = ts ? ToUnixMillis(*ts) : NowUnixMillis();
      if (msg.rfind("partitions assigned", 0) == 0 && t.assigned_s < 0) {
        t.assigned_s = (at_ms - start_ms) / 1000.0;
      } else if (msg == "partition restored from snapshot") {
        ++t.restored;
      } else if (msg == "partition caught up") {
        ++t.caught_up;
        t.jobs += std::atoll(line.value("jobs", "0").c_str());
        t.folded += std::atoll(line.value("folded", "0").c_str());
        last_caught_up_ms = std::max(last_caught_up_ms, at_ms);
      }
    }
  };
  bool done = WaitFor(
      [&] {
        scan();
        return t.caught_up >= partitions || !scheduler.Running();
      },
      std::chrono::minutes(5), std::chrono::milliseconds(20));
  if (!done || t.caught_up < partitions) {
    t.error = "scheduler caught up " + std::to_string(t.caught_up) + " of " +
              std::to_string(partitions) + " partitions; log tail:\n" + TailFile(log_path, 2000);
  } else {
    t.caught_up_s = (last_caught_up_ms - start_ms) / 1000.0;
    t.memory = ReadMemory(scheduler.pid());
    t.ok = true;
  }
  t.exit_code = scheduler.Stop(std::chrono::seconds(30));
  if (t.ok && t.exit_code != 0) {
    t.ok = false;
    t.error = "scheduler exited with " + std::to_string(t.exit_code) + " on SIGTERM";
  }
  return t;
}

struct RecoverySummary {
  std::vector<double> assigned[2], caught_up[2], rss[2];  // [0] no snapshot, [1] snapshot
};

void PrintStart(const char* label, const StartTiming& t) {
  if (!t.ok) {
    std::printf("%-16s failed: %s\n", label, t.error.c_str());
    return;
  }
  std::printf("%-16s %10.2f %10.2f %10.2f %9d %8lld %9lld %8.1f\n", label, t.assigned_s,
              t.caught_up_s - t.assigned_s, t.caught_up_s, t.restored, (long long)t.jobs,
              (long long)t.folded, Mib(t.memory.rss_kib));
}

void RunRecovery(const Options& o) {
  const int partitions = o.recovery_partitions;
  ScopedDevBroker broker(events::Topics().WithDefaultPartitions(partitions));
  std::printf("\n== recovery: %lld events in the log, %d partitions, %d rounds ==\n",
              (long long)o.recovery_events, partitions, o.recovery_rounds);
  HistoryStats h = WriteHistory(broker.bootstrap(), o);
  std::printf(
      "log: %lld events (%d every-second jobs: JobSubmitted, %d-%d fires of RunDue + "
      "RunDispatched + RunStarted + RunSucceeded, PauseRequested), %.0f MiB encoded, "
      "written in %.1f s (%.0f events/s)\n",
      (long long)h.events, h.jobs, h.min_fires, h.max_fires, h.bytes / 1048576.0, h.seconds,
      h.events / h.seconds);
  std::printf(
      "fold check: %d sampled jobs folded here, %s; a job's state: %.0f bytes encoded, "
      "%.0f bytes as a protobuf message in memory\n",
      h.verified_jobs,
      h.problem.empty() ? "every event applied" : ("NOT APPLIED: " + h.problem).c_str(),
      h.state_bytes, h.state_space);
  auto [high0, low0] = Watermarks(broker.bootstrap(), partitions);
  std::printf("job-events: %lld records, lowest retained offset %lld%s\n", (long long)high0,
              (long long)low0,
              low0 > 0 ? " (WARNING: the broker dropped records; more --recovery-partitions)" : "");

  const std::string dir = MakeTempDir("jobsched-recovery-bench-");
  // No snapshot exists yet: this start replays the log, and its graceful
  // stop leaves a snapshot of every partition for the "snapshot" starts.
  StartTiming prime = TimeSchedulerStart(broker.bootstrap(), partitions, /*snapshots=*/true, o,
                                         dir + "/scheduler-prime.log");
  std::printf("\n%-16s %10s %10s %10s %9s %8s %9s %8s\n", "round / mode", "start->", "assigned->",
              "start->", "restored", "jobs", "folded", "RSS");
  std::printf("%-16s %10s %10s %10s %9s %8s %9s %8s\n", "", "assigned s", "caught up", "caught up",
              "parts", "", "events", "MiB");
  PrintStart("0 prime (snap)", prime);
  RecoverySummary sum;
  for (int r = 1; r <= o.recovery_rounds; ++r) {
    for (int snap = 0; snap < 2; ++snap) {
      StartTiming t = TimeSchedulerStart(
          broker.bootstrap(), partitions, snap == 1, o,
          dir + "/scheduler-" + std::to_string(r) + (snap ? "-snapshot" : "-replay") + ".log");
      std::string label = std::to_string(r) + (snap ? " snapshot" : " no snapshot");
      PrintStart(label.c_str(), t);
      if (!t.ok) continue;
      if (snap == 1 && t.restored < partitions) {
        std::printf("%-16s note: only %d of %d partitions restored from a snapshot\n", "",
                    t.restored, partitions);
      }
      sum.assigned[snap].push_back(t.assigned_s);
      sum.caught_up[snap].push_back(t.caught_up_s);
      sum.rss[snap].push_back(Mib(t.memory.rss_kib));
    }
  }
  for (int snap = 0; snap < 2; ++snap) {
    std::printf("%-16s %10.2f %10.2f %10.2f %9s %8s %9s %8.1f\n",
                snap ? "median snapshot" : "median replay", Median(sum.assigned[snap]),
                Median(sum.caught_up[snap]) - Median(sum.assigned[snap]),
                Median(sum.caught_up[snap]), "", "", "", Median(sum.rss[snap]));
  }
  auto [high1, low1] = Watermarks(broker.bootstrap(), partitions);
  std::printf(
      "(\"assigned\" is logged after the snapshots were read, so with snapshots "
      "start->assigned holds the group join and the restore, assigned->caught up the "
      "tail; the replay rows' start->assigned is the join alone)\n");
  std::printf(
      "job-events grew by %lld records during the starts (0: the scheduler decided "
      "nothing, as the jobs are paused); logs in %s\n",
      (long long)(high1 - high0), dir.c_str());
  if (low1 > low0) std::printf("WARNING: the broker dropped job-events records during the run\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "jobsched recurring-jobs benchmark: every-second jobs on the local stack (fires/s, drift, "
      "missed and doubled fires, scheduler memory per job), and the scheduler's recovery time "
      "with a long log, with and without snapshots. Prints figures; asserts nothing."};
  app.add_option("--jobs", o.jobs, "firing part: recurring echo jobs per run, a list")
      ->delimiter(',')
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--seconds", o.seconds, "firing part: the measured window, in seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--partitions", o.partitions,
                 "firing part: job-events partitions on the dev broker; 0 sizes them so the log "
                 "fits its ~5 MiB per partition (~1.5 KB per fire, jobs x (seconds + 10) fires, "
                 "25% margin)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--slots", o.slots, "firing part: executor slots (the executor takes 1 to 1024)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--clients", o.clients, "firing part: concurrent keep-alive HTTP clients")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--rounds", o.rounds,
                 "firing part: runs per job count, each on a fresh local system (medians printed)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--lead", o.lead_s,
                 "firing part: seconds from the first submission to start_at; 0 = 5 s + 2 ms per "
                 "job")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--drain-timeout", o.drain_timeout_s,
                 "firing part: at most this many seconds after the window for the window's slots "
                 "to be fired or skipped and their runs started")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--stall", o.stall_s,
                 "firing part: end the drain early after this many seconds without progress")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  bool no_end_at = false;
  app.add_flag("--no-end-at", no_end_at,
               "firing part: submit without end_at, so the jobs keep firing during the drain");
  app.add_option("--job-json", o.extra_json,
                 "firing part: JSON object merged into every submission, e.g. "
                 "'{\"concurrency_policy\":\"allow\"}'");
  app.add_option("--log-level", o.log_level, "firing part: JOBSCHED_LOG_LEVEL of the services")
      ->capture_default_str();
  std::vector<std::string> env;
  app.add_option("--env", env,
                 "NAME=VALUE for every service (both parts), e.g. "
                 "JOBSCHED_SNAPSHOT_INTERVAL_MS=5000; repeatable");
  app.add_option("--recovery-events", o.recovery_events,
                 "recovery part: events in the log (0 skips the part)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--recovery-jobs", o.recovery_jobs, "recovery part: every-second jobs in the log")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--recovery-partitions", o.recovery_partitions,
                 "recovery part: job-events (and snapshot topic) partitions; the log must fit "
                 "~5 MiB each")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--recovery-rounds", o.recovery_rounds,
                 "recovery part: starts timed per mode (medians printed)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--verify-every", o.verify_every,
                 "recovery part: fold every n-th job of the log here to check it applies (0: none)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--only", o.only, "run one part only")
      ->check(CLI::IsMember({"firing", "recovery"}));
  app.footer(
      "Services come from $JOBSCHED_BIN_DIR (default: this binary's folder). Every figure is "
      "described at the top of tests/bench/recurring_bench.cc.");
  CLI11_PARSE(app, argc, argv);
  o.end_at = !no_end_at;
  if (!AddEnvSettings(env, o.env)) return 2;
  if (!o.extra_json.empty() && !json::parse(o.extra_json, nullptr, false).is_object()) {
    std::fprintf(stderr, "--job-json wants a JSON object, got %s\n", o.extra_json.c_str());
    return 2;
  }

  // Run from the build tree without ctest: find the services beside this binary.
  UseServicesBesideThisBinary(JOBSCHED_DEFAULT_SOURCE_DIR);
  curl_global_init(CURL_GLOBAL_DEFAULT);

  const auto began = Steady::now();
  std::string env_text;
  for (const auto& [k, v] : o.env) env_text += " " + k + "=" + v;
  std::string jobs_text;
  for (int n : o.jobs) jobs_text += (jobs_text.empty() ? "" : ",") + std::to_string(n);
  std::printf("jobsched recurring bench: %u cores; services from %s%s%s\n",
              std::thread::hardware_concurrency(), std::getenv("JOBSCHED_BIN_DIR"),
              env_text.empty() ? "" : "; env:", env_text.c_str());
  std::printf(
      "config: --jobs %s --seconds %d --partitions %s --slots %d --clients %d --rounds %d "
      "--lead %s --drain-timeout %d --stall %d%s%s%s --log-level %s --recovery-events %lld "
      "--recovery-jobs %d --recovery-partitions %d --recovery-rounds %d%s%s\n",
      jobs_text.c_str(), o.seconds,
      o.partitions > 0 ? std::to_string(o.partitions).c_str() : "auto", o.slots, o.clients,
      o.rounds, o.lead_s > 0 ? std::to_string(o.lead_s).c_str() : "auto", o.drain_timeout_s,
      o.stall_s, o.end_at ? "" : " --no-end-at", o.extra_json.empty() ? "" : " --job-json ",
      o.extra_json.c_str(), o.log_level.c_str(), (long long)o.recovery_events, o.recovery_jobs,
      o.recovery_partitions, o.recovery_rounds, o.only.empty() ? "" : " --only ", o.only.c_str());

  // Firing part.
  std::vector<std::pair<int, std::vector<FiringRound>>> firing;
  if (o.only != "recovery") {
    for (int jobs : o.jobs) {
      std::printf("\n== firing: %d recurring echo jobs, \"%s\", window %d s, %d round(s) ==\n",
                  jobs, kEverySecond, o.seconds, o.rounds);
      std::vector<FiringRound> rounds;
      for (int r = 1; r <= o.rounds; ++r) {
        if (o.rounds > 1) std::printf(" round %d\n", r);
        std::fflush(stdout);
        try {
          rounds.push_back(RunFiringRound(o, jobs, r));
        } catch (const std::exception& e) {
          FiringRound failed;
          failed.jobs = jobs;
          failed.error = e.what();
          rounds.push_back(failed);
        }
        PrintFiringRound(o, rounds.back());
        std::fflush(stdout);
      }
      firing.emplace_back(jobs, std::move(rounds));
    }
    std::printf("\n== firing summary (medians over rounds) ==\n");
    std::printf("%7s %5s %8s %8s %8s %8s %9s %8s %8s %8s %9s %9s\n", "jobs", "parts", "fires/s",
                "p50 ms", "p99 ms", "max ms", "expected", "skipped", "missed", "doubled", "KiB/job",
                "KiB/job");
    std::printf("%7s %5s %8s %8s %8s %8s %9s %8s %8s %8s %9s %9s\n", "", "", "", "drift", "drift",
                "drift", "slots", "", "", "", "idle", "win end");
    for (const auto& [jobs, rounds] : firing) {
      std::vector<double> f, p50, p99, mx, skipped, missed, doubled, idle, end;
      int parts = 0;
      int64_t expected = 0;
      for (const FiringRound& r : rounds) {
        if (!r.ok) continue;
        parts = r.partitions;
        expected = r.expected;
        f.push_back(r.fires_per_s);
        p50.push_back(r.drift_p50);
        p99.push_back(r.drift_p99);
        mx.push_back(r.drift_max);
        skipped.push_back(static_cast<double>(r.skipped));
        missed.push_back(static_cast<double>(r.missed));
        doubled.push_back(static_cast<double>(r.doubled()));
        idle.push_back(r.KibPerJob(r.sched_idle));
        end.push_back(r.KibPerJob(r.sched_end));
      }
      if (f.empty()) {
        std::printf("%7d   not run\n", jobs);
        continue;
      }
      std::printf("%7d %5d %8.0f %8.0f %8.0f %8.0f %9lld %8.0f %8.0f %8.0f %9.2f %9.2f\n", jobs,
                  parts, Median(f), Median(p50), Median(p99), Median(mx), (long long)expected,
                  Median(skipped), Median(missed), Median(doubled), Median(idle), Median(end));
    }
    std::printf(
        "targets: drift p99 <= 10 ms at 10,000 jobs, 0 missed, 0 doubled, <= 1 KiB per "
        "job\n");
  }

  // Recovery part.
  if (o.only != "firing" && o.recovery_events > 0) {
    std::fflush(stdout);
    try {
      RunRecovery(o);
    } catch (const std::exception& e) {
      std::printf("recovery part failed: %s\n", e.what());
    }
    std::printf("target: recovery <= 3 s\n");
  }
  std::printf("\ntotal time %.0f s\n", Secs(Steady::now() - began));
  return 0;
}
