#include "tests/support/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace jobsched::testing {
namespace {

std::runtime_error SysError(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

// Closes an fd owned by the parent, if open.
void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// Resolves a bare name through $PATH like execvp, but in the parent (the child
// may only make async-signal-safe calls).
std::string ResolveBinary(const std::string& binary) {
  if (binary.find('/') != std::string::npos) return binary;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + binary;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  throw std::runtime_error("cannot start " + binary + ": not found in PATH");
}

}  // namespace

ChildProcess::ChildProcess(const std::string& binary, const std::vector<std::string>& args,
                           ChildOptions options)
    : log_path_(options.log_path) {
  // Everything the child needs is prepared here, before fork.
  const std::string path = ResolveBinary(binary);
  std::vector<std::string> argv_storage{binary};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    if (!options.env.contains(entry.substr(0, entry.find('=')))) env_storage.push_back(entry);
  }
  for (const auto& [key, value] : options.env) env_storage.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out_fd = options.log_path.empty() ? open("/dev/null", O_WRONLY | O_CLOEXEC)
                                        : open(options.log_path.c_str(),
                                               O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out_fd < 0) throw SysError("cannot open " + options.log_path);
  int in_fd = -1;  // the child's end of stdin
  if (options.pipe_stdin) {
    // A socket rather than a pipe: send(MSG_NOSIGNAL) cannot raise SIGPIPE here.
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      CloseFd(out_fd);
      throw SysError("socketpair");
    }
    in_fd = pair[0];
    stdin_fd_ = pair[1];
    shutdown(in_fd, SHUT_WR);
  } else {
    in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  int err_pipe[2];  // the child reports an exec failure (errno) through this
  if (in_fd < 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    int saved = errno;
    CloseFd(out_fd);
    CloseFd(in_fd);
    CloseFd(stdin_fd_);
    errno = saved;
    throw SysError("cannot set up child of " + binary);
  }
  const pid_t parent = getpid();
  const long max_fd = sysconf(_SC_OPEN_MAX);

  pid_ = fork();
  if (pid_ == 0) {
    // Child: async-signal-safe calls only.
    if (options.die_with_parent) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);  // the parent died before prctl
    } else {
      setsid();  // a terminal's Ctrl-C to the test must not reach it
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);  // SIG_IGN survives exec
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    // No test fd (listening sockets!) may leak into the child.
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
      for (long fd = 3; fd < max_fd; ++fd) fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    }
    execve(path.c_str(), argv.data(), envp.data());
    int err = errno;
    ssize_t ignored = write(err_pipe[1], &err, sizeof(err));
    (void)ignored;
    _exit(127);
  }
  int fork_errno = errno;
  close(err_pipe[1]);
  CloseFd(out_fd);
  CloseFd(in_fd);
  if (pid_ < 0) {
    close(err_pipe[0]);
    CloseFd(stdin_fd_);
    errno = fork_errno;
    throw SysError("fork");
  }
  int exec_errno = 0;
  ssize_t n;
  do {
    n = read(err_pipe[0], &exec_errno, sizeof(exec_errno));
  } while (n < 0 && errno == EINTR);
  close(err_pipe[0]);
  if (n == sizeof(exec_errno)) {
    Reap(true);
    CloseFd(stdin_fd_);
    throw std::runtime_error("cannot exec " + path + ": " + std::strerror(exec_errno));
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exit_code_) Stop();
  CloseFd(stdin_fd_);
}

void ChildProcess::Reap(bool block) {
  if (pid_ <= 0 || exit_code_) return;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  } else if (r < 0) {
    exit_code_ = -1;  // not our child any more (ECHILD): nothing left to wait for
  }
}

void ChildProcess::Signal(int sig) {
  Reap(false);
  if (!exit_code_) kill(pid_, sig);  // an unreaped zombie keeps its pid: no reuse race
}

void ChildProcess::Kill() {
  Signal(SIGKILL);
  Reap(true);
}

int ChildProcess::Stop(std::chrono::milliseconds grace) {
  Signal(SIGTERM);
  if (!WaitExit(grace)) Kill();
  return *exit_code_;
}

std::optional<int> ChildProcess::WaitExit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (Reap(false); !exit_code_ && std::chrono::steady_clock::now() < deadline; Reap(false)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return exit_code_;
}

bool ChildProcess::Running() {
  Reap(false);
  return !exit_code_;
}

std::optional<int> ChildProcess::ExitCode() {
  Reap(false);
  return exit_code_;
}

void ChildProcess::WriteStdin(const std::string& data) {
  if (stdin_fd_ < 0) throw std::runtime_error("child stdin is not a pipe (or closed)");
  for (size_t done = 0; done < data.size();) {
    ssize_t n = send(stdin_fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw SysError("write to child stdin");
    done += static_cast<size_t>(n);
  }
}

void ChildProcess::CloseStdin() { CloseFd(stdin_fd_); }

int RunProcess(const std::string& binary, const std::vector<std::string>& args,
               const std::string& log_path, std::chrono::milliseconds timeout) {
  ChildOptions options;
  options.log_path = log_path;
  ChildProcess child(binary, args, options);
  if (auto code = child.WaitExit(timeout)) return *code;
  child.Kill();
  throw std::runtime_error(binary + " did not finish within " + std::to_string(timeout.count()) +
                           " ms");
}

std::string BinPath(const std::string& name) {
  const char* dir = std::getenv("JOBSCHED_BIN_DIR");
  if (dir == nullptr) throw std::runtime_error("JOBSCHED_BIN_DIR is not set (run via ctest)");
  return std::string(dir) + "/" + name;
}

std::string SourcePath(const std::string& rel) {
  const char* dir = std::getenv("JOBSCHED_SOURCE_DIR");
  if (dir == nullptr) throw std::runtime_error("JOBSCHED_SOURCE_DIR is not set (run via ctest)");
  return std::string(dir) + "/" + rel;
}

int FreeTcpPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw SysError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    throw SysError("bind 127.0.0.1:0");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw SysError("mkdtemp " + tmpl);
  if (chmod(tmpl.c_str(), 0755) != 0) throw SysError("chmod " + tmpl);
  return tmpl;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

std::string TailFile(const std::string& path, size_t max_bytes) {
  std::string content = ReadFile(path);
  return content.size() <= max_bytes ? content : content.substr(content.size() - max_bytes);
}

std::vector<std::string> ProcStatFields(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');
  std::vector<std::string> out;
  if (paren == std::string::npos) return out;
  std::istringstream in(stat.substr(paren + 1));
  for (std::string f; in >> f;) out.push_back(f);
  return out;
}

double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace jobsched::testing
