// The workflow and dependency routes of the API in-process on port 0, against
// a throwaway PostgreSQL (its own database per test, migrations applied) and
// an event log: the dev broker where the test reads the appended events back
// from Kafka, else a MemoryEventLog. The projector is not part of these
// tests: the rows the routes read (jobs, workflows, job_dependencies) are
// seeded directly, jobs through the projector's own store.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <vector>

#include "events/envelope.h"
#include "events/fold.h"
#include "events/ids.h"
#include "events/kafka_event_log.h"
#include "events/memory_event_log.h"
#include "projections/migrations.h"
#include "projections/pg_projection_store.h"
#include "services/api/api_application.h"
#include "services/api/workflow_spec.h"
#include "tests/integration/api_fixture.h"
#include "tests/support/devbroker.h"
#include "tests/support/http_client.h"
#include "tests/support/postgres.h"
#include "tests/support/wait.h"

namespace jobsched::api {
namespace {

using nlohmann::json;
using testing::HttpRequest;
using testing::HttpResponse;

json Job(const std::string& key, std::vector<std::string> depends_on = {}) {
  json j = {{"key", key}, {"type", "echo"}};
  if (!depends_on.empty()) j["depends_on"] = depends_on;
  return j;
}

json Etl() {
  return {{"name", "etl"},
          {"jobs", {Job("extract"), Job("transform", {"extract"}), Job("load", {"transform"})}}};
}

// Where a seeded job stands.
enum class Stage { kPending, kRunning, kSucceeded, kDead };

class ApiWorkflowTest : public ApiFixture {
 protected:
  ApiWorkflowTest() : ApiFixture("apiwftest-") {}

  void SetUp() override {
    CreateDatabase("apiwf_");
    CreateLog();
    StartApi(*producer_);
  }

  void StartApi(events::Producer& producer) { ApiFixture::StartApi(producer, database_url_); }

  // Asserts an error response's status and code; returns its "error" object.
  static json ExpectError(const HttpResponse& r, long status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body.substr(0, 500);
    json b = Body(r);
    EXPECT_EQ(b["error"].value("code", ""), code) << r.body.substr(0, 500);
    EXPECT_FALSE(b["error"].value("message", "").empty()) << r.body;
    return b["error"];
  }

  events::Envelope Event(const std::string& job_id, const std::string& type, TimePoint at) {
    return events::MakeEnvelope(ids::EventId(type, job_id, std::to_string(++event_seq_)), job_id,
                                {"test", at, "corr", ""});
  }

