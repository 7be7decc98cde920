// Structured logging. One named spdlog logger per component. Text format for
// people ("msg job_id=… run_id=…"), JSON lines in production
// (JOBSCHED_LOG_FORMAT=json): {"ts":…,"level":…,"logger":…,"msg":…,"job_id":…}.
#pragma once

#include <spdlog/spdlog.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "events/envelope.h"
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

// What a log line about a job names, so one grep (or one query of the JSON
// logs) follows a job, a run, an event or a request across every service.
// The views must outlive the Log call.
struct JobRef {
  std::string_view job_id;
  std::string_view run_id;          // "" for job-level events
  std::string_view event_id;        // the event logged about, or the cause
  std::string_view correlation_id;  // the request (X-Request-Id) or workflow
};
JobRef RefOf(const events::Envelope& e);
// A task's event is the dispatch that addressed it (its cause).
JobRef RefOf(const v1::RunTask& task);

// Logs with the job's fields first (empty ones left out), then `fields`.
void LogJob(spdlog::logger& logger, spdlog::level::level_enum level, std::string_view msg,
            const JobRef& job, std::initializer_list<Field> fields = {});

// JSON string escaping (without the surrounding quotes).
std::string JsonEscape(std::string_view s);

}  // namespace jobsched::services
