// Unit tests of projections/: Describe(), the pure helpers, the embedded
// migrations, and the Projector on MemoryEventLog + MemoryProjectionStore.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "events/fold.h"
#include "events/memory_event_log.h"
#include "projections/describe.h"
#include "projections/memory_projection_store.h"
#include "projections/migrations.h"
#include "projections/pg_internal.h"
#include "projections/projector.h"
#include "tests/support/wait.h"
#include "tests/unit/fold_test_util.h"
#include "tests/unit/workflow_events_util.h"

namespace jobsched::projections {
namespace {

using events::Envelope;
using google::protobuf::util::MessageDifferencer;
using events::FoldResult;
using events::Outcome;
using jobsched::testing::EventFactory;
using jobsched::testing::JobId;
using jobsched::testing::Lifecycle;
using jobsched::testing::T;
using jobsched::testing::WaitFor;
using jobsched::testing::WorkflowFactory;
using namespace std::chrono_literals;

constexpr char kTopic[] = "job-events";
constexpr int kPartitions = 4;


// ---------------------------------------------------------------------------
// Describe

TEST(DescribeTest, MessagesForEachEventType) {
  EventFactory f;
  std::vector<Envelope> life = Lifecycle(f);
  events::JobState state;
  std::vector<EventDescription> d;
  for (const Envelope& e : life) {
    FoldResult r = events::Apply(state, e);
    ASSERT_TRUE(r.applied()) << r.reason;
    d.push_back(Describe(e, r, &state));
  }
  const std::string run1 = f.RunId(1).substr(0, 8);
  const std::string run2 = f.RunId(2).substr(0, 8);
  EXPECT_EQ(d[0].message,
            "job submitted: http POST https://example.com/hook \"test job\", max_retries 2");
  EXPECT_EQ(d[0].level, "info");
  EXPECT_EQ(d[1].message, "run " + run1 + " attempt 1 due (scheduled for " +
                              FormatRfc3339(T(0)) + ")");
  EXPECT_EQ(d[2].message, "run " + run1 + " attempt 1 dispatched (lease epoch 1)");
  EXPECT_EQ(d[3].message, "run " + run1 + " attempt 1 started on executor exec-1");
  EXPECT_EQ(d[4].message, "run " + run1 + " attempt 1 failed: HTTP 500");
  EXPECT_EQ(d[4].level, "error");
  EXPECT_EQ(d[5].message, "retry 2 scheduled at " + FormatRfc3339(T(10)) + " (in 2000 ms)");
  EXPECT_EQ(d[9].message, "run " + run2 + " attempt 2 succeeded: HTTP 200 in 12 ms");
  EXPECT_EQ(d[10].message, "job succeeded (run " + run2 + ")");
  for (size_t i : {1, 2, 3, 5, 6, 7, 8, 9, 10}) EXPECT_EQ(d[i].level, "info") << i;

  Envelope timeout = f.Failed(T(20), "r", 1, v1::FAILURE_KIND_TIMED_OUT);
  timeout.mutable_run_failed()->set_duration_ms(3000);
  EXPECT_EQ(Describe(timeout, {}).message, "run r timed out after 3000 ms");
  Envelope error = f.Failed(T(20), "r", 1, v1::FAILURE_KIND_ERROR);
  error.mutable_run_failed()->set_http_status(0);
  error.mutable_run_failed()->set_error("connection refused");
  EXPECT_EQ(Describe(error, {}).message, "run r failed: connection refused");
  EXPECT_EQ(Describe(error, {}).level, "error");

  Envelope dead = f.Dead(T(30), "r");
  dead.mutable_job_dead()->set_attempts(3);
  dead.mutable_job_dead()->set_reason("retries exhausted");
  EXPECT_EQ(Describe(dead, {}).message, "job dead after 3 attempts: retries exhausted");
  EXPECT_EQ(Describe(dead, {}).level, "error");
  EXPECT_EQ(Describe(f.CancelRequested(T(1)), {}).message, "cancel requested: test");
  EXPECT_EQ(Describe(f.Canceled(T(1)), {}).message, "job canceled: test");

  Envelope echo = f.Submitted(T(0), T(60), 0);
  EXPECT_EQ(Describe(echo, {}).message,
            "job submitted: echo \"test job\", run at " + FormatRfc3339(T(60)) +
                ", max_retries 0");
}

TEST(DescribeTest, RejectedIsWarnWithTheFoldsReason) {
  EventFactory f;
  events::JobState state;
  Envelope started = f.Started(T(1), "some-run");
  FoldResult r = events::Apply(state, started);
  ASSERT_EQ(r.outcome, Outcome::kRejected);
  EventDescription d = Describe(started, r, &state);
  EXPECT_EQ(d.level, "warn");
  EXPECT_EQ(d.message, "rejected: " + r.reason);
  EventDescription dup =
      Describe(started, FoldResult{Outcome::kDuplicate, "event already applied"});
  EXPECT_EQ(dup.level, "info");
  EXPECT_EQ(dup.message, "duplicate: event already applied");
}

// Dependency and workflow events, described from the state after them.
TEST(DescribeTest, DependencyAndWorkflowEvents) {
  WorkflowFactory wf(JobId(30), "etl", {{"a", {}}, {"b", {}}, {"c", {"a", "b"}}});
  const std::string a = wf.JobIdOf("a").substr(0, 8), b = wf.JobIdOf("b").substr(0, 8);
  auto applied = [](events::JobState& state, const Envelope& e) {
    FoldResult r = events::Apply(state, e);
    EXPECT_TRUE(r.applied()) << events::EventType(e) << ": " << r.reason;
    return Describe(e, r, &state);
  };
  events::JobState run;
  EventDescription d = applied(run, wf.Submitted(T(0)));
  EXPECT_EQ(d.message, "workflow submitted: \"etl\", 3 jobs, 2 edges");
  EXPECT_EQ(applied(run, wf.Expanded(T(1))).message, "workflow expanded into 3 jobs");
  WorkflowFactory fired(JobId(31), "nightly", {{"only", {}}});
  EXPECT_EQ(Describe(fired.Submitted(T(0), JobId(32), JobId(33), "2027-01-15T02:00:00"), {})
                .message,
            "workflow submitted: \"nightly\", 1 jobs, 0 edges; started by job 00000000 run"
            " 00000000 (fire 2027-01-15T02:00:00)");

  events::JobState child;
  applied(child, wf.Expansion(T(1))[2]);
  d = applied(child, wf.Satisfied(T(2), "c", "a"));
  EXPECT_EQ(d.level, "info");
  EXPECT_EQ(d.message, "parent " + a + " succeeded; 1 of 2 parents satisfied, job WAITING");
  d = applied(child, wf.Failed(T(3), "c", "b", "DEAD", "retries exhausted"));
  EXPECT_EQ(d.level, "warn");
  EXPECT_EQ(d.message,
            "parent " + b + " failed (DEAD): retries exhausted; job BLOCKED (upstream failed)");
  d = applied(child, wf.Satisfied(T(4), "c", "b"));
  EXPECT_EQ(d.message, "parent " + b + " succeeded; every parent satisfied, job PENDING");

  events::JobState parent;
  applied(parent, wf.Expansion(T(1))[0]);
  EXPECT_EQ(applied(parent, wf.Notified(T(2), "a", v1::DEPENDENCY_STATUS_SATISFIED, {"c"}))
                .message,
            "1 dependent told SATISFIED");
  Envelope registered = wf.Job("a").Base("DependencyRegistered", JobId(34), T(3));
  registered.mutable_dependency_registered()->set_child_id(JobId(34));
  EXPECT_EQ(applied(parent, registered).message,
            "dependent 00000000 registered: it waits for this job");
  Envelope parents = wf.Job("c").Base("DependenciesRegistered", "", T(3));
  parents.mutable_dependencies_registered()->add_parent_ids(wf.JobIdOf("a"));
  parents.mutable_dependencies_registered()->add_parent_ids(wf.JobIdOf("b"));
  EXPECT_EQ(Describe(parents, {}).message, "registered with 2 parents");
  Envelope started = wf.Job("a").Base("WorkflowStarted", "r", T(3));
  started.mutable_workflow_started()->set_run_id(JobId(35));
  started.mutable_workflow_started()->set_workflow_id(wf.id());
  EXPECT_EQ(Describe(started, {}).message, "run 00000000 started workflow run 00000000");
  EXPECT_EQ(JobTypeName(v1::JOB_TYPE_WORKFLOW), "workflow");
}

// ---------------------------------------------------------------------------
// Pure helpers and the embedded migrations

TEST(PgInternalTest, TimestampAndByteaText) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(1'800'000'000);
  ts.set_nanos(123'456'789);
  EXPECT_EQ(internal::TimestampText(ts), "2027-01-15 08:00:00.123456+00");
  ts.set_seconds(-1);
  ts.set_nanos(0);
  EXPECT_EQ(internal::TimestampText(ts), "1969-12-31 23:59:59.000000+00");
  ts.set_seconds(int64_t{1} << 50);  // absurd: clamped, never an SQL error
  EXPECT_EQ(internal::TimestampText(ts), "9999-12-31 23:59:59.000000+00");
  EXPECT_EQ(internal::ByteaText(std::string("\x00\xff\x10", 3)), "\\x00ff10");
}

TEST(PgInternalTest, TextAndJsonWithoutNul) {
  EXPECT_EQ(internal::PgText(std::string("a\0b", 3)), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(internal::PgJson(R"({"a":"x\u0000y"})"), R"({"a":"x\ufffdy"})");
  EXPECT_EQ(internal::PgJson(R"({"a":"x\\u0000y"})"), R"({"a":"x\\u0000y"})");
}

TEST(MigrationsTest, EmbeddedInVersionOrder) {
  auto m = EmbeddedMigrations();
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_FALSE(m->empty());
  EXPECT_EQ(m->front().version, 1);
  EXPECT_EQ(m->front().name, "001_initial.sql");
  EXPECT_NE(m->front().sql.find("CREATE TABLE jobs"), std::string_view::npos);
  for (size_t i = 1; i < m->size(); ++i) EXPECT_LT((*m)[i - 1].version, (*m)[i].version);
}

TEST(MigrationsTest, DescribeDatabaseUrlHidesThePassword) {
  EXPECT_EQ(DescribeDatabaseUrl("postgresql://bob:secret@db.example:6543/jobsched"),
            "bob@db.example:6543/jobsched");
  EXPECT_EQ(DescribeDatabaseUrl("host=h port=1 dbname=d user=u password=secret"), "u@h:1/d");
  EXPECT_EQ(DescribeDatabaseUrl("postgresql://%zz"), "(unparseable DATABASE_URL)");
}

// ---------------------------------------------------------------------------
// The Projector

class ProjectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(log_.CreateTopic(kTopic, kPartitions).ok());
    auto producer = log_.NewProducer("test");
    ASSERT_TRUE(producer.ok());
    producer_ = std::move(producer).value();
  }
  void TearDown() override {
    if (projector_ != nullptr) projector_->Stop();
  }

