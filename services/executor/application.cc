#include "services/executor/application.h"

#include <utility>

namespace jobsched::executor {

Result<ExecutorOptions> ExecutorOptionsFromEnv(const services::ServiceConfig& config) {
  ExecutorOptions options;
  auto slots = services::EnvInt("JOBSCHED_EXECUTOR_SLOTS", 16, 1, 1024);
  if (!slots.ok()) return slots.status();
  auto heartbeat_ms = services::EnvInt("JOBSCHED_HEARTBEAT_MS", 1000, 10, 600000);
  if (!heartbeat_ms.ok()) return heartbeat_ms.status();
  options.slots = static_cast<int>(slots.value());
  options.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms.value());
  options.executor_id = services::EnvOr("JOBSCHED_EXECUTOR_ID", config.instance_id);
  options.topics = config.topics();
  return options;
}

Application::Application(ExecutorOptions options, events::EventLog& log, const Clock& clock)
    : handlers_(HandlerRegistry::WithBuiltins()),
      executor_(std::move(options), log, clock, handlers_) {}

Application::~Application() { Stop(); }

Result<std::unique_ptr<services::Service>> Application::Make(const services::ServiceConfig& config,
                                                             events::EventLog& log) {
  auto options = ExecutorOptionsFromEnv(config);
  if (!options.ok()) return options.status();
  return std::unique_ptr<services::Service>(
      std::make_unique<Application>(std::move(options).value(), log));
}

Status Application::Start() { return executor_.Start(); }

void Application::Stop() { executor_.Stop(); }

}  // namespace jobsched::executor
