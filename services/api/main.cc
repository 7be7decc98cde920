// jobsched-api: the HTTP API (configuration: services/api/api_service.h).
#include "services/api/api_service.h"

int main(int argc, char** argv) {
  using namespace jobsched;  // NOLINT(build/namespaces): main only
  return services::ServiceMain(argc, argv, {"api", &api::MakeApi});
}
