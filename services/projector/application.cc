#include "services/projector/application.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <utility>

#include "projections/migrations.h"
#include "services/common/logging.h"
#include "services/common/metrics.h"

namespace jobsched::projector {
namespace {

std::shared_ptr<spdlog::logger> Logger() { return services::GetLogger("projector"); }

// Routes log lines of projections/ through services::Log, so JSON logs keep
// job_id / event_id as fields.
projections::LogSink ServiceLogSink(const std::string& logger_name = "projector") {
  return [logger = services::GetLogger(logger_name)](
             spdlog::level::level_enum level, std::string_view msg,
             std::initializer_list<projections::LogField> fields) {
    services::Log(*logger, level, msg, fields);
  };
}

}  // namespace

Result<ApplicationOptions> OptionsFromEnv(const services::ServiceConfig& config) {
  ApplicationOptions o;
  o.database_url = config.database_url;
  o.projector.topic = config.topics().job_events;
  o.projector.client_id = "jobsched-projector/" + config.instance_id;
  auto batch = services::EnvInt("JOBSCHED_PROJECTOR_BATCH",
                                static_cast<int64_t>(o.projector.max_batch_records), 1, 100000);
  if (!batch.ok()) return batch.status();
  o.projector.max_batch_records = static_cast<size_t>(batch.value());
  auto cache = services::EnvInt("JOBSCHED_PROJECTOR_CACHE_JOBS", 50000, 0, 10000000);
  if (!cache.ok()) return cache.status();
  o.projector.state_cache_jobs = static_cast<size_t>(cache.value());
  o.executors.topic = config.topics().executors;
  o.executors.client_id = "jobsched-projector-executors/" + config.instance_id;
  return o;
}

Result<projections::RebuildReport> Rebuild(const services::ServiceConfig& config,
                                           projections::RebuildSource source) {
  auto log = services::MakeEventLog(config);
  if (!log.ok()) return log.status();
  projections::RebuildOptions o;
  o.database_url = config.database_url;
  o.source = source;
  o.topic = config.topics().job_events;
  o.executors_topic = config.topics().executors;
  o.log_sink = ServiceLogSink("rebuild");
  return projections::RebuildProjections(*log.value(), o);
}

Application::Application(ApplicationOptions options, events::EventLog& log)
    : options_(std::move(options)),
      store_(projections::PgProjectionStoreOptions{.database_url = options_.database_url}),
      projector_(log, store_,
                 [this] {
                   projections::ProjectorOptions o = options_.projector;
                   if (!o.log_sink) o.log_sink = ServiceLogSink();
                   return o;
                 }()),
      executors_(log, store_,
                 [this] {
                   projections::ExecutorProjectorOptions o = options_.executors;
                   if (!o.log_sink) o.log_sink = ServiceLogSink();
                   return o;
                 }()),
      log_(log) {
  RegisterMetrics();
}

void Application::RegisterMetrics() {
  if (options_.metrics == nullptr) {
    own_metrics_ = std::make_shared<prometheus::Registry>();
    options_.metrics = own_metrics_.get();
  }
  prometheus::Registry& r = *options_.metrics;
  lag_records_ = &prometheus::BuildGauge()
                      .Name("jobsched_projection_lag_records")
                      .Help(
                          "Records of an assigned partition appended and not yet projected "
                          "(high watermark minus the projection's stored offset)")
                      .Register(r);
  lag_seconds_ = &prometheus::BuildGauge()
                      .Name("jobsched_projection_lag_seconds")
                      .Help(
                          "While records wait to be projected: seconds since the newest "
                          "projected event was appended; 0 when caught up")
                      .Register(r);
  auto& events = prometheus::BuildCounter()
                     .Name("jobsched_projector_events_total")
                     .Help("Records of job-events projected, by what the fold made of them")
                     .Register(r);
  events_ = {&events.Add({{"result", "applied"}}), &events.Add({{"result", "duplicate"}}),
             &events.Add({{"result", "rejected"}}), &events.Add({{"result", "undecodable"}})};
  batches_ = &prometheus::BuildCounter()
                  .Name("jobsched_projector_batches_total")
                  .Help("Projection batches committed to PostgreSQL")
                  .Register(r)
                  .Add({});
  write_failures_ = &prometheus::BuildCounter()
                         .Name("jobsched_projector_store_failures_total")
                         .Help("Failed PostgreSQL calls of the projector (each is retried)")
                         .Register(r)
                         .Add({});
}

void Application::UpdateMetrics() {
  const projections::ProjectorStats s = projector_.stats();
  auto add = [](prometheus::Counter* c, uint64_t now, uint64_t before) {
    if (now > before) c->Increment(static_cast<double>(now - before));
  };
  add(events_[0], s.applied, counted_.applied);
  add(events_[1], s.duplicates, counted_.duplicates);
  add(events_[2], s.rejected, counted_.rejected);
  add(events_[3], s.undecodable, counted_.undecodable);
  add(batches_, s.batches, counted_.batches);
  add(write_failures_, s.write_failures, counted_.write_failures);
  counted_ = s;

  const std::string& projection = options_.projector.projection;
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  std::map<int32_t, PartitionGauges> seen;
  for (const projections::PartitionProgress& p : projector_.progress()) {
    const int64_t lag = p.lag_records();
    if (lag < 0) continue;  // watermarks not known yet
    PartitionGauges g = partition_gauges_[p.partition];
    partition_gauges_.erase(p.partition);
    const prometheus::Labels labels{{"projection", projection},
                                    {"partition", std::to_string(p.partition)}};
    if (g.records == nullptr) g.records = &lag_records_->Add(labels);
    g.records->Set(static_cast<double>(lag));
    if (g.seconds == nullptr && (lag == 0 || p.newest_event_ms > 0)) {
      g.seconds = &lag_seconds_->Add(labels);
    }
    if (g.seconds != nullptr) {
      g.seconds->Set(lag == 0 ? 0.0 : std::max<double>(now_ms - p.newest_event_ms, 0) / 1000.0);
    }
    seen[p.partition] = g;
  }
  // What is left was revoked (or its watermarks are unknown again).
  for (const auto& [partition, g] : partition_gauges_) {
    if (g.records != nullptr) lag_records_->Remove(g.records);
    if (g.seconds != nullptr) lag_seconds_->Remove(g.seconds);
  }
  partition_gauges_ = std::move(seen);
}

void Application::MonitorLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_monitor_) {
    lock.unlock();
    // A tiny query on the store's own reader connection (reconnects as needed).
    auto probe = store_.LoadOffsets(options_.projector.projection, options_.projector.topic, {});
    UpdateMetrics();
    lock.lock();
    pg_ok_ = probe.ok();
    pg_detail_ = probe.ok() ? "" : probe.status().ToString();
    pg_checked_at_ = std::chrono::steady_clock::now();
    monitor_cv_.wait_for(lock, options_.monitor_interval, [this] { return stop_monitor_; });
  }
}