  ProjectorOptions Options() {
    ProjectorOptions o;
    o.topic = kTopic;
    o.retry_backoff_initial = 5ms;
    o.retry_backoff_max = 20ms;
    o.progress_log_interval = 0ms;
    return o;
  }

  void StartProjector(ProjectorOptions options) {
    projector_ = std::make_unique<Projector>(log_, store_, std::move(options));
    ASSERT_TRUE(projector_->Start().ok());
  }
  void StartProjector() { StartProjector(Options()); }

  void Append(const std::vector<Envelope>& events) {
    std::vector<events::Record> records;
    for (const Envelope& e : events) {
      events::Record r;
      r.topic = kTopic;
      r.key = e.job_id();
      r.value = events::Encode(e);
      records.push_back(std::move(r));
    }
    AppendRecords(std::move(records));
  }
  void AppendRecords(std::vector<events::Record> records) {
    ASSERT_TRUE(producer_->Append(std::move(records)).ok());
  }

  // Waits until the store's offsets reach every partition's high watermark.
  bool CaughtUp() {
    return WaitFor(
        [&] {
          for (int p = 0; p < kPartitions; ++p) {
            auto w = log_.GetWatermarks({kTopic, p});
            if (!w.ok()) return false;
            int64_t stored = store_.OffsetOf("jobs", kTopic, p);
            if (w->high > 0 && stored != w->high) return false;
          }
          return true;
        },
        20s);
  }

