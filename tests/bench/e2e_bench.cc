// End-to-end benchmark: echo jobs submitted over HTTP to a LocalSystem
// (every service a separate process, dev broker, PostgreSQL) or to a stack
// that already runs. Asserts nothing about speed: the figures are for people.
//
//   jobsched-bench-e2e [--jobs N] [--batch B] [--rounds R] [--clients C]
//                      [--rate R]... [--duration S] [--idle S] [--json FILE|-]
//                      [--slots S] [--partitions P] [--env K=V]...
//                      [--api URL --database-url URL [--pids NAME=PID]...]
//
// Closed loop (default): each round submits N jobs from C keep-alive
// connections as fast as the API answers, one job per POST /api/v1/jobs or
// B per POST /api/v1/jobs/batch, and waits until every jobs row is
// SUCCEEDED: e2e jobs/s = N / (first submit -> last SUCCEEDED row seen).
// Latencies count from the job's JobSubmitted occurred_at.
//
// Open loop (--rate, repeatable): job i is sent at start + i / R for
// --duration seconds, whether or not earlier requests were answered; every
// latency counts from that scheduled time, so queueing in front of the API
// shows (no coordinated omission). "Start" is the RunStarted occurred_at
// (stamped by the executor just before the handler runs).
//
// occurred_at has millisecond resolution, so do the latencies. After the
// rounds of a mode (or a rate) come the median of each hop (JobSubmitted ->
// RunDue -> RunDispatched -> RunStarted -> RunSucceeded -> JobSucceeded) and
// the budget: job_logs rows per job by event type, and PostgreSQL row writes
// (n_tup_ins + n_tup_upd + n_tup_del of pg_stat_user_tables) per job by
// table over the rounds, background writes (heartbeats) and temporary
// staging tables included (a total without them is shown too).
//
// --idle S measures each process's CPU (utime + stime, every thread) over S
// seconds without load, after start and again after the last round, in % of
// one core. On a LocalSystem that is every service, the dev broker and
// PostgreSQL (with its backends). With --api: the processes named with
// --pids, else those found on this machine: the jobsched services whose
// DATABASE_URL is --database-url, their dev broker and the postmaster on
// the URL's port (none found, e.g. a remote stack: the measurement is skipped).
//
// JSON: --json FILE appends one object per line (a "config" line, one
// "round" line per round, a "summary" line per mode or rate, an "idle" line
// per measurement, each with the run's "run" tag); --json - prints them on
// stdout prefixed "json: " (extract with: grep '^json: ' | cut -c7-).
#include <curl/curl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <thread>

#include "tests/bench/e2e_bench_load.h"
#include "tests/bench/e2e_bench_measure.h"
#include "tests/bench/e2e_bench_report.h"
#include "tests/e2e/local_system.h"

using namespace jobsched::bench;
using jobsched::testing::LocalSystem;
using jobsched::testing::LocalSystemOptions;
using json = nlohmann::ordered_json;

namespace {

struct Config {
  int jobs = 2000;
  int batch = 0;
  int rounds = 3;
  int clients = 8;
  std::vector<double> rates;  // empty: closed loop
  double duration = 10;
  double idle = 0;
  int slots = 32;
  int partitions = 12;
  int warmup = 20;
  int timeout_s = 600;
  std::vector<std::string> env;
  std::string api, database_url, json_path;
  std::vector<std::string> pids;
  bool open() const { return !rates.empty(); }
};

// The system under test: started here, or already running (--api).
struct Target {
  std::unique_ptr<LocalSystem> system;
  std::string api_base, database_url;
  std::vector<WatchedProcess> pinned;  // --pids

  std::vector<WatchedProcess> Watched() const {
    if (!system) return pinned.empty() ? DiscoverStack(database_url) : pinned;
    std::vector<WatchedProcess> out;
    std::vector<std::string> names = system->Processes();
    names.push_back("devbroker");
    names.push_back("postgres");
    for (const auto& n : names) out.push_back({n, system->Pid(n), n == "postgres"});
    return out;
  }
};

double Secs(Steady::duration d) { return std::chrono::duration<double>(d).count(); }
std::string RunTag() {
  auto now = std::chrono::system_clock::now().time_since_epoch().count();
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%06llx",
                static_cast<unsigned long long>((now ^ (getpid() * 2654435761u)) & 0xffffff));
  return std::string("bench-") + buf;
}

