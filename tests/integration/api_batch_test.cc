// POST /api/v1/jobs/batch with the API in-process on port 0, against a
// throwaway PostgreSQL (its own database per test, migrations applied) and
// the dev broker, whose topic is read back to count what was appended; the
// fault cases use a MemoryEventLog, whose failure switches the broker lacks.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <vector>

#include "events/envelope.h"
#include "events/ids.h"
#include "events/kafka_event_log.h"
#include "projections/pg_projection_store.h"
#include "projections/projector.h"
#include "services/api/api_application.h"
#include "tests/integration/api_fixture.h"
#include "tests/support/devbroker.h"
#include "tests/support/http_client.h"
#include "tests/support/wait.h"

namespace jobsched::api {
namespace {

using nlohmann::json;
using testing::HttpResponse;

constexpr int kBrokerPartitions = 4;

json Echo(const std::string& name) {
  return {{"name", name}, {"type", "echo"}, {"payload", {{"n", 1}}}};
}

json Keyed(const std::string& name, const std::string& key) {
  json j = Echo(name);
  j["idempotency_key"] = key;
  return j;
}

// About 300 bytes of JSON: an http job with the usual fields set.
json TypicalJob(int i) {
  return {{"name", "invoice " + std::to_string(i)},
          {"type", "http"},
          {"http",
           {{"url", "https://billing.internal/hooks/invoice"},
            {"method", "POST"},
            {"headers", {{"Authorization", "Bearer abcdefgh"}}},
            {"body", "{\"invoice\": " + std::to_string(i) + "}"}}},
          {"priority", 8},
          {"max_retries", 3},
          {"retry_policy", {{"strategy", "exponential"}, {"base_delay_ms", 1000}}},
          {"timeout_seconds", 30}};
}

json Batch(json jobs) { return {{"jobs", std::move(jobs)}}; }

class ApiBatchTest : public ApiFixture {
 protected:
  ApiBatchTest() : ApiFixture("apibatchtest-") {}

  void SetUp() override { CreateDatabase("apibatch_"); }

  void TearDown() override {
    if (watermarks_) watermarks_->Close();
    if (projector_) projector_->Stop();
    if (app_) app_->Stop();  // before the producer it uses goes
    app_.reset();
  }

  // The API appending to a fresh dev broker. Without a projector, reads of
  // the jobs it appended answer from the appends after `projection_wait`.
  void StartOnBroker(std::chrono::milliseconds projection_wait = Millis(100)) {
    broker_ = std::make_unique<testing::ScopedDevBroker>(
        testing::TopicList{{topics_.job_events, kBrokerPartitions}});
    events::KafkaConfig config;
    config.brokers = broker_->bootstrap();
    auto kafka = events::KafkaEventLog::Make(config);
    ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
    kafka_ = std::move(kafka).value();
    auto producer = kafka_->NewProducer("api");
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    kafka_producer_ = std::move(producer).value();
    StartApi(*kafka_producer_, database_url_,
             [projection_wait](ApiOptions& o) { o.projection_wait = projection_wait; });
  }

  // Asserts an error response's status and code; returns its "error" object.
  static json ExpectError(const HttpResponse& r, long status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body.substr(0, 500);
    json b = Body(r);
    EXPECT_EQ(b["error"].value("code", ""), code) << r.body.substr(0, 500);
    EXPECT_FALSE(b["error"].value("message", "").empty()) << r.body.substr(0, 500);
    return b["error"];
  }

  HttpResponse PostBatch(const json& body, std::vector<std::string> headers = kJsonHeader) {
    return Call("POST", "/api/v1/jobs/batch", body.dump(), std::move(headers));
  }