  events::MemoryEventLog log_;
  std::unique_ptr<events::Producer> producer_;
  MemoryProjectionStore store_;
  std::unique_ptr<Projector> projector_;
};

TEST_F(ProjectorTest, ProjectsAJobsLifecycle) {
  EventFactory f(JobId(1));
  std::vector<Envelope> life = Lifecycle(f);
  StartProjector();
  Append(life);
  ASSERT_TRUE(CaughtUp());

  auto jobs = store_.Jobs();
  ASSERT_EQ(jobs.count(f.job_id()), 1u);
  const events::JobState& s = jobs[f.job_id()];
  EXPECT_EQ(s.status(), v1::JOB_STATUS_SUCCEEDED);
  EXPECT_EQ(s.version(), 11);
  EXPECT_TRUE(MessageDifferencer::Equals(s, events::FoldAll(life)));

  auto runs = store_.Executions();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[f.RunId(1)].run.status(), v1::RUN_STATUS_FAILED);
  EXPECT_EQ(runs[f.RunId(2)].run.status(), v1::RUN_STATUS_SUCCEEDED);
  EXPECT_EQ(runs[f.RunId(2)].job_id, f.job_id());

  auto logs = store_.Logs();
  ASSERT_EQ(logs.size(), life.size());
  for (size_t i = 0; i < logs.size(); ++i) {
    EXPECT_EQ(logs[i].event_id, life[i].event_id());
    EXPECT_EQ(logs[i].outcome, "applied");
    EXPECT_EQ(logs[i].offset, static_cast<int64_t>(i));
    EXPECT_EQ(logs[i].envelope, events::Encode(life[i]));
    EXPECT_EQ(logs[i].fields_json, events::ToJson(life[i]));
  }
  EXPECT_EQ(logs[4].level, "error");
  EXPECT_EQ(logs[4].event_type, "RunFailed");
  EXPECT_EQ(logs[4].run_id, f.RunId(1));
  EXPECT_NE(logs[4].message.find("failed: HTTP 500"), std::string::npos);
  EXPECT_EQ(projector_->stats().applied, life.size());
}

