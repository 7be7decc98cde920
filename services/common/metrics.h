// Prometheus metrics (prometheus-cpp). ServiceMain owns one registry per
// process, hands it to the service's factory (ServiceContext::metrics) and
// serves it on the admin port's /metrics. Names follow Prometheus's
// conventions: jobsched_<area>_<what>_<unit>, counters end in _total,
// durations are in seconds; the README lists every metric.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

namespace jobsched::services {

// The registry's text exposition (format 0.0.4).
std::string SerializeMetrics(prometheus::Registry& registry);

// Buckets for durations from 1 ms to ~10 min, shared so dashboards can put
// the services' histograms side by side.
const prometheus::Histogram::BucketBoundaries& DurationBuckets();

// Registers jobsched_service_info{service, instance} = 1 and
// jobsched_service_start_time_seconds.
void RegisterServiceInfo(prometheus::Registry& registry, const std::string& service,
                         const std::string& instance);

}  // namespace jobsched::services