  // How many records the broker's job-events topic holds.
  int64_t StoredOnBroker() {
    if (!watermarks_) {
      events::ConsumerOptions options;
      options.topics = {topics_.job_events};
      auto consumer = kafka_->NewConsumer(options);
      EXPECT_TRUE(consumer.ok()) << consumer.status().ToString();
      if (!consumer.ok()) return -1;
      watermarks_ = std::move(consumer).value();
    }
    int64_t stored = 0;
    for (int p = 0; p < kBrokerPartitions; ++p) {
      auto w = watermarks_->QueryWatermarks({topics_.job_events, p}, Millis(5'000));
      EXPECT_TRUE(w.ok()) << w.status().ToString();
      if (w.ok()) stored += w->high - w->low;
    }
    return stored;
  }

  // Every record of the broker's job-events topic, decoded (`count` of them).
  std::vector<events::Envelope> ReadBroker(size_t count) {
    events::ConsumerOptions options;
    options.topics = {topics_.job_events};
    auto consumer = kafka_->NewConsumer(options);
    EXPECT_TRUE(consumer.ok()) << consumer.status().ToString();
    std::vector<events::Envelope> out;
    if (!consumer.ok()) return out;
    EXPECT_TRUE(testing::WaitFor(
        [&] {
          for (auto& rec : consumer.value()->Poll(1000, Millis(100))) {
            auto e = events::DecodeEnvelope(rec.value);
            EXPECT_TRUE(e.ok());
            if (!e.ok()) continue;
            EXPECT_EQ(rec.key, e->job_id());
            out.push_back(std::move(e).value());
          }
          return out.size() >= count;
        },
        std::chrono::seconds(20)));
    consumer.value()->Close();
    return out;
  }

  void StartProjectorOnBroker() {
    projector_ = StartRealProjector(*kafka_, database_url_, topics_, store_);
  }

  int64_t JobRows() {
    pqxx::connection c(database_url_);
    pqxx::nontransaction tx(c);
    return tx.exec("SELECT count(*) FROM jobs")[0][0].as<int64_t>();
  }

  std::unique_ptr<testing::ScopedDevBroker> broker_;
  std::unique_ptr<events::EventLog> kafka_;
  std::unique_ptr<events::Producer> kafka_producer_;
  std::unique_ptr<events::Consumer> watermarks_;  // StoredOnBroker's
  std::unique_ptr<projections::PgProjectionStore> store_;
  std::unique_ptr<projections::Projector> projector_;
};

// Valid items accepted, invalid ones answered with POST /jobs's error; one
// JobSubmitted per accepted item on the broker and nothing else; each
// accepted job readable at once, and projected by the real projector.
TEST_F(ApiBatchTest, AcceptsTheValidItemsAndAppendsExactlyTheirJobSubmitted) {
  StartOnBroker(/*projection_wait=*/Millis(10'000));
  StartProjectorOnBroker();
  json bad_priority = Echo("bad");
  bad_priority["priority"] = 11;
  json unknown = Echo("typo");
  unknown["retires"] = 3;
  const json body =
      Batch({Echo("first"), bad_priority, TypicalJob(1), unknown, Keyed("keyed", "batch-k1")});
  HttpResponse r = PostBatch(body, {"Content-Type: application/json", "X-Request-Id: batch-1"});
  ASSERT_EQ(r.status, 200) << r.body;
  json out = Body(r);
  EXPECT_EQ(out["accepted"], 3);
  EXPECT_EQ(out["rejected"], 2);
  ASSERT_EQ(out["results"].size(), 5u);
  std::set<std::string> accepted;
  for (size_t i : {0u, 2u, 4u}) {
    const json& item = out["results"][i];
    EXPECT_EQ(item["index"], i);
    EXPECT_EQ(item["status"], 201) << item;
    const std::string id = item.value("job_id", "");
    EXPECT_TRUE(LooksLikeUuid(id)) << item;
    EXPECT_EQ(item["location"], "/api/v1/jobs/" + id);
    accepted.insert(id);
  }
  EXPECT_EQ(out["results"][4]["job_id"], ids::JobIdForIdempotencyKey("batch-k1"));
  // The error POST /jobs gives for the same body.
  for (size_t i : {1u, 3u}) {
    const json& item = out["results"][i];
    EXPECT_EQ(item["status"], 400) << item;
    EXPECT_FALSE(item.contains("job_id")) << item;
    HttpResponse alone = Call("POST", "/api/v1/jobs", body["jobs"][i].dump());
    ASSERT_EQ(alone.status, 400) << alone.body;
    EXPECT_EQ(item["error"], Body(alone)["error"]);
  }
  EXPECT_EQ(out["results"][1]["error"]["field"], "priority");
  EXPECT_EQ(out["results"][3]["error"]["code"], "unknown_field");

  EXPECT_EQ(StoredOnBroker(), 3);
  std::vector<events::Envelope> stored = ReadBroker(3);
  ASSERT_EQ(stored.size(), 3u);
  std::set<std::string> submitted;
  for (const events::Envelope& e : stored) {
    EXPECT_EQ(e.event_case(), events::Envelope::kJobSubmitted);
    EXPECT_EQ(e.event_id(), ids::EventId("JobSubmitted", e.job_id(), ""));
    EXPECT_EQ(e.producer(), "api/test-1");
    EXPECT_EQ(e.correlation_id(), "batch-1");
    submitted.insert(e.job_id());
  }
  EXPECT_EQ(submitted, accepted);

  // Read your writes: each job answers right after the 200.
  for (size_t i : {0u, 2u, 4u}) {
    const std::string id = out["results"][i]["job_id"];
    HttpResponse got = Call("GET", "/api/v1/jobs/" + id);
    ASSERT_EQ(got.status, 200) << got.body;
    EXPECT_EQ(Body(got)["name"], body["jobs"][i]["name"]);
    EXPECT_EQ(Body(got)["status"], "PENDING");
  }
  // The projector made a row of each, from the broker.
  EXPECT_TRUE(testing::WaitFor([&] { return JobRows() == 3; }, std::chrono::seconds(30)))
      << JobRows();

  // A fresh API process knows only PostgreSQL: the key names the projected job.
  StartApi(*kafka_producer_, database_url_);
  r = PostBatch(Batch({Keyed("again", "batch-k1")}));
  ASSERT_EQ(r.status, 200) << r.body;
  out = Body(r);
  EXPECT_EQ(out["accepted"], 0);
  EXPECT_EQ(out["results"][0]["status"], 409);
  EXPECT_EQ(out["results"][0]["error"]["code"], "duplicate_idempotency_key");
  EXPECT_EQ(out["results"][0]["job"]["name"], "keyed");
  EXPECT_EQ(StoredOnBroker(), 3);
}

// The contract's whole-request errors: 400 with a message saying what to
// fix, nothing appended; a 1,000-item batch of typical jobs fits.
TEST_F(ApiBatchTest, TooManyItemsOrABadBodyIs400AndAppendsNothing) {
  StartOnBroker();
  json many = json::array();
  for (int i = 0; i < 1001; ++i) many.push_back(TypicalJob(i));
  json error = ExpectError(PostBatch(Batch(many)), 400, "invalid_field");
  EXPECT_EQ(error["field"], "jobs");
  EXPECT_NE(error["message"].get<std::string>().find("the limit is 1000"), std::string::npos)
      << error;
  ExpectError(Call("POST", "/api/v1/jobs/batch", "{\"jobs\": [", kJsonHeader), 400, "invalid_json");
  ExpectError(PostBatch(json::object()), 400, "missing_field");
  ExpectError(PostBatch(Batch(json::array())), 400, "invalid_field");
  ExpectError(PostBatch(Batch({Echo("a")}),
                        {"Content-Type: application/json", "Idempotency-Key: whole-batch"}),
              400, "invalid_field");
  HttpResponse get = Call("GET", "/api/v1/jobs/batch");
  ExpectError(get, 405, "method_not_allowed");
  EXPECT_EQ(get.headers["allow"], "POST");
  EXPECT_EQ(StoredOnBroker(), 0);

  many.erase(many.begin());
  const std::string body = Batch(many).dump();
  EXPECT_GT(body.size(), 250'000u);  // ~300 bytes a job
  HttpResponse r =
      testing::HttpRequest("POST", base_ + "/api/v1/jobs/batch", body, kJsonHeader, 30'000);
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 500);
  EXPECT_EQ(Body(r)["accepted"], 1000);
  EXPECT_EQ(StoredOnBroker(), 1000);
}

// Two items with one key: one job, the second refers to it; later batches
// and POST /jobs with the key find it.
TEST_F(ApiBatchTest, ADuplicateKeyInOneBatchMakesOneJob) {
  StartOnBroker();
  HttpResponse r =
      PostBatch(Batch({Keyed("first", "dup-1"), Echo("plain"), Keyed("second body", "dup-1")}));
  ASSERT_EQ(r.status, 200) << r.body;
  json out = Body(r);
  const std::string id = ids::JobIdForIdempotencyKey("dup-1");
  EXPECT_EQ(out["accepted"], 2);
  EXPECT_EQ(out["rejected"], 1);
  EXPECT_EQ(out["results"][0]["status"], 201);
  EXPECT_EQ(out["results"][0]["job_id"], id);
  const json& second = out["results"][2];
  EXPECT_EQ(second["status"], 409);
  EXPECT_EQ(second["job_id"], id);
  EXPECT_EQ(second["error"]["code"], "duplicate_idempotency_key");
  EXPECT_EQ(second["job"]["name"], "first");
  EXPECT_EQ(StoredOnBroker(), 2);

  r = PostBatch(Batch({Keyed("third", "dup-1")}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["results"][0]["status"], 409);
  HttpResponse single = Call("POST", "/api/v1/jobs", Keyed("fourth", "dup-1").dump());
  ExpectError(single, 409, "duplicate_idempotency_key");
  EXPECT_EQ(Body(single)["error"]["job_id"], id);
  EXPECT_EQ(StoredOnBroker(), 2);
  HttpResponse got = Call("GET", "/api/v1/jobs/" + id);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(Body(got)["name"], "first");
}

// depends_on as through POST /jobs: a parent accepted a moment ago counts,
// an unknown one is 400 unknown_dependency.
TEST_F(ApiBatchTest, DependsOnIsCheckedAsForPostJobs) {
  StartOnBroker();
  HttpResponse parent = Call("POST", "/api/v1/jobs", Echo("parent").dump());
  ASSERT_EQ(parent.status, 201) << parent.body;
  const std::string parent_id = Body(parent)["job_id"];
  const std::string missing = RandomId();
  json child = Echo("child");
  child["depends_on"] = {parent_id};
  json orphan = Echo("orphan");
  orphan["depends_on"] = {missing};
  HttpResponse r = PostBatch(Batch({child, orphan}));
  ASSERT_EQ(r.status, 200) << r.body;
  json out = Body(r);
  EXPECT_EQ(out["results"][0]["status"], 201) << out;
  EXPECT_EQ(out["results"][1]["status"], 400);
  EXPECT_EQ(out["results"][1]["error"]["code"], "unknown_dependency");
  EXPECT_EQ(out["results"][1]["error"]["job_ids"], json({missing}));
  std::vector<events::Envelope> stored = ReadBroker(2);
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(StoredOnBroker(), 2);
  HttpResponse got = Call("GET", "/api/v1/jobs/" + out["results"][0]["job_id"].get<std::string>());
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(Body(got)["depends_on"], json({parent_id}));
  EXPECT_EQ(Body(got)["status"], "WAITING");
}

// --- faults, on the memory log ------------------------------------------------

// No broker reachable: 503 at once, nothing handed over. A failed append
// answers per item as POST /jobs answers it; no failed item claims 201.
TEST_F(ApiBatchTest, BrokerFailuresAnswerAsPostJobsAndNeverClaim201) {
  CreateLog();
  StartApi(*producer_, database_url_);
  log_.SetReachable(false);
  ExpectError(PostBatch(Batch({Echo("a"), Echo("b")})), 503, "kafka_unavailable");
  // Nothing to append: the errors need no broker.
  HttpResponse invalid_only = PostBatch(Batch({{{"type", "nope"}}}));
  ASSERT_EQ(invalid_only.status, 200) << invalid_only.body;
  EXPECT_EQ(Body(invalid_only)["rejected"], 1);
  log_.SetReachable(true);
  EXPECT_TRUE(Events().empty());

  log_.FailNextAppends(1, Status::Unavailable("broker down"));
  HttpResponse r = PostBatch(Batch({Echo("refused"), Echo("stored")}));
  ASSERT_EQ(r.status, 200) << r.body;
  json out = Body(r);
  EXPECT_EQ(out["accepted"], 1);
  EXPECT_EQ(out["results"][0]["status"], 503);
  EXPECT_EQ(out["results"][0]["error"]["code"], "kafka_unavailable");
  EXPECT_NE(out["results"][0]["error"]["message"].get<std::string>().find("broker down"),
            std::string::npos);
  EXPECT_EQ(out["results"][1]["status"], 201);
  std::vector<events::Envelope> stored = Events();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].job_id(), out["results"][1]["job_id"]);

  // An unknown outcome names the job; a retry with the key is then safe.
  log_.FailNextAppends(1, Status::Timeout("message timed out"));
  r = PostBatch(Batch({Keyed("unknown", "maybe")}));
  ASSERT_EQ(r.status, 200) << r.body;
  out = Body(r);
  EXPECT_EQ(out["accepted"], 0);
  EXPECT_EQ(out["results"][0]["status"], 503);
  EXPECT_EQ(out["results"][0]["error"]["code"], "append_unconfirmed");
  EXPECT_EQ(out["results"][0]["job_id"], ids::JobIdForIdempotencyKey("maybe"));
  EXPECT_EQ(out["results"][0]["error"]["job_id"], ids::JobIdForIdempotencyKey("maybe"));
  EXPECT_NE(out["results"][0]["error"]["message"].get<std::string>().find("same Idempotency-Key"),
            std::string::npos);
  EXPECT_EQ(Events().size(), 1u);
}

// A body above the API's limit is a JSON 413 that says the limit.
TEST_F(ApiBatchTest, ABodyAboveTheLimitIsA413SayingTheLimit) {
  CreateLog();
  StartApi(*producer_, database_url_, [](ApiOptions& o) { o.max_request_bytes = 100'000; });
  json many = json::array();
  for (int i = 0; i < 400; ++i) many.push_back(TypicalJob(i));
  json error = ExpectError(PostBatch(Batch(many)), 413, "payload_too_large");
  EXPECT_NE(error["message"].get<std::string>().find("the limit is 100000"), std::string::npos)
      << error;
  // Beyond Pistache's own buffer (the limit + 1 MiB) the 413 is Pistache's, in plain text.
  std::string huge = Batch(many).dump();
  huge.insert(huge.size() - 1, ", \"pad\": \"" + std::string(1'200'000, 'x') + "\"");
  EXPECT_EQ(Call("POST", "/api/v1/jobs/batch", huge).status, 413);
  EXPECT_TRUE(Events().empty());
}

}  // namespace
}  // namespace jobsched::api
