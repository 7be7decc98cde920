// jobsched-projector: folds `job-events` into the PostgreSQL tables the API
// reads (jobs, job_executions, job_logs, dead_letters) and the `executors`
// topic's heartbeats into `executors`, exactly once. Configuration comes
// from the environment (services/common/config.h, services/projector/
// application.h); stops gracefully on SIGINT / SIGTERM.
//
//   jobsched-projector                                 project, until stopped
//   jobsched-projector --rebuild [--from log|archive]  rebuild every projection, then exit
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/runtime.h"
#include "services/projector/application.h"

int main(int argc, char** argv) {
  using namespace jobsched;  // NOLINT(build/namespaces): main only
  CLI::App cli{"jobsched-projector: folds job-events and executors into PostgreSQL"};
  bool rebuild = false;
  std::string from = "log";
  cli.add_flag("--rebuild", rebuild,
               "drop and rebuild every projection (into a scratch schema, swapped in at the"
               " end), print what was done and exit");
  cli.add_option("--from", from,
                 "with --rebuild: log (job-events from offset 0) or archive (job_logs)")
      ->check(CLI::IsMember({"log", "archive"}));
  CLI11_PARSE(cli, argc, argv);
  if (cli.count("--from") > 0 && !rebuild) {
    std::fprintf(stderr, "jobsched-projector: --from needs --rebuild\n");
    return 2;
  }

  if (!rebuild) services::BlockStopSignals();
  auto config = services::ServiceConfig::FromEnv("projector");
  if (!config.ok()) {
    std::fprintf(stderr, "jobsched-projector: %s\n", config.status().ToString().c_str());
    return 2;
  }
  services::InitLogging(config.value());
  auto logger = services::GetLogger("projector");
  if (rebuild) {
    auto report = projector::Rebuild(config.value(),
                                     projections::ParseRebuildSource(from).value());
    if (!report.ok()) {
      services::Log(*logger, spdlog::level::critical, "rebuild failed",
                    {{"error", report.status().ToString()}});
      std::fprintf(stderr, "jobsched-projector: rebuild failed: %s\n",
                   report.status().ToString().c_str());
      return 1;
    }
    std::fputs(projections::FormatRebuildReport(report.value()).c_str(), stdout);
    return 0;
  }
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
