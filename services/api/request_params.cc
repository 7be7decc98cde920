#include "services/api/request_params.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "events/envelope.h"
#include "services/api/job_spec.h"

namespace jobsched::api {
namespace {

using nlohmann::json;

ApiError BadParam(std::string name, std::string message) {
  return {"invalid_parameter", std::move(message), std::move(name)};
}

std::string Joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::optional<ApiError> CheckQueryParams(const QueryParams& query,
                                         std::initializer_list<std::string_view> allowed) {
  for (const auto& [name, value] : query) {
    if (std::find(allowed.begin(), allowed.end(), name) != allowed.end()) continue;
    std::string list;
    for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    return BadParam(name,
                    "is not a known query parameter; allowed: " + (list.empty() ? "none" : list));
  }
  return std::nullopt;
}

std::optional<ApiError> ParseLimit(const QueryParams& query, int fallback, int max, int* out) {
  auto it = query.find("limit");
  if (it == query.end()) {
    *out = fallback;
    return std::nullopt;
  }
  const std::string& v = it->second;
  bool digits = !v.empty() && v.size() <= 4 && std::all_of(v.begin(), v.end(), [](unsigned char c) {
    return std::isdigit(c) != 0;
  });
  int n = digits ? std::stoi(v) : 0;
  if (n < 1 || n > max) {
    return BadParam("limit", "must be an integer from 1 to " + std::to_string(max) + ", got " +
                                 DescribeValue(json(v)));
  }
  *out = n;
  return std::nullopt;
}

std::optional<ApiError> ParseTimeParam(const QueryParams& query, std::string_view name,
                                       std::optional<TimePoint>* out) {
  *out = std::nullopt;
  auto it = query.find(std::string(name));
  if (it == query.end()) return std::nullopt;
  std::optional<TimePoint> t = ParseRfc3339(it->second);
  if (!t) {
    std::string plus = it->second;
    if (auto space = plus.rfind(' '); space != std::string::npos && space > 10) {
      plus[space] = '+';
      t = ParseRfc3339(plus);
    }
  }
  if (!t) {
    return BadParam(std::string(name),
                    "must be an RFC 3339 date-time such as 2026-03-08T07:00:00Z (encode '+' as "
                    "%2B), got " +
                        DescribeValue(json(it->second)));
  }
  *out = t;
  return std::nullopt;
}

std::variant<ExecutionsQuery, ApiError> ParseExecutionsQuery(const QueryParams& query) {
  if (auto e = CheckQueryParams(query, {"limit", "cursor"})) return *e;
  ExecutionsQuery q;
  if (auto e = ParseLimit(query, kDefaultExecutionsLimit, kMaxExecutionsLimit, &q.limit)) return *e;
  if (auto it = query.find("cursor"); it != query.end()) {
    q.cursor = DecodeExecutionCursor(it->second);
    if (!q.cursor) {
      return BadParam("cursor",
                      "is not a cursor of this list; pass next_cursor from the previous page "
                      "unchanged");
    }
  }
  return q;
}

std::variant<LogsQuery, ApiError> ParseLogsQuery(const QueryParams& query) {
  if (auto e =
          CheckQueryParams(query, {"level", "since", "until", "event_type", "limit", "cursor"})) {
    return *e;
  }
  LogsQuery q;
  if (auto e = ParseLimit(query, kDefaultLogsLimit, kMaxLogsLimit, &q.limit)) return *e;
  if (auto it = query.find("cursor"); it != query.end()) {
    q.before_offset = DecodeLogCursor(it->second);
    if (!q.before_offset) {
      return BadParam("cursor",
                      "is not a cursor of this list; pass next_cursor from the previous page "
                      "unchanged");
    }
  }
  if (auto it = query.find("level"); it != query.end()) {
    const std::vector<std::string> all = {"info", "warn", "error"};
    auto at = std::find(all.begin(), all.end(), it->second);
    if (at == all.end()) {
      return BadParam("level", "must be one of info, warn, error (the lowest level shown), got " +
                                   DescribeValue(json(it->second)));
    }
    q.levels.assign(at, all.end());
  }
  if (auto e = ParseTimeParam(query, "since", &q.since)) return *e;
  if (auto e = ParseTimeParam(query, "until", &q.until)) return *e;
  if (q.since && q.until && *q.until <= *q.since) {
    return BadParam("until", "must be after since (" + FormatRfc3339(*q.since) + ")");
  }
  if (auto it = query.find("event_type"); it != query.end()) {
    const auto& types = KnownEventTypes();
    if (std::find(types.begin(), types.end(), it->second) == types.end()) {
      return BadParam("event_type", "must be one of " + Joined(types) + ", got " +
                                        DescribeValue(json(it->second)));
    }
    q.event_type = it->second;
  }
  return q;
}

std::variant<TimePoint, ApiError> ParseWhyQuery(const QueryParams& query) {
  if (auto e = CheckQueryParams(query, {"at"})) return *e;
  std::optional<TimePoint> at;
  if (auto e = ParseTimeParam(query, "at", &at)) return *e;
  if (!at) {
    return BadParam("at", "is required: the instant to explain, e.g. at=2026-03-08T07:00:00Z");
  }
  return *at;
}

const std::vector<std::string>& KnownEventTypes() {
  static const std::vector<std::string> kTypes = [] {
    std::vector<std::string> types;
    const auto* oneof = v1::Envelope::descriptor()->FindOneofByName("event");
    for (int i = 0; i < oneof->field_count(); ++i) {
      v1::Envelope e;
      e.GetReflection()->MutableMessage(&e, oneof->field(i));
      types.emplace_back(events::EventType(e));
    }
    return types;
  }();
  return kTypes;
}

}  // namespace jobsched::api
