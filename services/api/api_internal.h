// Internal to services/api: ApiApplication's Impl, shared by
// api_application.cc (server, routing) and the handler files, one per
// resource: job_handlers.cc (submit, get, list, update, commands),
// job_read_handlers.cc (executions, logs, events, why, stats),
// write_path.cc (appending with read-your-writes and idempotency keys),
// workflow_handlers.cc, batch_handlers.cc, ops_handlers.cc and
// system_handlers.cc (/health, /api/v1/metrics, /api/v1/openapi.json, the
// streams). The HTTP plumbing is in http_responder.h, the route table in
// routes.h, the reads behind ApiQueries (queries.h). Not a public interface:
// include it from services/api .cc files only.
#pragma once

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/http_header.h>
#include <pistache/mime.h>
#include <pistache/net.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <shared_mutex>
#include <string>
#include <variant>
#include <vector>

#include "events/envelope.h"
#include "services/api/api_application.h"
#include "services/api/api_error.h"
#include "services/api/deadline_timer.h"
#include "services/api/http_responder.h"
#include "services/api/job_commands.h"
#include "services/api/ops_routes.h"
#include "services/api/queries.h"
#include "services/api/recent_appends.h"
#include "services/api/routes.h"
#include "services/api/worker_pool.h"
#include "services/api/workflow_routes.h"
#include "services/common/logging.h"

namespace jobsched::api {

namespace Http = Pistache::Http;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

// Where the Pistache handler forwards requests. Called on I/O threads; must not block.
class RequestSink {
 public:
  virtual ~RequestSink() = default;
  virtual void OnRequest(const Http::Request& request, Http::ResponseWriter writer) = 0;
};

// A submission ready to append: its event and its 201 answer.
struct Submission {
  events::Envelope event;
  std::string view;  // the 201 body
  std::string location;
};

// Holds an idempotency key in InFlightKeys until the last copy is destroyed,
// whichever path (answer, failure, dropped callback) lets go of it last.
class KeyHold {
 public:
  KeyHold(std::shared_ptr<InFlightKeys> keys, std::string job_id)
      : keys_(std::move(keys)), job_id_(std::move(job_id)) {}
  ~KeyHold() { keys_->Finish(job_id_); }
  KeyHold(const KeyHold&) = delete;
  KeyHold& operator=(const KeyHold&) = delete;

 private:
  std::shared_ptr<InFlightKeys> keys_;
  std::string job_id_;
};

// The request body as JSON, or the invalid_json error that says where it breaks.
std::variant<json, ApiError> ParseBody(const RequestInfo& req);

// The Idempotency-Key header, when sent, must be 1 to kMaxIdempotencyKeyChars long.
std::optional<ApiError> CheckIdempotencyKeyHeader(const RequestInfo& req);

// Job ids as stored and appended (lower case), whatever case a path used.
std::string CanonicalJobId(std::string id);

// 404 job_not_found for `id`.
ApiError JobNotFound(const std::string& id);

// 400 invalid_job_id unless `id` is a UUID.
std::optional<ApiError> CheckJobId(const std::string& id);

// What a client should do about an append whose outcome is unknown. `noun`
// is what the append concerns: "job" or "workflow".
std::string UnconfirmedAdvice(const std::string& id, bool submission, bool keyed,
                              const std::string& noun = "job");

// ---------------------------------------------------------------------------

class ApiApplication::Impl final : public RequestSink {
 public:
  Impl(ApiOptions options, events::Producer& producer, std::shared_ptr<ApiQueries> queries,
       events::Topics topics, Clock& clock)
      : options_(WithRegistry(std::move(options))),
        producer_(producer),
        topics_(std::move(topics)),
        clock_(clock),
        logger_(services::GetLogger("api")),
        metrics_(std::make_shared<RequestMetrics>(options_.metrics)),
        state_(std::make_shared<ServerState>(metrics_)),
        queries_(std::move(queries)),
        workers_(static_cast<size_t>(std::max(options_.threads, 1) + 2),
                 options_.max_queued_queries),
        guard_(std::make_shared<Guard>()),
        recent_(std::make_shared<RecentAppends>(options_.recent)),
        in_flight_(std::make_shared<InFlightKeys>()) {
    guard_->impl = this;
  }

