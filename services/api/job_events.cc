#include "services/api/job_events.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "events/time.h"
#include "services/api/job_spec.h"
#include "services/api/sql_text.h"

namespace jobsched::api {
namespace {

using nlohmann::json;

ApiError BadParam(std::string name, std::string message) {
  return {"invalid_parameter", std::move(message), std::move(name)};
}

}  // namespace

std::variant<EventsQuery, ApiError> ParseEventsQuery(const QueryParams& query) {
  if (auto e = CheckQueryParams(query, {"event_type", "limit", "cursor"})) return *e;
  EventsQuery q;
  if (auto e = ParseLimit(query, kDefaultEventsLimit, kMaxEventsLimit, &q.limit)) return *e;
  if (auto it = query.find("cursor"); it != query.end()) {
    q.after_offset = DecodeEventCursor(it->second);
    if (!q.after_offset) {
      return BadParam("cursor",
                      "is not a cursor of this list; pass next_cursor from the previous page "
                      "unchanged");
    }
  }
  if (auto it = query.find("event_type"); it != query.end()) {
    const auto& types = KnownEventTypes();
    if (std::find(types.begin(), types.end(), it->second) == types.end()) {
      std::string names;
      for (const auto& t : types) names += (names.empty() ? "" : ", ") + t;
      return BadParam("event_type",
                      "must be one of " + names + ", got " + DescribeValue(json(it->second)));
    }
    q.event_type = it->second;
  }
  return q;
}

std::optional<json> EventsPage(pqxx::connection& c, const std::string& job_id,
                               const EventsQuery& query) {
  pqxx::read_transaction tx(c);
  if (tx.exec_params("SELECT 1 FROM jobs WHERE job_id = $1::uuid", job_id).empty()) {
    return std::nullopt;
  }
  std::vector<std::string> params = {job_id};
  // job_logs_job_idx (job_id, kafka_offset) serves both the filter and the order.
  std::string sql = "SELECT kafka_offset, kafka_partition, event_id::text, event_type, " +
                    sql::Millis("ts") +
                    ", producer, outcome, message, run_id::text, fields::text"
                    " FROM job_logs WHERE job_id = $1::uuid";
  if (query.after_offset) {
    sql += " AND kafka_offset > " + sql::Param(params, std::to_string(*query.after_offset)) +
           "::bigint";
  }
  if (!query.event_type.empty()) sql += " AND event_type = " + sql::Param(params, query.event_type);
  sql += " ORDER BY kafka_offset LIMIT " + std::to_string(query.limit + 1);
  pqxx::result rows = tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));

  json events = json::array();
  json next = nullptr;
  for (pqxx::result::size_type i = 0; i < rows.size(); ++i) {
    if (static_cast<int>(i) == query.limit) {
      next = EncodeEventCursor(rows[i - 1][0].as<int64_t>());
      break;
    }
    const auto& row = rows[i];
    json event = json::parse(row[9].as<std::string>(), nullptr, /*allow_exceptions=*/false);
    if (event.is_discarded()) {
      throw std::runtime_error("job_logs.fields at offset " + row[0].as<std::string>() +
                               " is not JSON");
    }
    events.push_back({{"offset", row[0].as<int64_t>()},
                      {"partition", row[1].as<int>()},
                      {"event_id", row[2].as<std::string>()},
                      {"type", row[3].as<std::string>()},
                      {"occurred_at", FormatRfc3339(FromUnixMillis(row[4].as<int64_t>()))},
                      {"producer", row[5].as<std::string>()},
                      {"outcome", row[6].as<std::string>()},
                      {"message", row[7].as<std::string>()},
                      {"run_id", row[8].is_null() ? json(nullptr) : json(row[8].as<std::string>())},
                      {"event", std::move(event)}});
  }
  return json{{"events", std::move(events)}, {"next_cursor", std::move(next)}};
}

}  // namespace jobsched::api
