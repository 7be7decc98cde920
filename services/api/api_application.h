// The jobsched HTTP API: validates requests and appends their events
// (JobSubmitted, WorkflowSubmitted, CancelRequested, PauseRequested,
// ResumeRequested, RunRequested, JobUpdated, DeleteRequested, JobRequeued)
// to the log; answers queries
// from the PostgreSQL projections.
//
//   POST   /api/v1/jobs                       201 job   (after Kafka acknowledged)
//   POST   /api/v1/jobs/batch                 200 {accepted, rejected, results} (job_batch.h)
//   GET    /api/v1/jobs?status=&limit=&cursor=  200 {jobs, next_cursor}
//   GET    /api/v1/jobs/{id}                  200 job
//   PATCH  /api/v1/jobs/{id}                  202 job (merged)   DELETE 202 {job_id, status}
//   POST   /api/v1/jobs/{id}/cancel           202 {job_id, status, cancel_requested}
//   POST   /api/v1/jobs/{id}/pause|resume     202 {job_id, status}
//   POST   /api/v1/jobs/{id}/run              202 {job_id, run_id, fire_id}
//   GET    /api/v1/jobs/{id}/executions?limit=&cursor=  200 {executions, next_cursor}
//   GET    /api/v1/jobs/{id}/stats            200 stats (job_view.h)
//   GET    /api/v1/jobs/{id}/logs?level=&since=&until=&event_type=&limit=&cursor=
//   GET    /api/v1/jobs/{id}/events?event_type=&limit=&cursor=  oldest first (job_events.h)
//   GET    /api/v1/jobs/{id}/why?at=          200 verdict (why.h)
//   GET    /api/v1/schedules/preview?cron=&timezone=&from=&count=&dst_gap=&dst_overlap=
//   GET    /api/v1/executors                  200 {executors}
//   GET    /api/v1/queue/stats                200 queue statistics
//   GET    /api/v1/dead-letters?limit=&cursor=&include_requeued=  200 {dead_letters, next_cursor}
//   POST   /api/v1/dead-letters/{id}/requeue  202 job   (ops_routes.h)
//   POST   /api/v1/workflows                  201 workflow (one WorkflowSubmitted)
//   GET    /api/v1/workflows?limit=&cursor=&trigger_job_id=  200 {workflows, next_cursor}
//   GET    /api/v1/workflows/{id}             200 workflow
//   POST   /api/v1/workflows/{id}/cancel      202 {workflow_id, canceled}
//   POST   /api/v1/jobs/{id}/cancel?cascade=true  202 {..., canceled_descendants}
//   GET    /api/v1/jobs/{id}/dependencies     200 {job_id, parents, children}
//          (workflow_routes.h)
//   GET    /api/v1/jobs/{id}/stream, /api/v1/stream   Server-Sent Events (ApiOptions)
//   GET    /api/v1/metrics                    the system's metrics (ApiOptions)
//   GET    /api/v1/openapi.json               the OpenAPI document
//   GET    /health                            200 {status, database, broker, executors}
//
// Every route is in the route table of routes.h; handlers read through
// ApiQueries (queries.h; PostgreSQL: pg_queries.h).
//
// Submissions and commands depend on Kafka (commands read the job first),
// queries on PostgreSQL only. Pistache's I/O threads parse and validate
// (and answer previews); PostgreSQL work runs on a worker pool and Kafka
// acknowledgements answer from the producer's thread, so no I/O thread ever
// waits. Errors are {"error": {"code", "message", "field"?}} (api_error.h);
// a rejected request appends nothing.
//
// Robustness on the write path:
//  - Read your writes: a read or command on a job this process appended to
//    waits (up to projection_wait) until the projection has passed the
//    append's offset, else answers from the appended events (recent_appends.h).
//  - Idempotency: a submission whose key names an existing job answers 409
//    duplicate_idempotency_key with {"error", "job": <as GET shows it>} and
//    appends nothing; concurrent ones with one key in this process append once
//    (the later ones wait for the first's outcome).
//  - Fail fast: while the producer reaches no broker, writes answer 503
//    kafka_unavailable at once and hand nothing over. An event handed over
//    but not confirmed within ack_timeout answers 503 append_unconfirmed with
//    its job_id: it may be stored, so look it up or retry with the same key.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "events/event_log.h"
#include "events/status.h"
#include "events/time.h"
#include "events/topics.h"
#include "services/api/recent_appends.h"
#include "services/common/admin_server.h"

namespace prometheus {
class Registry;
}

