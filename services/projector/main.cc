// jobsched-projector: folds `job-events` into the PostgreSQL tables the API
// reads (jobs, job_executions, job_logs, dead_letters) and the `executors`
// topic's heartbeats into `executors`, exactly once. Configuration comes
// from the environment (services/common/config.h, services/projector/
// application.h); stops gracefully on SIGINT / SIGTERM.
#include <cstdio>

#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/runtime.h"
#include "services/projector/application.h"

int main() {
  using namespace jobsched;  // NOLINT(build/namespaces): main only
  services::BlockStopSignals();
  auto config = services::ServiceConfig::FromEnv("projector");
  if (!config.ok()) {
    std::fprintf(stderr, "jobsched-projector: %s\n", config.status().ToString().c_str());
    return 2;
  }
  services::InitLogging(config.value());
  auto logger = services::GetLogger("projector");
  auto app = projector::Application::FromEnv(config.value());
  if (!app.ok()) {
    services::Log(*logger, spdlog::level::critical, "cannot configure the projector",
                  {{"error", app.status().ToString()}});
    return 2;
  }
  if (Status st = app.value()->Start(); !st.ok()) {
    services::Log(*logger, spdlog::level::critical, "cannot start the projector",
                  {{"error", st.ToString()}});
    return 1;
  }
  const int sig = services::WaitForStopSignal();
  services::Log(*logger, spdlog::level::info, "stop signal received",
                {{"signal", std::to_string(sig)}});
  app.value()->Stop();
  return 0;
}
