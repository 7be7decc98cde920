#include "services/common/service_main.h"

#include <cstdio>
#include <csignal>

#include "services/common/logging.h"
#include "services/common/runtime.h"

namespace jobsched::services {

int ServiceMain(const char* name, const ServiceFactory& factory) {
  BlockStopSignals();
  auto config = ServiceConfig::FromEnv(name);
  if (!config.ok()) {
    std::fprintf(stderr, "jobsched-%s: %s\n", name, config.status().message().c_str());
    return 2;
  }
  InitLogging(config.value());
  auto logger = GetLogger(name);
  auto log = MakeEventLog(config.value());
  if (!log.ok()) {
    logger->critical("cannot create the event log: {}", log.status().ToString());
    return 1;
  }
  auto service = factory(config.value(), *log.value());
  Status st = service.ok() ? service.value()->Start() : service.status();
  if (!st.ok()) {
    logger->critical("cannot start: {}", st.ToString());
    return 1;
  }
  Log(*logger, spdlog::level::info, "running",
      {{"instance", config->instance_id},
       {"brokers", config->kafka_brokers},
       {"session_timeout_ms", std::to_string(config->session_timeout_ms)},
       {"group_instance_id", config->group_instance_id}});
  int sig = WaitForStopSignal();
  Log(*logger, spdlog::level::info, "stopping", {{"signal", strsignal(sig)}});
  service.value()->Stop();
  return 0;
}

}  // namespace jobsched::services
