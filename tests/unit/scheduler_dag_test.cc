// Dependencies and workflows through the scheduler's core in simulated time:
// every decision is folded back at once, so these tests show what the
// decisions are, in what order, and that each fires once.
#include <gtest/gtest.h>

#include "events/fold.h"
#include "scheduler_sim.h"
#include "services/scheduler/decide.h"

namespace jobsched::testing {
namespace {

using events::Envelope;

TimePoint Start() { return FromUnixMillis(1'800'000'000'000); }

struct Node {
  std::string key;
  std::vector<std::string> depends_on;
  v1::JobType type = v1::JOB_TYPE_ECHO;
};

v1::WorkflowSpec Graph(const std::vector<Node>& nodes) {
  v1::WorkflowSpec w;
  w.set_name("test workflow");
  for (const Node& n : nodes) {
    v1::WorkflowJob* j = w.add_jobs();
    j->set_key(n.key);
    j->mutable_spec()->set_name(n.key);
    j->mutable_spec()->set_type(n.type);
    for (const auto& p : n.depends_on) j->add_depends_on(p);
  }
  return w;
}

Envelope SubmitWorkflow(const std::string& wid, const v1::WorkflowSpec& spec, TimePoint at) {
  Envelope e = events::MakeEnvelope(ids::EventId("WorkflowSubmitted", wid, "submit"), wid,
                                    {"api", at, wid, ""});
  *e.mutable_workflow_submitted()->mutable_spec() = spec;
  return e;
}

Envelope SubmitJob(const std::string& id, TimePoint at, std::vector<std::string> parents = {},
                   v1::JobType type = v1::JOB_TYPE_ECHO) {
  Envelope e = events::MakeEnvelope(ids::EventId("JobSubmitted", id, "submit"), id,
                                    {"api", at, "corr", ""});
  v1::JobSpec* spec = e.mutable_job_submitted()->mutable_spec();
  spec->set_name(id);
  spec->set_type(type);
  for (auto& p : parents) spec->add_depends_on(p);
  return e;
}

class DagTest : public ::testing::Test {
 protected:
  DagTest() : sim_(Start(), [] {
    SimulatedScheduler::Options o;
    o.run_duration = Millis(10);
    return o;
  }()) {}

  std::string Id(const std::string& key) const { return ids::WorkflowJobId(wid_, key); }
  v1::JobStatus StatusOf(const std::string& key) const {
    const events::JobState* s = sim_.Find(Id(key));
    return s ? s->status() : v1::JOB_STATUS_UNSPECIFIED;
  }
  TimePoint StartedAt(const std::string& job_id) const {
    auto due = sim_.EventsOf(job_id, "RunDue");
    EXPECT_EQ(due.size(), 1u) << job_id;
    return due.empty() ? TimePoint{} : FromProto(due[0].occurred_at());
  }
  int Count(const std::string& type) const {
    int n = 0;
    for (size_t i = 0; i < sim_.log().size(); ++i) {
      n += events::EventType(sim_.log()[i]) == type &&
           sim_.outcomes()[i] == events::Outcome::kApplied;
    }
    return n;
  }

