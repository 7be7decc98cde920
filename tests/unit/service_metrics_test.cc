// The services' Prometheus metrics move as events happen: the executor's runs
// by outcome, handler time, schedule drift and slots; the scheduler's and
// dispatcher's appended decisions, the dispatcher's queue depth by pool and
// priority and its view of the executors. Each service runs in-process on
// the in-memory log with a manual clock and its own registry.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "events/ids.h"
#include "events/memory_event_log.h"
#include "services/common/metrics.h"
#include "services/dispatcher/dispatcher.h"
#include "services/executor/executor.h"
#include "services/scheduler/scheduler.h"
#include "tests/support/metric_sample.h"
#include "tests/support/wait.h"

namespace jobsched {
namespace {

using events::Envelope;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kWait = milliseconds(20'000);

using testing::FindSample;

double ValueOf(prometheus::Registry& registry, const std::string& name,
               const std::map<std::string, std::string>& labels) {
  return testing::MetricValue(registry, name, labels);
}

// Awaits the series' value to become `want`.
bool AwaitValue(prometheus::Registry& registry, const std::string& name,
                const std::map<std::string, std::string>& labels, double want) {
  return testing::WaitFor([&] { return ValueOf(registry, name, labels) == want; }, kWait);
}

// A handler that blocks until opened (or cancelled).
class Gate final : public executor::Handler {
 public:
  executor::HandlerResult Run(const v1::RunTask&, const executor::CancelToken& cancel) override {
    while (!open_ && !cancel.cancelled()) cancel.WaitFor(milliseconds(5));
    return executor::HandlerResult::Success("opened");
  }
  void Open() { open_ = true; }

 private:
  std::atomic<bool> open_{false};
};

class ExecutorMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(log_.CreateTopic(topics_.job_events, 1).ok());
    ASSERT_TRUE(log_.CreateTopic(topics_.run_tasks, 1).ok());
    ASSERT_TRUE(log_.CreateTopic(topics_.executors, 1).ok());
    producer_ = std::move(log_.NewProducer("test")).value();
    handlers_.Register(v1::JOB_TYPE_ECHO, std::make_shared<executor::EchoHandler>());
    handlers_.Register(v1::JOB_TYPE_FAIL, std::make_shared<executor::FailHandler>());
    handlers_.Register(v1::JOB_TYPE_HTTP, gate_);
    executor::ExecutorOptions o;
    o.executor_id = "exec-1";
    o.slots = 2;
    o.pool = "gpu";
    o.heartbeat_interval = std::chrono::hours(1);
    o.poll_interval = milliseconds(10);
    o.stop_grace = milliseconds(2000);
    o.topics = topics_;
    o.metrics = &registry_;
    executor_ = std::make_unique<executor::Executor>(o, log_, clock_, handlers_);
    ASSERT_TRUE(executor_->Start().ok());
  }

  void TearDown() override {
    gate_->Open();
    executor_->Stop();
  }

  // A task of `type` for this executor, scheduled `late` before now.
  void Dispatch(const std::string& run_id, v1::JobType type, Millis late) {
    v1::RunTask t;
    t.set_job_id("job-" + run_id);
    t.set_run_id(run_id);
    t.set_attempt(1);
    t.set_lease_epoch(1);
    t.mutable_spec()->set_type(type);
    *t.mutable_scheduled_for() = ToProto(clock_.Now() - late);
    t.set_executor_id("exec-1");
    t.set_executor_incarnation(executor_->incarnation());
    events::Record r{topics_.run_tasks, run_id, events::Encode(t)};
    r.partition = executor_->task_partition();
    ASSERT_TRUE(producer_->Append({std::move(r)}).ok());
  }

