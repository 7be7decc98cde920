// The API's handlers without a database: ApiApplication over an in-memory
// ApiQueries and a MemoryEventLog producer, served on a loopback port. Also
// the route table (routes.h) and the pure submit command (job_submit.h).
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "events/fold.h"
#include "events/ids.h"
#include "events/memory_event_log.h"
#include "services/api/api_application.h"
#include "services/api/job_submit.h"
#include "services/api/queries.h"
#include "services/api/routes.h"
#include "tests/support/http_client.h"
#include "tests/support/metric_sample.h"

namespace jobsched::api {
namespace {

using nlohmann::json;
using testing::HttpRequest;
using testing::HttpResponse;

const TimePoint kNow = FromUnixMillis(1'780'000'000'000);

// Answers from maps; every read it was not given fails as a database bug would.
// Set the data before the requests that read it.
class FakeQueries final : public ApiQueries {
 public:
  std::map<std::string, v1::JobState> jobs;
  json executors = {{"executors", json::array()}};
  std::atomic<int> list_calls{0};

  // Every read fails with `status` from now on.
  void GoDown(Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    down_ = std::move(status);
  }

  Result<std::optional<v1::JobState>> GetJob(const std::string& job_id) override {
    if (auto d = Down()) return *d;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs.find(job_id);
    if (it == jobs.end()) return std::optional<v1::JobState>();
    return std::optional<v1::JobState>(it->second);
  }
  Result<ProjectedJob> GetProjectedJob(const std::string& job_id, const std::string&,
                                       const std::string&, int32_t) override {
    auto job = GetJob(job_id);
    if (!job.ok()) return job.status();
    // The projection is always far ahead: read-your-writes answers from the row.
    return ProjectedJob{job.value(), int64_t{1} << 40};
  }
  Result<json> ListJobs(const JobListQuery&) override {
    ++list_calls;
    if (auto d = Down()) return *d;
    return json{{"jobs", json::array()}, {"next_cursor", nullptr}};
  }
  Result<std::optional<json>> ListExecutions(const std::string&, const ExecutionsQuery&) override {
    return Unexpected();
  }
  Result<std::optional<json>> Stats(const std::string&) override { return Unexpected(); }
  Result<std::optional<json>> Logs(const std::string&, const LogsQuery&) override {
    return Unexpected();
  }
  Result<std::optional<json>> Events(const std::string&, const EventsQuery&) override {
    return Unexpected();
  }
  Result<std::optional<json>> Why(const std::string&, TimePoint, TimePoint) override {
    return Unexpected();
  }
  Result<json> Executors(TimePoint, std::chrono::milliseconds) override {
    if (auto d = Down()) return *d;
    return executors;
  }
  Result<json> QueueStats() override { return Unexpected(); }
  Result<json> DeadLetters(const DeadLettersQuery&) override { return Unexpected(); }
  Result<std::optional<json>> GetWorkflow(const std::string&) override { return Unexpected(); }
  Result<json> ListWorkflows(const WorkflowListQuery&) override { return Unexpected(); }
  Result<std::optional<WorkflowCancelTarget>> WorkflowCancelTargetOf(const std::string&) override {
    return Unexpected();
  }
  Result<std::vector<std::string>> OpenDescendants(const std::string&, size_t) override {
    return Unexpected();
  }
  Result<std::optional<json>> Dependencies(const std::string&) override { return Unexpected(); }
  Result<std::vector<ParentInfo>> Parents(const std::vector<std::string>&) override {
    return Unexpected();
  }
  Result<BatchRows> BatchLookup(const std::vector<std::string>&,
                                const std::vector<std::string>&) override {
    return Unexpected();
  }
  Status Ping(std::chrono::milliseconds) override { return Down().value_or(Status::Ok()); }

 private:
  static Status Unexpected() { return Status::Internal("the fake was not given this read"); }
  std::optional<Status> Down() {
    std::lock_guard<std::mutex> lock(mu_);
    return down_;
  }
  std::mutex mu_;
  std::optional<Status> down_;  // guarded by mu_
};

// A job as the projection would hold it: the fold of its JobSubmitted.
v1::JobState SubmittedJob(const std::string& body) {
  auto planned =
      PlanJobSubmission(body, std::nullopt, {"test", kNow, "req-1", ""}, [] { return RandomId(); });
  const auto& plan = std::get<PlannedSubmission>(planned);
  v1::JobState state;
  EXPECT_TRUE(events::Apply(state, plan.event).applied());
  return state;
}

// A counter's value or a histogram's sample count; 0 when the series is absent.
double Sample(prometheus::Registry& registry, const std::string& name,
              const std::map<std::string, std::string>& labels) {
  auto s = testing::FindSample(registry, name, labels);
  return s ? s->value : 0;
}

class ApiHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    producer_ = std::move(log_.NewProducer("api-test")).value();
    queries_ = std::make_shared<FakeQueries>();
    ApiOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.instance_id = "test";
    options.metrics = registry_;
    app_ =
        std::make_unique<ApiApplication>(options, *producer_, queries_, events::Topics{}, clock_);
    ASSERT_TRUE(app_->Start().ok());
  }
  void TearDown() override { app_->Stop(); }

