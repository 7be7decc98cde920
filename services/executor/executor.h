// The executor: runs the RunTasks a dispatcher addresses to it, with the
// handler for each job type on a bounded pool of worker threads, and reports
// RunStarted / RunSucceeded / RunFailed / RunReleased on `job-events`. It
// heart-beats its capacity and the runs it holds to `executors`, which is
// how dispatchers choose it and learn its free capacity.
//
// Intake (ARCHITECTURE.md, "Who decides what"; issue 6's dispatch model):
//  - Each Start picks a random `incarnation` and reads ONE partition of
//    `run-tasks`, task_partition = TaskPartition(executor_id, partition
//    count), without a consumer group, from the partition's high watermark
//    taken before the first heartbeat. A dispatcher addresses a task to
//    (executor_id, incarnation) only after it saw a heartbeat naming both, so
//    nothing meant for this process lies below that offset. Offsets are never
//    committed: a crash loses what this process held, and the dispatcher
//    notices (a new incarnation, or no heartbeat) and dispatches it again.
//  - Tasks addressed to another executor or incarnation are ignored.
//  - A task waits in a local queue (spec.priority descending, then arrival)
//    until a worker is free. Fetching is not bounded by free slots: the
//    dispatcher bounds what it sends by the capacity heartbeats report.
//  - In-process de-duplication: a task whose run_id and lease epoch is held
//    here (queued or running), or finished here among the last
//    kRecentlyFinished, is not run again.
//  - A RunTask with cancel=true is a control message for the held task of the
//    same run_id and lease epoch: a queued one is dropped and a running one's
//    handler cancelled; either way the run is reported RunFailed CANCELED,
//    permanent. A cancel for a run not held here is ignored.
//
// Results: event ids are deterministic, ids::EventId("RunStarted" |
// "RunSucceeded" | "RunFailed" | "RunReleased", job_id, run_id + "/" +
// lease_epoch), so a repeat yields the same ids and the fold ignores it.
// Every run event carries the executor_id and the lease epoch. A timeout
// (spec.timeout_seconds, 0 = ExecutorOptions::default_timeout) is enforced
// by the handler: RunFailed TIMED_OUT, retryable.
//
// Stop (SIGTERM): no more starts; queued tasks and tasks still arriving are
// handed back at once with RunReleased; running handlers get stop_grace to
// finish and report as usual, then are cancelled and handed back with
// RunReleased (no attempt is spent: the fold makes the run due again).
//
// Threads: Start() starts one consumer thread (polls, queues, cancels,
// appends RunReleased / canceled results of tasks that never started),
// `slots` worker threads (append RunStarted, run the handler, append the
// result) and one heartbeat thread. Public methods may be called from any
// thread.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/logger.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "events/envelope.h"
#include "events/event_log.h"
#include "events/status.h"
#include "events/time.h"
#include "events/topics.h"
#include "jobsched/v1/runtime.pb.h"
#include "services/executor/handlers.h"

namespace jobsched::executor {

struct ExecutorOptions {
  std::string executor_id;                  // required; "executor/<id>" is the events' producer
  int slots = 16;                           // runs in progress at once (worker threads), >= 1
  std::string pool = "default";             // reported in heartbeats; non-empty
  std::map<std::string, double> resources;  // capacity reported in heartbeats; >= 0 each
  // Applies to tasks whose spec.timeout_seconds is 0.
  std::chrono::seconds default_timeout{3600};
  std::chrono::milliseconds heartbeat_interval{1000};
  // A task accepted or finished triggers a heartbeat at once, but no sooner
  // than this after the previous one (bursts coalesce into one).
  std::chrono::milliseconds heartbeat_min_gap{50};
  // Stop(): how long running handlers may finish on their own before they are
  // cancelled, and again (at least a second) how long cancelled ones get to
  // report. 0 hands running runs back at once.
  std::chrono::milliseconds stop_grace{10000};
  // Longest wait of one Consumer::Poll.
  std::chrono::milliseconds poll_interval{100};
  // An at-least-once run's RunStarted is appended only once its handler has
  // run this long (its occurred_at is still the start): a run that ends sooner
  // reports its result alone, with started_at in it, one event fewer per run.
  // 0: RunStarted as each handler begins. At-most-once runs always append it
  // first and wait for it.
  std::chrono::milliseconds started_after{100};
  events::Topics topics;
  // Where the executor's metrics go (not owned; must outlive it). Null: a
  // registry of its own, which nobody reads.
  prometheus::Registry* metrics = nullptr;
};

// The run-tasks partition an executor reads: FNV-1a (32 bit) of its id
// modulo `partitions` (> 0). Stable across restarts and releases.
int32_t TaskPartition(std::string_view executor_id, int32_t partitions);

class Executor {
 public:
  // Keeps references to `log`, `clock` and `handlers`, which must outlive the
  // executor. `handlers` must not change after Start.
  Executor(ExecutorOptions options, events::EventLog& log, const Clock& clock,
           const HandlerRegistry& handlers);
  // Stops (see Stop) if started.
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Picks the incarnation and the task partition, takes its high watermark,
  // creates the producer and the consumer and starts the threads (the first
  // heartbeat follows at once). Fails with kInvalidArgument for bad options,
  // or the log's error. Call at most once.
  Status Start();