  events::Topics topics_;
  events::MemoryEventLog log_;
  ManualClock clock_{FromUnixMillis(1'800'000'000'000)};
  prometheus::Registry registry_;
  executor::HandlerRegistry handlers_;
  std::shared_ptr<Gate> gate_ = std::make_shared<Gate>();
  std::unique_ptr<events::Producer> producer_;
  std::unique_ptr<executor::Executor> executor_;
};

TEST_F(ExecutorMetricsTest, CountsRunsByOutcomeWithHandlerTimeAndDrift) {
  // Every series exists from the start, at zero.
  EXPECT_EQ(ValueOf(registry_, "jobsched_runs_total", {{"outcome", "succeeded"}, {"pool", "gpu"}}),
            0);
  EXPECT_EQ(ValueOf(registry_, "jobsched_runs_total", {{"outcome", "timed_out"}, {"pool", "gpu"}}),
            0);

  Dispatch("r1", v1::JOB_TYPE_ECHO, Millis(3000));
  Dispatch("r2", v1::JOB_TYPE_FAIL, Millis(500));
  ASSERT_TRUE(
      AwaitValue(registry_, "jobsched_runs_total", {{"outcome", "succeeded"}, {"pool", "gpu"}}, 1));
  ASSERT_TRUE(
      AwaitValue(registry_, "jobsched_runs_total", {{"outcome", "failed"}, {"pool", "gpu"}}, 1));
  EXPECT_EQ(ValueOf(registry_, "jobsched_runs_total", {{"outcome", "canceled"}, {"pool", "gpu"}}),
            0);

  // One handler time per outcome.
  EXPECT_EQ(ValueOf(registry_, "jobsched_run_duration_seconds", {{"outcome", "succeeded"}}), 1);
  EXPECT_EQ(ValueOf(registry_, "jobsched_run_duration_seconds", {{"outcome", "failed"}}), 1);
  // The manual clock stands still: each run started exactly as late as it was made.
  auto drift = FindSample(registry_, "jobsched_schedule_drift_seconds", {});
  ASSERT_TRUE(drift.has_value());
  EXPECT_EQ(drift->value, 2);
  EXPECT_DOUBLE_EQ(drift->sum, 3.5);
}

TEST_F(ExecutorMetricsTest, SlotsUsedAndFreeFollowRunningHandlers) {
  EXPECT_EQ(ValueOf(registry_, "jobsched_executor_slots", {{"state", "free"}}), 2);
  EXPECT_EQ(ValueOf(registry_, "jobsched_executor_slots", {{"state", "used"}}), 0);
  Dispatch("held", v1::JOB_TYPE_HTTP, Millis(0));
  ASSERT_TRUE(AwaitValue(registry_, "jobsched_executor_slots", {{"state", "used"}}, 1));
  EXPECT_EQ(ValueOf(registry_, "jobsched_executor_slots", {{"state", "free"}}), 1);
  gate_->Open();
  ASSERT_TRUE(AwaitValue(registry_, "jobsched_executor_slots", {{"state", "used"}}, 0));
  EXPECT_EQ(ValueOf(registry_, "jobsched_executor_slots", {{"state", "free"}}), 2);
  ASSERT_TRUE(
      AwaitValue(registry_, "jobsched_runs_total", {{"outcome", "succeeded"}, {"pool", "gpu"}}, 1));
}

TEST_F(ExecutorMetricsTest, ExpositionNamesEveryExecutorMetric) {
  const std::string text = services::SerializeMetrics(registry_);
  for (const char* name :
       {"# TYPE jobsched_runs_total counter", "# TYPE jobsched_run_duration_seconds histogram",
        "# TYPE jobsched_schedule_drift_seconds histogram",
        "# TYPE jobsched_executor_slots gauge"}) {
    EXPECT_NE(text.find(name), std::string::npos) << name << " missing from\n" << text;
  }
}

class DecisionMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(log_.CreateTopic(topics_.job_events, 1).ok());
    ASSERT_TRUE(log_.CreateTopic(topics_.run_tasks, 2).ok());
    ASSERT_TRUE(log_.CreateTopic(topics_.executors, 1).ok());
    ASSERT_TRUE(log_.CreateTopic(topics_.scheduler_snapshots, 1).ok());
    ASSERT_TRUE(log_.CreateTopic(topics_.dispatcher_snapshots, 1).ok());
    producer_ = std::move(log_.NewProducer("test")).value();

