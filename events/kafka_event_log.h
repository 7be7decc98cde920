// KafkaEventLog: the EventLog on any Kafka-protocol cluster (a real cluster
// or the dev broker), through librdkafka's C++ API. The only code in events/
// that does I/O or logs; nothing of librdkafka leaks out of this header.
// librdkafka's logs and errors go to the spdlog logger "kafka": the
// application's if it registered one before first use, else a clone of the
// default logger (same sinks and pattern).
//
// What the contract relies on, always set (KafkaConfig::extra cannot change it):
//  - producers: enable.idempotence=true, acks=all, partitioner=murmur2_random
//    (a key's partition is PartitionForKey(key, n), as in MemoryEventLog and
//    the Java client; an empty key goes to a random partition);
//  - consumers: enable.auto.commit=false, enable.auto.offset.store=false,
//    auto.offset.reset=earliest, partition.assignment.strategy=range (eager:
//    every rebalance revokes the whole assignment, then assigns anew).
// Tunables with defaults that `extra` may override: linger.ms=0,
// compression.type=lz4 (none if this librdkafka lacks lz4),
// message.max.bytes / fetch.message.max.bytes=8 MiB, session.timeout.ms and
// heartbeat.interval.ms (KafkaConfig), fetch.wait.max.ms per FetchProfile
// (KafkaConfig: 2 ms on the hot path, 100 ms for bulk readers),
// allow.auto.create.topics=true (like the dev broker, an unknown topic is
// created with the broker's default partition count when first used).
//
// How long a group's partitions stand still after a member dies, measured on
// the dev broker (librdkafka 2.0.2's mock) with session timeout S: a member
// killed and restarted at once gets them back after ~2S - 1 s (the mock
// keeps the dead member until S passes without heartbeats, elects the new
// one S - 1 s after it joins, and an election that still counts the dead
// member must be redone); a surviving member takes a killed peer's
// partitions after ~2S - 0.5 s; a graceful Close() (LeaveGroup) lets a
// restarted member in after ~S - 1 s. A group with no members waits 3 s
// before its first assignment. The mock ignores group.instance.id.
// tests/bench/rejoin_bench.cc (jobsched-bench-rejoin) measures these figures.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "events/event_log.h"
#include "events/status.h"

namespace jobsched::events {

struct KafkaConfig {
  std::string brokers;  // bootstrap.servers, "host:port[,host:port...]"
  // librdkafka properties passed as-is to every client this log creates
  // (e.g. security.protocol, sasl.username, statistics.interval.ms).
  std::map<std::string, std::string> extra;
  // Consumer-group members only (ConsumerOptions.group_id set); `extra` may
  // override the first two. A real broker accepts a session timeout only
  // within its group.min/max.session.timeout.ms (6 s to 30 min by default).
  int session_timeout_ms = 6000;
  int heartbeat_interval_ms = 500;
  // KIP-345 static membership: a restarted member that rejoins with the same
  // group.instance.id within the session timeout takes its partitions back
  // without a rebalance (on a real broker, 2.3+; the dev broker ignores it).
  // A static member does not leave the group when it closes. "" = dynamic
  // membership. The n-th consumer of a group this log creates gets
  // "<id>-<n>" (n >= 2), so a process's own consumers never fence each other;
  // two processes must not share an id in one group (the broker fences one).
  std::string group_instance_id{};  // {}: brace-initialized configs need not name it
  // fetch.wait.max.ms per FetchProfile (`extra` overrides both). A real
  // broker answers a fetch as soon as a record arrives, so a long wait costs
  // no latency there; the dev broker holds an empty fetch for the whole wait,
  // so on it this trades the hot path's latency against its idle CPU
  // (README, "Kafka client settings").
  int latency_fetch_wait_ms = 2;
  int bulk_fetch_wait_ms = 100;
};

// Thread-safe. Producers and consumers it creates are independent clients
// (each its own librdkafka handle and connections) and may outlive it.
//
// KafkaEventLog producer: thread-safe. One librdkafka producer plus one
// thread of ours that serves delivery reports: AppendAsync callbacks run
// there (also for records that fail before reaching librdkafka), so a slow
// callback delays the other acknowledgements. Callbacks must not throw and
// must not call Append (AppendAsync is fine). A full local queue makes
// AppendAsync wait for room; records are never dropped. The destructor
// flushes for up to 10 s, then fails what is left (every callback runs exactly
// once).
//
// KafkaEventLog consumer: not thread-safe (one thread polls, commits and
// closes). The RebalanceListener runs inside Poll and Close. Poll(0, t) takes
// no records but still runs rebalances and keeps the group membership alive
// (for a caller that is busy): it pauses fetching until the next Poll that
// asks for records. A consumer with no group_id is assigned every partition of
// its topics (from metadata) on its first Poll; librdkafka needs a group.id
// anyway, so it gets a throwaway one and never commits.
class KafkaEventLog : public EventLog {
 public:
  // Fails with kInvalidArgument (librdkafka's message) for an empty broker
  // list or any property librdkafka rejects. Does not wait for the cluster.
  static Result<std::unique_ptr<KafkaEventLog>> Make(KafkaConfig config);
  ~KafkaEventLog() override;
  KafkaEventLog(const KafkaEventLog&) = delete;
  KafkaEventLog& operator=(const KafkaEventLog&) = delete;

  Result<std::unique_ptr<Producer>> NewProducer(const std::string& client_id) override;
  Result<std::unique_ptr<Consumer>> NewConsumer(const ConsumerOptions& options) override;
  // Group members report, from their Poll, at most once a second: position
  // and high watermark are librdkafka's local state (no broker round trip).
  void SetConsumerLagSink(std::shared_ptr<ConsumerLagSink> sink) override;
  // From cluster metadata (waits up to 10 s). An unknown topic is created
  // with the broker's default partition count (4 on the dev broker).
  Result<int> PartitionCount(const std::string& topic) override;

 private:
  struct Impl;
  explicit KafkaEventLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace jobsched::events
