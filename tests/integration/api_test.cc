// The API in-process on port 0: a MemoryEventLog producer stands in for
// Kafka, a throwaway PostgreSQL (ScopedPostgres + ApplyMigrations) holds the
// projections, filled through the projector's PgProjectionStore (rows of
// given states), the real Projector run over the test's log (ProjectLog), or
// plain SQL. Each test has its own database and its own log.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "events/envelope.h"
#include "events/fold.h"
#include "events/ids.h"
#include "events/kafka_event_log.h"
#include "events/memory_event_log.h"
#include "projections/executor_projector.h"
#include "projections/migrations.h"
#include "projections/pg_projection_store.h"
#include "projections/projector.h"
#include "services/api/api_application.h"
#include "services/api/job_view.h"
#include "tests/integration/api_fixture.h"
#include "tests/support/devbroker.h"
#include "tests/support/http_client.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace jobsched::api {
namespace {

using nlohmann::json;
using testing::HttpRequest;
using testing::HttpResponse;

class ApiTest : public ApiFixture {
 protected:
  ApiTest() : ApiFixture("apitest-") {}

  void SetUp() override {
    CreateDatabase("api_");
    StartApi(database_url_);
  }

  void TearDown() override {
    if (projector_) projector_->Stop();
    ApiFixture::TearDown();
  }

  void StartApi(const std::string& database_url) {
    CreateLog();
    auto feeder = log_.NewProducer("scheduler-stand-in");
    ASSERT_TRUE(feeder.ok()) << feeder.status().ToString();
    feeder_ = std::move(feeder).value();
    ApiFixture::StartApi(*producer_, database_url, [this](ApiOptions& o) { Configure(o); });
  }

  virtual void Configure(ApiOptions&) {}

  // Asserts an error response: status, code, field, and the one error shape.
  static void ExpectError(const HttpResponse& r, long status, const std::string& code,
                          const std::string& field = "") {
    EXPECT_EQ(r.status, status) << r.body.substr(0, 500);
    EXPECT_EQ(r.headers.count("content-type") ? r.headers.at("content-type") : "",
              "application/json");
    json b = Body(r);
    ASSERT_TRUE(b.contains("error")) << r.body;
    EXPECT_EQ(b["error"].value("code", ""), code) << r.body;
    EXPECT_FALSE(b["error"].value("message", "").empty()) << r.body;
    if (field.empty()) {
      EXPECT_FALSE(b["error"].contains("field")) << r.body;
    } else {
      EXPECT_EQ(b["error"].value("field", ""), field) << r.body;
    }
  }

  // The events of one job, in log order (a job's events share a partition).
  std::vector<events::Envelope> EventsOf(const std::string& job_id) {
    std::vector<events::Envelope> out;
    for (const auto& e : Events()) {
      if (e.job_id() == job_id) out.push_back(e);
    }
    return out;
  }

