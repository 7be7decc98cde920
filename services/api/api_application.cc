#include "services/api/api_application.h"
#include "services/api/api_internal.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/http_header.h>
#include <pistache/mime.h>
#include <pistache/net.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "events/envelope.h"
#include "events/fold.h"
#include "events/ids.h"
#include "services/api/api_error.h"
#include "services/api/cursor.h"
#include "services/api/deadline_timer.h"
#include "services/api/job_batch.h"
#include "services/api/job_commands.h"
#include "services/api/job_events.h"
#include "services/api/job_queries.h"
#include "services/api/job_spec.h"
#include "services/api/job_update.h"
#include "services/api/job_view.h"
#include "services/api/ops_routes.h"
#include "services/api/pg_pool.h"
#include "services/api/recent_appends.h"
#include "services/api/request_params.h"
#include "services/api/schedule_preview.h"
#include "services/api/worker_pool.h"
#include "services/api/workflow_spec.h"
#include "services/common/logging.h"

namespace jobsched::api {
namespace {

constexpr int kDefaultListLimit = 50;
constexpr int kMaxListLimit = 500;
constexpr size_t kMaxRequestIdChars = 200;
// Pistache rejects (with a plain-text 413) requests above its own limit; ours
// is checked first, so Pistache's is set this much higher.
constexpr size_t kPistacheSlack = 1u << 20;

// Pistache clones the handler per I/O thread; every clone forwards to the sink.
class HttpHandler final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(HttpHandler)
  explicit HttpHandler(RequestSink* sink) : sink_(sink) {}

  void onRequest(const Http::Request& request, Http::ResponseWriter writer) override {
    sink_->OnRequest(request, std::move(writer));
  }

  // Pistache's header/body timeouts; answered in our error format.
  void onTimeout(const Http::Request&, Http::ResponseWriter writer) override {
    ApiError error{"request_timeout", "the request was not received in time", ""};
    writer
        .send(static_cast<Http::Code>(HttpStatusOf(error.code)), ErrorBody(error).dump(),
              MIME(Application, Json))
        .then([](ssize_t) {}, Pistache::Async::IgnoreException);  // a client that slow is gone
  }

 private:
  RequestSink* sink_;
};

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

// Percent-decoding of a query value ('+' is a space); malformed escapes stay as they are.
std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() &&
               std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool IsPrintableAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// The statuses GET /jobs filters on: every status but DELETED (deleted jobs
// are not listed).
std::string ValidStatusNames() {
  std::string out;
  for (int i = v1::JobStatus_MIN; i <= v1::JobStatus_MAX; ++i) {
    auto s = static_cast<v1::JobStatus>(i);
    if (!v1::JobStatus_IsValid(i) || s == v1::JOB_STATUS_UNSPECIFIED ||
        s == v1::JOB_STATUS_DELETED) {
      continue;
    }
    out += (out.empty() ? "" : ", ") + std::string(events::JobStatusName(s));
  }
  return out;
}

ApiError JobNotFound(const std::string& id) {
  return {"job_not_found",
          "no job with id " + id + " (a job just submitted may take a moment to appear)", ""};
}


std::optional<ApiError> CheckJobId(const std::string& id) {
  if (LooksLikeUuid(id)) return std::nullopt;
  return ApiError{"invalid_job_id", "job ids are UUIDs, got " + DescribeValue(json(id)), "job_id"};
}


// Read your writes: the pause before the n-th look at projection_offsets.
SteadyClock::duration ProjectionPollDelay(int attempt) {
  return std::chrono::milliseconds(std::min(5 << std::min(attempt, 4), 50));
}

}  // namespace

// The request body as JSON, or the invalid_json error that says where it breaks.
std::variant<json, ApiError> ParseBody(const RequestInfo& req) {
  try {
    return json::parse(req.body);
  } catch (const json::parse_error& e) {
    // e.what() reads "[json.exception.parse_error.101] parse error at line 1, column 5: ..."
    std::string what = e.what();
    if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    return ApiError{
        "invalid_json",
        "the request body is not valid JSON (byte " + std::to_string(e.byte) + "): " + what, ""};
  }
}

// The Idempotency-Key header, when sent, must be 1 to kMaxIdempotencyKeyChars long.
std::optional<ApiError> CheckIdempotencyKeyHeader(const RequestInfo& req) {
  if (!req.idempotency_key) return std::nullopt;
  const std::string& key = *req.idempotency_key;
  if (!key.empty() && key.size() <= kMaxIdempotencyKeyChars) return std::nullopt;
  return ApiError{"invalid_field",
                  "the Idempotency-Key header must be 1 to " +
                      std::to_string(kMaxIdempotencyKeyChars) + " characters",
                  "Idempotency-Key"};
}

std::string UnconfirmedAdvice(const std::string& id, bool submission, bool keyed,
                              const std::string& noun) {
  std::string lookup = "look it up with GET /api/v1/" + noun + "s/" + id;
  if (!submission) return "it may still take effect: " + lookup + " before repeating the command";
  if (keyed) {
    return "the " + noun + " may still be stored: " + lookup +
           ", or retry with the same Idempotency-Key (that finds the " + noun +
           " instead of creating a second one)";
  }
  return "the " + noun + " may still be stored: " + lookup +
         " before submitting again (without an Idempotency-Key a retry creates a second " + noun +
         ")";
}

