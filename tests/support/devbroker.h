// The dev Kafka broker (jobsched-devbroker) as a child process of a test.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/process.h"

namespace jobsched::testing {

using TopicList = std::vector<std::pair<std::string, int>>;  // name, partitions

// jobsched's topics with their default partition counts (the broker's own
// defaults): job-events:12, run-tasks:12, executors:4, *-snapshots:12.
TopicList DefaultTopics();

// Where the broker keeps its log across restarts (its --data-dir and
// --groups). An empty data_dir: in memory only.
struct DevBrokerStorage {
  std::string data_dir;  // kept by ScopedDevBroker: the caller owns (and removes) it
  std::vector<std::string> groups;  // consumer groups whose committed offsets are kept
};

// Owns one jobsched-devbroker process with its topics created. The destructor
// stops it and removes its temp folder (bootstrap file and log). The broker
// dies with the test process. Not thread-safe, except bootstrap() and Log().
class ScopedDevBroker {
 public:
  // Starts the broker and waits (up to 15 s) until it has written its
  // bootstrap file (60 s when it restores a data dir); throws
  // std::runtime_error with its log otherwise.
  explicit ScopedDevBroker(TopicList topics = DefaultTopics(), int brokers = 1,
                           DevBrokerStorage storage = {});
  ~ScopedDevBroker();
  ScopedDevBroker(const ScopedDevBroker&) = delete;
  ScopedDevBroker& operator=(const ScopedDevBroker&) = delete;

  // "127.0.0.1:port[,127.0.0.1:port...]", for bootstrap.servers.
  const std::string& bootstrap() const { return bootstrap_; }
  const std::string& log_path() const { return log_path_; }
  // The broker's log so far (e.g. to look for the "dropped old events" warning).
  std::string Log() const { return ReadFile(log_path_); }
  ChildProcess& process() { return *process_; }

  // SIGKILL: the broker and every event it held are gone (except what its
  // data dir already stored).
  void Kill();
  // SIGTERM and waits (up to 60 s) for the exit: with a data dir, the log is
  // stored whole first. Returns the exit code (0: stored whole).
  int Stop();
  // Fault injection: sends "down <id>", "up <id>" or "rtt <id> <ms>" (id -1 =
  // all brokers) and waits until the broker applied it. Throws
  // std::runtime_error if the broker rejected the line or did not answer in 5 s.
  void Control(const std::string& line);

 private:
  std::string dir_;
  std::string bootstrap_file_;
  std::string log_path_;
  std::string bootstrap_;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace jobsched::testing