  // Appends events as the other services would (scheduler, executor, ...).
  void Append(const std::vector<events::Envelope>& events) {
    std::vector<events::Record> records;
    for (const auto& e : events) {
      records.push_back(
          {.topic = topics_.job_events, .key = e.job_id(), .value = events::Encode(e)});
    }
    Status s = feeder_->Append(std::move(records));
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // Starts the real projector over the log (projection "jobs", as the API
  // expects); it runs until the test ends.
  void StartProjector() {
    if (projector_) return;
    projector_ = StartRealProjector(log_, database_url_, topics_, store_);
  }

  // Runs the real projector over the log until PostgreSQL reflects every record.
  void ProjectLog() {
    StartProjector();
    int64_t high = 0;
    for (int p = 0; p < 4; ++p) high += log_.GetWatermarks({topics_.job_events, p})->high;
    pqxx::connection c(database_url_);
    ASSERT_TRUE(testing::WaitFor(
        [&] {
          pqxx::nontransaction tx(c);
          return tx.exec(
                       "SELECT coalesce(sum(next_offset), 0) FROM projection_offsets"
                       " WHERE projection = 'jobs'")[0][0]
                     .as<int64_t>() == high;
        },
        std::chrono::seconds(30)));
  }

  // Writes job states (and their runs) the way the projector does.
  void Project(const std::vector<v1::JobState>& states) {
    projections::PgProjectionStore store({.database_url = database_url_});
    projections::ProjectionBatch batch;
    batch.projection = "api-test-" + std::to_string(++batches_);
    batch.topic = topics_.job_events;
    batch.jobs = states;
    for (const auto& s : states) {
      for (const auto& run : s.runs()) batch.executions.push_back({s.job_id(), run});
    }
    batch.offsets.push_back({.partition = 0, .expected = std::nullopt, .next_offset = 1});
    Status written = store.Write(batch);
    ASSERT_TRUE(written.ok()) << written.ToString();
  }

  events::Envelope Event(const std::string& job_id, const std::string& type, TimePoint at) {
    return events::MakeEnvelope(ids::EventId(type, job_id, std::to_string(++event_seq_)), job_id,
                                {"test", at, "corr", ""});
  }

  // A job folded through `steps` events after its submission:
  // 0 submitted, 1 due, 2 dispatched, 3 started, 4 run succeeded, 5 job succeeded.
  v1::JobState MakeJob(const std::string& name, TimePoint created, int steps) {
    const std::string id = RandomId();
    v1::JobState s;
    events::Envelope sub = Event(id, "JobSubmitted", created);
    auto* spec = sub.mutable_job_submitted()->mutable_spec();
    spec->set_name(name);
    spec->set_type(v1::JOB_TYPE_ECHO);
    spec->set_priority(5);
    spec->set_max_retries(3);
    spec->set_timeout_seconds(300);
    spec->mutable_retry_policy()->set_strategy(v1::RETRY_STRATEGY_EXPONENTIAL);
    EXPECT_TRUE(events::Apply(s, sub).applied());
    const std::string run_id = ids::RunId(id, ids::OnceFireId(id), 1);
    TimePoint t = created + Millis(10);
    if (steps >= 1) {
      events::Envelope e = Event(id, "RunDue", t);
      e.mutable_run_due()->set_run_id(run_id);
      e.mutable_run_due()->set_attempt(1);
      e.mutable_run_due()->set_fire_id(ids::OnceFireId(id));
      *e.mutable_run_due()->mutable_scheduled_for() = ToProto(created);
      EXPECT_TRUE(events::Apply(s, e).applied());
    }
    if (steps >= 2) {
      events::Envelope e = Event(id, "RunDispatched", t + Millis(1));
      e.mutable_run_dispatched()->set_run_id(run_id);
      e.mutable_run_dispatched()->set_lease_epoch(1);
      EXPECT_TRUE(events::Apply(s, e).applied());
    }
    if (steps >= 3) {
      events::Envelope e = Event(id, "RunStarted", t + Millis(2));
      e.mutable_run_started()->set_run_id(run_id);
      e.mutable_run_started()->set_executor_id("exec-1");
      e.mutable_run_started()->set_lease_epoch(1);
      EXPECT_TRUE(events::Apply(s, e).applied());
    }
    if (steps >= 4) {
      events::Envelope e = Event(id, "RunSucceeded", t + Millis(3));
      e.mutable_run_succeeded()->set_run_id(run_id);
      e.mutable_run_succeeded()->set_executor_id("exec-1");
      e.mutable_run_succeeded()->set_lease_epoch(1);
      e.mutable_run_succeeded()->set_duration_ms(7);
      EXPECT_TRUE(events::Apply(s, e).applied());
    }
    if (steps >= 5) {
      events::Envelope e = Event(id, "JobSucceeded", t + Millis(4));
      e.mutable_job_succeeded()->set_run_id(run_id);
      EXPECT_TRUE(events::Apply(s, e).applied());
    }
    return s;
  }

  std::unique_ptr<events::Producer> feeder_;  // events of the other services
  std::unique_ptr<projections::PgProjectionStore> store_;
  std::unique_ptr<projections::Projector> projector_;
  int batches_ = 0;
  int event_seq_ = 0;
};

json ValidJob() {
  return {{"name", "echo me"},
          {"type", "echo"},
          {"payload", {{"hello", "world"}, {"n", 1}}},
          {"priority", 7}};
}

TEST_F(ApiTest, SubmitAppendsExactlyOneJobSubmitted) {
  HttpResponse r = Call("POST", "/api/v1/jobs", ValidJob().dump(),
                        {"Content-Type: application/json", "X-Request-Id: req-123"});
  ASSERT_EQ(r.status, 201) << r.body;
  json job = Body(r);
  const std::string id = job["job_id"];
  EXPECT_TRUE(LooksLikeUuid(id));
  EXPECT_EQ(r.headers["location"], "/api/v1/jobs/" + id);
  EXPECT_EQ(r.headers["x-request-id"], "req-123");
  EXPECT_EQ(job["status"], "PENDING");
  EXPECT_EQ(job["priority"], 7);
  EXPECT_EQ(job["payload"], ValidJob()["payload"]);
  EXPECT_EQ(job["created_at"], "2026-03-01T12:00:00.000Z");

  std::vector<events::Envelope> events = Events();
  ASSERT_EQ(events.size(), 1u);
  const events::Envelope& e = events[0];
  EXPECT_EQ(e.event_case(), events::Envelope::kJobSubmitted);
  EXPECT_EQ(e.job_id(), id);
  EXPECT_EQ(e.event_id(), ids::EventId("JobSubmitted", id, ""));
  EXPECT_EQ(e.producer(), "api/test-1");
  EXPECT_EQ(e.correlation_id(), "req-123");
  EXPECT_EQ(FormatRfc3339(FromProto(e.occurred_at())), "2026-03-01T12:00:00.000Z");
  const v1::JobSpec& spec = e.job_submitted().spec();
  EXPECT_EQ(spec.name(), "echo me");
  EXPECT_EQ(spec.type(), v1::JOB_TYPE_ECHO);
  EXPECT_EQ(spec.priority(), 7);
  EXPECT_EQ(spec.max_retries(), 3);
  EXPECT_EQ(json::parse(spec.payload_json()), ValidJob()["payload"]);

  // The 201 body is the fold of exactly that event...
  v1::JobState state;
  ASSERT_TRUE(events::Apply(state, e).applied());
  EXPECT_EQ(RenderJob(state), job);
  // ...and GET returns the same once the projector has stored it.
  Project({state});
  HttpResponse g = Call("GET", "/api/v1/jobs/" + id);
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_EQ(Body(g), job);
}

TEST_F(ApiTest, SubmitHttpJob) {
  json body = {{"name", "hook"},
               {"type", "http"},
               {"http", {{"url", "https://example.com/hook"}, {"headers", {{"X-A", "1"}}}}},
               {"run_at", "2026-03-01T13:00:00Z"}};
  HttpResponse r = Call("POST", "/api/v1/jobs", body.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  json job = Body(r);
  EXPECT_EQ(job["status"], "SCHEDULED");
  EXPECT_EQ(job["http"]["method"], "POST");
  EXPECT_EQ(job["http"]["headers"]["X-A"], "1");
  EXPECT_EQ(job["run_at"], "2026-03-01T13:00:00.000Z");
  EXPECT_EQ(Events().size(), 1u);
}

struct BadRequest {
  std::string what;
  std::string method;
  std::string path;
  std::string body;
  std::vector<std::string> headers;
  long status;
  std::string code;
  std::string field;
};

TEST_F(ApiTest, BadRequestsGetJsonErrorsAndAppendNothing) {
  const std::string job_path = "/api/v1/jobs";
  auto with = [](json b, const std::string& key, json v) {
    b[key] = std::move(v);
    return b.dump();
  };
  std::vector<BadRequest> cases = {
      {"broken JSON", "POST", job_path, "{\"name\": ", kJsonHeader, 400, "invalid_json", ""},
      {"empty body", "POST", job_path, "", kJsonHeader, 400, "invalid_json", ""},
      {"array body", "POST", job_path, "[1,2]", kJsonHeader, 400, "invalid_json", ""},
      {"unknown field", "POST", job_path, with(ValidJob(), "nmae", "x"), kJsonHeader, 400,
       "unknown_field", "nmae"},
      {"missing type", "POST", job_path, R"({"name":"n"})", kJsonHeader, 400, "missing_field",
       "type"},
      {"bad cron", "POST", job_path, R"({"type":"echo","schedule":"0 61 * * * *"})", kJsonHeader,
       400, "invalid_field", "schedule"},
      {"unknown zone", "POST", job_path,
       R"({"type":"echo","schedule":"@hourly","timezone":"Mars/Base"})", kJsonHeader, 400,
       "invalid_field", "timezone"},
      {"run_at with schedule", "POST", job_path,
       R"({"type":"echo","schedule":"@hourly","run_at":"2026-03-02T00:00:00Z"})", kJsonHeader, 400,
       "invalid_field", "run_at"},
      {"schedule field alone", "POST", job_path, R"({"type":"echo","max_runs":3})", kJsonHeader,
       400, "invalid_field", "max_runs"},
      {"preview bad cron", "GET", "/api/v1/schedules/preview?cron=0+61+*+*+*+*", "", kJsonHeader,
       400, "invalid_field", "cron"},
      {"preview without cron", "GET", "/api/v1/schedules/preview", "", kJsonHeader, 400,
       "invalid_parameter", "cron"},
      {"preview count", "GET", "/api/v1/schedules/preview?cron=@daily&count=1001", "", kJsonHeader,
       400, "invalid_parameter", "count"},
      {"preview via POST", "POST", "/api/v1/schedules/preview?cron=@daily", "", kJsonHeader, 405,
       "method_not_allowed", ""},
      {"pause bad id", "POST", "/api/v1/jobs/42/pause", "", kJsonHeader, 400, "invalid_job_id",
       "job_id"},
      {"pause unknown", "POST", "/api/v1/jobs/" + RandomId() + "/pause", "", kJsonHeader, 404,
       "job_not_found", ""},
      {"resume unknown", "POST", "/api/v1/jobs/" + RandomId() + "/resume", "", kJsonHeader, 404,
       "job_not_found", ""},
      {"run unknown", "POST", "/api/v1/jobs/" + RandomId() + "/run", "", kJsonHeader, 404,
       "job_not_found", ""},
      {"run via GET", "GET", "/api/v1/jobs/" + RandomId() + "/run", "", kJsonHeader, 405,
       "method_not_allowed", ""},
      {"delete unknown", "DELETE", "/api/v1/jobs/" + RandomId(), "", kJsonHeader, 404,
       "job_not_found", ""},
      {"patch unknown", "PATCH", "/api/v1/jobs/" + RandomId(), R"({"priority":1})", kJsonHeader,
       404, "job_not_found", ""},
      {"patch empty", "PATCH", "/api/v1/jobs/" + RandomId(), "{}", kJsonHeader, 400,
       "missing_field", ""},
      {"patch no body", "PATCH", "/api/v1/jobs/" + RandomId(), "", kJsonHeader, 400, "invalid_json",
       ""},
      {"patch unknown field", "PATCH", "/api/v1/jobs/" + RandomId(), R"({"colour":1})", kJsonHeader,
       400, "unknown_field", "colour"},
      {"patch type", "PATCH", "/api/v1/jobs/" + RandomId(), R"({"type":"echo"})", kJsonHeader, 400,
       "invalid_field", "type"},
      {"stats unknown", "GET", "/api/v1/jobs/" + RandomId() + "/stats", "", kJsonHeader, 404,
       "job_not_found", ""},
      {"stats via POST", "POST", "/api/v1/jobs/" + RandomId() + "/stats", "", kJsonHeader, 405,
       "method_not_allowed", ""},
      {"logs unknown", "GET", "/api/v1/jobs/" + RandomId() + "/logs", "", kJsonHeader, 404,
       "job_not_found", ""},
      {"logs level", "GET", "/api/v1/jobs/" + RandomId() + "/logs?level=debug", "", kJsonHeader,
       400, "invalid_parameter", "level"},
      {"why without at", "GET", "/api/v1/jobs/" + RandomId() + "/why", "", kJsonHeader, 400,
       "invalid_parameter", "at"},
      {"why unknown", "GET", "/api/v1/jobs/" + RandomId() + "/why?at=2026-03-01T12:00:00Z", "",
       kJsonHeader, 404, "job_not_found", ""},
      {"executions cursor", "GET", "/api/v1/jobs/" + RandomId() + "/executions?cursor=abc", "",
       kJsonHeader, 400, "invalid_parameter", "cursor"},
      {"key too long on pause",
       "POST",
       "/api/v1/jobs/" + RandomId() + "/pause",
       "",
       {"Idempotency-Key: " + std::string(201, 'k')},
       400,
       "invalid_field",
       "Idempotency-Key"},
      {"bad priority", "POST", job_path, with(ValidJob(), "priority", "high"), kJsonHeader, 400,
       "invalid_field", "priority"},
      {"bad delay", "POST", job_path, with(ValidJob(), "retry_policy", {{"base_delay_ms", "abc"}}),
       kJsonHeader, 400, "invalid_field", "retry_policy.base_delay_ms"},
      {"bad url", "POST", job_path, R"({"name":"n","type":"http","http":{"url":"ftp://x"}})",
       kJsonHeader, 400, "invalid_field", "http.url"},
      {"sleep without ms", "POST", job_path, R"({"name":"n","type":"sleep"})", kJsonHeader, 400,
       "missing_field", "payload.ms"},
      {"run_at too far", "POST", job_path, with(ValidJob(), "run_at", "2027-06-01T00:00:00Z"),
       kJsonHeader, 400, "invalid_field", "run_at"},
      {"keys differ",
       "POST",
       job_path,
       with(ValidJob(), "idempotency_key", "a"),
       {"Content-Type: application/json", "Idempotency-Key: b"},
       400,
       "idempotency_key_conflict",
       "idempotency_key"},
      {"key too long",
       "POST",
       job_path,
       ValidJob().dump(),
       {"Content-Type: application/json", "Idempotency-Key: " + std::string(201, 'k')},
       400,
       "invalid_field",
       "Idempotency-Key"},
      {"2 MiB payload", "POST", job_path,
       with(ValidJob(), "payload", {{"blob", std::string(2 << 20, 'x')}}), kJsonHeader, 413,
       "payload_too_large", "payload"},
      {"body over the limit", "POST", job_path, std::string(3 << 20, ' '), kJsonHeader, 413,
       "payload_too_large", ""},
      {"wrong method", "PUT", job_path, ValidJob().dump(), kJsonHeader, 405, "method_not_allowed",
       ""},
      {"unknown route", "POST", "/api/v1/jobz", ValidJob().dump(), kJsonHeader, 404, "not_found",
       ""},
      {"cancel via GET", "GET", "/api/v1/jobs/" + RandomId() + "/cancel", "", kJsonHeader, 405,
       "method_not_allowed", ""},
      {"bad cancel id", "POST", "/api/v1/jobs/42/cancel", "", kJsonHeader, 400, "invalid_job_id",
       "job_id"},
      {"cancel unknown", "POST", "/api/v1/jobs/" + RandomId() + "/cancel", "", kJsonHeader, 404,
       "job_not_found", ""},
  };
  for (const BadRequest& c : cases) {
    SCOPED_TRACE(c.what);
    HttpResponse r = Call(c.method, c.path, c.body, c.headers);
    ExpectError(r, c.status, c.code, c.field);
  }
  EXPECT_TRUE(Events().empty());
}

TEST_F(ApiTest, MethodNotAllowedListsTheAllowedMethods) {
  HttpResponse r = Call("PUT", "/api/v1/jobs/" + RandomId());
  ExpectError(r, 405, "method_not_allowed");
  EXPECT_EQ(r.headers["allow"], "GET, PATCH, DELETE");
  HttpResponse pause = Call("GET", "/api/v1/jobs/" + RandomId() + "/pause");
  ExpectError(pause, 405, "method_not_allowed");
  EXPECT_EQ(pause.headers["allow"], "POST");
}

TEST_F(ApiTest, KafkaFailureAnswers503AndStoresNothing) {
  log_.FailNextAppends(1, Status::Unavailable("broker down"));
  HttpResponse r = Call("POST", "/api/v1/jobs", ValidJob().dump());
  ExpectError(r, 503, "kafka_unavailable");
  EXPECT_NE(Body(r)["error"]["message"].get<std::string>().find("broker down"), std::string::npos);
  EXPECT_TRUE(Events().empty());
  // The next submission goes through.
  EXPECT_EQ(Call("POST", "/api/v1/jobs", ValidJob().dump()).status, 201);
  EXPECT_EQ(Events().size(), 1u);
}

// A repeated key names the job that exists: 409 with that job as it really
// is (GET's JSON, with what happened to it since), whether or not the body
// differs, and nothing appended.
TEST_F(ApiTest, RepeatedIdempotencyKeyIs409WithTheJobAsItIs) {
  StartProjector();
  std::vector<std::string> headers = {"Content-Type: application/json", "Idempotency-Key: order-7"};
  HttpResponse a = Call("POST", "/api/v1/jobs", ValidJob().dump(), headers);
  ASSERT_EQ(a.status, 201) << a.body;
  const std::string id = ids::JobIdForIdempotencyKey("order-7");
  EXPECT_EQ(Body(a)["job_id"], id);
  EXPECT_EQ(Body(a)["idempotency_key"], "order-7");
  EXPECT_EQ(Body(a)["status"], "PENDING");

  // The job moves on (the scheduler, dispatcher and executor append), and time passes.
  const std::string run_id = ids::RunId(id, ids::OnceFireId(id), 1);
  events::Envelope due = Event(id, "RunDue", clock_.Now());
  due.mutable_run_due()->set_run_id(run_id);
  due.mutable_run_due()->set_attempt(1);
  due.mutable_run_due()->set_fire_id(ids::OnceFireId(id));
  *due.mutable_run_due()->mutable_scheduled_for() = ToProto(clock_.Now());
  events::Envelope dispatched = Event(id, "RunDispatched", clock_.Now());
  dispatched.mutable_run_dispatched()->set_run_id(run_id);
  dispatched.mutable_run_dispatched()->set_lease_epoch(1);
  events::Envelope started = Event(id, "RunStarted", clock_.Now());
  started.mutable_run_started()->set_run_id(run_id);
  started.mutable_run_started()->set_executor_id("exec-1");
  started.mutable_run_started()->set_lease_epoch(1);
  Append({due, dispatched, started});
  clock_.Advance(std::chrono::minutes(5));
  ProjectLog();
  HttpResponse got = Call("GET", "/api/v1/jobs/" + id);
  ASSERT_EQ(got.status, 200) << got.body;
  ASSERT_EQ(Body(got)["status"], "RUNNING");

  json other = ValidJob();
  other["name"] = "a different body";
  other["idempotency_key"] = "order-7";
  for (const HttpResponse& r : {Call("POST", "/api/v1/jobs", ValidJob().dump(), headers),
                                Call("POST", "/api/v1/jobs", other.dump())}) {
    ExpectError(r, 409, "duplicate_idempotency_key");
    json b = Body(r);
    EXPECT_EQ(b["error"]["job_id"], id);
    EXPECT_NE(b["error"]["message"].get<std::string>().find("/api/v1/jobs/" + id),
              std::string::npos)
        << r.body;
    EXPECT_EQ(b["job"], Body(got));  // as it is: RUNNING, created 5 minutes ago
    EXPECT_EQ(b["job"]["created_at"], Body(a)["created_at"]);
    EXPECT_EQ(r.headers.at("location"), "/api/v1/jobs/" + id);
  }
  std::vector<events::Envelope> mine = EventsOf(id);
  ASSERT_EQ(mine.size(), 4u);  // no second JobSubmitted
  EXPECT_EQ(mine[0].event_case(), events::Envelope::kJobSubmitted);
}

// Before the projector has stored it, this process still knows its own job.
TEST_F(ApiTest, RepeatedIdempotencyKeyIs409BeforeTheJobIsProjected) {
  std::vector<std::string> headers = {"Content-Type: application/json", "Idempotency-Key: k-1"};
  HttpResponse a = Call("POST", "/api/v1/jobs", ValidJob().dump(), headers);
  ASSERT_EQ(a.status, 201) << a.body;
  HttpResponse b = Call("POST", "/api/v1/jobs", ValidJob().dump(), headers);
  ExpectError(b, 409, "duplicate_idempotency_key");
  EXPECT_EQ(Body(b)["job"], Body(a));  // the appended view: nothing happened to it yet
  EXPECT_EQ(Events().size(), 1u);
}

// 100 submissions with one key at once: one 201, 99 409s, one JobSubmitted.
TEST_F(ApiTest, ConcurrentDuplicateSubmissionsAppendOnce) {
  StartProjector();
  constexpr int kRequests = 100;
  std::vector<std::future<HttpResponse>> calls;
  for (int i = 0; i < kRequests; ++i) {
    calls.push_back(std::async(std::launch::async, [this, i] {
      json body = ValidJob();
      body["priority"] = i % 10;  // bodies differ: the key decides
      return Call("POST", "/api/v1/jobs", body.dump(),
                  {"Content-Type: application/json", "Idempotency-Key: same-key"});
    }));
  }
  int created = 0;
  int duplicates = 0;
  const std::string id = ids::JobIdForIdempotencyKey("same-key");
  for (auto& c : calls) {
    HttpResponse r = c.get();
    if (r.status == 201) {
      ++created;
    } else {
      ExpectError(r, 409, "duplicate_idempotency_key");
      EXPECT_EQ(Body(r)["job"]["job_id"], id);
      ++duplicates;
    }
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(duplicates, kRequests - 1);
  EXPECT_EQ(Events().size(), 1u);
}

TEST_F(ApiTest, GetUnknownOrMalformedJob) {
  ExpectError(Call("GET", "/api/v1/jobs/" + RandomId()), 404, "job_not_found");
  ExpectError(Call("GET", "/api/v1/jobs/not-a-uuid"), 400, "invalid_job_id", "job_id");
  ExpectError(Call("GET", "/api/v1/jobs/" + RandomId() + "/executions"), 404, "job_not_found");
}

TEST_F(ApiTest, CancelTerminalJobIsAConflict) {
  v1::JobState done = MakeJob("done", clock_.Now(), 5);
  ASSERT_EQ(done.status(), v1::JOB_STATUS_SUCCEEDED);
  Project({done});
  HttpResponse r = Call("POST", "/api/v1/jobs/" + done.job_id() + "/cancel");
  ExpectError(r, 409, "job_terminal");
  EXPECT_EQ(Body(r)["error"]["status"], "SUCCEEDED");
  EXPECT_TRUE(Events().empty());
}

TEST_F(ApiTest, CancelActiveJobAppendsOneCancelRequested) {
  v1::JobState active = MakeJob("active", clock_.Now(), 3);
  ASSERT_EQ(active.status(), v1::JOB_STATUS_RUNNING);
  Project({active});
  // An upper-case id finds the job; the event uses the canonical id.
  std::string upper = active.job_id();
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  HttpResponse r = Call("POST", "/api/v1/jobs/" + upper + "/cancel");
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(Body(r),
            (json{{"job_id", active.job_id()}, {"status", "RUNNING"}, {"cancel_requested", true}}));
  std::vector<events::Envelope> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_case(), events::Envelope::kCancelRequested);
  EXPECT_EQ(events[0].job_id(), active.job_id());
  EXPECT_EQ(events[0].event_id(), ids::EventId("CancelRequested", active.job_id(), ""));
  EXPECT_EQ(events[0].producer(), "api/test-1");
  // The fold accepts it.
  EXPECT_TRUE(events::Apply(active, events[0]).applied());
  EXPECT_TRUE(active.cancel_requested());
}

TEST_F(ApiTest, CancelWhenKafkaFailsIs503) {
  v1::JobState active = MakeJob("active", clock_.Now(), 0);
  Project({active});
  log_.FailNextAppends(1, Status::Unavailable("broker down"));
  ExpectError(Call("POST", "/api/v1/jobs/" + active.job_id() + "/cancel"), 503,
              "kafka_unavailable");
  EXPECT_TRUE(Events().empty());
}

TEST_F(ApiTest, ListFiltersByStatusAndPagesWithACursor) {
  std::vector<v1::JobState> jobs;
  TimePoint t0 = clock_.Now() - std::chrono::hours(1);
  for (int i = 0; i < 7; ++i) {
    jobs.push_back(
        MakeJob("job-" + std::to_string(i), t0 + std::chrono::minutes(i), i % 2 == 0 ? 0 : 5));
  }
  // Two jobs created in the same millisecond: the job_id breaks the tie.
  jobs.push_back(MakeJob("twin-a", t0 + std::chrono::minutes(3), 0));
  Project(jobs);

  // Newest first, every job exactly once across pages of 3.
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    HttpResponse r =
        Call("GET", "/api/v1/jobs?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(r.status, 200) << r.body;
    json page = Body(r);
    ASSERT_LE(page["jobs"].size(), 3u);
    for (const auto& j : page["jobs"]) seen.push_back(j["job_id"]);
    cursor = page["next_cursor"].is_null() ? "" : page["next_cursor"].get<std::string>();
    ++pages;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), jobs.size());
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), jobs.size());
  EXPECT_EQ(seen.front(), jobs[6].job_id());
  EXPECT_EQ(seen.back(), jobs[0].job_id());

