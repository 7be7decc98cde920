// Structured logging for projections/ without depending on services/.
//
// A ProjectionLogger writes "msg key=value ..." to a named spdlog logger, or,
// when the owner installs a LogSink (services pass services::Log), hands the
// message and fields to that sink so JSON logs keep their fields structured.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

namespace jobsched::projections {

using LogField = std::pair<std::string_view, std::string_view>;
// Receives one log line. Must be thread-safe if shared between threads.
using LogSink =
    std::function<void(spdlog::level::level_enum, std::string_view, std::initializer_list<LogField>)>;

// Thread-safe if the sink is (spdlog loggers are).
class ProjectionLogger {
 public:
  // Uses the spdlog logger `name` (created, on stderr, if none is registered).
  explicit ProjectionLogger(const std::string& name, LogSink sink = nullptr);

  bool ShouldLog(spdlog::level::level_enum level) const { return logger_->should_log(level); }
  // Empty field values are left out.
  void Log(spdlog::level::level_enum level, std::string_view msg,
           std::initializer_list<LogField> fields = {}) const;
  spdlog::logger& logger() const { return *logger_; }

 private:
  std::shared_ptr<spdlog::logger> logger_;
  LogSink sink_;
};

// The registered spdlog logger `name`, created on stderr if absent. Thread-safe.
std::shared_ptr<spdlog::logger> GetOrCreateLogger(const std::string& name);

}  // namespace jobsched::projections
