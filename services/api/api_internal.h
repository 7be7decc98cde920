// Internal to services/api: the HTTP plumbing of ApiApplication (requests,
// responders, the server's shared state) and its Impl, shared by
// api_application.cc (server, routing, the job routes) and the handler files
// of other areas (workflow_handlers.cc, batch_handlers.cc). Not a public
// interface: include it from services/api .cc files only.
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
#include "services/api/job_commands.h"
#include "services/api/ops_routes.h"
#include "services/api/pg_pool.h"
#include "services/api/recent_appends.h"
#include "services/api/worker_pool.h"
#include "services/api/workflow_routes.h"
#include "services/common/logging.h"

namespace jobsched::api {

namespace Http = Pistache::Http;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

// The response header that echoes the request's correlation id.
class RequestIdHeader final : public Http::Header::Header {
 public:
  NAME("X-Request-Id")
  RequestIdHeader() = default;
  explicit RequestIdHeader(std::string value) : value_(std::move(value)) {}
  void parse(const std::string& data) override { value_ = data; }
  void write(std::ostream& os) const override { os << value_; }

 private:
  std::string value_;
};

// What a handler needs from a Pistache request, copied: Pistache reuses the
// request object as soon as onRequest returns.
struct RequestInfo {
  Http::Method method = Http::Method::Get;
  std::string method_name;
  std::string path;
  QueryParams query;
  std::string body;
  std::optional<std::string> idempotency_key;  // the Idempotency-Key header
  std::string request_id;                      // X-Request-Id, or a random id
  SteadyClock::time_point start;
};

class Responder;

// Shared by the server and every response still pending; outlives both.
struct ServerState {
  // Held shared while a response is handed to Pistache, exclusively by Stop()
  // to set `closed`: after that no response touches the (gone) transport.
  std::shared_mutex send_mu;
  bool closed = false;  // guarded by send_mu

  std::mutex mu;
  std::condition_variable cv;  // notified when `pending` or `unflushed` shrink
  // Requests not answered yet, by sequence number. Guarded by mu.
  std::map<uint64_t, std::weak_ptr<Responder>> pending;
  uint64_t next_id = 0;  // guarded by mu
  // Responses handed to Pistache whose write has not completed. Guarded by mu.
  int unflushed = 0;

  void Flushed() {
    {
      std::lock_guard<std::mutex> lock(mu);
      --unflushed;
    }
    cv.notify_all();
  }
};

// Answers one request exactly once, from whichever thread finishes it, and
// writes the request's log line. Thread-safe; SetJobId must be called before
// the responder is shared with another thread. The Send* methods expect to be
// the first answer (a second one is a bug, logged); the TrySend* methods are
// for racing answerers (acknowledgement vs. deadline) and report who won.
class Responder {
 public:
  // Creates the responder and registers it as pending in `state`.
  static std::shared_ptr<Responder> Make(Http::ResponseWriter writer,
                                         std::shared_ptr<ServerState> state,
                                         std::shared_ptr<spdlog::logger> logger,
                                         const RequestInfo& req) {
    auto r =
        std::shared_ptr<Responder>(new Responder(std::move(writer), state, std::move(logger), req));
    std::lock_guard<std::mutex> lock(state->mu);
    r->id_ = state->next_id++;
    state->pending.emplace(r->id_, r);
    return r;
  }

  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  // A request that nobody answered is a bug; the client still gets an answer.
  ~Responder() {
    if (!sent_.load()) {
      services::Log(*logger_, spdlog::level::err, "request dropped without a response",
                    {{"method", method_}, {"path", path_}, {"request_id", request_id_}});
      SendError({"internal", "the server dropped the request; retry", ""});
    }
  }

  void SetJobId(std::string job_id) { job_id_ = std::move(job_id); }

  // Whether the request was answered (by anyone).
  bool answered() const { return sent_.load(); }

  void SendJson(int status, const json& body, const std::string& location = "") {
    Expect(TrySendBody(status, body.dump(-1, ' ', false, json::error_handler_t::replace), location),
           status);
  }