Round RunRound(const Target& target, const Config& c, const std::string& prefix, double rate,
               int jobs) {
  Round r;
  r.rate = rate;
  r.batch = rate > 0 ? 0 : c.batch;
  r.duration_s = rate > 0 ? c.duration : 0;
  pqxx::connection conn(target.database_url);
  auto before = ReadTableWrites(conn);
  const std::vector<WatchedProcess> procs = target.Watched();
  const auto cpu_before = SnapshotCpu(procs);
  LoadOptions lo{target.api_base, prefix, c.clients, rate > 0 ? 0 : c.batch};
  r.load = rate > 0 ? RunOpenLoop(lo, rate, c.duration) : RunClosedLoop(lo, jobs);
  r.requested = static_cast<int>(r.load.accepted.size()) + r.load.rejected + r.load.failed;
  r.done =
      AwaitCompletion(conn, prefix, r.load.start_unix, static_cast<int>(r.load.accepted.size()),
                      std::chrono::seconds(c.timeout_s));
  for (const auto& [name, cpu] : SnapshotCpu(procs)) {
    const double was = cpu_before.at(name);
    r.cpu_s[name] = cpu < 0 || was < 0 ? -1 : cpu - was;
  }
  r.t = ReadTimings(conn, r.load.accepted, rate > 0);
  // PostgreSQL publishes a backend's table counts at most once a second.
  std::this_thread::sleep_until(r.done.at + std::chrono::milliseconds(1100));
  for (const auto& [table, n] : ReadTableWrites(conn)) {
    int64_t d = n - before[table];
    if (d == 0) continue;
    // A projector's staging tables live in its session's pg_temp_<n>
    // schema, which changes when it reconnects: one name for all of them.
    bool temp = table.rfind("pg_temp_", 0) == 0;
    r.writes[temp ? "pg_temp." + table.substr(table.find('.') + 1) : table] += d;
  }
  r.submit_per_s = r.requested / std::max(1e-9, Secs(r.load.end - r.load.start));
  r.e2e_per_s = r.done.succeeded / std::max(1e-9, Secs(r.done.at - r.load.start));
  if (rate > 0) {
    r.achieved_per_s = r.load.accepted.size() / std::max(1e-9, r.load.last_send_s + 1 / rate);
  }
  r.ack = Summarize(r.load.ack_ms);
  return r;
}

