// Structured logging. One named spdlog logger per component. Text format for
// people ("msg job_id=… run_id=…"), JSON lines in production
// (JOBSCHED_LOG_FORMAT=json): {"ts":…,"level":…,"logger":…,"msg":…,"job_id":…}.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

#include "services/common/config.h"

namespace jobsched::services {

using Field = std::pair<std::string_view, std::string_view>;

// Sets the default pattern and level for every logger. Call once in main.
void InitLogging(const ServiceConfig& config);

// The logger named `name`, created on first use. Thread-safe.
std::shared_ptr<spdlog::logger> GetLogger(const std::string& name);

// Logs `msg` with fields (job_id, run_id, event_id, ...); empty values are left out.
void Log(spdlog::logger& logger, spdlog::level::level_enum level, std::string_view msg,
         std::initializer_list<Field> fields = {});

// JSON string escaping (without the surrounding quotes).
std::string JsonEscape(std::string_view s);

}  // namespace jobsched::services
