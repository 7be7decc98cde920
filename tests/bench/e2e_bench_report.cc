#include "tests/bench/e2e_bench_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace jobsched::bench {
namespace {

using json = nlohmann::ordered_json;

double Median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// Temporary tables (a projector's COPY staging, "pg_temp.<name>") cost
// writes but hold nothing a reader sees: the budget shows both totals.
bool IsTemp(const std::string& table) { return table.rfind("pg_temp", 0) == 0; }

// A latency for JSON: null when there was nothing to measure.
json Fig(double ms) { return ms < 0 ? json(nullptr) : json(R3(ms)); }

json PercentilesJson(const Percentiles& p) {
  return {{"n", p.n},
          {"p50", Fig(p.p50)},
          {"p90", Fig(p.p90)},
          {"p99", Fig(p.p99)},
          {"max", Fig(p.max)}};
}

}  // namespace

double R3(double x) { return std::round(x * 1000) / 1000; }

std::string Ms(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), v < 0 ? "-" : "%.1f", v);
  return buf;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

JsonSink::JsonSink(const std::string& path) : stdout_(path == "-") {
  if (!path.empty() && !stdout_) {
    file_.open(path, std::ios::app);
    if (!file_) throw std::runtime_error("cannot open --json file " + path);
  }
}

void JsonSink::Emit(const json& line) {
  if (stdout_) {
    std::printf("json: %s\n", line.dump().c_str());
    std::fflush(stdout);
  } else if (file_.is_open()) {
    file_ << line.dump() << '\n' << std::flush;
  }
}

namespace {
// CPU milliseconds per job by process (null: the process vanished), with a "total".
json CpuJson(const std::map<std::string, double>& cpu_s, double jobs) {
  json j = json::object();
  double total = 0;
  for (const auto& [name, s] : cpu_s) {
    j[name] = s < 0 ? json(nullptr) : json(R3(s * 1e3 / jobs));
    total += std::max(0.0, s);
  }
  j["total"] = R3(total * 1e3 / jobs);
  return j;
}
}  // namespace

json RoundJson(const std::string& tag, const Round& r) {
  const double n = std::max<size_t>(1, r.load.accepted.size());
  json events = json::object(), writes = json::object(), hops = json::object();
  for (const auto& [type, k] : r.t.rows_by_type) events[type] = R3(k / n);
  int64_t total_writes = 0, kept_writes = 0;
  for (const auto& [table, k] : r.writes) {
    writes[table] = R3(k / n);
    total_writes += k;
    if (!IsTemp(table)) kept_writes += k;
  }
  for (int h = 0; h < kHopCount; ++h) {
    hops[std::string(kHops[h][0]) + "->" + kHops[h][1]] = Fig(r.t.hop_p50_ms[h]);
  }
  json j = {{"type", "round"},
            {"run", tag},
            {"mode", r.rate > 0 ? "open" : "closed"},
            {"round", r.index},
            {"requested", r.requested},
            {"accepted", r.load.accepted.size()},
            {"rejected", r.load.rejected},
            {"failed", r.load.failed},
            {"succeeded", r.done.succeeded},
            {"timed_out", r.done.timed_out},
            {"submit_per_s", R3(r.submit_per_s)},
            {"e2e_per_s", R3(r.e2e_per_s)},
            {"submit_to_start_ms", PercentilesJson(r.t.to_start)},
            {"submit_to_succeeded_ms", PercentilesJson(r.t.to_succeeded)},
            {"submit_ack_ms", PercentilesJson(r.ack)},
            {"latency_from", r.rate > 0 ? "scheduled_send" : "JobSubmitted"},
            {"start_fallbacks", r.t.start_fallbacks},
            {"hop_p50_ms", hops},
            {"job_logs_rows_per_job", R3(r.t.rows / n)},
            {"job_logs_rows_not_applied", r.t.rows_not_applied},
            {"job_logs_rows_per_job_by_type", events},
            {"row_writes_per_job", R3(total_writes / n)},
            {"row_writes_per_job_without_temp", R3(kept_writes / n)},
            {"row_writes_per_job_by_table", writes},
            {"cpu_ms_per_job", CpuJson(r.cpu_s, n)}};
  if (r.rate > 0) {
    j["rate"] = r.rate;
    j["duration_s"] = r.duration_s;
    j["achieved_per_s"] = R3(r.achieved_per_s);
    j["max_send_lag_ms"] = R3(r.load.max_send_lag_ms);
  } else {
    j["batch"] = r.batch;
  }
  if (!r.load.first_problem.empty()) j["first_problem"] = r.load.first_problem;
  return j;
}