void MeasureIdle(const std::string& tag, const Target& target, const Config& c,
                 const std::string& phase, JsonSink& sink) {
  auto procs = target.Watched();
  if (procs.empty()) {
    std::printf("idle CPU (%s): no processes to watch (give --pids NAME=PID)\n\n", phase.c_str());
    return;
  }
  auto cpu = MeasureCpu(procs, c.idle);
  std::printf("idle CPU %s, %% of one core over %g s:\n", phase.c_str(), c.idle);
  json pct = json::object();
  double total = 0;
  for (const auto& [name, p] : cpu) {
    std::printf("  %-14s %6s\n", name.c_str(), p < 0 ? "gone" : Ms(p).c_str());
    pct[name] = p < 0 ? json(nullptr) : json(R3(p));
    total += std::max(0.0, p);
  }
  std::printf("  %-14s %6s\n", "all of these", Ms(total).c_str());
  std::printf("\n");
  std::fflush(stdout);
  sink.Emit({{"type", "idle"},
             {"run", tag},
             {"phase", phase},
             {"seconds", c.idle},
             {"cpu_pct", pct},
             {"total_pct", R3(total)}});
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"jobsched end-to-end benchmark (see the top of e2e_bench.cc for what it measures)"};
  app.option_defaults()->always_capture_default();
  Config c;
  app.add_option("--jobs", c.jobs, "closed loop: echo jobs per round")->check(CLI::PositiveNumber);
  app.add_option("--batch", c.batch, "closed loop: jobs per POST /api/v1/jobs/batch (0: single)")
      ->check(CLI::Range(0, 1000));
  app.add_option("--rounds", c.rounds, "rounds per mode or rate (default 3 closed, 1 open)")
      ->check(CLI::PositiveNumber);
  app.add_option("--clients", c.clients, "keep-alive HTTP connections (default 8 closed, 32 open)")
      ->check(CLI::PositiveNumber);
  auto* rate = app.add_option("--rate", c.rates, "open loop: jobs/s (repeat for several rates)")
                   ->check(CLI::PositiveNumber);
  app.add_option("--duration", c.duration, "open loop: seconds of load per round")
      ->check(CLI::PositiveNumber)
      ->needs(rate);
  app.add_option("--idle", c.idle, "seconds of idle CPU measurement after start and after load")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--warmup", c.warmup, "jobs run before measuring (consumer groups form)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--timeout", c.timeout_s, "seconds to wait for a round's jobs to finish")
      ->check(CLI::PositiveNumber);
  app.add_option("--json", c.json_path, "append JSON lines to FILE ('-': stdout, prefixed)");
  auto* slots =
      app.add_option("--slots", c.slots, "LocalSystem: executor slots")->check(CLI::PositiveNumber);
  auto* partitions =
      app.add_option("--partitions", c.partitions, "LocalSystem: job-events partitions")
          ->check(CLI::PositiveNumber);
  auto* env = app.add_option("--env", c.env,
                             "LocalSystem: NAME=VALUE for every service, e.g. "
                             "KAFKA_CONFIG_LINGER_MS=1");
  auto* api = app.add_option("--api", c.api, "bench a running stack: its API base URL");
  auto* db = app.add_option("--database-url", c.database_url, "with --api: its PostgreSQL");
  auto* pids = app.add_option("--pids", c.pids, "with --api: NAME=PID to watch in --idle");
  api->needs(db);
  db->needs(api);
  pids->needs(api);
  slots->excludes(api);
  partitions->excludes(api);
  env->excludes(api);
  CLI11_PARSE(app, argc, argv);
  if (c.open() && c.batch > 0) {
    std::fprintf(stderr, "--batch is closed loop only: the open loop sends one job a request\n");
    return 2;
  }
  if (app.count("--rounds") == 0 && c.open()) c.rounds = 1;
  if (app.count("--clients") == 0 && c.open()) c.clients = 32;

  curl_global_init(CURL_GLOBAL_ALL);
  JsonSink sink(c.json_path);
  const std::string tag = RunTag();
  Target target;
  if (c.api.empty()) {
    // Run from the build tree without ctest: find the services beside this binary.
    jobsched::testing::UseServicesBesideThisBinary(JOBSCHED_DEFAULT_SOURCE_DIR);
    LocalSystemOptions options;
    options.executor_slots = c.slots;
    options.partitions = c.partitions;
    options.log_level = "warn";
    if (!jobsched::testing::AddEnvSettings(c.env, options.extra_env)) return 2;
    target.system = std::make_unique<LocalSystem>(options);
    target.api_base = target.system->ApiUrl("");
    target.database_url = target.system->database_url();
  } else {
    target.api_base = c.api;
    while (!target.api_base.empty() && target.api_base.back() == '/') target.api_base.pop_back();
    target.database_url = c.database_url;
    for (const auto& spec : c.pids) {
      WatchedProcess p;
      if (!ParseWatched(spec, &p)) {
        std::fprintf(stderr, "--pids wants NAME=PID, got '%s'\n", spec.c_str());
        return 2;
      }
      target.pinned.push_back(p);
    }
  }

  // The configuration measured, first, so every figure below has it.
  std::string env_text;
  for (const auto& e : c.env) env_text += (env_text.empty() ? "" : " ") + e;
  std::string rates_text;
  for (double r : c.rates) rates_text += (rates_text.empty() ? "" : ",") + Num(r);
  std::printf("jobsched e2e bench, run %s\n", tag.c_str());
  if (target.system) {
    std::printf("  target: LocalSystem (this build), %d executor slots, %d partitions, log %s\n",
                c.slots, c.partitions, target.system->log_dir().c_str());
  } else {
    std::printf("  target: running stack, api %s, database %s\n", target.api_base.c_str(),
                target.database_url.c_str());
  }
  std::printf("  env: %s\n", env_text.empty() ? "(none)" : env_text.c_str());
  if (c.open()) {
    std::printf("  mode: open loop, %s jobs/s for %g s, %d connections, %d round(s) per rate\n",
                rates_text.c_str(), c.duration, c.clients, c.rounds);
  } else {
    std::printf("  mode: closed loop, %d jobs x %d rounds, %d connections, %s\n", c.jobs, c.rounds,
                c.clients,
                c.batch > 0 ? ("batch " + std::to_string(c.batch)).c_str() : "single submits");
  }
  std::printf("  idle: %s; warm-up %d jobs\n\n", c.idle > 0 ? (Num(c.idle) + " s").c_str() : "off",
              c.warmup);
  json config = {{"type", "config"},
                 {"run", tag},
                 {"target", target.system ? "local" : target.api_base},
                 {"mode", c.open() ? "open" : "closed"},
                 {"env", c.env},
                 {"rounds", c.rounds},
                 {"clients", c.clients},
                 {"idle_s", c.idle},
                 {"warmup", c.warmup}};
  if (target.system) {
    config["slots"] = c.slots;
    config["partitions"] = c.partitions;
  }
  if (c.open()) {
    config["rates"] = c.rates;
    config["duration_s"] = c.duration;
  } else {
    config["jobs"] = c.jobs;
    config["batch"] = c.batch;
  }
  sink.Emit(config);

  // Warm-up, not measured: the first jobs wait for every consumer group to
  // form (seconds on the dev broker), which is start-up, not throughput.
  if (c.warmup > 0) {
    LoadOptions lo{target.api_base, tag + "-warmup-", 1, 0};
    LoadResult w = RunClosedLoop(lo, c.warmup);
    pqxx::connection conn(target.database_url);
    Completion wc =
        AwaitCompletion(conn, lo.name_prefix, w.start_unix, c.warmup, std::chrono::seconds(60));
    if (wc.timed_out) {
      // Nothing below could measure anything: say so instead of waiting for every round.
      std::fprintf(stderr, "warm-up: %zu of %d jobs accepted, %d ended within 60 s (%s)%s%s\n",
                   w.accepted.size(), c.warmup, wc.terminal,
                   w.first_problem.empty() ? "no submit failed" : w.first_problem.c_str(),
                   target.system ? "; logs in " : "",
                   target.system ? target.system->log_dir().c_str() : "");
      return 1;
    }
    // So that the first round's row writes do not include the warm-up's,
    // which PostgreSQL publishes up to a second late.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  }
  if (c.idle > 0) MeasureIdle(tag, target, c, "after start", sink);

  std::vector<double> rates = c.open() ? c.rates : std::vector<double>{0};
  PrintHeader(c.open());
  for (double rate : rates) {
    std::vector<Round> rounds;
    for (int i = 1; i <= c.rounds; ++i) {
      std::string prefix =
          tag + (rate > 0 ? "-rate" + Num(rate) : "") + "-r" + std::to_string(i) + "-";
      Round r = RunRound(target, c, prefix, rate, c.jobs);
      r.index = i;
      PrintRound(r);
      sink.Emit(RoundJson(tag, r));
      rounds.push_back(std::move(r));
    }
    PrintSummary(tag, rounds, sink);
    if (rate != rates.back()) PrintHeader(true);
  }
  if (c.idle > 0) MeasureIdle(tag, target, c, "after load", sink);
  if (target.system) {
    std::string broker = target.system->BrokerLog();
    if (broker.find("dropped old events") != std::string::npos) {
      std::printf("WARNING: the dev broker dropped old events: add --partitions (see its log)\n");
    }
  }
  return 0;
}
