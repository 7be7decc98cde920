// jobsched-dispatcher: decides where and in what order due runs execute
// (configuration: services/dispatcher/dispatcher.h, MakeDispatcher).
#include "services/dispatcher/dispatcher.h"

int main(int argc, char** argv) {
  using namespace jobsched;  // NOLINT(build/namespaces): main only
  return services::ServiceMain(argc, argv, {"dispatcher", &dispatcher::MakeDispatcher});
}
