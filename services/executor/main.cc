// jobsched-executor: runs the jobs a dispatcher addresses to it on its
// partition of `run-tasks`. Configuration comes from the environment
// (services/common/config.h, and services/executor/application.h for
// JOBSCHED_EXECUTOR_ID / _SLOTS / _POOL / _RESOURCES / _DEFAULT_TIMEOUT_S /
// _STOP_GRACE_MS and JOBSCHED_HEARTBEAT_MS). On SIGINT / SIGTERM it stops
// taking work, lets running handlers finish for the stop grace, hands the
// rest back (RunReleased) and leaves.
#include "services/executor/application.h"

int main(int argc, char** argv) {
  using namespace jobsched;  // NOLINT(build/namespaces): main only
  return services::ServiceMain(argc, argv, {"executor", &executor::MakeExecutor});
}