// Job ids as stored and appended (lower case), whatever case a path used.
std::string CanonicalJobId(std::string id) {
  for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return id;
}

// ---------------------------------------------------------------------------

Status ApiApplication::Impl::Start() {
  if (started_) return Status::Internal("ApiApplication::Start called twice");
  started_ = true;
  try {
    endpoint_ = std::make_unique<Http::Endpoint>(
        Pistache::Address(options_.host, Pistache::Port(static_cast<uint16_t>(options_.port))));
    auto opts = Http::Endpoint::options()
                    .threads(std::max(options_.threads, 1))
                    .flags(Pistache::Tcp::Options::ReuseAddr)
                    .maxRequestSize(options_.max_request_bytes + kPistacheSlack);
    endpoint_->init(opts);
    endpoint_->setHandler(std::make_shared<HttpHandler>(this));
    accepting_ = true;
    endpoint_->serveThreaded();
    port_ = static_cast<uint16_t>(endpoint_->getPort());
  } catch (const std::exception& e) {
    accepting_ = false;
    endpoint_.reset();
    return Status::Unavailable("cannot serve HTTP on " + options_.host + ":" +
                               std::to_string(options_.port) + ": " + e.what());
  }
  services::Log(*logger_, spdlog::level::info, "api listening",
                {{"host", options_.host},
                 {"port", std::to_string(port_.load())},
                 {"threads", std::to_string(options_.threads)}});
  return Status::Ok();
}

void ApiApplication::Impl::Stop() {
  if (stopped_) return;
  stopped_ = true;
  accepting_ = false;
  if (endpoint_) {
    {
      std::unique_lock<std::mutex> lock(state_->mu);
      if (!state_->cv.wait_for(lock, options_.drain_timeout,
                               [&] { return state_->pending.empty() && state_->unflushed == 0; })) {
        services::Log(*logger_, spdlog::level::warn,
                      "stopping with requests in flight; answering them 503",
                      {{"in_flight", std::to_string(state_->pending.size())}});
      }
    }
    // What is still pending has an unknown outcome (e.g. Kafka never
    // answered): say so rather than leave the client hanging (Pistache 0.0.5
    // does not close open connections on shutdown).
    std::vector<ResponderPtr> left;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      for (const auto& [id, weak] : state_->pending) {
        if (auto r = weak.lock()) left.push_back(std::move(r));
      }
    }
    for (const auto& r : left) {
      r->TrySendError(
          {"shutting_down",
           "the server stopped before the request completed; it may still take effect: retry "
           "(submissions with the same Idempotency-Key)",
           ""});
    }
    left.clear();
    {
      std::unique_lock<std::mutex> lock(state_->mu);
      state_->cv.wait_for(lock, std::chrono::seconds(1), [&] { return state_->unflushed == 0; });
    }
    {
      std::unique_lock<std::shared_mutex> lock(state_->send_mu);
      state_->closed = true;
    }
    endpoint_->shutdown();
    endpoint_.reset();  // joins the I/O threads
  }
  {
    std::lock_guard<std::recursive_mutex> lock(guard_->mu);
    guard_->impl = nullptr;  // late producer callbacks no longer reach us
  }
  workers_.Stop();
  timer_.Stop();
}

void ApiApplication::Impl::OnRequest(const Http::Request& request, Http::ResponseWriter writer) {
  RequestInfo req;
  req.start = SteadyClock::now();
  req.method = request.method();
  req.method_name = Http::methodString(request.method());
  req.path = request.resource();
  for (auto it = request.query().parameters_begin(); it != request.query().parameters_end(); ++it) {
    req.query.emplace(PercentDecode(it->first), PercentDecode(it->second));
  }
  req.body = request.body();
  if (auto key = request.headers().tryGetRaw("Idempotency-Key")) req.idempotency_key = key->value();
  if (auto id = request.headers().tryGetRaw("X-Request-Id");
      id && !id->value().empty() && id->value().size() <= kMaxRequestIdChars &&
      IsPrintableAscii(id->value())) {
    req.request_id = id->value();
  } else {
    req.request_id = RandomId();
  }

  auto r = Responder::Make(std::move(writer), state_, logger_, req);
  try {
    Route(r, req);
  } catch (const std::exception& e) {
    // A bug in a handler: the client gets a 500, the log gets the reason.
    services::Log(*logger_, spdlog::level::err, "request handler failed",
                  {{"path", req.path}, {"reason", e.what()}});
    r->SendError({"internal", "internal error; the request was not processed", ""});
  }
}

