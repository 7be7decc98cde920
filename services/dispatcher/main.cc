// jobsched-dispatcher: decides where and in what order due runs execute.
//   JOBSCHED_EXECUTOR_TIMEOUT_MS    an executor not heard for this long is STALE and its
//                                   runs are lost (default 30000)
//   JOBSCHED_PRIORITY_AGING_MS      waiting this long counts as one priority step (60000)
//   JOBSCHED_RUN_TIMEOUT_GRACE_MS   RunTimedOut after a run's timeout plus this (30000)
//   JOBSCHED_EXECUTOR_DEFAULT_TIMEOUT_S  the timeout of runs with timeout_seconds 0 (3600)
//   JOBSCHED_DISPATCH_PREFETCH      runs offered per executor slot, running plus queued
//                                   on the executor (default 4; 1: none queued there)
#include "services/common/service_main.h"
#include "services/dispatcher/dispatcher.h"

int main() {
  using namespace jobsched;
  return services::ServiceMain(
      "dispatcher", [](const services::ServiceConfig& config, events::EventLog& log)
                        -> Result<std::unique_ptr<services::Service>> {
        auto state = services::StateSettings::FromEnv();
        if (!state.ok()) return state.status();
        dispatcher::DispatcherOptions options;
        auto millis = [](const char* name, Millis def, int64_t min) -> Result<Millis> {
          auto v = services::EnvInt(name, def.count(), min, 86'400'000);
          if (!v.ok()) return v.status();
          return Millis(*v);
        };
        auto executor_timeout =
            millis("JOBSCHED_EXECUTOR_TIMEOUT_MS", options.executor_timeout, 100);
        if (!executor_timeout.ok()) return executor_timeout.status();
        auto aging = millis("JOBSCHED_PRIORITY_AGING_MS", options.priority_aging, 1);
        if (!aging.ok()) return aging.status();
        auto grace = millis("JOBSCHED_RUN_TIMEOUT_GRACE_MS", options.run_timeout_grace, 0);
        if (!grace.ok()) return grace.status();
        auto default_timeout = services::EnvInt("JOBSCHED_EXECUTOR_DEFAULT_TIMEOUT_S", 3600, 1,
                                                86'400 * 7);
        if (!default_timeout.ok()) return default_timeout.status();
        auto prefetch = services::EnvInt("JOBSCHED_DISPATCH_PREFETCH", options.prefetch, 1, 1000);
        if (!prefetch.ok()) return prefetch.status();
        options.instance_id = config.instance_id;
        options.topics = config.topics();
        options.state = *state;
        options.executor_timeout = *executor_timeout;
        options.priority_aging = *aging;
        options.run_timeout_grace = *grace;
        options.default_run_timeout = Millis(*default_timeout * 1000);
        options.prefetch = static_cast<int>(*prefetch);
        return std::unique_ptr<services::Service>(
            new dispatcher::Dispatcher(options, log, SystemClock::Instance()));
      });
}