  HttpResponse Call(const std::string& method, const std::string& path,
                    const std::string& body = "") {
    return HttpRequest(method, "http://127.0.0.1:" + std::to_string(app_->port()) + path, body,
                       {"Content-Type: application/json"});
  }
  static json Body(const HttpResponse& r) { return json::parse(r.body); }

  events::MemoryEventLog log_;
  std::unique_ptr<events::Producer> producer_;
  ManualClock clock_{kNow};
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  std::shared_ptr<FakeQueries> queries_;
  std::unique_ptr<ApiApplication> app_;
};

TEST_F(ApiHandlersTest, GetJobFoundAndNotFound) {
  v1::JobState job = SubmittedJob(R"({"type":"echo","name":"nightly"})");
  queries_->jobs[job.job_id()] = job;

  HttpResponse found = Call("GET", "/api/v1/jobs/" + job.job_id());
  ASSERT_EQ(found.status, 200) << found.body;
  EXPECT_EQ(Body(found)["job_id"], job.job_id());
  EXPECT_EQ(Body(found)["name"], "nightly");

  const std::string missing = RandomId();
  HttpResponse not_found = Call("GET", "/api/v1/jobs/" + missing);
  EXPECT_EQ(not_found.status, 404);
  EXPECT_EQ(Body(not_found)["error"]["code"], "job_not_found");

  // Recorded under the route template, never the raw path.
  const std::map<std::string, std::string> route = {{"method", "GET"},
                                                    {"route", "/api/v1/jobs/{id}"}};
  auto with_status = [&](const char* status) {
    auto labels = route;
    labels["status"] = status;
    return labels;
  };
  EXPECT_EQ(Sample(*registry_, "jobsched_api_requests_total", with_status("200")), 1);
  EXPECT_EQ(Sample(*registry_, "jobsched_api_requests_total", with_status("404")), 1);
  EXPECT_EQ(Sample(*registry_, "jobsched_api_request_duration_seconds", route), 2);
}

TEST_F(ApiHandlersTest, ListWithABadCursorNeverReachesTheQueries) {
  HttpResponse r = Call("GET", "/api/v1/jobs?cursor=not-a-cursor");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Body(r)["error"]["code"], "invalid_parameter");
  EXPECT_EQ(Body(r)["error"]["field"], "cursor");
  EXPECT_EQ(queries_->list_calls.load(), 0);

  HttpResponse ok = Call("GET", "/api/v1/jobs?limit=5");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(queries_->list_calls.load(), 1);
}

TEST_F(ApiHandlersTest, DatabaseDownIs503) {
  queries_->GoDown(Status::Unavailable("connection refused"));
  HttpResponse r = Call("GET", "/api/v1/jobs/" + RandomId());
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Body(r)["error"]["code"], "database_unavailable");
}

TEST_F(ApiHandlersTest, HealthReportsDatabaseBrokerAndExecutors) {
  queries_->executors = {{"executors",
                          {{{"id", "a"}, {"status", "ACTIVE"}},
                           {{"id", "b"}, {"status", "ACTIVE"}},
                           {{"id", "c"}, {"status", "STALE"}}}}};
  HttpResponse r = Call("GET", "/health");
  ASSERT_EQ(r.status, 200);
  json h = Body(r);
  EXPECT_EQ(h["status"], "ok");
  EXPECT_EQ(h["database"]["ok"], true);
  EXPECT_EQ(h["broker"]["ok"], true);
  EXPECT_EQ(h["executors"], (json{{"total", 3}, {"active", 2}, {"stale", 1}}));
  EXPECT_TRUE(app_->Ready().ready);

  queries_->GoDown(Status::Unavailable("connection refused"));
  HttpResponse down = Call("GET", "/health");
  EXPECT_EQ(down.status, 200);  // alive, if degraded
  h = Body(down);
  EXPECT_EQ(h["status"], "degraded");
  EXPECT_EQ(h["database"]["ok"], false);
  EXPECT_NE(h["database"]["error"].get<std::string>().find("connection refused"),
            std::string::npos);
  EXPECT_TRUE(h["executors"]["total"].is_null());
  services::Readiness ready = app_->Ready();
  EXPECT_FALSE(ready.ready);
  EXPECT_EQ(ready.checks["database"]["ok"], false);
  EXPECT_EQ(ready.checks["broker"]["ok"], true);
}

