// jobsched-dispatcher: decides where and in what order due runs execute.
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
        options.instance_id = config.instance_id;
        options.topics = config.topics();
        options.state = *state;
        return std::unique_ptr<services::Service>(
            new dispatcher::Dispatcher(options, log, SystemClock::Instance()));
      });
}
