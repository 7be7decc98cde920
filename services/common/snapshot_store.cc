#include "services/common/snapshot_store.h"

#include <chrono>
#include <map>
#include <set>

#include "events/envelope.h"
#include "services/common/logging.h"

namespace jobsched::services {
namespace {

using events::Record;
using events::TopicPartition;

constexpr auto kReadTimeout = std::chrono::seconds(10);

// Starts every assigned partition at a fixed offset.
class StartAt final : public events::RebalanceListener {
 public:
  explicit StartAt(std::map<TopicPartition, int64_t> starts) : starts_(std::move(starts)) {}
  std::map<TopicPartition, int64_t> OnAssigned(const std::vector<TopicPartition>&) override {
    return starts_;
  }
  void OnRevoked(const std::vector<TopicPartition>&) override {}

 private:
  std::map<TopicPartition, int64_t> starts_;
};

// The PartitionSnapshot the chunks [begin, end) of `chunks` carry, if they
// are one whole snapshot in order.
std::optional<v1::PartitionSnapshot> Assemble(const std::vector<v1::SnapshotChunk>& chunks,
                                              size_t begin, size_t end) {
  if (begin >= end) return std::nullopt;
  const v1::SnapshotChunk& first = chunks[begin];
  if (first.index() != 0 || static_cast<size_t>(first.count()) != end - begin) return std::nullopt;
  std::string bytes;
  for (size_t i = begin; i < end; ++i) {
    const v1::SnapshotChunk& c = chunks[i];
    if (c.snapshot_id() != first.snapshot_id() || c.index() != static_cast<int>(i - begin)) {
      return std::nullopt;
    }
    bytes += c.data();
  }
  v1::PartitionSnapshot snapshot;
  if (!snapshot.ParseFromString(bytes)) return std::nullopt;
  return snapshot;
}

}  // namespace

SnapshotStore::SnapshotStore(events::EventLog& log, events::Producer& producer, std::string topic,
                             std::string owner, std::shared_ptr<spdlog::logger> logger)
    : log_(log),
      producer_(producer),
      topic_(std::move(topic)),
      owner_(std::move(owner)),
      logger_(std::move(logger)) {}

Result<int32_t> SnapshotStore::SnapshotPartition(int32_t partition) {
  if (partition_count_ == 0) {
    auto count = log_.PartitionCount(topic_);
    if (!count.ok()) return count.status();
    partition_count_ = *count;
  }
  return partition % partition_count_;
}

Result<size_t> SnapshotStore::Write(const v1::PartitionSnapshot& snapshot) {
  auto target = SnapshotPartition(snapshot.partition());
  if (!target.ok()) return target.status();
  std::string bytes = snapshot.SerializeAsString();
  const size_t count = bytes.empty() ? 1 : (bytes.size() + kChunkBytes - 1) / kChunkBytes;
  const std::string id = snapshot.writer() + "/" + std::to_string(snapshot.partition()) + "/" +
                         std::to_string(snapshot.next_offset()) + "/" +
                         std::to_string(ToUnixMillis(FromProto(snapshot.taken_at())));
  std::vector<Record> records;
  records.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    v1::SnapshotChunk chunk;
    chunk.set_snapshot_id(id);
    chunk.set_partition(snapshot.partition());
    chunk.set_next_offset(snapshot.next_offset());
    chunk.set_index(static_cast<int32_t>(i));
    chunk.set_count(static_cast<int32_t>(count));
    chunk.set_data(bytes.substr(i * kChunkBytes, kChunkBytes));
    Record r;
    r.topic = topic_;
    r.key = owner_ + "/" + std::to_string(snapshot.partition());
    r.partition = *target;
    r.value = chunk.SerializeAsString();
    records.push_back(std::move(r));
  }
  if (Status st = producer_.Append(std::move(records)); !st.ok()) return st;
  return bytes.size();
}

Result<std::map<TopicPartition, events::Watermarks>> SnapshotStore::Watermarks(
    const std::set<TopicPartition>& tps) {
  events::ConsumerOptions opts;
  opts.topics = {topic_};
  opts.partitions.assign(tps.begin(), tps.end());
  opts.client_id = owner_ + "/snapshot-reader";
  auto consumer = log_.NewConsumer(opts);
  if (!consumer.ok()) return consumer.status();
  std::map<TopicPartition, events::Watermarks> out;
  for (const TopicPartition& tp : tps) {
    auto wm = consumer.value()->QueryWatermarks(tp, kReadTimeout);
    if (!wm.ok()) {
      consumer.value()->Close();
      return wm.status();
    }
    out[tp] = *wm;
  }
  consumer.value()->Close();
  return out;
}

