// The API in-process on port 0: a MemoryEventLog producer stands in for
// Kafka, a throwaway PostgreSQL (ScopedPostgres + ApplyMigrations) holds the
// projections, filled through the projector's PgProjectionStore. Each test
// has its own database and its own log.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "events/envelope.h"
#include "events/fold.h"
#include "events/ids.h"
#include "events/memory_event_log.h"
#include "projections/migrations.h"
#include "projections/pg_projection_store.h"
#include "services/api/api_application.h"
#include "services/api/job_view.h"
#include "tests/support/http_client.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace jobsched::api {
namespace {

using nlohmann::json;
using testing::HttpRequest;
using testing::HttpResponse;

const std::vector<std::string> kJsonHeader = {"Content-Type: application/json"};

std::string TestDatabaseName() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string("api_") + info->name();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name.substr(0, 60);
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    database_url_ = testing::ScopedPostgres::Shared().CreateDatabase(TestDatabaseName());
    Status migrated = projections::ApplyMigrations(database_url_);
    ASSERT_TRUE(migrated.ok()) << migrated.ToString();
    StartApi(database_url_);
  }

  void TearDown() override {
    if (app_) app_->Stop();
  }

  void StartApi(const std::string& database_url) {
    ASSERT_TRUE(log_.CreateTopic(topics_.job_events, 4).ok());
    auto producer = log_.NewProducer("api-test");
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    producer_ = std::move(producer).value();
    ApiOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.threads = 2;
    options.instance_id = "test-1";
    app_ = std::make_unique<ApiApplication>(options, *producer_, database_url, topics_, clock_);
    Status started = app_->Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
    ASSERT_GT(app_->port(), 0);
    base_ = "http://127.0.0.1:" + std::to_string(app_->port());
  }

  HttpResponse Call(const std::string& method, const std::string& path,
                    const std::string& body = "", std::vector<std::string> headers = kJsonHeader) {
    return HttpRequest(method, base_ + path, body, headers);
  }

  static json Body(const HttpResponse& r) {
    json j = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.body.substr(0, 300);
    return j;
  }

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

  // Every event appended so far, decoded, in partition then offset order.
  std::vector<events::Envelope> Events() {
    std::vector<events::Envelope> out;
    for (int p = 0; p < 4; ++p) {
      auto records = log_.Read({topics_.job_events, p});
      EXPECT_TRUE(records.ok());
      if (!records.ok()) continue;
      for (const auto& rec : records.value()) {
        auto e = events::DecodeEnvelope(rec.value);
        EXPECT_TRUE(e.ok());
        if (!e.ok()) continue;
        EXPECT_EQ(rec.key, e->job_id());
        out.push_back(e.value());
      }
    }
    return out;
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

  std::string database_url_;
  events::Topics topics_ = events::Topics::WithPrefix("apitest-");
  events::MemoryEventLog log_;
  std::unique_ptr<events::Producer> producer_;
  ManualClock clock_{*ParseRfc3339("2026-03-01T12:00:00.000Z")};
  std::unique_ptr<ApiApplication> app_;
  std::string base_;
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
      {"missing name", "POST", job_path, R"({"type":"echo"})", kJsonHeader, 400, "missing_field",
       "name"},
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
  HttpResponse r = Call("DELETE", "/api/v1/jobs/" + RandomId());
  ExpectError(r, 405, "method_not_allowed");
  EXPECT_EQ(r.headers["allow"], "GET");
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

TEST_F(ApiTest, IdempotencyKeyGivesTheSameJobId) {
  std::vector<std::string> headers = {"Content-Type: application/json", "Idempotency-Key: order-7"};
  HttpResponse a = Call("POST", "/api/v1/jobs", ValidJob().dump(), headers);
  HttpResponse b = Call("POST", "/api/v1/jobs", ValidJob().dump(), headers);
  json body_key = ValidJob();
  body_key["idempotency_key"] = "order-7";
  HttpResponse c = Call("POST", "/api/v1/jobs", body_key.dump());
  ASSERT_EQ(a.status, 201) << a.body;
  ASSERT_EQ(b.status, 201) << b.body;
  ASSERT_EQ(c.status, 201) << c.body;
  const std::string id = ids::JobIdForIdempotencyKey("order-7");
  EXPECT_EQ(Body(a)["job_id"], id);
  EXPECT_EQ(Body(b)["job_id"], id);
  EXPECT_EQ(Body(c)["job_id"], id);
  EXPECT_EQ(Body(a)["idempotency_key"], "order-7");
  // Three appends of one event id: the fold keeps the first, ignores the rest.
  std::vector<events::Envelope> events = Events();
  ASSERT_EQ(events.size(), 3u);
  v1::JobState s;
  EXPECT_TRUE(events::Apply(s, events[0]).applied());
  EXPECT_EQ(events::Apply(s, events[1]).outcome, events::Outcome::kDuplicate);
  EXPECT_EQ(events::Apply(s, events[2]).outcome, events::Outcome::kDuplicate);
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
  EXPECT_EQ(Body(r), (json{{"status", "ok"}, {"postgres", "ok"}}));
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
  EXPECT_EQ(b["error"]["code"], "kafka_unavailable");
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
}

}  // namespace
}  // namespace jobsched::api
