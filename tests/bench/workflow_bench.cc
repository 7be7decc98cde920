// Workflow benchmark: how long a DAG takes on the local stack, from the
// POST that submits it to its last job's success.
//  - fan:   1 -> N -> 1 (default N = 1,000): submit -> sink SUCCEEDED, and how
//           long the N middle jobs took to be made due after the root ended;
//  - chain: a D-deep chain (default 100): submit -> last SUCCEEDED, and the
//           per-hop latency (a parent's end -> its child's RunDue -> the
//           child's end), median and p90 over the hops.
// Each scenario runs R rounds on one stack (two schedulers); prints every
// round, the medians, then one JSON line per scenario. Asserts nothing about
// speed.
//
//   jobsched-bench-workflow [--rounds R] [--fan N] [--depth D] [--slots S] [--env K=V ...]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "tests/bench/bench_stats.h"
#include "tests/e2e/local_system.h"
#include "tests/support/wait.h"

using namespace jobsched::testing;
using nlohmann::json;

namespace {

json Job(const std::string& key, const std::vector<std::string>& depends_on = {}) {
  json j = {{"key", key}, {"name", key}, {"type", "echo"}, {"max_retries", 0}};
  if (!depends_on.empty()) j["depends_on"] = depends_on;
  return j;
}

using jobsched::bench::Median;
using jobsched::bench::Percentile;

struct Round {
  double total_ms = 0;   // POST -> last job SUCCEEDED (the API's answer counted from the POST)
  double spread_ms = 0;  // fan: root finished -> last middle job made due
  std::vector<double> hops_ms;  // chain: parent finished -> child finished
  // chain: median of each stage of a hop, from the events' occurred_at.
  std::vector<std::pair<std::string, double>> stages;
};

// A hop of the chain, stage by stage: the parent's result -> its JobSucceeded
// (and the child's DependencySatisfied, same batch) -> the child's RunDue ->
// RunDispatched -> RunStarted -> RunSucceeded.
std::vector<std::pair<std::string, double>> HopStages(pqxx::nontransaction& tx,
                                                      const std::string& wid) {
  const char* kSql =
      "WITH e AS (SELECT substring(j.workflow_key FROM 2)::int AS n, l.event_type AS t, "
      "  extract(epoch FROM min(l.ts)) * 1000 AS ms FROM job_logs l JOIN jobs j USING (job_id) "
      "  WHERE j.workflow_id = $1 AND l.outcome = 'applied' GROUP BY 1, 2) "
      "SELECT c.n, "
      " (SELECT ms FROM e WHERE n = c.n - 1 AND t = 'JobSucceeded') - "
      " (SELECT ms FROM e WHERE n = c.n - 1 AND t = 'RunSucceeded'), "
      " (SELECT ms FROM e WHERE n = c.n AND t = 'RunDue') - "
      " (SELECT ms FROM e WHERE n = c.n - 1 AND t = 'JobSucceeded'), "
      " (SELECT ms FROM e WHERE n = c.n AND t = 'RunDispatched') - "
      " (SELECT ms FROM e WHERE n = c.n AND t = 'RunDue'), "
      " (SELECT ms FROM e WHERE n = c.n AND t = 'RunStarted') - "
      " (SELECT ms FROM e WHERE n = c.n AND t = 'RunDispatched'), "
      " (SELECT ms FROM e WHERE n = c.n AND t = 'RunSucceeded') - "
      " (SELECT ms FROM e WHERE n = c.n AND t = 'RunStarted') "
      "FROM (SELECT DISTINCT n FROM e WHERE n > 0) c";
  const char* kNames[] = {"result->JobSucceeded", "JobSucceeded->child RunDue",
                          "RunDue->RunDispatched", "RunDispatched->RunStarted",
                          "RunStarted->RunSucceeded"};
  std::vector<std::vector<double>> columns(5);
  for (const auto& row : tx.exec_params(kSql, wid)) {
    for (int i = 0; i < 5; ++i) {
      if (!row[i + 1].is_null()) columns[i].push_back(row[i + 1].as<double>());
    }
  }
  std::vector<std::pair<std::string, double>> out;
  for (int i = 0; i < 5; ++i) out.emplace_back(kNames[i], Median(columns[i]));
  return out;
}

// Submits, waits for `expect` successes, and reads the timings from the projections.
Round RunOnce(LocalSystem& sys, const json& jobs, int expect, bool chain) {
  const auto wall0 = std::chrono::system_clock::now();
  ApiReply r = sys.Api("POST", "/api/v1/workflows", {{"name", "bench"}, {"jobs", jobs}});
  if (r.status != 201) throw std::runtime_error("submit failed: " + r.body.dump());
  const std::string wid = r.body["workflow_id"];
  pqxx::connection c(sys.database_url());
  bool ok = WaitFor(
      [&] {
        pqxx::nontransaction tx(c);
        return tx.exec_params1("SELECT count(*) FROM jobs WHERE workflow_id = $1 AND "
                               "status = 'SUCCEEDED'",
                               wid)[0]
                   .as<int>() == expect;
      },
      std::chrono::minutes(10), std::chrono::milliseconds(5));
  if (!ok) throw std::runtime_error("workflow " + wid + " did not finish");
  Round out;
  pqxx::nontransaction tx(c);
  // Projections lag the log; the figures come from the events' own times.
  const double wall0_ms = std::chrono::duration<double, std::milli>(wall0.time_since_epoch()).count();
  auto ms = [](const pqxx::field& f) { return f.as<double>(); };
  out.total_ms = ms(tx.exec_params1(
                     "SELECT extract(epoch FROM max(e.finished_at)) * 1000 FROM job_executions e "
                     "JOIN jobs j USING (job_id) WHERE j.workflow_id = $1",
                     wid)[0]) -
                 wall0_ms;
  if (chain) {
    std::vector<double> finished;
    for (const auto& row : tx.exec_params(
             "SELECT extract(epoch FROM e.finished_at) * 1000 FROM job_executions e "
             "JOIN jobs j USING (job_id) WHERE j.workflow_id = $1 "
             "ORDER BY substring(j.workflow_key FROM 2)::int",
             wid)) {
      finished.push_back(ms(row[0]));
    }
    for (size_t i = 1; i < finished.size(); ++i) out.hops_ms.push_back(finished[i] - finished[i - 1]);
    out.stages = HopStages(tx, wid);
  } else {
    out.spread_ms = ms(tx.exec_params1(
        "SELECT extract(epoch FROM max(e.due_at) - min(r.finished_at)) * 1000 "
        "FROM job_executions e JOIN jobs j USING (job_id), job_executions r "
        "JOIN jobs rj ON rj.job_id = r.job_id "
        "WHERE j.workflow_id = $1 AND j.workflow_key LIKE 'm%' AND rj.workflow_id = $1 "
        "AND rj.workflow_key = 'root'",
        wid)[0]);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("jobsched workflow benchmark");
  int rounds = 3, fan = 1000, depth = 100, slots = 16;
  app.add_option("--rounds", rounds, "rounds per scenario");
  app.add_option("--fan", fan, "middle jobs of the fan-out/fan-in");
  app.add_option("--depth", depth, "jobs in the chain");
  app.add_option("--slots", slots, "executor slots");
  std::vector<std::string> env;
  app.add_option("--env", env, "NAME=VALUE for every service (e.g. KAFKA_CONFIG_LINGER_MS=0)");
  CLI11_PARSE(app, argc, argv);

  UseServicesBesideThisBinary(JOBSCHED_DEFAULT_SOURCE_DIR);
  LocalSystemOptions o;
  o.executor_slots = slots;
  o.log_level = "warn";
  for (const std::string& kv : env) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) throw std::invalid_argument("--env wants NAME=VALUE: " + kv);
    o.extra_env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  LocalSystem sys(o);
  sys.AddProcess("scheduler-2", "scheduler", {{"JOBSCHED_INSTANCE_ID", "scheduler-2"}});

  json fan_jobs = json::array({Job("root")});
  std::vector<std::string> middle;
  for (int i = 0; i < fan; ++i) {
    middle.push_back("m" + std::to_string(i));
    fan_jobs.push_back(Job(middle.back(), {"root"}));
  }
  fan_jobs.push_back(Job("sink", middle));
  json chain_jobs = json::array();
  for (int i = 0; i < depth; ++i) {
    chain_jobs.push_back(i ? Job("c" + std::to_string(i), {"c" + std::to_string(i - 1)})
                           : Job("c0"));
  }

  std::printf("workflow bench: 2 schedulers, 1 executor x %d slots, echo jobs\n", slots);
  std::vector<double> fan_total, fan_spread, chain_total, hop_p50, hop_p90;
  for (int r = 0; r < rounds; ++r) {
    Round f = RunOnce(sys, fan_jobs, fan + 2, false);
    fan_total.push_back(f.total_ms);
    fan_spread.push_back(f.spread_ms);
    std::printf("  fan 1->%d->1  round %d: submit -> sink succeeded %.0f ms; "
                "root end -> last middle due %.0f ms (%.0f jobs/s)\n",
                fan, r + 1, f.total_ms, f.spread_ms, (fan + 2) / (f.total_ms / 1000.0));
    Round c = RunOnce(sys, chain_jobs, depth, true);
    chain_total.push_back(c.total_ms);
    hop_p50.push_back(Median(c.hops_ms));
    hop_p90.push_back(Percentile(c.hops_ms, 0.9));
    std::printf("  chain x%d     round %d: submit -> last succeeded %.0f ms; per hop "
                "p50 %.1f ms, p90 %.1f ms\n",
                depth, r + 1, c.total_ms, hop_p50.back(), hop_p90.back());
    std::printf("                 hop stages (median ms):");
    for (const auto& [name, ms] : c.stages) std::printf(" %s %.1f;", name.c_str(), ms);
    std::printf("\n");
  }
  std::printf("median over %d rounds: fan %.0f ms (middle spread %.0f ms); chain %.0f ms, "
              "per hop p50 %.1f ms p90 %.1f ms\n",
              rounds, Median(fan_total), Median(fan_spread), Median(chain_total),
              Median(hop_p50), Median(hop_p90));
  std::printf("%s\n", json({{"scenario", "fan"}, {"jobs", fan + 2}, {"rounds", rounds},
                            {"total_ms_median", Median(fan_total)},
                            {"middle_spread_ms_median", Median(fan_spread)}})
                          .dump()
                          .c_str());
  std::printf("%s\n", json({{"scenario", "chain"}, {"depth", depth}, {"rounds", rounds},
                            {"total_ms_median", Median(chain_total)},
                            {"hop_ms_p50_median", Median(hop_p50)},
                            {"hop_ms_p90_median", Median(hop_p90)}})
                          .dump()
                          .c_str());
  return 0;
}
