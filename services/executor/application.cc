#include "services/executor/application.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <utility>

namespace jobsched::executor {

Result<std::map<std::string, double>> ParseResources(std::string_view text) {
  auto trim = [](std::string_view s) {
    const size_t begin = s.find_first_not_of(' ');
    if (begin == std::string_view::npos) return std::string_view();
    return s.substr(begin, s.find_last_not_of(' ') - begin + 1);
  };
  std::map<std::string, double> out;
  if (trim(text).empty()) return out;
  while (true) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return Status::Invalid("\"" + std::string(item) + "\" is not name=amount");
    }
    const std::string_view name = trim(item.substr(0, eq));
    const std::string_view amount = trim(item.substr(eq + 1));
    const bool name_ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    });
    if (!name_ok) return Status::Invalid("bad resource name \"" + std::string(name) + "\"");
    double value = 0;
    const auto [end, ec] = std::from_chars(amount.data(), amount.data() + amount.size(), value,
                                           std::chars_format::fixed);
    if (amount.empty() || ec != std::errc() || end != amount.data() + amount.size() ||
        !std::isfinite(value) || value < 0) {
      return Status::Invalid("resource " + std::string(name) + ": \"" + std::string(amount) +
                             "\" is not a number >= 0");
    }
    if (!out.emplace(name, value).second) {
      return Status::Invalid("resource " + std::string(name) + " is given twice");
    }
    if (comma == std::string_view::npos) return out;
    text = text.substr(comma + 1);
  }
}

Result<ExecutorOptions> ExecutorOptionsFromEnv(const services::ServiceConfig& config) {
  ExecutorOptions options;
  auto slots = services::EnvInt("JOBSCHED_EXECUTOR_SLOTS", 16, 1, 1024);
  if (!slots.ok()) return slots.status();
  auto heartbeat_ms = services::EnvInt("JOBSCHED_HEARTBEAT_MS", 1000, 10, 600000);
  if (!heartbeat_ms.ok()) return heartbeat_ms.status();
  auto timeout_s = services::EnvInt("JOBSCHED_EXECUTOR_DEFAULT_TIMEOUT_S", 3600, 1, 31536000);
  if (!timeout_s.ok()) return timeout_s.status();
  auto grace_ms = services::EnvInt("JOBSCHED_EXECUTOR_STOP_GRACE_MS", 10000, 0, 3600000);
  if (!grace_ms.ok()) return grace_ms.status();
  auto started_after_ms = services::EnvInt("JOBSCHED_EXECUTOR_STARTED_AFTER_MS",
                                           options.started_after.count(), 0, 3600000);
  if (!started_after_ms.ok()) return started_after_ms.status();
  const std::string resources = services::EnvOr("JOBSCHED_EXECUTOR_RESOURCES", "");
  auto parsed = ParseResources(resources);
  if (!parsed.ok()) {
    return Status::Invalid("JOBSCHED_EXECUTOR_RESOURCES=" + resources + ": " +
                           parsed.status().message());
  }
  options.slots = static_cast<int>(slots.value());
  options.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms.value());
  options.default_timeout = std::chrono::seconds(timeout_s.value());
  options.stop_grace = std::chrono::milliseconds(grace_ms.value());
  options.started_after = std::chrono::milliseconds(started_after_ms.value());
  options.executor_id = services::EnvOr("JOBSCHED_EXECUTOR_ID", config.instance_id);
  options.pool = services::EnvOr("JOBSCHED_EXECUTOR_POOL", "default");
  options.resources = std::move(parsed).value();
  options.topics = config.topics();
  return options;
}

Application::Application(ExecutorOptions options, events::EventLog& log, const Clock& clock)
    : handlers_(HandlerRegistry::WithBuiltins()),
      executor_(std::move(options), log, clock, handlers_) {}

Application::~Application() { Stop(); }

Status Application::Start() { return executor_.Start(); }

void Application::Stop() { executor_.Stop(); }

services::Readiness Application::Ready() {
  services::Readiness r;
  r.Check("kafka", executor_.Reachable());
  return r;
}

nlohmann::json Application::Health() {
  return {{"executor_id", executor_.options().executor_id},
          {"slots", executor_.options().slots},
          {"running", executor_.running()},
          {"held", executor_.held()},
          {"task_partition", executor_.task_partition()},
          {"incarnation", executor_.incarnation()}};
}

Result<std::unique_ptr<services::Service>> MakeExecutor(services::ServiceContext& context) {
  auto options = ExecutorOptionsFromEnv(context.config);
  if (!options.ok()) return options.status();
  // A stop lets handlers run for the grace, then gives the canceled ones as
  // long again to report (Executor::Stop); all of it must fit in the
  // process's stop bound, or runs are cut off before they are handed back.
  const Millis stop_needs =
      2 * std::chrono::duration_cast<Millis>(options->stop_grace) + Millis(5'000);
  if (stop_needs > context.process.stop_timeout) {
    return Status::Invalid(
        "JOBSCHED_EXECUTOR_STOP_GRACE_MS=" + std::to_string(options->stop_grace.count()) +
        " does not fit in JOBSCHED_STOP_TIMEOUT_MS=" +
        std::to_string(context.process.stop_timeout.count()) +
        ": a stop needs twice the grace plus 5000 ms; lower the grace or raise the timeout");
  }
  options.value().metrics = &context.metrics;
  return std::unique_ptr<services::Service>(
      std::make_unique<Application>(std::move(options).value(), context.log, context.clock));
}

}  // namespace jobsched::executor
