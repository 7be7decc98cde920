// SnapshotStore on both logs (in memory and the dev broker over TCP): the
// latest complete snapshot of a partition comes back whole, chunked or not,
// and a snapshot cut short by a crash never hides the one before it.
#include "services/common/snapshot_store.h"

#include <gtest/gtest.h>
#include <google/protobuf/util/message_differencer.h>

#include <memory>

#include "events/kafka_event_log.h"
#include "events/time.h"
#include "events/memory_event_log.h"
#include "services/common/logging.h"
#include "tests/support/devbroker.h"

namespace jobsched::services {
namespace {

using google::protobuf::util::MessageDifferencer;

constexpr char kTopic[] = "scheduler-snapshots";
constexpr int kPartitions = 4;

enum class Backend { kMemory, kKafka };

v1::PartitionSnapshot Snapshot(int32_t partition, int64_t next_offset, int jobs,
                               size_t payload_bytes = 10) {
  v1::PartitionSnapshot s;
  s.set_owner("scheduler");
  s.set_topic("job-events");
  s.set_partition(partition);
  s.set_next_offset(next_offset);
  s.set_writer("scheduler/test");
  *s.mutable_taken_at() = ToProto(FromUnixMillis(1'780'000'000'000 + next_offset));
  for (int i = 0; i < jobs; ++i) {
    v1::JobState* j = s.add_jobs();
    j->set_job_id("job-" + std::to_string(partition) + "-" + std::to_string(i));
    j->set_status(v1::JOB_STATUS_ACTIVE);
    j->mutable_spec()->set_payload_json(
        std::string(payload_bytes, static_cast<char>('a' + i % 26)));
  }
  return s;
}

class SnapshotStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kMemory) {
      auto memory = std::make_unique<events::MemoryEventLog>();
      ASSERT_TRUE(memory->CreateTopic(kTopic, kPartitions).ok());
      memory_ = memory.get();
      log_ = std::move(memory);
    } else {
      broker_ =
          std::make_unique<testing::ScopedDevBroker>(testing::TopicList{{kTopic, kPartitions}});
      auto kafka = events::KafkaEventLog::Make({broker_->bootstrap(), {}});
      ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
      log_ = std::move(kafka).value();
    }
    auto producer = log_->NewProducer("snapshot-test");
    ASSERT_TRUE(producer.ok());
    producer_ = std::move(producer).value();
    store_ = std::make_unique<SnapshotStore>(*log_, *producer_, kTopic, "scheduler",
                                             GetLogger("snapshot-test"));
  }

  std::optional<v1::PartitionSnapshot> Latest(int32_t partition) {
    auto r = store_->ReadLatest(partition);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value() : std::nullopt;
  }

  std::unique_ptr<testing::ScopedDevBroker> broker_;
  std::unique_ptr<events::EventLog> log_;
  events::MemoryEventLog* memory_ = nullptr;
  std::unique_ptr<events::Producer> producer_;
  std::unique_ptr<SnapshotStore> store_;
};

TEST_P(SnapshotStoreTest, NothingWrittenReadsAsNone) { EXPECT_FALSE(Latest(1).has_value()); }

TEST_P(SnapshotStoreTest, TheLatestSnapshotOfEachPartitionComesBackWhole) {
  ASSERT_TRUE(store_->Write(Snapshot(1, 100, 3)).ok());
  ASSERT_TRUE(store_->Write(Snapshot(2, 7, 1)).ok());
  ASSERT_TRUE(store_->Write(Snapshot(1, 250, 5)).ok());
  // Partition 5 of job-events shares snapshot partition 1 (5 % 4).
  ASSERT_TRUE(store_->Write(Snapshot(5, 9, 2)).ok());
  auto one = Latest(1);
  ASSERT_TRUE(one.has_value());
  EXPECT_TRUE(MessageDifferencer::Equals(*one, Snapshot(1, 250, 5))) << one->DebugString();
  auto two = Latest(2);
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(two->next_offset(), 7);
  auto five = Latest(5);
  ASSERT_TRUE(five.has_value());
  EXPECT_EQ(five->next_offset(), 9);
  EXPECT_FALSE(Latest(3).has_value());
}

TEST_P(SnapshotStoreTest, ABigSnapshotTravelsInChunks) {
  // 6 jobs of 200 KiB: about 1.2 MB, three chunks of at most 512 KiB.
  v1::PartitionSnapshot big = Snapshot(0, 12345, 6, 200 * 1024);
  auto written = store_->Write(big);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_GT(*written, 2 * SnapshotStore::kChunkBytes);
  auto back = Latest(0);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(MessageDifferencer::Equals(*back, big));
}

TEST_P(SnapshotStoreTest, ASnapshotCutShortLeavesThePreviousOneInForce) {
  v1::PartitionSnapshot complete = Snapshot(3, 500, 2);
  ASSERT_TRUE(store_->Write(complete).ok());
  // A writer died after the first of three chunks of its next snapshot.
  v1::PartitionSnapshot next = Snapshot(3, 900, 6, 200 * 1024);
  std::string bytes = next.SerializeAsString();
  v1::SnapshotChunk chunk;
  chunk.set_snapshot_id("dead-writer/3/900");
  chunk.set_partition(3);
  chunk.set_next_offset(900);
  chunk.set_index(0);
  chunk.set_count(3);
  chunk.set_data(bytes.substr(0, SnapshotStore::kChunkBytes));
  events::Record r;
  r.topic = kTopic;
  r.key = "scheduler/3";
  r.partition = 3;
  r.value = chunk.SerializeAsString();
  ASSERT_TRUE(producer_->Append({r}).ok());
  auto back = Latest(3);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->next_offset(), 500);
  // The next complete snapshot takes over again.
  ASSERT_TRUE(store_->Write(Snapshot(3, 1000, 1)).ok());
  EXPECT_EQ(Latest(3)->next_offset(), 1000);
}

INSTANTIATE_TEST_SUITE_P(Logs, SnapshotStoreTest,
                         ::testing::Values(Backend::kMemory, Backend::kKafka),
                         [](const auto& info) {
                           return info.param == Backend::kMemory ? "Memory" : "DevBroker";
                         });

}  // namespace
}  // namespace jobsched::services
