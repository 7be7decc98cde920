// Workflow projections on real PostgreSQL: a workflow run is a `workflows`
// row (never a `jobs` row), its jobs carry workflow_id / workflow_key and the
// WAITING / BLOCKED statuses, and every edge is a `job_dependencies` row
// that follows the child's view of its parent. Redelivery changes nothing; a
// rebuild that reads every state back from the tables (no cache, tiny
// batches) yields identical rows.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "events/fold.h"
#include "events/memory_event_log.h"
#include "projections/migrations.h"
#include "projections/pg_projection_store.h"
#include "projections/projector.h"
#include "tests/support/postgres.h"
#include "tests/support/wait.h"
#include "tests/unit/fold_test_util.h"
#include "tests/unit/workflow_events_util.h"

namespace jobsched::projections {
namespace {

using events::Envelope;
using jobsched::testing::JobId;
using jobsched::testing::ScopedPostgres;
using jobsched::testing::T;
using jobsched::testing::WaitFor;
using jobsched::testing::WorkflowFactory;
using namespace std::chrono_literals;

constexpr char kTopic[] = "job-events";
constexpr int kPartitions = 4;

std::vector<std::string> Rows(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction txn(c);
  std::vector<std::string> out;
  for (const auto& row : txn.exec(sql)) {
    out.push_back(row[0].is_null() ? "<null>" : row[0].as<std::string>());
  }
  return out;
}

std::string One(const std::string& url, const std::string& sql) {
  std::vector<std::string> rows = Rows(url, sql);
  return rows.empty() ? "<none>" : rows.front();
}

// Every row of the workflow tables and of jobs, whole, in key order.
std::vector<std::string> Snapshot(const std::string& url) {
  std::vector<std::string> out;
  for (const char* sql : {"SELECT t::text FROM workflows t ORDER BY workflow_id",
                          "SELECT t::text FROM job_dependencies t ORDER BY parent_id, child_id",
                          "SELECT t::text FROM jobs t ORDER BY job_id"}) {
    for (std::string& row : Rows(url, sql)) out.push_back(std::move(row));
  }
  return out;
}

class ProjectorWorkflowPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(log_.CreateTopic(kTopic, kPartitions).ok());
    auto producer = log_.NewProducer("test");
    ASSERT_TRUE(producer.ok());
    producer_ = std::move(producer).value();
  }

  std::string NewDatabase(const std::string& name) {
    std::string url = ScopedPostgres::Shared().CreateDatabase(name);
    Status s = ApplyMigrations(url);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return url;
  }

  void Append(const std::vector<Envelope>& events) {
    std::vector<events::Record> records;
    for (const Envelope& e : events) {
      records.push_back({.topic = kTopic, .key = e.job_id(), .value = events::Encode(e)});
    }
    ASSERT_TRUE(producer_->Append(std::move(records)).ok());
  }

  ProjectorOptions Options(const std::string& group) {
    ProjectorOptions o;
    o.topic = kTopic;
    o.group_id = group;
    o.retry_backoff_initial = 20ms;
    o.retry_backoff_max = 200ms;
    o.progress_log_interval = 0ms;
    return o;
  }

  // Waits until the stored offsets of `url` cover everything appended.
  bool CaughtUp(const std::string& url) {
    int64_t high = 0;
    for (int p = 0; p < kPartitions; ++p) high += log_.GetWatermarks({kTopic, p})->high;
    return WaitFor(
        [&] {
          return One(url, "SELECT coalesce(sum(next_offset), 0) FROM projection_offsets"
                          " WHERE projection = 'jobs'") == std::to_string(high);
        },
        30s, 20ms);
  }

  events::MemoryEventLog log_;
  std::unique_ptr<events::Producer> producer_;
};