Result<std::map<TopicPartition, std::vector<Record>>> SnapshotStore::ReadRanges(
    const std::map<TopicPartition, Range>& ranges) {
  std::map<TopicPartition, std::vector<Record>> out;
  if (ranges.empty()) return out;
  std::map<TopicPartition, int64_t> starts, next;
  for (const auto& [tp, range] : ranges) starts[tp] = next[tp] = range.from;
  StartAt start(starts);
  events::ConsumerOptions opts;
  opts.topics = {topic_};
  for (const auto& [tp, range] : ranges) opts.partitions.push_back(tp);
  opts.listener = &start;
  opts.client_id = owner_ + "/snapshot-reader";
  auto consumer = log_.NewConsumer(opts);
  if (!consumer.ok()) return consumer.status();
  const auto deadline = std::chrono::steady_clock::now() + kReadTimeout;
  auto unfinished = [&] {
    for (const auto& [tp, range] : ranges) {
      if (next[tp] < range.to) return true;
    }
    return false;
  };
  while (unfinished()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      consumer.value()->Close();
      return Status::Timeout("reading " + topic_ + " snapshots timed out");
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    for (Record& r : consumer.value()->Poll(1000, std::min(wait, std::chrono::milliseconds(200)))) {
      TopicPartition tp{r.topic, r.partition};
      auto range = ranges.find(tp);
      if (range == ranges.end() || r.offset < next[tp]) continue;
      next[tp] = r.offset + 1;  // compacted or truncated logs skip offsets
      if (r.offset < range->second.to) out[tp].push_back(std::move(r));
    }
  }
  consumer.value()->Close();
  return out;
}

Result<std::optional<v1::PartitionSnapshot>> SnapshotStore::ReadLatest(int32_t partition) {
  auto all = ReadLatest(std::vector<int32_t>{partition});
  if (!all.ok()) return all.status();
  auto it = all->find(partition);
  if (it == all->end()) return std::optional<v1::PartitionSnapshot>();
  return std::optional<v1::PartitionSnapshot>(std::move(it->second));
}

Result<std::map<int32_t, v1::PartitionSnapshot>> SnapshotStore::ReadLatest(
    const std::vector<int32_t>& partitions) {
  std::map<int32_t, v1::PartitionSnapshot> found;
  std::map<int32_t, TopicPartition> where;  // job-events partition -> its snapshot partition
  std::set<TopicPartition> tps;
  for (int32_t p : partitions) {
    auto target = SnapshotPartition(p);
    if (!target.ok()) return target.status();
    where[p] = {topic_, *target};
    tps.insert(where[p]);
  }
  auto wms = Watermarks(tps);
  if (!wms.ok()) return wms.status();

  // The chunks of job-events partition `p` among `records`, in order.
  auto decode = [](int32_t p, const std::vector<Record>& records) {
    std::vector<v1::SnapshotChunk> chunks;
    for (const Record& r : records) {
      v1::SnapshotChunk c;
      if (!c.ParseFromString(r.value) || c.partition() != p || c.count() < 1) continue;
      chunks.push_back(std::move(c));
    }
    return chunks;
  };

  // Fast path, every partition at once: the last record ends the latest
  // snapshot; then read the `count` records it needs.
  std::map<TopicPartition, Range> last;
  for (const auto& [tp, wm] : *wms) {
    if (wm.high > wm.low) last[tp] = {wm.high - 1, wm.high};
  }
  auto tails = ReadRanges(last);
  if (!tails.ok()) return tails.status();
  std::map<TopicPartition, Range> whole;
  for (const auto& [p, tp] : where) {
    auto chunks = decode(p, tails.value()[tp]);
    const events::Watermarks& wm = wms->at(tp);
    if (!chunks.empty() && chunks.back().index() == chunks.back().count() - 1 &&
        wm.high - chunks.back().count() >= wm.low) {
      whole[tp] = {wm.high - chunks.back().count(), wm.high};
    }
  }
  auto bodies = ReadRanges(whole);
  if (!bodies.ok()) return bodies.status();
  std::map<TopicPartition, Range> scan;
  for (const auto& [p, tp] : where) {
    auto chunks = decode(p, bodies.value()[tp]);
    if (auto s = Assemble(chunks, 0, chunks.size()); s && s->partition() == p) {
      found[p] = std::move(*s);
    } else if (wms->at(tp).high > wms->at(tp).low) {
      scan[tp] = {wms->at(tp).low, wms->at(tp).high};
    }
  }
  if (scan.empty()) return found;

  // Slow path: the latest complete snapshot anywhere in the partition.
  Log(*logger_, spdlog::level::warn, "latest snapshot record is incomplete; scanning",
      {{"topic", topic_}, {"partitions", std::to_string(scan.size())}});
  auto records = ReadRanges(scan);
  if (!records.ok()) return records.status();
  for (const auto& [p, tp] : where) {
    if (found.contains(p) || !scan.contains(tp)) continue;
    auto chunks = decode(p, records.value()[tp]);
    for (size_t end = 1; end <= chunks.size(); ++end) {
      const v1::SnapshotChunk& c = chunks[end - 1];
      if (c.index() != c.count() - 1 || end < static_cast<size_t>(c.count())) continue;
      if (auto s = Assemble(chunks, end - c.count(), end); s && s->partition() == p) {
        found[p] = std::move(*s);
      }
    }
  }
  return found;
}

}  // namespace jobsched::services
