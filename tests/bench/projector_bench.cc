// Projector benchmark: how fast the projector folds a backlog of job-events
// into PostgreSQL, and how many rows it writes per job.
//
// Starts the dev broker and a throwaway PostgreSQL (tests/support), appends N
// synthetic jobs that succeed at once (JobSubmitted, RunDue, RunDispatched,
// RunStarted, RunSucceeded, JobSucceeded: 6 events, built with the fold
// tests' EventFactory) to a fresh topic per round, then runs the Projector
// in-process on a fresh database and measures from the partitions' assignment
// to the moment the stored offsets cover the whole topic.
//
// A job's events are spread as on a busy topic: event k of job j is appended
// at step j + k * lag (--lag, in jobs), so with a lag of L jobs a job's life
// spans about 6 * L events of other jobs; whether those land in one batch or
// several decides how often its jobs and job_executions rows are rewritten.
//
// Prints per round and the medians over rounds: events/s and jobs/s (wall),
// CPU per event of this process (the projector and its Kafka consumer) and of
// its PostgreSQL backends, batches and their sizes, write time per batch, and
// rows per job per table, both as the projector handed them to the store and
// as PostgreSQL counted them (pg_stat_user_tables: inserts + updates). Then,
// caught up: the projector's idle CPU, and the latency of single events
// appended one at a time (acknowledged -> committed). The machine is shared:
// wall figures vary with its load (printed), CPU figures less. Asserts nothing
// about speed; fails only if the fold or the tables come out wrong.
//
//   jobsched-bench-projector [--jobs N] [--rounds R] [--lag L] [--partitions P]
//       [--batch B] [--poll-ms M] [--kafka key=value ...] [--sql STATEMENT ...]
//       [--idle-seconds S] [--trickle N] [--trickle-gap-ms MS] [--null-store]
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "events/kafka_event_log.h"
#include "projections/migrations.h"
#include "projections/pg_projection_store.h"
#include "projections/projector.h"
#include "tests/bench/bench_stats.h"
#include "tests/support/devbroker.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"
#include "tests/unit/fold_test_util.h"

namespace jobsched::projections {
namespace {

using events::Envelope;
using jobsched::testing::EventFactory;
using SteadyClock = std::chrono::steady_clock;

constexpr int kEventsPerJob = 6;
// What one partition of the dev broker keeps (it silently drops older
// records beyond ~5 MiB): stay well below.
constexpr double kBytesPerPartition = 2.5 * 1024 * 1024;

// The tables the projector writes, in report order.
const std::vector<std::string> kTables = {"jobs",         "job_executions", "job_logs",
                                          "dead_letters", "workflows",      "job_dependencies",
                                          "projection_offsets"};

using jobsched::bench::Median;
using jobsched::bench::Percentile;

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one;
}

// The 6 events of job `n`, which succeeds at its first attempt; `at(k)` is
// the time of event k.
std::vector<Envelope> SucceedingJob(int n, const std::function<TimePoint(int)>& at) {
  EventFactory f(jobsched::testing::JobId(n));
  const std::string run = f.RunId(1);
  Envelope submitted = f.Submitted(at(0));
  auto* spec = submitted.mutable_job_submitted()->mutable_spec();
  spec->set_name("bench job " + std::to_string(n));
  spec->set_payload_json("{\"n\":" + std::to_string(n) + "}");
  Envelope dispatched = f.Dispatched(at(2), run);
  dispatched.mutable_run_dispatched()->set_executor_id("exec-1");
  dispatched.mutable_run_dispatched()->set_executor_incarnation("exec-1-incarnation");
  return {submitted,  f.Due(at(1), at(0), 1),    dispatched,
          f.Started(at(3), run), f.Succeeded(at(4), run), f.JobSucceeded(at(5), run)};
}

// The whole topic's records in append order: event k of job j at step j + k * lag.
std::vector<events::Record> Records(const std::string& topic, int jobs, int lag) {
  std::vector<std::vector<Envelope>> lives(jobs);
  const TimePoint base = jobsched::testing::T(0);
  for (int j = 0; j < jobs; ++j) {
    lives[j] = SucceedingJob(j + 1, [&](int k) {
      return base + std::chrono::milliseconds(j + int64_t{k} * lag);
    });
  }
  std::vector<events::Record> out;
  out.reserve(static_cast<size_t>(jobs) * kEventsPerJob);
  for (int step = 0; step < jobs + (kEventsPerJob - 1) * lag; ++step) {
    for (int k = 0; k < kEventsPerJob; ++k) {
      int j = step - k * lag;
      if (j < 0 || j >= jobs) continue;
      const Envelope& e = lives[j][k];
      out.push_back({.topic = topic, .key = e.job_id(), .value = events::Encode(e)});
    }
  }
  return out;
}

// Forwards to the PostgreSQL store (or, without one, stores nothing: the
// projector's own cost) and counts what the projector hands it: when the
// partitions were assigned (first LoadOffsets), every batch's rows, and when
// the stored offsets reach `target`.
class CountingStore final : public ProjectionStore {
 public:
  CountingStore(PgProjectionStore* store, int64_t target) : store_(store), target_(target) {}

