#include "services/common/service_main.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "services/common/consumer_lag_metrics.h"
#include "services/common/logging.h"
#include "services/common/metrics.h"
#include "services/common/runtime.h"

namespace jobsched::services {
namespace {

int DefaultAdminPort(const std::string& service) {
  static const std::map<std::string, int> kPorts = {{"api", 9470},
                                                    {"scheduler", 9471},
                                                    {"dispatcher", 9472},
                                                    {"executor", 9473},
                                                    {"projector", 9474}};
  auto it = kPorts.find(service);
  return it == kPorts.end() ? 0 : it->second;
}

// Where the process is in its life, for /health and /ready.
enum class Phase { kStarting, kRunning, kStopping };

const char* PhaseName(Phase p) {
  switch (p) {
    case Phase::kStarting:
      return "starting";
    case Phase::kRunning:
      return "running";
    case Phase::kStopping:
      return "stopping";
  }
  return "unknown";
}

// Ends the process when the service's Stop overruns the bound: a stop that
// hangs (a broker that never answers, a handler that ignores cancellation)
// must not keep an orchestrator waiting forever. Nothing accepted is lost by
// it: every service's work is in the log, and the next owner resumes it.
class StopWatchdog {
 public:
  StopWatchdog(Millis bound, std::shared_ptr<spdlog::logger> logger)
      : bound_(bound), logger_(std::move(logger)), thread_([this] { Run(); }) {}
  ~StopWatchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, bound_, [&] { return done_; })) return;
    Log(*logger_, spdlog::level::critical,
        "stop overran JOBSCHED_STOP_TIMEOUT_MS; exiting without finishing it",
        {{"stop_timeout_ms", std::to_string(bound_.count())}});
    logger_->flush();
    std::_Exit(1);
  }

  Millis bound_;
  std::shared_ptr<spdlog::logger> logger_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace

Result<ProcessSettings> ProcessSettings::FromEnv(const std::string& service) {
  ProcessSettings s;
  s.admin_host = EnvOr("JOBSCHED_ADMIN_HOST", s.admin_host);
  if (s.admin_host.empty()) {
    return Status::Invalid(
        "JOBSCHED_ADMIN_HOST is empty: give an address such as "
        "0.0.0.0 or 127.0.0.1");
  }
  auto port = EnvInt("JOBSCHED_ADMIN_PORT", DefaultAdminPort(service), 0, 65535);
  if (!port.ok()) return port.status();
  s.admin_port = static_cast<int>(*port);
  s.admin_port_file = EnvOr("JOBSCHED_ADMIN_PORT_FILE", "");
  auto stop = EnvInt("JOBSCHED_STOP_TIMEOUT_MS", s.stop_timeout.count(), 1000, 3'600'000);
  if (!stop.ok()) return stop.status();
  s.stop_timeout = Millis(*stop);
  return s;
}

int ServiceMain(int argc, char** argv, const ServiceDefinition& definition) {
  const std::string& name = definition.name;
  const std::string binary = "jobsched-" + name;
  CLI::App cli{binary + ": configured by environment variables (README, \"Configuration\")"};
  OneShot one_shot;
  if (definition.command_line) definition.command_line(cli, &one_shot);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e) == 0 ? 0 : 2;
  }

  if (!one_shot) BlockStopSignals();
  auto config = ServiceConfig::FromEnv(name);
  if (!config.ok()) {
    std::fprintf(stderr, "%s: %s\n", binary.c_str(), config.status().message().c_str());
    return 2;
  }
  auto settings = ProcessSettings::FromEnv(name);
  if (!settings.ok()) {
    std::fprintf(stderr, "%s: %s\n", binary.c_str(), settings.status().message().c_str());
    return 2;
  }
  InitLogging(config.value());
  if (one_shot) return one_shot(config.value());
  auto logger = GetLogger(name);

  auto registry = std::make_shared<prometheus::Registry>();
  RegisterServiceInfo(*registry, name, config->instance_id);
  auto log = MakeEventLog(config.value());
  if (!log.ok()) {
    Log(*logger, spdlog::level::critical, "cannot create the event log",
        {{"error", log.status().ToString()}});
    return 1;
  }
  log.value()->SetConsumerLagSink(MakeConsumerLagMetrics(*registry));
  ServiceContext context{config.value(), settings.value(), *log.value(), *registry,
                         SystemClock::Instance()};
  auto made = definition.make(context);
  if (!made.ok()) {
    Log(*logger, spdlog::level::critical, "cannot configure the service",
        {{"error", made.status().ToString()}});
    // A malformed setting names itself; that is a configuration error.
    return made.status().code() == ErrorCode::kInvalidArgument ? 2 : 1;
  }
  std::unique_ptr<Service> service = std::move(made).value();

  // The admin port answers from before the start (alive, not ready) until
  // the service has stopped.
  std::atomic<Phase> phase{Phase::kStarting};
  const auto started_at = std::chrono::steady_clock::now();
  AdminServer::Handlers handlers;
  handlers.health = [&] {
    nlohmann::json body = service->Health();
    body["status"] = body.value("status", "ok");
    body["service"] = name;
    body["instance"] = config->instance_id;
    body["phase"] = PhaseName(phase.load());
    body["uptime_seconds"] = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::steady_clock::now() - started_at)
                                 .count();
    return body;
  };
  handlers.ready = [&] {
    const Phase p = phase.load();
    Readiness r;
    r.Check("lifecycle", p == Phase::kRunning, PhaseName(p));
    if (p != Phase::kRunning) return r;
    Readiness own = service->Ready();
    for (auto& [check, value] : own.checks.items()) r.checks[check] = value;
    r.ready = r.ready && own.ready;
    return r;
  };
  handlers.metrics = [registry] { return SerializeMetrics(*registry); };
  AdminServer admin(settings->admin_host, settings->admin_port, std::move(handlers));
  if (Status st = admin.Start(); !st.ok()) {
    Log(*logger, spdlog::level::critical, "cannot start", {{"error", st.ToString()}});
    return 1;
  }
  if (!settings->admin_port_file.empty()) {
    if (Status st = WriteFileAtomically(settings->admin_port_file, std::to_string(admin.port()));
        !st.ok()) {
      Log(*logger, spdlog::level::critical, "cannot write JOBSCHED_ADMIN_PORT_FILE",
          {{"error", st.ToString()}});
      return 1;
    }
  }

  if (Status st = service->Start(); !st.ok()) {
    Log(*logger, spdlog::level::critical, "cannot start", {{"error", st.ToString()}});
    phase = Phase::kStopping;
    service->Stop();
    return 1;
  }
  phase = Phase::kRunning;
  Log(*logger, spdlog::level::info, "running",
      {{"instance", config->instance_id},
       {"brokers", config->kafka_brokers},
       {"admin", settings->admin_host + ":" + std::to_string(admin.port())},
       {"session_timeout_ms", std::to_string(config->session_timeout_ms)},
       {"group_instance_id", config->group_instance_id}});
  const int sig = WaitForStopSignal();
  phase = Phase::kStopping;
  Log(*logger, spdlog::level::info, "stopping",
      {{"signal", strsignal(sig)},
       {"stop_timeout_ms", std::to_string(settings->stop_timeout.count())}});
  {
    StopWatchdog watchdog(settings->stop_timeout, logger);
    service->Stop();
  }
  admin.Stop();
  Log(*logger, spdlog::level::info, "stopped");
  return 0;
}

}  // namespace jobsched::services