  // A one-off echo job (or recurring, with `schedule`) folded up to `stage`.
  v1::JobState FoldJob(const std::string& id, Stage stage, const std::string& schedule = "",
                       const std::string& workflow_id = "", const std::string& key = "") {
    const TimePoint at = clock_.Now() - Millis(60'000) + Millis(++created_);
    v1::JobState s;
    events::Envelope sub = Event(id, "JobSubmitted", at);
    auto* spec = sub.mutable_job_submitted()->mutable_spec();
    spec->set_name(key.empty() ? "job " + id.substr(0, 4) : key);
    spec->set_type(v1::JOB_TYPE_ECHO);
    spec->set_priority(5);
    spec->set_max_retries(0);
    spec->set_timeout_seconds(300);
    spec->set_workflow_id(workflow_id);
    spec->set_workflow_key(key);
    if (!schedule.empty()) {
      spec->mutable_schedule()->set_cron(schedule);
      spec->mutable_schedule()->set_timezone("UTC");
    }
    EXPECT_TRUE(events::Apply(s, sub).applied());
    if (stage == Stage::kPending || !schedule.empty()) return s;
    const std::string fire = ids::OnceFireId(id);
    const std::string run = ids::RunId(id, fire, 1);
    events::Envelope due = Event(id, "RunDue", at + Millis(1));
    due.mutable_run_due()->set_run_id(run);
    due.mutable_run_due()->set_attempt(1);
    due.mutable_run_due()->set_fire_id(fire);
    *due.mutable_run_due()->mutable_scheduled_for() = ToProto(at);
    events::Envelope dispatched = Event(id, "RunDispatched", at + Millis(2));
    dispatched.mutable_run_dispatched()->set_run_id(run);
    dispatched.mutable_run_dispatched()->set_lease_epoch(1);
    events::Envelope started = Event(id, "RunStarted", at + Millis(3));
    started.mutable_run_started()->set_run_id(run);
    started.mutable_run_started()->set_lease_epoch(1);
    for (const auto& e : {due, dispatched, started}) EXPECT_TRUE(events::Apply(s, e).applied());
    if (stage == Stage::kRunning) return s;
    if (stage == Stage::kSucceeded) {
      events::Envelope ok = Event(id, "RunSucceeded", at + Millis(4));
      ok.mutable_run_succeeded()->set_run_id(run);
      ok.mutable_run_succeeded()->set_lease_epoch(1);
      events::Envelope done = Event(id, "JobSucceeded", at + Millis(5));
      done.mutable_job_succeeded()->set_run_id(run);
      for (const auto& e : {ok, done}) EXPECT_TRUE(events::Apply(s, e).applied());
      return s;
    }
    events::Envelope failed = Event(id, "RunFailed", at + Millis(4));
    failed.mutable_run_failed()->set_run_id(run);
    failed.mutable_run_failed()->set_lease_epoch(1);
    failed.mutable_run_failed()->set_error("boom");
    events::Envelope dead = Event(id, "JobDead", at + Millis(5));
    dead.mutable_job_dead()->set_last_run_id(run);
    dead.mutable_job_dead()->set_attempts(1);
    dead.mutable_job_dead()->set_reason("retries exhausted");
    for (const auto& e : {failed, dead}) EXPECT_TRUE(events::Apply(s, e).applied());
    EXPECT_EQ(s.status(), v1::JOB_STATUS_DEAD);
    return s;
  }

  // Writes job rows the way the projector does (its own store), then makes
  // sure of their workflow columns.
  void Project(const std::vector<v1::JobState>& states) {
    projections::PgProjectionStore store({.database_url = database_url_});
    projections::ProjectionBatch batch;
    batch.projection = "api-wf-test-" + std::to_string(++batches_);
    batch.topic = topics_.job_events;
    batch.jobs = states;
    batch.offsets.push_back({.partition = 0, .expected = std::nullopt, .next_offset = 1});
    Status written = store.Write(batch);
    ASSERT_TRUE(written.ok()) << written.ToString();
    for (const auto& s : states) {
      if (s.spec().workflow_id().empty()) continue;
      Sql("UPDATE jobs SET workflow_id = '" + s.spec().workflow_id() + "', workflow_key = '" +
          s.spec().workflow_key() + "' WHERE job_id = '" + s.job_id() + "'");
    }
  }

  std::string Seed(Stage stage, const std::string& schedule = "") {
    const std::string id = RandomId();
    Project({FoldJob(id, stage, schedule)});
    return id;
  }

  // A workflows row (as migration 004 has it) whose spec lists `jobs`
  // (key, depends_on keys), submitted `age_ms` before now.
  void SeedWorkflow(const std::string& id, const std::string& name,
                    const std::vector<std::pair<std::string, std::vector<std::string>>>& jobs,
                    bool expanded, int64_t age_ms, const std::string& trigger = "") {
    json spec_jobs = json::array();
    for (const auto& [key, deps] : jobs) {
      json j = {{"key", key}, {"spec", {{"name", key}, {"type", "JOB_TYPE_ECHO"}}}};
      if (!deps.empty()) j["depends_on"] = deps;
      spec_jobs.push_back(j);
    }
    const json spec = {{"name", name}, {"jobs", spec_jobs}};
    const std::string at = FormatRfc3339(clock_.Now() - Millis(age_ms));
    pqxx::connection c(database_url_);
    pqxx::work tx(c);
    tx.exec_params(
        "INSERT INTO workflows (workflow_id, name, job_count, edge_count, trigger_job_id, spec,"
        " submitted_at, expanded_at, version, fold_state)"
        " VALUES ($1, $2, $3, 0, NULLIF($4, ''), $5::jsonb, $6::timestamptz,"
        " CASE WHEN $7::boolean THEN $6::timestamptz + interval '1 second' END, 1, ''::bytea)",
        id, name, static_cast<int>(jobs.size()), trigger, spec.dump(), at,
        expanded ? "true" : "false");
    tx.commit();
  }

  void SeedEdge(const std::string& parent, const std::string& child,
                const std::string& status = "PENDING", const std::string& reason = "") {
    Sql("INSERT INTO job_dependencies (parent_id, child_id, status, reason, created_at,"
        " updated_at) VALUES ('" +
        parent + "', '" + child + "', '" + status + "', " +
        (reason.empty() ? std::string("NULL") : "'" + reason + "'") + ", now(), now())");
  }

  int batches_ = 0;
  int event_seq_ = 0;
  int created_ = 0;
};

// --- POST /workflows ----------------------------------------------------------

// The API appends to the dev broker; what it appended is read back from Kafka.
TEST_F(ApiWorkflowTest, SubmitAppendsExactlyOneWorkflowSubmittedToKafkaAndNothingOnA400) {
  testing::ScopedDevBroker broker({{topics_.job_events, 4}});
  events::KafkaConfig config;
  config.brokers = broker.bootstrap();
  auto kafka = events::KafkaEventLog::Make(config);
  ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
  auto producer = kafka.value()->NewProducer("api");
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  StartApi(*producer.value());

  // Refused whole, each with the message that says what to fix.
  json cyclic = Etl();
  cyclic["jobs"][0]["depends_on"] = {"load"};
  json error =
      ExpectError(Call("POST", "/api/v1/workflows", cyclic.dump()), 400, "invalid_workflow");
  EXPECT_EQ(error["message"], "cycle: extract -> transform -> load -> extract");
  EXPECT_EQ(error["field"], "jobs");
  json unknown = Etl();
  unknown["jobs"][2]["depends_on"] = {"transfrom"};
  error = ExpectError(Call("POST", "/api/v1/workflows", unknown.dump()), 400, "invalid_workflow");
  EXPECT_NE(error["message"].get<std::string>().find("\"transfrom\""), std::string::npos);
  json big = {{"name", "big"}, {"jobs", json::array()}};
  for (int i = 0; i < 2001; ++i) big["jobs"].push_back(Job("j" + std::to_string(i)));
  error = ExpectError(Call("POST", "/api/v1/workflows", big.dump()), 400, "invalid_workflow");
  EXPECT_NE(error["message"].get<std::string>().find("limit is 2000"), std::string::npos);
  ExpectError(Call("POST", "/api/v1/workflows", "{\"name\": "), 400, "invalid_json");

  HttpResponse r = Call("POST", "/api/v1/workflows", Etl().dump(),
                        {"Content-Type: application/json", "X-Request-Id: req-wf-1"});
  ASSERT_EQ(r.status, 201) << r.body;
  json view = Body(r);
  const std::string id = view["workflow_id"];
  EXPECT_TRUE(LooksLikeUuid(id));
  EXPECT_EQ(r.headers["location"], "/api/v1/workflows/" + id);
  EXPECT_EQ(view["status"], "SUBMITTED");
  ASSERT_EQ(view["jobs"].size(), 3u);
  EXPECT_EQ(view["jobs"][0]["key"], "extract");
  EXPECT_EQ(view["jobs"][0]["job_id"], ids::WorkflowJobId(id, "extract"));

  // Everything the topic holds: the one event.
  events::ConsumerOptions options;
  options.topics = {topics_.job_events};
  auto consumer = kafka.value()->NewConsumer(options);
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  int64_t stored = 0;
  for (int p = 0; p < 4; ++p) {
    auto w = consumer.value()->QueryWatermarks({topics_.job_events, p}, Millis(5'000));
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    stored += w->high - w->low;
  }
  EXPECT_EQ(stored, 1);
  std::vector<events::Record> records;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        for (auto& rec : consumer.value()->Poll(10, Millis(100))) records.push_back(rec);
        return !records.empty();
      },
      std::chrono::seconds(15)));
  consumer.value()->Close();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].key, id);
  auto event = events::DecodeEnvelope(records[0].value);
  ASSERT_TRUE(event.ok());
  EXPECT_EQ(event->event_case(), events::Envelope::kWorkflowSubmitted);
  EXPECT_EQ(event->job_id(), id);
  EXPECT_EQ(event->event_id(), ids::EventId("WorkflowSubmitted", id, "submit"));
  EXPECT_EQ(event->producer(), "api/test-1");
  EXPECT_EQ(event->correlation_id(), "req-wf-1");
  const v1::WorkflowSpec& spec = event->workflow_submitted().spec();
  EXPECT_EQ(spec.name(), "etl");
  ASSERT_EQ(spec.jobs_size(), 3);
  EXPECT_EQ(spec.jobs(2).key(), "load");
  EXPECT_EQ(spec.jobs(2).depends_on(0), "transform");
  EXPECT_EQ(spec.jobs(2).spec().type(), v1::JOB_TYPE_ECHO);

