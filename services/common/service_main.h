// One way to run a service. Each service exposes a factory from its own
// header (scheduler::MakeScheduler, ...) and its main.cc is one line:
//
//   int main(int argc, char** argv) {
//     return services::ServiceMain(argc, argv, {"scheduler", &scheduler::MakeScheduler});
//   }
//
// ServiceMain reads the configuration (a malformed setting stops the start
// with a message naming it), sets up logging, the event log and the metrics
// registry, serves the admin port (/health, /ready, /metrics), starts the
// service, runs until SIGINT or SIGTERM and stops it within a bound
// (JOBSCHED_STOP_TIMEOUT_MS): a stop that overruns it ends the process.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "events/event_log.h"
#include "events/time.h"
#include "services/common/admin_server.h"
#include "services/common/config.h"

namespace CLI {
class App;
}
namespace prometheus {
class Registry;
}

namespace jobsched::services {

// A long-running component with its own threads. Start may fail; Stop is
// idempotent and blocks until the threads are joined. Health and Ready are
// called from the admin port's thread, concurrently with the service's own.
class Service {
 public:
  virtual ~Service() = default;
  virtual Status Start() = 0;
  virtual void Stop() = 0;
  // What /health reports beside "status" (cheap; no waiting on the network).
  virtual nlohmann::json Health() { return nlohmann::json::object(); }
  // /ready: Kafka reachable, PostgreSQL reachable where used, own partitions
  // assigned and caught up. ServiceMain adds the lifecycle (started, not
  // stopping).
  virtual Readiness Ready() { return {}; }
};

// The admin port's settings: JOBSCHED_ADMIN_HOST (0.0.0.0),
// JOBSCHED_ADMIN_PORT (per service: api 9470, scheduler 9471, dispatcher
// 9472, executor 9473, projector 9474; 0 = any free port),
// JOBSCHED_ADMIN_PORT_FILE (the bound port is written there once serving),
// JOBSCHED_STOP_TIMEOUT_MS (30000).
struct ProcessSettings {
  std::string admin_host = "0.0.0.0";
  int admin_port = 0;
  std::string admin_port_file;
  Millis stop_timeout{30'000};

  static Result<ProcessSettings> FromEnv(const std::string& service);
};

// What a factory gets. Everything outlives the service.
struct ServiceContext {
  const ServiceConfig& config;
  const ProcessSettings& process;
  events::EventLog& log;
  prometheus::Registry& metrics;
  Clock& clock;
};

using ServiceFactory = std::function<Result<std::unique_ptr<Service>>(ServiceContext&)>;

// A command that runs instead of the service and returns the exit code (the
// projector's --rebuild).
using OneShot = std::function<int(const ServiceConfig&)>;

// Optional: adds a service's own command-line options to `cli`; a parse
// callback may set `*one_shot` to run a command instead of the service.
using CommandLine = std::function<void(CLI::App& cli, OneShot* one_shot)>;

struct ServiceDefinition {
  ServiceDefinition(std::string name, ServiceFactory make, CommandLine command_line = nullptr)
      : name(std::move(name)), make(std::move(make)), command_line(std::move(command_line)) {}

  std::string name;  // "scheduler": the binary is jobsched-<name>
  ServiceFactory make;
  CommandLine command_line;
};

// Returns the process exit code: 0 after a clean stop, 1 if the service could
// not start (or its stop overran the bound), 2 for a configuration or
// command-line error.
int ServiceMain(int argc, char** argv, const ServiceDefinition& definition);

}  // namespace jobsched::services
