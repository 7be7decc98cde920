#include "services/api/system_metrics.h"

#include <algorithm>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include "events/fold.h"
#include "services/api/ops_queries.h"
#include "services/api/pg_pool.h"
#include "services/common/metrics.h"

namespace jobsched::api {
namespace {

using nlohmann::json;
using Labels = std::vector<std::pair<std::string, std::string>>;

// How long a scrape waits for Kafka's watermarks before leaving the lag out.
constexpr std::chrono::milliseconds kWatermarkTimeout{2000};

std::string EscapeLabel(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char ch : v) {
    if (ch == '\\') {
      out += "\\\\";
    } else if (ch == '"') {
      out += "\\\"";
    } else if (ch == '\n') {
      out += "\\n";
    } else {
      out += ch;
    }
  }
  return out;
}

// One gauge family: HELP, TYPE, then its samples.
class Family {
 public:
  Family(std::ostringstream& out, const std::string& name, const std::string& help)
      : out_(out), name_(name) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " gauge\n";
  }
  void Sample(const Labels& labels, int64_t value) {
    out_ << name_;
    if (!labels.empty()) {
      out_ << '{';
      for (size_t i = 0; i < labels.size(); ++i) {
        if (i > 0) out_ << ',';
        out_ << labels[i].first << "=\"" << EscapeLabel(labels[i].second) << '"';
      }
      out_ << '}';
    }
    out_ << ' ' << value << '\n';
  }

 private:
  std::ostringstream& out_;
  std::string name_;
};

constexpr char kPointInTime[] = " (point-in-time count from the projections, not a counter)";

}  // namespace

std::string RenderSystemMetrics(const SystemSnapshot& s) {
  std::ostringstream out;
  {
    Family f(out, "jobsched_system_jobs", std::string("Jobs by status") + kPointInTime);
    std::map<std::string, int64_t> jobs = s.jobs_by_status;  // zeros too, as below
    for (int i = v1::JobStatus_MIN; i <= v1::JobStatus_MAX; ++i) {
      if (!v1::JobStatus_IsValid(i) || i == v1::JOB_STATUS_UNSPECIFIED) continue;
      jobs.try_emplace(std::string(events::JobStatusName(static_cast<v1::JobStatus>(i))), 0);
    }
    for (const auto& [status, n] : jobs) f.Sample({{"status", status}}, n);
  }
  {
    Family f(out, "jobsched_system_executions",
             std::string("Executions (one per attempt) by status") + kPointInTime);
    // Every status the projector writes, so a status with no rows shows as 0
    // and a dashboard's series do not come and go.
    std::map<std::string, int64_t> runs = s.executions_by_status;
    for (int i = v1::RunStatus_MIN; i <= v1::RunStatus_MAX; ++i) {
      if (!v1::RunStatus_IsValid(i) || i == v1::RUN_STATUS_UNSPECIFIED) continue;
      runs.try_emplace(std::string(events::RunStatusName(static_cast<v1::RunStatus>(i))), 0);
    }
    for (const auto& [status, n] : runs) f.Sample({{"status", status}}, n);
  }
  {
    Family f(out, "jobsched_system_runs_in_flight",
             std::string("Runs in flight by state, as GET /api/v1/queue/stats counts them") +
                 kPointInTime);
    f.Sample({{"state", "queued"}}, s.queued);
    f.Sample({{"state", "running"}}, s.running);
    f.Sample({{"state", "retrying"}}, s.retrying);
  }
  {
    Family f(out, "jobsched_system_queued_runs",
             std::string("Runs not started yet (DUE or DISPATCHED) by pool") + kPointInTime);
    for (const auto& [pool, n] : s.queued_by_pool) f.Sample({{"pool", pool}}, n);
  }
  {
    Family f(out, "jobsched_system_queued_runs_by_priority",
             std::string("Runs not started yet by job priority") + kPointInTime);
    for (const auto& [priority, n] : s.queued_by_priority) {
      f.Sample({{"priority", std::to_string(priority)}}, n);
    }
  }
  {
    Family f(out, "jobsched_system_waiting_jobs",
             std::string("Jobs whose queued run waits for an executor, by reason") + kPointInTime);
    for (const auto& [reason, n] : s.waiting_by_reason) f.Sample({{"reason", reason}}, n);
  }
  {
    Family f(out, "jobsched_system_executors",
             std::string("Executors by pool and status (STALE: heartbeat older than the "
                         "executor timeout, or a graceful stop)") +
                 kPointInTime);
    for (const auto& [pool, e] : s.executors) {
      f.Sample({{"pool", pool}, {"status", "active"}}, e.active);
      f.Sample({{"pool", pool}, {"status", "stale"}}, e.stale);
    }
  }
  {
    Family f(out, "jobsched_system_executor_slots",
             std::string("Slots of ACTIVE executors by pool, used (runs in progress) or free") +
                 kPointInTime);
    for (const auto& [pool, e] : s.executors) {
      f.Sample({{"pool", pool}, {"state", "used"}}, e.slots_used);
      f.Sample({{"pool", pool}, {"state", "free"}}, e.slots_free);
    }
  }
  {
    Family f(out, "jobsched_system_dead_letters",
             std::string("Dead letters, waiting (not requeued) or requeued") + kPointInTime);
    f.Sample({{"state", "waiting"}}, s.dead_letters_waiting);
    f.Sample({{"state", "requeued"}}, s.dead_letters_requeued);
  }
  {
    Family f(out, "jobsched_system_kafka_up",
             "1 if this scrape read the Kafka high watermarks, else 0 (no lag series)");
    f.Sample({}, s.kafka_ok ? 1 : 0);
  }
  {
    Family f(out, "jobsched_system_projection_next_offset",
             "The next offset each projection will read, per partition (projection_offsets)");
    for (const ProjectionPosition& p : s.projections) {
      if (!p.next_offset) continue;
      f.Sample({{"projection", p.projection},
                {"topic", p.topic},
                {"partition", std::to_string(p.partition)}},
               *p.next_offset);
    }
  }
  {
    Family f(out, "jobsched_system_log_high_watermark",
             "The offset the next record appended to a partition will get (Kafka)");
    std::set<std::pair<std::string, int32_t>> seen;
    for (const ProjectionPosition& p : s.projections) {
      if (!p.high_watermark || !seen.insert({p.topic, p.partition}).second) continue;
      f.Sample({{"topic", p.topic}, {"partition", std::to_string(p.partition)}}, *p.high_watermark);
    }
  }
  {
    Family f(out, "jobsched_system_projection_lag_records",
             "Records appended to a partition that its projection has not applied yet "
             "(high watermark - next offset)");
    for (const ProjectionPosition& p : s.projections) {
      if (!p.high_watermark) continue;
      // No row yet: the projection starts at the oldest retained record.
      const int64_t next = p.next_offset.value_or(p.low_watermark.value_or(0));
      f.Sample({{"projection", p.projection},
                {"topic", p.topic},
                {"partition", std::to_string(p.partition)}},
               std::max<int64_t>(0, *p.high_watermark - next));
    }
  }
  return out.str();
}