void ApiApplication::Impl::Route(const ResponderPtr& r, const RequestInfo& req) {
  using M = Http::Method;
  if (!accepting_) {
    r->SendError({"shutting_down", "the server is shutting down; retry on another instance", ""});
    return;
  }
  if (req.body.size() > options_.max_request_bytes) {
    r->SendError({"payload_too_large",
                  "the request body is " + std::to_string(req.body.size()) +
                      " bytes; the limit is " + std::to_string(options_.max_request_bytes),
                  ""});
    return;
  }
  std::vector<std::string_view> parts = SplitPath(req.path);
  auto is = [&](std::initializer_list<std::string_view> want) {
    return parts.size() == want.size() && std::equal(want.begin(), want.end(), parts.begin());
  };
  auto not_allowed = [&](std::vector<M> allow) {
    std::string names;
    for (M m : allow) names += (names.empty() ? "" : ", ") + std::string(Http::methodString(m));
    r->SendError({"method_not_allowed",
                  req.method_name + " is not allowed on " + req.path + "; use " + names, ""},
                 std::move(allow));
  };

  if (is({"health"})) {
    return req.method == M::Get ? Health(r) : not_allowed({M::Get});
  }
  if (is({"api", "v1", "schedules", "preview"})) {
    return req.method == M::Get ? Preview(r, req) : not_allowed({M::Get});
  }
  if (auto ops = MatchOpsRoute(req.method, parts, req.query, clock_.Now(),
                               {.executor_timeout = options_.executor_timeout})) {
    if (auto* m = std::get_if<OpsMethodNotAllowed>(&*ops)) return not_allowed({m->allowed});
    return ServeOps(r, req, std::move(*ops));
  }
  if (auto wf = MatchWorkflowRoute(req.method, parts, req.query)) {
    if (auto* m = std::get_if<WorkflowMethodNotAllowed>(&*wf)) return not_allowed(m->allowed);
    if (auto* error = std::get_if<ApiError>(&*wf)) return r->SendError(*error);
    return ServeWorkflows(r, req, std::move(std::get<WorkflowRequest>(*wf)));
  }
  bool jobs = parts.size() >= 3 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "jobs";
  if (jobs && parts.size() == 3) {
    if (req.method == M::Post) return Submit(r, req);
    if (req.method == M::Get) return ListJobs(r, req);
    return not_allowed({M::Get, M::Post});
  }
  const std::string id = jobs && parts.size() >= 4 ? std::string(parts[3]) : "";
  if (jobs && parts.size() == 4 && id == "batch") {  // no job id is "batch" (not a UUID)
    return req.method == M::Post ? SubmitBatch(r, req) : not_allowed({M::Post});
  }
  if (jobs && parts.size() == 4) {
    if (req.method == M::Get) return GetJob(r, id);
    if (req.method == M::Patch) return UpdateJob(r, id, req);
    if (req.method == M::Delete) return RunCommand(r, id, req, Command::kDelete);
    return not_allowed({M::Get, M::Patch, M::Delete});
  }
  // /api/v1/jobs/{id}/<action>: one method each.
  const std::string_view action = jobs && parts.size() == 5 ? parts[4] : "";
  static constexpr std::array<std::pair<std::string_view, M>, 10> kActions = {
      {{"executions", M::Get},
       {"events", M::Get},
       {"dependencies", M::Get},
       {"stats", M::Get},
       {"logs", M::Get},
       {"why", M::Get},
       {"cancel", M::Post},
       {"pause", M::Post},
       {"resume", M::Post},
       {"run", M::Post}}};
  for (const auto& [name, method] : kActions) {
    if (action != name) continue;
    if (req.method != method) return not_allowed({method});
    if (name == "executions") return ListExecutions(r, id, req);
    if (name == "stats") return Stats(r, id, req);
    if (name == "logs") return Logs(r, id, req);
    if (name == "events") {  // job_events.h; read your writes as for /logs
      auto query = ParseEventsQuery(req.query);
      if (auto* error = std::get_if<ApiError>(&query)) return r->SendError(*error);
      return WithJobQuery(r, id, [id, q = std::get<EventsQuery>(query)](pqxx::connection& c) {
        return EventsPage(c, id, q);
      });
    }
    if (name == "why") return Why(r, id, req);
    if (name == "dependencies") return Dependencies(r, id, req);
    if (name == "cancel") return Cancel(r, id, req);
    if (name == "pause") return RunCommand(r, id, req, Command::kPause);
    if (name == "resume") return RunCommand(r, id, req, Command::kResume);
    return RunCommand(r, id, req, Command::kRunNow);
  }
  r->SendError({"not_found",
                "no such resource: " + req.method_name + " " + req.path +
                    " (the API lives under /api/v1/jobs, /api/v1/workflows and "
                    "/api/v1/schedules/preview)",
                ""});
}

