#include "services/common/metrics.h"

#include <prometheus/text_serializer.h>

#include <chrono>

namespace jobsched::services {

std::string SerializeMetrics(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
      1,     2.5,    5,     10,   30,    60,   120, 300,  600};
  return kBuckets;
}

void RegisterServiceInfo(prometheus::Registry& registry, const std::string& service,
                         const std::string& instance) {
  prometheus::BuildGauge()
      .Name("jobsched_service_info")
      .Help("Always 1; labels name the service and its instance")
      .Register(registry)
      .Add({{"service", service}, {"instance", instance}})
      .Set(1);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  prometheus::BuildGauge()
      .Name("jobsched_service_start_time_seconds")
      .Help("When the process started, in seconds since the Unix epoch")
      .Register(registry)
      .Add({})
      .Set(now);
}

}  // namespace jobsched::services
