// The executor service's wiring: options from the environment, the built-in
// handlers and the Executor, behind services::Service so main() is one call
// to ServiceMain and integration tests can run the service in-process.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "events/event_log.h"
#include "events/status.h"
#include "events/time.h"
#include "services/common/config.h"
#include "services/common/service_main.h"
#include "services/executor/executor.h"
#include "services/executor/handlers.h"

namespace jobsched::executor {

// ExecutorOptions from the environment:
//   JOBSCHED_EXECUTOR_SLOTS              concurrent runs, 1..1024 (default 16)
//   JOBSCHED_EXECUTOR_ID                 executor id (default: config.instance_id); also
//                                        picks the run-tasks partition it reads
//   JOBSCHED_HEARTBEAT_MS                heartbeat interval, 10..600000 (default 1000)
//   JOBSCHED_EXECUTOR_POOL               the pool it serves (default "default")
//   JOBSCHED_EXECUTOR_RESOURCES          capacity, "name=amount,..." e.g.
//                                        "cpu=4,memory_mb=8192,gpu_units=1" (default: none)
//   JOBSCHED_EXECUTOR_DEFAULT_TIMEOUT_S  timeout of jobs with timeout_seconds 0,
//                                        1..31536000 (default 3600)
//   JOBSCHED_EXECUTOR_STOP_GRACE_MS      on SIGTERM, how long running handlers may
//                                        finish before they are cancelled and handed
//                                        back, 0..3600000 (default 10000)
// and the topics of `config`. Fails naming the malformed variable.
Result<ExecutorOptions> ExecutorOptionsFromEnv(const services::ServiceConfig& config);

// Parses "name=amount,..." (spaces around names and amounts allowed): names
// of letters, digits, '_', '-' and '.', each at most once; amounts finite
// decimal numbers >= 0. "" is no resources. Fails saying what is wrong.
Result<std::map<std::string, double>> ParseResources(std::string_view text);

// Start and Stop are called from one thread (Stop is idempotent and also runs
// on destruction).
class Application final : public services::Service {
 public:
  // An executor with the built-in handlers on `log` and `clock`, which are
  // not owned and must outlive the application.
  Application(ExecutorOptions options, events::EventLog& log,
              const Clock& clock = SystemClock::Instance());
  ~Application() override;
  Application(const Application&) = delete;
  Application& operator=(const Application&) = delete;

  Status Start() override;
  // Graceful: see Executor::Stop.
  void Stop() override;
  // Ready while its producer reaches a broker and it is taking tasks.
  services::Readiness Ready() override;
  // {"executor_id", "slots", "running", "held", "task_partition", "incarnation"}
  nlohmann::json Health() override;

 private:
  HandlerRegistry handlers_;  // declared before executor_, which refers to it
  Executor executor_;
};

// The service's factory (services::ServiceMain): options from
// ExecutorOptionsFromEnv(context.config).
Result<std::unique_ptr<services::Service>> MakeExecutor(services::ServiceContext& context);

}  // namespace jobsched::executor