// POST /api/v1/jobs. Validation happens here, on the I/O thread (CPU only,
// bounded by max_request_bytes); the answer comes from the producer's callback.
// A job with depends_on first reads its parents (worker thread).
void ApiApplication::Impl::Submit(const ResponderPtr& r, const RequestInfo& req) {
  auto body = ParseBody(req);
  if (auto* error = std::get_if<ApiError>(&body)) return r->SendError(*error);
  const TimePoint now = clock_.Now();
  auto parsed = ParseJobSpec(std::get<json>(body), now);
  if (auto* error = std::get_if<FieldError>(&parsed)) {
    r->SendError(FromFieldError(std::move(*error)));
    return;
  }
  v1::JobSpec spec = std::move(std::get<v1::JobSpec>(parsed));

  if (auto error = CheckIdempotencyKeyHeader(req)) return r->SendError(*error);
  if (req.idempotency_key) {
    const std::string& key = *req.idempotency_key;
    if (!spec.idempotency_key().empty() && spec.idempotency_key() != key) {
      r->SendError({"idempotency_key_conflict",
                    "the Idempotency-Key header and the body's idempotency_key differ; send one, "
                    "or the same value "
                    "in both",
                    "idempotency_key"});
      return;
    }
    spec.set_idempotency_key(key);
  }
  const bool keyed = !spec.idempotency_key().empty();
  const std::string job_id =
      keyed ? ids::JobIdForIdempotencyKey(spec.idempotency_key()) : RandomId();
  r->SetJobId(job_id);

  events::Origin origin = MakeOrigin(req);
  origin.occurred_at = now;
  // The event id derives from the job id (so from the key): a JobSubmitted
  // appended twice for one key is one job, the fold ignores the second.
  events::Envelope event =
      events::MakeEnvelope(ids::EventId("JobSubmitted", job_id, ""), job_id, origin);
  *event.mutable_job_submitted()->mutable_spec() = std::move(spec);
  if (event.job_submitted().spec().has_workflow()) {
    if (auto error = CheckWorkflowEventSize(event, "workflow")) {
      return r->SendError(FromFieldError(std::move(*error)));
    }
  }
  if (event.job_submitted().spec().depends_on_size() == 0) {
    return FinishSubmit(r, std::move(event), keyed);
  }
  ResolveDependsOn(r, std::move(event), keyed);
}

void ApiApplication::Impl::FinishSubmit(const ResponderPtr& r, events::Envelope event, bool keyed) {
  // The answer is the fold of exactly the event appended: the same view GET
  // returns once the projector has caught up.
  v1::JobState state;
  events::FoldResult folded = events::Apply(state, event);
  if (!folded.applied()) {
    r->SendError({"internal", "the submission could not be folded: " + folded.reason, ""});
    return;
  }
  auto sub = std::make_shared<Submission>();
  sub->view = RenderJob(state).dump(-1, ' ', false, json::error_handler_t::replace);
  sub->location = "/api/v1/jobs/" + event.job_id();
  sub->event = std::move(event);
  if (keyed) return SubmitKeyed(r, std::move(sub), /*look_in_recent=*/true);
  AppendThenRespond(r, sub->event, 201, sub->view, sub->location);
}

// An idempotency key names one job (its id derives from the key): if the job
// exists, the answer is 409 with the job as it is, and nothing is appended.
// "Exists" is what PostgreSQL has projected or this process appended
// (recent_). In this process one request per key looks and appends at a
// time; the others wait for its outcome and then look again, so concurrent
// duplicates get one 201 and the rest 409. Across processes two requests can
// both miss the job before it is projected and both append: the fold keeps
// the first JobSubmitted and ignores the second (same event id), so there is
// still one job, which runs once, though both clients got 201.
void ApiApplication::Impl::SubmitKeyed(const ResponderPtr& r, std::shared_ptr<const Submission> sub,
                                       bool look_in_recent) {
  if (r->answered()) return;  // a waiter whose deadline passed
  const std::string job_id = sub->event.job_id();
  if (look_in_recent && recent_->Find(job_id)) {
    // Accepted here before: no need to hold the key to answer 409.
    return ReadJob(
        r, job_id,
        [this, r, sub](std::optional<v1::JobState> existing) {
          // A row-less job whose JobSubmitted is forgotten: look again, as a first request.
          if (!existing) return SubmitKeyed(r, sub, /*look_in_recent=*/false);
          SendDuplicate(r, *existing);
        },
        [this, r, job_id](const Status& s) {
          // PostgreSQL cannot tell; the appended events still show the job.
          std::optional<RecentJob> recent = recent_->Find(job_id);
          std::optional<v1::JobState> state =
              recent ? UnprojectedState(std::nullopt, 0, *recent) : std::nullopt;
          if (!state) return r->SendError(FromStatus(s, "database_unavailable"));
          SendDuplicate(r, *state);
        });
  }
  auto resume = [guard = guard_, r, sub] {
    std::lock_guard<std::recursive_mutex> lock(guard->mu);
    if (guard->impl != nullptr) guard->impl->SubmitKeyed(r, sub, /*look_in_recent=*/true);
  };
  if (!in_flight_->Begin(job_id, std::move(resume))) return AwaitKeyHolder(r, job_id, "job");
  auto hold = std::make_shared<KeyHold>(in_flight_, job_id);
  ReadJob(
      r, job_id,
      [this, r, sub, hold](std::optional<v1::JobState> existing) {
        if (existing) return SendDuplicate(r, *existing);
        AppendThenRespond(r, sub->event, 201, sub->view, sub->location, hold);
      },
      [this, r, sub, hold](const Status& s) {
        // Without PostgreSQL the key cannot be checked; submissions do not
        // depend on it, and a second JobSubmitted of the key changes nothing.
        services::Log(*logger_, spdlog::level::warn,
                      "idempotency key not checked: PostgreSQL unavailable; appending",
                      {{"job_id", sub->event.job_id()}, {"reason", s.message()}});
        AppendThenRespond(r, sub->event, 201, sub->view, sub->location, hold);
      });
}

