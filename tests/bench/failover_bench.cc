// Failover benchmark: jobs on several executor processes (LocalSystem: every
// service a process, dev broker, PostgreSQL), first undisturbed, then with
// one executor killed (SIGKILL) halfway through the submissions. Prints, per
// phase: end-to-end jobs/s (first submit to the last SUCCEEDED row), p50/p99
// submit -> handler start; for the failure phase also jobs lost (not
// SUCCEEDED; must be 0), results counted twice (must be 0), handlers re-run
// (the runs the dead executor held, run again: at least once), how long after
// the kill the first RunLost came (executor_timeout) and the last re-run job
// succeeded. Text, then one JSON line per phase. Asserts nothing about speed.
//
//   jobsched-bench-failover [--jobs N] [--executors E] [--slots S] [--sleep-ms MS]
//                           [--clients C] [--executor-timeout-ms T] [--env NAME=VALUE]...
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <optional>
#include <thread>

#include "tests/e2e/local_system.h"
#include "tests/support/http_client.h"
#include "tests/support/wait.h"

using namespace jobsched::testing;
using Clock = std::chrono::steady_clock;

namespace {

struct Phase {
  std::string name;
  int jobs = 0;
  int failed_submits = 0;
  double e2e_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  int lost = 0;             // accepted, not SUCCEEDED
  int counted_twice = 0;    // more than one applied RunSucceeded
  int rerun = 0;            // jobs whose handler started more than once
  double detect_s = -1;     // kill -> first RunLost
  double recover_s = -1;    // kill -> last re-run job SUCCEEDED
};

// Submits `jobs` sleep jobs named "<tag>-<i>" from `clients` threads; calls
// `halfway` once half of them were submitted.
int SubmitAll(const LocalSystem& system, const std::string& tag, int jobs, int clients,
              int sleep_ms, const std::function<void()>& halfway) {
  std::atomic<int> next{0};
  std::atomic<int> failed{0};
  std::once_flag half;
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      for (int i = next++; i < jobs; i = next++) {
        if (i == jobs / 2) std::call_once(half, halfway);
        nlohmann::json body = {{"name", tag + "-" + std::to_string(i)},
                               {"type", "sleep"},
                               {"payload", {{"ms", sleep_ms}}}};
        try {
          auto r = HttpRequest("POST", system.ApiUrl("/api/v1/jobs"), body.dump(),
                               {"Content-Type: application/json", "Connection: keep-alive"});
          if (r.status != 201) ++failed;
        } catch (const std::exception&) {
          ++failed;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return failed;
}

Phase RunPhase(LocalSystem& system, const std::string& tag, int jobs, int clients, int sleep_ms,
               const std::string& victim) {
  Phase out;
  out.name = tag;
  out.jobs = jobs;
  std::optional<Clock::time_point> killed_at;
  auto start = Clock::now();
  out.failed_submits = SubmitAll(system, tag, jobs, clients, sleep_ms, [&] {
    if (victim.empty()) return;
    system.Kill(victim);
    killed_at = Clock::now();
  });
  pqxx::connection conn(system.database_url());
  const std::string like = tag + "-%";
  auto count = [&](const std::string& where) {
    pqxx::nontransaction tx(conn);
    return tx.exec_params1("SELECT count(*) FROM jobs WHERE name LIKE $1 AND " + where, like)[0]
        .as<int>();
  };
  const int want = jobs - out.failed_submits;
  WaitFor([&] { return count("status = 'SUCCEEDED'") >= want; }, std::chrono::minutes(5),
          std::chrono::milliseconds(20));
  auto done = Clock::now();
  auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  out.e2e_per_s = want / secs(done - start);
  out.lost = want - count("status = 'SUCCEEDED'");

  pqxx::nontransaction tx(conn);
  auto lat = tx.exec_params1(
      "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), "
      "       percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) "
      "FROM (SELECT extract(epoch FROM (e.started_at - j.created_at)) * 1000 AS ms "
      "      FROM jobs j JOIN job_executions e USING (job_id) WHERE j.name LIKE $1) t",
      like);
  out.p50_ms = lat[0].is_null() ? -1 : lat[0].as<double>();
  out.p99_ms = lat[1].is_null() ? -1 : lat[1].as<double>();
  auto per_job = [&](const std::string& type) {
    return tx
        .exec_params1("SELECT count(*) FROM (SELECT l.job_id FROM job_logs l JOIN jobs j "
                      "USING (job_id) WHERE j.name LIKE $1 AND l.event_type = $2 "
                      "AND l.outcome = 'applied' GROUP BY 1 HAVING count(*) > 1) t",
                      like, type)[0]
        .as<int>();
  };
  out.counted_twice = per_job("RunSucceeded");
  out.rerun = per_job("RunStarted");
  if (killed_at) {
    // Times in the log are wall-clock; the kill's is this process's clock now
    // minus how long ago it happened.
    double ago = secs(Clock::now() - *killed_at);
    auto t = tx.exec_params1(
        "SELECT extract(epoch FROM now()) - $2::float8, "
        "  (SELECT extract(epoch FROM min(l.ts)) FROM job_logs l JOIN jobs j USING (job_id) "
        "   WHERE j.name LIKE $1 AND l.event_type = 'RunLost' AND l.outcome = 'applied'), "
        "  (SELECT extract(epoch FROM max(l2.ts)) FROM job_logs l2 JOIN jobs j USING (job_id) "
        "   WHERE j.name LIKE $1 AND l2.event_type = 'JobSucceeded' AND l2.job_id IN "
        "     (SELECT job_id FROM job_logs WHERE event_type = 'RunLost'))",
        like, ago);
    double kill = t[0].as<double>();
    if (!t[1].is_null()) out.detect_s = t[1].as<double>() - kill;
    if (!t[2].is_null()) out.recover_s = t[2].as<double>() - kill;
  }
  return out;
}

void Print(const Phase& p) {
  std::printf("%-10s %6d jobs %8.0f jobs/s  p50 %8.1f ms  p99 %8.1f ms  errors %d\n",
              p.name.c_str(), p.jobs, p.e2e_per_s, p.p50_ms, p.p99_ms, p.failed_submits);
  if (p.detect_s >= 0 || p.lost > 0 || p.rerun > 0) {
    std::printf("%-10s lost %d, counted twice %d, handlers re-run %d, first RunLost %.1f s and "
                "last re-run job done %.1f s after the kill\n",
                "", p.lost, p.counted_twice, p.rerun, p.detect_s, p.recover_s);
  }
  nlohmann::json j = {{"bench", "failover"},      {"phase", p.name},
                      {"jobs", p.jobs},           {"submit_errors", p.failed_submits},
                      {"jobs_per_s", p.e2e_per_s}, {"submit_to_start_p50_ms", p.p50_ms},
                      {"submit_to_start_p99_ms", p.p99_ms}, {"lost", p.lost},
                      {"counted_twice", p.counted_twice}, {"handlers_rerun", p.rerun},
                      {"first_run_lost_s", p.detect_s}, {"recovered_s", p.recover_s}};
  std::printf("%s\n", j.dump().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"jobsched failover benchmark"};
  int jobs = 2000, executors = 4, slots = 8, sleep_ms = 100, clients = 16;
  int executor_timeout_ms = 30000;
  app.add_option("--jobs", jobs, "sleep jobs per phase")->check(CLI::PositiveNumber);
  app.add_option("--executors", executors, "executor processes")->check(CLI::Range(2, 64));
  app.add_option("--slots", slots, "slots per executor")->check(CLI::PositiveNumber);
  app.add_option("--sleep-ms", sleep_ms, "handler duration")->check(CLI::NonNegativeNumber);
  app.add_option("--clients", clients, "concurrent HTTP clients")->check(CLI::PositiveNumber);
  app.add_option("--executor-timeout-ms", executor_timeout_ms,
                 "JOBSCHED_EXECUTOR_TIMEOUT_MS (lease loss after silence)")
      ->check(CLI::PositiveNumber);
  std::vector<std::string> env;
  app.add_option("--env", env, "NAME=VALUE for every service");
  CLI11_PARSE(app, argc, argv);

  UseServicesBesideThisBinary(JOBSCHED_DEFAULT_SOURCE_DIR);

  LocalSystemOptions options;
  options.executor_slots = slots;
  options.log_level = "warn";
  options.executors.clear();
  for (int i = 1; i <= executors; ++i) {
    options.executors.push_back({"exec-" + std::to_string(i), {}});
  }
  options.extra_env["JOBSCHED_EXECUTOR_TIMEOUT_MS"] = std::to_string(executor_timeout_ms);
  if (!AddEnvSettings(env, options.extra_env)) return 2;
  LocalSystem system(options);
  std::printf("jobsched failover bench: %d sleep(%d ms) jobs per phase, %d executors x %d slots, "
              "%d clients, executor_timeout %d ms\n",
              jobs, sleep_ms, executors, slots, clients, executor_timeout_ms);
  RunPhase(system, "warmup", 20, 1, 0, "");  // consumer groups form: start-up, not measured
  Print(RunPhase(system, "steady", jobs, clients, sleep_ms, ""));
  Print(RunPhase(system, "kill-one", jobs, clients, sleep_ms, "exec-2"));
  return 0;
}