// job_logs has one row per record (keyed by position, infra/migrations): a
// redelivered event is a second row with outcome "duplicate"; re-projecting
// the same records adds no row.
TEST_F(ProjectorTest, DuplicateRecordChangesNothingAndEachRecordIsLoggedOnce) {
  EventFactory f(JobId(2));
  std::vector<Envelope> life = Lifecycle(f);
  std::vector<Envelope> with_dup(life.begin(), life.begin() + 3);
  with_dup.push_back(life[1]);  // RunDue redelivered (same event id)
  StartProjector();
  Append(with_dup);
  ASSERT_TRUE(CaughtUp());
  // And once more in a later batch, after the state went through the store.
  Append({life[1]});
  ASSERT_TRUE(CaughtUp());

  auto s = store_.Jobs()[f.job_id()];
  EXPECT_EQ(s.version(), 3);
  EXPECT_TRUE(MessageDifferencer::Equals(
      s, events::FoldAll(std::vector<Envelope>(life.begin(), life.begin() + 3))));
  auto logs = store_.Logs();
  ASSERT_EQ(logs.size(), 5u);
  std::vector<std::string> due_outcomes;
  for (const JobLogRow& l : logs) {
    if (l.event_id == life[1].event_id()) due_outcomes.push_back(l.outcome);
  }
  EXPECT_EQ(due_outcomes, (std::vector<std::string>{"applied", "duplicate", "duplicate"}));
  EXPECT_EQ(logs[3].message, "duplicate: the job's only fire was made");
  EXPECT_EQ(logs[3].level, "info");
  EXPECT_EQ(projector_->stats().duplicates, 2u);

  // Projecting the same records again (replay from 0) adds no row.
  projector_->Stop();
  store_.ClearOffsets();
  StartProjector();
  ASSERT_TRUE(CaughtUp());
  EXPECT_EQ(store_.Logs().size(), 5u);
  EXPECT_EQ(store_.Jobs()[f.job_id()].version(), 3);
}

TEST_F(ProjectorTest, UndecodableRecordIsArchivedNotFoldedAndItsOffsetAdvances) {
  EventFactory f(JobId(3));
  std::vector<Envelope> life = Lifecycle(f);
  StartProjector();
  Append({life[0], life[1]});
  events::Record garbage;
  garbage.topic = kTopic;
  garbage.key = f.job_id();  // same partition as the job
  garbage.value = "\xff\xff not protobuf";
  events::Record no_uuid;
  no_uuid.topic = kTopic;
  no_uuid.key = f.job_id();
  Envelope bad = life[2];
  bad.set_job_id("not-a-uuid");
  no_uuid.value = events::Encode(bad);
  AppendRecords({garbage, no_uuid});
  Append({life[2]});
  ASSERT_TRUE(CaughtUp());

  EXPECT_EQ(store_.Jobs()[f.job_id()].version(), 3);
  EXPECT_EQ(store_.Logs().size(), 3u);
  ProjectorStats st = projector_->stats();
  EXPECT_EQ(st.undecodable, 2u);
  EXPECT_EQ(st.records, 5u);
  // Kept as they were, with why they are no event.
  std::vector<UndecodableRow> kept = store_.Undecodable();
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].value, garbage.value);
  EXPECT_EQ(kept[0].key, f.job_id());
  EXPECT_EQ(kept[0].offset + 1, kept[1].offset);
  EXPECT_EQ(kept[1].value, no_uuid.value);
  EXPECT_EQ(kept[1].error, "event_id or job_id is not a UUID");
}