void ApiApplication::Impl::AwaitKeyHolder(const ResponderPtr& r, const std::string& id,
                                          const std::string& noun) {
  // Waits for the request in flight, but not longer than it would itself.
  if (options_.ack_timeout.count() == 0) return;  // as long as the producer takes
  std::weak_ptr<Responder> weak = r;
  timer_.At(SteadyClock::now() + options_.ack_timeout, [weak, id, noun] {
    if (auto r = weak.lock()) {
      std::string message =
          "a submission with the same Idempotency-Key is still waiting for the event log; " +
          UnconfirmedAdvice(id, /*submission=*/true, /*keyed=*/true, noun);
      r->TrySendError({"append_unconfirmed", std::move(message), "", json{{noun + "_id", id}}});
    }
  });
}

void ApiApplication::Impl::SendDuplicate(const ResponderPtr& r, const v1::JobState& existing) {
  // Try: a request that waited for the key may have been answered by its deadline.
  r->TrySendErrorWith(DuplicateJobError(existing), json{{"job", RenderJob(existing)}},
                      "/api/v1/jobs/" + existing.job_id());
}

void ApiApplication::Impl::AppendThenRespond(const ResponderPtr& r, const events::Envelope& event,
                                             int status, std::string body, std::string location,
                                             std::shared_ptr<KeyHold> hold, bool keyed_workflow) {
  if (r->answered()) return;
  std::string event_type(events::EventType(event));
  const std::string& job_id = event.job_id();
  if (!producer_.Reachable()) {
    // Fail fast, and truthfully: nothing was handed to the producer.
    r->SendError({"kafka_unavailable",
                  "no Kafka broker is reachable; nothing was appended: retry later", ""});
    return;
  }
  const bool workflow = event.has_workflow_submitted();
  const bool submission = event.has_job_submitted() || workflow;
  // A workflow's key is not in its event: the caller says whether it had one.
  const bool keyed = workflow
                         ? keyed_workflow
                         : submission && !event.job_submitted().spec().idempotency_key().empty();
  std::string advice = UnconfirmedAdvice(job_id, submission, keyed, workflow ? "workflow" : "job");
  events::Record record;
  record.topic = topics_.job_events;
  record.key = job_id;
  record.value = events::Encode(event);
  auto logger = logger_;
  if (options_.ack_timeout.count() > 0) {
    std::weak_ptr<Responder> weak = r;
    std::string ms = std::to_string(options_.ack_timeout.count());
    timer_.At(SteadyClock::now() + options_.ack_timeout, [weak, ms, advice, job_id] {
      if (auto r = weak.lock()) {
        r->TrySendError(
            {"append_unconfirmed",
             "the event log did not confirm the request within " + ms + " ms; " + advice, "",
             json{{"job_id", job_id}}});
      }
    });
  }
  // The callback may run after this object is gone: it touches only what it holds.
  producer_.AppendAsync(
      std::move(record),
      [r, logger, recent = recent_, appended = std::make_shared<const events::Envelope>(event),
       status, body = std::move(body), location = std::move(location), advice = std::move(advice),
       event_type, hold = std::move(hold)](const Status& s, const events::Record& acked) mutable {
        const std::string& job_id = appended->job_id();
        bool answered = false;
        if (s.ok()) {
          // Remembered before the answer: the client's next request must find it.
          recent->Record(appended, acked.partition, acked.offset);
          services::Log(*logger, spdlog::level::debug, "event appended",
                        {{"event_type", event_type},
                         {"event_id", appended->event_id()},
                         {"job_id", job_id},
                         {"partition", std::to_string(acked.partition)},
                         {"offset", std::to_string(acked.offset)}});
          answered = r->TrySendBody(status, body, location);
        } else if (s.code() == ErrorCode::kTimeout) {
          answered = r->TrySendError(
              {"append_unconfirmed",
               "the event log did not confirm the request (" + s.message() + "); " + advice, "",
               json{{"job_id", job_id}}});
        } else {
          answered = r->TrySendError({"kafka_unavailable",
                                      "the event log did not take the request (" + s.message() +
                                          "); nothing was appended: retry later",
                                      ""});
        }
        hold.reset();     // after Record: a duplicate waiting for the key finds the job
        if (!answered) {  // the deadline answered 503 first
          services::Log(*logger, spdlog::level::warn,
                        "event log answered after the client was told 503",
                        {{"event_type", event_type},
                         {"event_id", appended->event_id()},
                         {"job_id", job_id},
                         {"outcome", s.ok() ? "appended" : s.message()}});
        }
      });
}


