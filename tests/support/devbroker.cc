#include "tests/support/devbroker.h"

#include <chrono>
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "events/topics.h"
#include "tests/support/wait.h"

namespace jobsched::testing {
namespace {

size_t CountOccurrences(const std::string& haystack, const std::string& needle) {
  size_t count = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++count;
  }
  return count;
}

std::string Trim(const std::string& s) {
  const char* ws = " \t\r\n";
  size_t begin = s.find_first_not_of(ws);
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(ws) - begin + 1);
}

}  // namespace

TopicList DefaultTopics() { return events::Topics().WithDefaultPartitions(); }

ScopedDevBroker::ScopedDevBroker(TopicList topics, int brokers, DevBrokerStorage storage)
    : dir_(MakeTempDir("jobsched-devbroker-")),
      bootstrap_file_(dir_ + "/bootstrap"),
      log_path_(dir_ + "/devbroker.log") {
  std::vector<std::string> args{"--bootstrap-file", bootstrap_file_, "--brokers",
                                std::to_string(brokers), "--control-stdin"};
  for (const auto& [name, partitions] : topics) {
    args.insert(args.end(), {"--topic", name + ":" + std::to_string(partitions)});
  }
  if (!storage.data_dir.empty()) args.insert(args.end(), {"--data-dir", storage.data_dir});
  if (!storage.groups.empty()) {
    std::string groups;
    for (const auto& g : storage.groups) groups += (groups.empty() ? "" : ",") + g;
    args.insert(args.end(), {"--groups", groups});
  }
  const auto start_timeout =
      storage.data_dir.empty() ? std::chrono::seconds(15) : std::chrono::seconds(60);
  try {
    ChildOptions options;
    options.log_path = log_path_;
    options.pipe_stdin = true;  // for Control()
    process_ = std::make_unique<ChildProcess>(BinPath("jobsched-devbroker"), args, options);
    bool ready =
        WaitFor([&] { return std::filesystem::exists(bootstrap_file_) || !process_->Running(); },
                start_timeout);
    if (!ready || !std::filesystem::exists(bootstrap_file_)) {
      throw std::runtime_error("jobsched-devbroker did not write its bootstrap file:\n" +
                               TailFile(log_path_));
    }
    bootstrap_ = Trim(ReadFile(bootstrap_file_));
  } catch (...) {  // clean up, then rethrow unchanged
    if (process_) process_->Kill();
    std::error_code ignored;  // the exception in flight is the error to report
    std::filesystem::remove_all(dir_, ignored);
    throw;
  }
}

ScopedDevBroker::~ScopedDevBroker() {
  process_->Stop();
  std::error_code error;
  std::filesystem::remove_all(dir_, error);
  if (error)
    std::cerr << "ScopedDevBroker: cannot remove " << dir_ << ": " << error.message() << "\n";
}

void ScopedDevBroker::Kill() { process_->Kill(); }

int ScopedDevBroker::Stop() { return process_->Stop(std::chrono::seconds(60)); }

void ScopedDevBroker::Control(const std::string& line) {
  // The broker answers each line in its log: "control applied: <line>\n" or
  // "control failed: <line>: <reason>".
  const std::string applied = "control applied: " + line + "\n";
  const std::string failed = "control failed: " + line + ": ";
  const std::string before = Log();
  const size_t applied_before = CountOccurrences(before, applied);
  const size_t failed_before = CountOccurrences(before, failed);
  process_->WriteStdin(line + "\n");
  bool answered = WaitFor(
      [&] {
        std::string log = Log();
        return CountOccurrences(log, applied) > applied_before ||
               CountOccurrences(log, failed) > failed_before;
      },
      std::chrono::seconds(5));
  if (!answered) throw std::runtime_error("dev broker did not answer control line: " + line);
  if (CountOccurrences(Log(), failed) > failed_before) {
    throw std::runtime_error("dev broker rejected control line: " + line + "\n" +
                             TailFile(log_path_, 1000));
  }
}

}  // namespace jobsched::testing