TEST_F(ProjectorWorkflowPgTest, WorkflowsDependenciesAndJobsRows) {
  const std::string url = NewDatabase("proj_workflow");
  // Diamond: a → b, a → c, b → d, c → d.
  WorkflowFactory wf(JobId(900), "etl",
                     {{"a", {}}, {"b", {"a"}}, {"c", {"a"}}, {"d", {"b", "c"}}});
  // A one-job run started by a fire of a recurring JOB_TYPE_WORKFLOW job.
  WorkflowFactory fired(JobId(901), "nightly", {{"only", {}}});
  const std::string trigger = JobId(902), trigger_run = JobId(903);
  auto a = wf.Job("a"), b = wf.Job("b");
  const std::string b_dead = "run " + b.RunId(1).substr(0, 8) + " failed: HTTP 500";

  std::vector<Envelope> expansion = wf.Expansion(T(1));
  std::vector<Envelope> first = {
      wf.Submitted(T(0)), fired.Submitted(T(0), trigger, trigger_run, "2027-01-15T02:00:00")};
  first.insert(first.end(), expansion.begin(), expansion.end());
  for (const Envelope& e :
       {wf.Expanded(T(2)), a.Due(T(3), T(1), 1), a.Dispatched(T(3), a.RunId(1)),
        a.Started(T(3), a.RunId(1)), a.Succeeded(T(4), a.RunId(1)),
        a.JobSucceeded(T(4), a.RunId(1)), wf.Satisfied(T(5), "b", "a"),
        wf.Satisfied(T(5), "c", "a"),
        wf.Notified(T(5), "a", v1::DEPENDENCY_STATUS_SATISFIED, {"b", "c"}),
        b.Due(T(6), T(5), 1), b.Dispatched(T(6), b.RunId(1)), b.Started(T(6), b.RunId(1)),
        b.Failed(T(7), b.RunId(1)), b.Dead(T(7), b.RunId(1)),
        wf.Failed(T(8), "d", "b", "DEAD", b_dead)}) {
    first.push_back(e);
  }

  PgProjectionStore store({.database_url = url});
  auto projector = std::make_unique<Projector>(log_, store, Options("proj"));
  ASSERT_TRUE(projector->Start().ok());
  Append(first);
  ASSERT_TRUE(CaughtUp(url));

  // workflows: one row per run, from the WorkflowSubmitted and WorkflowExpanded.
  const std::string w = "'" + wf.id() + "'";
  EXPECT_EQ(One(url, "SELECT concat_ws('|', name, job_count, edge_count, trigger_job_id,"
                     " spec->>'name', jsonb_array_length(spec->'jobs'),"
                     " spec->'jobs'->3->'depends_on'->>1, correlation_id,"
                     " submitted_at = to_timestamp(" + std::to_string(ToUnixMillis(T(0)) / 1000) +
                     "), expanded_at = to_timestamp(" + std::to_string(ToUnixMillis(T(2)) / 1000) +
                     "), version) FROM workflows WHERE workflow_id = " + w),
            "etl|4|4|etl|4|c|corr-1|t|t|2");  // concat_ws skips the NULL trigger
  const std::string f = "'" + fired.id() + "'";
  const std::string fired_row =
      "SELECT concat_ws('|', name, job_count, edge_count, trigger_job_id, trigger_run_id,"
      " nominal_time, expanded_at IS NULL) FROM workflows WHERE workflow_id = " + f;
  EXPECT_EQ(One(url, fired_row),
            "nightly|1|0|" + trigger + "|" + trigger_run + "|2027-01-15T02:00:00|t");
  // A workflow run is not a job: no jobs row, nothing in the queue statistics.
  EXPECT_EQ(One(url, "SELECT count(*) FROM jobs WHERE job_id IN (" + w + ", " + f + ")"), "0");
  EXPECT_EQ(One(url, "SELECT count(*) FROM jobs"), "4");
  // Its events are in job_logs, under the workflow id.
  EXPECT_EQ(One(url, "SELECT string_agg(event_type || ':' || outcome || ':' || message, ','"
                     " ORDER BY kafka_offset) FROM job_logs WHERE job_id = " + w),
            "WorkflowSubmitted:applied:workflow submitted: \"etl\", 4 jobs, 4 edges,"
            "WorkflowExpanded:applied:workflow expanded into 4 jobs");

  // jobs: workflow_id / workflow_key, statuses as the fold says.
  EXPECT_EQ(Rows(url, "SELECT concat_ws('|', workflow_key, workflow_id = " + w +
                          ", status, queued_runs + running_runs + retrying_runs)"
                          " FROM jobs WHERE workflow_id IS NOT NULL ORDER BY workflow_key"),
            (std::vector<std::string>{"a|t|SUCCEEDED|0", "b|t|DEAD|0", "c|t|PENDING|0",
                                      "d|t|BLOCKED|0"}));

  // job_dependencies: one row per edge, the child's view of its parent.
  const std::string edges =
      "SELECT concat_ws('|', p.workflow_key || '->' || c.workflow_key, d.workflow_id = " + w +
      ", d.status, d.reason, d.created_at = to_timestamp(" +
      std::to_string(ToUnixMillis(T(1)) / 1000) +
      "), extract(epoch FROM d.updated_at - d.created_at)::int)"
      " FROM job_dependencies d JOIN jobs p ON p.job_id::text = d.parent_id"
      " JOIN jobs c ON c.job_id::text = d.child_id ORDER BY 1";
  EXPECT_EQ(Rows(url, edges),
            (std::vector<std::string>{"a->b|t|SATISFIED|t|4", "a->c|t|SATISFIED|t|4",
                                      "b->d|t|FAILED|" + b_dead + "|t|7", "c->d|t|PENDING|t|0"}));
  EXPECT_EQ(One(url, "SELECT count(*) FROM job_dependencies WHERE child_id = '" +
                         wf.JobIdOf("d") + "'"),
            "2");
  EXPECT_EQ(One(url, "SELECT concat_ws('|', level, message) FROM job_logs"
                     " WHERE event_type = 'DependencyFailed'"),
            "warn|parent " + wf.JobIdOf("b").substr(0, 8) + " failed (DEAD): " + b_dead +
                "; job BLOCKED (upstream failed)");

  // Redelivery of every kind of record: duplicates, nothing changes.
  const std::vector<std::string> before = Snapshot(url);
  const int64_t applied_before = projector->stats().applied;
  const std::vector<Envelope> again = {first[0], first[1], expansion[3], wf.Expanded(T(2)),
                                       wf.Satisfied(T(5), "b", "a"),
                                       wf.Failed(T(8), "d", "b", "DEAD", b_dead)};
  Append(again);
  ASSERT_TRUE(CaughtUp(url));
  // The counters follow the commit by a moment (the writer counts after it).
  ASSERT_TRUE(WaitFor([&] { return projector->stats().records == first.size() + again.size(); },
                      10s));
  EXPECT_EQ(Snapshot(url), before);
  EXPECT_EQ(projector->stats().applied, static_cast<uint64_t>(applied_before));
  EXPECT_EQ(projector->stats().duplicates, again.size());
  EXPECT_EQ(One(url, "SELECT count(*) FROM job_logs WHERE outcome = 'duplicate'"),
            std::to_string(again.size()));

  // Later batches: the dead parent requeued and succeeded releases d (its edge
  // back to SATISFIED, reason gone); c's success lets it run. The fired run's
  // expansion keeps the trigger its submission wrote.
  Append({wf.Satisfied(T(20), "d", "b"), fired.Expanded(T(20))});
  ASSERT_TRUE(CaughtUp(url));
  const std::string d_row = "SELECT status FROM jobs WHERE workflow_key = 'd'";
  EXPECT_EQ(One(url, d_row), "WAITING");
  EXPECT_EQ(One(url, "SELECT concat_ws('|', status, reason, extract(epoch FROM updated_at -"
                     " created_at)::int) FROM job_dependencies WHERE parent_id = '" +
                         wf.JobIdOf("b") + "'"),
            "SATISFIED|19");
  EXPECT_EQ(One(url, fired_row),
            "nightly|1|0|" + trigger + "|" + trigger_run + "|2027-01-15T02:00:00|f");
  Append({wf.Satisfied(T(21), "d", "c")});
  ASSERT_TRUE(CaughtUp(url));
  projector->Stop();
  EXPECT_EQ(One(url, d_row), "PENDING");
  EXPECT_EQ(Rows(url, "SELECT status FROM job_dependencies ORDER BY parent_id, child_id"),
            (std::vector<std::string>(4, "SATISFIED")));

  // A rebuild into a fresh database that reads every state back from the
  // tables (no cache, batches of 3: the workflow run's state too) is identical.
  const std::string rebuilt = NewDatabase("proj_workflow_rebuild");
  PgProjectionStore store2({.database_url = rebuilt});
  ProjectorOptions o = Options("rebuild");
  o.max_batch_records = 3;
  o.state_cache_jobs = 0;
  Projector rebuild(log_, store2, o);
  ASSERT_TRUE(rebuild.Start().ok());
  ASSERT_TRUE(CaughtUp(rebuilt));
  rebuild.Stop();
  EXPECT_EQ(rebuild.stats().rejected, 0u);
  EXPECT_EQ(Snapshot(rebuilt), Snapshot(url));
}

}  // namespace
}  // namespace jobsched::projections