void ApiApplication::Impl::ReadJob(const ResponderPtr& r, const std::string& id,
                                   std::function<void(std::optional<v1::JobState>)> then,
                                   std::function<void(const Status&)> failed) {
  std::optional<RecentJob> recent = recent_->Find(CanonicalJobId(id));
  if (!recent) {
    WithDatabase<std::optional<v1::JobState>>(
        r, [id](pqxx::connection& c) { return LoadJob(c, id); }, std::move(then),
        std::move(failed));
    return;
  }
  AwaitProjection(r, id, std::make_shared<const RecentJob>(std::move(*recent)),
                  SteadyClock::now() + options_.projection_wait, 0, std::move(then),
                  std::move(failed));
}

void ApiApplication::Impl::AwaitProjection(const ResponderPtr& r, const std::string& id,
                                           std::shared_ptr<const RecentJob> recent,
                                           SteadyClock::time_point deadline, int attempt,
                                           std::function<void(std::optional<v1::JobState>)> then,
                                           std::function<void(const Status&)> failed) {
  if (r->answered()) return;  // e.g. answered 503 shutting_down while waiting
  const int32_t partition = recent->partition;
  WithDatabase<ProjectedJob>(
      r,
      [id, projection = options_.projection, topic = topics_.job_events, partition](
          pqxx::connection& c) { return LoadProjectedJob(c, id, projection, topic, partition); },
      [this, r, id, recent, deadline, attempt, then, failed](ProjectedJob projected) {
        if (projected.next_offset > recent->last_offset() ||
            (projected.state &&
             ReflectsAppends(*projected.state, projected.next_offset, *recent))) {
          return then(std::move(projected.state));
        }
        const auto now = SteadyClock::now();
        if (now < deadline) {
          const auto delay = std::min(ProjectionPollDelay(attempt), deadline - now);
          timer_.At(now + delay, [this, r, id, recent, deadline, attempt, then, failed] {
            AwaitProjection(r, id, recent, deadline, attempt + 1, then, failed);
          });
          return;
        }
        services::Log(*logger_, spdlog::level::info,
                      "projection behind this process's appends: answering from them",
                      {{"job_id", id},
                       {"partition", std::to_string(recent->partition)},
                       {"projected_to", std::to_string(projected.next_offset)},
                       {"appended_at", std::to_string(recent->last_offset())}});
        then(UnprojectedState(std::move(projected.state), projected.next_offset, *recent));
      },
      failed);
}

void ApiApplication::Impl::WithJob(const ResponderPtr& r, const std::string& id,
                                   std::function<void(v1::JobState)> found) {
  if (auto error = CheckJobId(id)) return r->SendError(*error);
  r->SetJobId(id);
  ReadJob(r, id, [r, id, found = std::move(found)](std::optional<v1::JobState> state) {
    if (!state) return r->SendError(JobNotFound(id));
    if (state->workflow_run()) {  // known from this process's appends: no jobs row
      return r->SendError(
          {"job_not_found", id + " is a workflow, not a job: GET /api/v1/workflows/" + id, ""});
    }
    if (state->status() == v1::JOB_STATUS_DELETED) {
      return r->SendError(
          {"job_not_found",
           "job " + id + " was deleted; its history stays under /logs and /executions", ""});
    }
    found(std::move(*state));
  });
}

void ApiApplication::Impl::WithJobQuery(
    const ResponderPtr& r, const std::string& id,
    std::function<std::optional<json>(pqxx::connection&)> query) {
  if (auto error = CheckJobId(id)) return r->SendError(*error);
  r->SetJobId(id);
  auto run = [this, r, id, query = std::move(query)] {
    WithDatabase<std::optional<json>>(r, query, [r, id](std::optional<json> answer) {
      if (!answer) return r->SendError(JobNotFound(id));
      r->SendJson(200, *answer);
    });
  };
  if (!recent_->Find(CanonicalJobId(id))) return run();
  // Read your writes: first let the projection reach this process's appends.
  ReadJob(r, id, [run](std::optional<v1::JobState>) { run(); });
}

void ApiApplication::Impl::GetJob(const ResponderPtr& r, const std::string& id) {
  WithJob(r, id, [r](v1::JobState state) { r->SendJson(200, RenderJob(state)); });
}

void ApiApplication::Impl::ListJobs(const ResponderPtr& r, const RequestInfo& req) {
  if (auto e = CheckQueryParams(req.query, {"status", "limit", "cursor"})) return r->SendError(*e);
  JobListQuery query;
  if (auto it = req.query.find("status"); it != req.query.end()) {
    v1::JobStatus status = events::ParseJobStatus(it->second);
    if (status == v1::JOB_STATUS_UNSPECIFIED || status == v1::JOB_STATUS_DELETED) {
      return r->SendError(
          {"invalid_parameter",
           "must be one of " + ValidStatusNames() + ", got " + DescribeValue(json(it->second)),
           "status"});
    }
    query.status = it->second;
  }
  if (auto e = ParseLimit(req.query, kDefaultListLimit, kMaxListLimit, &query.limit)) {
    return r->SendError(*e);
  }
  if (auto it = req.query.find("cursor"); it != req.query.end()) {
    query.cursor = DecodeCursor(it->second);
    if (!query.cursor) {
      return r->SendError(
          {"invalid_parameter",
           "is not a cursor this API returned; pass next_cursor from the previous page unchanged",
           "cursor"});
    }
  }
  WithDatabase<json>(
      r, [query](pqxx::connection& c) { return ListJobsPage(c, query); },
      [r](json page) { r->SendJson(200, page); });
}

