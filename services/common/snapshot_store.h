// SnapshotStore: a scheduler's or dispatcher's per-partition state, kept in
// Kafka so that recovery needs nothing else: the latest snapshot of a
// partition, then the tail of the log from the offset it reflects.
//
// Layout: topic `<owner>-snapshots`, created with as many partitions as
// job-events; the snapshot of job-events partition p goes to partition
// p % count (key "<owner>/<p>"). A snapshot is a PartitionSnapshot split into
// SnapshotChunk records of at most kChunkBytes (under Kafka's default 1 MB
// message size), appended together in one batch. On real Kafka the topic may
// use cleanup.policy=delete with a short retention (an hour is plenty): only
// the latest complete snapshot is ever read.
//
// Reading: the partition's last record usually ends the latest snapshot, so
// the reader fetches the last record, then the `count` records it needs. If
// the tail is not a complete snapshot (a writer died mid-batch, or two
// writers interleaved during a rebalance) it scans the partition from its
// oldest record and takes the latest complete snapshot.
//
// Thread-compatible: one thread at a time (the owner's loop thread).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "events/event_log.h"
#include "events/status.h"
#include "jobsched/v1/state.pb.h"

namespace spdlog {
class logger;
}

namespace jobsched::services {

class SnapshotStore {
 public:
  static constexpr size_t kChunkBytes = 512 * 1024;

  // `producer` must outlive the store. `owner` names the service ("scheduler").
  SnapshotStore(events::EventLog& log, events::Producer& producer, std::string topic,
                std::string owner, std::shared_ptr<spdlog::logger> logger);

  // Appends `snapshot` (owner and writer filled in by the caller) and waits
  // for the acknowledgement. Returns the number of bytes written.
  Result<size_t> Write(const v1::PartitionSnapshot& snapshot);

  // The latest complete snapshot of job-events partition `partition`;
  // nullopt when there is none. Fails when the log cannot be read in time.
  Result<std::optional<v1::PartitionSnapshot>> ReadLatest(int32_t partition);
  // The same for several partitions at once (one reader for all: a member
  // assigned many partitions restores them in a few round trips); partitions
  // without a snapshot are left out.
  Result<std::map<int32_t, v1::PartitionSnapshot>> ReadLatest(
      const std::vector<int32_t>& partitions);

  const std::string& topic() const { return topic_; }

 private:
  struct Range {
    int64_t from = 0;
    int64_t to = 0;  // exclusive
  };
  Result<int32_t> SnapshotPartition(int32_t partition);
  // The records of each partition with offsets in its range, in order.
  Result<std::map<events::TopicPartition, std::vector<events::Record>>> ReadRanges(
      const std::map<events::TopicPartition, Range>& ranges);
  Result<std::map<events::TopicPartition, events::Watermarks>> Watermarks(
      const std::set<events::TopicPartition>& tps);

  events::EventLog& log_;
  events::Producer& producer_;
  const std::string topic_;
  const std::string owner_;
  std::shared_ptr<spdlog::logger> logger_;
  int32_t partition_count_ = 0;  // of topic_, once known
};

}  // namespace jobsched::services