  // Graceful stop, blocking: stops starting tasks and sends a heartbeat with
  // stopping=true; hands queued tasks back (RunReleased); lets running
  // handlers finish for up to stop_grace, then cancels them and gives them
  // stop_grace (at least 1 s) more to report (RunReleased); then sends the
  // final heartbeat (stopping=true, running=0, no runs). When appends still
  // fail after that, they are given up (logged): the dispatcher's lease
  // timeout recovers those runs. A handler that ignores cancellation delays
  // Stop accordingly.
  // Idempotent; concurrent callers wait for the first.
  void Stop();

  // Whether the producer reaches a broker; false before Start and from Stop
  // on (also while Stop runs).
  bool Reachable() const;
  // Handlers in progress now.
  int running() const;
  // Tasks held now: queued, running or being handed back.
  int held() const;
  // Set by a successful Start, constant afterwards.
  const std::string& incarnation() const { return incarnation_; }
  int32_t task_partition() const { return task_partition_; }
  const ExecutorOptions& options() const { return options_; }

  // Kept per process to ignore repeats of tasks that already finished.
  static constexpr size_t kRecentlyFinished = 4096;

 private:
  enum class Phase {
    kRunning,   // taking and starting tasks
    kStopping,  // Stop: no more starts; what arrives is handed back
    kGivingUp,  // Stop's grace periods are over: failing appends are given up
    kClosed,    // Stop: the consumer and heartbeat threads exit
  };
  // kReporting: the handler returned; its result is being appended (the
  // worker has moved on, the task stays held until the log acknowledged it).
  enum class HeldState { kQueued, kRunning, kReporting, kReleasing };
  // A task held here, keyed by TaskKey.
  struct Held {
    std::shared_ptr<const v1::RunTask> task;
    std::shared_ptr<CancelToken> cancel;
    HeldState state = HeldState::kQueued;
    std::pair<int64_t, uint64_t> queue_key;  // its place in queue_ while kQueued
    std::string cancel_reason;               // set: a cancel message asked for it
    // kRunning: its RunStarted, not appended yet, and when it is due (see
    // ExecutorOptions::started_after).
    std::shared_ptr<const events::Envelope> unannounced;
    std::chrono::steady_clock::time_point announce_at{};
  };

  // "<run_id>/<lease_epoch>": identifies a task for de-duplication and is the
  // cause its event ids derive from.
  static std::string TaskKey(const v1::RunTask& task);

  // ---- Consumer thread.
  void ConsumerLoop();
  // Queues `record`'s task, hands it back (stopping), or ignores it (not
  // ours, undecodable, already held or finished here).
  void Accept(const events::Record& record);
  // A cancel control message: drops or cancels the held task it names.
  void Cancel(const v1::RunTask& message);
  // Appends RunReleased for every kReleasing task and forgets it.
  void ReleasePending();
  // Appends, until acknowledged, the results whose first append failed.
  void ReportFailedAppends();
  // Appends the RunStarted of every handler that has now run started_after;
  // returns how long until the next one is due (poll_interval if none is).
  std::chrono::milliseconds AnnounceLongRuns();

