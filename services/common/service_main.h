// The shared main() of the Kafka-driven services: read the configuration,
// set up logging and the event log, start the service, run until SIGINT or
// SIGTERM, stop it. Each service's main.cc is one call to ServiceMain.
#pragma once

#include <functional>
#include <memory>

#include "events/event_log.h"
#include "services/common/config.h"

namespace jobsched::services {

// A long-running component with its own threads. Start may fail; Stop is
// idempotent and blocks until the threads are joined.
class Service {
 public:
  virtual ~Service() = default;
  virtual Status Start() = 0;
  virtual void Stop() = 0;
};

// Builds the service from the configuration and the event log (which
// outlives the service).
using ServiceFactory =
    std::function<Result<std::unique_ptr<Service>>(const ServiceConfig&, events::EventLog&)>;

// Returns the process exit code: 0 after a clean stop, 1 if the service could
// not start, 2 for a configuration error.
int ServiceMain(const char* name, const ServiceFactory& factory);

}  // namespace jobsched::services
