// The SSE routes in the API's router: GET /api/v1/jobs/{id}/stream and
// GET /api/v1/stream hand the request to SseServer (sse.h) through a
// StreamTarget over the request's Responder (its HttpStream once streaming),
// and the job snapshot comes from the PostgreSQL projections.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "services/api/http_responder.h"
#include "services/api/pg_pool.h"
#include "services/api/sse.h"

namespace jobsched::api {

// A StreamTarget that answers errors through `responder` (SendError, so the
// status comes from HttpStatusOf) and streams through Responder::StartStream.
std::shared_ptr<StreamTarget> ResponderStreamTarget(std::shared_ptr<Responder> responder);

// GET /api/v1/jobs/{id}/stream (req.path_params["id"]) and GET /api/v1/stream:
// call on the I/O thread; they return at once.
void ServeJobStreamRoute(SseServer& sse, const std::shared_ptr<Responder>& r,
                         const RequestInfo& req);
void ServeStreamRoute(SseServer& sse, const std::shared_ptr<Responder>& r, const RequestInfo& req);

// The snapshot of a job stream: the job as GET /api/v1/jobs/{id} renders it
// and the next offset of its partition that the projection `projection`
// has not applied (one read). A job without a row is looked for again until
// `wait` has passed (a client that submits and then streams at once must not
// see 404 just because the projector is a moment behind); deleted jobs are
// not found. `pool` is not owned and must outlive the function.
JobSnapshotFn PgJobSnapshot(PgPool& pool, std::string projection, std::string topic,
                            std::chrono::milliseconds wait = std::chrono::milliseconds(2'000));

}  // namespace jobsched::api
