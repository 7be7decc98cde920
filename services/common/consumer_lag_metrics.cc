#include "services/common/consumer_lag_metrics.h"

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace jobsched::services {
namespace {

class ConsumerLagMetrics final : public events::ConsumerLagSink {
 public:
  explicit ConsumerLagMetrics(prometheus::Registry& registry)
      : family_(prometheus::BuildGauge()
                    .Name("jobsched_kafka_consumer_lag")
                    .Help("Records between a consumer group member's position and the "
                          "partition's high watermark (as of its last fetch)")
                    .Register(registry)) {}

  // Called about once a second per partition: a map lookup under a lock is
  // cheap at that rate.
  void Report(const std::string& group, const events::TopicPartition& tp,
              int64_t records) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, added] = gauges_.try_emplace(Key{group, tp.topic, tp.partition}, nullptr);
    if (added) {
      it->second = &family_.Add(
          {{"group", group}, {"topic", tp.topic}, {"partition", std::to_string(tp.partition)}});
    }
    it->second->Set(static_cast<double>(records));
  }

  void Forget(const std::string& group, const events::TopicPartition& tp) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = gauges_.find(Key{group, tp.topic, tp.partition});
    if (it == gauges_.end()) return;
    family_.Remove(it->second);
    gauges_.erase(it);
  }

 private:
  using Key = std::tuple<std::string, std::string, int32_t>;
  prometheus::Family<prometheus::Gauge>& family_;
  std::mutex mu_;
  std::map<Key, prometheus::Gauge*> gauges_;  // guarded by mu_
};

}  // namespace

std::shared_ptr<events::ConsumerLagSink> MakeConsumerLagMetrics(prometheus::Registry& registry) {
  return std::make_shared<ConsumerLagMetrics>(registry);
}

}  // namespace jobsched::services