  // The full list in one page has no next cursor.
  json all = Body(Call("GET", "/api/v1/jobs"));
  EXPECT_EQ(all["jobs"].size(), jobs.size());
  EXPECT_TRUE(all["next_cursor"].is_null());
  std::vector<std::string> all_ids;
  for (const auto& j : all["jobs"]) all_ids.push_back(j["job_id"]);
  EXPECT_EQ(all_ids, seen);

  json succeeded = Body(Call("GET", "/api/v1/jobs?status=SUCCEEDED"));
  ASSERT_EQ(succeeded["jobs"].size(), 3u);
  for (const auto& j : succeeded["jobs"]) EXPECT_EQ(j["status"], "SUCCEEDED");
  json pending = Body(Call("GET", "/api/v1/jobs?status=PENDING&limit=2"));
  EXPECT_EQ(pending["jobs"].size(), 2u);
  ASSERT_TRUE(pending["next_cursor"].is_string());
  json pending2 = Body(Call("GET", "/api/v1/jobs?status=PENDING&limit=2&cursor=" +
                                       pending["next_cursor"].get<std::string>()));
  EXPECT_EQ(pending2["jobs"].size(), 2u);
  ASSERT_TRUE(pending2["next_cursor"].is_string());
  json pending3 = Body(Call("GET", "/api/v1/jobs?status=PENDING&limit=2&cursor=" +
                                       pending2["next_cursor"].get<std::string>()));
  EXPECT_EQ(pending3["jobs"].size(), 1u);  // 4 of the 7 plus the twin are PENDING
  EXPECT_TRUE(pending3["next_cursor"].is_null());
  for (const json* page : {&pending, &pending2, &pending3}) {
    for (const auto& j : (*page)["jobs"]) EXPECT_EQ(j["status"], "PENDING");
  }

  HttpResponse bad = Call("GET", "/api/v1/jobs?status=DONE");
  ExpectError(bad, 400, "invalid_parameter", "status");
  EXPECT_NE(Body(bad)["error"]["message"].get<std::string>().find("PENDING, SCHEDULED, QUEUED"),
            std::string::npos);
  ExpectError(Call("GET", "/api/v1/jobs?cursor=bogus"), 400, "invalid_parameter", "cursor");
  ExpectError(Call("GET", "/api/v1/jobs?limit=0"), 400, "invalid_parameter", "limit");
  ExpectError(Call("GET", "/api/v1/jobs?limit=501"), 400, "invalid_parameter", "limit");
  ExpectError(Call("GET", "/api/v1/jobs?limit=abc"), 400, "invalid_parameter", "limit");
  ExpectError(Call("GET", "/api/v1/jobs?stauts=PENDING"), 400, "invalid_parameter", "stauts");
}

TEST_F(ApiTest, ExecutionsNewestFirst) {
  v1::JobState queued = MakeJob("queued", clock_.Now(), 2);
  v1::JobState done = MakeJob("done", clock_.Now(), 5);
  Project({queued, done});

  json q = Body(Call("GET", "/api/v1/jobs/" + queued.job_id() + "/executions"));
  ASSERT_EQ(q["executions"].size(), 1u);
  EXPECT_EQ(q["executions"][0]["status"], "QUEUED");
  EXPECT_EQ(q["executions"][0]["attempt"], 1);
  EXPECT_EQ(q["executions"][0]["started_at"], nullptr);

  json d = Body(Call("GET", "/api/v1/jobs/" + done.job_id() + "/executions?limit=1"));
  ASSERT_EQ(d["executions"].size(), 1u);
  const json& e = d["executions"][0];
  EXPECT_EQ(e["run_id"], done.runs(0).run_id());
  EXPECT_EQ(e["status"], "SUCCEEDED");
  EXPECT_EQ(e["executor_id"], "exec-1");
  EXPECT_EQ(e["duration_ms"], 7);
  EXPECT_EQ(e["scheduled_for"], FormatRfc3339(FromProto(done.runs(0).scheduled_for())));
  EXPECT_EQ(e["finished_at"], FormatRfc3339(FromProto(done.runs(0).finished_at())));
  ExpectError(Call("GET", "/api/v1/jobs/" + done.job_id() + "/executions?limit=101"), 400,
              "invalid_parameter", "limit");
}

TEST_F(ApiTest, HealthReportsPostgres) {
  HttpResponse r = Call("GET", "/health");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r), (json{{"status", "ok"},
                           {"database", {{"ok", true}}},
                           {"broker", {{"ok", true}}},
                           {"executors", {{"total", 0}, {"active", 0}, {"stale", 0}}},
                           {"postgres", "ok"},
                           {"kafka", "ok"}}));
}

TEST_F(ApiTest, KeepsConnectionsAliveOnlyWhenAsked) {
  EXPECT_EQ(Call("GET", "/health").headers["connection"], "Close");
  EXPECT_EQ(Call("GET", "/health", "", {"Connection: keep-alive"}).headers["connection"],
            "Keep-Alive");
}

TEST_F(ApiTest, ConcurrentSubmissionsAreEachAnsweredOnce) {
  constexpr int kClients = 8;
  constexpr int kPerClient = 25;
  std::vector<std::future<std::vector<std::string>>> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(std::async(std::launch::async, [this] {
      std::vector<std::string> ids;
      for (int i = 0; i < kPerClient; ++i) {
        HttpResponse r = Call("POST", "/api/v1/jobs", ValidJob().dump());
        EXPECT_EQ(r.status, 201) << r.body;
        if (r.status == 201) ids.push_back(Body(r)["job_id"]);
      }
      return ids;
    }));
  }
  std::set<std::string> ids;
  for (auto& c : clients) {
    for (auto& id : c.get()) ids.insert(id);
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kClients * kPerClient));
  std::set<std::string> logged;
  for (const auto& e : Events()) logged.insert(e.job_id());
  EXPECT_EQ(logged, ids);
}

// Read your writes, with the projector running as in production: a client's
// next request sees its own accepted job and its own command, every time.
TEST_F(ApiTest, ReadsAndCommandsRightAfterTheAnswerSeeTheWrite) {
  StartProjector();
  std::vector<std::string> misses;
  for (int i = 0; i < 100; ++i) {
    HttpResponse created = Call("POST", "/api/v1/jobs", ValidJob().dump());
    ASSERT_EQ(created.status, 201) << created.body;
    const std::string id = Body(created)["job_id"];
    HttpResponse got = Call("GET", "/api/v1/jobs/" + id);
    if (got.status != 200 || Body(got) != Body(created)) misses.push_back("GET: " + got.body);
    HttpResponse cancel = Call("POST", "/api/v1/jobs/" + id + "/cancel");
    if (cancel.status != 202) misses.push_back("cancel: " + cancel.body);
    HttpResponse after = Call("GET", "/api/v1/jobs/" + id);
    if (after.status != 200 || Body(after)["cancel_requested"] != true) {
      misses.push_back("GET after cancel: " + after.body);
    }
  }
  EXPECT_TRUE(misses.empty()) << misses.size() << " misses, first: " << misses.front();
  EXPECT_EQ(Events().size(), 200u);
}