    scheduler::SchedulerOptions s;
    s.topics = topics_;
    s.metrics = &scheduler_metrics_;
    scheduler_ = std::make_unique<scheduler::Scheduler>(s, log_, clock_);
    ASSERT_TRUE(scheduler_->Start().ok());
    dispatcher::DispatcherOptions d;
    d.topics = topics_;
    d.metrics = &dispatcher_metrics_;
    d.metrics_interval = Millis(0);  // every turn: the manual clock stands still
    dispatcher_ = std::make_unique<dispatcher::Dispatcher>(d, log_, clock_);
    ASSERT_TRUE(dispatcher_->Start().ok());
  }

  void TearDown() override {
    dispatcher_->Stop();
    scheduler_->Stop();
  }

  std::string Submit(int priority, const std::string& pool) {
    std::string job_id = RandomId();
    Envelope e = events::MakeEnvelope(ids::EventId("JobSubmitted", job_id, ""), job_id,
                                      {"test", clock_.Now(), "corr", ""});
    auto* spec = e.mutable_job_submitted()->mutable_spec();
    spec->set_name("job");
    spec->set_type(v1::JOB_TYPE_ECHO);
    spec->set_priority(priority);
    spec->set_pool(pool);
    EXPECT_TRUE(producer_->Append({{topics_.job_events, job_id, events::Encode(e)}}).ok());
    return job_id;
  }

  void Beat(const std::string& id, int slots, const std::string& pool) {
    v1::ExecutorHeartbeat hb;
    hb.set_executor_id(id);
    hb.set_incarnation("inc-" + id);
    hb.set_slots(slots);
    hb.set_pool(pool);
    hb.set_task_partition(1);
    *hb.mutable_sent_at() = ToProto(clock_.Now());
    ASSERT_TRUE(producer_->Append({{topics_.executors, id, events::Encode(hb)}}).ok());
  }

  events::Topics topics_;
  events::MemoryEventLog log_;
  ManualClock clock_{FromUnixMillis(1'800'000'000'000)};
  prometheus::Registry scheduler_metrics_;
  prometheus::Registry dispatcher_metrics_;
  std::unique_ptr<events::Producer> producer_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::unique_ptr<dispatcher::Dispatcher> dispatcher_;
};

TEST_F(DecisionMetricsTest, QueueDepthByPoolAndPriorityThenDispatchCounted) {
  Submit(7, "gpu");
  Submit(7, "gpu");
  Submit(2, "");  // the default pool
  ASSERT_TRUE(AwaitValue(scheduler_metrics_, "jobsched_scheduler_events_appended_total",
                         {{"type", "RunDue"}}, 3));
  auto appends = FindSample(scheduler_metrics_, "jobsched_scheduler_append_duration_seconds", {});
  ASSERT_TRUE(appends.has_value());
  EXPECT_GE(appends->value, 1);

  // No executor yet: the runs wait in the dispatcher's queue.
  ASSERT_TRUE(AwaitValue(dispatcher_metrics_, "jobsched_dispatch_queue_depth",
                         {{"pool", "gpu"}, {"priority", "7"}}, 2));
  ASSERT_TRUE(AwaitValue(dispatcher_metrics_, "jobsched_dispatch_queue_depth",
                         {{"pool", "default"}, {"priority", "2"}}, 1));
  EXPECT_EQ(ValueOf(dispatcher_metrics_, "jobsched_dispatcher_events_appended_total",
                    {{"type", "RunDispatched"}}),
            0);

  // An executor of pool gpu with room for both takes them; the default pool's stays.
  Beat("e1", 2, "gpu");
  ASSERT_TRUE(AwaitValue(dispatcher_metrics_, "jobsched_dispatcher_events_appended_total",
                         {{"type", "RunDispatched"}}, 2));
  ASSERT_TRUE(AwaitValue(dispatcher_metrics_, "jobsched_dispatch_queue_depth",
                         {{"pool", "gpu"}, {"priority", "7"}}, 0));
  EXPECT_EQ(ValueOf(dispatcher_metrics_, "jobsched_dispatch_queue_depth",
                    {{"pool", "default"}, {"priority", "2"}}),
            1);
  EXPECT_EQ(ValueOf(dispatcher_metrics_, "jobsched_dispatcher_tasks_sent_total", {}), 2);
  EXPECT_EQ(ValueOf(dispatcher_metrics_, "jobsched_dispatch_executors", {{"state", "live"}}), 1);
  EXPECT_EQ(ValueOf(dispatcher_metrics_, "jobsched_dispatch_leases", {}), 2);
  // The scheduler saw nothing more to decide: the dispatches are the dispatcher's.
  EXPECT_EQ(ValueOf(scheduler_metrics_, "jobsched_scheduler_events_appended_total",
                    {{"type", "RunDispatched"}}),
            -1);
}

}  // namespace
}  // namespace jobsched