  // ---- Worker threads.
  void WorkerLoop();
  // Appends `started` without waiting for it (a run that may repeat).
  void AppendStarted(const v1::RunTask& task, const events::Envelope& started);
  // Appends RunStarted, runs the handler and hands the result to Report.
  void Execute(const std::string& key, std::shared_ptr<const v1::RunTask> task,
               const CancelToken& cancel);
  // Appends a run's result without holding its worker: the worker takes its
  // next task while the acknowledgement travels (the task stays held, and
  // counted in heartbeats, until then). Finish once acknowledged; a failed
  // append goes to the consumer thread, which retries it.
  void Report(const std::string& key, std::shared_ptr<const v1::RunTask> task,
              events::Envelope done);
  void LogReported(const v1::RunTask& task, const events::Envelope& done) const;

  // ---- Metrics (any thread: prometheus-cpp's metrics are thread-safe).
  // A run's outcome, as the label of jobsched_runs_total.
  enum Outcome { kSucceeded, kFailed, kHttpStatus, kTimedOut, kCanceled, kReleased, kOutcomes };
  static Outcome OutcomeOf(const events::Envelope& done);
  void RegisterMetrics();
  // Counts the result `done`; `handler_ms` >= 0: its handler ran that long.
  void CountRun(const events::Envelope& done, int64_t handler_ms);

  // ---- Any thread.
  // An envelope of `task`'s job with the id ids::EventId(type, job_id, TaskKey).
  events::Envelope RunEvent(const char* type, const v1::RunTask& task) const;
  // Appends until acknowledged (backing off up to 5 s); false once Stop gave
  // appends up.
  bool AppendWithRetry(const char* what, const v1::RunTask& task, const events::Envelope& envelope);
  // Forgets the held task, remembers it as finished, wakes Stop and the
  // heartbeat thread.
  void Finish(const std::string& key);

  // ---- Heartbeat thread (and Stop, for the last heartbeat).
  void HeartbeatLoop();
  // The heartbeat describing the current state; caller holds mu_.
  v1::ExecutorHeartbeat HeartbeatLocked() const;
  void SendHeartbeat(const v1::ExecutorHeartbeat& heartbeat);

  const ExecutorOptions options_;
  events::EventLog& log_;
  const Clock& clock_;
  const HandlerRegistry& handlers_;
  const std::shared_ptr<spdlog::logger> logger_;

  // Set by Start before any thread runs, constant afterwards.
  std::string incarnation_;
  int32_t task_partition_ = -1;
  std::string host_;
  TimePoint started_at_;
  std::unique_ptr<events::Producer> producer_;  // thread-safe
  std::unique_ptr<events::RebalanceListener> listener_;
  std::unique_ptr<events::Consumer> consumer_;  // consumer thread only (after Start)

  mutable std::mutex mu_;
  std::condition_variable work_cv_;       // workers: work queued, or the phase changed
  std::condition_variable progress_cv_;   // Stop / appends: a task finished, or the phase changed
  std::condition_variable heartbeat_cv_;  // heartbeat thread: state changed
  Phase phase_ = Phase::kRunning;         // guarded by mu_
  std::unordered_map<std::string, Held> held_;                 // guarded by mu_
  std::map<std::pair<int64_t, uint64_t>, std::string> queue_;  // guarded; (-priority, arrival)
  uint64_t arrivals_ = 0;                                      // guarded by mu_
  bool heartbeat_soon_ = false;                                // guarded by mu_
  std::deque<std::string> recent_order_;                       // guarded by mu_
  std::unordered_set<std::string> recent_;                     // guarded by mu_
  struct Unreported {
    std::string key;
    std::shared_ptr<const v1::RunTask> task;
    events::Envelope done;
  };
  std::vector<Unreported> unreported_;  // guarded by mu_; results whose append failed

  // Set by the constructor, constant afterwards (the metrics themselves are
  // thread-safe).
  std::shared_ptr<prometheus::Registry> own_metrics_;  // when options_.metrics is null
  std::array<prometheus::Counter*, kOutcomes> runs_{};
  std::array<prometheus::Histogram*, kOutcomes> run_seconds_{};
  prometheus::Histogram* drift_seconds_ = nullptr;
  prometheus::Gauge* slots_used_ = nullptr;
  prometheus::Gauge* slots_free_ = nullptr;

  mutable std::mutex lifecycle_mu_;  // serialises Start and Stop
  bool started_ = false;     // guarded by lifecycle_mu_
  bool stopped_ = false;     // guarded by lifecycle_mu_
  std::thread consumer_thread_;
  std::vector<std::thread> workers_;
  std::thread heartbeat_thread_;
};

}  // namespace jobsched::executor
