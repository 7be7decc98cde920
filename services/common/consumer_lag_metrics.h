// jobsched_kafka_consumer_lag{group, topic, partition}: the lag every
// consumer-group member of the process reports (events::ConsumerLagSink),
// as Prometheus gauges. ServiceMain hands one to the event log, so every
// service's consumers are covered; a partition's series disappears when its
// consumer loses it.
#pragma once

#include <memory>

#include "events/event_log.h"

namespace prometheus {
class Registry;
}

namespace jobsched::services {

// A sink whose gauges live in `registry`, which must outlive it.
std::shared_ptr<events::ConsumerLagSink> MakeConsumerLagMetrics(prometheus::Registry& registry);

}  // namespace jobsched::services
