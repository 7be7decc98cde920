// Unit tests of POST /api/v1/jobs/batch's pure part (job_batch.h): the
// body's checks, each item validated as POST /jobs validates a body, the
// decisions on keys and parents, the append outcomes and the 200's shape.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "events/envelope.h"
#include "events/fold.h"
#include "events/ids.h"
#include "services/api/api_error.h"
#include "services/api/job_batch.h"
#include "services/api/job_view.h"
#include "tests/unit/api_spec_test_util.h"

namespace jobsched::api {
namespace {

using nlohmann::json;
using testing::kNow;
using testing::MustFail;

const events::Origin kOrigin{"api/test", kNow - std::chrono::seconds(5), "req-1", ""};

json Echo(const std::string& name) { return {{"name", name}, {"type", "echo"}}; }

json Keyed(const std::string& name, const std::string& key) {
  json j = Echo(name);
  j["idempotency_key"] = key;
  return j;
}

json Child(const std::string& name, std::vector<std::string> parents) {
  json j = Echo(name);
  j["depends_on"] = std::move(parents);
  return j;
}

ApiError MustRefuseBody(json body) {
  auto r = ParseBatchBody(std::move(body));
  if (auto* e = std::get_if<ApiError>(&r)) return *e;
  ADD_FAILURE() << "accepted";
  return {};
}

// The plan of `jobs` decided against `lookups`.
BatchPlan Decided(const json& jobs, const BatchLookups& lookups = {}) {
  BatchPlan plan = PlanBatch(jobs, kNow, kOrigin);
  DecideBatch(plan, lookups);
  return plan;
}

// Every item AppendOrder names acknowledged (or failed with `status`).
void Acknowledge(BatchPlan& plan, const Status& status = Status::Ok()) {
  for (size_t i : AppendOrder(plan)) SetAppendOutcome(plan.items[i].result, status, "ADVICE");
}

v1::JobState ExistingJob(const std::string& key) {
  const std::string id = ids::JobIdForIdempotencyKey(key);
  events::Envelope e = events::MakeEnvelope(ids::EventId("JobSubmitted", id, ""), id, kOrigin);
  e.mutable_job_submitted()->mutable_spec()->set_name("existing");
  e.mutable_job_submitted()->mutable_spec()->set_type(v1::JOB_TYPE_ECHO);
  e.mutable_job_submitted()->mutable_spec()->set_idempotency_key(key);
  v1::JobState s;
  EXPECT_TRUE(events::Apply(s, e).applied());
  return s;
}

ParentInfo Parent(const std::string& id, const std::string& status, int64_t dependents = 0) {
  ParentInfo p;
  p.job_id = id;
  p.status = status;
  p.dependents = dependents;
  return p;
}

// --- the body -----------------------------------------------------------------

TEST(ParseBatchBody, RefusesWhatIsNotOneToAThousandJobsSayingWhatToFix) {
  ApiError e = MustRefuseBody(json::array({Echo("a")}));
  EXPECT_EQ(e.code, "invalid_json");
  EXPECT_EQ(e.message,
            "the request body must be a JSON object {\"jobs\": [<job>, ...]}, got array");

  e = MustRefuseBody({{"jobs", {Echo("a")}}, {"job", 1}});
  EXPECT_EQ(e.code, "unknown_field");
  EXPECT_EQ(e.field, "job");

  e = MustRefuseBody(json::object());
  EXPECT_EQ(e.code, "missing_field");
  EXPECT_EQ(e.field, "jobs");
  EXPECT_EQ(e.message,
            "is required: an array of 1 to 1000 jobs, each what POST /api/v1/jobs accepts");

  e = MustRefuseBody({{"jobs", Echo("a")}});
  EXPECT_EQ(e.code, "invalid_field");
  EXPECT_EQ(e.field, "jobs");
  EXPECT_NE(e.message.find("must be an array of 1 to 1000 jobs"), std::string::npos) << e.message;

  e = MustRefuseBody({{"jobs", json::array()}});
  EXPECT_EQ(e.code, "invalid_field");
  EXPECT_EQ(e.message, "is empty: send 1 to 1000 jobs");

  json many = json::array();
  for (int i = 0; i < 1001; ++i) many.push_back(Echo("j"));
  e = MustRefuseBody({{"jobs", many}});
  EXPECT_EQ(e.code, "invalid_field");
  EXPECT_EQ(HttpStatusOf(e.code), 400);
  EXPECT_EQ(e.message,
            "has 1001 jobs; the limit is 1000 per batch: split it into several requests "
            "(nothing was appended)");

  many.erase(many.begin());
  auto ok = ParseBatchBody({{"jobs", many}});
  ASSERT_TRUE(std::holds_alternative<json>(ok));
  EXPECT_EQ(std::get<json>(ok).size(), 1000u);
}

// --- each item as POST /jobs ---------------------------------------------------

TEST(PlanBatch, EachItemIsValidatedAsPostJobsAndInvalidOnesAnswerTheSameError) {
  const json bad_retries = {{"type", "echo"}, {"max_retries", 101}};
  const json no_type = {{"name", "x"}};
  const json not_an_object = "echo";
  BatchPlan plan =
      Decided(json::array({Echo("a"), bad_retries, no_type, not_an_object, Keyed("b", "key-b")}));
  ASSERT_EQ(plan.items.size(), 5u);
  std::vector<size_t> order = AppendOrder(plan);
  EXPECT_EQ(order, (std::vector<size_t>{0, 4}));
  for (size_t i : {1u, 2u, 3u}) {
    const BatchItem& item = plan.items[i];
    EXPECT_FALSE(item.event.has_value());
    EXPECT_EQ(item.result.status, 400);
    EXPECT_EQ(item.result.job_id, "");
    ASSERT_TRUE(item.result.error.has_value());
  }
  // The very error object POST /jobs answers for those bodies.
  EXPECT_EQ(*plan.items[1].result.error, FromFieldError(MustFail(bad_retries)));
  EXPECT_EQ(*plan.items[2].result.error, FromFieldError(MustFail(no_type)));
  EXPECT_EQ(*plan.items[3].result.error, FromFieldError(MustFail(not_an_object)));
  EXPECT_EQ(plan.items[1].result.error->field, "max_retries");

  // The JobSubmitted POST /jobs would append, with the defaults applied.
  const events::Envelope& a = *plan.items[0].event;
  EXPECT_TRUE(LooksLikeUuid(a.job_id()));
  EXPECT_EQ(a.event_id(), ids::EventId("JobSubmitted", a.job_id(), ""));
  EXPECT_EQ(a.producer(), "api/test");
  EXPECT_EQ(a.correlation_id(), "req-1");
  EXPECT_EQ(FromProto(a.occurred_at()), kNow);
  EXPECT_EQ(a.job_submitted().spec().name(), "a");
  EXPECT_EQ(a.job_submitted().spec().max_retries(), 3);
  EXPECT_EQ(plan.items[0].folded.status(), v1::JOB_STATUS_PENDING);
  const events::Envelope& b = *plan.items[4].event;
  EXPECT_EQ(b.job_id(), ids::JobIdForIdempotencyKey("key-b"));
  EXPECT_TRUE(plan.items[4].keyed);
  EXPECT_EQ(KeyedJobIds(plan), std::vector<std::string>{b.job_id()});
}

TEST(PlanBatch, UnkeyedItemsGetDistinctJobs) {
  json jobs = json::array();
  for (int i = 0; i < 50; ++i) jobs.push_back(Echo("same body"));
  BatchPlan plan = Decided(jobs);
  std::set<std::string> ids;
  for (const BatchItem& item : plan.items) ids.insert(item.event->job_id());
  EXPECT_EQ(ids.size(), 50u);
  EXPECT_EQ(AppendOrder(plan).size(), 50u);
}

// --- keys ----------------------------------------------------------------------

TEST(DecideBatch, AKeyThatNamesAnExistingJobIs409WithTheJobAndNothingToAppend) {
  BatchLookups lookups;
  const v1::JobState existing = ExistingJob("nightly");
  lookups.existing.emplace(existing.job_id(), existing);
  BatchPlan plan = Decided(json::array({Keyed("other body", "nightly"), Echo("new")}), lookups);
  EXPECT_EQ(AppendOrder(plan), std::vector<size_t>{1});
  const BatchItemResult& r = plan.items[0].result;
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.job_id, existing.job_id());
  EXPECT_EQ(r.location, "/api/v1/jobs/" + existing.job_id());
  ASSERT_TRUE(r.error.has_value());
  EXPECT_EQ(*r.error, DuplicateJobError(existing));
  EXPECT_EQ(r.error->details["job_id"], existing.job_id());
  EXPECT_EQ(*r.job, RenderJob(existing));
}

TEST(DecideBatch, TheSecondItemWithAKeyRefersToTheFirstsJob) {
  BatchPlan plan = Decided(json::array({Keyed("first", "k"), Keyed("second", "k"), Echo("x")}));
  EXPECT_EQ(AppendOrder(plan), (std::vector<size_t>{0, 2}));
  EXPECT_EQ(plan.items[1].repeat_of, 0u);
  Acknowledge(plan);
  json out = RenderBatch(plan);
  EXPECT_EQ(out["accepted"], 2);
  EXPECT_EQ(out["rejected"], 1);
  const std::string id = ids::JobIdForIdempotencyKey("k");
  EXPECT_EQ(
      out["results"][0],
      json({{"index", 0}, {"status", 201}, {"job_id", id}, {"location", "/api/v1/jobs/" + id}}));
  const json& second = out["results"][1];
  EXPECT_EQ(second["status"], 409);
  EXPECT_EQ(second["job_id"], id);
  EXPECT_EQ(second["error"]["code"], "duplicate_idempotency_key");
  EXPECT_EQ(second["error"]["job_id"], id);
  EXPECT_EQ(second["job"]["name"], "first");  // the first item's job, not a second one
}

TEST(DecideBatch, TheRepeatOfAFailedAppendAnswersTheSameFailure) {
  BatchPlan plan = Decided(json::array({Keyed("first", "k"), Keyed("second", "k")}));
  Acknowledge(plan, Status::Timeout("message timed out"));
  json out = RenderBatch(plan);
  EXPECT_EQ(out["accepted"], 0);
  EXPECT_EQ(out["rejected"], 2);
  EXPECT_EQ(out["results"][1]["status"], 503);
  EXPECT_EQ(out["results"][1]["error"], out["results"][0]["error"]);
  EXPECT_EQ(out["results"][1]["error"]["code"], "append_unconfirmed");
  EXPECT_EQ(out["results"][1]["job_id"], ids::JobIdForIdempotencyKey("k"));
}

// --- depends_on ------------------------------------------------------------------

TEST(DecideBatch, DependsOnIsResolvedAsForPostJobs) {
  const std::string done = RandomId(), running = RandomId(), unknown = RandomId();
  BatchLookups lookups;
  lookups.parents = {Parent(done, "SUCCEEDED"), Parent(running, "RUNNING")};
  BatchPlan plan = Decided(
      json::array({Child("c1", {done, running}), Child("c2", {running, unknown})}), lookups);
  EXPECT_EQ(ParentJobIds(PlanBatch(json::array({Child("c1", {done, running}),
                                                Child("c2", {running, unknown})}),
                                   kNow, kOrigin))
                .size(),
            3u);
  EXPECT_EQ(AppendOrder(plan), std::vector<size_t>{0});
  const auto& parents = plan.items[0].event->job_submitted().parents();
  ASSERT_EQ(parents.size(), 1);  // only the parent that ended is recorded
  EXPECT_EQ(parents[0].job_id(), done);
  EXPECT_EQ(parents[0].status(), v1::DEPENDENCY_STATUS_SATISFIED);
  const BatchItemResult& r = plan.items[1].result;
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error->code, "unknown_dependency");
  EXPECT_EQ(r.error->details["job_ids"], json({unknown}));
}