  Result<std::map<std::string, events::JobState>> LoadStates(
      const std::vector<std::string>& job_ids) override {
    auto t0 = SteadyClock::now();
    auto r = store_ != nullptr ? store_->LoadStates(job_ids)
                               : Result<std::map<std::string, events::JobState>>(
                                     std::map<std::string, events::JobState>());
    std::lock_guard<std::mutex> lock(mu_);
    if (done_at_) {
      trickle_load_ms_.push_back(
          std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
      return r;
    }
    ++load_calls_;
    load_ids_ += job_ids.size();
    load_ms_ += std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
    return r;
  }

  Result<std::map<int32_t, int64_t>> LoadOffsets(const std::string& projection,
                                                 const std::string& topic,
                                                 const std::vector<int32_t>& partitions) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!assigned_at_) {
        assigned_at_ = SteadyClock::now();
        cpu_at_assignment_ = jobsched::testing::SelfCpuSeconds();
      }
    }
    if (store_ == nullptr) return std::map<int32_t, int64_t>();
    return store_->LoadOffsets(projection, topic, partitions);
  }

  Status Write(const ProjectionBatch& b) override {
    auto t0 = SteadyClock::now();
    Status s = store_ != nullptr ? store_->Write(b) : Status::Ok();
    auto t1 = SteadyClock::now();
    if (!s.ok()) return s;
    std::lock_guard<std::mutex> lock(mu_);
    if (done_at_) {  // the trickle after the backlog
      ++trickle_batches_;
      trickle_write_ms_.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      for (const JobLogRow& l : b.logs) committed_[l.event_id] = t1;
      cv_.notify_all();
      return s;
    }
    batch_events_.push_back(static_cast<double>(b.logs.size()));
    write_ms_.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    rows_["jobs"] += b.jobs.size();
    rows_["job_executions"] += b.executions.size();
    for (bool is_new : b.new_jobs) new_rows_ += is_new ? 1 : 0;
    for (const ExecutionRow& e : b.executions) new_rows_ += e.created ? 1 : 0;
    rows_["job_logs"] += b.logs.size();
    rows_["dead_letters"] += b.dead_letters.size();
    rows_["workflows"] += b.workflows.size();
    rows_["job_dependencies"] += b.dependencies.size();
    rows_["projection_offsets"] += b.offsets.size();
    cv_.notify_all();
    for (const OffsetUpdate& u : b.offsets) stored_[u.partition] = u.next_offset;
    int64_t sum = 0;
    for (const auto& [p, next] : stored_) sum += next;
    if (sum >= target_ && !done_at_) {
      done_at_ = t1;
      cpu_at_done_ = jobsched::testing::SelfCpuSeconds();
      cv_.notify_all();
    }
    return s;
  }

  // Waits until the offsets reach the target; false once no batch was
  // written for `stall`.
  bool WaitDone(std::chrono::seconds stall) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!done_at_) {
      const size_t batches = batch_events_.size();
      cv_.wait_for(lock, stall, [&] { return done_at_ || batch_events_.size() != batches; });
      if (!done_at_ && batch_events_.size() == batches) return false;
    }
    return true;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<SteadyClock::time_point> assigned_at_, done_at_;
  double cpu_at_assignment_ = 0, cpu_at_done_ = 0;
  std::vector<double> batch_events_, write_ms_;
  std::map<std::string, uint64_t> rows_;
  uint64_t load_calls_ = 0, load_ids_ = 0;
  uint64_t new_rows_ = 0;  // jobs and job_executions rows marked as not existing yet
  uint64_t trickle_batches_ = 0;
  std::vector<double> trickle_write_ms_, trickle_load_ms_;
  std::map<std::string, SteadyClock::time_point> committed_;  // trickle event id → commit
  double load_ms_ = 0;

 private:
  PgProjectionStore* store_;  // nullptr: stores nothing
  const int64_t target_;
  std::map<int32_t, int64_t> stored_;
};