// Without a projector the wait is bounded, and the answer comes from what
// was appended: the view of the submission, commands checked against it.
class ApiWithoutProjectorTest : public ApiTest {
 protected:
  void Configure(ApiOptions& options) override { options.projection_wait = Millis(300); }
};

TEST_F(ApiWithoutProjectorTest, AnswersFromTheAppendsWhenTheProjectionLags) {
  HttpResponse created = Call("POST", "/api/v1/jobs", ValidJob().dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = Body(created)["job_id"];
  const auto t0 = std::chrono::steady_clock::now();
  HttpResponse got = Call("GET", "/api/v1/jobs/" + id);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, Millis(300));  // waited for the projection
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(Body(got), Body(created));

  HttpResponse cancel = Call("POST", "/api/v1/jobs/" + id + "/cancel");
  ASSERT_EQ(cancel.status, 202) << cancel.body;
  EXPECT_EQ(Body(cancel),
            (json{{"job_id", id}, {"status", "PENDING"}, {"cancel_requested", true}}));
  json after = Body(Call("GET", "/api/v1/jobs/" + id));
  EXPECT_EQ(after["cancel_requested"], true);
  EXPECT_EQ(after["status"], "PENDING");
  // Checked against the fold of the appended state.
  ExpectError(Call("POST", "/api/v1/jobs/" + id + "/pause"), 409, "job_not_recurring");
  EXPECT_EQ(EventsOf(id).size(), 2u);

  // Jobs this process did not append to are not waited for.
  const auto t1 = std::chrono::steady_clock::now();
  ExpectError(Call("GET", "/api/v1/jobs/" + RandomId()), 404, "job_not_found");
  EXPECT_LT(std::chrono::steady_clock::now() - t1, Millis(300));
}

// While no broker is reachable, writes answer 503 at once and hand nothing
// to the producer (the memory log would store anything handed over).
TEST_F(ApiTest, UnreachableKafkaFailsFastAndHandsNothingOver) {
  v1::JobState active = MakeJob("active", clock_.Now(), 0);
  Project({active});
  log_.SetReachable(false);
  ExpectError(Call("POST", "/api/v1/jobs", ValidJob().dump()), 503, "kafka_unavailable");
  ExpectError(Call("POST", "/api/v1/jobs", ValidJob().dump(),
                   {"Content-Type: application/json", "Idempotency-Key: down-1"}),
              503, "kafka_unavailable");
  ExpectError(Call("POST", "/api/v1/jobs/" + active.job_id() + "/cancel"), 503,
              "kafka_unavailable");
  EXPECT_EQ(Body(Call("GET", "/health"))["kafka"], "down");
  EXPECT_TRUE(Events().empty());

  log_.SetReachable(true);
  EXPECT_EQ(Call("POST", "/api/v1/jobs", ValidJob().dump(),
                 {"Content-Type: application/json", "Idempotency-Key: down-1"})
                .status,
            201);
  EXPECT_EQ(Events().size(), 1u);
}

// The producer gave up on an event it had sent (its outcome is unknown):
// 503 append_unconfirmed naming the job, and a retry with the key is safe.
TEST_F(ApiTest, AnAppendWithAnUnknownOutcomeNamesItsJob) {
  log_.FailNextAppends(1, Status::Timeout("message timed out; it may have been stored"));
  const std::vector<std::string> headers = {"Content-Type: application/json",
                                            "Idempotency-Key: maybe-1"};
  HttpResponse r = Call("POST", "/api/v1/jobs", ValidJob().dump(), headers);
  ExpectError(r, 503, "append_unconfirmed");
  const std::string id = ids::JobIdForIdempotencyKey("maybe-1");
  EXPECT_EQ(Body(r)["error"]["job_id"], id);
  const std::string message = Body(r)["error"]["message"];
  EXPECT_NE(message.find("may still be stored"), std::string::npos) << message;
  EXPECT_NE(message.find("same Idempotency-Key"), std::string::npos) << message;
  // (The memory log did not store it, so the retry is the first append.)
  HttpResponse retry = Call("POST", "/api/v1/jobs", ValidJob().dump(), headers);
  ASSERT_EQ(retry.status, 201) << retry.body;
  EXPECT_EQ(Body(retry)["job_id"], id);
  EXPECT_EQ(Events().size(), 1u);
}

// ---------------------------------------------------------------------------
// Recurring jobs

json RecurringJob() {
  return {{"schedule", "*/30 * * * * *"}, {"http", {{"url", "http://127.0.0.1:9/x"}}}};
}

TEST_F(ApiTest, RecurringSubmissionIsActiveWithItsNextFire) {
  HttpResponse r = Call("POST", "/api/v1/jobs", RecurringJob().dump());
  ASSERT_EQ(r.status, 201) << r.body;
  json job = Body(r);
  const std::string id = job["job_id"];
  EXPECT_EQ(job["status"], "ACTIVE");
  EXPECT_EQ(job["recurring"], true);
  EXPECT_EQ(job["name"], "POST http://127.0.0.1:9/x");
  EXPECT_EQ(job["type"], "http");
  EXPECT_EQ(job["next_fire_at"], "2026-03-01T12:00:30.000Z");
  EXPECT_EQ(job["schedule"]["cron"], "*/30 * * * * *");
  EXPECT_EQ(job["schedule"]["timezone"], "UTC");
  EXPECT_EQ(job["counts"]["fires"], 0);

  std::vector<events::Envelope> events = Events();
  ASSERT_EQ(events.size(), 1u);
  const v1::JobSpec& spec = events[0].job_submitted().spec();
  EXPECT_EQ(spec.schedule().cron(), "*/30 * * * * *");
  EXPECT_EQ(spec.schedule().concurrency_policy(), v1::CONCURRENCY_POLICY_FORBID);
  v1::JobState state;
  ASSERT_TRUE(events::Apply(state, events[0]).applied());
  EXPECT_EQ(RenderJob(state), job);
  // The projector stores it; GET answers the same view.
  ProjectLog();
  HttpResponse g = Call("GET", "/api/v1/jobs/" + id);
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_EQ(Body(g), job);
  json list = Body(Call("GET", "/api/v1/jobs?status=ACTIVE"));
  ASSERT_EQ(list["jobs"].size(), 1u);
  EXPECT_EQ(list["jobs"][0]["job_id"], id);
}

TEST_F(ApiTest, BadScheduleNamesTheCronFieldAndAppendsNothing) {
  HttpResponse r = Call("POST", "/api/v1/jobs", R"({"type":"echo","schedule":"0 61 * * * *"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Body(r), (json{{"error",
                            {{"code", "invalid_field"},
                             {"message", "minute: 61 is out of range 0-59"},
                             {"field", "schedule"}}}}));
  HttpResponse zone =
      Call("POST", "/api/v1/jobs", R"({"type":"echo","schedule":"@daily","timezone":"Mars/Base"})");
  EXPECT_EQ(Body(zone)["error"]["message"], "unknown time zone \"Mars/Base\"");
  EXPECT_TRUE(Events().empty());
}

TEST_F(ApiTest, PreviewListsFireTimesAcrossDst) {
  HttpResponse r = Call("GET",
                        "/api/v1/schedules/preview?cron=0%2030%202%20*%20*%20*&timezone=America/"
                        "New_York&from=2026-03-07T00:00:00Z&count=3");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r), json::parse(R"({"fires":[
      {"at":"2026-03-07T07:30:00Z","local":"2026-03-07T02:30:00-05:00"},
      {"at":"2026-03-08T07:00:00Z","local":"2026-03-08T03:00:00-04:00"},
      {"at":"2026-03-09T06:30:00Z","local":"2026-03-09T02:30:00-04:00"}]})"));
  // from defaults to now (the API's clock): ten fires.
  json d = Body(Call("GET", "/api/v1/schedules/preview?cron=@hourly"));
  ASSERT_EQ(d["fires"].size(), 10u);
  EXPECT_EQ(d["fires"][0]["at"], "2026-03-01T13:00:00Z");
  HttpResponse bad = Call("GET", "/api/v1/schedules/preview?cron=0%2061%20*%20*%20*%20*");
  EXPECT_EQ(Body(bad), (json{{"error",
                              {{"code", "invalid_field"},
                               {"message", "minute: 61 is out of range 0-59"},
                               {"field", "cron"}}}}));
  EXPECT_TRUE(Events().empty());
}

TEST_F(ApiTest, PauseResumeRunUpdateAndDeleteAppendOneEventEach) {
  HttpResponse submitted = Call("POST", "/api/v1/jobs", RecurringJob().dump());
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const std::string id = Body(submitted)["job_id"];
  ProjectLog();
  // Each command appends exactly one event of the job; returns it.
  auto command = [&](const std::string& method, const std::string& path, const std::string& body,
                     long status, json* answer) {
    const size_t before = Events().size();
    HttpResponse r = Call(method, "/api/v1/jobs/" + id + path, body,
                          {"Content-Type: application/json", "X-Request-Id: req-7"});
    EXPECT_EQ(r.status, status) << r.body;
    *answer = Body(r);
    std::vector<events::Envelope> mine = EventsOf(id);
    EXPECT_EQ(Events().size(), before + 1);
    EXPECT_EQ(mine.back().producer(), "api/test-1");
    EXPECT_EQ(mine.back().correlation_id(), "req-7");
    EXPECT_EQ(mine.back().job_id(), id);
    return mine.back();
  };
  json answer;
  events::Envelope pause = command("POST", "/pause", "", 202, &answer);
  EXPECT_EQ(answer, (json{{"job_id", id}, {"status", "PAUSED"}}));
  ASSERT_TRUE(pause.has_pause_requested());
  EXPECT_TRUE(LooksLikeUuid(pause.event_id()));
  ProjectLog();
  json paused = Body(Call("GET", "/api/v1/jobs/" + id));
  EXPECT_EQ(paused["status"], "PAUSED");
  EXPECT_EQ(paused["paused_at"], "2026-03-01T12:00:00.000Z");
  EXPECT_EQ(paused["next_fire_at"], nullptr);

  // Pausing a PAUSED job is an idempotent repeat: 202, and the fold ignores it.
  events::Envelope again = command("POST", "/pause", "", 202, &answer);
  EXPECT_EQ(answer["status"], "PAUSED");
  EXPECT_NE(again.event_id(), pause.event_id());

  events::Envelope resume = command("POST", "/resume", "", 202, &answer);
  EXPECT_EQ(answer, (json{{"job_id", id}, {"status", "ACTIVE"}}));
  EXPECT_TRUE(resume.has_resume_requested());

  events::Envelope run = command("POST", "/run", "", 202, &answer);
  ASSERT_TRUE(run.has_run_requested());
  const std::string fire_id = ids::ManualFireId(id, run.event_id());
  EXPECT_EQ(run.run_requested().fire_id(), fire_id);
  EXPECT_EQ(run.run_requested().run_id(), ids::RunId(id, fire_id, 1));
  EXPECT_EQ(answer,
            (json{{"job_id", id}, {"run_id", run.run_requested().run_id()}, {"fire_id", fire_id}}));
  ProjectLog();

  events::Envelope update =
      command("PATCH", "", R"({"schedule":"0 0 * * * *","priority":9,"max_runs":5})", 202, &answer);
  ASSERT_TRUE(update.has_job_updated());
  EXPECT_EQ(std::vector<std::string>(update.job_updated().changed().begin(),
                                     update.job_updated().changed().end()),
            (std::vector<std::string>{"priority", "schedule", "max_runs"}));
  EXPECT_EQ(update.job_updated().spec().schedule().cron(), "0 0 * * * *");
  EXPECT_EQ(update.job_updated().spec().name(), "POST http://127.0.0.1:9/x");
  EXPECT_EQ(answer["schedule"]["cron"], "0 0 * * * *");
  EXPECT_EQ(answer["schedule"]["max_runs"], 5);
  EXPECT_EQ(answer["priority"], 9);
  EXPECT_EQ(answer["next_fire_at"], "2026-03-01T13:00:00.000Z");
  // The 202 is the fold of the job's log: what GET shows once projected.
  EXPECT_EQ(answer, RenderJob(events::FoldAll(EventsOf(id))));
  ProjectLog();
  EXPECT_EQ(Body(Call("GET", "/api/v1/jobs/" + id)), answer);

  events::Envelope deleted = command("DELETE", "", "", 202, &answer);
  EXPECT_EQ(answer, (json{{"job_id", id}, {"status", "DELETED"}}));
  EXPECT_TRUE(deleted.has_delete_requested());
  EXPECT_EQ(deleted.event_id(), ids::EventId("DeleteRequested", id, ""));
  ProjectLog();

  // Every event applied in order except the repeated pause.
  v1::JobState folded;
  std::vector<std::string> outcomes;
  for (const auto& e : EventsOf(id)) {
    outcomes.emplace_back(events::OutcomeName(events::Apply(folded, e).outcome));
  }
  EXPECT_EQ(outcomes, (std::vector<std::string>{"applied", "applied", "duplicate", "applied",
                                                "applied", "applied", "applied"}));

  // Deleted: gone from GET and the list, its history stays.
  HttpResponse gone = Call("GET", "/api/v1/jobs/" + id);
  ExpectError(gone, 404, "job_not_found");
  EXPECT_EQ(Body(gone)["error"]["message"],
            "job " + id + " was deleted; its history stays under /logs and /executions");
  EXPECT_TRUE(Body(Call("GET", "/api/v1/jobs"))["jobs"].empty());
  ExpectError(Call("GET", "/api/v1/jobs?status=DELETED"), 400, "invalid_parameter", "status");
  ExpectError(Call("POST", "/api/v1/jobs/" + id + "/pause"), 404, "job_not_found");
  ExpectError(Call("DELETE", "/api/v1/jobs/" + id), 404, "job_not_found");
  HttpResponse logs = Call("GET", "/api/v1/jobs/" + id + "/logs");
  ASSERT_EQ(logs.status, 200) << logs.body;
  const json log_page = Body(logs);
  std::vector<std::string> types;
  for (const auto& l : log_page["logs"]) types.push_back(l["event_type"]);
  EXPECT_EQ(types, (std::vector<std::string>{"DeleteRequested", "JobUpdated", "RunRequested",
                                             "ResumeRequested", "PauseRequested", "PauseRequested",
                                             "JobSubmitted"}));
  EXPECT_EQ(log_page["logs"][4]["outcome"], "duplicate");  // the repeated pause
  EXPECT_EQ(log_page["logs"][5]["outcome"], "applied");
  HttpResponse executions = Call("GET", "/api/v1/jobs/" + id + "/executions");
  ASSERT_EQ(executions.status, 200) << executions.body;
  EXPECT_TRUE(Body(executions)["executions"].empty());
}