void ApiApplication::Impl::ListExecutions(const ResponderPtr& r, const std::string& id,
                                          const RequestInfo& req) {
  auto query = ParseExecutionsQuery(req.query);
  if (auto* error = std::get_if<ApiError>(&query)) return r->SendError(*error);
  WithJobQuery(r, id, [id, q = std::get<ExecutionsQuery>(query)](pqxx::connection& c) {
    return ExecutionsPage(c, id, q);
  });
}

// POST /api/v1/jobs/{id}/cancel[?cascade=true]: reads the job (worker
// thread), then appends CancelRequested (with cascade, also one for each
// descendant not ended); the scheduler decides the actual JobCanceled.
void ApiApplication::Impl::Cancel(const ResponderPtr& r, const std::string& id,
                                  const RequestInfo& req) {
  auto cascade = ParseCancelQuery(req.query);
  if (auto* error = std::get_if<ApiError>(&cascade)) return r->SendError(*error);
  const bool descendants = std::get<bool>(cascade);
  events::Origin origin = MakeOrigin(req);
  WithJob(r, id, [this, r, id, origin, descendants](v1::JobState state) {
    std::string status_name(events::JobStatusName(state.status()));
    if (events::IsTerminal(state.status())) {
      return r->SendError({"job_terminal",
                           "job " + id + " is already " + status_name + " and cannot be canceled",
                           "", json{{"status", status_name}}});
    }
    // The stored id is canonical (lower case): it is the Kafka key of the job's stream.
    const std::string& job_id = state.job_id();
    events::Envelope event =
        events::MakeEnvelope(ids::EventId("CancelRequested", job_id, ""), job_id, origin);
    event.mutable_cancel_requested()->set_reason("requested through the API");
    json answer = {{"job_id", job_id}, {"status", status_name}, {"cancel_requested", true}};
    if (!descendants) return AppendThenRespond(r, event, 202, answer.dump(), "");
    CancelWithDescendants(r, std::move(event), std::move(answer), origin);
  });
}

// POST /api/v1/jobs/{id}/pause|resume|run and DELETE /api/v1/jobs/{id}:
// reads the job, checks the command against the fold (a rejection is a 409
// and appends nothing), appends it and answers 202 once Kafka acknowledged.
void ApiApplication::Impl::RunCommand(const ResponderPtr& r, const std::string& id,
                                      const RequestInfo& req, Command command) {
  if (auto error = CheckIdempotencyKeyHeader(req)) return r->SendError(*error);
  events::Origin origin = MakeOrigin(req);
  std::optional<std::string> key = req.idempotency_key;
  WithJob(r, id, [this, r, origin, key, command](v1::JobState state) {
    const std::string& job_id = state.job_id();
    events::Envelope event =
        MakeCommand(command, job_id, CommandEventId(command, job_id, key), origin);
    auto checked = CheckCommand(state, event, /*recurring_only=*/command != Command::kDelete);
    if (auto* error = std::get_if<ApiError>(&checked)) return r->SendError(*error);
    json answer = {{"job_id", job_id}};
    if (command == Command::kRunNow) {
      answer["run_id"] = event.run_requested().run_id();
      answer["fire_id"] = event.run_requested().fire_id();
    } else {
      answer["status"] = events::JobStatusName(std::get<v1::JobState>(checked).status());
    }
    AppendThenRespond(r, event, 202, answer.dump(), "");
  });
}

// PATCH /api/v1/jobs/{id}: the body's shape is checked on the I/O thread;
// the merged spec is validated against the stored job on a worker thread,
// then JobUpdated is appended and the merged job's view answered (202).
void ApiApplication::Impl::UpdateJob(const ResponderPtr& r, const std::string& id,
                                     const RequestInfo& req) {
  auto body = ParseBody(req);
  if (auto* error = std::get_if<ApiError>(&body)) return r->SendError(*error);
  json patch = std::move(std::get<json>(body));
  if (auto error = CheckUpdateShape(patch)) return r->SendError(FromFieldError(*error));
  if (auto error = CheckIdempotencyKeyHeader(req)) return r->SendError(*error);
  events::Origin origin = MakeOrigin(req);
  std::optional<std::string> key = req.idempotency_key;
  WithJob(r, id, [this, r, origin, key, patch = std::move(patch)](v1::JobState state) {
    const std::string status(events::JobStatusName(state.status()));
    if (events::IsTerminal(state.status())) {
      return r->SendError(
          {"job_terminal",
           "job " + state.job_id() + " is already " + status + " and cannot be updated", "",
           json{{"status", status}}});
    }
    auto update = ParseJobUpdate(patch, state.spec(), clock_.Now());
    if (auto* error = std::get_if<FieldError>(&update)) {
      return r->SendError(FromFieldError(std::move(*error)));
    }
    const std::string& job_id = state.job_id();
    events::Envelope event = MakeUpdate(job_id, UpdateEventId(job_id, key), origin,
                                        std::move(std::get<JobUpdate>(update)));
    auto checked = CheckCommand(state, event, /*recurring_only=*/false);
    if (auto* error = std::get_if<ApiError>(&checked)) return r->SendError(*error);
    std::string view = RenderJob(std::get<v1::JobState>(checked))
                           .dump(-1, ' ', false, json::error_handler_t::replace);
    AppendThenRespond(r, event, 202, std::move(view), "");
  });
}