namespace jobsched::api {

class ApiQueries;
class Responder;
struct RequestInfo;

// A route served by code outside ApiApplication (http_responder.h): called on
// an I/O thread, must not block, answers through the responder (e.g. by
// Responder::StartStream).
using RouteHandler = std::function<void(const std::shared_ptr<Responder>&, const RequestInfo&)>;

struct ApiOptions {
  std::string host = "0.0.0.0";
  int port = 8080;  // 0: the kernel picks a free port; see ApiApplication::port()
  int threads = 2;  // Pistache I/O threads; the PostgreSQL workers are threads + 2
  // Largest request body served; larger bodies get 413 payload_too_large.
  // Room for a 1 MiB payload escaped as JSON plus the rest of a job.
  size_t max_request_bytes = (2u << 20) + (64u << 10);
  std::string instance_id = "api";  // events are produced by "api/<instance_id>"
  // A write not acknowledged by Kafka within this time is answered 503
  // append_unconfirmed (it may still be stored, so clients look it up or
  // retry with the same Idempotency-Key). 0: wait as long as the producer
  // does. jobsched-api sets the producer's message.timeout.ms below this
  // (main.cc), so the producer gives up first and nothing is appended long
  // after the client was answered.
  std::chrono::milliseconds ack_timeout{5'000};
  // Read your writes: how long a read or command on a job this process
  // appended to waits for the projection to reach the append, polling
  // projection_offsets, before it answers from the appended events.
  std::chrono::milliseconds projection_wait{2'000};
  std::string projection = "jobs";  // projection_offsets.projection of the projector
  RecentAppendsOptions recent;      // how much of its appends the API remembers
  // GET /api/v1/executors: an executor whose last heartbeat is older is STALE
  // (JOBSCHED_EXECUTOR_TIMEOUT_MS, the dispatcher's lease timeout).
  std::chrono::milliseconds executor_timeout{30'000};
  // Stop() waits this long for requests in flight, then answers the rest 503
  // shutting_down. Longer than ack_timeout, so Kafka's verdict usually arrives.
  std::chrono::milliseconds drain_timeout{20'000};
  size_t max_queued_queries = 1024;  // beyond this, queries get 503 overloaded
  // Where the request metrics go (jobsched_api_requests_total,
  // jobsched_api_request_duration_seconds, jobsched_api_jobs_submitted_total);
  // null: a registry of the API's own.
  std::shared_ptr<prometheus::Registry> metrics;
  // GET /api/v1/jobs/{id}/stream and GET /api/v1/stream; unset: 501.
  RouteHandler job_stream;
  RouteHandler stream;
  // GET /api/v1/metrics: the Prometheus text exposition of the system's
  // view; unset: 501. Called on a worker thread (it may block).
  std::function<Result<std::string>()> system_metrics;
};

// Lifecycle: construct, Start() once, Stop() (or destroy). Start/Stop/port are
// called from one controlling thread; the server's own threads are internal.
class ApiApplication {
 public:
  // `producer` and `clock` are not owned and must outlive this object (late
  // Kafka acknowledgements after Stop() touch neither). `database_url` is a
  // libpq connection string; connections are opened lazily, so the API starts
  // (and accepts submissions) while PostgreSQL is down.
  ApiApplication(ApiOptions options, events::Producer& producer, std::string database_url,
                 events::Topics topics, Clock& clock);
  // Reads through `queries` instead of PostgreSQL (tests: an in-memory fake).
  ApiApplication(ApiOptions options, events::Producer& producer,
                 std::shared_ptr<ApiQueries> queries, events::Topics topics, Clock& clock);
  ~ApiApplication();  // Stop()
  ApiApplication(const ApiApplication&) = delete;
  ApiApplication& operator=(const ApiApplication&) = delete;

  // Binds and starts serving. kUnavailable when the address cannot be bound.
  Status Start();

  // Stops taking requests (new ones get 503 shutting_down), waits up to
  // drain_timeout for requests in flight, answers those still pending 503
  // shutting_down, shuts the server down and joins its threads. Idempotent.
  void Stop();

  // The bound port (useful with port 0); 0 before Start().
  int port() const;

  // What GET /health answers: {"status": "ok" | "degraded", "database":
  // {"ok", "error"?}, "broker": {"ok"}, "executors": {"total", "active",
  // "stale"}, "postgres": "ok" | "down", "kafka": "ok" | "down"}; degraded
  // when the database or the broker cannot be reached. Blocks up to about a
  // second on the database; callable from any thread, before Start too.
  nlohmann::json Health();

  // Ready when a broker and the database are reachable (checks "broker",
  // "database"). Blocks like Health().
  services::Readiness Ready();

  // The registry the request metrics are in (ApiOptions::metrics or the API's own).
  std::shared_ptr<prometheus::Registry> metrics() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jobsched::api