services::Readiness Application::Ready() {
  services::Readiness r;
  r.Check("kafka", probe_ != nullptr && probe_->Reachable(),
          probe_ == nullptr ? "not started" : "");
  {
    std::lock_guard<std::mutex> lock(mu_);
    const bool fresh = std::chrono::steady_clock::now() - pg_checked_at_ < std::chrono::seconds(5);
    r.Check("postgres", pg_ok_ && fresh, !fresh ? "no probe in the last 5 s" : pg_detail_);
  }
  const std::vector<projections::PartitionProgress> progress = projector_.progress();
  r.Check("partitions_assigned", !progress.empty(),
          std::to_string(progress.size()) + " partitions of " + options_.projector.topic);
  std::string behind;
  for (const projections::PartitionProgress& p : progress) {
    const int64_t lag = p.lag_records();
    if (lag >= 0 && lag <= options_.ready_max_lag_records) continue;
    if (!behind.empty()) behind += ", ";
    behind += std::to_string(p.partition) + ": " +
              (lag < 0 ? std::string("watermark unknown") : std::to_string(lag) + " records");
  }
  r.Check("caught_up", behind.empty(),
          behind.empty()
              ? "at most " + std::to_string(options_.ready_max_lag_records) + " records behind"
              : "behind: " + behind);
  return r;
}