TEST_F(ApiHandlersTest, SubmissionsAreCountedOnceAppended) {
  HttpResponse r = Call("POST", "/api/v1/jobs", R"({"type":"echo"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Sample(*registry_, "jobsched_api_jobs_submitted_total", {}), 1);
  HttpResponse bad = Call("POST", "/api/v1/jobs", R"({"name":"no type"})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(Sample(*registry_, "jobsched_api_jobs_submitted_total", {}), 1);
}

TEST_F(ApiHandlersTest, UnmatchedAndWrongMethod) {
  HttpResponse nope = Call("GET", "/api/v1/nope");
  EXPECT_EQ(nope.status, 404);
  EXPECT_EQ(Body(nope)["error"]["code"], "not_found");
  HttpResponse wrong = Call("PUT", "/api/v1/jobs");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.headers["allow"], "GET, POST");
  EXPECT_EQ(Sample(*registry_, "jobsched_api_requests_total",
                   {{"method", "GET"}, {"route", "unmatched"}, {"status", "404"}}),
            1);
  EXPECT_EQ(Sample(*registry_, "jobsched_api_requests_total",
                   {{"method", "PUT"}, {"route", "/api/v1/jobs"}, {"status", "405"}}),
            1);
  // The streams and the system metrics are ApiOptions' to serve.
  EXPECT_EQ(Call("GET", "/api/v1/stream").status, 501);
}

TEST(ApiRoutes, LiteralsWinOverParameters) {
  RouteLookup batch = LookUpRoute("GET", "/api/v1/jobs/batch");
  EXPECT_EQ(batch.route, nullptr);
  EXPECT_EQ(batch.path_template, "/api/v1/jobs/batch");
  EXPECT_EQ(batch.allowed, std::vector<std::string>{"POST"});

  RouteLookup cancel = LookUpRoute("POST", "//api/v1/jobs/ABC/cancel/");
  ASSERT_NE(cancel.route, nullptr);
  EXPECT_EQ(cancel.route->id, RouteId::kCancelJob);
  EXPECT_EQ(cancel.params.at("id"), "ABC");

  RouteLookup job = LookUpRoute("DELETE", "/api/v1/jobs/x");
  ASSERT_NE(job.route, nullptr);
  EXPECT_EQ(job.route->id, RouteId::kDeleteJob);
  EXPECT_EQ(job.allowed, (std::vector<std::string>{"GET", "PATCH", "DELETE"}));

  EXPECT_TRUE(LookUpRoute("GET", "/api/v1/jobs/x/nope").path_template.empty());
  EXPECT_TRUE(LookUpRoute("GET", "/").path_template.empty());
}

TEST(ApiRoutes, EveryRouteIsFoundByItsOwnTemplate) {
  for (const RouteSpec& spec : ApiRoutes()) {
    RouteLookup found = LookUpRoute(spec.method, spec.path);
    ASSERT_NE(found.route, nullptr) << spec.method << " " << spec.path;
    EXPECT_EQ(found.route, &spec) << spec.method << " " << spec.path;
  }
}

TEST(PlanJobSubmission, KeysIdsAndErrors) {
  const events::Origin origin{"api/test", kNow, "req-1", ""};
  auto fresh = [] { return std::string("11111111-1111-4111-8111-111111111111"); };

  auto plain = PlanJobSubmission(R"({"type":"echo"})", std::nullopt, origin, fresh);
  ASSERT_TRUE(std::holds_alternative<PlannedSubmission>(plain));
  EXPECT_EQ(std::get<PlannedSubmission>(plain).event.job_id(), fresh());
  EXPECT_FALSE(std::get<PlannedSubmission>(plain).keyed);
  EXPECT_TRUE(std::get<PlannedSubmission>(plain).event.has_job_submitted());

  auto keyed = PlanJobSubmission(R"({"type":"echo"})", std::string("k-1"), origin, fresh);
  ASSERT_TRUE(std::holds_alternative<PlannedSubmission>(keyed));
  const auto& plan = std::get<PlannedSubmission>(keyed);
  EXPECT_TRUE(plan.keyed);
  EXPECT_EQ(plan.event.job_id(), ids::JobIdForIdempotencyKey("k-1"));
  EXPECT_EQ(plan.event.job_submitted().spec().idempotency_key(), "k-1");
  EXPECT_EQ(plan.event.event_id(), ids::EventId("JobSubmitted", plan.event.job_id(), ""));

  auto conflict = PlanJobSubmission(R"({"type":"echo","idempotency_key":"a"})", std::string("b"),
                                    origin, fresh);
  ASSERT_TRUE(std::holds_alternative<ApiError>(conflict));
  EXPECT_EQ(std::get<ApiError>(conflict).code, "idempotency_key_conflict");

  auto bad_json = PlanJobSubmission("{", std::nullopt, origin, fresh);
  ASSERT_TRUE(std::holds_alternative<ApiError>(bad_json));
  EXPECT_EQ(std::get<ApiError>(bad_json).code, "invalid_json");

  auto empty_key = PlanJobSubmission(R"({"type":"echo"})", std::string(""), origin, fresh);
  ASSERT_TRUE(std::holds_alternative<ApiError>(empty_key));
  EXPECT_EQ(std::get<ApiError>(empty_key).field, "Idempotency-Key");
}

}  // namespace
}  // namespace jobsched::api