  // The one way errors reach clients: status from HttpStatusOf, body from ErrorBody.
  void SendError(const ApiError& error, std::vector<Http::Method> allow = {}) {
    Expect(TrySendError(error, std::move(allow)), HttpStatusOf(error.code));
  }

  bool TrySendError(const ApiError& error, std::vector<Http::Method> allow = {}) {
    return Send(HttpStatusOf(error.code),
                ErrorBody(error).dump(-1, ' ', false, json::error_handler_t::replace), "",
                std::move(allow), error.code, error.message);
  }

  // An error whose body has members beside "error" (`extra`, an object).
  bool TrySendErrorWith(const ApiError& error, const json& extra, const std::string& location) {
    json body = ErrorBody(error);
    for (const auto& [key, value] : extra.items()) body[key] = value;
    return Send(HttpStatusOf(error.code), body.dump(-1, ' ', false, json::error_handler_t::replace),
                location, {}, error.code, error.message);
  }

  // Sends a pre-rendered JSON body.
  bool TrySendBody(int status, const std::string& body, const std::string& location = "") {
    return Send(status, body, location, {}, "", "");
  }

 private:
  Responder(Http::ResponseWriter writer, std::shared_ptr<ServerState> state,
            std::shared_ptr<spdlog::logger> logger, const RequestInfo& req)
      : writer_(std::move(writer)),
        state_(std::move(state)),
        logger_(std::move(logger)),
        method_(req.method_name),
        path_(req.path),
        request_id_(req.request_id),
        start_(req.start) {}

  void Expect(bool first, int status) {
    if (!first) {
      services::Log(*logger_, spdlog::level::err, "second response to a request ignored",
                    {{"method", method_}, {"path", path_}, {"status", std::to_string(status)}});
    }
  }

  // Returns false, sending nothing, if the request was answered before.
  bool Send(int status, const std::string& body, const std::string& location,
            std::vector<Http::Method> allow, std::string_view error_code,
            std::string_view error_message) {
    if (sent_.exchange(true)) return false;
    {
      std::shared_lock<std::shared_mutex> lock(state_->send_mu);
      if (!state_->closed) {
        writer_.headers().add<RequestIdHeader>(request_id_);
        if (!location.empty()) writer_.headers().add<Http::Header::Location>(location);
        if (!allow.empty()) writer_.headers().add<Http::Header::Allow>(allow);
        auto logger = logger_;
        auto state = state_;
        {
          std::lock_guard<std::mutex> lock(state_->mu);
          ++state_->unflushed;
        }
        try {
          // Rejected when the client has gone away: nothing left to do but note it.
          writer_.send(static_cast<Http::Code>(status), body, MIME(Application, Json))
              .then([state](ssize_t) { state->Flushed(); },
                    [state, logger](std::exception_ptr& e) {
                      state->Flushed();
                      try {
                        std::rethrow_exception(e);
                      } catch (const std::exception& ex) {
                        services::Log(*logger, spdlog::level::debug, "response not delivered",
                                      {{"reason", ex.what()}});
                      }
                    });
        } catch (const std::exception& e) {
          state_->Flushed();
          services::Log(*logger_, spdlog::level::warn, "response not sent", {{"reason", e.what()}});
        }
      }
    }
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start_).count();
    services::Log(*logger_, status >= 400 ? spdlog::level::warn : spdlog::level::debug,
                  "http request",
                  {{"method", method_},
                   {"path", path_},
                   {"status", std::to_string(status)},
                   {"ms", std::to_string(ms)},
                   {"job_id", job_id_},
                   {"request_id", request_id_},
                   {"error", error_code},
                   {"error_message", error_message}});
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->pending.erase(id_);
    }
    state_->cv.notify_all();
    return true;
  }

  Http::ResponseWriter writer_;
  const std::shared_ptr<ServerState> state_;
  const std::shared_ptr<spdlog::logger> logger_;
  const std::string method_;
  const std::string path_;
  const std::string request_id_;
  const SteadyClock::time_point start_;
  uint64_t id_ = 0;  // key in state_->pending; set by Make before sharing
  std::string job_id_;
  std::atomic<bool> sent_{false};
};