  ~Impl() { Stop(); }

  Status Start();
  void Stop();
  int port() const { return port_.load(); }
  std::shared_ptr<prometheus::Registry> metrics_registry() const { return options_.metrics; }

  // Called by Pistache on an I/O thread. Never blocks.
  void OnRequest(const Http::Request& request, Http::ResponseWriter writer) override;

  // ---- Defined in system_handlers.cc ----
  // The API's health (ApiApplication::Health); blocks up to about a second
  // on the database.
  json HealthReport();
  services::Readiness Ready();

  // The PostgreSQL connections the API's queries may use at once.
  static size_t QueryConnections(const ApiOptions& options) {
    return static_cast<size_t>(std::max(options.threads, 1) + 2);
  }

 private:
  static ApiOptions WithRegistry(ApiOptions options);

  // Looks the request up in the route table (routes.h): 404 not_found, 405
  // method_not_allowed with Allow, or Dispatch.
  void Route(const ResponderPtr& r, RequestInfo& req);
  void Dispatch(const ResponderPtr& r, const RequestInfo& req, RouteId route);

  // ---- Defined in job_handlers.cc ----
  void Submit(const ResponderPtr& r, const RequestInfo& req);
  void GetJob(const ResponderPtr& r, const std::string& id);
  void ListJobs(const ResponderPtr& r, const RequestInfo& req);
  void Cancel(const ResponderPtr& r, const std::string& id, const RequestInfo& req);
  void RunCommand(const ResponderPtr& r, const std::string& id, const RequestInfo& req,
                  Command command);
  void UpdateJob(const ResponderPtr& r, const std::string& id, const RequestInfo& req);
  void Preview(const ResponderPtr& r, const RequestInfo& req);

  // ---- Defined in job_read_handlers.cc ----
  void ListExecutions(const ResponderPtr& r, const std::string& id, const RequestInfo& req);
  void Stats(const ResponderPtr& r, const std::string& id, const RequestInfo& req);
  void Logs(const ResponderPtr& r, const std::string& id, const RequestInfo& req);
  void Events(const ResponderPtr& r, const std::string& id, const RequestInfo& req);
  void Why(const ResponderPtr& r, const std::string& id, const RequestInfo& req);

  // ---- Defined in ops_handlers.cc ----
  // /api/v1/executors, /queue/stats, /dead-letters[/{id}/requeue] (ops_routes.h).
  void ServeOps(const ResponderPtr& r, const RequestInfo& req);

  // ---- Defined in system_handlers.cc ----
  void Health(const ResponderPtr& r);
  void SystemMetrics(const ResponderPtr& r, const RequestInfo& req);
  void OpenApi(const ResponderPtr& r, const RequestInfo& req);
  // GET /api/v1/jobs/{id}/stream, GET /api/v1/stream: ApiOptions' handlers.
  void Stream(const ResponderPtr& r, const RequestInfo& req, const RouteHandler& handler);

  // ---- The reads (WithDatabase below; the rest in handler_support.cc) ----
  // Runs `query` on a worker thread, then `then` with its result on the same
  // thread; database failures answer 503 database_unavailable (500 internal
  // for query bugs), a full queue 503 overloaded, unless `failed` is given:
  // then it gets those failures instead.
  template <typename T>
  void WithDatabase(const ResponderPtr& r, std::function<Result<T>(ApiQueries&)> query,
                    std::function<void(T)> then,
                    std::function<void(const Status&)> failed = nullptr);

