// jobsched-projector: folds `job-events` into the PostgreSQL tables the API
// reads (jobs, job_executions, job_logs, dead_letters) and the `executors`
// topic's heartbeats into `executors`, exactly once. Configuration comes
// from the environment (services/common/config.h, services/projector/
// application.h); stops gracefully on SIGINT / SIGTERM.
//
//   jobsched-projector                                 project, until stopped
//   jobsched-projector --rebuild [--from log|archive]  rebuild every projection, then exit
#include "services/projector/application.h"

int main(int argc, char** argv) {
  using namespace jobsched;  // NOLINT(build/namespaces): main only
  return services::ServiceMain(
      argc, argv, {"projector", &projector::MakeProjector, &projector::AddCommandLine});
}
