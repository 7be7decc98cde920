// MemoryEventLog: an in-process EventLog for unit tests, with failure
// switches a real broker cannot offer (fail the next appends, rewind a group,
// drop old records as retention would).
//
// It mirrors what services see from Kafka (tests/integration/
// event_log_contract_test runs the same suite against both):
//  - a record's partition is chosen by the same hash as Kafka's Java default
//    partitioner and librdkafka's `murmur2_random`, so a key lands in the same
//    partition under both logs;
//  - an unknown topic is created with 4 partitions on first use (append,
//    consumer subscription, PartitionCount), like the dev broker;
//  - consumer groups rebalance eagerly (every member revokes everything, then
//    the group's partitions are split range-style by join order), inside
//    Consumer::Poll, calling the RebalanceListener on the polling thread.
//    A rebalance completes once every live member has polled (and so revoked);
//    a member that does not poll within `rebalance_timeout` is evicted, like
//    Kafka's max.poll.interval.ms.
//  - offsets resolve like librdkafka with auto.offset.reset=earliest: an offset
//    outside [low, high] starts the partition at its low watermark.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/event_log.h"
#include "events/status.h"

namespace jobsched::events {

// Kafka's murmur2 (Java `Utils.murmur2`, librdkafka `rd_murmur2`) of `data`.
uint32_t Murmur2(std::string_view data);

// The partition Kafka's default partitioner picks for a non-empty `key`:
// (murmur2(key) & 0x7fffffff) % partition_count. `partition_count` > 0.
int32_t PartitionForKey(std::string_view key, int32_t partition_count);

struct MemoryEventLogOptions {
  // Partitions of a topic created on first use; 0 = unknown topics are an
  // error (kNotFound) instead.
  int auto_create_partitions = 4;
  // How long a group rebalance waits for a member to poll before evicting it.
  std::chrono::milliseconds rebalance_timeout{10000};
};

namespace internal {
class MemoryLogCore;
}  // namespace internal

// Thread-safe: every method may be called from any thread (one mutex guards
// all state). Producers and consumers it creates share that state and may
// outlive the MemoryEventLog object.
//
// Producer: an append is stored (and gets its offset) during the AppendAsync
// or Append call; AppendAsync's callback then runs on the producer's own
// callback thread (never inline on the caller's thread), in call order.
// Consumer: as the interface says, one thread per consumer; Poll blocks on a
// condition variable until records arrive, the group changes or the timeout.
// Poll(0, t) runs the group protocol without taking records.
class MemoryEventLog : public EventLog {
 public:
  explicit MemoryEventLog(MemoryEventLogOptions options = {});
  ~MemoryEventLog() override;
  MemoryEventLog(const MemoryEventLog&) = delete;
  MemoryEventLog& operator=(const MemoryEventLog&) = delete;

  Result<std::unique_ptr<Producer>> NewProducer(const std::string& client_id) override;
  // Fails with kInvalidArgument for an empty topic list or an empty topic
  // name; kNotFound for an unknown topic when auto-creation is off.
  Result<std::unique_ptr<Consumer>> NewConsumer(const ConsumerOptions& options) override;
  Result<int> PartitionCount(const std::string& topic) override;

  // Creates `name` with `partitions` (> 0). Ok if it already exists with that
  // many partitions; kConflict if it exists with another count (partitions
  // are never added).
  Status CreateTopic(const std::string& name, int partitions);

  // ---- Failure switches -------------------------------------------------
  // The next `n` appended records (each AppendAsync call, each element of an
  // Append vector) fail with `status` (kInternal if `status` is ok) and are
  // not stored. Replaces any earlier setting; n = 0 turns it off.
  void FailNextAppends(int n, Status status);

  // What every producer of this log answers to Producer::Reachable() (true
  // at first). Appends are stored as usual either way, so a test can tell
  // whether a caller that should have failed fast handed a record over.
  void SetReachable(bool reachable);

  // Simulates retention: drops every record of `tp` below `new_low` (clamped
  // to the high watermark). Consumers positioned below it continue at the new
  // low watermark (auto.offset.reset=earliest), as on Kafka.
  Status Truncate(const TopicPartition& tp, int64_t new_low);

  // Simulates redelivery: sets `group`'s committed offset of `tp` to `offset`
  // and moves the member that currently holds `tp` (if any) back to it, so
  // its next Poll returns those records again.
  Status RedeliverFrom(const std::string& group, const TopicPartition& tp, int64_t offset);

  // Forgets every committed offset of `group` (as if the group expired).
  void ResetCommitted(const std::string& group);

  // ---- Inspection (for assertions) ----------------------------------------
  // Every retained record of `tp`, in offset order.
  Result<std::vector<Record>> Read(const TopicPartition& tp) const;
  Result<Watermarks> GetWatermarks(const TopicPartition& tp) const;
  // `group`'s committed next offset for `tp`, if any.
  std::optional<int64_t> Committed(const std::string& group, const TopicPartition& tp) const;

 private:
  std::shared_ptr<internal::MemoryLogCore> core_;
};

}  // namespace jobsched::events
