// The executors projection: consumes the `executors` topic (heartbeats,
// key executor_id, compacted) and keeps the latest heartbeat of every
// executor in the `executors` table, exactly once like the job projection:
// rows and the consumed offsets (projection "executors" in
// projection_offsets) are written in one transaction, fenced on the offsets
// the batch started from, and consumption resumes from the stored offsets.
//
//   one thread: Poll ≤ max_batch_records → decode → last heartbeat per
//               executor wins → ExecutorStore::WriteExecutors, retried with
//               backoff until it commits, conflicts or Stop() is called
//
// Heartbeats are small and few (one a second per executor), so one thread
// writing synchronously is enough. A record that is not an ExecutorHeartbeat
// is logged and skipped (its offset advances); an empty value (tombstone)
// removes the executor's row. Whether an executor is ACTIVE or STALE is not
// stored: readers decide from last_heartbeat and stopping.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "events/event_log.h"
#include "projections/projection_log.h"
#include "projections/projection_store.h"

namespace jobsched::projections {

struct ExecutorProjectorOptions {
  std::string topic = "executors";
  std::string projection = "executors";  // projection_offsets.projection
  // Its own group, so several projector processes share the partitions.
  std::string group_id = "jobsched-projector-executors";
  std::string client_id = "jobsched-projector-executors";
  size_t max_batch_records = 1000;
  std::chrono::milliseconds poll_timeout{100};
  std::chrono::milliseconds retry_backoff_initial{100};
  std::chrono::milliseconds retry_backoff_max{5000};
  LogSink log_sink;  // unset: spdlog logger "projector"
};

// Counters since Start(). A consistent snapshot.
struct ExecutorProjectorStats {
  uint64_t records = 0;      // records consumed (incl. undecodable and tombstones)
  uint64_t undecodable = 0;  // skipped: not an ExecutorHeartbeat
  uint64_t batches = 0;      // batches committed
  uint64_t write_failures = 0;     // failed store calls (each retried)
  uint64_t consumer_restarts = 0;  // after an offset conflict
};

// Thread-safety: Start() and Stop() from one controlling thread; stats() from
// any thread. `log` and `store` must outlive the projector. Started at most once.
class ExecutorProjector final : public events::RebalanceListener {
 public:
  ExecutorProjector(events::EventLog& log, ExecutorStore& store, ExecutorProjectorOptions options);
  ~ExecutorProjector() override;  // calls Stop()
  ExecutorProjector(const ExecutorProjector&) = delete;
  ExecutorProjector& operator=(const ExecutorProjector&) = delete;

  // Creates the consumer and starts the thread.
  Status Start();
  // Stops within about poll_timeout (or one store call); a batch not yet
  // committed is consumed again on the next start. Idempotent.
  void Stop();

  ExecutorProjectorStats stats() const;

  // events::RebalanceListener (the projector's thread, inside Poll): each
  // partition starts at its stored next offset, else the oldest record.
  std::map<events::TopicPartition, int64_t> OnAssigned(
      const std::vector<events::TopicPartition>& parts) override;
  void OnRevoked(const std::vector<events::TopicPartition>& parts) override;

 private:
  void Loop();
  void CloseConsumer();
  Result<std::unique_ptr<events::Consumer>> NewConsumer();
  // Folds `records` into one batch and writes it; false if the consumer must
  // restart from the stored offsets (another writer moved them).
  bool Project(std::vector<events::Record> records);
  enum class WriteOutcome { kCommitted, kConflict, kStopped };
  WriteOutcome Write(const ExecutorBatch& batch);
  bool Backoff(std::chrono::milliseconds& delay);
  bool stopping() const;
  void Count(const ExecutorProjectorStats& delta);

  events::EventLog& log_;
  ExecutorStore& store_;
  const ExecutorProjectorOptions options_;
  ProjectionLogger logger_;

  // The projector's thread only.
  std::unique_ptr<events::Consumer> consumer_;
  // Assigned partitions → next offset committed (nullopt: no stored row yet).
  std::map<int32_t, std::optional<int64_t>> positions_;
  bool restart_consumer_ = false;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  bool stop_ = false;
  bool started_ = false;
  ExecutorProjectorStats stats_;

  std::thread thread_;
};

}  // namespace jobsched::projections