TEST_F(ApiTest, CommandsTheFoldWouldRejectAre409AndAppendNothing) {
  v1::JobState once = MakeJob("once", clock_.Now(), 0);
  v1::JobState done = MakeJob("done", clock_.Now(), 5);
  // A recurring job that completed.
  v1::JobState completed;
  const std::string cid = RandomId();
  {
    events::Envelope sub = Event(cid, "JobSubmitted", clock_.Now());
    auto* spec = sub.mutable_job_submitted()->mutable_spec();
    spec->set_name("rec");
    spec->set_type(v1::JOB_TYPE_ECHO);
    spec->mutable_schedule()->set_cron("@hourly");
    ASSERT_TRUE(events::Apply(completed, sub).applied());
    events::Envelope end = Event(cid, "JobCompleted", clock_.Now() + Millis(5));
    end.mutable_job_completed()->set_reason("end_at reached");
    ASSERT_TRUE(events::Apply(completed, end).applied());
  }
  Project({once, done, completed});
  auto path = [](const v1::JobState& s, const std::string& suffix) {
    return "/api/v1/jobs/" + s.job_id() + suffix;
  };
  HttpResponse r = Call("POST", path(once, "/pause"));
  ExpectError(r, 409, "job_not_recurring");
  EXPECT_EQ(Body(r)["error"]["status"], "PENDING");
  EXPECT_EQ(
      Body(r)["error"]["message"],
      "job " + once.job_id() + " is PENDING (a one-off job): only recurring jobs can be paused");
  ExpectError(Call("POST", path(once, "/resume")), 409, "job_not_recurring");
  ExpectError(Call("POST", path(once, "/run")), 409, "job_not_recurring");
  ExpectError(Call("PATCH", path(once, ""), R"({"schedule":"@daily"})"), 409, "job_not_recurring",
              "schedule");
  ExpectError(Call("POST", path(done, "/run")), 409, "job_not_recurring");
  HttpResponse terminal = Call("PATCH", path(done, ""), R"({"priority":1})");
  ExpectError(terminal, 409, "job_terminal");
  EXPECT_EQ(Body(terminal)["error"]["status"], "SUCCEEDED");
  HttpResponse ended = Call("POST", path(completed, "/pause"));
  ExpectError(ended, 409, "job_terminal");
  EXPECT_EQ(Body(ended)["error"]["message"],
            "job " + completed.job_id() + " is COMPLETED: cannot pause a COMPLETED job");
  ExpectError(Call("POST", path(completed, "/resume")), 409, "job_terminal");
  ExpectError(Call("POST", path(completed, "/run")), 409, "job_terminal");
  ExpectError(Call("PATCH", path(completed, ""), R"({"schedule":"@daily"})"), 409, "job_terminal");
  EXPECT_TRUE(Events().empty());

  // What the fold allows on those jobs goes through.
  HttpResponse patched = Call("PATCH", path(once, ""), R"({"priority":1,"name":"renamed"})");
  ASSERT_EQ(patched.status, 202) << patched.body;
  EXPECT_EQ(Body(patched)["name"], "renamed");
  EXPECT_EQ(Body(patched)["priority"], 1);
  EXPECT_EQ(Body(patched)["recurring"], false);
  HttpResponse gone = Call("DELETE", path(done, ""));
  ASSERT_EQ(gone.status, 202) << gone.body;
  EXPECT_EQ(Events().size(), 2u);
}

TEST_F(ApiTest, PatchIsValidatedLikeASubmission) {
  ASSERT_EQ(Call("POST", "/api/v1/jobs", RecurringJob().dump()).status, 201);
  ProjectLog();
  const std::string id = Events()[0].job_id();
  const std::string path = "/api/v1/jobs/" + id;
  HttpResponse bad = Call("PATCH", path, R"({"schedule":"0 61 * * * *"})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(Body(bad), (json{{"error",
                              {{"code", "invalid_field"},
                               {"message", "minute: 61 is out of range 0-59"},
                               {"field", "schedule"}}}}));
  ExpectError(Call("PATCH", path, R"({"timezone":"Mars/Base"})"), 400, "invalid_field", "timezone");
  ExpectError(Call("PATCH", path, R"({"http":{"url":"ftp://x"}})"), 400, "invalid_field",
              "http.url");
  ExpectError(Call("PATCH", path, R"({"end_at":"2020-01-01T00:00:00Z"})"), 400, "invalid_field",
              "end_at");
  ExpectError(Call("PATCH", path, R"({"priority":11})"), 400, "invalid_field", "priority");
  ExpectError(Call("PATCH", path, R"({"schedule":null})"), 400, "invalid_field", "schedule");
  ExpectError(Call("PATCH", path, "[1]"), 400, "invalid_json");
  ExpectError(Call("PATCH", path, R"({"priorty":1})"), 400, "unknown_field", "priorty");
  EXPECT_EQ(Events().size(), 1u);
}

TEST_F(ApiTest, RetriedCommandsWithAnIdempotencyKeyRepeatTheirEvent) {
  ASSERT_EQ(Call("POST", "/api/v1/jobs", RecurringJob().dump()).status, 201);
  ProjectLog();
  const std::string id = Events()[0].job_id();
  const std::vector<std::string> key = {"Idempotency-Key: run-1"};
  HttpResponse a = Call("POST", "/api/v1/jobs/" + id + "/run", "", key);
  HttpResponse b = Call("POST", "/api/v1/jobs/" + id + "/run", "", key);
  ASSERT_EQ(a.status, 202) << a.body;
  ASSERT_EQ(b.status, 202) << b.body;
  EXPECT_EQ(Body(a), Body(b));
  std::vector<events::Envelope> events = EventsOf(id);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].event_id(), ids::EventId("RunRequested", id, "Idempotency-Key:run-1"));
  EXPECT_EQ(events[2].event_id(), events[1].event_id());
  v1::JobState s;
  EXPECT_TRUE(events::Apply(s, events[0]).applied());
  EXPECT_TRUE(events::Apply(s, events[1]).applied());
  EXPECT_EQ(events::Apply(s, events[2]).outcome, events::Outcome::kDuplicate);
  EXPECT_EQ(s.requested_size(), 1);
  // Without a key every request is a new manual run.
  HttpResponse c = Call("POST", "/api/v1/jobs/" + id + "/run");
  ASSERT_EQ(c.status, 202) << c.body;
  EXPECT_NE(Body(c)["run_id"], Body(a)["run_id"]);
}

// Inserts a job_executions row; times are seconds after `base`, -1 = NULL.
struct ExecutionSeed {
  std::string run_id;
  int attempt;
  std::string status;
  int due_s;
  int started_ms;   // after the slot (scheduled_for = due_s); -1 = not started
  int duration_ms;  // -1 = NULL
};