void PrintRound(const Round& r) {
  std::string errors = std::to_string(r.load.rejected) + "/" + std::to_string(r.load.failed);
  if (r.done.timed_out) errors += " TIMEOUT(" + std::to_string(r.done.succeeded) + " done)";
  if (r.rate > 0) {
    std::printf("%-7g %-5d %8.0f %8.0f %7s %7s %7s %7s %7s %7s %7s %9s %8s  %s\n", r.rate, r.index,
                r.achieved_per_s, r.e2e_per_s, Ms(r.t.to_start.p50).c_str(),
                Ms(r.t.to_start.p90).c_str(), Ms(r.t.to_start.p99).c_str(),
                Ms(r.t.to_start.max).c_str(), Ms(r.t.to_succeeded.p50).c_str(),
                Ms(r.t.to_succeeded.p99).c_str(), Ms(r.t.to_succeeded.max).c_str(),
                Ms(r.ack.p99).c_str(), Ms(r.load.max_send_lag_ms).c_str(), errors.c_str());
  } else {
    std::printf("%-6d %10.0f %11.0f %9s %9s %9s %9s %9s  %s\n", r.index, r.submit_per_s,
                r.e2e_per_s, Ms(r.t.to_start.p50).c_str(), Ms(r.t.to_start.p99).c_str(),
                Ms(r.t.to_succeeded.p50).c_str(), Ms(r.t.to_succeeded.p99).c_str(),
                Ms(r.ack.p99).c_str(), errors.c_str());
  }
  if (!r.load.first_problem.empty()) {
    std::printf("       first problem: %s\n", r.load.first_problem.c_str());
  }
  if (r.t.start_fallbacks > 0) {
    std::printf("       %d jobs had no RunStarted: their start is job_executions.started_at\n",
                r.t.start_fallbacks);
  }
  std::fflush(stdout);
}

void PrintHeader(bool open) {
  if (open) {
    std::printf("%32s %-31s %-23s %s\n", "", "------- submit->start ms ------",
                "- submit->SUCCEEDED ms -", "(from the scheduled send)");
    std::printf("%-7s %-5s %8s %8s %7s %7s %7s %7s %7s %7s %7s %9s %8s  %s\n", "rate/s", "round",
                "achieved", "done/s", "p50", "p90", "p99", "max", "p50", "p99", "max", "ack p99",
                "late max", "rej/fail");
  } else {
    std::printf("%-6s %10s %11s %9s %9s %9s %9s %9s  %s\n", "round", "submit/s", "e2e jobs/s",
                "start p50", "start p99", "done p50", "done p99", "ack p99", "rej/fail");
  }
}

