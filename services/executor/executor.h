// The executor: consumes RunTasks from `run-tasks` in a consumer group, runs
// each with the handler for its job type on a bounded pool of worker threads,
// and reports RunStarted / RunSucceeded / RunFailed on `job-events`. It also
// heart-beats its capacity to `executors` so the dispatcher can lease runs to it.
//
// Delivery contract (ARCHITECTURE.md, "Side effects at least once"):
//  - A task's offset is committed only after its RunStarted and its result
//    event were acknowledged by the log (Producer::Append, acks=all). Offsets
//    are committed per partition as the contiguous prefix of finished tasks,
//    since tasks finish out of order.
//  - A crash, a failed append or a partition revoked while a task runs leaves
//    its offset uncommitted: the task is delivered again (here or to another
//    executor) and the handler runs again. Side effects are therefore at least
//    once; HTTP targets get `Idempotency-Key: <run_id>` to de-duplicate.
//  - Event ids are deterministic: ids::EventId("RunStarted" | "RunSucceeded" |
//    "RunFailed", job_id, run_id + "/" + lease_epoch), so a re-run yields the
//    same ids and the fold ignores the repeat. A re-run that ends differently
//    (failed, then succeeded) yields the other type's id; the fold keeps the
//    first result for a run and lease and rejects the second.
//  - In-process de-duplication: a task whose run_id and lease epoch is already
//    queued or running here is not run again; its offset completes with the
//    first copy. One whose result this process already appended (kept for the
//    last kRecentlyFinished tasks) is acknowledged without running.
//
// Back-pressure: the consumer polls for at most as many records as there are
// free slots, so at most `slots` tasks are held (queued or running). While
// every slot is busy it calls Poll(0, 0), which fetches nothing but serves
// the group protocol (rebalances, liveness) on both logs, so long runs do not
// cost the member its partitions.
//
// Threads: Start() starts one consumer thread (polls, dispatches, commits,
// runs the rebalance callbacks), `slots` worker threads (append RunStarted,
// run the handler, append the result) and one heartbeat thread. Public
// methods may be called from any thread.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "events/event_log.h"
#include "events/status.h"
#include "events/time.h"
#include "events/topics.h"
#include "jobsched/v1/runtime.pb.h"
#include "services/executor/handlers.h"

namespace jobsched::executor {

struct ExecutorOptions {
  std::string executor_id;  // required; "executor/<id>" is the events' producer
  int slots = 16;           // runs in progress at once (worker threads), >= 1
  std::chrono::milliseconds heartbeat_interval{1000};
  // Stop(): how long running handlers may finish on their own before they are
  // cancelled, and again how long cancelled ones get to report.
  std::chrono::milliseconds stop_grace{10000};
  // A revoked partition's running tasks get this long to finish so their
  // offsets can be committed before the partition moves; after that they are
  // left to finish unacknowledged (and will run again on the new owner).
  std::chrono::milliseconds revoke_grace{5000};
  // Longest wait of one Consumer::Poll; also bounds how long a finished task
  // waits for its offset commit.
  std::chrono::milliseconds poll_interval{100};
  // Finished offsets are committed at most this often (and always on revoke
  // and stop): a synchronous commit per poll capped the loop at one broker
  // round trip per fetch. A crash redelivers at most this much finished work.
  std::chrono::milliseconds commit_interval{100};
  std::string group_id = "jobsched-executor";
  events::Topics topics;
};

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

  // Creates the producer and the consumer and starts the threads. Fails with
  // kInvalidArgument for bad options, or the log's error. Call at most once.
  Status Start();

  // Graceful stop, blocking: stops fetching and abandons tasks not yet
  // started, sends a heartbeat with stopping=true, lets running handlers
  // finish for up to stop_grace, then cancels them and gives them stop_grace
  // more to report; appends results, commits finished offsets, leaves the
  // group, and sends a final heartbeat (stopping=true, running=0).
  // A handler that ignores cancellation, or an append that blocks (the Kafka
  // producer retries up to its delivery timeout), delays Stop accordingly.
  // Idempotent; concurrent callers wait for the first.
  void Stop();

  // Tasks holding a slot (queued or running) now.
  int running() const;

  // Kept per process to acknowledge redelivered tasks that already finished.
  static constexpr size_t kRecentlyFinished = 4096;