TEST_F(ApiTest, ExecutionsPageNewestFirstWithACursor) {
  v1::JobState job = MakeJob("execs", clock_.Now(), 0);
  Project({job});
  const std::string id = job.job_id();
  const std::string fire = ids::FireId(id, "2026-03-01T12:00:00", 1);
  // Ties: two runs due in the same instant with the same attempt number.
  std::vector<ExecutionSeed> seeds = {
      {RandomId(), 1, "SUCCEEDED", 10, 40, 25}, {RandomId(), 2, "FAILED", 20, 15, 7},
      {RandomId(), 1, "FAILED", 20, 5, 9},      {RandomId(), 1, "RUNNING", 30, 2, -1},
      {RandomId(), 1, "DUE", 40, -1, -1},       {RandomId(), 1, "CANCELED", 40, -1, -1},
      {RandomId(), 3, "SUCCEEDED", 50, 1, 3}};
  for (const auto& e : seeds) {
    std::string due =
        "timestamptz '2026-03-01T12:00:00Z' + interval '" + std::to_string(e.due_s) + " seconds'";
    std::string started =
        e.started_ms < 0 ? "NULL"
                         : due + " + interval '" + std::to_string(e.started_ms) + " milliseconds'";
    Sql("INSERT INTO job_executions (run_id, job_id, attempt, status, scheduled_for, due_at,"
        " started_at, finished_at, executor_id, lease_epoch, http_status, duration_ms, error,"
        " fire_id, nominal_time, kind) VALUES ('" +
        e.run_id + "', '" + id + "', " + std::to_string(e.attempt) + ", '" + e.status + "', " +
        due + ", " + due + ", " + started + ", " + (e.duration_ms < 0 ? "NULL" : started) +
        ", 'exec-1', 1, 200, " + (e.duration_ms < 0 ? "NULL" : std::to_string(e.duration_ms)) +
        ", NULL, '" + fire + "', '2026-03-01T12:00:00', 'scheduled')");
  }
  // Expected order: due_at, attempt, run_id, all descending.
  std::vector<ExecutionSeed> expected = seeds;
  std::sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) {
    return std::tie(a.due_s, a.attempt, a.run_id) > std::tie(b.due_s, b.attempt, b.run_id);
  });
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    HttpResponse r = Call("GET", "/api/v1/jobs/" + id + "/executions?limit=3" +
                                     (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(r.status, 200) << r.body;
    json page = Body(r);
    for (const auto& e : page["executions"]) seen.push_back(e["run_id"]);
    cursor = page["next_cursor"].is_null() ? "" : page["next_cursor"].get<std::string>();
    ++pages;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  std::vector<std::string> want;
  for (const auto& e : expected) want.push_back(e.run_id);
  EXPECT_EQ(seen, want);

  json first = Body(Call("GET", "/api/v1/jobs/" + id + "/executions?limit=1"));
  EXPECT_EQ(first["executions"][0], (json{{"run_id", expected[0].run_id},
                                          {"fire_id", fire},
                                          {"attempt", 3},
                                          {"kind", "scheduled"},
                                          {"nominal_time", "2026-03-01T12:00:00"},
                                          {"scheduled_for", "2026-03-01T12:00:50.000Z"},
                                          {"started_at", "2026-03-01T12:00:50.001Z"},
                                          {"finished_at", "2026-03-01T12:00:50.001Z"},
                                          {"status", "SUCCEEDED"},
                                          {"http_status", 200},
                                          {"duration_ms", 3},
                                          {"drift_ms", 1},
                                          {"error", nullptr},
                                          {"executor_id", "exec-1"},
                                          {"lease_epoch", 1},
                                          {"releases", 0},
                                          {"permanent", false},
                                          {"retry_after_ms", nullptr},
                                          {"queue_reason", nullptr}}));
  EXPECT_FALSE(first["next_cursor"].is_null());
}

TEST_F(ApiTest, StatsCountFromTheFoldAndPercentilesFromExecutions) {
  v1::JobState job = MakeJob("stats", clock_.Now(), 0);
  v1::RunSummary* sum = job.mutable_summary();
  sum->set_fires(12);
  sum->set_manual_fires(1);
  sum->set_succeeded(8);
  sum->set_failed(2);
  sum->set_canceled(1);
  sum->set_skipped(3);
  v1::JobState idle = MakeJob("idle", clock_.Now(), 0);
  Project({job, idle});
  const std::string id = job.job_id();
  // (status, duration, drift): 5 attempts with a result, 2 without (not in the window).
  const std::vector<std::tuple<std::string, int, int>> rows = {
      {"SUCCEEDED", 10, 5}, {"SUCCEEDED", 20, 1}, {"FAILED", 30, 2},    {"TIMED_OUT", 1000, 100},
      {"SUCCEEDED", 40, 3}, {"RUNNING", -1, 7},   {"CANCELED", -1, 500}};
  int n = 0;
  for (const auto& [status, duration, drift] : rows) {
    std::string due =
        "timestamptz '2026-03-01T12:00:00Z' + interval '" + std::to_string(++n) + " minutes'";
    Sql("INSERT INTO job_executions (run_id, job_id, attempt, status, scheduled_for, due_at,"
        " started_at, lease_epoch, duration_ms, kind) VALUES ('" +
        RandomId() + "', '" + id + "', 1, '" + status + "', " + due + ", " + due + ", " + due +
        " + interval '" + std::to_string(drift) + " milliseconds', 1, " +
        (duration < 0 ? "NULL" : std::to_string(duration)) + ", 'scheduled')");
  }
  HttpResponse r = Call("GET", "/api/v1/jobs/" + id + "/stats");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r), (json{{"job_id", id},
                           {"runs", 11},
                           {"succeeded", 8},
                           {"failed", 2},
                           {"canceled", 1},
                           {"skipped", 3},
                           {"success_rate", 0.8},
                           {"duration_ms", {{"p50", 30}, {"p99", 1000}, {"max", 1000}}},
                           {"drift_ms", {{"p50", 3}, {"p99", 100}, {"max", 100}}},
                           {"window", 5}}));
  json none = Body(Call("GET", "/api/v1/jobs/" + idle.job_id() + "/stats"));
  EXPECT_EQ(none["runs"], 0);
  EXPECT_EQ(none["success_rate"], nullptr);
  EXPECT_EQ(none["duration_ms"], (json{{"p50", nullptr}, {"p99", nullptr}, {"max", nullptr}}));
  EXPECT_EQ(none["window"], 0);
  ExpectError(Call("GET", "/api/v1/jobs/" + id + "/stats?window=5"), 400, "invalid_parameter",
              "window");
}

TEST_F(ApiTest, LogsNewestFirstWithFiltersAndACursor) {
  v1::JobState job = MakeJob("logs", clock_.Now(), 0);
  v1::JobState other = MakeJob("other", clock_.Now(), 0);
  Project({job, other});
  const std::string id = job.job_id();
  // (offset, seconds after 12:00, level, type)
  const std::vector<std::tuple<int, int, std::string, std::string>> rows = {
      {10, 0, "info", "JobSubmitted"}, {11, 10, "info", "RunDue"},
      {12, 20, "warn", "FireSkipped"}, {13, 30, "info", "RunDue"},
      {14, 40, "error", "RunFailed"},  {15, 50, "info", "RunDue"}};
  auto insert = [&](const std::string& job_id, int offset, int secs, const std::string& level,
                    const std::string& type) {
    Sql("INSERT INTO job_logs (event_id, job_id, run_id, ts, level, event_type, outcome, message,"
        " producer, fields, topic, kafka_partition, kafka_offset, envelope) VALUES ('" +
        RandomId() + "', '" + job_id + "', NULL, timestamptz '2026-03-01T12:00:00Z' + interval '" +
        std::to_string(secs) + " seconds', '" + level + "', '" + type + "', 'applied', 'm" +
        std::to_string(offset) + "', 'test', '{}', 'apitest-job-events', 0, " +
        std::to_string(offset) + ", '\\x00')");
  };
  for (const auto& [offset, secs, level, type] : rows) insert(id, offset, secs, level, type);
  insert(other.job_id(), 16, 60, "error", "RunFailed");
  auto offsets = [&](const std::string& query) {
    HttpResponse r = Call("GET", "/api/v1/jobs/" + id + "/logs" + query);
    EXPECT_EQ(r.status, 200) << r.body;
    const json page = Body(r);
    std::vector<int> out;
    for (const auto& l : page["logs"]) out.push_back(l["offset"]);
    return out;
  };
  EXPECT_EQ(offsets(""), (std::vector<int>{15, 14, 13, 12, 11, 10}));
  EXPECT_EQ(offsets("?level=warn"), (std::vector<int>{14, 12}));
  EXPECT_EQ(offsets("?level=error"), (std::vector<int>{14}));
  EXPECT_EQ(offsets("?event_type=RunDue"), (std::vector<int>{15, 13, 11}));
  EXPECT_EQ(offsets("?since=2026-03-01T12:00:20Z&until=2026-03-01T12:00:40Z"),
            (std::vector<int>{13, 12}));
  json one = Body(Call("GET", "/api/v1/jobs/" + id + "/logs?limit=1"));
  EXPECT_EQ(one["logs"][0]["message"], "m15");
  EXPECT_EQ(one["logs"][0]["ts"], "2026-03-01T12:00:50.000Z");
  EXPECT_EQ(one["logs"][0]["level"], "info");
  EXPECT_EQ(one["logs"][0]["outcome"], "applied");
  EXPECT_EQ(one["logs"][0]["run_id"], nullptr);
  EXPECT_TRUE(LooksLikeUuid(one["logs"][0]["event_id"].get<std::string>()));
  // Pages of 4: every row once.
  json page1 = Body(Call("GET", "/api/v1/jobs/" + id + "/logs?limit=4"));
  ASSERT_TRUE(page1["next_cursor"].is_string());
  EXPECT_EQ(offsets("?limit=4&cursor=" + page1["next_cursor"].get<std::string>()),
            (std::vector<int>{11, 10}));
  ExpectError(Call("GET", "/api/v1/jobs/" + id + "/logs?event_type=Nope"), 400, "invalid_parameter",
              "event_type");
}

TEST_F(ApiTest, WhyExplainsFiresSkipsAndTheTimesBetween) {
  HttpResponse created =
      Call("POST", "/api/v1/jobs", R"({"name":"tick","type":"echo","schedule":"0 * * * * *"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = Body(created)["job_id"];
  // The scheduler's and executor's records, as they would append them.
  auto event = [&](const std::string& type, const std::string& at) {
    return events::MakeEnvelope(ids::EventId(type, id, at), id,
                                {"scheduler/test", *ParseRfc3339(at), "corr", ""});
  };
  auto due = [&](const std::string& slot, const std::string& after) {
    events::Envelope e = event("RunDue", slot);
    const std::string nominal = slot.substr(0, 19);
    const std::string fire = ids::FireId(id, nominal, 1);
    auto* d = e.mutable_run_due();
    d->set_run_id(ids::RunId(id, fire, 1));
    d->set_attempt(1);
    *d->mutable_scheduled_for() = ToProto(*ParseRfc3339(slot));
    d->set_fire_id(fire);
    d->set_nominal_time(nominal);
    d->set_occurrence(1);
    d->set_kind(v1::FIRE_KIND_SCHEDULED);
    d->set_after_fire_id(after);
    return e;
  };
  events::Envelope first = due("2026-03-01T12:01:00Z", "");
  const std::string run1 = first.run_due().run_id();
  events::Envelope dispatched = event("RunDispatched", "2026-03-01T12:01:00.010Z");
  dispatched.mutable_run_dispatched()->set_run_id(run1);
  dispatched.mutable_run_dispatched()->set_lease_epoch(1);
  events::Envelope succeeded = event("RunSucceeded", "2026-03-01T12:01:00.050Z");
  succeeded.mutable_run_succeeded()->set_run_id(run1);
  succeeded.mutable_run_succeeded()->set_lease_epoch(1);
  succeeded.mutable_run_succeeded()->set_duration_ms(40);
  events::Envelope skipped = event("FireSkipped", "2026-03-01T12:04:05Z");
  auto* k = skipped.mutable_fire_skipped();
  k->set_fire_id(ids::FireId(id, "2026-03-01T12:02:00", 1));
  k->set_reason(v1::SKIP_REASON_MISFIRE);
  *k->mutable_scheduled_for() = ToProto(*ParseRfc3339("2026-03-01T12:02:00Z"));
  k->set_nominal_time("2026-03-01T12:02:00");
  k->set_occurrence(1);
  k->set_last_fire_id(ids::FireId(id, "2026-03-01T12:04:00", 1));
  *k->mutable_last_scheduled_for() = ToProto(*ParseRfc3339("2026-03-01T12:04:00Z"));
  k->set_last_nominal_time("2026-03-01T12:04:00");
  k->set_last_occurrence(1);
  k->set_count(3);
  k->set_after_fire_id(first.run_due().fire_id());
  k->set_detail(
      "missed by more than 1000 ms (scheduler down or job paused); misfire_policy "
      "fire_once");
  events::Envelope fifth = due("2026-03-01T12:05:00Z", k->last_fire_id());
  Append({first, dispatched, succeeded, skipped, fifth});
  clock_.Set(*ParseRfc3339("2026-03-01T12:06:30Z"));
  ProjectLog();

  auto why = [&](const std::string& at) {
    HttpResponse r = Call("GET", "/api/v1/jobs/" + id + "/why?at=" + at);
    EXPECT_EQ(r.status, 200) << r.body;
    return Body(r);
  };
  json fired = why("2026-03-01T12:01:00.400Z");
  EXPECT_EQ(fired["at"], "2026-03-01T12:01:00.000Z");
  EXPECT_EQ(fired["verdict"], "fired");
  EXPECT_EQ(fired["run_id"], run1);
  EXPECT_EQ(fired["fire_id"], first.run_due().fire_id());
  EXPECT_EQ(fired["status"], "SUCCEEDED");
  EXPECT_EQ(fired["attempts"], 1);
  EXPECT_EQ(fired["events"], json::array({first.event_id()}));

  json skip = why("2026-03-01T12:03:00Z");
  EXPECT_EQ(skip["verdict"], "skipped");
  EXPECT_EQ(skip["skip_reason"], "misfire");
  EXPECT_EQ(skip["from"], "2026-03-01T12:02:00.000Z");
  EXPECT_EQ(skip["to"], "2026-03-01T12:04:00.000Z");
  EXPECT_EQ(skip["count"], 3);
  EXPECT_EQ(skip["detail"], k->detail());
  EXPECT_EQ(skip["events"], json::array({skipped.event_id()}));

  json between = why("2026-03-01T12:01:30Z");
  EXPECT_EQ(between["verdict"], "not_a_slot");
  EXPECT_EQ(between["previous_fire"], "2026-03-01T12:01:00.000Z");
  EXPECT_EQ(between["next_fire"], "2026-03-01T12:02:00.000Z");
  EXPECT_EQ(between["events"], json::array({EventsOf(id)[0].event_id()}));

  json queued = why("2026-03-01T12:05:00Z");
  EXPECT_EQ(queued["verdict"], "fired");
  EXPECT_EQ(queued["status"], "QUEUED");

  EXPECT_EQ(why("2026-03-01T12:06:00Z")["verdict"], "pending");
  EXPECT_EQ(why("2026-03-01T12:30:00Z")["verdict"], "not_yet");
  EXPECT_EQ(why("2026-03-01T11:00:00Z")["verdict"], "before_start");
  ExpectError(Call("GET", "/api/v1/jobs/" + id + "/why?at=noon"), 400, "invalid_parameter", "at");
}

// A producer that acknowledges nothing until told to.
class StuckProducer final : public events::Producer {
 public:
  void AppendAsync(events::Record record, Callback done) override {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.emplace_back(std::move(record), std::move(done));
  }
  Status Append(std::vector<events::Record>) override { return Status::Unavailable("stuck"); }
  // Acknowledges everything pending, successfully.
  void ReleaseAll() {
    std::vector<std::pair<events::Record, Callback>> pending;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending.swap(pending_);
    }
    for (auto& [record, done] : pending) done(Status::Ok(), record);
  }
  size_t pending() {
    std::lock_guard<std::mutex> lock(mu_);
    return pending_.size();
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<events::Record, Callback>> pending_;
};

ApiOptions LocalOptions() {
  ApiOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  return o;
}

const char kNoDatabase[] = "postgresql://postgres@127.0.0.1:1/none";

TEST(ApiAckTimeoutTest, OverdueAcknowledgementIs503AndALateOneIsHarmless) {
  StuckProducer producer;
  ManualClock clock(*ParseRfc3339("2026-03-01T12:00:00Z"));
  ApiOptions options = LocalOptions();
  options.ack_timeout = std::chrono::milliseconds(300);
  ApiApplication app(options, producer, kNoDatabase, events::Topics{}, clock);
  ASSERT_TRUE(app.Start().ok());
  auto t0 = std::chrono::steady_clock::now();
  HttpResponse r =
      HttpRequest("POST", "http://127.0.0.1:" + std::to_string(app.port()) + "/api/v1/jobs",
                  ValidJob().dump(), kJsonHeader);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.status, 503) << r.body;
  json b = json::parse(r.body, nullptr, false);
  EXPECT_EQ(b["error"]["code"], "append_unconfirmed");
  EXPECT_TRUE(LooksLikeUuid(b["error"].value("job_id", ""))) << r.body;
  EXPECT_NE(b["error"]["message"].get<std::string>().find("may still be stored"),
            std::string::npos);
  EXPECT_GE(elapsed, std::chrono::milliseconds(300));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  EXPECT_EQ(producer.pending(), 1u);
  producer.ReleaseAll();  // the late acknowledgement finds the request answered
  app.Stop();
}

