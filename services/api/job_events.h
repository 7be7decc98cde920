// GET /api/v1/jobs/{id}/events?event_type=&limit=&cursor=: a job's archived
// records of `job-events` (job_logs: one row per record, kept after Kafka's
// retention), oldest first, each with the envelope as the projector decoded
// and stored it (Protobuf JSON, .proto field names) and where it sat in the
// log:
//   {"events": [{"offset": 0, "partition": 3, "event_id": "…", "type": "JobSubmitted",
//                "occurred_at": "2026-11-28T08:34:50.123Z", "producer": "api/api",
//                "outcome": "applied", "message": "…", "run_id": null,
//                "event": {"event_id": "…", "job_id": "…", "job_submitted": {…}, …}}, …],
//    "next_cursor": "ZXZ8…" | null}
// `outcome` is the fold's verdict on the record (applied | duplicate |
// rejected; `message` says why a record was rejected). A job's records share
// one partition, so the offset orders them; the cursor is the offset of the
// last record shown. Parsing is pure; EventsPage runs on a worker thread like
// the queries of job_queries.h.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <variant>

#include "services/api/api_error.h"
#include "services/api/cursor.h"
#include "services/api/request_params.h"

namespace jobsched::api {

// Smaller pages than /logs: an event may carry a payload of up to 1 MiB.
inline constexpr int kDefaultEventsLimit = 50;
inline constexpr int kMaxEventsLimit = 200;

struct EventsQuery {
  int limit = kDefaultEventsLimit;
  std::optional<int64_t> after_offset;  // from the cursor: records with a larger offset
  std::string event_type;               // exact ("RunDue"); "" = any
};

// 400 invalid_parameter (field = the parameter) for an unknown parameter, a
// limit outside 1..kMaxEventsLimit, a cursor this route did not return, or an
// unknown event type.
std::variant<EventsQuery, ApiError> ParseEventsQuery(const QueryParams& query);

// Its cursor: EncodeEventCursor / DecodeEventCursor (cursor.h).

// The page, or nullopt when the job has no jobs row (404). In one read-only
// transaction; a stored `fields` that is not JSON throws std::runtime_error.
std::optional<nlohmann::json> EventsPage(pqxx::connection& c, const std::string& job_id,
                                         const EventsQuery& query);

}  // namespace jobsched::api
