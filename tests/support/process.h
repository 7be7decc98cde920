// Child processes and small OS helpers for integration and end-to-end tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace jobsched::testing {

struct ChildOptions {
  // Added to (or overriding) the test process's environment.
  std::map<std::string, std::string> env;
  // stdout and stderr are appended here; empty means /dev/null.
  std::string log_path;
  // If true, the child's stdin is a stream the test writes with WriteStdin();
  // otherwise it is /dev/null.
  bool pipe_stdin = false;
  // If true (the default) the child gets SIGKILL when the thread that started
  // it exits (PR_SET_PDEATHSIG), so nothing outlives a crashed test. Start
  // children from the test's main thread, not from a short-lived thread.
  bool die_with_parent = true;
};

// One child process (fork + execve). Not thread-safe: use from one thread.
// The destructor calls Stop().
class ChildProcess {
 public:
  // Starts `binary` (a path, or a name looked up in $PATH) with `args` as
  // argv[1..]. Throws std::runtime_error if it cannot be started (including
  // exec failures such as a missing binary).
  ChildProcess(const std::string& binary, const std::vector<std::string>& args,
               ChildOptions options = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

  // Sends `sig` unless the child has already been reaped.
  void Signal(int sig);
  // SIGKILL, then waits for it to exit.
  void Kill();
  // SIGTERM, waits up to `grace` for it to exit, then SIGKILL. Returns ExitCode().
  int Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  // Waits up to `timeout` for the child to exit; returns ExitCode().
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  bool Running();
  // nullopt while running; the exit status, or 128 + signal if it was killed.
  std::optional<int> ExitCode();
  // Writes to the child's stdin (requires pipe_stdin). Throws if it fails.
  void WriteStdin(const std::string& data);
  // Closes the child's stdin (EOF for the child).
  void CloseStdin();

 private:
  void Reap(bool block);

  pid_t pid_ = -1;
  std::string log_path_;
  int stdin_fd_ = -1;
  std::optional<int> exit_code_;
};

// Runs `binary` to completion (output appended to `log_path`) and returns its
// exit code. Throws std::runtime_error if it does not finish within `timeout`.
int RunProcess(const std::string& binary, const std::vector<std::string>& args,
               const std::string& log_path, std::chrono::milliseconds timeout);

// $JOBSCHED_BIN_DIR/name; throws if JOBSCHED_BIN_DIR is not set.
std::string BinPath(const std::string& name);
// $JOBSCHED_SOURCE_DIR/rel; throws if JOBSCHED_SOURCE_DIR is not set.
std::string SourcePath(const std::string& rel);
// A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0).
int FreeTcpPort();
// A new folder /tmp/<prefix>XXXXXX with mode 0755 (reachable by other users).
std::string MakeTempDir(const std::string& prefix);
// The whole file, or "" if it cannot be read.
std::string ReadFile(const std::string& path);
// The last `max_bytes` of a file (for error messages with a log's tail).
std::string TailFile(const std::string& path, size_t max_bytes = 4000);
// The fields of /proc/<pid>/stat after the command name (field 3 onwards:
// [0] is the state, [11] utime, [12] stime, ...); empty if the process is gone.
std::vector<std::string> ProcStatFields(pid_t pid);
// CPU seconds (user + system) this process has used so far.
double SelfCpuSeconds();

}  // namespace jobsched::testing