  // The job's state (nullopt: no row), read your writes: when this process
  // appended to the job, waits (timer, not a thread) for the projection to
  // pass its latest append, for at most projection_wait; then answers from
  // the row plus the appends it lacks. `then` and `failed` as in WithDatabase.
  void ReadJob(const ResponderPtr& r, const std::string& id,
               std::function<void(std::optional<v1::JobState>)> then,
               std::function<void(const Status&)> failed = nullptr);
  void AwaitProjection(const ResponderPtr& r, const std::string& id,
                       std::shared_ptr<const RecentJob> recent, SteadyClock::time_point deadline,
                       int attempt, std::function<void(std::optional<v1::JobState>)> then,
                       std::function<void(const Status&)> failed);

  // Validates `id` (400 invalid_job_id), loads the job's folded state with
  // ReadJob (404 job_not_found, also for a DELETED job) and calls `found`
  // with it, on a worker thread.
  void WithJob(const ResponderPtr& r, const std::string& id,
               std::function<void(v1::JobState)> found);

  // For the reads that answer for any job with a row, DELETED ones included:
  // validates `id`, runs `query` (nullopt: 404 job_not_found) and answers 200.
  void WithJobQuery(const ResponderPtr& r, const std::string& id,
                    std::function<Result<std::optional<json>>(ApiQueries&)> query);

  // ---- Defined in write_path.cc ----
  // A submission with an idempotency key (see Submit).
  void SubmitKeyed(const ResponderPtr& r, std::shared_ptr<const Submission> sub,
                   bool look_in_recent);
  // 409 duplicate_idempotency_key with `existing` as GET shows it.
  void SendDuplicate(const ResponderPtr& r, const v1::JobState& existing);
  // Another request holds the Idempotency-Key of `id` (a "job" or "workflow"
  // id): unless it finishes first (and resumes this one), answers 503
  // append_unconfirmed after ack_timeout.
  void AwaitKeyHolder(const ResponderPtr& r, const std::string& id, const std::string& noun);

  // Appends `event` to job-events; answers `status` with `body` once the log
  // acknowledged it (remembering the append in recent_ first), 503
  // kafka_unavailable at once when no broker is reachable (nothing handed
  // over) or when the log refused it, 503 append_unconfirmed when the outcome
  // is unknown (ack_timeout passed, or the producer gave up after sending).
  // `hold` is released once the outcome is known. Never blocks.
  // `keyed_workflow`: a WorkflowSubmitted whose id derives from an
  // Idempotency-Key (what the 503's advice says).
  void AppendThenRespond(const ResponderPtr& r, const events::Envelope& event, int status,
                         std::string body, std::string location,
                         std::shared_ptr<KeyHold> hold = nullptr, bool keyed_workflow = false);

  // POST /jobs after its depends_on were resolved: folds the event for the
  // 201 and appends it (SubmitKeyed when keyed).
  void FinishSubmit(const ResponderPtr& r, events::Envelope event, bool keyed);

  // ---- Defined in workflow_handlers.cc ----
  // The workflow routes (workflow_routes.h).
  void ServeWorkflows(const ResponderPtr& r, const RequestInfo& req, WorkflowRequest request);
  void SubmitWorkflow(const ResponderPtr& r, const RequestInfo& req);
  // A keyed POST /workflows (as SubmitKeyed for jobs).
  void SubmitWorkflowKeyed(const ResponderPtr& r, std::shared_ptr<const PlannedWorkflow> plan);
  void GetWorkflow(const ResponderPtr& r, const std::string& id);
  void CancelWorkflow(const ResponderPtr& r, const std::string& id, const RequestInfo& req);
  void Dependencies(const ResponderPtr& r, const std::string& id, const RequestInfo& req);
  // The WorkflowSubmitted this process appended for `id`, if it remembers one.
  std::optional<events::Envelope> RecentWorkflow(const std::string& id);
  // POST /jobs with depends_on: checks the parents, fills
  // JobSubmitted.parents, then FinishSubmit.
  void ResolveDependsOn(const ResponderPtr& r, events::Envelope event, bool keyed);
  // POST /jobs/{id}/cancel?cascade=true: `event` (the job's CancelRequested)
  // and one for each open descendant; `answer` gains canceled_descendants.
  void CancelWithDescendants(const ResponderPtr& r, events::Envelope event, json answer,
                             const events::Origin& origin);
  // Appends every event of `events` (each keyed by its job) and answers
  // `status` with `body` once all were acknowledged; no events: answers at
  // once. Failures as AppendThenRespond's, saying that some of the events may
  // be stored (their ids are deterministic: a retry repeats them, and the
  // fold recognises the repeats). Never blocks.
  void AppendAllThenRespond(const ResponderPtr& r, std::vector<events::Envelope> events, int status,
                            std::string body);

