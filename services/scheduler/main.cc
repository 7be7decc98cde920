// jobsched-scheduler: decides when runs are due, retries, and job outcomes.
#include "services/common/service_main.h"
#include "services/scheduler/scheduler.h"

int main() {
  using namespace jobsched;
  return services::ServiceMain(
      "scheduler", [](const services::ServiceConfig& config, events::EventLog& log)
                       -> Result<std::unique_ptr<services::Service>> {
        scheduler::SchedulerOptions options;
        options.instance_id = config.instance_id;
        options.topics = config.topics();
        return std::unique_ptr<services::Service>(
            new scheduler::Scheduler(options, log, SystemClock::Instance()));
      });
}
