// The API as a service: its factory for services::ServiceMain. Environment
// (besides services/common/config.h):
//   JOBSCHED_API_PORT       port to listen on (default 8080; 0 = any free port, logged)
//   JOBSCHED_API_THREADS    HTTP I/O threads (default 2)
//   JOBSCHED_API_PORT_FILE  if set, the bound port is written there once serving (for tests)
//   JOBSCHED_EXECUTOR_TIMEOUT_MS  executors not heard for this long are STALE (default 30000)
//   JOBSCHED_API_APPEND_TIMEOUT_MS  a write Kafka has not confirmed by then answers 503
//                           append_unconfirmed (default 5000)
#pragma once

#include <memory>

#include "events/status.h"
#include "services/common/service_main.h"

namespace jobsched::api {

Result<std::unique_ptr<services::Service>> MakeApi(services::ServiceContext& context);

}  // namespace jobsched::api
