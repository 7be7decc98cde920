// jobsched-scheduler: decides when runs are due, retries, and job outcomes.
#include "services/common/service_main.h"
#include "services/scheduler/scheduler.h"

int main() {
  using namespace jobsched;
  return services::ServiceMain(
      "scheduler", [](const services::ServiceConfig& config, events::EventLog& log)
                       -> Result<std::unique_ptr<services::Service>> {
        auto state = services::StateSettings::FromEnv();
        if (!state.ok()) return state.status();
        auto grace = services::EnvInt("JOBSCHED_MISFIRE_GRACE_MS", 1000, 0, 86'400'000);
        if (!grace.ok()) return grace.status();
        scheduler::SchedulerOptions options;
        options.instance_id = config.instance_id;
        options.topics = config.topics();
        options.misfire_grace = Millis(*grace);
        options.state = *state;
        return std::unique_ptr<services::Service>(
            new scheduler::Scheduler(options, log, SystemClock::Instance()));
      });
}
