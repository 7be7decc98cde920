// The event log seen by services: append records, consume them in order per
// partition, commit progress. Two implementations: KafkaEventLog (librdkafka,
// any Kafka-protocol broker) and MemoryEventLog (in-process, for unit tests,
// with failure switches). Both pass tests/integration/event_log_contract_test.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "events/status.h"

namespace jobsched::events {

// Offsets with librdkafka's sentinel values.
inline constexpr int64_t kOffsetBeginning = -2;  // the oldest retained record
inline constexpr int64_t kOffsetEnd = -1;        // only records appended from now on
inline constexpr int64_t kOffsetCommitted = -1000;  // the group's committed offset, else Beginning

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

std::string ToString(const TopicPartition& tp);  // "job-events[3]"

struct Record {
  std::string topic;
  std::string key;
  std::string value;
  int32_t partition = -1;  // consumed: its partition; to append: -1 lets the key decide
  int64_t offset = -1;     // consumed / acknowledged: its offset
  int64_t timestamp_ms = 0;  // consumed: CreateTime
};

struct Watermarks {
  int64_t low = 0;   // oldest retained offset
  int64_t high = 0;  // offset the next appended record will get
};

// Appends records. Thread-safe.
class Producer {
 public:
  virtual ~Producer() = default;
  using Callback = std::function<void(const Status&, const Record&)>;

  // Enqueues `record`; `done` runs exactly once, on an internal thread, when
  // the log has acknowledged it (status ok, partition and offset set) or has
  // given up. Must not block for long: it holds up other acknowledgements.
  // A failure with kTimeout means the outcome is unknown: the record may have
  // been stored (it was sent, the acknowledgement was lost); any other error
  // code means it was not stored.
  virtual void AppendAsync(Record record, Callback done) = 0;

  // Appends all records and waits until every one is acknowledged. Records
  // with the same key keep their order. On error some may have been appended:
  // callers retry, and deterministic event ids make the retry harmless.
  virtual Status Append(std::vector<Record> records) = 0;

  // Whether the log can be reached now, as far as this producer knows: false
  // once it has lost every broker (or a probe of the cluster failed), true
  // again soon after a broker answers. Lets a caller that must answer quickly
  // fail fast instead of handing over a record that would wait for a broker.
  // A hint, not a promise: an append may still fail while this says true.
  // Cheap, any thread. The default (for producers that cannot tell) is true.
  virtual bool Reachable() const { return true; }
};

// Told about partition assignment changes. Called on the thread that calls
// Consumer::Poll, from inside Poll.
class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  // Returns where to start each newly assigned partition (an absolute offset
  // or one of the kOffset* sentinels); partitions left out start at
  // kOffsetCommitted.
  virtual std::map<TopicPartition, int64_t> OnAssigned(const std::vector<TopicPartition>& parts) = 0;
  virtual void OnRevoked(const std::vector<TopicPartition>& parts) = 0;
};

// What a consumer is tuned for. Hot-path readers (scheduler, dispatcher,
// executor) ask for each fetch to come back soon when nothing arrives, so a
// record waits little for its reader; bulk readers (projector, snapshots,
// heartbeats) for a long wait, which costs less CPU while idle.
enum class FetchProfile { kBulk, kLatency };

struct ConsumerOptions {
  // Group member: partitions of `topics` are balanced across the group's
  // members. Empty: no group, every partition of `topics` is assigned to this
  // consumer (readers of the `executors` topic, jobctl tail).
  std::string group_id;
  std::vector<std::string> topics;
  // No group only: assign just these partitions (of `topics`) instead of all.
  std::vector<TopicPartition> partitions;
  RebalanceListener* listener = nullptr;  // not owned; must outlive the consumer
  std::string client_id;
  FetchProfile profile = FetchProfile::kBulk;
};

// Reads records. Not thread-safe: one thread polls, commits and closes.
class Consumer {
 public:
  virtual ~Consumer() = default;

  // Returns up to `max_records` records, waiting up to `timeout` for the
  // first. Per partition, records come in offset order. Runs rebalance
  // callbacks. Errors that the client recovers from are logged, not returned.
  virtual std::vector<Record> Poll(size_t max_records, std::chrono::milliseconds timeout) = 0;

  // Synchronously commits "next offset to read" for each partition.
  virtual Status Commit(const std::map<TopicPartition, int64_t>& next_offsets) = 0;

  virtual Result<Watermarks> QueryWatermarks(const TopicPartition& tp,
                                             std::chrono::milliseconds timeout) = 0;
  // The watermarks of several partitions (a member that was just assigned
  // many needs them all before it can tell it caught up). Fails if any query
  // fails. This default asks one partition at a time.
  virtual Result<std::map<TopicPartition, Watermarks>> QueryWatermarks(
      const std::vector<TopicPartition>& tps, std::chrono::milliseconds timeout);

  virtual std::vector<TopicPartition> Assignment() = 0;

  // The watermarks of an assigned partition as this consumer last learned
  // them (fetch responses), without asking the broker: cheap enough to call
  // every second. Unknown (nothing fetched yet): an error. This default asks
  // QueryWatermarks with no wait, which suits logs where that is local.
  virtual Result<Watermarks> CachedWatermarks(const TopicPartition& tp) {
    return QueryWatermarks(tp, std::chrono::milliseconds(0));
  }

  // Leaves the group (revoking partitions through the listener). Idempotent.
  virtual void Close() = 0;
};

// Told how far behind each consumer-group member is, for metrics. Every
// consumer calls it from its own polling thread: implementations are
// thread-safe and cheap (no I/O).
class ConsumerLagSink {
 public:
  virtual ~ConsumerLagSink() = default;
  // `records`: how many records of `tp` lie between the consumer's position
  // (the next record it returns) and the partition's high watermark as the
  // consumer last fetched it.
  virtual void Report(const std::string& group, const TopicPartition& tp, int64_t records) = 0;
  // The consumer no longer holds `tp` (revoked, or the consumer closed).
  virtual void Forget(const std::string& group, const TopicPartition& tp) = 0;
};

// A log: a factory of producers and consumers bound to one cluster.
class EventLog {
 public:
  virtual ~EventLog() = default;
  // Consumers with a group_id created after this call report their lag to
  // `sink` (about once a second while they are polled, and Forget on
  // revocation and Close). A log that cannot tell ignores it (the default).
  virtual void SetConsumerLagSink(std::shared_ptr<ConsumerLagSink> sink) { (void)sink; }
  virtual Result<std::unique_ptr<Producer>> NewProducer(const std::string& client_id) = 0;
  virtual Result<std::unique_ptr<Consumer>> NewConsumer(const ConsumerOptions& options) = 0;
  virtual Result<int> PartitionCount(const std::string& topic) = 0;
};

}  // namespace jobsched::events