TEST(ApiShutdownTest, StopAnswersPendingRequestsAndLateAcknowledgementsAreSafe) {
  StuckProducer producer;
  ManualClock clock(*ParseRfc3339("2026-03-01T12:00:00Z"));
  ApiOptions options = LocalOptions();
  options.ack_timeout = std::chrono::milliseconds(0);  // wait for the producer
  options.drain_timeout = std::chrono::milliseconds(300);
  auto app =
      std::make_unique<ApiApplication>(options, producer, kNoDatabase, events::Topics{}, clock);
  ASSERT_TRUE(app->Start().ok());
  const std::string url = "http://127.0.0.1:" + std::to_string(app->port()) + "/api/v1/jobs";
  auto client = std::async(std::launch::async, [&] {
    return HttpRequest("POST", url, ValidJob().dump(), kJsonHeader, 5000);
  });
  ASSERT_TRUE(testing::WaitFor([&] { return producer.pending() == 1; }, std::chrono::seconds(5)));
  auto t0 = std::chrono::steady_clock::now();
  app->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  // The request whose outcome is unknown was answered, not left hanging.
  HttpResponse r = client.get();
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(json::parse(r.body, nullptr, false)["error"]["code"], "shutting_down");
  app.reset();
  producer.ReleaseAll();  // after the server is gone: must not touch it
}

// Queries depend on PostgreSQL only, submissions on Kafka only.
class ApiWithoutPostgresTest : public ApiTest {
 protected:
  void SetUp() override {
    StartApi("postgresql://postgres@127.0.0.1:" + std::to_string(testing::FreeTcpPort()) + "/none");
  }
};

TEST_F(ApiWithoutPostgresTest, QueriesAre503SubmissionsStillWork) {
  ExpectError(Call("GET", "/api/v1/jobs/" + RandomId()), 503, "database_unavailable");
  ExpectError(Call("GET", "/api/v1/jobs"), 503, "database_unavailable");
  ExpectError(Call("POST", "/api/v1/jobs/" + RandomId() + "/cancel"), 503, "database_unavailable");
  HttpResponse h = Call("GET", "/health");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(Body(h)["postgres"], "down");
  EXPECT_EQ(Call("POST", "/api/v1/jobs", ValidJob().dump()).status, 201);
  EXPECT_EQ(Events().size(), 1u);
  // Commands read the job first; a preview needs neither PostgreSQL nor Kafka.
  ExpectError(Call("POST", "/api/v1/jobs/" + RandomId() + "/pause"), 503, "database_unavailable");
  ExpectError(Call("GET", "/api/v1/jobs/" + RandomId() + "/stats"), 503, "database_unavailable");
  HttpResponse preview = Call("GET", "/api/v1/schedules/preview?cron=@daily&count=1");
  ASSERT_EQ(preview.status, 200) << preview.body;
  EXPECT_EQ(Body(preview)["fires"][0]["at"], "2026-03-02T00:00:00Z");
  EXPECT_EQ(Events().size(), 1u);
}

// After a PostgreSQL restart every pooled connection is dead: the first
// request that meets one drops them all and retries on a new connection.
TEST(ApiPostgresRestartTest, FirstRequestsAfterARestartSucceed) {
  testing::ScopedPostgres pg;  // its own server: the test restarts it
  const std::string url = pg.CreateDatabase("restart");
  ASSERT_TRUE(projections::ApplyMigrations(url).ok());
  v1::JobState job;
  {
    const std::string id = RandomId();
    events::Envelope sub = events::MakeEnvelope(ids::EventId("JobSubmitted", id, ""), id,
                                                {"test", TimePoint(), "corr", ""});
    sub.mutable_job_submitted()->mutable_spec()->set_name("survivor");
    sub.mutable_job_submitted()->mutable_spec()->set_type(v1::JOB_TYPE_ECHO);
    ASSERT_TRUE(events::Apply(job, sub).applied());
    projections::PgProjectionStore store({.database_url = url});
    projections::ProjectionBatch batch;
    batch.projection = "jobs";
    batch.topic = "job-events";
    batch.jobs = {job};
    batch.offsets.push_back({.partition = 0, .expected = std::nullopt, .next_offset = 1});
    ASSERT_TRUE(store.Write(batch).ok());
  }
  events::MemoryEventLog log;
  auto producer = log.NewProducer("api");
  ASSERT_TRUE(producer.ok());
  ManualClock clock(*ParseRfc3339("2026-03-01T12:00:00Z"));
  ApiApplication app(LocalOptions(), *producer.value(), url, events::Topics{}, clock);
  ASSERT_TRUE(app.Start().ok());
  const std::string get =
      "http://127.0.0.1:" + std::to_string(app.port()) + "/api/v1/jobs/" + job.job_id();
  auto count_sessions = [&] {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    return tx
        .exec(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'restart'"
            " AND pid <> pg_backend_pid()")[0][0]
        .as<int>();
  };
  // Several requests at once leave several connections in the pool.
  std::vector<std::future<HttpResponse>> calls;
  for (int i = 0; i < 8; ++i) {
    calls.push_back(std::async(std::launch::async, [&] { return HttpRequest("GET", get); }));
  }
  for (auto& c : calls) ASSERT_EQ(c.get().status, 200);
  ASSERT_GE(count_sessions(), 2);  // so a retry on the next pooled one would meet a stale one

  pg.StopServer();
  pg.StartServer();
  for (int i = 0; i < 8; ++i) {
    HttpResponse r = HttpRequest("GET", get);
    EXPECT_EQ(r.status, 200) << "request " << i << " after the restart: " << r.body;
  }
  app.Stop();
}

// ---------------------------------------------------------------------------
// Operations routes (ops_routes.h): executors, queue statistics, dead letters.

class ApiOpsTest : public ApiTest {
 protected:
  enum class Stage { kDue, kWaiting, kDispatched, kRunning, kRetrying, kDead };

  // A one-off echo job's events as the other services append them, from
  // `at`: submitted (priority, pool), then up to `stage`.
  std::vector<events::Envelope> JobUpTo(const std::string& id, Stage stage, TimePoint at,
                                        int priority = 5, const std::string& pool = "default",
                                        const std::string& reason = "") {
    std::vector<events::Envelope> out;
    events::Envelope sub = Event(id, "JobSubmitted", at);
    auto* spec = sub.mutable_job_submitted()->mutable_spec();
    spec->set_name("ops " + id.substr(0, 4));
    spec->set_type(v1::JOB_TYPE_ECHO);
    spec->set_priority(priority);
    spec->set_pool(pool);
    spec->set_max_retries(stage == Stage::kRetrying ? 1 : 0);
    out.push_back(sub);
    const std::string run = ids::RunId(id, ids::OnceFireId(id), 1);
    events::Envelope due = Event(id, "RunDue", at + Millis(1));
    due.mutable_run_due()->set_run_id(run);
    due.mutable_run_due()->set_attempt(1);
    due.mutable_run_due()->set_fire_id(ids::OnceFireId(id));
    due.mutable_run_due()->set_priority(priority);
    *due.mutable_run_due()->mutable_scheduled_for() = ToProto(at);
    out.push_back(due);
    if (stage == Stage::kWaiting) {
      events::Envelope w = Event(id, "RunWaiting", at + Millis(2));
      w.mutable_run_waiting()->set_run_id(run);
      w.mutable_run_waiting()->set_reason(reason);
      out.push_back(w);
      return out;
    }
    if (stage == Stage::kDue) return out;
    events::Envelope d = Event(id, "RunDispatched", at + Millis(3));
    d.mutable_run_dispatched()->set_run_id(run);
    d.mutable_run_dispatched()->set_lease_epoch(1);
    d.mutable_run_dispatched()->set_executor_id("exec-1");
    out.push_back(d);
    if (stage == Stage::kDispatched) return out;
    events::Envelope st = Event(id, "RunStarted", at + Millis(4));
    st.mutable_run_started()->set_run_id(run);
    st.mutable_run_started()->set_lease_epoch(1);
    st.mutable_run_started()->set_executor_id("exec-1");
    out.push_back(st);
    if (stage == Stage::kRunning) return out;
    events::Envelope f = Event(id, "RunFailed", at + Millis(5));
    f.mutable_run_failed()->set_run_id(run);
    f.mutable_run_failed()->set_lease_epoch(1);
    f.mutable_run_failed()->set_kind(v1::FAILURE_KIND_HTTP_STATUS);
    f.mutable_run_failed()->set_http_status(500);
    f.mutable_run_failed()->set_error("HTTP 500");
    out.push_back(f);
    if (stage == Stage::kRetrying) {
      events::Envelope r = Event(id, "RetryScheduled", at + Millis(6));
      r.mutable_retry_scheduled()->set_failed_run_id(run);
      r.mutable_retry_scheduled()->set_next_attempt(2);
      *r.mutable_retry_scheduled()->mutable_retry_at() = ToProto(at + Millis(60'000));
      out.push_back(r);
      return out;
    }
    events::Envelope dead = Event(id, "JobDead", at + Millis(6));
    dead.mutable_job_dead()->set_last_run_id(run);
    dead.mutable_job_dead()->set_attempts(1);
    dead.mutable_job_dead()->set_reason("retries exhausted");
    out.push_back(dead);
    return out;
  }

  std::string AddJob(Stage stage, TimePoint at, int priority = 5,
                     const std::string& pool = "default", const std::string& reason = "") {
    const std::string id = RandomId();
    Append(JobUpTo(id, stage, at, priority, pool, reason));
    return id;
  }
};

TEST_F(ApiOpsTest, QueueStatsCountRunsByPriorityAndPoolWithTheirWaitingReasons) {
  HttpResponse empty = Call("GET", "/api/v1/queue/stats");
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_EQ(Body(empty), (json{{"queued", {{"by_priority", json::object()},
                                           {"by_pool", json::object()},
                                           {"total", 0}}},
                               {"running", 0},
                               {"retrying", 0},
                               {"dead", 0},
                               {"waiting_reasons", json::array()}}));
  const TimePoint t = clock_.Now();
  const std::string no_gpu = "no live executor in pool gpu has gpu_units 1 free";
  AddJob(Stage::kDue, t, 9);
  AddJob(Stage::kWaiting, t, 2, "gpu", no_gpu);
  AddJob(Stage::kWaiting, t, 2, "gpu", no_gpu);
  AddJob(Stage::kWaiting, t, 9, "default", "no executor is alive");
  AddJob(Stage::kDispatched, t, 9, "gpu");  // not started: still queued
  AddJob(Stage::kRunning, t, 7);
  AddJob(Stage::kRunning, t, 7, "gpu");
  AddJob(Stage::kRetrying, t);
  AddJob(Stage::kDead, t);
  ProjectLog();
  HttpResponse r = Call("GET", "/api/v1/queue/stats");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r),
            (json{{"queued", {{"by_priority", {{"9", 3}, {"2", 2}}},
                              {"by_pool", {{"default", 2}, {"gpu", 3}}},
                              {"total", 5}}},
                  {"running", 2},
                  {"retrying", 1},
                  {"dead", 1},
                  {"waiting_reasons", json::array({{{"reason", no_gpu}, {"count", 2}},
                                                   {{"reason", "no executor is alive"},
                                                    {"count", 1}}})}}));
  ExpectError(Call("GET", "/api/v1/queue/stats?pool=gpu"), 400, "invalid_parameter", "pool");
  ExpectError(Call("POST", "/api/v1/queue/stats"), 405, "method_not_allowed");
}

