// Query parameters of the API's GET routes: parsed and validated into typed
// requests, or the ApiError (400 invalid_parameter, `field` = the parameter)
// a client sees. Pure, thread-compatible.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "events/time.h"
#include "services/api/api_error.h"
#include "services/api/cursor.h"

namespace jobsched::api {

// Decoded query parameters by name (the first of repeated names).
using QueryParams = std::unordered_map<std::string, std::string>;

inline constexpr int kDefaultExecutionsLimit = 5;
inline constexpr int kMaxExecutionsLimit = 100;
inline constexpr int kDefaultLogsLimit = 100;
inline constexpr int kMaxLogsLimit = 500;

// invalid_parameter for the first parameter not in `allowed`.
std::optional<ApiError> CheckQueryParams(const QueryParams& query,
                                         std::initializer_list<std::string_view> allowed);

// `limit`: an integer from 1 to `max`; `fallback` when absent.
std::optional<ApiError> ParseLimit(const QueryParams& query, int fallback, int max, int* out);

// Parameter `name` as an RFC 3339 date-time; nullopt in `out` when absent. A
// space where the offset's sign belongs is read as '+' (an unencoded '+' in
// a query string decodes to a space).
std::optional<ApiError> ParseTimeParam(const QueryParams& query, std::string_view name,
                                       std::optional<TimePoint>* out);

// GET /jobs/{id}/executions?limit=&cursor=
struct ExecutionsQuery {
  int limit = kDefaultExecutionsLimit;
  std::optional<ExecutionCursor> cursor;  // the page after this row
};
std::variant<ExecutionsQuery, ApiError> ParseExecutionsQuery(const QueryParams& query);

// GET /jobs/{id}/logs?level=&since=&until=&event_type=&limit=&cursor=
struct LogsQuery {
  int limit = kDefaultLogsLimit;
  std::optional<int64_t> before_offset;  // from the cursor: rows with a smaller offset
  // `level` is a minimum: info -> {info, warn, error}, warn -> {warn, error},
  // error -> {error}; empty: every level.
  std::vector<std::string> levels;
  std::optional<TimePoint> since;  // ts >= since
  std::optional<TimePoint> until;  // ts < until
  std::string event_type;          // exact ("RunDue"); "" = any
};
std::variant<LogsQuery, ApiError> ParseLogsQuery(const QueryParams& query);

// GET /jobs/{id}/why?at=: the instant asked about (required).
std::variant<TimePoint, ApiError> ParseWhyQuery(const QueryParams& query);

// Every event type name ("JobSubmitted", "RunDue", ...) in schema order.
const std::vector<std::string>& KnownEventTypes();

}  // namespace jobsched::api