  // Read your writes: not projected yet, answered from what was appended.
  HttpResponse got = Call("GET", "/api/v1/workflows/" + id);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(Body(got), view);
  // Cancel before the scheduler expanded it: try again in a moment.
  ExpectError(Call("POST", "/api/v1/workflows/" + id + "/cancel"), 409, "workflow_not_expanded");
  app_->Stop();  // before the producer it uses goes
  app_.reset();
}

TEST_F(ApiWorkflowTest, AnIdempotencyKeyNamesOneWorkflow) {
  const std::vector<std::string> headers = {"Content-Type: application/json",
                                            "Idempotency-Key: nightly-2026-03-01"};
  HttpResponse first = Call("POST", "/api/v1/workflows", Etl().dump(), headers);
  ASSERT_EQ(first.status, 201) << first.body;
  const std::string id = Body(first)["workflow_id"];
  EXPECT_EQ(id, WorkflowIdForIdempotencyKey("nightly-2026-03-01"));

  // Known from this process's append before any projection.
  HttpResponse again = Call("POST", "/api/v1/workflows", Etl().dump(), headers);
  json error = ExpectError(again, 409, "duplicate_idempotency_key");
  EXPECT_EQ(error["workflow_id"], id);
  EXPECT_EQ(Body(again)["workflow"]["workflow_id"], id);
  EXPECT_EQ(Events().size(), 1u);

  // Known from the projection (another process appended it).
  const std::string other_key_id = WorkflowIdForIdempotencyKey("from-elsewhere");
  SeedWorkflow(other_key_id, "etl", {{"extract", {}}}, true, 1'000);
  ExpectError(Call("POST", "/api/v1/workflows", Etl().dump(),
                   {"Content-Type: application/json", "Idempotency-Key: from-elsewhere"}),
              409, "duplicate_idempotency_key");
  EXPECT_EQ(Events().size(), 1u);
}

// --- POST /jobs with depends_on ---------------------------------------------------

TEST_F(ApiWorkflowTest, UnknownDependsOnIsA400NamingEachUnknownIdAndAppendsNothing) {
  const std::string known = Seed(Stage::kRunning);
  const std::string gone1 = RandomId(), gone2 = RandomId();
  json body = {{"type", "echo"}, {"depends_on", {gone1, known, gone2}}};
  json error = ExpectError(Call("POST", "/api/v1/jobs", body.dump()), 400, "unknown_dependency");
  EXPECT_EQ(error["field"], "depends_on");
  const std::string message = error["message"];
  EXPECT_NE(message.find(gone1), std::string::npos) << message;
  EXPECT_NE(message.find(gone2), std::string::npos) << message;
  EXPECT_EQ(message.find(known), std::string::npos) << message;
  EXPECT_EQ(error["job_ids"], json({gone1, gone2}));

  const std::string recurring = Seed(Stage::kPending, "@every 10s");
  error = ExpectError(
      Call("POST", "/api/v1/jobs", json{{"type", "echo"}, {"depends_on", {recurring}}}.dump()), 400,
      "invalid_dependency");
  EXPECT_NE(error["message"].get<std::string>().find(recurring), std::string::npos);
  ExpectError(
      Call("POST", "/api/v1/jobs",
           json{{"type", "echo"}, {"schedule", "@every 10s"}, {"depends_on", {known}}}.dump()),
      400, "invalid_field");
  EXPECT_TRUE(Events().empty());
}

TEST_F(ApiWorkflowTest, DependsOnRecordsParentsThatEndedAndSeesJobsJustAccepted) {
  const std::string ok = Seed(Stage::kSucceeded);
  const std::string dead = Seed(Stage::kDead);
  const std::string running = Seed(Stage::kRunning);
  // Accepted by this process a moment ago, not projected: it counts.
  HttpResponse fresh = Call("POST", "/api/v1/jobs", json{{"type", "echo"}}.dump());
  ASSERT_EQ(fresh.status, 201) << fresh.body;
  const std::string just = Body(fresh)["job_id"];

  json body = {{"name", "child"}, {"type", "echo"}, {"depends_on", {ok, dead, running, just}}};
  HttpResponse r = Call("POST", "/api/v1/jobs", body.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  json view = Body(r);
  EXPECT_EQ(view["depends_on"], json({ok, dead, running, just}));
  EXPECT_EQ(view["workflow_id"], nullptr);

  std::vector<events::Envelope> events = Events();
  auto child = std::find_if(events.begin(), events.end(),
                            [&](const auto& e) { return e.job_id() == view["job_id"]; });
  ASSERT_NE(child, events.end());
  const v1::JobSubmitted& submitted = child->job_submitted();
  ASSERT_EQ(submitted.spec().depends_on_size(), 4);
  ASSERT_EQ(submitted.parents_size(), 2);  // the running and the fresh one are PENDING
  EXPECT_EQ(submitted.parents(0).job_id(), ok);
  EXPECT_EQ(submitted.parents(0).status(), v1::DEPENDENCY_STATUS_SATISFIED);
  EXPECT_EQ(submitted.parents(1).job_id(), dead);
  EXPECT_EQ(submitted.parents(1).status(), v1::DEPENDENCY_STATUS_FAILED);
  EXPECT_EQ(submitted.parents(1).reason(), "parent " + dead + " is DEAD");
  EXPECT_FALSE(submitted.parents_registered());  // the scheduler registers with each parent
}

// --- cancel -------------------------------------------------------------------------

TEST_F(ApiWorkflowTest, CancelAWorkflowCancelsEveryJobNotEnded) {
  const std::string wf = RandomId();
  SeedWorkflow(wf, "etl", {{"extract", {}}, {"transform", {"extract"}}, {"load", {"transform"}}},
               true, 1'000);
  const std::string extract = ids::WorkflowJobId(wf, "extract");
  const std::string transform = ids::WorkflowJobId(wf, "transform");
  const std::string load = ids::WorkflowJobId(wf, "load");
  // extract ended; transform runs; load has no row yet (its partition lags).
  Project({FoldJob(extract, Stage::kSucceeded, "", wf, "extract"),
           FoldJob(transform, Stage::kRunning, "", wf, "transform")});

  HttpResponse r = Call("POST", "/api/v1/workflows/" + wf + "/cancel");
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(Body(r), (json{{"workflow_id", wf}, {"canceled", 2}}));
  std::map<std::string, std::string> appended;  // job -> event id
  for (const auto& e : Events()) {
    ASSERT_TRUE(e.has_cancel_requested()) << events::EventType(e);
    appended[e.job_id()] = e.event_id();
  }
  EXPECT_EQ(appended,
            (std::map<std::string, std::string>{
                {transform, ids::EventId("CancelRequested", transform, "workflow-cancel:" + wf)},
                {load, ids::EventId("CancelRequested", load, "workflow-cancel:" + wf)}}));

  const std::string pending = RandomId();
  SeedWorkflow(pending, "later", {{"a", {}}}, false, 500);
  ExpectError(Call("POST", "/api/v1/workflows/" + pending + "/cancel"), 409,
              "workflow_not_expanded");
  ExpectError(Call("POST", "/api/v1/workflows/" + RandomId() + "/cancel"), 404,
              "workflow_not_found");
  ExpectError(Call("GET", "/api/v1/workflows/" + wf + "/cancel"), 405, "method_not_allowed");
  EXPECT_EQ(Events().size(), 2u);
}

TEST_F(ApiWorkflowTest, CascadeCancelsEveryDescendantNotEnded) {
  // a -> b -> c, a -> d -> e (e SUCCEEDED), b -> d (two paths to d); f unrelated.
  const std::string a = Seed(Stage::kRunning), b = Seed(Stage::kPending), c = Seed(Stage::kPending),
                    d = Seed(Stage::kPending), e = Seed(Stage::kSucceeded),
                    f = Seed(Stage::kPending);
  SeedEdge(a, b);
  SeedEdge(b, c);
  SeedEdge(a, d);
  SeedEdge(b, d);
  SeedEdge(d, e, "SATISFIED");
  SeedEdge(f, c);

  ExpectError(Call("POST", "/api/v1/jobs/" + a + "/cancel?cascade=yes"), 400, "invalid_parameter");
  EXPECT_TRUE(Events().empty());

  HttpResponse r = Call("POST", "/api/v1/jobs/" + a + "/cancel?cascade=true");
  ASSERT_EQ(r.status, 202) << r.body;
  json answer = Body(r);
  EXPECT_EQ(answer["job_id"], a);
  EXPECT_EQ(answer["cancel_requested"], true);
  EXPECT_EQ(answer["canceled_descendants"], 3);
  std::map<std::string, std::string> appended;
  for (const auto& ev : Events()) {
    ASSERT_TRUE(ev.has_cancel_requested());
    appended[ev.job_id()] = ev.event_id();
  }
  EXPECT_EQ(appended, (std::map<std::string, std::string>{
                          {a, ids::EventId("CancelRequested", a, "")},
                          {b, ids::EventId("CancelRequested", b, "cascade:" + a)},
                          {c, ids::EventId("CancelRequested", c, "cascade:" + a)},
                          {d, ids::EventId("CancelRequested", d, "cascade:" + a)}}));

  // Without cascade: the job alone, as before.
  HttpResponse plain = Call("POST", "/api/v1/jobs/" + f + "/cancel?cascade=false");
  ASSERT_EQ(plain.status, 202) << plain.body;
  EXPECT_FALSE(Body(plain).contains("canceled_descendants"));
  EXPECT_EQ(Events().size(), 5u);
}

// --- reads --------------------------------------------------------------------------

TEST_F(ApiWorkflowTest, DependenciesListParentsAndChildrenWithTheirStatuses) {
  const std::string p1 = Seed(Stage::kSucceeded), p2 = Seed(Stage::kDead);
  const std::string job = Seed(Stage::kPending), child = Seed(Stage::kPending);
  SeedEdge(p1, job, "SATISFIED");
  SeedEdge(p2, job, "FAILED", "parent " + p2 + " is DEAD");
  SeedEdge(job, child);

  HttpResponse r = Call("GET", "/api/v1/jobs/" + job + "/dependencies");
  ASSERT_EQ(r.status, 200) << r.body;
  json deps = Body(r);
  EXPECT_EQ(deps["job_id"], job);
  ASSERT_EQ(deps["parents"].size(), 2u);
  EXPECT_EQ(deps["parents"][0], (json{{"job_id", p1},
                                      {"name", "job " + p1.substr(0, 4)},
                                      {"status", "SUCCEEDED"},
                                      {"dependency", "SATISFIED"},
                                      {"reason", nullptr}}));
  EXPECT_EQ(deps["parents"][1]["status"], "DEAD");
  EXPECT_EQ(deps["parents"][1]["dependency"], "FAILED");
  EXPECT_EQ(deps["parents"][1]["reason"], "parent " + p2 + " is DEAD");
  EXPECT_EQ(deps["children"], (json{{{"job_id", child},
                                     {"name", "job " + child.substr(0, 4)},
                                     {"status", "PENDING"},
                                     {"dependency", "PENDING"}}}));
  ExpectError(Call("GET", "/api/v1/jobs/" + RandomId() + "/dependencies"), 404, "job_not_found");
}

TEST_F(ApiWorkflowTest, GetAndListWorkflowsWithStatusCountsAndPages) {
  const std::string trigger = RandomId();
  const std::string oldest = RandomId(), middle = RandomId(), newest = RandomId();
  SeedWorkflow(oldest, "first", {{"a", {}}}, true, 3'000, trigger);
  SeedWorkflow(middle, "second", {{"a", {}}, {"b", {"a"}}, {"c", {"a", "b"}}}, true, 2'000);
  SeedWorkflow(newest, "third", {{"a", {}}}, false, 1'000, trigger);
  Project({FoldJob(ids::WorkflowJobId(oldest, "a"), Stage::kSucceeded, "", oldest, "a"),
           FoldJob(ids::WorkflowJobId(middle, "a"), Stage::kSucceeded, "", middle, "a"),
           FoldJob(ids::WorkflowJobId(middle, "b"), Stage::kRunning, "", middle, "b")});

  HttpResponse r = Call("GET", "/api/v1/workflows/" + middle);
  ASSERT_EQ(r.status, 200) << r.body;
  json view = Body(r);
  EXPECT_EQ(view["name"], "second");
  EXPECT_EQ(view["status"], "RUNNING");
  EXPECT_EQ(view["counts"], (json{{"total", 3},
                                  {"waiting", 0},
                                  {"queued", 1},
                                  {"running", 1},
                                  {"succeeded", 1},
                                  {"failed", 0},
                                  {"blocked", 0},
                                  {"canceled", 0}}));
  EXPECT_EQ(view["jobs"][1], (json{{"key", "b"},
                                   {"job_id", ids::WorkflowJobId(middle, "b")},
                                   {"status", "RUNNING"},
                                   {"depends_on", {"a"}}}));
  EXPECT_EQ(view["jobs"][2]["status"], "PENDING");  // no row yet
  EXPECT_EQ(view["edges"], (json{{{"parent", "a"}, {"child", "b"}},
                                 {{"parent", "a"}, {"child", "c"}},
                                 {{"parent", "b"}, {"child", "c"}}}));
  EXPECT_EQ(view["submitted_at"], "2026-03-01T11:59:58.000Z");
  EXPECT_EQ(view["expanded_at"], "2026-03-01T11:59:59.000Z");
  ExpectError(Call("GET", "/api/v1/workflows/" + RandomId()), 404, "workflow_not_found");
  ExpectError(Call("GET", "/api/v1/workflows/not-an-id"), 400, "invalid_workflow_id");

  HttpResponse page1 = Call("GET", "/api/v1/workflows?limit=2");
  ASSERT_EQ(page1.status, 200) << page1.body;
  json p1 = Body(page1);
  ASSERT_EQ(p1["workflows"].size(), 2u);
  EXPECT_EQ(p1["workflows"][0]["workflow_id"], newest);
  EXPECT_EQ(p1["workflows"][0]["status"], "SUBMITTED");
  EXPECT_EQ(p1["workflows"][0]["trigger_job_id"], trigger);
  EXPECT_EQ(p1["workflows"][1], (json{{"workflow_id", middle},
                                      {"name", "second"},
                                      {"status", "RUNNING"},
                                      {"counts", view["counts"]},
                                      {"submitted_at", "2026-03-01T11:59:58.000Z"},
                                      {"trigger_job_id", nullptr}}));
  ASSERT_TRUE(p1["next_cursor"].is_string());
  json p2 =
      Body(Call("GET", "/api/v1/workflows?limit=2&cursor=" + p1["next_cursor"].get<std::string>()));
  ASSERT_EQ(p2["workflows"].size(), 1u);
  EXPECT_EQ(p2["workflows"][0]["workflow_id"], oldest);
  EXPECT_EQ(p2["workflows"][0]["status"], "SUCCEEDED");
  EXPECT_EQ(p2["next_cursor"], nullptr);

  json runs = Body(Call("GET", "/api/v1/workflows?trigger_job_id=" + trigger));
  ASSERT_EQ(runs["workflows"].size(), 2u);
  EXPECT_EQ(runs["workflows"][0]["workflow_id"], newest);
  EXPECT_EQ(runs["workflows"][1]["workflow_id"], oldest);
}

// --- a workflow trigger -------------------------------------------------------------

TEST_F(ApiWorkflowTest, ATriggerJobCarriesItsWorkflowAndIsValidatedLikeOne) {
  json trigger = {{"type", "workflow"}, {"schedule", "0 2 * * *"}, {"workflow", Etl()}};
  json cyclic = trigger;
  cyclic["workflow"]["jobs"][0]["depends_on"] = {"load"};
  json error = ExpectError(Call("POST", "/api/v1/jobs", cyclic.dump()), 400, "invalid_workflow");
  EXPECT_EQ(error["message"], "cycle: extract -> transform -> load -> extract");
  EXPECT_EQ(error["field"], "workflow.jobs");
  EXPECT_TRUE(Events().empty());

  HttpResponse r = Call("POST", "/api/v1/jobs", trigger.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  json view = Body(r);
  EXPECT_EQ(view["type"], "workflow");
  EXPECT_EQ(view["workflow"], (json{{"name", "etl"}, {"jobs", 3}}));
  std::vector<events::Envelope> events = Events();
  ASSERT_EQ(events.size(), 1u);
  const v1::JobSpec& spec = events[0].job_submitted().spec();
  EXPECT_EQ(spec.type(), v1::JOB_TYPE_WORKFLOW);
  EXPECT_EQ(spec.workflow().jobs_size(), 3);
  EXPECT_EQ(spec.schedule().cron(), "0 2 * * *");
}

}  // namespace
}  // namespace jobsched::api