  SimulatedScheduler sim_;
  std::string wid_ = "wf-1";
};

TEST_F(DagTest, DiamondRunsEachJobOnceAfterItsParents) {
  sim_.Append(SubmitWorkflow(wid_, Graph({{"a", {}}, {"b", {"a"}}, {"c", {"a"}},
                                          {"d", {"b", "c"}}}), sim_.now()));
  EXPECT_EQ(sim_.Find(wid_)->status(), v1::JOB_STATUS_COMPLETED);  // WorkflowExpanded
  EXPECT_EQ(StatusOf("d"), v1::JOB_STATUS_WAITING);
  sim_.Advance(Millis(1000));
  for (const char* k : {"a", "b", "c", "d"}) EXPECT_EQ(StatusOf(k), v1::JOB_STATUS_SUCCEEDED) << k;
  EXPECT_LT(StartedAt(Id("a")), StartedAt(Id("b")));
  EXPECT_LT(StartedAt(Id("b")), StartedAt(Id("d")));
  EXPECT_LT(StartedAt(Id("c")), StartedAt(Id("d")));
  EXPECT_EQ(Count("JobSubmitted"), 4);
  EXPECT_EQ(Count("DependencySatisfied"), 4);  // one per edge
  EXPECT_EQ(Count("RunDue"), 4);
}

TEST_F(DagTest, ChainOfAHundredRunsInOrder) {
  std::vector<Node> nodes;
  for (int i = 0; i < 100; ++i) {
    nodes.push_back({"n" + std::to_string(i), i ? std::vector<std::string>{
                                                      "n" + std::to_string(i - 1)}
                                                : std::vector<std::string>{}});
  }
  sim_.Append(SubmitWorkflow(wid_, Graph(nodes), sim_.now()));
  sim_.Advance(Millis(10'000));
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(StatusOf("n" + std::to_string(i)), v1::JOB_STATUS_SUCCEEDED) << i;
    if (i) EXPECT_LT(StartedAt(Id("n" + std::to_string(i - 1))), StartedAt(Id("n" + std::to_string(i))));
  }
}

TEST_F(DagTest, FanOutToAThousandAndBackIn) {
  std::vector<Node> nodes{{"root", {}}};
  std::vector<std::string> middle;
  for (int i = 0; i < 1000; ++i) {
    middle.push_back("m" + std::to_string(i));
    nodes.push_back({middle.back(), {"root"}});
  }
  nodes.push_back({"sink", middle});
  sim_.Append(SubmitWorkflow(wid_, Graph(nodes), sim_.now()));
  EXPECT_EQ(sim_.Find(Id("root"))->dependents_size(), 1000);
  EXPECT_EQ(sim_.Find(Id("sink"))->parents_size(), 1000);
  sim_.Advance(Millis(1000));
  EXPECT_EQ(StatusOf("sink"), v1::JOB_STATUS_SUCCEEDED);
  EXPECT_EQ(Count("RunDue"), 1002);
  TimePoint sink = StartedAt(Id("sink"));
  for (const auto& m : middle) EXPECT_LT(StartedAt(Id(m)), sink);
}

TEST_F(DagTest, AFailureBlocksExactlyItsDescendants) {
  // a -> b(fails) -> c -> d ; a -> e ; b and e -> f ; g alone
  sim_.Append(SubmitWorkflow(wid_, Graph({{"a", {}},
                                          {"b", {"a"}, v1::JOB_TYPE_FAIL},
                                          {"c", {"b"}},
                                          {"d", {"c"}},
                                          {"e", {"a"}},
                                          {"f", {"b", "e"}},
                                          {"g", {}}}),
                             sim_.now()));
  sim_.Advance(Millis(10'000));
  EXPECT_EQ(StatusOf("b"), v1::JOB_STATUS_DEAD);
  for (const char* k : {"c", "d", "f"}) EXPECT_EQ(StatusOf(k), v1::JOB_STATUS_BLOCKED) << k;
  for (const char* k : {"a", "e", "g"}) EXPECT_EQ(StatusOf(k), v1::JOB_STATUS_SUCCEEDED) << k;
  for (const char* k : {"c", "d", "f"}) EXPECT_TRUE(sim_.EventsOf(Id(k), "RunDue").empty()) << k;
  // d is blocked through c, and says which job failed first.
  auto failed = sim_.EventsOf(Id("d"), "DependencyFailed");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].dependency_failed().parent_status(), "BLOCKED");
  EXPECT_NE(failed[0].dependency_failed().reason().find(Id("b")), std::string::npos);
  // Every parent recorded that it told its children: nothing left to tell.
  for (const char* k : {"a", "b", "c", "e"}) {
    EXPECT_FALSE(events::HasUnnotifiedDependents(*sim_.Find(Id(k)))) << k;
  }
}

TEST_F(DagTest, RequeuingTheDeadParentThatThenSucceedsReleasesTheBlocked) {
  sim_.options().runs_succeed = false;  // a's endpoint is broken
  sim_.Append(SubmitWorkflow(wid_, Graph({{"a", {}}, {"b", {"a"}}, {"c", {"b"}}}), sim_.now()));
  sim_.Advance(Millis(10'000));
  ASSERT_EQ(StatusOf("a"), v1::JOB_STATUS_DEAD);
  ASSERT_EQ(StatusOf("c"), v1::JOB_STATUS_BLOCKED);
  sim_.options().runs_succeed = true;  // fixed; the dead letter is requeued
  Envelope requeue = events::MakeEnvelope(ids::EventId("JobRequeued", Id("a"), "1"), Id("a"),
                                          {"api", sim_.now(), "corr", ""});
  requeue.mutable_job_requeued()->set_reason("fixed");
  sim_.Append(requeue);
  sim_.Advance(Millis(10'000));
  for (const char* k : {"a", "b", "c"}) EXPECT_EQ(StatusOf(k), v1::JOB_STATUS_SUCCEEDED) << k;
}

TEST_F(DagTest, AChildOfExistingJobsRegistersAndWaits) {
  sim_.options().run_duration = Millis(1000);
  sim_.Append(SubmitJob("p1", sim_.now()));
  sim_.Append(SubmitJob("p2", sim_.now()));
  sim_.Append(SubmitJob("child", sim_.now(), {"p1", "p2"}));
  EXPECT_EQ(sim_.Find("child")->status(), v1::JOB_STATUS_WAITING);
  EXPECT_EQ(sim_.EventsOf("p1", "DependencyRegistered").size(), 1u);
  EXPECT_EQ(sim_.EventsOf("child", "DependenciesRegistered").size(), 1u);
  sim_.Advance(Millis(5000));
  EXPECT_EQ(sim_.Find("child")->status(), v1::JOB_STATUS_SUCCEEDED);
  EXPECT_GT(StartedAt("child"), FromProto(sim_.EventsOf("p2", "JobSucceeded")[0].occurred_at()) -
                                    Millis(1));
}

TEST_F(DagTest, RegisteringWithAParentThatAlreadyEndedIsAnsweredAtOnce) {
  sim_.Append(SubmitJob("p", sim_.now()));
  sim_.Advance(Millis(1000));
  ASSERT_EQ(sim_.Find("p")->status(), v1::JOB_STATUS_SUCCEEDED);
  sim_.Append(SubmitJob("late", sim_.now(), {"p"}));
  sim_.Advance(Millis(1000));
  EXPECT_EQ(sim_.Find("late")->status(), v1::JOB_STATUS_SUCCEEDED);
  EXPECT_EQ(sim_.EventsOf("p", "DependentsNotified").size(), 1u);
}

TEST_F(DagTest, CancelingAParentBlocksItsChildren) {
  sim_.options().run_duration = Millis(60'000);
  sim_.Append(SubmitWorkflow(wid_, Graph({{"a", {}}, {"b", {"a"}}}), sim_.now()));
  Envelope cancel = events::MakeEnvelope(ids::EventId("CancelRequested", Id("a"), "x"), Id("a"),
                                         {"api", sim_.now(), "corr", ""});
  cancel.mutable_cancel_requested()->set_reason("test");
  sim_.Append(cancel);
  EXPECT_EQ(StatusOf("a"), v1::JOB_STATUS_CANCELED);
  EXPECT_EQ(StatusOf("b"), v1::JOB_STATUS_BLOCKED);
  EXPECT_EQ(sim_.EventsOf(Id("b"), "DependencyFailed")[0].dependency_failed().parent_status(),
            "CANCELED");
}

TEST_F(DagTest, ACrashBetweenAParentsEndAndItsWordToTheChildrenLosesNothing) {
  sim_.Append(SubmitWorkflow(wid_, Graph({{"a", {}}, {"b", {"a"}}}), sim_.now()));
  sim_.Down();
  sim_.Advance(Millis(1000));  // a's run succeeds
  // The crashed scheduler's JobSucceeded landed; its DependencySatisfied did not.
  const std::string a = Id("a");
  Envelope ok = events::MakeEnvelope(
      ids::EventId("JobSucceeded", a, sim_.Find(a)->current_run_id()), a,
      {"scheduler/old", sim_.now(), "corr", ""});
  ok.mutable_job_succeeded()->set_run_id(sim_.Find(a)->current_run_id());
  sim_.Append(ok);
  ASSERT_EQ(StatusOf("a"), v1::JOB_STATUS_SUCCEEDED);
  ASSERT_TRUE(events::HasUnnotifiedDependents(*sim_.Find(a)));
  sim_.Up();
  sim_.Advance(Millis(1000));
  EXPECT_EQ(StatusOf("b"), v1::JOB_STATUS_SUCCEEDED);
  EXPECT_FALSE(events::HasUnnotifiedDependents(*sim_.Find(a)));
  EXPECT_EQ(Count("JobSubmitted"), 2);
  EXPECT_EQ(Count("RunDue"), 2);
}

TEST_F(DagTest, AnExpansionRepeatedAfterACrashMakesEachJobOnce) {
  // The crashed scheduler appended half of the jobs, and no WorkflowExpanded.
  const v1::WorkflowSpec spec = Graph({{"a", {}}, {"b", {"a"}}, {"c", {"a"}}, {"d", {"b"}}});
  sim_.Down();
  sim_.Append(SubmitWorkflow(wid_, spec, sim_.now()));
  // What the crashed scheduler decided: the same decision, and so the same events.
  scheduler::Decision crashed = scheduler::Decide(*sim_.Find(wid_), sim_.now(), "scheduler/old");
  ASSERT_EQ(crashed.others.size(), 4u);
  for (const Envelope& e : crashed.others) {
    const std::string& key = e.job_submitted().spec().workflow_key();
    if (key == "a" || key == "c") sim_.Append(e);
  }
  sim_.Up();  // decides the workflow again: the whole expansion, same ids
  sim_.Advance(Millis(1000));
  EXPECT_EQ(sim_.Find(wid_)->status(), v1::JOB_STATUS_COMPLETED);
  EXPECT_EQ(Count("JobSubmitted"), 4);  // a and c once each, though appended twice
  int repeated = 0;
  for (size_t i = 0; i < sim_.log().size(); ++i) {
    repeated += sim_.log()[i].has_job_submitted() &&
                sim_.outcomes()[i] == events::Outcome::kDuplicate;
  }
  EXPECT_EQ(repeated, 2);
  for (const char* k : {"a", "b", "c", "d"}) EXPECT_EQ(StatusOf(k), v1::JOB_STATUS_SUCCEEDED) << k;
  EXPECT_EQ(Count("RunDue"), 4);
}

TEST_F(DagTest, ARecurringTriggerStartsOneWorkflowRunPerFire) {
  Envelope e = SubmitJob("trigger", sim_.now(), {}, v1::JOB_TYPE_WORKFLOW);
  v1::JobSpec* spec = e.mutable_job_submitted()->mutable_spec();
  spec->mutable_schedule()->set_cron("*/10 * * * * *");
  spec->mutable_schedule()->set_concurrency_policy(v1::CONCURRENCY_POLICY_FORBID);
  *spec->mutable_workflow() = Graph({{"x", {}}, {"y", {"x"}}});
  sim_.Append(e);
  sim_.Advance(Millis(35'000));
  auto started = sim_.EventsOf("trigger", "WorkflowStarted");
  ASSERT_EQ(started.size(), 3u);  // fires at :10, :20, :30 (the sim starts at :00 + 0)
  std::set<std::string> runs;
  for (const auto& s : started) {
    const std::string& w = s.workflow_started().workflow_id();
    runs.insert(w);
    EXPECT_EQ(sim_.Find(ids::WorkflowJobId(w, "y"))->status(), v1::JOB_STATUS_SUCCEEDED);
  }
  EXPECT_EQ(runs.size(), 3u);
  EXPECT_EQ(sim_.Find("trigger")->summary().succeeded(), 3);
}

}  // namespace
}  // namespace jobsched::testing