nlohmann::json Application::Health() {
  const projections::ProjectorStats s = projector_.stats();
  nlohmann::json partitions = nlohmann::json::array();
  for (const projections::PartitionProgress& p : projector_.progress()) {
    partitions.push_back({{"partition", p.partition},
                          {"projected", p.projected},
                          {"high_watermark", p.high_watermark},
                          {"lag_records", p.lag_records()}});
  }
  return {{"projection",
           {{"name", options_.projector.projection},
            {"records", s.records},
            {"applied", s.applied},
            {"duplicates", s.duplicates},
            {"rejected", s.rejected},
            {"undecodable", s.undecodable},
            {"batches", s.batches},
            {"write_failures", s.write_failures},
            {"last_batch_ms", s.last_batch_ms}}},
          {"partitions", partitions}};
}

Application::~Application() { Stop(); }

Status Application::Start() {
  const std::string database = projections::DescribeDatabaseUrl(options_.database_url);
  if (Status s = projections::ApplyMigrations(options_.database_url, ServiceLogSink("migrations"));
      !s.ok()) {
    return s;
  }
  services::Log(*Logger(), spdlog::level::info, "starting projector",
                {{"topic", options_.projector.topic},
                 {"group", options_.projector.group_id},
                 {"projection", options_.projector.projection},
                 {"database", database}});
  auto probe = log_.NewProducer(options_.projector.client_id + "/probe");
  if (!probe.ok()) return probe.status();
  probe_ = std::move(probe).value();
  if (Status s = projector_.Start(); !s.ok()) return s;
  if (Status s = executors_.Start(); !s.ok()) return s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_monitor_ = false;
  }
  monitor_ = std::thread([this] { MonitorLoop(); });
  return Status::Ok();
}

void Application::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_monitor_ = true;
  }
  monitor_cv_.notify_all();
  if (monitor_.joinable()) monitor_.join();
  executors_.Stop();
  projector_.Stop();
}

Result<std::unique_ptr<services::Service>> MakeProjector(services::ServiceContext& context) {
  auto options = OptionsFromEnv(context.config);
  if (!options.ok()) return options.status();
  options.value().metrics = &context.metrics;
  return std::unique_ptr<services::Service>(
      std::make_unique<Application>(std::move(options).value(), context.log));
}

void AddCommandLine(CLI::App& cli, services::OneShot* one_shot) {
  auto rebuild = std::make_shared<bool>(false);
  CLI::Option* rebuild_flag =
      cli.add_flag("--rebuild", *rebuild,
                   "drop and rebuild every projection (into a scratch schema, swapped in at the "
                   "end), print what was done and exit");
  auto from = std::make_shared<std::string>("log");
  cli.add_option("--from", *from,
                 "with --rebuild: log (job-events from offset 0) or archive (job_logs)")
      ->check(CLI::IsMember({"log", "archive"}))
      ->needs(rebuild_flag);
  cli.callback([rebuild, from, one_shot] {
    if (!*rebuild) return;
    *one_shot = [from](const services::ServiceConfig& config) {
      auto report = Rebuild(config, projections::ParseRebuildSource(*from).value());
      if (!report.ok()) {
        services::Log(*Logger(), spdlog::level::critical, "rebuild failed",
                      {{"error", report.status().ToString()}});
        std::fprintf(stderr, "jobsched-projector: rebuild failed: %s\n",
                     report.status().ToString().c_str());
        return 1;
      }
      std::fputs(projections::FormatRebuildReport(report.value()).c_str(), stdout);
      return 0;
    };
  });
}

}  // namespace jobsched::projector