SystemSnapshot ReadSystemSnapshot(pqxx::connection& c, TimePoint now,
                                  std::chrono::milliseconds executor_timeout) {
  SystemSnapshot s;
  const json queue = QueueStats(c);
  const json& queued = queue.at("queued");
  for (const auto& [pool, n] : queued.at("by_pool").items()) {
    s.queued_by_pool[pool] = n.get<int64_t>();
  }
  for (const auto& [priority, n] : queued.at("by_priority").items()) {
    s.queued_by_priority[std::stoi(priority)] = n.get<int64_t>();
  }
  s.queued = queued.at("total").get<int64_t>();
  s.running = queue.at("running").get<int64_t>();
  s.retrying = queue.at("retrying").get<int64_t>();
  for (const json& r : queue.at("waiting_reasons")) {
    s.waiting_by_reason[r.at("reason").get<std::string>()] = r.at("count").get<int64_t>();
  }

  const json listed = ListExecutors(c, now, executor_timeout);  // outlives the loop
  for (const json& e : listed.at("executors")) {
    PoolExecutors& pool = s.executors[e.at("pool").get<std::string>()];
    if (e.at("status") == "ACTIVE") {
      const int64_t slots = e.at("slots").get<int64_t>();
      const int64_t running = e.at("running").get<int64_t>();
      pool.active += 1;
      pool.slots_used += running;
      pool.slots_free += std::max<int64_t>(0, slots - running);
    } else {
      pool.stale += 1;
    }
  }

  pqxx::read_transaction tx(c);
  for (const auto& row : tx.exec("SELECT status, count(*) FROM jobs GROUP BY status")) {
    s.jobs_by_status[row[0].as<std::string>()] = row[1].as<int64_t>();
  }
  for (const auto& row : tx.exec("SELECT status, count(*) FROM job_executions GROUP BY status")) {
    s.executions_by_status[row[0].as<std::string>()] = row[1].as<int64_t>();
  }
  const pqxx::row dead = tx.exec1(
      "SELECT count(*) FILTER (WHERE requeued_at IS NULL),"
      " count(*) FILTER (WHERE requeued_at IS NOT NULL) FROM dead_letters");
  s.dead_letters_waiting = dead[0].as<int64_t>();
  s.dead_letters_requeued = dead[1].as<int64_t>();
  for (const auto& row :
       tx.exec("SELECT projection, topic, partition, next_offset FROM projection_offsets"
               " ORDER BY projection, topic, partition")) {
    ProjectionPosition p;
    p.projection = row[0].as<std::string>();
    p.topic = row[1].as<std::string>();
    p.partition = row[2].as<int32_t>();
    p.next_offset = row[3].as<int64_t>();
    s.projections.push_back(std::move(p));
  }
  return s;
}

