// jobsched-dispatcher: decides where and in what order due runs execute.
#include "services/common/service_main.h"
#include "services/dispatcher/dispatcher.h"

int main() {
  using namespace jobsched;
  return services::ServiceMain(
      "dispatcher", [](const services::ServiceConfig& config, events::EventLog& log)
                        -> Result<std::unique_ptr<services::Service>> {
        dispatcher::DispatcherOptions options;
        options.instance_id = config.instance_id;
        options.topics = config.topics();
        return std::unique_ptr<services::Service>(
            new dispatcher::Dispatcher(options, log, SystemClock::Instance()));
      });
}