int64_t QueryInt(pqxx::connection& c, const std::string& sql) {
  pqxx::nontransaction txn(c);
  return txn.exec(sql)[0][0].as<int64_t>();
}

struct Round {
  double events_per_s = 0, jobs_per_s = 0;
  double projector_us_per_event = 0, postgres_us_per_event = 0;
  double batches = 0, batch_p50 = 0, batch_p90 = 0, batch_max = 0, write_ms_p50 = 0;
  double load_calls = 0, load_ids = 0, load_ms = 0;
  std::map<std::string, double> handed_per_job;  // rows handed to the store, per job
  std::map<std::string, double> stat_per_job;    // pg_stat inserts + updates, per job
  double new_rows_per_job = 0;  // jobs + job_executions rows handed as new (no row yet)
  double log_row_bytes = 0;                      // average job_logs row, as stored
  double idle_cpu_percent = 0;                   // the projector's, caught up, nothing to read
  std::vector<double> trickle_ms;                // append acknowledged → its batch committed
  double trickle_batches = 0;
  double trickle_write_ms = 0, trickle_load_ms = 0;  // medians of the trickle's batches
};

struct Config {
  int jobs = 20000;
  int lag = 100;
  int partitions = 0;  // 0: enough for the dev broker to keep everything
  int batch = 0;       // 0: ProjectorOptions' default
  int poll_ms = 0;     // 0: ProjectorOptions' default
  bool null_store = false;  // no PostgreSQL: the projector's own cost
  double idle_seconds = 5;
  int trickle = 50;         // single events appended one at a time after the backlog
  int trickle_gap_ms = 20;
  std::vector<std::string> sql;  // run on each round's database after the migrations
  std::map<std::string, std::string> kafka;
};