TEST_F(ProjectorTest, RejectedEventIsLoggedAsWarn) {
  EventFactory f(JobId(4));
  std::vector<Envelope> life = Lifecycle(f);
  StartProjector();
  Append({life[0], life[3]});  // RunStarted before any run is due
  ASSERT_TRUE(CaughtUp());
  auto logs = store_.Logs();
  ASSERT_EQ(logs.size(), 2u);
  EXPECT_EQ(logs[1].outcome, "rejected");
  EXPECT_EQ(logs[1].level, "warn");
  EXPECT_EQ(logs[1].message.rfind("rejected: ", 0), 0u);
  EXPECT_EQ(store_.Jobs()[f.job_id()].version(), 1);
  EXPECT_EQ(projector_->stats().rejected, 1u);
}

TEST_F(ProjectorTest, ManyJobsAcrossPartitionsMatchTheFold) {
  std::map<std::string, std::vector<Envelope>> expected;
  std::vector<Envelope> all;
  for (int j = 0; j < 200; ++j) {
    EventFactory f(JobId(1000 + j));
    expected[f.job_id()] = Lifecycle(f, j);
  }
  // Interleave the jobs' events, as on a real topic.
  for (size_t i = 0; i < 11; ++i) {
    for (auto& [id, events] : expected) all.push_back(events[i]);
  }
  ProjectorOptions o = Options();
  o.max_batch_records = 97;  // batches cut through jobs' histories
  o.state_cache_jobs = 50;   // and the cache evicts
  StartProjector(o);
  Append(all);
  ASSERT_TRUE(CaughtUp());
  auto jobs = store_.Jobs();
  ASSERT_EQ(jobs.size(), expected.size());
  for (auto& [id, events] : expected) {
    EXPECT_TRUE(MessageDifferencer::Equals(jobs[id], events::FoldAll(events))) << id;
  }
  EXPECT_EQ(store_.Executions().size(), 2 * expected.size());
  EXPECT_EQ(store_.Logs().size(), all.size());
}

TEST_F(ProjectorTest, RetriesAFailingStoreWithoutLosingOrRepeating) {
  EventFactory f(JobId(5));
  std::vector<Envelope> life = Lifecycle(f);
  StartProjector();
  Append({life[0]});
  ASSERT_TRUE(CaughtUp());
  store_.FailNextCalls(5, Status::Unavailable("PostgreSQL is down (simulated)"));
  Append(std::vector<Envelope>(life.begin() + 1, life.end()));
  ASSERT_TRUE(CaughtUp());
  EXPECT_TRUE(MessageDifferencer::Equals(store_.Jobs()[f.job_id()], events::FoldAll(life)));
  EXPECT_EQ(store_.Logs().size(), life.size());
  EXPECT_GE(projector_->stats().write_failures, 1u);
}

TEST_F(ProjectorTest, LostCommitAcknowledgementIsNotAppliedTwice) {
  EventFactory f(JobId(6));
  std::vector<Envelope> life = Lifecycle(f);
  StartProjector();
  Append({life[0], life[1]});
  ASSERT_TRUE(CaughtUp());
  int64_t writes = store_.successful_writes();
  store_.LoseNextCommitAck();
  Append({life[2]});
  ASSERT_TRUE(CaughtUp());
  Append(std::vector<Envelope>(life.begin() + 3, life.end()));
  ASSERT_TRUE(CaughtUp());
  EXPECT_TRUE(MessageDifferencer::Equals(store_.Jobs()[f.job_id()], events::FoldAll(life)));
  EXPECT_EQ(store_.Logs().size(), life.size());
  EXPECT_GT(store_.successful_writes(), writes);
  EXPECT_EQ(projector_->stats().consumer_restarts, 0u);  // resolved from the stored offsets
}