  // ---- Defined in batch_handlers.cc ----
  struct BatchRun;  // one POST /jobs/batch between its asynchronous steps
  // POST /api/v1/jobs/batch (job_batch.h): validated on the I/O thread, its
  // idempotency keys taken (AcquireBatchKeys), what exists looked up
  // (LookUpBatch), then every accepted item appended (AppendBatch).
  void SubmitBatch(const ResponderPtr& r, const RequestInfo& req);
  // Takes run's keys from `next` on, in sorted order (a key held elsewhere is
  // waited for; every batch takes its keys in the same order, so no two wait
  // for each other), then LookUpBatch.
  void AcquireBatchKeys(const std::shared_ptr<BatchRun>& run, size_t next);
  void LookUpBatch(const std::shared_ptr<BatchRun>& run);
  void AppendBatch(const std::shared_ptr<BatchRun>& run);

  events::Origin MakeOrigin(const RequestInfo& req) const {
    return {"api/" + options_.instance_id, clock_.Now(), req.request_id, ""};
  }

  const ApiOptions options_;
  events::Producer& producer_;
  const events::Topics topics_;
  Clock& clock_;
  const std::shared_ptr<spdlog::logger> logger_;
  const std::shared_ptr<RequestMetrics> metrics_;
  const std::shared_ptr<ServerState> state_;
  const std::shared_ptr<ApiQueries> queries_;
  WorkerPool workers_;
  DeadlineTimer timer_;  // overdue Kafka acknowledgements, projection polls

  // How callbacks on threads this object does not own (the producer's) reach
  // it: Stop() clears `impl`, waiting for such a callback in progress.
  struct Guard {
    std::recursive_mutex mu;  // a callback may release a KeyHold inside another
    Impl* impl = nullptr;     // guarded by mu
  };
  const std::shared_ptr<Guard> guard_;
  // Shared with producer callbacks, which may run after this object is gone.
  const std::shared_ptr<RecentAppends> recent_;
  const std::shared_ptr<InFlightKeys> in_flight_;
  std::unique_ptr<Http::Endpoint> endpoint_;
  std::atomic<int> port_{0};
  std::atomic<bool> accepting_{false};
  bool started_ = false;  // controlling thread only
  bool stopped_ = false;  // controlling thread only
};

template <typename T>
void ApiApplication::Impl::WithDatabase(const ResponderPtr& r,
                                        std::function<Result<T>(ApiQueries&)> query,
                                        std::function<void(T)> then,
                                        std::function<void(const Status&)> failed) {
  auto logger = logger_;
  auto task = [this, r, logger, query = std::move(query), then = std::move(then), failed] {
    try {
      Result<T> result = query(*queries_);
      if (!result.ok()) {
        if (failed) return failed(result.status());
        r->SendError(FromStatus(result.status(), "database_unavailable"));
        return;
      }
      then(std::move(result).value());
    } catch (const std::exception& e) {  // a bug in `then`: answer and log, keep the worker alive
      services::Log(*logger, spdlog::level::err, "query handler failed", {{"reason", e.what()}});
      r->TrySendError({"internal", "internal error; the request was not processed", ""});
    }
  };
  if (!workers_.Submit(std::move(task))) {
    if (failed) return failed(Status::Unavailable("too many queries are waiting for PostgreSQL"));
    r->TrySendError({"overloaded", "too many queries are waiting for PostgreSQL; retry later", ""});
  }
}

}  // namespace jobsched::api
