// Consumer-group rejoin benchmark: how long a scheduler's job-events
// partitions stand still after a restart or a crash, on the dev broker.
// jobsched-scheduler processes (Kafka only, no PostgreSQL) with the services'
// consumer-group settings, restarted or killed while the bench watches their
// logs for the partitions they hold. Three scenarios, each on a fresh broker
// per round:
//  - kill-restart:      kill -9, then a new scheduler at once; kill -> it holds all;
//  - sigterm-restart:   SIGTERM (snapshots, LeaveGroup), then a new one at once;
//  - survivor-takeover: two schedulers, one killed; kill -> the survivor holds all.
// events/kafka_event_log.h explains the figures (~2S - 1 s, ~S - 1 s and
// ~2S - 0.5 s for session timeout S). Prints per-round figures and the median
// per scenario, then one JSON line per scenario. Asserts nothing about speed.
//
//   jobsched-bench-rejoin [--rounds R] [--session-timeout-ms S] [--partitions P]
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "events/topics.h"
#include "tests/e2e/local_system.h"
#include "tests/support/devbroker.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

using namespace jobsched::testing;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// One round's world: a fresh dev broker and the schedulers started on it,
// each with its own log in a temp folder (removed unless the round failed).
class Rig {
 public:
  Rig(int partitions, int session_ms)
      : partitions_(partitions),
        session_ms_(session_ms),
        broker_(jobsched::events::Topics().WithDefaultPartitions(partitions)),
        dir_(MakeTempDir("jobsched-rejoin-")) {}
  ~Rig() {
    procs_.clear();
    if (failed_) {
      std::fprintf(stderr, "  logs kept in %s\n", dir_.c_str());
    } else {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  // Starts the next scheduler (its own log file); returns its index.
  int Start() {
    const int i = static_cast<int>(procs_.size());
    ChildOptions opts;
    opts.log_path = LogPath(i);
    opts.env = {{"KAFKA_BROKERS", broker_.bootstrap()},
                {"JOBSCHED_LOG_FORMAT", "json"},
                {"JOBSCHED_SESSION_TIMEOUT_MS", std::to_string(session_ms_)}};
    procs_.push_back(std::make_unique<ChildProcess>(BinPath("jobsched-scheduler"),
                                                    std::vector<std::string>{}, opts));
    return i;
  }

  // How many job-events partitions scheduler `i` holds, from its log: an
  // eager rebalance revokes every partition, then assigns anew.
  int Held(int i) const {
    int held = 0;
    std::istringstream log(ReadFile(LogPath(i)));
    for (std::string line; std::getline(log, line);) {
      auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!j.is_object()) continue;
      const std::string msg = j.value("msg", "");
      if (msg == "partitions revoked") held = 0;
      if (msg == "partitions assigned, catching up") held = std::stoi(j.value("count", "0"));
    }
    return held;
  }

  // Waits until scheduler `i` holds `n` partitions; false (and the logs on
  // stderr) if it does not within a generous bound.
  bool AwaitHeld(int i, int n, const char* what) {
    return Await([&] { return Held(i) == n; },
                 std::string(what) + ": scheduler-" + std::to_string(i) + " does not hold " +
                     std::to_string(n) + " partitions");
  }
  // Waits until schedulers `a` and `b` share every partition.
  bool AwaitSplit(int a, int b) {
    return Await(
        [&] {
          const int ha = Held(a), hb = Held(b);
          return ha > 0 && hb > 0 && ha + hb == partitions_;
        },
        "the two schedulers do not share the partitions");
  }
  bool Await(const std::function<bool()>& pred, const std::string& what) {
    const auto limit = std::max(milliseconds(40'000), milliseconds(10 * session_ms_));
    if (WaitFor(pred, limit, milliseconds(10))) return true;
    Fail(what + " after " + std::to_string(limit.count()) + " ms");
    return false;
  }

  void Fail(const std::string& why) {
    failed_ = true;
    std::fprintf(stderr, "  round failed: %s\n", why.c_str());
    for (size_t i = 0; i < procs_.size(); ++i) {
      std::cerr << "---- scheduler-" << i << " (tail) ----\n"
                << TailFile(LogPath(static_cast<int>(i)), 3000) << "\n";
    }
  }

  ChildProcess& proc(int i) { return *procs_.at(i); }
  int partitions() const { return partitions_; }

 private:
  std::string LogPath(int i) const { return dir_ + "/scheduler-" + std::to_string(i) + ".log"; }

  int partitions_;
  int session_ms_;
  ScopedDevBroker broker_;
  std::string dir_;
  std::vector<std::unique_ptr<ChildProcess>> procs_;
  bool failed_ = false;
};

double MsSince(Clock::time_point t) {
  return static_cast<double>(
      std::chrono::duration_cast<milliseconds>(Clock::now() - t).count());
}

// kill -9, then a new scheduler at once: kill -> the new one holds every partition.
std::optional<double> KillRestart(Rig& rig) {
  const int n = rig.partitions();
  const int first = rig.Start();
  if (!rig.AwaitHeld(first, n, "start")) return std::nullopt;
  const auto killed = Clock::now();
  rig.proc(first).Kill();
  const int second = rig.Start();
  if (!rig.AwaitHeld(second, n, "after restart")) return std::nullopt;
  return MsSince(killed);
}

// SIGTERM (snapshots, then LeaveGroup), then a new scheduler at once.
std::optional<double> SigtermRestart(Rig& rig) {
  const int n = rig.partitions();
  const int first = rig.Start();
  if (!rig.AwaitHeld(first, n, "start")) return std::nullopt;
  const auto stopped = Clock::now();
  if (int code = rig.proc(first).Stop(); code != 0) {
    std::fprintf(stderr, "  note: the stopped scheduler exited with %d\n", code);
  }
  const int second = rig.Start();
  if (!rig.AwaitHeld(second, n, "after restart")) return std::nullopt;
  return MsSince(stopped);
}

// Two schedulers sharing the partitions, one killed: kill -> the survivor holds all.
std::optional<double> SurvivorTakeover(Rig& rig) {
  const int n = rig.partitions();
  const int a = rig.Start();
  if (!rig.AwaitHeld(a, n, "start")) return std::nullopt;
  const int b = rig.Start();
  if (!rig.AwaitSplit(a, b)) return std::nullopt;
  const auto killed = Clock::now();
  rig.proc(b).Kill();
  if (!rig.AwaitHeld(a, n, "after the kill")) return std::nullopt;
  return MsSince(killed);
}

struct Scenario {
  const char* name;
  const char* what;
  int model_ms;  // events/kafka_event_log.h's figure for session timeout S
  std::function<std::optional<double>(Rig&)> run;
};

std::optional<double> Median(std::vector<std::optional<double>> rounds) {
  std::vector<double> v;
  for (const auto& r : rounds) {
    if (r) v.push_back(*r);
  }
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string Ms(const std::optional<double>& ms) {
  if (!ms) return "failed";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f ms", *ms);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"jobsched consumer-group rejoin benchmark"};
  int rounds = 3, session_ms = 3000, partitions = jobsched::events::Topics::kJobEventsPartitions;
  app.add_option("--rounds", rounds, "rounds per scenario (medians are printed)")
      ->check(CLI::PositiveNumber);
  app.add_option("--session-timeout-ms", session_ms,
                 "JOBSCHED_SESSION_TIMEOUT_MS (default: the scheduler's)")
      ->check(CLI::Range(3000, 1'800'000));
  app.add_option("--partitions", partitions, "job-events partitions")->check(CLI::Range(2, 256));
  CLI11_PARSE(app, argc, argv);

  // Run from the build tree without ctest: find the services beside this binary.
  UseServicesBesideThisBinary(JOBSCHED_DEFAULT_SOURCE_DIR);

  const int s = session_ms;
  const std::vector<Scenario> scenarios = {
      {"kill-restart", "kill -9 + restart at once", 2 * s - 1000, KillRestart},
      {"sigterm-restart", "SIGTERM + restart at once", s - 1000, SigtermRestart},
      {"survivor-takeover", "kill -9 of one of two, survivor takes all", 2 * s - 500,
       SurvivorTakeover},
  };
  std::printf("jobsched rejoin bench: %d rounds per scenario, job-events %d partitions, "
              "session timeout %d ms, dev broker\n",
              rounds, partitions, session_ms);
  std::printf("time from the kill/SIGTERM until every partition is held again\n");

  std::vector<std::vector<std::optional<double>>> results(scenarios.size());
  for (size_t k = 0; k < scenarios.size(); ++k) {
    const Scenario& sc = scenarios[k];
    std::printf("\n%s (%s):\n", sc.name, sc.what);
    for (int r = 0; r < rounds; ++r) {
      std::optional<double> ms;
      {
        Rig rig(partitions, session_ms);
        ms = sc.run(rig);
      }
      std::printf("  round %-3d %10s\n", r + 1, Ms(ms).c_str());
      std::fflush(stdout);
      results[k].push_back(ms);
    }
  }

  std::printf("\nmodel: events/kafka_event_log.h's account of the dev broker "
              "(process start not included)\n");
  std::printf("%-18s %10s %10s\n", "scenario", "median", "model");
  for (size_t k = 0; k < scenarios.size(); ++k) {
    std::printf("%-18s %10s %7d ms\n", scenarios[k].name, Ms(Median(results[k])).c_str(),
                scenarios[k].model_ms);
  }
  for (size_t k = 0; k < scenarios.size(); ++k) {
    using Json = nlohmann::ordered_json;
    auto ms_json = [](const std::optional<double>& ms) {
      return ms ? Json(std::llround(*ms)) : Json(nullptr);  // null: the round failed
    };
    Json rounds_json = Json::array();
    for (const auto& ms : results[k]) rounds_json.push_back(ms_json(ms));
    Json j = {{"bench", "rejoin"},
              {"scenario", scenarios[k].name},
              {"median_ms", ms_json(Median(results[k]))},
              {"rounds", rounds_json},
              {"session_timeout_ms", session_ms},
              {"partitions", partitions}};
    std::printf("%s\n", j.dump().c_str());
  }
  return 0;
}
