// jobsched_kafka_consumer_lag on the dev broker: a consumer-group member of
// KafkaEventLog reports, per assigned partition, the records between what it
// returned and the high watermark; the series follow its polls and vanish
// when it closes. Consumers without a group report nothing.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <map>
#include <string>

#include "events/kafka_event_log.h"
#include "services/common/consumer_lag_metrics.h"
#include "services/common/metrics.h"
#include "tests/support/devbroker.h"
#include "tests/support/wait.h"

namespace jobsched {
namespace {

using std::chrono::milliseconds;

constexpr char kTopic[] = "lag-test";
constexpr char kGroup[] = "lag-test-group";

// The gauge of `partition`, or -1 if there is no such series.
double Lag(prometheus::Registry& registry, const std::string& group, int partition) {
  for (const auto& family : registry.Collect()) {
    if (family.name != "jobsched_kafka_consumer_lag") continue;
    for (const auto& m : family.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : m.label) labels[l.name] = l.value;
      if (labels == std::map<std::string, std::string>{{"group", group},
                                                       {"topic", kTopic},
                                                       {"partition", std::to_string(partition)}}) {
        return m.gauge.value;
      }
    }
  }
  return -1;
}

class ConsumerLagTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<testing::ScopedDevBroker>(testing::TopicList{{kTopic, 2}});
    auto log = events::KafkaEventLog::Make({broker_->bootstrap(), {}});
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
    log_->SetConsumerLagSink(services::MakeConsumerLagMetrics(registry_));
    auto producer = log_->NewProducer("lag-test");
    ASSERT_TRUE(producer.ok());
    std::vector<events::Record> records;
    for (int i = 0; i < 10; ++i) {
      events::Record r{kTopic, "k" + std::to_string(i), "v"};
      r.partition = 0;
      records.push_back(std::move(r));
    }
    ASSERT_TRUE(producer.value()->Append(std::move(records)).ok());
  }

  prometheus::Registry registry_;
  std::unique_ptr<testing::ScopedDevBroker> broker_;
  std::unique_ptr<events::KafkaEventLog> log_;
};

TEST_F(ConsumerLagTest, GroupMemberReportsRecordsLeftPerPartitionAndForgetsOnClose) {
  events::ConsumerOptions o;
  o.group_id = kGroup;
  o.topics = {kTopic};
  o.client_id = "lag-test-consumer";
  auto consumer = log_->NewConsumer(o);
  ASSERT_TRUE(consumer.ok());
  // Take 4 of partition 0's 10 records, one at a time.
  size_t taken = 0;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        taken += consumer.value()->Poll(1, milliseconds(100)).size();
        return taken == 4;
      },
      milliseconds(30'000)));
  // Idle polls take nothing more but keep reporting (once a second).
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        consumer.value()->Poll(0, milliseconds(100));
        return Lag(registry_, kGroup, 0) == 6;
      },
      milliseconds(10'000)))
      << services::SerializeMetrics(registry_);

  // Read the rest: the lag falls to 0.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        taken += consumer.value()->Poll(100, milliseconds(100)).size();
        return taken == 10 && Lag(registry_, kGroup, 0) == 0;
      },
      milliseconds(10'000)))
      << services::SerializeMetrics(registry_);

  // Partition 1 never had a record: nothing to consume, nothing behind.
  EXPECT_EQ(Lag(registry_, kGroup, 1), 0) << services::SerializeMetrics(registry_);

  consumer.value()->Close();
  EXPECT_EQ(Lag(registry_, kGroup, 0), -1) << "the series outlived the consumer";
  EXPECT_EQ(Lag(registry_, kGroup, 1), -1);
}

TEST_F(ConsumerLagTest, ConsumersWithoutGroupReportNothing) {
  events::ConsumerOptions o;
  o.topics = {kTopic};
  o.client_id = "lag-test-reader";
  auto consumer = log_->NewConsumer(o);
  ASSERT_TRUE(consumer.ok());
  size_t taken = 0;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        taken += consumer.value()->Poll(100, milliseconds(100)).size();
        return taken == 10;
      },
      milliseconds(30'000)));
  consumer.value()->Poll(0, milliseconds(1100));  // past a report interval
  EXPECT_EQ(services::SerializeMetrics(registry_).find("jobsched_kafka_consumer_lag{"),
            std::string::npos);
}

}  // namespace
}  // namespace jobsched
