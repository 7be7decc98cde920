#include "tests/bench/e2e_bench_measure.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "tests/support/process.h"

namespace jobsched::bench {
namespace {

// The events whose first applied occurred_at the timings use.
constexpr const char* kTimed[] = {"JobSubmitted", "RunDue",       "RunDispatched",
                                  "RunStarted",   "RunSucceeded", "JobSucceeded"};
constexpr int kTimedCount = sizeof(kTimed) / sizeof(kTimed[0]);

int TimedIndex(const std::string& type) {
  for (int i = 0; i < kTimedCount; ++i) {
    if (type == kTimed[i]) return i;
  }
  return -1;
}

struct Seen {
  double origin = 0;
  double first[kTimedCount];  // unix seconds; 0 = not seen
  Seen() { std::fill(std::begin(first), std::end(first), 0.0); }
};

// A PostgreSQL array literal of uuids, jobs [begin, end).
std::string UuidArray(const std::vector<SubmittedJob>& jobs, size_t begin, size_t end) {
  std::string out = "{";
  for (size_t i = begin; i < end; ++i) {
    if (i > begin) out += ',';
    out += jobs[i].job_id;
  }
  return out + "}";
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string ProcPath(pid_t pid, const char* file) {
  return "/proc/" + std::to_string(pid) + "/" + file;
}

// cmdline and environ: NUL-terminated strings.
std::vector<std::string> NulSeparated(const std::string& data) {
  std::vector<std::string> out;
  for (size_t start = 0; start < data.size();) {
    size_t end = data.find('\0', start);
    if (end == std::string::npos) end = data.size();
    out.push_back(data.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// utime + stime of `pid` in seconds (with `reaped`, also cutime + cstime:
// the children it has waited for); -1 if the process is gone.
double CpuSeconds(pid_t pid, bool reaped) {
  auto f = testing::ProcStatFields(pid);
  if (f.size() < 15) return -1;
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  double t = std::atof(f[11].c_str()) + std::atof(f[12].c_str());
  if (reaped) t += std::atof(f[13].c_str()) + std::atof(f[14].c_str());
  return t / ticks;
}

std::vector<pid_t> AllPids() {
  std::vector<pid_t> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (!name.empty() && std::isdigit(static_cast<unsigned char>(name[0]))) {
      out.push_back(std::atoi(name.c_str()));
    }
  }
  return out;
}

// CPU seconds of `p`, with its live children and reaped ones if asked
// (PostgreSQL's backends come and go).
double ProcessCpu(const WatchedProcess& p) {
  double total = CpuSeconds(p.pid, p.with_children);
  if (total < 0 || !p.with_children) return total;
  for (pid_t child : AllPids()) {
    auto f = testing::ProcStatFields(child);
    if (f.size() >= 2 && std::atoi(f[1].c_str()) == p.pid)
      total += std::max(0.0, CpuSeconds(child, false));
  }
  return total;
}

}  // namespace

Percentiles Summarize(std::vector<double> samples) {
  Percentiles out;
  out.n = static_cast<int>(samples.size());
  if (samples.empty()) return out;
  std::sort(samples.begin(), samples.end());
  auto rank = [&](double q) {
    size_t i = static_cast<size_t>(std::ceil(q * samples.size()));
    return samples[std::min(samples.size() - 1, i == 0 ? 0 : i - 1)];
  };
  out.p50 = rank(0.50);
  out.p90 = rank(0.90);
  out.p99 = rank(0.99);
  out.max = samples.back();
  return out;
}

Completion AwaitCompletion(pqxx::connection& conn, const std::string& name_prefix,
                           double since_unix, int want, std::chrono::milliseconds timeout) {
  Completion out;
  const auto deadline = Steady::now() + timeout;
  // A stack that stopped making progress will not finish the round: give up
  // on it long before the deadline.
  constexpr auto kStall = std::chrono::seconds(60);
  auto progressed = Steady::now();
  int last = -1;
  // created_at is the API's clock: a few seconds of slack for a stack on
  // another host; the index on (status, created_at) keeps each poll short.
  for (;;) {
    {
      pqxx::work tx(conn);
      auto row = tx.exec_params1(
          "SELECT count(*) FILTER (WHERE status = 'SUCCEEDED'), count(*) FROM jobs "
          "WHERE status IN ('SUCCEEDED', 'FAILED', 'DEAD', 'CANCELED') "
          "  AND created_at >= to_timestamp($2) AND name LIKE $1",
          name_prefix + "%", since_unix - 5);
      out.succeeded = row[0].as<int>();
      out.terminal = row[1].as<int>();
    }
    out.at = Steady::now();
    if (out.terminal >= want) return out;
    if (out.terminal != last) {
      last = out.terminal;
      progressed = out.at;
    }
    if (out.at >= deadline || out.at - progressed >= kStall) {
      out.timed_out = true;
      return out;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

JobTimings ReadTimings(pqxx::connection& conn, const std::vector<SubmittedJob>& jobs,
                       bool from_origin) {
  JobTimings out;
  std::unordered_map<std::string, Seen> seen;
  for (const auto& j : jobs) seen[Lower(j.job_id)].origin = j.origin_unix;
  constexpr size_t kChunk = 5000;
  for (size_t b = 0; b < jobs.size(); b += kChunk) {
    const std::string ids = UuidArray(jobs, b, std::min(jobs.size(), b + kChunk));
    pqxx::work tx(conn);
    auto rows = tx.exec_params(
        "SELECT job_id::text, event_type, outcome, extract(epoch FROM ts)::float8 "
        "FROM job_logs WHERE job_id = ANY($1::uuid[])",
        ids);
    for (const auto& r : rows) {
      const std::string type = r[1].c_str();
      ++out.rows_by_type[type];
      ++out.rows;
      if (std::string(r[2].c_str()) != "applied") {
        ++out.rows_not_applied;
        continue;
      }
      int t = TimedIndex(type);
      if (t < 0) continue;
      double& first = seen[r[0].c_str()].first[t];
      double ts = r[3].as<double>();
      if (first == 0 || ts < first) first = ts;
    }
    // A job without RunStarted (a run shorter than the executor's
    // JOBSCHED_EXECUTOR_STARTED_AFTER_MS has none): the execution row's
    // started_at, which the result's started_at set.
    const int started = TimedIndex("RunStarted");
    std::string missing = "{";
    for (size_t i = b; i < std::min(jobs.size(), b + kChunk); ++i) {
      if (seen[Lower(jobs[i].job_id)].first[started] != 0) continue;
      if (missing.size() > 1) missing += ',';
      missing += jobs[i].job_id;
    }
    if (missing.size() == 1) continue;
    auto fallback = tx.exec_params(
        "SELECT job_id::text, extract(epoch FROM started_at)::float8 FROM job_executions "
        "WHERE job_id = ANY($1::uuid[]) AND attempt = 1 AND started_at IS NOT NULL",
        missing + "}");
    for (const auto& r : fallback) {
      seen[r[0].c_str()].first[started] = r[1].as<double>();
      ++out.start_fallbacks;
    }
  }

  const int submitted = TimedIndex("JobSubmitted");
  const int started = TimedIndex("RunStarted");
  const int succeeded = TimedIndex("JobSucceeded");
  std::vector<double> to_start, to_succeeded;
  std::vector<double> hops[kHopCount];
  for (const auto& [id, s] : seen) {
    const double base = from_origin ? s.origin : s.first[submitted];
    if (base != 0 && s.first[started] != 0) to_start.push_back((s.first[started] - base) * 1000);
    if (base != 0 && s.first[succeeded] != 0) {
      to_succeeded.push_back((s.first[succeeded] - base) * 1000);
    }
    out.last_succeeded_unix = std::max(out.last_succeeded_unix, s.first[succeeded]);
    for (int h = 0; h < kHopCount; ++h) {
      double a = s.first[TimedIndex(kHops[h][0])], z = s.first[TimedIndex(kHops[h][1])];
      if (a != 0 && z != 0) hops[h].push_back((z - a) * 1000);
    }
  }
  out.to_start = Summarize(std::move(to_start));
  out.to_succeeded = Summarize(std::move(to_succeeded));
  for (int h = 0; h < kHopCount; ++h) out.hop_p50_ms[h] = Summarize(std::move(hops[h])).p50;
  return out;
}

std::map<std::string, int64_t> ReadTableWrites(pqxx::connection& conn) {
  std::map<std::string, int64_t> out;
  pqxx::work tx(conn);
  tx.exec("SELECT pg_stat_clear_snapshot()");
  auto rows = tx.exec(
      "SELECT schemaname || '.' || relname, n_tup_ins + n_tup_upd + n_tup_del "
      "FROM pg_stat_user_tables");
  for (const auto& r : rows) out[r[0].c_str()] = r[1].as<int64_t>();
  return out;
}

std::vector<WatchedProcess> DiscoverStack(const std::string& database_url) {
  struct Candidate {
    pid_t pid;
    std::string base;               // argv[0]'s file name
    std::vector<std::string> args;  // argv
  };
  std::vector<Candidate> candidates;
  std::vector<pid_t> pids = AllPids();
  std::sort(pids.begin(), pids.end());
  for (pid_t pid : pids) {
    std::vector<std::string> args = NulSeparated(ReadWhole(ProcPath(pid, "cmdline")));
    if (args.empty()) continue;
    std::string base = std::filesystem::path(args[0]).filename();
    if (base.rfind("jobsched-bench", 0) == 0) continue;
    if (base.rfind("jobsched-", 0) == 0 || base == "postgres") {
      candidates.push_back({pid, base, std::move(args)});
    }
  }
  // The services: their environment names this database.
  std::vector<WatchedProcess> out;
  std::set<std::string> bootstrap_files, brokers;
  std::map<std::string, int> count;
  for (const auto& c : candidates) {
    if (c.base == "postgres" || c.base == "jobsched-devbroker") continue;
    std::map<std::string, std::string> env;
    for (const auto& kv : NulSeparated(ReadWhole(ProcPath(c.pid, "environ")))) {
      size_t eq = kv.find('=');
      if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    if (env["DATABASE_URL"] != database_url) continue;
    if (!env["JOBSCHED_BOOTSTRAP_FILE"].empty())
      bootstrap_files.insert(env["JOBSCHED_BOOTSTRAP_FILE"]);
    if (!env["KAFKA_BROKERS"].empty()) brokers.insert(env["KAFKA_BROKERS"]);
    std::string name = c.base.substr(std::strlen("jobsched-"));
    if (count[name]++ > 0) name += "#" + std::to_string(c.pid);
    out.push_back({name, c.pid, false});
  }
  // The dev broker those services use: by its bootstrap file.
  for (const auto& c : candidates) {
    if (c.base != "jobsched-devbroker") continue;
    for (size_t i = 0; i + 1 < c.args.size(); ++i) {
      if (c.args[i] != "--bootstrap-file") continue;
      std::string address = ReadWhole(c.args[i + 1]);
      while (!address.empty() && std::isspace(static_cast<unsigned char>(address.back()))) {
        address.pop_back();
      }
      if (bootstrap_files.count(c.args[i + 1]) > 0 || brokers.count(address) > 0) {
        out.push_back({"devbroker", c.pid, false});
      }
    }
  }
  // PostgreSQL: the postmaster started with the database's port ("-p PORT").
  std::smatch port;
  static const std::regex kPort(R"(:(\d+)(/|$))");
  if (std::regex_search(database_url, port, kPort)) {
    for (const auto& c : candidates) {
      if (c.base != "postgres") continue;
      for (size_t i = 0; i + 1 < c.args.size(); ++i) {
        if (c.args[i] == "-p" && c.args[i + 1] == port[1].str()) {
          out.push_back({"postgres", c.pid, true});
          break;
        }
      }
    }
  }
  return out;
}

bool ParseWatched(const std::string& spec, WatchedProcess* out) {
  size_t eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  char* end = nullptr;
  long pid = std::strtol(spec.c_str() + eq + 1, &end, 10);
  if (pid <= 0 || end == nullptr || *end != '\0') return false;
  out->name = spec.substr(0, eq);
  out->pid = static_cast<pid_t>(pid);
  // Only PostgreSQL spreads its work over children worth adding up.
  out->with_children = out->name == "postgres";
  return true;
}

std::map<std::string, double> SnapshotCpu(const std::vector<WatchedProcess>& procs) {
  std::map<std::string, double> out;
  for (const auto& p : procs) out[p.name] = ProcessCpu(p);
  return out;
}

std::vector<std::pair<std::string, double>> MeasureCpu(const std::vector<WatchedProcess>& procs,
                                                       double seconds) {
  std::vector<double> before;
  for (const auto& p : procs) before.push_back(ProcessCpu(p));
  const auto t0 = Steady::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  std::vector<double> after;
  for (const auto& p : procs) after.push_back(ProcessCpu(p));
  const double elapsed = std::chrono::duration<double>(Steady::now() - t0).count();
  std::vector<std::pair<std::string, double>> out;
  for (size_t i = 0; i < procs.size(); ++i) {
    bool gone = before[i] < 0 || after[i] < 0;
    out.emplace_back(procs[i].name, gone ? -1 : (after[i] - before[i]) / elapsed * 100);
  }
  return out;
}

}  // namespace jobsched::bench
