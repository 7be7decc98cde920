#include "services/jobctl/rest_requests.h"

#include <cctype>
#include <cstdio>
#include <string_view>
#include <utility>

namespace jobsched::jobctl {
namespace {

using nlohmann::json;

// "?a=1&b=x" from the pairs whose value is not empty; "" when none is.
std::string Query(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (value.empty()) continue;
    out += (out.empty() ? "?" : "&") + name + "=" + PercentEncode(value);
  }
  return out;
}

std::string OptionalInt(const std::optional<int>& n) { return n ? std::to_string(*n) : ""; }

std::string JobPath(const std::string& job_id) { return "/api/v1/jobs/" + PercentEncode(job_id); }

// A member for display: strings as they are, null or absent as "", other values as JSON.
std::string Text(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::string Pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

}  // namespace

std::string PercentEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

Result<ApiRequest> SubmitRequest(const SubmitArgs& args) {
  json job = json::object();
  if (args.document) {
    job = json::parse(*args.document, nullptr, /*allow_exceptions=*/false);
    if (job.is_discarded()) return Status::Invalid("the job document (-f) is not valid JSON");
    if (!job.is_object()) return Status::Invalid("the job document (-f) must be a JSON object");
  }
  auto set = [&](const char* key, const std::string& value) {
    if (!value.empty()) job[key] = value;
  };
  auto set_int = [&](const char* key, const std::optional<int>& value) {
    if (value) job[key] = *value;
  };
  set("name", args.name);
  set("type", args.type);
  if (!args.url.empty()) job["http"]["url"] = args.url;
  set("schedule", args.cron);
  set("timezone", args.timezone);
  set("run_at", args.run_at);
  set("pool", args.pool);
  set_int("priority", args.priority);
  set_int("max_retries", args.max_retries);
  set_int("timeout_seconds", args.timeout_seconds);
  if (!args.payload.empty()) {
    json payload = json::parse(args.payload, nullptr, /*allow_exceptions=*/false);
    if (payload.is_discarded()) {
      return Status::Invalid("--payload must be JSON, e.g. --payload '{\"ms\": 500}'");
    }
    job["payload"] = std::move(payload);
  }
  if (!args.depends_on.empty()) job["depends_on"] = args.depends_on;
  if (job.empty() && args.idempotency_key.empty()) {
    return Status::Invalid(
        "no job given: pass -f FILE (- for stdin) with the job as JSON, or flags such as "
        "--type echo");
  }
  ApiRequest request{"POST", "/api/v1/jobs", job.dump(), {}};
  if (!args.idempotency_key.empty()) {
    request.headers.push_back("Idempotency-Key: " + args.idempotency_key);
  }
  return request;
}

ApiRequest GetRequest(const std::string& job_id) { return {"GET", JobPath(job_id), "", {}}; }

ApiRequest ListRequest(const ListArgs& args) {
  return {"GET",
          "/api/v1/jobs" + Query({{"status", args.status},
                                  {"limit", OptionalInt(args.limit)},
                                  {"cursor", args.cursor}}),
          "",
          {}};
}

ApiRequest CancelRequest(const std::string& job_id, bool cascade) {
  return {"POST", JobPath(job_id) + "/cancel" + (cascade ? "?cascade=true" : ""), "", {}};
}

ApiRequest CommandRequest(const std::string& job_id, const std::string& command,
                          const std::string& idempotency_key) {
  ApiRequest request{"POST", JobPath(job_id) + "/" + command, "", {}};
  if (!idempotency_key.empty()) request.headers.push_back("Idempotency-Key: " + idempotency_key);
  return request;
}

ApiRequest LogsRequest(const std::string& job_id, const LogsArgs& args) {
  return {"GET",
          JobPath(job_id) + "/logs" +
              Query({{"level", args.level},
                     {"since", args.since},
                     {"until", args.until},
                     {"event_type", args.event_type},
                     {"limit", OptionalInt(args.limit)},
                     {"cursor", args.cursor}}),
          "",
          {}};
}

ApiRequest PreviewRequest(const PreviewArgs& args) {
  return {"GET",
          "/api/v1/schedules/preview" + Query({{"cron", args.cron},
                                               {"timezone", args.timezone},
                                               {"from", args.from},
                                               {"count", OptionalInt(args.count)},
                                               {"dst_gap", args.dst_gap},
                                               {"dst_overlap", args.dst_overlap}}),
          "",
          {}};
}

std::string ErrorMessage(long status, const std::string& body) {
  json answer = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (answer.is_object() && answer.contains("error") && answer["error"].is_object()) {
    const json& error = answer["error"];
    std::string message = Text(error, "message");
    if (message.empty()) message = Text(error, "code");
    if (!message.empty()) {
      std::string field = Text(error, "field");
      return field.empty() ? message : message + " (field " + field + ")";
    }
  }
  if (body.empty()) return "the API answered HTTP " + std::to_string(status) + " without a body";
  constexpr size_t kShown = 200;
  return "the API answered HTTP " + std::to_string(status) + ": " + body.substr(0, kShown) +
         (body.size() > kShown ? "…" : "");
}

std::string FormatJob(const json& job) {
  std::vector<std::pair<std::string, std::string>> lines;
  auto add = [&](const char* label, std::string value) {
    if (!value.empty()) lines.emplace_back(label, std::move(value));
  };
  add("job_id", Text(job, "job_id"));
  add("name", Text(job, "name"));
  std::string type = Text(job, "type");
  if (job.contains("http") && job["http"].is_object()) {
    type += " " + Text(job["http"], "method") + " " + Text(job["http"], "url");
  }
  add("type", type);
  add("status", Text(job, "status"));
  add("queue_reason", Text(job, "queue_reason"));
  if (job.contains("schedule") && job["schedule"].is_object()) {
    add("schedule", Text(job["schedule"], "cron") + " (" + Text(job["schedule"], "timezone") + ")");
    add("next_fire_at", Text(job, "next_fire_at"));
    add("last_fire_at", Text(job, "last_fire_at"));
    add("paused_at", Text(job, "paused_at"));
    add("end_reason", Text(job, "end_reason"));
    if (job.contains("counts") && job["counts"].is_object()) {
      std::string counts;
      for (const auto& [name, n] : job["counts"].items()) {
        counts += (counts.empty() ? "" : ", ") + name + " " + n.dump();
      }
      add("counts", counts);
    }
  } else {
    add("run_at", Text(job, "run_at"));
  }
  add("priority", Text(job, "priority"));
  add("attempts", Text(job, "attempts") + " (max_retries " + Text(job, "max_retries") + ")");
  add("pool", Text(job, "pool"));
  if (job.value("cancel_requested", false)) add("cancel", "requested");
  add("last_error", Text(job, "last_error"));
  if (job.contains("depends_on") && job["depends_on"].is_array() && !job["depends_on"].empty()) {
    std::string parents;
    for (const auto& p : job["depends_on"]) {
      parents += (parents.empty() ? "" : ", ") + p.get<std::string>();
    }
    add("depends_on", parents);
  }
  add("workflow_id", Text(job, "workflow_id"));
  add("created_at", Text(job, "created_at"));
  add("updated_at", Text(job, "updated_at"));
  std::string out;
  for (const auto& [label, value] : lines) out += Pad(label, 14) + value + "\n";
  return out;
}

std::string FormatJobList(const json& page) {
  const json jobs = page.value("jobs", json::array());
  if (jobs.empty()) return "no jobs\n";
  std::string out = Pad("JOB_ID", 37) + Pad("STATUS", 11) + Pad("PRI", 4) + Pad("TYPE", 9) +
                    Pad("CREATED_AT", 25) + "NAME\n";
  for (const auto& job : jobs) {
    out += Pad(Text(job, "job_id"), 37) + Pad(Text(job, "status"), 11) +
           Pad(Text(job, "priority"), 4) + Pad(Text(job, "type"), 9) +
           Pad(Text(job, "created_at"), 25) + Text(job, "name") + "\n";
  }
  if (std::string next = Text(page, "next_cursor"); !next.empty()) {
    out += "more: --cursor " + next + "\n";
  }
  return out;
}

std::string FormatLogs(const json& page) {
  const json logs = page.value("logs", json::array());
  if (logs.empty()) return "no log lines\n";
  std::string out;
  for (const auto& line : logs) {
    std::string outcome = Text(line, "outcome");
    out += Text(line, "ts") + " " + Pad(Text(line, "level"), 6) +
           Pad(Text(line, "event_type"), 17) + Text(line, "message") +
           (outcome.empty() || outcome == "applied" ? "" : " [" + outcome + "]") + "\n";
  }
  if (std::string next = Text(page, "next_cursor"); !next.empty()) {
    out += "more: --cursor " + next + "\n";
  }
  return out;
}

std::string FormatPreview(const json& answer) {
  const json fires = answer.value("fires", json::array());
  if (fires.empty()) return "no fire times\n";
  std::string out;
  for (const auto& fire : fires) out += Pad(Text(fire, "at"), 22) + Text(fire, "local") + "\n";
  return out;
}

std::string FormatCancel(const json& answer) {
  std::string out =
      Text(answer, "job_id") + " cancel requested (status " + Text(answer, "status") + ")";
  if (answer.contains("canceled_descendants")) {
    out += ", " + Text(answer, "canceled_descendants") + " descendants canceled";
  }
  return out + "\n";
}

std::string FormatCommand(const json& answer) {
  return Text(answer, "job_id") + " " + Text(answer, "status") + "\n";
}

std::string FormatRun(const json& answer) {
  return Text(answer, "job_id") + " run " + Text(answer, "run_id") + " (fire " +
         Text(answer, "fire_id") + ")\n";
}

}  // namespace jobsched::jobctl
