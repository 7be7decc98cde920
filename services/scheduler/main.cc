// jobsched-scheduler: decides when runs are due, retries, and job outcomes.
#include "services/scheduler/scheduler.h"

int main(int argc, char** argv) {
  using namespace jobsched;  // NOLINT(build/namespaces): main only
  return services::ServiceMain(argc, argv, {"scheduler", &scheduler::MakeScheduler});
}