TEST_F(ProjectorTest, RestartResumesFromStoredOffsetsAndReplayChangesNothing) {
  EventFactory f(JobId(7));
  std::vector<Envelope> life = Lifecycle(f);
  StartProjector();
  Append(std::vector<Envelope>(life.begin(), life.begin() + 5));
  ASSERT_TRUE(CaughtUp());
  projector_->Stop();
  auto offsets = store_.Offsets();

  // A new projector only sees the new events.
  Append(std::vector<Envelope>(life.begin() + 5, life.end()));
  StartProjector();
  ASSERT_TRUE(CaughtUp());
  EXPECT_EQ(projector_->stats().records, life.size() - 5);
  EXPECT_TRUE(MessageDifferencer::Equals(store_.Jobs()[f.job_id()], events::FoldAll(life)));
  projector_->Stop();

  // Replay from offset 0 over the existing rows: all duplicates, same rows.
  auto jobs = store_.Jobs();
  auto logs = store_.Logs();
  store_.ClearOffsets();
  StartProjector();
  ASSERT_TRUE(CaughtUp());
  EXPECT_EQ(projector_->stats().duplicates, life.size());
  auto jobs_after = store_.Jobs();
  ASSERT_EQ(jobs_after.size(), jobs.size());
  EXPECT_TRUE(MessageDifferencer::Equals(jobs_after[f.job_id()], jobs[f.job_id()]));
  EXPECT_EQ(store_.Logs().size(), logs.size());
}

TEST_F(ProjectorTest, StopWhileTheStoreIsDownWritesNothingHalfway) {
  EventFactory f(JobId(8));
  std::vector<Envelope> life = Lifecycle(f);
  StartProjector();
  Append({life[0]});
  ASSERT_TRUE(CaughtUp());
  store_.FailNextCalls(1'000'000, Status::Unavailable("down"));
  Append({life[1]});
  ASSERT_TRUE(WaitFor([&] { return projector_->stats().write_failures > 0; }, 10s));
  projector_->Stop();  // returns although the store never recovers
  store_.FailNextCalls(0, Status::Ok());
  EXPECT_EQ(store_.Jobs()[f.job_id()].version(), 1);
  EXPECT_EQ(store_.Logs().size(), 1u);
  // The unwritten event is projected by the next projector.
  StartProjector();
  ASSERT_TRUE(CaughtUp());
  EXPECT_EQ(store_.Jobs()[f.job_id()].version(), 2);
}

// A workflow run is stored as a workflow (never a job, read back for
// later batches), its jobs' edges follow the child's view of each parent.
TEST_F(ProjectorTest, WorkflowRunsAndDependencies) {
  WorkflowFactory wf(JobId(40), "etl", {{"a", {}}, {"b", {"a"}}, {"c", {"a", "b"}}});
  std::vector<Envelope> events = {wf.Submitted(T(0), JobId(41), JobId(42), "02:00")};
  for (const Envelope& e : wf.Expansion(T(1))) events.push_back(e);
  events.push_back(wf.Satisfied(T(2), "b", "a"));
  events.push_back(wf.Satisfied(T(2), "c", "a"));
  events.push_back(wf.Failed(T(3), "c", "b", "CANCELED", "canceled by the user"));
  StartProjector();
  Append(events);
  ASSERT_TRUE(CaughtUp());
  projector_->Stop();

  auto jobs = store_.Jobs();
  EXPECT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs.count(wf.id()), 0u);
  EXPECT_EQ(jobs[wf.JobIdOf("b")].status(), v1::JOB_STATUS_PENDING);
  EXPECT_EQ(jobs[wf.JobIdOf("c")].status(), v1::JOB_STATUS_BLOCKED);
  auto workflows = store_.Workflows();
  ASSERT_EQ(workflows.count(wf.id()), 1u);
  EXPECT_TRUE(workflows[wf.id()].state.workflow_run());
  EXPECT_EQ(workflows[wf.id()].trigger_job_id, JobId(41));
  EXPECT_FALSE(IsSet(workflows[wf.id()].expanded_at));
  auto edges = store_.Dependencies();
  ASSERT_EQ(edges.size(), 3u);
  const DependencyRow& bc = edges[{wf.JobIdOf("b"), wf.JobIdOf("c")}];
  EXPECT_EQ(bc.status, "FAILED");
  EXPECT_EQ(bc.reason, "canceled by the user");
  EXPECT_EQ(bc.workflow_id, wf.id());
  EXPECT_EQ(FromProto(bc.created_at), T(1));
  EXPECT_EQ(FromProto(bc.updated_at), T(3));
  EXPECT_EQ((edges[{wf.JobIdOf("a"), wf.JobIdOf("b")}].status), "SATISFIED");
  EXPECT_EQ((edges[{wf.JobIdOf("a"), wf.JobIdOf("c")}].status), "SATISFIED");

  // A new projector (empty cache) reads the run's state back from the store:
  // its expansion applies, and the trigger written at submission stays.
  Append({wf.Expanded(T(4)), wf.Submitted(T(0), JobId(41), JobId(42), "02:00")});
  StartProjector();
  ASSERT_TRUE(CaughtUp());
  EXPECT_EQ(projector_->stats().applied, 1u);
  EXPECT_EQ(projector_->stats().duplicates, 1u);
  workflows = store_.Workflows();
  EXPECT_EQ(workflows[wf.id()].state.status(), v1::JOB_STATUS_COMPLETED);
  EXPECT_EQ(FromProto(workflows[wf.id()].expanded_at), T(4));
  EXPECT_EQ(workflows[wf.id()].trigger_run_id, JobId(42));
  EXPECT_EQ(store_.Jobs().count(wf.id()), 0u);
  EXPECT_EQ(store_.Logs().back().job_id, wf.id());
  EXPECT_EQ(store_.Logs().back().outcome, "duplicate");
}

