#include "projections/executor_projector.h"

#include <algorithm>
#include <set>
#include <utility>

#include "events/envelope.h"

namespace jobsched::projections {
namespace {

using events::TopicPartition;
using spdlog::level::level_enum;

std::string PartitionList(const std::set<int32_t>& ps) {
  std::string out;
  for (int32_t p : ps) out += (out.empty() ? "" : ",") + std::to_string(p);
  return out;
}

}  // namespace

ExecutorProjector::ExecutorProjector(events::EventLog& log, ExecutorStore& store,
                                     ExecutorProjectorOptions options)
    : log_(log),
      store_(store),
      options_(std::move(options)),
      logger_("projector", options_.log_sink) {}

ExecutorProjector::~ExecutorProjector() { Stop(); }

Result<std::unique_ptr<events::Consumer>> ExecutorProjector::NewConsumer() {
  events::ConsumerOptions o;
  o.group_id = options_.group_id;
  o.topics = {options_.topic};
  o.listener = this;
  o.client_id = options_.client_id;
  return log_.NewConsumer(o);
}

Status ExecutorProjector::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) return Status::Conflict("executor projector already started");
  }
  if (options_.topic.empty()) return Status::Invalid("executor projector needs a topic");
  auto consumer = NewConsumer();
  if (!consumer.ok()) return consumer.status();
  consumer_ = std::move(consumer).value();
  {
    std::lock_guard<std::mutex> lock(mu_);
    started_ = true;
    stop_ = false;
  }
  thread_ = std::thread(&ExecutorProjector::Loop, this);
  logger_.Log(level_enum::info, "executor projector started",
              {{"topic", options_.topic}, {"group", options_.group_id}});
  return Status::Ok();
}

void ExecutorProjector::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

ExecutorProjectorStats ExecutorProjector::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

bool ExecutorProjector::stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stop_;
}

void ExecutorProjector::Count(const ExecutorProjectorStats& d) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.records += d.records;
  stats_.undecodable += d.undecodable;
  stats_.batches += d.batches;
  stats_.write_failures += d.write_failures;
  stats_.consumer_restarts += d.consumer_restarts;
}

bool ExecutorProjector::Backoff(std::chrono::milliseconds& delay) {
  std::unique_lock<std::mutex> lock(mu_);
  if (cv_.wait_for(lock, delay, [this] { return stop_; })) return false;
  delay = std::min(delay * 2, options_.retry_backoff_max);
  return true;
}

void ExecutorProjector::CloseConsumer() {
  if (consumer_ != nullptr) {
    consumer_->Close();
    consumer_.reset();
  }
  positions_.clear();
}

void ExecutorProjector::Loop() {
  std::chrono::milliseconds consumer_delay = options_.retry_backoff_initial;
  while (!stopping()) {
    if (restart_consumer_) {
      restart_consumer_ = false;
      CloseConsumer();
      Count({.consumer_restarts = 1});
    }
    if (consumer_ == nullptr) {
      auto consumer = NewConsumer();
      if (!consumer.ok()) {
        logger_.Log(level_enum::err, "cannot create the executors consumer",
                    {{"topic", options_.topic}, {"error", consumer.status().ToString()}});
        Backoff(consumer_delay);
        continue;
      }
      consumer_ = std::move(consumer).value();
      consumer_delay = options_.retry_backoff_initial;
    }
    std::vector<events::Record> records =
        consumer_->Poll(options_.max_batch_records, options_.poll_timeout);
    if (restart_consumer_ || records.empty()) continue;
    if (!Project(std::move(records))) restart_consumer_ = !stopping();
  }
  CloseConsumer();
}

std::map<TopicPartition, int64_t> ExecutorProjector::OnAssigned(
    const std::vector<TopicPartition>& parts) {
  std::map<TopicPartition, int64_t> out;
  std::vector<int32_t> partitions;
  for (const TopicPartition& tp : parts) {
    if (tp.topic == options_.topic) partitions.push_back(tp.partition);
  }
  if (partitions.empty()) return out;
  std::chrono::milliseconds delay = options_.retry_backoff_initial;
  while (true) {
    auto stored = store_.LoadOffsets(options_.projection, options_.topic, partitions);
    if (stored.ok()) {
      for (int32_t p : partitions) {
        auto it = stored->find(p);
        positions_[p] = it == stored->end() ? std::nullopt : std::optional<int64_t>(it->second);
        out[{options_.topic, p}] = it == stored->end() ? events::kOffsetBeginning : it->second;
      }
      return out;
    }
    logger_.Log(level_enum::err, "cannot load the executors projection's offsets; retrying",
                {{"error", stored.status().ToString()}});
    Count({.write_failures = 1});
    if (!Backoff(delay)) {
      // Stopping: read nothing; the next start positions these partitions.
      for (int32_t p : partitions) out[{options_.topic, p}] = events::kOffsetEnd;
      restart_consumer_ = true;
      return out;
    }
  }
}

