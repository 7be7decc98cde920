#include "services/api/schedule_spec.h"

#include <chrono>

namespace jobsched::api {

std::variant<cron::Schedule, FieldError> MakeSchedule(const v1::ScheduleSpec& spec,
                                                      TimePoint anchor,
                                                      std::string_view cron_field) {
  auto made = cron::Schedule::Make(events::ToCronSpec(spec), anchor);
  if (auto* error = std::get_if<cron::ScheduleError>(&made)) {
    std::string field = error->field == "cron" ? std::string(cron_field) : error->field;
    return FieldError{"invalid_field", error->message, std::move(field)};
  }
  return std::get<cron::Schedule>(std::move(made));
}

std::string FormatRfc3339Seconds(TimePoint t) {
  std::string text = FormatRfc3339(std::chrono::floor<std::chrono::seconds>(t));
  // "....:SS.000Z" -> "....:SS" + "Z"
  return text.substr(0, text.size() - 5) + "Z";
}

}  // namespace jobsched::api
