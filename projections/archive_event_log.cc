#include "projections/archive_event_log.h"

#include <algorithm>
#include <thread>
#include <utility>

#include <pqxx/pqxx>

#include "projections/migrations.h"
#include "projections/pg_internal.h"

namespace jobsched::projections {
namespace {

using events::TopicPartition;

class ArchiveConsumer final : public events::Consumer {
 public:
  ArchiveConsumer(std::string database_url, std::string schema, std::string topic,
                  std::map<int32_t, ArchiveRange> ranges, events::RebalanceListener* listener,
                  LogSink log_sink)
      : database_url_(std::move(database_url)),
        schema_(std::move(schema)),
        topic_(std::move(topic)),
        ranges_(std::move(ranges)),
        listener_(listener),
        logger_("projector", std::move(log_sink)) {}

  ~ArchiveConsumer() override { Close(); }

  std::vector<events::Record> Poll(size_t max_records,
                                   std::chrono::milliseconds timeout) override {
    if (closed_) return {};
    if (!assigned_) Assign();
    for (size_t tried = 0; tried < ranges_.size(); ++tried) {
      // Round robin: one partition's chunk per Poll, as a broker interleaves them.
      auto it = ranges_.upper_bound(last_partition_);
      if (it == ranges_.end()) it = ranges_.begin();
      last_partition_ = it->first;
      int64_t& position = positions_[it->first];
      if (position >= it->second.end) continue;
      std::vector<events::Record> records;
      Status s = Read(it->first, position, it->second.end, std::max<size_t>(1, max_records),
                      records);
      if (!s.ok()) {
        // As a Kafka consumer does with a broken connection: log, retry later.
        logger_.Log(spdlog::level::err, "cannot read the archive; retrying",
                    {{"partition", std::to_string(it->first)}, {"error", s.ToString()}});
        conn_.reset();
        break;
      }
      // Nothing archived in the rest of the range: the partition is done.
      position = records.empty() ? it->second.end : records.back().offset + 1;
      if (!records.empty()) return records;
    }
    std::this_thread::sleep_for(timeout);
    return {};
  }

  Status Commit(const std::map<TopicPartition, int64_t>&) override {
    return Status::Ok();  // the archive has no groups: the projection stores its own offsets
  }

  Result<events::Watermarks> QueryWatermarks(const TopicPartition& tp,
                                             std::chrono::milliseconds) override {
    auto it = ranges_.find(tp.partition);
    if (tp.topic != topic_ || it == ranges_.end()) return events::Watermarks{0, 0};
    return events::Watermarks{it->second.begin, it->second.end};
  }

  std::vector<TopicPartition> Assignment() override {
    if (!assigned_ || closed_) return {};
    return Parts();
  }

  void Close() override {
    if (closed_) return;
    closed_ = true;
    if (assigned_ && listener_ != nullptr) listener_->OnRevoked(Parts());
    conn_.reset();
  }

 private:
  std::vector<TopicPartition> Parts() const {
    std::vector<TopicPartition> parts;
    for (const auto& [p, range] : ranges_) parts.push_back({topic_, p});
    return parts;
  }

  void Assign() {
    assigned_ = true;
    std::map<TopicPartition, int64_t> starts;
    if (listener_ != nullptr && !ranges_.empty()) starts = listener_->OnAssigned(Parts());
    for (const auto& [p, range] : ranges_) {
      auto it = starts.find({topic_, p});
      int64_t start = it == starts.end() ? events::kOffsetBeginning : it->second;
      if (start == events::kOffsetEnd) {
        positions_[p] = range.end;
      } else {
        positions_[p] = start < 0 ? range.begin : start;  // Beginning and Committed alike
      }
    }
  }

  Status Read(int32_t partition, int64_t from, int64_t end, size_t limit,
              std::vector<events::Record>& out) {
    try {
      if (conn_ == nullptr) conn_ = std::make_unique<pqxx::connection>(database_url_);
      pqxx::nontransaction txn(*conn_);
      pqxx::result rows = txn.exec_params(
          "SELECT kafka_offset, job_id::text, envelope,"
          " (extract(epoch FROM ts) * 1000)::bigint FROM " +
              txn.quote_name(schema_) +
              ".job_logs WHERE topic = $1 AND kafka_partition = $2 AND kafka_offset >= $3"
              " AND kafka_offset < $4 ORDER BY kafka_offset LIMIT $5",
          topic_, partition, from, end, static_cast<int64_t>(limit));
      out.reserve(rows.size());
      for (const auto& row : rows) {
        events::Record r;
        r.topic = topic_;
        r.partition = partition;
        r.offset = row[0].as<int64_t>();
        r.key = row[1].as<std::string>();
        r.value = pqxx::binarystring(row[2]).str();
        r.timestamp_ms = row[3].as<int64_t>();
        out.push_back(std::move(r));
      }
      return Status::Ok();
    } catch (const std::exception& e) {
      return internal::TranslatePgError(
          e, "reading the archive (" + DescribeDatabaseUrl(database_url_) + ")");
    }
  }

  const std::string database_url_;
  const std::string schema_;
  const std::string topic_;
  const std::map<int32_t, ArchiveRange> ranges_;
  events::RebalanceListener* const listener_;
  ProjectionLogger logger_;
  std::unique_ptr<pqxx::connection> conn_;
  std::map<int32_t, int64_t> positions_;  // next offset to read
  int32_t last_partition_ = -1;
  bool assigned_ = false;
  bool closed_ = false;
};

}  // namespace

ArchiveEventLog::ArchiveEventLog(std::string database_url, std::string schema, std::string topic,
                                 std::map<int32_t, ArchiveRange> ranges, LogSink log_sink)
    : database_url_(std::move(database_url)),
      schema_(std::move(schema)),
      topic_(std::move(topic)),
      ranges_(std::move(ranges)),
      log_sink_(std::move(log_sink)) {}

Result<std::unique_ptr<events::Producer>> ArchiveEventLog::NewProducer(const std::string&) {
  return Status::Invalid("the archive is read-only");
}

Result<std::unique_ptr<events::Consumer>> ArchiveEventLog::NewConsumer(
    const events::ConsumerOptions& options) {
  if (!options.group_id.empty()) return Status::Invalid("the archive has no consumer groups");
  if (options.topics != std::vector<std::string>{topic_}) {
    return Status::Invalid("the archive holds only topic " + topic_);
  }
  return std::unique_ptr<events::Consumer>(std::make_unique<ArchiveConsumer>(
      database_url_, schema_, topic_, ranges_, options.listener, log_sink_));
}

Result<int> ArchiveEventLog::PartitionCount(const std::string& topic) {
  if (topic != topic_) return Status::NotFound("the archive holds only topic " + topic_);
  return ranges_.empty() ? 0 : ranges_.rbegin()->first + 1;
}

}  // namespace jobsched::projections
