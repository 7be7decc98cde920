#include "services/projector/application.h"

#include <utility>

#include "projections/migrations.h"
#include "services/common/logging.h"

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
  auto batch = services::EnvInt("JOBSCHED_PROJECTOR_BATCH", 1000, 1, 100000);
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
    : Application(std::move(options), nullptr, log) {}

Application::Application(ApplicationOptions options, std::unique_ptr<events::EventLog> owned,
                         events::EventLog& log)
    : owned_log_(std::move(owned)),
      options_(std::move(options)),
      store_(projections::PgProjectionStoreOptions{.database_url = options_.database_url}),
      projector_(log, store_, [this] {
        projections::ProjectorOptions o = options_.projector;
        if (!o.log_sink) o.log_sink = ServiceLogSink();
        return o;
      }()),
      executors_(log, store_, [this] {
        projections::ExecutorProjectorOptions o = options_.executors;
        if (!o.log_sink) o.log_sink = ServiceLogSink();
        return o;
      }()) {}

Application::~Application() { Stop(); }

Result<std::unique_ptr<Application>> Application::FromEnv(const services::ServiceConfig& config) {
  auto options = OptionsFromEnv(config);
  if (!options.ok()) return options.status();
  auto log = services::MakeEventLog(config);
  if (!log.ok()) return log.status();
  events::EventLog& ref = *log.value();
  return std::unique_ptr<Application>(
      new Application(std::move(options).value(), std::move(log).value(), ref));
}

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
  if (Status s = projector_.Start(); !s.ok()) return s;
  return executors_.Start();
}

void Application::Stop() {
  executors_.Stop();
  projector_.Stop();
}

}  // namespace jobsched::projector
