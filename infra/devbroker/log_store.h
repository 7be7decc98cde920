// The dev broker's durable copy of its log (--data-dir DIR), so that the dev
// stack survives its own restart.
//
// The mock cluster keeps its log in memory only. A LogArchiver reads every
// partition of every topic the broker created (a consumer without a group,
// from where the stored copy ends) and appends each record to
// DIR/<topic>/<partition>.log; RestoreLog re-produces those files into a new
// mock cluster, each record to its partition at its stored offset, before any
// client may connect. GroupOffsets does the same for the committed offsets
// of the consumer groups the broker is told about (the mock has no
// ListGroups), in DIR/groups.
//
// Files (little-endian, dev only, not a stable format):
//  - DIR/topics: "NAME PARTITIONS" per line, the topics the log holds.
//  - DIR/<topic>/<partition>.log: frames of u32 length + record: i64 offset,
//    i64 timestamp (CreateTime, ms), i32 key length (-1: null) + key, i32
//    value length (-1: null) + value, u32 header count, then per header u32
//    name length + name, i32 value length (-1: null) + value. A frame cut
//    short by a kill -9 is cut off on the next start.
//  - DIR/groups: "GROUP TOPIC PARTITION OFFSET" per line (rewritten whole).
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace jobsched::devbroker {

using TopicList = std::vector<std::pair<std::string, int>>;  // name, partitions
using TopicPartition = std::pair<std::string, int32_t>;
using OffsetMap = std::map<TopicPartition, int64_t>;

// The topics stored in `dir` (empty when it holds no log yet).
TopicList ReadStoredTopics(const std::string& dir);
// Records the topics the log holds (merged with those already stored).
void WriteStoredTopics(const std::string& dir, const TopicList& topics);

struct RestoreResult {
  int64_t records = 0;
  int partitions = 0;  // partitions with at least one record
  OffsetMap next_offsets;  // per stored partition: the offset after its last record
};

// Produces every stored record of `topics` to the cluster at `bootstraps`, in
// order, to its partition with its key, value, headers and timestamp, and
// checks that each lands at its stored offset. The topics must exist and be
// empty. Cuts off a frame torn by a crash. Throws std::runtime_error on any
// failure (a record at another offset included).
RestoreResult RestoreLog(const std::string& dir, const std::string& bootstraps,
                         const TopicList& topics);

// Appends every record of `topics` to the stored files, from `start` (the
// offsets after the stored records; 0 for a partition not listed) on, in a
// thread of its own. Files are flushed every 100 ms (what a kill -9 of the
// broker may lose) and fdatasync'ed every second.
class LogArchiver {
 public:
  LogArchiver(std::string dir, const std::string& bootstraps, const TopicList& topics,
              const OffsetMap& start);
  ~LogArchiver();  // stops without draining
  LogArchiver(const LogArchiver&) = delete;
  LogArchiver& operator=(const LogArchiver&) = delete;

  // Waits until every partition is stored up to its high watermark as of now
  // (or `timeout`), then stops, flushes and syncs. Returns false (having
  // logged what is missing) when the timeout came first.
  bool DrainAndStop(std::chrono::milliseconds timeout);
  int64_t stored_records() const;

 private:
  struct File {
    std::FILE* f = nullptr;
    bool dirty = false;
  };
  void Run();
  void Append(const rd_kafka_message_t* m);
  void Flush(bool sync);
  void StopThread();

  std::string dir_;
  TopicList topics_;
  rd_kafka_t* rk_ = nullptr;
  std::map<TopicPartition, File> files_;  // reader thread only, after construction
  mutable std::mutex mu_;
  std::condition_variable cv_;
  OffsetMap next_;  // the offset after the last stored record, per partition
  int64_t stored_ = 0;
  bool stop_ = false;
  bool failed_ = false;
  std::thread thread_;
};

// The committed offsets of a known set of consumer groups, kept in DIR/groups.
class GroupOffsets {
 public:
  // Loads DIR/groups; `groups` are fetched on top of the groups stored there.
  GroupOffsets(std::string dir, const std::string& bootstraps, const TopicList& topics,
               const std::vector<std::string>& groups);
  ~GroupOffsets();
  GroupOffsets(const GroupOffsets&) = delete;
  GroupOffsets& operator=(const GroupOffsets&) = delete;

  // Commits the stored offsets back (each at most `high`, the restored log's
  // end, of its partition). Returns the number of groups. Throws on failure.
  int CommitStored(const OffsetMap& high);
  // Fetches every known group's committed offsets and rewrites DIR/groups when
  // they changed. Logs and keeps the stored ones on failure.
  void Fetch();

 private:
  rd_kafka_t* ConsumerFor(const std::string& group);
  void Write();

  std::string dir_;
  std::string bootstraps_;
  TopicList topics_;
  std::set<std::string> groups_;
  std::map<std::string, OffsetMap> offsets_;  // group -> committed offsets
  std::map<std::string, rd_kafka_t*> consumers_;
};

}  // namespace jobsched::devbroker
