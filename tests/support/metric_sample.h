// Reading a prometheus-cpp registry in tests: the series with exactly the
// given labels, as the registry exposes it now.
#pragma once

#include <prometheus/registry.h>

#include <map>
#include <optional>
#include <string>

namespace jobsched::testing {

struct MetricSample {
  double value = 0;  // a counter's or gauge's value; a histogram's sample count
  double sum = 0;    // a histogram's sum
};

// The series `name` whose labels are exactly `labels`; nullopt if none.
inline std::optional<MetricSample> FindSample(prometheus::Registry& registry,
                                              const std::string& name,
                                              const std::map<std::string, std::string>& labels) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& m : family.metric) {
      std::map<std::string, std::string> have;
      for (const auto& label : m.label) have[label.name] = label.value;
      if (have != labels) continue;
      switch (family.type) {
        case prometheus::MetricType::Counter:
          return MetricSample{m.counter.value, 0};
        case prometheus::MetricType::Gauge:
          return MetricSample{m.gauge.value, 0};
        case prometheus::MetricType::Histogram:
          return MetricSample{static_cast<double>(m.histogram.sample_count),
                              m.histogram.sample_sum};
        default:
          return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

// FindSample's value, -1 when the series does not exist.
inline double MetricValue(prometheus::Registry& registry, const std::string& name,
                          const std::map<std::string, std::string>& labels) {
  auto s = FindSample(registry, name, labels);
  return s ? s->value : -1;
}

}  // namespace jobsched::testing
