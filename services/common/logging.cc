#include "services/common/logging.h"

#include <atomic>
#include <cstdio>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace jobsched::services {
namespace {

std::atomic<bool> g_json{false};

// Messages from Log() in JSON mode arrive pre-formatted as JSON members behind
// this marker; any other message (from plain spdlog calls) is escaped into "msg".
constexpr char kJsonMarker = '\x1e';

class JsonPayloadFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    std::string out;
    if (!payload.empty() && payload.front() == kJsonMarker) {
      out = payload.substr(1);
    } else {
      out = "\"msg\":\"" + JsonEscape(payload) + "\"";
    }
    dest.append(out.data(), out.data() + out.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonPayloadFlag>();
  }
};

}  // namespace

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

void InitLogging(const ServiceConfig& config) {
  g_json = config.log_format == "json";
  // Every logger a library makes from the default one (the Kafka adapter
  // clones it) writes to stderr too: one stream, one format.
  if (!spdlog::get("jobsched")) spdlog::set_default_logger(spdlog::stderr_logger_mt("jobsched"));
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (g_json) {
    formatter->add_flag<JsonPayloadFlag>('*').set_pattern(
        "{\"ts\":\"%Y-%m-%dT%H:%M:%S.%eZ\",\"level\":\"%l\",\"logger\":\"%n\",%*}");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ [%n] %v");
  }
  spdlog::set_formatter(std::move(formatter));
  spdlog::set_level(spdlog::level::from_str(config.log_level));
}

std::shared_ptr<spdlog::logger> GetLogger(const std::string& name) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  auto logger = spdlog::get(name);
  if (!logger) {
    // stderr: services keep stdout free, and tests capture both.
    logger = spdlog::stderr_logger_mt(name);
  }
  return logger;
}

namespace {

void AppendFields(std::string& out, std::initializer_list<Field> fields) {
  for (const auto& [k, v] : fields) {
    if (v.empty()) continue;
    if (g_json) {
      out += ",\"" + JsonEscape(k) + "\":\"" + JsonEscape(v) + "\"";
    } else {
      out += " ";
      out += k;
      out += "=";
      out += v;
    }
  }
}

void LogFields(spdlog::logger& logger, spdlog::level::level_enum level, std::string_view msg,
               std::initializer_list<Field> first, std::initializer_list<Field> rest) {
  if (!logger.should_log(level)) return;
  std::string out;
  if (g_json) {
    out.push_back(kJsonMarker);
    out += "\"msg\":\"" + JsonEscape(msg) + "\"";
  } else {
    out = msg;
  }
  AppendFields(out, first);
  AppendFields(out, rest);
  logger.log(level, "{}", out);
}

}  // namespace

void Log(spdlog::logger& logger, spdlog::level::level_enum level, std::string_view msg,
         std::initializer_list<Field> fields) {
  LogFields(logger, level, msg, fields, {});
}

JobRef RefOf(const events::Envelope& e) {
  return {e.job_id(), events::RunIdOf(e), e.event_id(), e.correlation_id()};
}

JobRef RefOf(const v1::RunTask& task) {
  return {task.job_id(), task.run_id(), task.dispatch_event_id(), task.correlation_id()};
}

void LogJob(spdlog::logger& logger, spdlog::level::level_enum level, std::string_view msg,
            const JobRef& job, std::initializer_list<Field> fields) {
  LogFields(logger, level, msg,
            {{"job_id", job.job_id},
             {"run_id", job.run_id},
             {"event_id", job.event_id},
             {"correlation_id", job.correlation_id}},
            fields);
}

}  // namespace jobsched::services
