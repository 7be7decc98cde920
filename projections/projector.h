// The projector: consumes `job-events`, folds each job's events with the one
// fold (events/fold.h) and writes the resulting rows plus the consumed offsets
// to a ProjectionStore in one atomic batch, so every event is projected
// exactly once (ARCHITECTURE.md, "Projections exactly once").
//
//   poll thread:   Poll what the consumer holds (≤ max_batch_records / _bytes)
//                  → decode → states of the batch's jobs (cache, else the
//                  store) → events::Apply each in order → hand the batch to
//                  the writer (waits while one is in flight)
//   writer thread: ProjectionStore::Write(rows + next offsets), retried with
//                  backoff until it commits or Stop() is called
//
// So batch N+1 is folded while batch N commits. Batches commit strictly in
// order, and each one is fenced on the offsets its predecessor stored, so an
// uncommitted predecessor can never be skipped.
//
// The store's offsets are the source of truth: on assignment the projector
// starts each partition at its stored next offset (the oldest retained record
// if none), never at Kafka's committed offset. The store's offset fencing
// turns a retried Write after an unknown commit outcome into a no-op; if the
// offsets moved for another reason (another writer), the projector drops its
// in-memory state and restarts its consumer from the stored offsets. A record
// that cannot be decoded is logged at error, archived in undecodable_records
// (not folded), and its offset advances.
//
// A key of job-events is a job or a workflow run: a state the fold
// marks workflow_run goes to ProjectionBatch::workflows, never to jobs; the
// edges of the child's parents go to ProjectionBatch::dependencies.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "events/event_log.h"
#include "projections/projection_log.h"
#include "projections/projection_store.h"

namespace jobsched::projections {

struct ProjectorOptions {
  std::string topic = "job-events";
  std::string projection = "jobs";          // projection_offsets.projection
  std::string group_id = "jobsched-projector";
  std::string client_id = "jobsched-projector";
  // A batch is what the consumer holds when the previous one is handed to
  // the writer, up to these bounds: under load batches grow (fewer, bigger
  // transactions: measured with tests/bench/projector_bench.cc, 10,000 records
  // cost PostgreSQL about a third less per event than 1,000), when idle each
  // record goes at once. Whatever the bounds, a batch holds one record at least.
  size_t max_batch_records = 10000;
  size_t max_batch_bytes = 16 << 20;  // keys and values
  // How long a poll waits for the first record when idle.
  std::chrono::milliseconds poll_timeout{100};
  // Job states kept in memory between batches (least recently used evicted);
  // 0 disables the cache (every batch reads its jobs' states from the store).
  size_t state_cache_jobs = 50000;
  // Also commit consumed offsets to the log's group, at most once per
  // interval. Informational only (lag monitoring); never read back.
  bool commit_to_log = true;
  std::chrono::milliseconds commit_interval{1000};
  std::chrono::milliseconds retry_backoff_initial{100};
  std::chrono::milliseconds retry_backoff_max{5000};
  // A progress line (events, batches, last batch ms) at info level at most
  // this often, when anything was projected; 0 = never.
  std::chrono::milliseconds progress_log_interval{10000};
  // Receives the projector's log lines (services pass services::Log so JSON
  // logs keep fields); unset: spdlog logger "projector".
  LogSink log_sink;
};

// Counters since Start(). A consistent snapshot.
struct ProjectorStats {
  uint64_t records = 0;      // records consumed and processed (incl. undecodable)
  uint64_t applied = 0;      // events the fold applied
  uint64_t duplicates = 0;   // events the fold recognised as already applied
  uint64_t rejected = 0;     // events the fold rejected (logged in job_logs)
  uint64_t undecodable = 0;  // records not folded because they could not be decoded
  uint64_t batches = 0;      // batches committed
  uint64_t write_failures = 0;     // failed store calls (each retried)
  uint64_t consumer_restarts = 0;  // consumer recreated after an offset conflict
  int64_t last_batch_ms = 0;       // poll-to-commit time of the last batch
  int64_t last_write_ms = 0;       // store write time of the last batch
  int64_t cached_jobs = 0;
};

// How far the projection of one assigned partition is.
struct PartitionProgress {
  int32_t partition = 0;
  int64_t projected = -1;      // next offset stored in the projection; -1: none yet
  int64_t low_watermark = -1;  // as the consumer last learned them; -1: unknown
  int64_t high_watermark = -1;
  int64_t newest_event_ms = 0;  // CreateTime of the newest record projected since Start; 0: none
  // Records appended and not projected yet; -1 while the watermarks are unknown.
  int64_t lag_records() const {
    if (high_watermark < 0) return -1;
    return std::max<int64_t>(high_watermark - std::max(projected, low_watermark), 0);
  }
};

// Thread-safety: Start() and Stop() are called from one controlling thread;
// stats() and progress() from any thread. Everything else runs on the projector's two
// threads (the RebalanceListener callbacks run inside Poll on the poll
// thread). `log` and `store` must outlive the Projector. A Projector is
// started at most once.
class Projector final : public events::RebalanceListener {
 public:
  Projector(events::EventLog& log, ProjectionStore& store, ProjectorOptions options);
  ~Projector() override;  // calls Stop()
  Projector(const Projector&) = delete;
  Projector& operator=(const Projector&) = delete;

