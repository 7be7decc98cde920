// Unit tests of the API's workflow and dependency rules, all pure: workflow
// parsing and graph checks (workflow_spec.h), depends_on and trigger parsing
// (job_spec.h), the parents' resolution and the cancel plans
// (workflow_routes.h), the views and the status derivation (workflow_view.h).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "events/envelope.h"
#include "events/fold.h"
#include "events/ids.h"
#include "services/api/api_error.h"
#include "services/api/cursor.h"
#include "services/api/job_update.h"
#include "services/api/job_view.h"
#include "services/api/workflow_routes.h"
#include "services/api/workflow_spec.h"
#include "services/api/workflow_view.h"
#include "tests/unit/api_spec_test_util.h"

namespace jobsched::api {
namespace {

using nlohmann::json;
using testing::kNow;
using testing::MustFail;
using testing::MustParse;

json Job(const std::string& key, std::vector<std::string> depends_on = {}) {
  json j = {{"key", key}, {"type", "echo"}};
  if (!depends_on.empty()) j["depends_on"] = depends_on;
  return j;
}

json Workflow(json jobs) { return {{"name", "etl"}, {"jobs", std::move(jobs)}}; }

v1::WorkflowSpec MustParseWorkflow(const json& body) {
  auto r = ParseWorkflow(body, kNow);
  if (auto* e = std::get_if<FieldError>(&r)) {
    ADD_FAILURE() << e->code << " " << e->field << ": " << e->message;
    return {};
  }
  return std::get<v1::WorkflowSpec>(r);
}

FieldError MustRefuse(const json& body) {
  auto r = ParseWorkflow(body, kNow);
  if (auto* e = std::get_if<FieldError>(&r)) return *e;
  ADD_FAILURE() << "accepted: " << body.dump().substr(0, 300);
  return {};
}

// A chain: job i depends on job i-1.
json Chain(int n) {
  json jobs = json::array();
  for (int i = 0; i < n; ++i) {
    jobs.push_back(i == 0 ? Job("j0")
                          : Job("j" + std::to_string(i), {"j" + std::to_string(i - 1)}));
  }
  return Workflow(std::move(jobs));
}

TEST(ParseWorkflow, ParsesJobsKeysAndEdgesWithJobDefaults) {
  json body = Workflow({Job("extract"),
                        {{"key", "transform"},
                         {"type", "sleep"},
                         {"payload", {{"ms", 10}}},
                         {"priority", 9},
                         {"depends_on", {"extract"}}},
                        {{"key", "load"},
                         {"name", "load it"},
                         {"http", {{"url", "https://example.com/load"}}},
                         {"depends_on", {"transform", "extract"}}}});
  v1::WorkflowSpec spec = MustParseWorkflow(body);
  EXPECT_EQ(spec.name(), "etl");
  ASSERT_EQ(spec.jobs_size(), 3);
  EXPECT_EQ(spec.jobs(0).key(), "extract");
  EXPECT_EQ(spec.jobs(0).spec().name(), "extract");  // named after its key
  EXPECT_EQ(spec.jobs(0).spec().type(), v1::JOB_TYPE_ECHO);
  EXPECT_EQ(spec.jobs(0).spec().max_retries(), 3);  // POST /jobs defaults
  EXPECT_EQ(spec.jobs(0).depends_on_size(), 0);
  EXPECT_EQ(spec.jobs(1).spec().type(), v1::JOB_TYPE_SLEEP);
  EXPECT_EQ(spec.jobs(1).spec().priority(), 9);
  EXPECT_EQ(spec.jobs(1).spec().payload_json(), "{\"ms\":10}");
  EXPECT_EQ(
      std::vector<std::string>(spec.jobs(2).depends_on().begin(), spec.jobs(2).depends_on().end()),
      (std::vector<std::string>{"transform", "extract"}));
  EXPECT_EQ(spec.jobs(2).spec().name(), "load it");
  EXPECT_EQ(spec.jobs(2).spec().type(), v1::JOB_TYPE_HTTP);
  EXPECT_EQ(spec.jobs(2).spec().depends_on_size(), 0);  // keys live in WorkflowJob
}

TEST(ParseWorkflow, CycleMessageSpellsTheCycleInEdgeOrder) {
  // extract -> transform -> load -> extract (each arrow: the child depends on the parent).
  FieldError e = MustRefuse(Workflow(
      {Job("extract", {"load"}), Job("transform", {"extract"}), Job("load", {"transform"})}));
  EXPECT_EQ(e, (FieldError{"invalid_workflow", "cycle: extract -> transform -> load -> extract",
                           "jobs"}));
  // Listed in another order, the cycle still starts at the job listed first.
  e = MustRefuse(Workflow({Job("ok"), Job("load", {"transform"}), Job("extract", {"load"}),
                           Job("transform", {"extract", "ok"})}));
  EXPECT_EQ(e.message, "cycle: load -> extract -> transform -> load");
  // A cycle below an acyclic part.
  e = MustRefuse(Workflow({Job("a"), Job("b", {"a", "d"}), Job("c", {"b"}), Job("d", {"c"})}));
  EXPECT_EQ(e.message, "cycle: b -> c -> d -> b");
  e = MustRefuse(Workflow({Job("x", {"y"}), Job("y", {"x"})}));
  EXPECT_EQ(e.message, "cycle: x -> y -> x");
}

TEST(ParseWorkflow, GraphErrorsNameTheOffendingKeys) {
  struct Case {
    std::string what;
    json body;
    FieldError error;
  };
  const std::vector<Case> cases = {
      {"duplicate key",
       Workflow({Job("a"), Job("b"), Job("a")}),
       {"invalid_workflow",
        "duplicate key \"a\" (also jobs[0]): keys must be unique within a workflow",
        "jobs[2].key"}},
      {"unknown key",
       Workflow({Job("a"), Job("b", {"a", "zz", "yy"})}),
       {"invalid_workflow",
        "job \"b\" depends on unknown keys: \"zz\", \"yy\"; depends_on names keys of jobs in "
        "this workflow",
        "jobs[1].depends_on"}},
      {"self edge",
       Workflow({Job("a"), Job("b", {"b"})}),
       {"invalid_workflow", "job \"b\" depends on itself; a job can only depend on other jobs",
        "jobs[1].depends_on"}},
      {"listed twice",
       Workflow({Job("a"), Job("b", {"a", "a"})}),
       {"invalid_workflow", "job \"b\" lists \"a\" more than once in depends_on",
        "jobs[1].depends_on"}},
      {"empty",
       Workflow(json::array()),
       {"invalid_workflow", "the workflow is empty: list at least one job", "jobs"}},
      {"no jobs", {{"name", "etl"}}, {"missing_field", "", "jobs"}},
      {"no name",
       {{"jobs", {Job("a")}}},
       {"missing_field", "is required: the workflow's name", "name"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    FieldError e = MustRefuse(c.body);
    EXPECT_EQ(e.code, c.error.code);
    EXPECT_EQ(e.field, c.error.field);
    if (!c.error.message.empty()) {
      EXPECT_EQ(e.message, c.error.message);
    }
  }
}

TEST(ParseWorkflow, JobFieldsAreCheckedAsInPostJobsUnderTheirPath) {
  FieldError e = MustRefuse(Workflow({Job("a"), {{"key", "b"}, {"type", "http"}}}));
  EXPECT_EQ(e.code, "missing_field");
  EXPECT_EQ(e.field, "jobs[1].http");
  EXPECT_EQ(e.message.rfind("job \"b\": is required for type \"http\"", 0), 0u) << e.message;

  e = MustRefuse(Workflow({{{"key", "a"}, {"type", "echo"}, {"schedule", "* * * * *"}}}));
  EXPECT_EQ(e.field, "jobs[0].schedule");
  EXPECT_NE(e.message.find("type \"workflow\""), std::string::npos) << e.message;
  e = MustRefuse(Workflow({{{"key", "a"}, {"type", "echo"}, {"idempotency_key", "k"}}}));
  EXPECT_EQ(e.field, "jobs[0].idempotency_key");
  e = MustRefuse(Workflow({{{"key", "a"}, {"type", "workflow"}}}));
  EXPECT_EQ(e.field, "jobs[0].type");
  e = MustRefuse(Workflow({{{"key", "a"}, {"type", "echo"}, {"colour", 1}}}));
  EXPECT_EQ(e.code, "unknown_field");
  EXPECT_EQ(e.field, "jobs[0].colour");
  e = MustRefuse(Workflow({{{"type", "echo"}}}));
  EXPECT_EQ(e, (FieldError{"missing_field", e.message, "jobs[0].key"}));
  e = MustRefuse(Workflow({Job("bad key!")}));
  EXPECT_EQ(e.field, "jobs[0].key");
  e = MustRefuse(Workflow({Job(std::string(101, 'k'))}));
  EXPECT_EQ(e.field, "jobs[0].key");
  EXPECT_TRUE(std::holds_alternative<v1::WorkflowSpec>(
      ParseWorkflow(Workflow({Job(std::string(100, 'k'))}), kNow)));
  e = MustRefuse(Workflow({{{"key", "a"}, {"type", "echo"}, {"depends_on", "b"}}}));
  EXPECT_EQ(e.field, "jobs[0].depends_on");
  e = MustRefuse(json::array());
  EXPECT_EQ(e.code, "invalid_json");
  e = MustRefuse({{"name", "x"}, {"jobs", {Job("a")}}, {"schedule", "x"}});
  EXPECT_EQ(e.code, "unknown_field");
  EXPECT_EQ(e.field, "schedule");
}

TEST(ParseWorkflow, AChainOf2000JobsPassesIteratively) {
  v1::WorkflowSpec spec = MustParseWorkflow(Chain(2000));
  EXPECT_EQ(spec.jobs_size(), 2000);
  // Closing the chain into a 2,000-long cycle is found (and spelled) without recursion.
  json closed = Chain(2000);
  closed["jobs"][0]["depends_on"] = {"j1999"};
  FieldError e = MustRefuse(closed);
  EXPECT_EQ(e.field, "jobs");
  EXPECT_EQ(e.message.rfind("cycle: j0 -> j1 -> j2 -> ", 0), 0u);
  EXPECT_TRUE(e.message.ends_with(" -> j1998 -> j1999 -> j0"));
}

TEST(ParseWorkflow, AFanOutOf1000AndBackIn) {
  json jobs = json::array({Job("start")});
  std::vector<std::string> middle;
  for (int i = 0; i < 1000; ++i) {
    middle.push_back("m" + std::to_string(i));
    jobs.push_back(Job(middle.back(), {"start"}));
  }
  jobs.push_back(Job("end", middle));
  v1::WorkflowSpec spec = MustParseWorkflow(Workflow(jobs));
  EXPECT_EQ(spec.jobs_size(), 1002);
  EXPECT_EQ(spec.jobs(1001).depends_on_size(), 1000);

  // One more child of "start" is one more than a job may have.
  json wide = jobs;
  wide.push_back(Job("m1000", {"start"}));
  FieldError e = MustRefuse(Workflow(wide));
  EXPECT_EQ(e, (FieldError{"invalid_workflow",
                           "job \"start\" has 1001 dependents; the limit is 1000 (add an "
                           "intermediate job, or split the workflow)",
                           "jobs[0]"}));
  // One more parent of "end" is one more than a job may list.
  json deep = jobs;
  deep.back()["depends_on"].push_back("start");
  e = MustRefuse(Workflow(deep));
  EXPECT_EQ(e,
            (FieldError{"invalid_workflow", "job \"end\" depends on 1001 jobs; the limit is 1000",
                        "jobs[1001].depends_on"}));
}

TEST(ParseWorkflow, AtMost2000Jobs) {
  json jobs = json::array();
  for (int i = 0; i < 2001; ++i) jobs.push_back(Job("j" + std::to_string(i)));
  EXPECT_EQ(
      MustRefuse(Workflow(jobs)),
      (FieldError{"invalid_workflow",
                  "the workflow has 2001 jobs; the limit is 2000: split the workflow", "jobs"}));
  jobs.erase(jobs.size() - 1);
  EXPECT_EQ(MustParseWorkflow(Workflow(jobs)).jobs_size(), 2000);
}

TEST(CheckWorkflowEventSize, RefusesAnEventAbove900000Bytes) {
  events::Envelope e = events::MakeEnvelope("e", "w", {"api", kNow, "", ""});
  v1::WorkflowSpec* spec = e.mutable_workflow_submitted()->mutable_spec();
  spec->set_name("big");
  v1::WorkflowJob* job = spec->add_jobs();
  job->set_key("a");
  job->mutable_spec()->set_payload_json(std::string(899'000, 'x'));
  EXPECT_FALSE(CheckWorkflowEventSize(e).has_value());
  job->mutable_spec()->set_payload_json(std::string(900'000, 'x'));
  std::optional<FieldError> error = CheckWorkflowEventSize(e);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, "invalid_workflow");
  EXPECT_NE(error->message.find("split the workflow"), std::string::npos);
  EXPECT_EQ(HttpStatusOf(error->code), 400);
}

// --- POST /jobs: depends_on and the workflow trigger ------------------------

const std::string kParent1 = "0b0e7a4c-5d3e-4a59-9d1f-3a4b5c6d7e8f";
const std::string kParent2 = "1c1f8b5d-6e4f-4b6a-8e2a-4b5c6d7e8f90";

TEST(ParseJobSpec, DependsOnListsDistinctJobIdsInLowerCase) {
  json body = {{"type", "echo"},
               {"depends_on", {kParent1, "1C1F8B5D-6E4F-4B6A-8E2A-4B5C6D7E8F90"}}};
  v1::JobSpec spec = MustParse(body);
  ASSERT_EQ(spec.depends_on_size(), 2);
  EXPECT_EQ(spec.depends_on(0), kParent1);
  EXPECT_EQ(spec.depends_on(1), kParent2);
  EXPECT_EQ(MustParse({{"type", "echo"}, {"depends_on", json::array()}}).depends_on_size(), 0);

  EXPECT_EQ(
      MustFail({{"type", "echo"}, {"depends_on", {kParent1, kParent1}}}),
      (FieldError{"invalid_field", "lists job " + kParent1 + " more than once", "depends_on"}));
  EXPECT_EQ(MustFail({{"type", "echo"}, {"depends_on", {"extract"}}}).field, "depends_on");
  EXPECT_EQ(MustFail({{"type", "echo"}, {"depends_on", kParent1}}).field, "depends_on");
  json many = json::array();
  for (int i = 0; i < 1001; ++i) many.push_back(RandomId());
  EXPECT_EQ(MustFail({{"type", "echo"}, {"depends_on", many}}).message,
            "must list at most 1000 jobs, got 1001");
  // A recurring job would wait only once: refused.
  FieldError e =
      MustFail({{"type", "echo"}, {"schedule", "@every 10s"}, {"depends_on", {kParent1}}});
  EXPECT_EQ(e.code, "invalid_field");
  EXPECT_EQ(e.field, "depends_on");
}

json Trigger() {
  return {{"type", "workflow"},
          {"schedule", "0 2 * * *"},
          {"workflow", Workflow({Job("extract"), Job("load", {"extract"})})}};
}

TEST(ParseJobSpec, AWorkflowTriggerCarriesItsValidatedWorkflow) {
  v1::JobSpec spec = MustParse(Trigger());
  EXPECT_EQ(spec.type(), v1::JOB_TYPE_WORKFLOW);
  EXPECT_EQ(spec.name(), "workflow etl");
  EXPECT_TRUE(spec.has_schedule());
  ASSERT_EQ(spec.workflow().jobs_size(), 2);
  EXPECT_EQ(spec.workflow().jobs(1).depends_on(0), "extract");

  // Validated exactly as POST /workflows, under "workflow.".
  json cyclic = Trigger();
  cyclic["workflow"]["jobs"][0]["depends_on"] = {"load"};
  EXPECT_EQ(MustFail(cyclic),
            (FieldError{"invalid_workflow", "cycle: extract -> load -> extract", "workflow.jobs"}));
  json bad_job = Trigger();
  bad_job["workflow"]["jobs"][1]["priority"] = 11;
  EXPECT_EQ(MustFail(bad_job).field, "workflow.jobs[1].priority");
  json missing = Trigger();
  missing.erase("workflow");
  EXPECT_EQ(MustFail(missing).code, "missing_field");
  EXPECT_EQ(MustFail(missing).field, "workflow");
  json on_echo = Trigger();
  on_echo["type"] = "echo";
  EXPECT_EQ(MustFail(on_echo).field, "workflow");
  json payload = Trigger();
  payload["payload"] = {{"x", 1}};
  EXPECT_EQ(MustFail(payload).field, "payload");
}

TEST(RenderJob, ShowsDependenciesWorkflowMembershipAndATriggersOutline) {
  v1::JobState state;
  events::Envelope sub = events::MakeEnvelope(ids::EventId("JobSubmitted", kParent2, ""), kParent2,
                                              {"api", kNow, "", ""});
  v1::JobSpec spec = MustParse({{"type", "echo"}, {"depends_on", {kParent1}}});
  spec.set_workflow_id("wf-1");
  spec.set_workflow_key("load");
  *sub.mutable_job_submitted()->mutable_spec() = spec;
  ASSERT_TRUE(events::Apply(state, sub).applied());
  json view = RenderJob(state);
  EXPECT_EQ(view["depends_on"], json({kParent1}));
  EXPECT_EQ(view["workflow_id"], "wf-1");
  EXPECT_EQ(view["workflow_key"], "load");
  EXPECT_FALSE(view.contains("workflow"));

  v1::JobState trigger;
  *trigger.mutable_spec() = MustParse(Trigger());
  json t = RenderJob(trigger);
  EXPECT_EQ(t["type"], "workflow");
  EXPECT_EQ(t["workflow"], (json{{"name", "etl"}, {"jobs", 2}}));
  EXPECT_EQ(t["depends_on"], json::array());
  EXPECT_EQ(t["workflow_id"], nullptr);
}

TEST(ParseJobUpdate, ATriggerRevalidatesItsWorkflowAndKeepsIt) {
  v1::JobSpec current = MustParse(Trigger());
  auto update = ParseJobUpdate({{"schedule", "0 3 * * *"}}, current, kNow);
  ASSERT_TRUE(std::holds_alternative<JobUpdate>(update))
      << std::get<FieldError>(update).field << ": " << std::get<FieldError>(update).message;
  const JobUpdate& u = std::get<JobUpdate>(update);
  EXPECT_EQ(u.spec.schedule().cron(), "0 3 * * *");
  EXPECT_EQ(u.spec.workflow().SerializeAsString(), current.workflow().SerializeAsString());
  auto refused = ParseJobUpdate({{"workflow", Workflow({Job("x")})}}, current, kNow);
  ASSERT_TRUE(std::holds_alternative<FieldError>(refused));
  EXPECT_EQ(std::get<FieldError>(refused).field, "workflow");
  refused = ParseJobUpdate({{"depends_on", {kParent1}}}, current, kNow);
  ASSERT_TRUE(std::holds_alternative<FieldError>(refused));
  EXPECT_EQ(std::get<FieldError>(refused).code, "invalid_field");
}

// --- depends_on: the parents' check -----------------------------------------

ParentInfo Parent(const std::string& id, const std::string& status) {
  ParentInfo p;
  p.job_id = id;
  p.status = status;
  return p;
}

v1::JobSpec WithParents(std::vector<std::string> ids) {
  v1::JobSpec spec;
  for (const std::string& id : ids) spec.add_depends_on(id);
  return spec;
}

TEST(ResolveParents, RecordsParentsThatEndedAndLeavesTheOthersPending) {
  const std::string dead = RandomId(), ok = RandomId(), running = RandomId(), canceled = RandomId(),
                    blocked = RandomId(), deleted = RandomId();
  auto r = ResolveParents(
      WithParents({dead, ok, running, canceled, blocked, deleted}),
      {Parent(ok, "SUCCEEDED"), Parent(dead, "DEAD"), Parent(running, "RUNNING"),
       Parent(canceled, "CANCELED"), Parent(blocked, "BLOCKED"), Parent(deleted, "DELETED")});
  ASSERT_TRUE(std::holds_alternative<std::vector<v1::ParentStatus>>(r));
  const auto& parents = std::get<std::vector<v1::ParentStatus>>(r);
  ASSERT_EQ(parents.size(), 5u);
  EXPECT_EQ(parents[0].job_id(), dead);
  EXPECT_EQ(parents[0].status(), v1::DEPENDENCY_STATUS_FAILED);
  EXPECT_EQ(parents[0].reason(), "parent " + dead + " is DEAD");
  EXPECT_EQ(parents[1].job_id(), ok);
  EXPECT_EQ(parents[1].status(), v1::DEPENDENCY_STATUS_SATISFIED);
  EXPECT_EQ(parents[1].reason(), "");
  EXPECT_EQ(parents[2].reason(), "parent " + canceled + " is CANCELED");
  EXPECT_EQ(parents[3].reason(), "parent " + blocked + " is BLOCKED");
  EXPECT_EQ(parents[4].reason(), "parent " + deleted + " is DELETED");
}

TEST(ResolveParents, UnknownRecurringAndFullParentsAre400sNamingEveryOne) {
  const std::string known = RandomId(), gone1 = RandomId(), gone2 = RandomId();
  auto r = ResolveParents(WithParents({gone1, known, gone2}), {Parent(known, "PENDING")});
  ASSERT_TRUE(std::holds_alternative<ApiError>(r));
  ApiError e = std::get<ApiError>(r);
  EXPECT_EQ(e.code, "unknown_dependency");
  EXPECT_EQ(HttpStatusOf(e.code), 400);
  EXPECT_EQ(e.field, "depends_on");
  EXPECT_NE(e.message.find(gone1 + ", " + gone2), std::string::npos) << e.message;
  EXPECT_EQ(e.details["job_ids"], json({gone1, gone2}));

  ParentInfo workflow = Parent(known, "PENDING");
  workflow.workflow_run = true;
  e = std::get<ApiError>(ResolveParents(WithParents({known}), {workflow}));
  EXPECT_EQ(e.code, "unknown_dependency");
  EXPECT_NE(e.message.find("is a workflow"), std::string::npos) << e.message;

  ParentInfo recurring = Parent(known, "ACTIVE");
  recurring.recurring = true;
  e = std::get<ApiError>(ResolveParents(WithParents({known}), {recurring}));
  EXPECT_EQ(e.code, "invalid_dependency");
  EXPECT_NE(e.message.find("recurring"), std::string::npos);

  ParentInfo full = Parent(known, "RUNNING");
  full.dependents = 1000;
  e = std::get<ApiError>(ResolveParents(WithParents({known}), {full}));
  EXPECT_EQ(e.code, "invalid_dependency");
  EXPECT_NE(e.message.find("1000 dependents"), std::string::npos);
  full.dependents = 999;
  EXPECT_TRUE(std::holds_alternative<std::vector<v1::ParentStatus>>(
      ResolveParents(WithParents({known}), {full})));
}

// --- routes and plans ---------------------------------------------------------

TEST(PlanWorkflowSubmission, OneEventKeyedByTheWorkflowWithDeterministicIds) {
  events::Origin origin{"api/t", kNow, "req-1", ""};
  json body = Workflow({Job("extract"), Job("load", {"extract"})});
  auto planned = PlanWorkflowSubmission(body, std::string("nightly-1"), origin);
  ASSERT_TRUE(std::holds_alternative<PlannedWorkflow>(planned));
  const PlannedWorkflow& p = std::get<PlannedWorkflow>(planned);
  const std::string id = WorkflowIdForIdempotencyKey("nightly-1");
  EXPECT_NE(id, ids::JobIdForIdempotencyKey("nightly-1"));
  EXPECT_TRUE(p.keyed);
  EXPECT_EQ(p.event.job_id(), id);
  EXPECT_EQ(p.event.event_id(), ids::EventId("WorkflowSubmitted", id, "submit"));
  EXPECT_EQ(p.event.correlation_id(), "req-1");
  EXPECT_EQ(p.event.workflow_submitted().spec().jobs_size(), 2);
  EXPECT_EQ(p.location, "/api/v1/workflows/" + id);
  EXPECT_EQ(p.view["status"], "SUBMITTED");
  EXPECT_EQ(p.view["jobs"][1], (json{{"key", "load"},
                                     {"job_id", ids::WorkflowJobId(id, "load")},
                                     {"status", "PENDING"},
                                     {"depends_on", {"extract"}}}));
  EXPECT_EQ(p.view["edges"], (json{{{"parent", "extract"}, {"child", "load"}}}));
  EXPECT_EQ(p.view["submitted_at"], "2026-03-01T12:00:00.000Z");
  EXPECT_EQ(p.view["expanded_at"], nullptr);
  EXPECT_EQ(p.view["counts"]["total"], 2);
  EXPECT_EQ(p.view["counts"]["queued"], 2);

  auto unkeyed = PlanWorkflowSubmission(body, std::nullopt, origin);
  ASSERT_TRUE(std::holds_alternative<PlannedWorkflow>(unkeyed));
  EXPECT_FALSE(std::get<PlannedWorkflow>(unkeyed).keyed);
  EXPECT_NE(std::get<PlannedWorkflow>(unkeyed).event.job_id(), id);

  auto refused = PlanWorkflowSubmission(Workflow({Job("a", {"a"})}), std::nullopt, origin);
  ASSERT_TRUE(std::holds_alternative<ApiError>(refused));
  EXPECT_EQ(std::get<ApiError>(refused).code, "invalid_workflow");
}

TEST(MatchWorkflowRoute, RoutesMethodsIdsAndListParameters) {
  using Pistache::Http::Method;
  auto parts = [](std::vector<std::string_view> p) { return p; };
  EXPECT_FALSE(MatchWorkflowRoute(Method::Get, parts({"api", "v1", "jobs"}), {}).has_value());
  auto submit = MatchWorkflowRoute(Method::Post, parts({"api", "v1", "workflows"}), {});
  ASSERT_TRUE(submit && std::holds_alternative<WorkflowRequest>(*submit));
  EXPECT_EQ(std::get<WorkflowRequest>(*submit).action, WorkflowAction::kSubmit);
  auto put = MatchWorkflowRoute(Method::Put, parts({"api", "v1", "workflows"}), {});
  ASSERT_TRUE(put && std::holds_alternative<WorkflowMethodNotAllowed>(*put));
  const std::string id = "ABCDEF01-2345-4678-89AB-CDEF01234567";
  auto get = MatchWorkflowRoute(Method::Get, parts({"api", "v1", "workflows", id}), {});
  ASSERT_TRUE(get && std::holds_alternative<WorkflowRequest>(*get));
  EXPECT_EQ(std::get<WorkflowRequest>(*get).workflow_id, "abcdef01-2345-4678-89ab-cdef01234567");
  auto cancel =
      MatchWorkflowRoute(Method::Post, parts({"api", "v1", "workflows", id, "cancel"}), {});
  ASSERT_TRUE(cancel && std::holds_alternative<WorkflowRequest>(*cancel));
  EXPECT_EQ(std::get<WorkflowRequest>(*cancel).action, WorkflowAction::kCancel);
  auto bad = MatchWorkflowRoute(Method::Get, parts({"api", "v1", "workflows", "nope"}), {});
  ASSERT_TRUE(bad && std::holds_alternative<ApiError>(*bad));
  EXPECT_EQ(std::get<ApiError>(*bad).code, "invalid_workflow_id");
  auto list = MatchWorkflowRoute(Method::Get, parts({"api", "v1", "workflows"}),
                                 {{"limit", "7"}, {"trigger_job_id", id}});
  ASSERT_TRUE(list && std::holds_alternative<WorkflowRequest>(*list));
  EXPECT_EQ(std::get<WorkflowRequest>(*list).list.limit, 7);
  EXPECT_EQ(std::get<WorkflowRequest>(*list).list.trigger_job_id,
            "abcdef01-2345-4678-89ab-cdef01234567");
  for (const QueryParams& q : std::vector<QueryParams>{{{"limit", "101"}},
                                                       {{"cursor", "zzz"}},
                                                       {{"trigger_job_id", "x"}},
                                                       {{"status", "RUNNING"}}}) {
    auto r = MatchWorkflowRoute(Method::Get, parts({"api", "v1", "workflows"}), q);
    ASSERT_TRUE(r && std::holds_alternative<ApiError>(*r));
    EXPECT_EQ(std::get<ApiError>(*r).code, "invalid_parameter");
  }
  WorkflowCursor c{"2026-03-01T12:00:00.123456Z", id};
  EXPECT_EQ(DecodeWorkflowCursor(EncodeWorkflowCursor(c)), c);
  EXPECT_FALSE(DecodeWorkflowCursor(EncodeDeadLetterCursor({c.submitted_at, id})).has_value());
}

TEST(ParseCancelQuery, CascadeIsTrueOrFalse) {
  EXPECT_EQ(std::get<bool>(ParseCancelQuery({})), false);
  EXPECT_EQ(std::get<bool>(ParseCancelQuery({{"cascade", "true"}})), true);
  EXPECT_EQ(std::get<bool>(ParseCancelQuery({{"cascade", "false"}})), false);
  auto bad = ParseCancelQuery({{"cascade", "yes"}});
  ASSERT_TRUE(std::holds_alternative<ApiError>(bad));
  EXPECT_EQ(std::get<ApiError>(bad).field, "cascade");
  EXPECT_EQ(HttpStatusOf(std::get<ApiError>(bad).code), 400);
}

TEST(PlanCancels, DeterministicEventIdsPerJobAndCause) {
  events::Origin origin{"api/t", kNow, "req", ""};
  const std::string wf = RandomId(), a = RandomId(), b = RandomId();
  auto events = PlanWorkflowCancel(wf, {a, b}, origin);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].job_id(), a);
  EXPECT_EQ(events[0].event_id(), ids::EventId("CancelRequested", a, "workflow-cancel:" + wf));
  EXPECT_TRUE(events[1].has_cancel_requested());
  auto cascade = PlanCascadeCancel(a, {b}, origin);
  ASSERT_EQ(cascade.size(), 1u);
  EXPECT_EQ(cascade[0].job_id(), b);
  EXPECT_EQ(cascade[0].event_id(), ids::EventId("CancelRequested", b, "cascade:" + a));
}

// --- views ------------------------------------------------------------------

TEST(WorkflowStatus, FollowsFromTheJobs) {
  auto status = [](bool expanded, std::map<std::string, int64_t> by, int64_t total) {
    return WorkflowStatus(expanded, CountJobs(by, total));
  };
  EXPECT_EQ(status(false, {{"SUCCEEDED", 3}}, 3), "SUBMITTED");
  EXPECT_EQ(status(true, {{"SUCCEEDED", 2}}, 3), "RUNNING");  // one not projected: PENDING
  EXPECT_EQ(status(true, {{"SUCCEEDED", 2}, {"WAITING", 1}}, 3), "RUNNING");
  EXPECT_EQ(status(true, {{"DEAD", 1}, {"RUNNING", 1}, {"BLOCKED", 1}}, 3), "RUNNING");
  EXPECT_EQ(status(true, {{"SUCCEEDED", 3}}, 3), "SUCCEEDED");
  EXPECT_EQ(status(true, {{"SUCCEEDED", 1}, {"DEAD", 1}, {"BLOCKED", 1}}, 3), "FAILED");
  EXPECT_EQ(status(true, {{"CANCELED", 1}, {"DEAD", 1}}, 2), "FAILED");
  EXPECT_EQ(status(true, {{"CANCELED", 1}, {"BLOCKED", 2}}, 3), "CANCELED");
  EXPECT_EQ(status(true, {{"SUCCEEDED", 1}, {"BLOCKED", 1}}, 2), "FAILED");

  WorkflowCounts c = CountJobs({{"PENDING", 1},
                                {"SCHEDULED", 1},
                                {"QUEUED", 1},
                                {"RETRYING", 1},
                                {"RUNNING", 2},
                                {"WAITING", 3},
                                {"SUCCEEDED", 4},
                                {"DEAD", 5},
                                {"BLOCKED", 6},
                                {"CANCELED", 7},
                                {"DELETED", 1}},
                               40);
  EXPECT_EQ(RenderCounts(c), (json{{"total", 40},
                                   {"waiting", 3},
                                   {"queued", 4 + 8},
                                   {"running", 2},
                                   {"succeeded", 4},
                                   {"failed", 5},
                                   {"blocked", 6},
                                   {"canceled", 8}}));
}

TEST(RenderWorkflow, JobsEdgesAndStatusesFromTheRecord) {
  WorkflowRecord r;
  r.workflow_id = "wf";
  r.name = "etl";
  r.jobs = {{"extract", {}}, {"transform", {"extract"}}, {"load", {"transform", "extract"}}};
  r.submitted_at = kNow;
  r.expanded_at = kNow + std::chrono::seconds(1);
  json view =
      RenderWorkflow(r, {{"extract", "SUCCEEDED"}, {"transform", "DEAD"}, {"load", "BLOCKED"}});
  EXPECT_EQ(view["status"], "FAILED");
  EXPECT_EQ(view["jobs"][2]["status"], "BLOCKED");
  EXPECT_EQ(view["jobs"][2]["job_id"], ids::WorkflowJobId("wf", "load"));
  EXPECT_EQ(view["edges"], (json{{{"parent", "extract"}, {"child", "transform"}},
                                 {{"parent", "transform"}, {"child", "load"}},
                                 {{"parent", "extract"}, {"child", "load"}}}));
  EXPECT_EQ(view["expanded_at"], "2026-03-01T12:00:01.000Z");
  EXPECT_EQ(view["trigger_job_id"], nullptr);

  // The spec JSON exactly as the projector stores it (events::ToJson) gives the same jobs.
  v1::WorkflowSpec proto;
  proto.set_name("etl");
  proto.add_jobs()->set_key("extract");
  v1::WorkflowJob* transform = proto.add_jobs();
  transform->set_key("transform");
  transform->add_depends_on("extract");
  auto jobs = JobsFromSpecJson(json::parse(events::ToJson(proto)));
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[1].key, "transform");
  EXPECT_EQ(jobs[1].depends_on, std::vector<std::string>{"extract"});
}

}  // namespace
}  // namespace jobsched::api