TEST(DecideBatch, EarlierItemsCountTowardAParentsDependentsLimit) {
  const std::string parent = RandomId();
  BatchLookups lookups;
  lookups.parents = {Parent(parent, "RUNNING", 999)};
  BatchPlan plan =
      Decided(json::array({Child("c1", {parent}), Echo("x"), Child("c2", {parent})}), lookups);
  EXPECT_EQ(AppendOrder(plan), (std::vector<size_t>{0, 1}));
  EXPECT_EQ(plan.items[2].result.error->code, "invalid_dependency");
  EXPECT_NE(plan.items[2].result.error->message.find("1000 dependents"), std::string::npos)
      << plan.items[2].result.error->message;
}

TEST(DecideBatch, AParentInTheSameBatchIsRefusedAndAKeyOfARefusedItemStaysFree) {
  const std::string parent_id = ids::JobIdForIdempotencyKey("parent");
  const std::string missing = RandomId();
  BatchPlan plan = Decided(json::array({
      Keyed("parent", "parent"),
      Child("child", {parent_id}),
      [&] {
        json j = Child("keyed but refused", {missing});
        j["idempotency_key"] = "k2";
        return j;
      }(),
      Keyed("k2 again", "k2"),
  }));
  EXPECT_EQ(AppendOrder(plan), (std::vector<size_t>{0, 3}));
  const BatchItemResult& child = plan.items[1].result;
  EXPECT_EQ(child.status, 400);
  EXPECT_EQ(child.error->code, "invalid_dependency");
  EXPECT_EQ(child.error->field, "depends_on");
  EXPECT_NE(child.error->message.find("submitted in this same batch"), std::string::npos);
  EXPECT_EQ(plan.items[2].result.error->code, "unknown_dependency");
  // Item 2 was refused, so item 3 is the key's first accepted submission.
  EXPECT_FALSE(plan.items[3].repeat_of.has_value());
}