Round RunRound(int round, const Config& cfg, jobsched::testing::ScopedDevBroker& broker,
               jobsched::testing::ScopedPostgres& pg, const std::string& topic,
               std::vector<events::Record> records) {
  const int64_t total = static_cast<int64_t>(records.size());
  auto kafka = events::KafkaEventLog::Make({.brokers = broker.bootstrap(), .extra = cfg.kafka});
  if (!kafka.ok()) throw std::runtime_error(kafka.status().ToString());
  {
    auto producer = kafka.value()->NewProducer("bench");
    if (!producer.ok()) throw std::runtime_error(producer.status().ToString());
    constexpr size_t kChunk = 20000;
    for (size_t begin = 0; begin < records.size(); begin += kChunk) {
      std::vector<events::Record> chunk(
          std::make_move_iterator(records.begin() + static_cast<ptrdiff_t>(begin)),
          std::make_move_iterator(
              records.begin() + static_cast<ptrdiff_t>(std::min(records.size(), begin + kChunk))));
      Status s = producer.value()->Append(std::move(chunk));
      if (!s.ok()) throw std::runtime_error("append: " + s.ToString());
    }
  }
  // Everything must still be there: the dev broker drops old records silently.
  {
    events::ConsumerOptions co;
    co.topics = {topic};
    auto consumer = kafka.value()->NewConsumer(co);
    if (!consumer.ok()) throw std::runtime_error(consumer.status().ToString());
    int64_t high = 0;
    for (int p = 0; p < cfg.partitions; ++p) {
      auto w = consumer.value()->QueryWatermarks({topic, p}, std::chrono::seconds(10));
      if (!w.ok()) throw std::runtime_error(w.status().ToString());
      if (w.value().low != 0) {
        throw std::runtime_error("the dev broker dropped records of partition " +
                                 std::to_string(p) + ": use more --partitions");
      }
      high += w.value().high;
    }
    if (high != total) {
      throw std::runtime_error("topic holds " + std::to_string(high) + " records, appended " +
                               std::to_string(total));
    }
  }

  const std::string url = pg.CreateDatabase("projector_bench_" + std::to_string(round));
  if (Status s = ApplyMigrations(url); !s.ok()) throw std::runtime_error(s.ToString());
  pqxx::connection admin(url);
  for (const std::string& statement : cfg.sql) {
    pqxx::nontransaction txn(admin);
    txn.exec(statement);
  }

  Round out;
  double postgres_cpu = 0;
  ProjectorStats stats;
  auto pg_store =
      cfg.null_store
          ? nullptr
          : std::make_unique<PgProjectionStore>(PgProjectionStoreOptions{.database_url = url});
  CountingStore counting(pg_store.get(), total);
  {
    ProjectorOptions o;
    o.topic = topic;
    o.group_id = "bench-" + std::to_string(round);
    o.progress_log_interval = std::chrono::milliseconds(0);
    if (cfg.batch > 0) o.max_batch_records = static_cast<size_t>(cfg.batch);
    if (cfg.poll_ms > 0) o.poll_timeout = std::chrono::milliseconds(cfg.poll_ms);
    Projector projector(*kafka.value(), counting, o);
    if (Status s = projector.Start(); !s.ok()) throw std::runtime_error(s.ToString());
    if (!counting.WaitDone(std::chrono::seconds(60))) {
      throw std::runtime_error("the projector wrote nothing for 60 s");
    }
    postgres_cpu = jobsched::testing::BackendCpuSeconds(url, "jobsched-projector");

    // Caught up: what the projector costs with nothing to read (after a
    // second to free the last batch).
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const double idle_cpu = jobsched::testing::SelfCpuSeconds();
    std::this_thread::sleep_for(std::chrono::duration<double>(cfg.idle_seconds));
    out.idle_cpu_percent =
        (jobsched::testing::SelfCpuSeconds() - idle_cpu) / cfg.idle_seconds * 100;

    // A trickle: one new job's JobSubmitted at a time, from the producer's
    // acknowledgement to the commit of the batch holding it.
    auto producer = kafka.value()->NewProducer("bench-trickle");
    if (!producer.ok()) throw std::runtime_error(producer.status().ToString());
    std::vector<std::pair<std::string, SteadyClock::time_point>> acked;
    for (int i = 0; i < cfg.trickle; ++i) {
      EventFactory f(jobsched::testing::JobId(cfg.jobs + 1 + i));
      Envelope e = f.Submitted(jobsched::testing::T(0));
      Status s = producer.value()->Append(
          {{.topic = topic, .key = e.job_id(), .value = events::Encode(e)}});
      if (!s.ok()) throw std::runtime_error("trickle append: " + s.ToString());
      acked.emplace_back(e.event_id(), SteadyClock::now());
      std::this_thread::sleep_for(std::chrono::milliseconds(cfg.trickle_gap_ms));
    }
    {
      std::unique_lock<std::mutex> lock(counting.mu_);
      if (!counting.cv_.wait_for(lock, std::chrono::seconds(30), [&] {
            return counting.committed_.size() >= acked.size();
          })) {
        throw std::runtime_error("trickle: " + std::to_string(counting.committed_.size()) +
                                 " of " + std::to_string(acked.size()) + " events projected");
      }
      for (const auto& [id, at] : acked) {
        out.trickle_ms.push_back(
            std::chrono::duration<double, std::milli>(counting.committed_.at(id) - at).count());
      }
      out.trickle_batches = static_cast<double>(counting.trickle_batches_);
      out.trickle_write_ms = Median(counting.trickle_write_ms_);
      out.trickle_load_ms = Median(counting.trickle_load_ms_);
    }
    projector.Stop();
    stats = projector.stats();
  }
  pg_store.reset();  // closes its sessions: their backends flush their table statistics

  CountingStore* counts = &counting;
  std::lock_guard<std::mutex> lock(counts->mu_);
  const double secs =
      std::chrono::duration<double>(*counts->done_at_ - *counts->assigned_at_).count();
  out.events_per_s = static_cast<double>(total) / secs;
  out.jobs_per_s = cfg.jobs / secs;
  out.projector_us_per_event =
      (counts->cpu_at_done_ - counts->cpu_at_assignment_) * 1e6 / static_cast<double>(total);
  out.postgres_us_per_event = postgres_cpu * 1e6 / static_cast<double>(total);
  out.batches = static_cast<double>(counts->batch_events_.size());
  out.batch_p50 = Median(counts->batch_events_);
  out.batch_p90 = Percentile(counts->batch_events_, 0.9);
  out.batch_max = Percentile(counts->batch_events_, 1.0);
  out.write_ms_p50 = Median(counts->write_ms_);
  out.load_calls = static_cast<double>(counts->load_calls_);
  out.load_ids = static_cast<double>(counts->load_ids_);
  out.load_ms = counts->load_ms_;
  for (const std::string& t : kTables) {
    out.handed_per_job[t] = static_cast<double>(counts->rows_[t]) / cfg.jobs;
  }
  out.new_rows_per_job = static_cast<double>(counts->new_rows_) / cfg.jobs;

  // The fold and the tables must be right, or the figures mean nothing.
  if (stats.applied != static_cast<uint64_t>(total + cfg.trickle) || stats.rejected != 0 ||
      stats.undecodable != 0) {
    throw std::runtime_error("fold: " + std::to_string(stats.applied) + " applied, " +
                             std::to_string(stats.rejected) + " rejected, " +
                             std::to_string(stats.undecodable) + " undecodable of " +
                             std::to_string(total + cfg.trickle));
  }
  if (cfg.null_store) return out;
  const int64_t succeeded = QueryInt(admin,
                                     "SELECT count(*) FROM jobs WHERE status = 'SUCCEEDED'"
                                     " AND version = 6 AND queued_runs + running_runs = 0");
  const int64_t runs = QueryInt(admin,
                                "SELECT count(*) FROM job_executions WHERE status = 'SUCCEEDED'"
                                " AND executor_id = 'exec-1'");
  const int64_t logs = QueryInt(admin, "SELECT count(*) FROM job_logs");
  if (succeeded != cfg.jobs || runs != cfg.jobs || logs != total + cfg.trickle) {
    throw std::runtime_error("tables: " + std::to_string(succeeded) + " jobs, " +
                             std::to_string(runs) + " executions, " + std::to_string(logs) +
                             " job_logs rows; expected " + std::to_string(cfg.jobs) + ", " +
                             std::to_string(cfg.jobs) + ", " + std::to_string(total + cfg.trickle));
  }

  out.log_row_bytes = static_cast<double>(
      QueryInt(admin, "SELECT avg(pg_column_size(l.*))::bigint FROM job_logs l"));

  // PostgreSQL's own count of row writes, once the projector's backends are gone.
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = QueryInt(admin,
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name = 'jobsched-projector'") == 0;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  {
    pqxx::nontransaction txn(admin);
    for (const auto& row : txn.exec(
             "SELECT relname, n_tup_ins + n_tup_upd FROM pg_stat_user_tables"
             " WHERE schemaname = 'public'")) {
      out.stat_per_job[row[0].as<std::string>()] = row[1].as<double>() / cfg.jobs;
    }
  }
  return out;
}