void ApiApplication::Impl::Stats(const ResponderPtr& r, const std::string& id,
                                 const RequestInfo& req) {
  if (auto e = CheckQueryParams(req.query, {})) return r->SendError(*e);
  WithJobQuery(r, id, [id](pqxx::connection& c) { return JobStats(c, id); });
}

void ApiApplication::Impl::Logs(const ResponderPtr& r, const std::string& id,
                                const RequestInfo& req) {
  auto query = ParseLogsQuery(req.query);
  if (auto* error = std::get_if<ApiError>(&query)) return r->SendError(*error);
  WithJobQuery(r, id, [id, q = std::get<LogsQuery>(query)](pqxx::connection& c) {
    return LogsPage(c, id, q);
  });
}

void ApiApplication::Impl::Why(const ResponderPtr& r, const std::string& id,
                               const RequestInfo& req) {
  auto at = ParseWhyQuery(req.query);
  if (auto* error = std::get_if<ApiError>(&at)) return r->SendError(*error);
  WithJobQuery(r, id, [id, t = std::get<TimePoint>(at), now = clock_.Now()](pqxx::connection& c) {
    return ExplainAt(c, id, t, now);
  });
}

// GET /api/v1/schedules/preview: pure, answered on the I/O thread.
void ApiApplication::Impl::Preview(const ResponderPtr& r, const RequestInfo& req) {
  auto answer = PreviewSchedule(req.query, clock_.Now());
  if (auto* error = std::get_if<ApiError>(&answer)) return r->SendError(*error);
  r->SendJson(200, std::get<json>(answer));
}

// The ops routes: reads on the worker threads; the requeue loads the job,
// checks JobRequeued against the fold and appends it like the other commands.
void ApiApplication::Impl::ServeOps(const ResponderPtr& r, const RequestInfo& req,
                                    OpsRoute route) {
  if (auto* error = std::get_if<ApiError>(&route)) return r->SendError(*error);
  if (auto* read = std::get_if<OpsRead>(&route)) {
    return WithDatabase<json>(r, std::move(read->query), [r](json answer) {
      r->SendJson(200, answer);
    });
  }
  if (auto error = CheckIdempotencyKeyHeader(req)) return r->SendError(*error);
  events::Origin origin = MakeOrigin(req);
  std::optional<std::string> key = req.idempotency_key;
  WithJob(r, std::get<OpsRequeue>(route).job_id, [this, r, origin, key](v1::JobState state) {
    auto planned = PlanRequeue(state, key, origin);
    if (auto* error = std::get_if<ApiError>(&planned)) return r->SendError(*error);
    auto& requeue = std::get<PlannedRequeue>(planned);
    AppendThenRespond(r, requeue.event, 202,
                      requeue.view.dump(-1, ' ', false, json::error_handler_t::replace), "");
  });
}

void ApiApplication::Impl::Health(const ResponderPtr& r) {
  bool queued = workers_.Submit([this, r] {
    Result<bool> ok = pool_.Run<bool>([](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      tx.exec("SET LOCAL statement_timeout = 1000");
      tx.exec("SELECT 1");
      return true;
    });
    if (!ok.ok()) {
      services::Log(*logger_, spdlog::level::warn, "health: PostgreSQL is down",
                    {{"reason", ok.status().message()}});
    }
    // Liveness: the process serves; PostgreSQL's and Kafka's states are information.
    r->SendJson(200, {{"status", "ok"},
                      {"postgres", ok.ok() ? "ok" : "down"},
                      {"kafka", producer_.Reachable() ? "ok" : "down"}});
  });
  if (!queued) {
    r->SendJson(
        200,
        {{"status", "ok"}, {"postgres", "busy"}, {"kafka", producer_.Reachable() ? "ok" : "down"}});
  }
}

// ---------------------------------------------------------------------------

ApiApplication::ApiApplication(ApiOptions options, events::Producer& producer,
                               std::string database_url, events::Topics topics, Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(options), producer, std::move(database_url),
                                   std::move(topics), clock)) {}

ApiApplication::~ApiApplication() = default;

Status ApiApplication::Start() { return impl_->Start(); }

void ApiApplication::Stop() { impl_->Stop(); }

int ApiApplication::port() const { return impl_->port(); }

}  // namespace jobsched::api
