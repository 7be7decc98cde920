// A fixed set of threads running queued tasks: where the API does its
// blocking work (PostgreSQL), so Pistache's I/O threads never wait.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace jobsched::api {

// Thread-safe.
class WorkerPool {
 public:
  // Starts `threads` threads; at most `max_queued` tasks wait at any time.
  WorkerPool(size_t threads, size_t max_queued);
  ~WorkerPool();  // Stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`. Returns false, without running it, when the queue is full
  // or the pool is stopped. Tasks must not throw (an escaping exception
  // terminates the process, as on any thread).
  bool Submit(std::function<void()> task);

  // Stops accepting tasks, lets running tasks finish, destroys the queued ones
  // unrun, and joins the threads. Idempotent; must not be called from a task.
  void Stop();

 private:
  void Loop();

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace jobsched::api