TEST(DecideBatch, WithoutPostgresItemsWithDependsOnAnswer503AndTheOthersGoOn) {
  BatchLookups lookups;
  lookups.parents_unavailable = ApiError{"database_unavailable", "PostgreSQL is down", ""};
  BatchPlan plan = Decided(json::array({Child("c", {RandomId()}), Echo("x")}), lookups);
  EXPECT_EQ(AppendOrder(plan), std::vector<size_t>{1});
  EXPECT_EQ(plan.items[0].result.status, 503);
  EXPECT_EQ(plan.items[0].result.error->code, "database_unavailable");
}

// --- append outcomes and the answer ------------------------------------------------

TEST(SetAppendOutcome, MapsTheAppendAsPostJobsDoes) {
  BatchItemResult ok;
  ok.job_id = "j1";
  SetAppendOutcome(ok, Status::Ok(), "");
  EXPECT_EQ(ok.status, 201);
  EXPECT_EQ(ok.location, "/api/v1/jobs/j1");
  EXPECT_FALSE(ok.error.has_value());

  BatchItemResult refused;
  refused.job_id = "j2";
  SetAppendOutcome(refused, Status::Unavailable("broker down"), "ADVICE");
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.error->code, "kafka_unavailable");
  EXPECT_EQ(refused.error->message,
            "the event log did not take the request (broker down); nothing was appended: retry "
            "later");
  EXPECT_EQ(refused.location, "");

  BatchItemResult unknown;
  unknown.job_id = "j3";
  SetAppendOutcome(unknown, Status::Timeout("message timed out"), "ADVICE");
  EXPECT_EQ(unknown.status, 503);
  EXPECT_EQ(unknown.error->code, "append_unconfirmed");
  EXPECT_EQ(unknown.error->message,
            "the event log did not confirm the request (message timed out); ADVICE");
  EXPECT_EQ(unknown.error->details, json({{"job_id", "j3"}}));
}

TEST(RenderBatch, OneResultPerItemInOrderWithTheCounts) {
  BatchPlan plan = Decided(json::array({Echo("a"), {{"type", "nope"}}, Echo("c")}));
  Acknowledge(plan);
  json out = RenderBatch(plan);
  EXPECT_EQ(out["accepted"], 2);
  EXPECT_EQ(out["rejected"], 1);
  ASSERT_EQ(out["results"].size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(out["results"][i]["index"], i);
  const std::string a = plan.items[0].result.job_id;
  EXPECT_EQ(
      out["results"][0],
      json({{"index", 0}, {"status", 201}, {"job_id", a}, {"location", "/api/v1/jobs/" + a}}));
  EXPECT_EQ(out["results"][1],
            json({{"index", 1},
                  {"status", 400},
                  {"error", ErrorBody(FromFieldError(MustFail({{"type", "nope"}})))["error"]}}));
  EXPECT_EQ(out["results"][1]["error"]["field"], "type");
}

}  // namespace
}  // namespace jobsched::api
