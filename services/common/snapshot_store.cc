#include "services/common/snapshot_store.h"

#include <chrono>
#include <map>

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

Result<events::Watermarks> SnapshotStore::Watermarks(const TopicPartition& tp) {
  events::ConsumerOptions opts;
  opts.topics = {tp.topic};
  opts.partitions = {tp};
  opts.client_id = owner_ + "/snapshot-reader";
  auto consumer = log_.NewConsumer(opts);
  if (!consumer.ok()) return consumer.status();
  auto wm = consumer.value()->QueryWatermarks(tp, kReadTimeout);
  consumer.value()->Close();
  return wm;
}

Result<std::vector<Record>> SnapshotStore::ReadRange(const TopicPartition& tp, int64_t from,
                                                      int64_t to) {
  StartAt start({{tp, from}});
  events::ConsumerOptions opts;
  opts.topics = {tp.topic};
  opts.partitions = {tp};
  opts.listener = &start;
  opts.client_id = owner_ + "/snapshot-reader";
  auto consumer = log_.NewConsumer(opts);
  if (!consumer.ok()) return consumer.status();
  std::vector<Record> out;
  const auto deadline = std::chrono::steady_clock::now() + kReadTimeout;
  int64_t next = from;
  while (next < to) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      consumer.value()->Close();
      return Status::Timeout("reading " + events::ToString(tp) + " [" + std::to_string(from) +
                             ", " + std::to_string(to) + ") timed out at offset " +
                             std::to_string(next));
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    for (Record& r : consumer.value()->Poll(1000, std::min(wait, std::chrono::milliseconds(200)))) {
      if (r.offset < next) continue;
      next = r.offset + 1;  // compacted or truncated logs skip offsets
      if (r.offset < to) out.push_back(std::move(r));
    }
  }
  consumer.value()->Close();
  return out;
}

Result<std::optional<v1::PartitionSnapshot>> SnapshotStore::ReadLatest(int32_t partition) {
  auto target = SnapshotPartition(partition);
  if (!target.ok()) return target.status();
  const TopicPartition tp{topic_, *target};
  auto wm = Watermarks(tp);
  if (!wm.ok()) return wm.status();
  if (wm->high <= wm->low) return std::optional<v1::PartitionSnapshot>();

  auto decode = [&](const std::vector<Record>& records) {
    std::vector<v1::SnapshotChunk> chunks;
    for (const Record& r : records) {
      v1::SnapshotChunk c;
      if (!c.ParseFromString(r.value) || c.partition() != partition || c.count() < 1) continue;
      chunks.push_back(std::move(c));
    }
    return chunks;
  };
  auto valid = [&](const v1::PartitionSnapshot& s) { return s.partition() == partition; };

  // Fast path: the last record ends the latest snapshot.
  auto last = ReadRange(tp, wm->high - 1, wm->high);
  if (!last.ok()) return last.status();
  auto tail = decode(*last);
  if (!tail.empty() && tail.back().index() == tail.back().count() - 1 &&
      wm->high - tail.back().count() >= wm->low) {
    auto records = ReadRange(tp, wm->high - tail.back().count(), wm->high);
    if (!records.ok()) return records.status();
    auto chunks = decode(*records);
    if (auto s = Assemble(chunks, 0, chunks.size()); s && valid(*s)) {
      return std::optional<v1::PartitionSnapshot>(std::move(*s));
    }
  }

  // Slow path: the latest complete snapshot anywhere in the partition.
  Log(*logger_, spdlog::level::warn, "latest snapshot record is incomplete; scanning",
      {{"topic", topic_}, {"partition", std::to_string(partition)}});
  auto records = ReadRange(tp, wm->low, wm->high);
  if (!records.ok()) return records.status();
  auto chunks = decode(*records);
  std::optional<v1::PartitionSnapshot> best;
  for (size_t end = 1; end <= chunks.size(); ++end) {
    const v1::SnapshotChunk& c = chunks[end - 1];
    if (c.index() != c.count() - 1 || end < static_cast<size_t>(c.count())) continue;
    if (auto s = Assemble(chunks, end - c.count(), end); s && valid(*s)) best = std::move(s);
  }
  return best;
}

}  // namespace jobsched::services