  // Creates the consumer and starts the threads. Fails if the consumer
  // cannot be created or the projector was already started.
  Status Start();
  // Stops the threads (within about poll_timeout, or one store call) and
  // leaves the group. A batch not yet committed is dropped; it is consumed
  // again on the next start. Idempotent.
  void Stop();

  ProjectorStats stats() const;
  // One entry per assigned partition of `topic` (none before the first
  // assignment). The watermarks are refreshed about once a second.
  std::vector<PartitionProgress> progress() const;

  // events::RebalanceListener (poll thread, inside Poll).
  std::map<events::TopicPartition, int64_t> OnAssigned(
      const std::vector<events::TopicPartition>& parts) override;
  void OnRevoked(const std::vector<events::TopicPartition>& parts) override;

 private:
  class StateCache;
  struct Batch;
  enum class WriteOutcome { kCommitted, kConflict, kStopped };

  // Poll thread.
  void PollLoop();
  Result<std::unique_ptr<events::Consumer>> NewConsumer();
  // The next batch's records: waits up to poll_timeout for the first, then
  // takes what the consumer holds, within the batch bounds.
  std::vector<events::Record> PollBatch();
  void CloseConsumer();
  void RestartConsumer();
  // Decodes, folds and hands one polled batch to the writer; false if it was
  // abandoned (stopping, or the writer needs the consumer restarted).
  bool ProcessRecords(std::vector<events::Record> records);
  bool LoadStates(Batch& batch);
  // Waits until the writer holds no batch; false if stopping first.
  bool WaitWriterIdle();
  bool Submit(std::unique_ptr<Batch> batch);
  void MaybeCommit(bool force);
  void MaybeLogProgress();
  // Copies the consumer's cached watermarks into progress_, at most once a second.
  void MaybeRefreshWatermarks();

  // Writer thread.
  void WriterLoop();
  WriteOutcome WriteBatch(Batch& batch);

  // Sleeps for `delay` (then doubles it, up to the maximum) unless stopping;
  // false if stopping.
  bool Backoff(std::chrono::milliseconds& delay);
  bool stopping() const;
  void CountStoreFailure();

  events::EventLog& log_;
  ProjectionStore& store_;
  const ProjectorOptions options_;
  ProjectionLogger logger_;

  // Poll thread only.
  std::unique_ptr<events::Consumer> consumer_;
  std::unique_ptr<StateCache> cache_;  // states as of the last batch handed to the writer
  // Assigned partitions → next offset as of the last batch handed to the
  // writer (nullopt: no stored row yet).
  std::map<int32_t, std::optional<int64_t>> positions_;
  bool restart_consumer_ = false;
  std::chrono::steady_clock::time_point last_commit_;
  std::chrono::steady_clock::time_point last_progress_;
  std::chrono::steady_clock::time_point last_watermarks_;
  ProjectorStats progress_base_;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;  // stop_, writer hand-over and completion
  bool stop_ = false;
  bool started_ = false;
  std::unique_ptr<Batch> pending_;        // handed over, not yet taken by the writer
  // Written batches go back to the poll thread to be freed there: memory
  // freed by the thread that allocated it stays cheap (malloc arenas).
  std::unique_ptr<Batch> finished_;
  bool writing_ = false;                  // the writer holds a batch
  std::set<std::string> inflight_jobs_;   // jobs of the pending / written batch
  bool writer_conflict_ = false;          // a batch hit foreign offsets: restart needed
  std::map<events::TopicPartition, int64_t> committed_;  // for the informational commit
  ProjectorStats stats_;
  std::map<int32_t, PartitionProgress> progress_;  // assigned partitions

  std::thread poll_thread_;
  std::thread writer_thread_;
};

}  // namespace jobsched::projections