void ExecutorProjector::OnRevoked(const std::vector<TopicPartition>& parts) {
  // Batches are written synchronously between polls: nothing is in flight.
  for (const TopicPartition& tp : parts) {
    if (tp.topic == options_.topic) positions_.erase(tp.partition);
  }
}

bool ExecutorProjector::Project(std::vector<events::Record> records) {
  ExecutorProjectorStats counts;
  std::map<std::string, ExecutorRow> latest;  // by executor id
  std::set<std::string> removed;
  std::map<int32_t, int64_t> next_offsets;
  for (events::Record& rec : records) {
    if (rec.topic != options_.topic) continue;
    auto pos = positions_.find(rec.partition);
    if (pos == positions_.end()) continue;  // not (or no longer) ours
    if (pos->second && rec.offset < *pos->second) continue;  // already projected
    auto [next, fresh] = next_offsets.try_emplace(rec.partition, rec.offset + 1);
    if (!fresh && rec.offset < next->second) continue;  // redelivered within the batch
    next->second = rec.offset + 1;
    ++counts.records;
    if (rec.value.empty()) {  // a tombstone: the executor is gone from the compacted topic
      if (!rec.key.empty()) {
        latest.erase(rec.key);
        removed.insert(rec.key);
      }
      continue;
    }
    auto hb = events::DecodeHeartbeat(rec.value);
    if (!hb.ok() || (hb->executor_id().empty() && rec.key.empty())) {
      ++counts.undecodable;
      logger_.Log(level_enum::err, "undecodable heartbeat skipped",
                  {{"topic", rec.topic},
                   {"partition", std::to_string(rec.partition)},
                   {"offset", std::to_string(rec.offset)},
                   {"key", rec.key},
                   {"error", hb.ok() ? "no executor id" : hb.status().message()}});
      continue;
    }
    ExecutorRow row{std::move(hb).value(), rec.partition, rec.offset};
    if (row.heartbeat.executor_id().empty()) row.heartbeat.set_executor_id(rec.key);
    std::string id = row.heartbeat.executor_id();
    removed.erase(id);
    latest[id] = std::move(row);
  }
  if (next_offsets.empty()) return true;

  ExecutorBatch batch;
  batch.projection = options_.projection;
  batch.topic = options_.topic;
  for (auto& [id, row] : latest) batch.executors.push_back(std::move(row));
  batch.removed.assign(removed.begin(), removed.end());
  for (const auto& [p, next] : next_offsets) batch.offsets.push_back({p, positions_[p], next});

  WriteOutcome outcome = Write(batch);
  if (outcome != WriteOutcome::kCommitted) return outcome == WriteOutcome::kStopped;
  for (const auto& [p, next] : next_offsets) positions_[p] = next;
  counts.batches = 1;
  Count(counts);
  return true;
}

ExecutorProjector::WriteOutcome ExecutorProjector::Write(const ExecutorBatch& batch) {
  std::chrono::milliseconds delay = options_.retry_backoff_initial;
  for (int attempt = 1;; ++attempt) {
    Status s = store_.WriteExecutors(batch);
    if (s.ok()) return WriteOutcome::kCommitted;
    Count({.write_failures = 1});
    if (s.code() == ErrorCode::kConflict) {
      // An earlier attempt committed although we saw an error, or another
      // writer moved the offsets: the stored offsets tell which.
      std::vector<int32_t> partitions;
      std::set<int32_t> described;
      for (const OffsetUpdate& u : batch.offsets) {
        partitions.push_back(u.partition);
        described.insert(u.partition);
      }
      while (true) {
        auto stored = store_.LoadOffsets(batch.projection, batch.topic, partitions);
        if (stored.ok()) {
          bool committed = true;
          for (const OffsetUpdate& u : batch.offsets) {
            auto it = stored->find(u.partition);
            committed = committed && it != stored->end() && it->second == u.next_offset;
          }
          if (committed) return WriteOutcome::kCommitted;
          logger_.Log(level_enum::warn,
                      "executors projection offsets moved under this projector; restarting",
                      {{"partitions", PartitionList(described)}, {"error", s.message()}});
          return WriteOutcome::kConflict;
        }
        if (!Backoff(delay)) return WriteOutcome::kStopped;
      }
    }
    logger_.Log(attempt == 1 ? level_enum::err : level_enum::warn,
                "cannot write the executors projection; retrying",
                {{"attempt", std::to_string(attempt)}, {"error", s.ToString()}});
    if (!Backoff(delay)) return WriteOutcome::kStopped;
  }
}

}  // namespace jobsched::projections