void PrintRound(const std::string& label, const Round& r) {
  std::printf(
      "%-7s %9.0f %8.0f %7.1f %7.1f %7.0f %6.0f %6.0f %6.0f %7.1f %6.0f %8.0f %7.0f\n",
      label.c_str(), r.events_per_s, r.jobs_per_s, r.projector_us_per_event,
      r.postgres_us_per_event, r.batches, r.batch_p50, r.batch_p90, r.batch_max, r.write_ms_p50,
      r.load_calls, r.load_ids, r.load_ms);
}

void PrintRows(const std::string& label, const std::vector<Round>& rounds,
               std::map<std::string, double> Round::*which) {
  std::printf("%s\n", label.c_str());
  double sum = 0;
  for (const std::string& t : kTables) {
    std::vector<double> v;
    for (const Round& r : rounds) v.push_back((r.*which).count(t) ? (r.*which).at(t) : 0);
    double m = Median(v);
    if (t != "projection_offsets" && t != "job_logs") sum += m;
    std::printf("  %-20s %7.3f\n", t.c_str(), m);
  }
  std::printf("  %-20s %7.3f\n", "(state rows: all but job_logs, offsets)", sum);
}

}  // namespace
}  // namespace jobsched::projections

int main(int argc, char** argv) {
  using namespace jobsched::projections;
  CLI::App app("jobsched projector benchmark");
  Config cfg;
  int rounds = 3;
  std::vector<std::string> kafka;
  app.add_option("--jobs", cfg.jobs, "jobs per round (6 events each)");
  app.add_option("--rounds", rounds, "rounds (a fresh topic and database each)");
  app.add_option("--lag", cfg.lag, "jobs between two consecutive events of one job");
  app.add_option("--partitions", cfg.partitions, "partitions of each round's topic (0: auto)");
  app.add_option("--batch", cfg.batch, "ProjectorOptions::max_batch_records (0: default)");
  app.add_option("--poll-ms", cfg.poll_ms, "ProjectorOptions::poll_timeout (0: default)");
  app.add_option("--kafka", kafka, "librdkafka property key=value for the clients");
  app.add_option("--sql", cfg.sql,
                 "statement run on each round's database after the migrations (e.g. to see what"
                 " an index costs: \"DROP INDEX job_logs_event_idx\")");
  app.add_option("--idle-seconds", cfg.idle_seconds, "caught up: seconds the idle CPU is measured");
  app.add_option("--trickle", cfg.trickle, "then single events, one at a time (latency)");
  app.add_option("--trickle-gap-ms", cfg.trickle_gap_ms, "between two trickle events");
  app.add_flag("--null-store", cfg.null_store,
               "write nothing to PostgreSQL: the projector's own cost (decode, fold, rows)");
  CLI11_PARSE(app, argc, argv);
  for (const std::string& kv : kafka) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "--kafka wants key=value, got %s\n", kv.c_str());
      return 2;
    }
    cfg.kafka[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  std::string self = std::filesystem::canonical("/proc/self/exe").parent_path();
  setenv("JOBSCHED_BIN_DIR", self.c_str(), /*overwrite=*/0);
  setenv("JOBSCHED_SOURCE_DIR", JOBSCHED_DEFAULT_SOURCE_DIR, /*overwrite=*/0);
  spdlog::set_level(spdlog::level::warn);

  try {
    std::vector<std::vector<jobsched::events::Record>> topics;
    size_t bytes = 0;
    for (int r = 0; r < rounds; ++r) {
      topics.push_back(Records("bench-events-" + std::to_string(r), cfg.jobs, cfg.lag));
      if (r == 0) {
        for (const auto& rec : topics[0]) bytes += rec.value.size();
      }
    }
    if (cfg.partitions <= 0) {
      cfg.partitions = std::max(12, static_cast<int>(static_cast<double>(bytes) /
                                                     kBytesPerPartition) + 1);
    }
    jobsched::testing::TopicList topic_list;
    for (int r = 0; r < rounds; ++r) {
      topic_list.push_back({"bench-events-" + std::to_string(r), cfg.partitions});
    }
    const size_t events = topics[0].size();
    std::string settings;
    for (const auto& [k, v] : cfg.kafka) settings += " " + k + "=" + v;
    ProjectorOptions defaults;
    std::printf(
        "projector bench: %d jobs x %d events = %zu events (%.0f B avg) per round, lag %d jobs,"
        " %d partitions, batch %zu, poll %lld ms, kafka:%s%s\n",
        cfg.jobs, kEventsPerJob, events, static_cast<double>(bytes) / static_cast<double>(events),
        cfg.lag, cfg.partitions, cfg.batch > 0 ? static_cast<size_t>(cfg.batch)
                                                : defaults.max_batch_records,
        static_cast<long long>(cfg.poll_ms > 0 ? cfg.poll_ms : defaults.poll_timeout.count()),
        settings.empty() ? " defaults" : settings.c_str(),
        cfg.null_store ? " (null store: nothing written to PostgreSQL)" : "");

    jobsched::testing::ScopedDevBroker broker(topic_list);
    jobsched::testing::ScopedPostgres pg;
    std::printf("%-7s %9s %8s %7s %7s %7s %6s %6s %6s %7s %6s %8s %7s\n", "round", "events/s",
                "jobs/s", "proj", "pg", "batches", "ev p50", "p90", "max", "wr ms", "loads",
                "load ids", "load ms");
    std::printf("%-7s %9s %8s %7s %7s %7s %6s %6s %6s %7s %6s %8s %7s\n", "", "wall", "wall",
                "us/ev", "us/ev", "", "/batch", "", "", "p50", "", "", "total");
    std::vector<Round> results;
    for (int r = 0; r < rounds; ++r) {
      std::string load = LoadAverage();
      results.push_back(RunRound(r, cfg, broker, pg, "bench-events-" + std::to_string(r),
                                 std::move(topics[r])));
      PrintRound(std::to_string(r + 1) + " (" + load + ")", results.back());
    }
    Round median;
    auto med = [&](double Round::*f) {
      std::vector<double> v;
      for (const Round& r : results) v.push_back(r.*f);
      median.*f = Median(v);
    };
    for (auto f : {&Round::events_per_s, &Round::jobs_per_s, &Round::projector_us_per_event,
                   &Round::postgres_us_per_event, &Round::batches, &Round::batch_p50,
                   &Round::batch_p90, &Round::batch_max, &Round::write_ms_p50, &Round::load_calls,
                   &Round::load_ids, &Round::load_ms}) {
      med(f);
    }
    PrintRound("median", median);
    std::printf("(round label: 1-minute load average of the machine when the round began)\n");
    PrintRows("rows per job handed to the store (median):", results, &Round::handed_per_job);
    med(&Round::new_rows_per_job);
    std::printf("  of jobs + job_executions, handed as new (no row yet): %.3f per job\n",
                median.new_rows_per_job);
    PrintRows("row writes per job counted by PostgreSQL (inserts + updates, median):", results,
              &Round::stat_per_job);
    med(&Round::log_row_bytes);
    if (!cfg.null_store) std::printf("job_logs row: %.0f bytes as stored\n", median.log_row_bytes);
    std::vector<double> trickle, idle, trickle_batches, trickle_write, trickle_load;
    for (const Round& r : results) {
      trickle_write.push_back(r.trickle_write_ms);
      trickle_load.push_back(r.trickle_load_ms);
      trickle.insert(trickle.end(), r.trickle_ms.begin(), r.trickle_ms.end());
      idle.push_back(r.idle_cpu_percent);
      trickle_batches.push_back(r.trickle_batches);
    }
    std::printf(
        "idle (caught up): projector process %.2f%% of a core; trickle of %d single events every"
        " %d ms: acknowledged -> committed p50 %.1f ms, p99 %.1f ms, max %.1f ms, in %.0f"
        " batches (median per round; a batch's state load %.1f ms, write %.1f ms)\n",
        Median(idle), cfg.trickle, cfg.trickle_gap_ms, Median(trickle), Percentile(trickle, 0.99),
        Percentile(trickle, 1.0), Median(trickle_batches), Median(trickle_load),
        Median(trickle_write));
    nlohmann::json j = {{"bench", "projector"},
                        {"jobs", cfg.jobs},
                        {"events", events},
                        {"lag", cfg.lag},
                        {"partitions", cfg.partitions},
                        {"events_per_s", median.events_per_s},
                        {"jobs_per_s", median.jobs_per_s},
                        {"projector_us_per_event", median.projector_us_per_event},
                        {"postgres_us_per_event", median.postgres_us_per_event},
                        {"batch_events_p50", median.batch_p50},
                        {"write_ms_p50", median.write_ms_p50},
                        {"job_logs_row_bytes", median.log_row_bytes},
                        {"idle_cpu_percent", Median(idle)},
                        {"trickle_p50_ms", Median(trickle)},
                        {"trickle_p99_ms", Percentile(trickle, 0.99)}};
    for (const std::string& t : kTables) {
      std::vector<double> v;
      for (const Round& r : results) {
        v.push_back(r.stat_per_job.count(t) ? r.stat_per_job.at(t) : 0);
      }
      j["row_writes_per_job"][t] = Median(v);
    }
    std::printf("%s\n", j.dump().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "projector bench failed: %s\n", e.what());
    return 1;
  }
  return 0;
}