std::map<std::string, std::string> KnownProjections(const events::Topics& topics) {
  return {{"jobs", topics.job_events}, {"executors", topics.executors}};
}

namespace {

// The state a collector keeps between scrapes; shared by its copies.
class Collector {
 public:
  explicit Collector(SystemMetricsSources sources)
      : sources_(std::move(sources)), pool_(sources_.database_url, PgPoolOptions{.size = 1}) {
    // The same registry listed twice is served once.
    std::set<prometheus::Registry*> seen;
    std::vector<prometheus::Registry*> unique;
    for (prometheus::Registry* r : sources_.registries) {
      if (r != nullptr && seen.insert(r).second) unique.push_back(r);
    }
    sources_.registries = std::move(unique);
  }

  Result<std::string> Collect() {
    const TimePoint now = sources_.clock->Now();
    const auto timeout = sources_.executor_timeout;
    Result<SystemSnapshot> read = pool_.Run<SystemSnapshot>(
        [&](pqxx::connection& c) { return ReadSystemSnapshot(c, now, timeout); });
    if (!read.ok()) return read.status();
    SystemSnapshot s = std::move(read).value();
    AddWatermarks(s);
    std::string text = RenderSystemMetrics(s);
    for (prometheus::Registry* r : sources_.registries) text += services::SerializeMetrics(*r);
    return text;
  }

 private:
  // Every partition of each known projection's topic gets a position (a
  // partition the projector never wrote is all lag), then the watermarks.
  void AddWatermarks(SystemSnapshot& s) {
    std::lock_guard<std::mutex> lock(mu_);  // the consumer is not thread-safe
    s.kafka_ok = false;
    if (sources_.log == nullptr) return;
    std::set<std::tuple<std::string, std::string, int32_t>> have;
    for (const ProjectionPosition& p : s.projections) {
      have.insert({p.projection, p.topic, p.partition});
    }
    for (const auto& [projection, topic] : KnownProjections(sources_.topics)) {
      Result<int> count = sources_.log->PartitionCount(topic);
      if (!count.ok()) return;
      for (int32_t p = 0; p < count.value(); ++p) {
        if (have.insert({projection, topic, p}).second) {
          s.projections.push_back({projection, topic, p, std::nullopt, std::nullopt, std::nullopt});
        }
      }
    }
    if (!consumer_) {
      // No group and never polled: it is assigned nothing and fetches
      // nothing; it only asks the brokers for watermarks.
      events::ConsumerOptions options;
      options.topics = {sources_.topics.job_events};
      options.client_id = "jobsched-api-system-metrics";
      auto made = sources_.log->NewConsumer(options);
      if (!made.ok()) return;
      consumer_ = std::move(made).value();
    }
    std::set<events::TopicPartition> wanted;
    for (const ProjectionPosition& p : s.projections) wanted.insert({p.topic, p.partition});
    auto marks = consumer_->QueryWatermarks(
        std::vector<events::TopicPartition>(wanted.begin(), wanted.end()), kWatermarkTimeout);
    if (!marks.ok()) return;
    for (ProjectionPosition& p : s.projections) {
      auto it = marks.value().find({p.topic, p.partition});
      if (it == marks.value().end()) continue;
      p.high_watermark = it->second.high;
      p.low_watermark = it->second.low;
    }
    s.kafka_ok = true;
  }

  SystemMetricsSources sources_;
  PgPool pool_;
  std::mutex mu_;
  std::unique_ptr<events::Consumer> consumer_;  // guarded by mu_
};

}  // namespace

std::function<Result<std::string>()> MakeSystemMetricsCollector(SystemMetricsSources sources) {
  auto collector = std::make_shared<Collector>(std::move(sources));
  return [collector] { return collector->Collect(); };
}

}  // namespace jobsched::api