TEST_F(ApiOpsTest, DeadLettersListPagesAndRequeue) {
  const TimePoint t = clock_.Now();
  const std::string first = AddJob(Stage::kDead, t + Millis(10'000));
  const std::string second = AddJob(Stage::kDead, t + Millis(20'000));
  const std::string third = AddJob(Stage::kDead, t + Millis(30'000));
  const std::string queued = AddJob(Stage::kDue, t);
  ProjectLog();

  HttpResponse list = Call("GET", "/api/v1/dead-letters");
  ASSERT_EQ(list.status, 200) << list.body;
  json letters = Body(list)["dead_letters"];
  ASSERT_EQ(letters.size(), 3u) << list.body;
  EXPECT_EQ(letters[0]["job_id"], third);  // newest first
  EXPECT_EQ(letters[1]["job_id"], second);
  EXPECT_EQ(letters[2]["job_id"], first);
  EXPECT_EQ(letters[0], (json{{"job_id", third},
                              {"name", "ops " + third.substr(0, 4)},
                              {"type", "echo"},
                              {"pool", "default"},
                              {"priority", 5},
                              {"status", "DEAD"},
                              {"last_run_id", ids::RunId(third, ids::OnceFireId(third), 1)},
                              {"attempts", 1},
                              {"reason", "retries exhausted"},
                              {"last_error", "HTTP 500"},
                              {"dead_at", "2026-03-01T12:00:30.006Z"},
                              {"requeued_at", nullptr},
                              {"requeues", 0}}));
  EXPECT_TRUE(Body(list)["next_cursor"].is_null());

  // Pages of two: the cursor continues where the first page ended.
  json page1 = Body(Call("GET", "/api/v1/dead-letters?limit=2"));
  ASSERT_EQ(page1["dead_letters"].size(), 2u);
  ASSERT_TRUE(page1["next_cursor"].is_string()) << page1.dump();
  json page2 = Body(Call("GET", "/api/v1/dead-letters?limit=2&cursor=" +
                                    page1["next_cursor"].get<std::string>()));
  ASSERT_EQ(page2["dead_letters"].size(), 1u);
  EXPECT_EQ(page2["dead_letters"][0]["job_id"], first);
  EXPECT_TRUE(page2["next_cursor"].is_null());
  ExpectError(Call("GET", "/api/v1/dead-letters?cursor=nope"), 400, "invalid_parameter",
              "cursor");
  ExpectError(Call("GET", "/api/v1/dead-letters?include_requeued=1"), 400, "invalid_parameter",
              "include_requeued");

  // Requeue: 202 with the job as the fold makes it, one JobRequeued appended.
  const size_t before = Events().size();
  HttpResponse requeued = Call("POST", "/api/v1/dead-letters/" + second + "/requeue");
  ASSERT_EQ(requeued.status, 202) << requeued.body;
  json job = Body(requeued);
  EXPECT_EQ(job["job_id"], second);
  EXPECT_EQ(job["status"], "RETRYING");
  std::vector<events::Envelope> appended = EventsOf(second);
  ASSERT_FALSE(appended.empty());
  const events::Envelope& e = appended.back();
  ASSERT_TRUE(e.has_job_requeued());
  EXPECT_EQ(e.event_id(), ids::EventId("JobRequeued", second, "requeue:1"));
  EXPECT_EQ(e.producer(), "api/test-1");
  EXPECT_EQ(Events().size(), before + 1);
  // With an Idempotency-Key, the key decides the event id.
  HttpResponse keyed = Call("POST", "/api/v1/dead-letters/" + first + "/requeue", "",
                            {"Idempotency-Key: requeue-first"});
  ASSERT_EQ(keyed.status, 202) << keyed.body;
  EXPECT_EQ(EventsOf(first).back().event_id(),
            ids::EventId("JobRequeued", first, "Idempotency-Key:requeue-first"));
  EXPECT_EQ(Events().size(), before + 2);

  // Not dead, unknown, malformed, wrong method: nothing appended.
  HttpResponse not_dead = Call("POST", "/api/v1/dead-letters/" + queued + "/requeue");
  ExpectError(not_dead, 409, "job_not_dead");
  EXPECT_EQ(Body(not_dead)["error"]["status"], "QUEUED");
  ExpectError(Call("POST", "/api/v1/dead-letters/" + RandomId() + "/requeue"), 404,
              "job_not_found");
  ExpectError(Call("POST", "/api/v1/dead-letters/42/requeue"), 400, "invalid_job_id", "job_id");
  ExpectError(Call("GET", "/api/v1/dead-letters/" + third + "/requeue"), 405,
              "method_not_allowed");
  EXPECT_EQ(Events().size(), before + 2);

  // Projected: requeued letters leave the default list; the jobs follow the fold.
  ProjectLog();
  json after = Body(Call("GET", "/api/v1/dead-letters"));
  ASSERT_EQ(after["dead_letters"].size(), 1u) << after.dump();
  EXPECT_EQ(after["dead_letters"][0]["job_id"], third);
  json all = Body(Call("GET", "/api/v1/dead-letters?include_requeued=true"));
  ASSERT_EQ(all["dead_letters"].size(), 3u);
  EXPECT_EQ(all["dead_letters"][1]["job_id"], second);
  EXPECT_EQ(all["dead_letters"][1]["status"], "RETRYING");
  EXPECT_EQ(all["dead_letters"][1]["requeued_at"], "2026-03-01T12:00:00.000Z");
  EXPECT_TRUE(all["dead_letters"][0]["requeued_at"].is_null());
  EXPECT_EQ(Body(Call("GET", "/api/v1/jobs/" + second))["status"], "RETRYING");
  // Now RETRYING: a second requeue is a 409 again only once it ran; right
  // after the requeue it is the same request repeated (duplicate), 202.
  HttpResponse repeat = Call("POST", "/api/v1/dead-letters/" + second + "/requeue");
  EXPECT_EQ(repeat.status, 202) << repeat.body;
  EXPECT_EQ(EventsOf(second).back().event_id(), e.event_id());
  json stats = Body(Call("GET", "/api/v1/queue/stats"));
  EXPECT_EQ(stats["dead"], 1);
  EXPECT_EQ(stats["retrying"], 2);
}

// Heartbeats appended to the dev broker, projected by the real
// ExecutorProjector, listed with ACTIVE / STALE decided at read time.
TEST_F(ApiOpsTest, ExecutorsFromHeartbeatsOnTheDevBroker) {
  testing::ScopedDevBroker broker({{topics_.executors, 4}});
  events::KafkaConfig kafka_config;
  kafka_config.brokers = broker.bootstrap();
  auto kafka = events::KafkaEventLog::Make(kafka_config);
  ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
  auto producer = kafka.value()->NewProducer("executor-stand-in");
  ASSERT_TRUE(producer.ok());
  const TimePoint now = clock_.Now();
  auto heartbeat = [&](const std::string& id, TimePoint sent, bool stopping) {
    v1::ExecutorHeartbeat hb;
    hb.set_executor_id(id);
    hb.set_host(id + ".local");
    hb.set_pool(id == "gpu-1" ? "gpu" : "default");
    hb.set_slots(4);
    hb.set_running(id == "gpu-1" ? 1 : 0);
    (*hb.mutable_resources())["cpu"] = 8;
    (*hb.mutable_resources())["memory_mb"] = 16384;
    if (id == "gpu-1") {
      (*hb.mutable_resources())["gpu_units"] = 1;
      v1::HeldRun* run = hb.add_runs();
      run->set_run_id(RandomId());
      run->set_lease_epoch(1);
      run->set_started(true);
    }
    hb.set_incarnation("inc-" + id);
    hb.set_task_partition(2);
    *hb.mutable_started_at() = ToProto(now - Millis(600'000));
    *hb.mutable_sent_at() = ToProto(sent);
    hb.set_stopping(stopping);
    return events::Record{
        .topic = topics_.executors, .key = id, .value = events::Encode(hb)};
  };
  ASSERT_TRUE(producer.value()
                  ->Append({heartbeat("gpu-1", now - Millis(2'000), false),
                            heartbeat("old-1", now - Millis(31'000), false),
                            heartbeat("stop-1", now, true)})
                  .ok());
  projections::PgProjectionStore store({.database_url = database_url_});
  projections::ExecutorProjectorOptions o;
  o.topic = topics_.executors;
  o.poll_timeout = Millis(20);
  projections::ExecutorProjector projector(*kafka.value(), store, o);
  ASSERT_TRUE(projector.Start().ok());
  json listed;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        HttpResponse r = Call("GET", "/api/v1/executors");
        if (r.status != 200) return false;
        listed = Body(r)["executors"];
        return listed.size() == 3;
      },
      std::chrono::seconds(30), Millis(100)))
      << listed.dump();
  projector.Stop();
  EXPECT_EQ(listed[0], (json{{"id", "gpu-1"},
                             {"host", "gpu-1.local"},
                             {"pool", "gpu"},
                             {"capacity",
                              {{"slots", 4},
                               {"resources",
                                {{"cpu", 8}, {"memory_mb", 16384}, {"gpu_units", 1}}}}},
                             {"slots", 4},
                             {"resources", {{"cpu", 8}, {"memory_mb", 16384}, {"gpu_units", 1}}},
                             {"running", 1},
                             {"held_runs", 1},
                             {"incarnation", "inc-gpu-1"},
                             {"task_partition", 2},
                             {"started_at", "2026-03-01T11:50:00.000Z"},
                             {"last_heartbeat", "2026-03-01T11:59:58.000Z"},
                             {"stopping", false},
                             {"status", "ACTIVE"}}));
  EXPECT_EQ(listed[1]["id"], "old-1");
  EXPECT_EQ(listed[1]["status"], "STALE");  // 31 s without a heartbeat
  EXPECT_EQ(listed[2]["id"], "stop-1");
  EXPECT_EQ(listed[2]["status"], "STALE");  // its last heartbeat said it stopped
  // Staleness is decided when asked: 29 s later gpu-1 has been silent 31 s.
  clock_.Advance(Millis(29'000));
  json later = Body(Call("GET", "/api/v1/executors"))["executors"];
  ASSERT_EQ(later.size(), 3u);
  EXPECT_EQ(later[0]["status"], "STALE");
  ExpectError(Call("DELETE", "/api/v1/executors"), 405, "method_not_allowed");
}

}  // namespace
}  // namespace jobsched::api
