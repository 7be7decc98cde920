// The fold of dependencies and workflow runs: what each event means for the
// child, the parent and the workflow run, and what it refuses.
#include <gtest/gtest.h>

#include "events/fold.h"
#include "fold_test_util.h"

namespace jobsched::testing {
namespace {

using events::Envelope;
using events::JobState;
using events::Outcome;

Envelope Ev(const std::string& type, const std::string& job, const std::string& cause,
            TimePoint at = T(0)) {
  return events::MakeEnvelope(ids::EventId(type, job, cause), job, {"test", at, "corr", ""});
}

Envelope Child(std::vector<std::string> parents, std::vector<v1::ParentStatus> known = {},
               std::optional<TimePoint> run_at = std::nullopt) {
  Envelope e = Ev("JobSubmitted", "child", "");
  auto* sub = e.mutable_job_submitted();
  sub->mutable_spec()->set_type(v1::JOB_TYPE_ECHO);
  for (auto& p : parents) sub->mutable_spec()->add_depends_on(p);
  for (auto& k : known) *sub->add_parents() = k;
  if (run_at) *sub->mutable_spec()->mutable_run_at() = ToProto(*run_at);
  return e;
}

v1::ParentStatus Known(const std::string& id, v1::DependencyStatus s) {
  v1::ParentStatus p;
  p.set_job_id(id);
  p.set_status(s);
  return p;
}

Envelope Satisfied(const std::string& parent, TimePoint at = T(1)) {
  Envelope e = Ev("DependencySatisfied", "child", parent, at);
  e.mutable_dependency_satisfied()->set_parent_id(parent);
  return e;
}

Envelope Failed(const std::string& parent) {
  Envelope e = Ev("DependencyFailed", "child", parent + ":failed", T(1));
  e.mutable_dependency_failed()->set_parent_id(parent);
  e.mutable_dependency_failed()->set_parent_status("DEAD");
  e.mutable_dependency_failed()->set_reason("parent " + parent + " is DEAD");
  return e;
}

TEST(FoldDependencies, AChildWaitsForEveryParentThenIsDue) {
  JobState s;
  ASSERT_TRUE(events::Apply(s, Child({"p1", "p2"})).applied());
  EXPECT_EQ(s.status(), v1::JOB_STATUS_WAITING);
  EXPECT_FALSE(IsSet(s.next_fire_at()));
  ASSERT_TRUE(events::Apply(s, Satisfied("p1")).applied());
  EXPECT_EQ(s.status(), v1::JOB_STATUS_WAITING);
  EXPECT_EQ(events::Apply(s, Satisfied("p1")).outcome, Outcome::kDuplicate);
  ASSERT_TRUE(events::Apply(s, Satisfied("p2", T(5))).applied());
  EXPECT_EQ(s.status(), v1::JOB_STATUS_PENDING);
  EXPECT_EQ(FromProto(s.next_fire_at()), T(5));
}

TEST(FoldDependencies, AReleasedChildWithRunAtAheadIsScheduled) {
  JobState s;
  ASSERT_TRUE(events::Apply(s, Child({"p"}, {}, T(100))).applied());
  ASSERT_TRUE(events::Apply(s, Satisfied("p")).applied());
  EXPECT_EQ(s.status(), v1::JOB_STATUS_SCHEDULED);
  EXPECT_EQ(FromProto(s.next_fire_at()), T(100));
}

TEST(FoldDependencies, AFailedParentBlocksUntilItSucceedsAfterARequeue) {
  JobState s;
  ASSERT_TRUE(events::Apply(s, Child({"p1", "p2"})).applied());
  ASSERT_TRUE(events::Apply(s, Failed("p1")).applied());
  EXPECT_EQ(s.status(), v1::JOB_STATUS_BLOCKED);
  ASSERT_TRUE(events::Apply(s, Satisfied("p2")).applied());
  EXPECT_EQ(s.status(), v1::JOB_STATUS_BLOCKED);  // p1 still failed
  EXPECT_EQ(events::DependentsOutcome(s), v1::DEPENDENCY_STATUS_FAILED);
  ASSERT_TRUE(events::Apply(s, Satisfied("p1")).applied());  // p1 requeued and succeeded
  EXPECT_EQ(s.status(), v1::JOB_STATUS_PENDING);
}

TEST(FoldDependencies, ParentsKnownAtSubmissionCount) {
  JobState blocked;
  ASSERT_TRUE(events::Apply(blocked, Child({"p1", "p2"},
                                           {Known("p1", v1::DEPENDENCY_STATUS_FAILED)}))
                  .applied());
  EXPECT_EQ(blocked.status(), v1::JOB_STATUS_BLOCKED);
  JobState free;
  ASSERT_TRUE(
      events::Apply(free, Child({"p1"}, {Known("p1", v1::DEPENDENCY_STATUS_SATISFIED)})).applied());
  EXPECT_EQ(free.status(), v1::JOB_STATUS_PENDING);
}

TEST(FoldDependencies, WordsFromStrangersAreRefused) {
  JobState s;
  ASSERT_TRUE(events::Apply(s, Child({"p1"})).applied());
  EXPECT_EQ(events::Apply(s, Satisfied("someone-else")).outcome, Outcome::kRejected);
  Envelope recurring = Child({"p1"});
  recurring.set_job_id("other");
  recurring.mutable_job_submitted()->mutable_spec()->mutable_schedule()->set_cron("* * * * * *");
  JobState r;
  EXPECT_EQ(events::Apply(r, recurring).outcome, Outcome::kRejected);
}

TEST(FoldDependencies, AParentKeepsItsDependentsAndWhatItToldThem) {
  JobState p = events::FoldAll(std::vector<Envelope>{EventFactory("parent").Submitted(T(0))});
  for (int i = 0; i < events::kMaxDependents; ++i) {
    Envelope r = Ev("DependencyRegistered", "parent", "c" + std::to_string(i));
    r.mutable_dependency_registered()->set_child_id("c" + std::to_string(i));
    ASSERT_TRUE(events::Apply(p, r).applied()) << i;
  }
  Envelope again = Ev("DependencyRegistered", "parent", "c0-again");
  again.mutable_dependency_registered()->set_child_id("c0");
  EXPECT_EQ(events::Apply(p, again).outcome, Outcome::kDuplicate);
  Envelope one_more = Ev("DependencyRegistered", "parent", "c-extra");
  one_more.mutable_dependency_registered()->set_child_id("c-extra");
  EXPECT_EQ(events::Apply(p, one_more).outcome, Outcome::kRejected);
  EXPECT_FALSE(events::HasUnnotifiedDependents(p));  // PENDING: nothing to tell yet
}

TEST(FoldDependencies, ARequeueResumesADeadJobFromTheStateItCarries) {
  EventFactory f("dead-job");
  JobState dead = events::FoldAll(std::vector<Envelope>{f.Submitted(T(0), std::nullopt, 0)});
  dead.set_status(v1::JOB_STATUS_DEAD);  // as the projection holds it
  v1::RunRecord* run = dead.add_runs();
  run->set_run_id(f.RunId(1));
  run->set_attempt(1);
  run->set_status(v1::RUN_STATUS_FAILED);
  dead.set_current_run_id(f.RunId(1));
  Envelope requeue = Ev("JobRequeued", "dead-job", "1", T(10));
  JobState evicted;
  EXPECT_EQ(events::Apply(evicted, requeue).outcome, Outcome::kRejected);  // nothing to resume
  requeue.mutable_job_requeued()->set_state(dead.SerializeAsString());
  ASSERT_TRUE(events::Apply(evicted, requeue).applied());
  EXPECT_EQ(evicted.status(), v1::JOB_STATUS_RETRYING);
  EXPECT_EQ(evicted.attempt_base(), 1);
}

TEST(FoldDependencies, AWorkflowRunIsExpandedOnce) {
  Envelope w = Ev("WorkflowSubmitted", "wf", "submit");
  w.mutable_workflow_submitted()->mutable_spec()->set_name("etl");
  JobState s;
  EXPECT_EQ(events::Apply(s, w).outcome, Outcome::kRejected);  // no jobs
  w.mutable_workflow_submitted()->mutable_spec()->add_jobs()->set_key("a");
  ASSERT_TRUE(events::Apply(s, w).applied());
  EXPECT_TRUE(s.workflow_run());
  EXPECT_EQ(s.status(), v1::JOB_STATUS_PENDING);
  EXPECT_EQ(events::Apply(s, w).outcome, Outcome::kDuplicate);
  Envelope x = Ev("WorkflowExpanded", "wf", "expanded");
  x.mutable_workflow_expanded()->set_jobs(1);
  ASSERT_TRUE(events::Apply(s, x).applied());
  EXPECT_EQ(s.status(), v1::JOB_STATUS_COMPLETED);
  Envelope x2 = Ev("WorkflowExpanded", "wf", "expanded-again");
  x2.mutable_workflow_expanded()->set_jobs(1);
  EXPECT_EQ(events::Apply(s, x2).outcome, Outcome::kDuplicate);
}

}  // namespace
}  // namespace jobsched::testing