 private:
  struct Offset {
    events::TopicPartition tp;
    int64_t offset = 0;
  };
  // A task holding a slot (queued or running), keyed by TaskKey.
  struct Active {
    std::shared_ptr<CancelToken> cancel;
    std::vector<Offset> offsets;  // its delivery and any duplicates received meanwhile
  };
  // A queued task, as handed to a worker.
  struct Work {
    v1::RunTask task;
    std::string key;
    Offset origin;
    std::shared_ptr<CancelToken> cancel;  // the same token as in active_[key]
  };
  // Per assigned partition; consumer thread only.
  struct PartitionProgress {
    std::map<int64_t, bool> offsets;  // received beyond the finished prefix -> finished?
    int64_t finished_upto = -1;       // next offset after the finished prefix
    int64_t committed = -1;           // next offset last committed successfully
  };
  class Listener;

  // "<run_id>/<lease_epoch>": identifies a task for de-duplication and is the
  // cause its event ids derive from.
  static std::string TaskKey(const v1::RunTask& task);

  // ---- Consumer thread (ConsumerLoop, and the listener inside Poll/Close).
  void ConsumerLoop();
  // Records `record` as received and queues its task, attaches it to an
  // identical active task, or marks it finished (undecodable, or already
  // finished here).
  void Accept(const events::Record& record);
  // Moves offsets of tasks finished by workers into progress_.
  void MarkFinished();
  // Commits the finished prefix of every partition (or of `only`); a failed
  // commit is logged and retried on the next call.
  void CommitFinished(const std::vector<events::TopicPartition>* only);
  std::map<events::TopicPartition, int64_t> OnAssigned(
      const std::vector<events::TopicPartition>& parts);
  // Drops queued tasks of `parts`, waits up to revoke_grace for running ones,
  // commits what finished and forgets the partitions.
  void OnRevoked(const std::vector<events::TopicPartition>& parts);

  // ---- Worker threads.
  void WorkerLoop();
  // Appends RunStarted, runs the handler, appends the result, then Finish.
  void Execute(const Work& work);
  // Appends until acknowledged (backing off up to 5 s); false once Stop gave
  // appends up.
  bool AppendWithRetry(const std::string& what, const v1::RunTask& task,
                       const std::string& event_id, events::Record record);
  // Frees the slot; when `appended`, hands the task's offsets to the consumer
  // thread for commit and remembers the task as finished.
  void Finish(const std::string& key, bool appended);

  // ---- Heartbeat thread (and Stop, for the last heartbeat).
  void HeartbeatLoop();
  void SendHeartbeat(bool stopping, int running);

  const ExecutorOptions options_;
  events::EventLog& log_;
  const Clock& clock_;
  const HandlerRegistry& handlers_;
  const std::shared_ptr<spdlog::logger> logger_;

  std::unique_ptr<events::Producer> producer_;  // thread-safe
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<events::Consumer> consumer_;  // consumer thread only (after Start)
  std::map<events::TopicPartition, PartitionProgress> progress_;  // consumer thread only

  mutable std::mutex mu_;
  std::condition_variable work_cv_;      // workers: work queued or exit
  std::condition_variable progress_cv_;  // consumer/Stop: a task finished, or a flag changed
  std::condition_variable heartbeat_cv_;
  std::deque<Work> queue_;                          // guarded by mu_
  std::unordered_map<std::string, Active> active_;  // guarded by mu_
  std::vector<Offset> finished_offsets_;            // guarded by mu_; for the consumer thread
  std::deque<std::string> recent_order_;            // guarded by mu_
  std::unordered_set<std::string> recent_;          // guarded by mu_
  bool stopping_ = false;                           // guarded by mu_: no more fetching or starting
  bool give_up_appends_ = false;                    // guarded by mu_
  bool workers_exit_ = false;                       // guarded by mu_
  bool consumer_exit_ = false;                      // guarded by mu_
  bool heartbeat_exit_ = false;                     // guarded by mu_

  std::mutex lifecycle_mu_;  // serialises Start and Stop
  bool started_ = false;     // guarded by lifecycle_mu_
  bool stopped_ = false;     // guarded by lifecycle_mu_
  std::thread consumer_thread_;
  std::vector<std::thread> workers_;
  std::thread heartbeat_thread_;
};

}  // namespace jobsched::executor
