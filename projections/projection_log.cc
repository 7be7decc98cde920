#include "projections/projection_log.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace jobsched::projections {

std::shared_ptr<spdlog::logger> GetOrCreateLogger(const std::string& name) {
  if (auto logger = spdlog::get(name)) return logger;
  try {
    return spdlog::stderr_logger_mt(name);
  } catch (const spdlog::spdlog_ex&) {
    // Another thread (or services::GetLogger) registered it in between.
    if (auto logger = spdlog::get(name)) return logger;
    throw;
  }
}

ProjectionLogger::ProjectionLogger(const std::string& name, LogSink sink)
    : logger_(GetOrCreateLogger(name)), sink_(std::move(sink)) {}

void ProjectionLogger::Log(spdlog::level::level_enum level, std::string_view msg,
                           std::initializer_list<LogField> fields) const {
  if (!logger_->should_log(level)) return;
  if (sink_) {
    sink_(level, msg, fields);
    return;
  }
  std::string out(msg);
  for (const auto& [k, v] : fields) {
    if (v.empty()) continue;
    out += ' ';
    out += k;
    out += '=';
    out += v;
  }
  logger_->log(level, "{}", out);
}

}  // namespace jobsched::projections