using ResponderPtr = std::shared_ptr<Responder>;

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

// What a client should do about an append whose outcome is unknown. `noun`
// is what the append concerns: "job" or "workflow".
std::string UnconfirmedAdvice(const std::string& id, bool submission, bool keyed,
                              const std::string& noun = "job");

// ---------------------------------------------------------------------------

class ApiApplication::Impl final : public RequestSink {
 public:
  Impl(ApiOptions options, events::Producer& producer, std::string database_url,
       events::Topics topics, Clock& clock)
      : options_(std::move(options)),
        producer_(producer),
        topics_(std::move(topics)),
        clock_(clock),
        logger_(services::GetLogger("api")),
        state_(std::make_shared<ServerState>()),
        pool_(std::move(database_url),
              PgPoolOptions{.size = static_cast<size_t>(std::max(options_.threads, 1) + 2)}),
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

  // Called by Pistache on an I/O thread. Never blocks.
  void OnRequest(const Http::Request& request, Http::ResponseWriter writer) override;

 private:
  void Route(const ResponderPtr& r, const RequestInfo& req);
  void Submit(const ResponderPtr& r, const RequestInfo& req);
  void GetJob(const ResponderPtr& r, const std::string& id);
  void ListJobs(const ResponderPtr& r, const RequestInfo& req);
  void ListExecutions(const ResponderPtr& r, const std::string& id, const RequestInfo& req);
  void Cancel(const ResponderPtr& r, const std::string& id, const RequestInfo& req);
  void RunCommand(const ResponderPtr& r, const std::string& id, const RequestInfo& req,
                  Command command);
  void UpdateJob(const ResponderPtr& r, const std::string& id, const RequestInfo& req);
  void Stats(const ResponderPtr& r, const std::string& id, const RequestInfo& req);
  void Logs(const ResponderPtr& r, const std::string& id, const RequestInfo& req);
  void Why(const ResponderPtr& r, const std::string& id, const RequestInfo& req);
  void Preview(const ResponderPtr& r, const RequestInfo& req);
  void Health(const ResponderPtr& r);
  // /api/v1/executors, /queue/stats, /dead-letters[/{id}/requeue] (ops_routes.h).
  void ServeOps(const ResponderPtr& r, const RequestInfo& req, OpsRoute route);

  // Runs `query` on a worker thread with a pooled connection, then `then`
  // with its result on the same thread; PostgreSQL failures answer 503
  // database_unavailable (500 internal for query bugs), a full queue 503
  // overloaded, unless `failed` is given: then it gets those failures instead.
  template <typename T>
  void WithDatabase(const ResponderPtr& r, std::function<T(pqxx::connection&)> query,
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

  // A submission with an idempotency key (see Submit).
  void SubmitKeyed(const ResponderPtr& r, std::shared_ptr<const Submission> sub,
                   bool look_in_recent);
  // 409 duplicate_idempotency_key with `existing` as GET shows it.
  void SendDuplicate(const ResponderPtr& r, const v1::JobState& existing);
  // Another request holds the Idempotency-Key of `id` (a "job" or "workflow"
  // id): unless it finishes first (and resumes this one), answers 503
  // append_unconfirmed after ack_timeout.
  void AwaitKeyHolder(const ResponderPtr& r, const std::string& id, const std::string& noun);

  // For the reads that answer for any job with a row, DELETED ones included:
  // validates `id`, runs `query` (nullopt: 404 job_not_found) and answers 200.
  void WithJobQuery(const ResponderPtr& r, const std::string& id,
                    std::function<std::optional<json>(pqxx::connection&)> query);

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
  const std::shared_ptr<ServerState> state_;
  PgPool pool_;
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
                                        std::function<T(pqxx::connection&)> query,
                                        std::function<void(T)> then,
                                        std::function<void(const Status&)> failed) {
  auto logger = logger_;
  auto task = [this, r, logger, query = std::move(query), then = std::move(then), failed] {
    try {
      Result<T> result = pool_.Run<T>(query);
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
