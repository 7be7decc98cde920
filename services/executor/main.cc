// jobsched-executor: runs the jobs handed out on `run-tasks`. Configuration
// comes from the environment (services/common/config.h and
// services/executor/application.h); stops gracefully on SIGINT / SIGTERM.
#include "services/common/service_main.h"
#include "services/executor/application.h"

int main() {
  return jobsched::services::ServiceMain("executor", &jobsched::executor::Application::Make);
}
