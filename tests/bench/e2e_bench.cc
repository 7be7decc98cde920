// End-to-end benchmark: N echo jobs submitted over HTTP to a LocalSystem
// (every service a separate process, dev broker, PostgreSQL). Prints
// submissions/s, end-to-end jobs/s (first submit to the N-th SUCCEEDED row in
// PostgreSQL) and submit-to-start latency percentiles. Asserts nothing about
// speed: the figures are for people.
//
//   jobsched-bench-e2e [--jobs N] [--clients C] [--slots S] [--rounds R]
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <pqxx/pqxx>
#include <thread>

#include "tests/e2e/local_system.h"
#include "tests/support/http_client.h"
#include "tests/support/wait.h"

using namespace jobsched::testing;
using Clock = std::chrono::steady_clock;

namespace {

// The hops of a run, each measured between the occurred_at of two events.
constexpr const char* kStages[][2] = {{"JobSubmitted", "RunDue"},
                                      {"RunDue", "RunDispatched"},
                                      {"RunDispatched", "RunStarted"},
                                      {"RunStarted", "RunSucceeded"},
                                      {"RunSucceeded", "JobSucceeded"}};
constexpr int kStageCount = sizeof(kStages) / sizeof(kStages[0]);

struct Round {
  double stage_p50_ms[kStageCount] = {};
  double submit_per_s = 0;
  double e2e_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  int failed_submits = 0;
};

Round RunRound(const LocalSystem& system, int jobs, int clients, int round) {
  Round out;
  std::atomic<int> next{0};
  std::atomic<int> failed{0};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      for (int i = next++; i < jobs; i = next++) {
        std::string body = R"({"name":"bench-)" + std::to_string(round) + "-" + std::to_string(i) +
                           R"(","type":"echo","payload":{"i":)" + std::to_string(i) + "}}";
        try {
          auto r = HttpRequest("POST", system.ApiUrl("/api/v1/jobs"), body,
                               {"Content-Type: application/json", "Connection: keep-alive"});
          if (r.status != 201) ++failed;
        } catch (const std::exception&) {
          ++failed;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  auto submitted = Clock::now();
  out.failed_submits = failed;

  pqxx::connection conn(system.database_url());
  std::string name_prefix = "bench-" + std::to_string(round) + "-%";
  auto succeeded = [&] {
    pqxx::work tx(conn);
    auto row = tx.exec_params1("SELECT count(*) FROM jobs WHERE status = 'SUCCEEDED' AND name LIKE $1",
                               name_prefix);
    return row[0].as<int>();
  };
  int want = jobs - failed;
  WaitFor([&] { return succeeded() >= want; }, std::chrono::minutes(10),
          std::chrono::milliseconds(20));
  auto done = Clock::now();

  pqxx::work tx(conn);
  auto lat = tx.exec_params1(
      "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), "
      "       percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) "
      "FROM (SELECT extract(epoch FROM (e.started_at - j.created_at)) * 1000 AS ms "
      "      FROM jobs j JOIN job_executions e USING (job_id) "
      "      WHERE j.name LIKE $1 AND e.attempt = 1) t",
      name_prefix);
  for (int i = 0; i < kStageCount; ++i) {
    auto stage = tx.exec_params1(
        "WITH e AS (SELECT l.job_id, l.event_type, min(l.ts) AS ts FROM job_logs l "
        "           JOIN jobs j USING (job_id) "
        "           WHERE j.name LIKE $1 AND l.outcome = 'applied' GROUP BY 1, 2) "
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM b.ts - a.ts) * 1000) "
        "FROM e a JOIN e b USING (job_id) WHERE a.event_type = $2 AND b.event_type = $3",
        name_prefix, kStages[i][0], kStages[i][1]);
    out.stage_p50_ms[i] = stage[0].is_null() ? -1 : stage[0].as<double>();
  }
  auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  out.submit_per_s = jobs / secs(submitted - start);
  out.e2e_per_s = want / secs(done - start);
  out.p50_ms = lat[0].is_null() ? -1 : lat[0].as<double>();
  out.p99_ms = lat[1].is_null() ? -1 : lat[1].as<double>();
  return out;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"jobsched end-to-end benchmark"};
  int jobs = 2000, clients = 8, slots = 32, rounds = 3;
  app.add_option("--jobs", jobs, "echo jobs per round")->check(CLI::PositiveNumber);
  app.add_option("--clients", clients, "concurrent HTTP clients")->check(CLI::PositiveNumber);
  app.add_option("--slots", slots, "executor slots")->check(CLI::PositiveNumber);
  app.add_option("--rounds", rounds, "rounds (medians are printed)")->check(CLI::PositiveNumber);
  std::vector<std::string> env;
  app.add_option("--env", env, "NAME=VALUE for every service, e.g. KAFKA_CONFIG_LINGER_MS=1");
  CLI11_PARSE(app, argc, argv);

  // Run from the build tree without ctest: find the services beside this binary.
  UseServicesBesideThisBinary(JOBSCHED_DEFAULT_SOURCE_DIR);

  LocalSystemOptions options;
  options.executor_slots = slots;
  options.log_level = "warn";
  if (!AddEnvSettings(env, options.extra_env)) return 2;
  LocalSystem system(options);
  std::printf("jobsched e2e bench: %d echo jobs x %d rounds, %d clients, %d executor slots\n", jobs,
              rounds, clients, slots);
  std::printf("%-6s %12s %12s %10s %10s %8s\n", "round", "submit/s", "e2e jobs/s", "p50 ms",
              "p99 ms", "errors");
  // Warm-up, not measured: the first jobs wait for every consumer group to
  // form (seconds on the dev broker), which is start-up, not throughput.
  RunRound(system, 20, 1, 0);
  std::vector<double> submit, e2e, p50, p99;
  std::vector<double> stages[kStageCount];
  for (int r = 0; r < rounds; ++r) {
    Round x = RunRound(system, jobs, clients, r + 1);
    std::printf("%-6d %12.0f %12.0f %10.1f %10.1f %8d\n", r + 1, x.submit_per_s, x.e2e_per_s,
                x.p50_ms, x.p99_ms, x.failed_submits);
    submit.push_back(x.submit_per_s);
    e2e.push_back(x.e2e_per_s);
    p50.push_back(x.p50_ms);
    p99.push_back(x.p99_ms);
    for (int i = 0; i < kStageCount; ++i) stages[i].push_back(x.stage_p50_ms[i]);
  }
  std::printf("%-6s %12.0f %12.0f %10.1f %10.1f\n", "median", Median(submit), Median(e2e),
              Median(p50), Median(p99));
  std::printf("\nmedian time per hop (p50 over jobs, median over rounds):\n");
  for (int i = 0; i < kStageCount; ++i) {
    std::printf("  %-14s -> %-14s %8.1f ms\n", kStages[i][0], kStages[i][1], Median(stages[i]));
  }
  return 0;
}