// Two projectors in one group: the second joins mid-stream (rebalance), the
// first leaves (rebalance again). Fencing and drain-before-revoke keep every
// job's row equal to the fold of its events.
TEST_F(ProjectorTest, TwoProjectorsInOneGroupShareThePartitions) {
  std::map<std::string, std::vector<Envelope>> expected;
  for (int j = 0; j < 60; ++j) {
    EventFactory f(JobId(2000 + j));
    expected[f.job_id()] = Lifecycle(f, j);
  }
  auto append_step = [&](size_t i) {
    std::vector<Envelope> step;
    for (auto& [id, events] : expected) step.push_back(events[i]);
    Append(step);
  };
  ProjectorOptions o = Options();
  o.max_batch_records = 25;
  StartProjector(o);
  for (size_t i = 0; i < 4; ++i) append_step(i);
  auto second = std::make_unique<Projector>(log_, store_, o);
  ASSERT_TRUE(second->Start().ok());
  for (size_t i = 4; i < 8; ++i) append_step(i);
  ASSERT_TRUE(CaughtUp());
  projector_->Stop();  // its partitions move to the second projector
  for (size_t i = 8; i < 11; ++i) append_step(i);
  ASSERT_TRUE(CaughtUp());
  second->Stop();

  auto jobs = store_.Jobs();
  ASSERT_EQ(jobs.size(), expected.size());
  for (auto& [id, events] : expected) {
    EXPECT_TRUE(MessageDifferencer::Equals(jobs[id], events::FoldAll(events))) << id;
  }
  EXPECT_EQ(store_.Logs().size(), 11 * expected.size());
  EXPECT_EQ(projector_->stats().records + second->stats().records, 11 * expected.size());
}

// The projector's own cost per event (decode, fold, describe, rows), without
// a database: printed for comparison with projector_pg_test's Throughput.
TEST_F(ProjectorTest, ThroughputWithoutADatabase) {
  constexpr int kJobs = 4000;
  std::vector<std::vector<Envelope>> lives;
  for (int j = 0; j < kJobs; ++j) lives.push_back(Lifecycle(EventFactory(JobId(10000 + j)), j));
  std::vector<Envelope> all;
  for (size_t i = 0; i < 11; ++i) {
    for (const auto& life : lives) all.push_back(life[i]);
  }
  Append(all);
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  auto start = std::chrono::steady_clock::now();
  StartProjector();
  ASSERT_TRUE(CaughtUp());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  auto cpu = [](const rusage& u) {
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  };
  double cpu_secs = cpu(after) - cpu(before);
  std::printf("[ projector ] %zu events without a database: %.2f s wall, %.2f s CPU = %.0f events"
              " per CPU-second\n",
              all.size(), secs, cpu_secs, all.size() / cpu_secs);
  EXPECT_EQ(store_.Logs().size(), all.size());
}

}  // namespace
}  // namespace jobsched::projections
