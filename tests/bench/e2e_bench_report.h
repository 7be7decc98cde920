// The end-to-end benchmark's output: a text table for people and, with
// --json, one JSON object per line for tools (see e2e_bench.cc).
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/bench/e2e_bench_load.h"
#include "tests/bench/e2e_bench_measure.h"

namespace jobsched::bench {

// Where the JSON lines go: nowhere (""), stdout prefixed "json: " ("-") or
// appended to a file.
class JsonSink {
 public:
  explicit JsonSink(const std::string& path);  // throws if the file cannot be opened
  void Emit(const nlohmann::ordered_json& line);

 private:
  bool stdout_;
  std::ofstream file_;
};

// One measured round.
struct Round {
  double rate = 0;        // jobs/s; 0: closed loop
  int index = 0;          // 1, 2, ... within its mode or rate
  int batch = 0;          // closed loop: jobs per batch request, 0 single
  double duration_s = 0;  // open loop
  int requested = 0;
  LoadResult load;
  Completion done;
  JobTimings t;
  std::map<std::string, int64_t> writes;  // PostgreSQL row writes per table, over the round
  // CPU seconds each watched process used from the first submit to the last
  // job done (-1: it vanished).
  std::map<std::string, double> cpu_s;
  double submit_per_s = 0, e2e_per_s = 0, achieved_per_s = 0;
  Percentiles ack;
};

void PrintHeader(bool open);
void PrintRound(const Round& r);
nlohmann::ordered_json RoundJson(const std::string& tag, const Round& r);
// Medians over the rounds of one mode or rate, hop medians and the budget
// (job_logs rows and row writes per job over every round): text, then a
// "summary" JSON line.
void PrintSummary(const std::string& tag, const std::vector<Round>& rounds, JsonSink& sink);

// Formatting shared with main: "-" for a missing (negative) figure.
std::string Ms(double v);
std::string Num(double v);  // %g
double R3(double x);        // rounded to 3 decimals, for JSON

}  // namespace jobsched::bench