// Medians over a mode's (or a rate's) rounds: text and JSON.
void PrintSummary(const std::string& tag, const std::vector<Round>& rounds, JsonSink& sink) {
  std::vector<double> submit, e2e, achieved, p50, p90, p99, max, done50, done99;
  std::vector<double> hops[kHopCount];
  int64_t jobs = 0, rows = 0;
  std::map<std::string, int64_t> by_type, by_table;
  std::map<std::string, double> cpu;
  for (const Round& r : rounds) {
    for (const auto& [k, v] : r.cpu_s) cpu[k] = cpu[k] < 0 || v < 0 ? -1 : cpu[k] + v;
    submit.push_back(r.submit_per_s);
    e2e.push_back(r.e2e_per_s);
    achieved.push_back(r.achieved_per_s);
    p50.push_back(r.t.to_start.p50);
    p90.push_back(r.t.to_start.p90);
    p99.push_back(r.t.to_start.p99);
    max.push_back(r.t.to_start.max);
    done50.push_back(r.t.to_succeeded.p50);
    done99.push_back(r.t.to_succeeded.p99);
    for (int h = 0; h < kHopCount; ++h) hops[h].push_back(r.t.hop_p50_ms[h]);
    jobs += r.load.accepted.size();
    rows += r.t.rows;
    for (const auto& [k, v] : r.t.rows_by_type) by_type[k] += v;
    for (const auto& [k, v] : r.writes) by_table[k] += v;
  }
  const Round& first = rounds.front();
  if (rounds.size() > 1) {
    if (first.rate > 0) {
      std::printf("%-7s %-5s %8.0f %8.0f %7s %7s %7s %7s %7s %7s\n", "median", "", Median(achieved),
                  Median(e2e), Ms(Median(p50)).c_str(), Ms(Median(p90)).c_str(),
                  Ms(Median(p99)).c_str(), Ms(Median(max)).c_str(), Ms(Median(done50)).c_str(),
                  Ms(Median(done99)).c_str());
    } else {
      std::printf("%-6s %10.0f %11.0f %9s %9s %9s %9s\n", "median", Median(submit), Median(e2e),
                  Ms(Median(p50)).c_str(), Ms(Median(p99)).c_str(), Ms(Median(done50)).c_str(),
                  Ms(Median(done99)).c_str());
    }
  }
  const double n = std::max<int64_t>(1, jobs);
  std::printf("\nmedian time per hop (p50 over jobs, median over rounds):\n");
  json hop_json = json::object();
  for (int h = 0; h < kHopCount; ++h) {
    std::printf("  %-14s -> %-14s %8s ms\n", kHops[h][0], kHops[h][1], Ms(Median(hops[h])).c_str());
    hop_json[std::string(kHops[h][0]) + "->" + kHops[h][1]] = Fig(Median(hops[h]));
  }
  int64_t writes = 0, kept = 0;
  for (const auto& [k, v] : by_table) {
    writes += v;
    if (!IsTemp(k)) kept += v;
  }
  std::printf("budget per job (%lld jobs, %zu round(s)):\n", static_cast<long long>(jobs),
              rounds.size());
  std::printf("  job_logs rows %6.2f:", rows / n);
  for (const auto& [k, v] : by_type) std::printf(" %s %.2f", k.c_str(), v / n);
  std::printf("\n  row writes    %6.2f (%.2f without temporary tables):", writes / n, kept / n);
  for (const auto& [k, v] : by_table) std::printf(" %s %.2f", k.c_str(), v / n);
  if (!cpu.empty()) {
    double total = 0;
    for (const auto& [k, v] : cpu) total += std::max(0.0, v);
    std::printf("\n  CPU ms        %6.3f (first submit to last done, every process):",
                total * 1e3 / n);
    for (const auto& [k, v] : cpu) {
      if (v < 0)
        std::printf(" %s gone", k.c_str());
      else
        std::printf(" %s %.3f", k.c_str(), v * 1e3 / n);
    }
  }
  std::printf("\n\n");
  std::fflush(stdout);

  json j = {
      {"type", "summary"},
      {"run", tag},
      {"mode", first.rate > 0 ? "open" : "closed"},
      {"rounds", rounds.size()},
      {"jobs", jobs},
      {"submit_per_s", R3(Median(submit))},
      {"e2e_per_s", R3(Median(e2e))},
      {"submit_to_start_ms",
       {{"p50", Fig(Median(p50))},
        {"p90", Fig(Median(p90))},
        {"p99", Fig(Median(p99))},
        {"max", Fig(Median(max))}}},
      {"submit_to_succeeded_ms", {{"p50", Fig(Median(done50))}, {"p99", Fig(Median(done99))}}},
      {"hop_p50_ms", hop_json},
      {"job_logs_rows_per_job", R3(rows / n)},
      {"row_writes_per_job", R3(writes / n)},
      {"row_writes_per_job_without_temp", R3(kept / n)},
      {"cpu_ms_per_job", CpuJson(cpu, n)}};
  if (first.rate > 0) {
    j["rate"] = first.rate;
    j["achieved_per_s"] = R3(Median(achieved));
  }
  sink.Emit(j);
}

}  // namespace jobsched::bench
