// The scheduler and dispatcher loops (threads, consumer groups) together on
// the in-memory log, with a manual clock and a scripted executor: the happy
// path, priority order under limited capacity, restarts without duplicates,
// failed appends, recovery from a snapshot; leases lost to a restarted or
// silent executor, cancellation sent to the lease holder, runs that fit no
// executor. Decisions in time (delays,
// backoff, cron, misfires) are tested in simulated time: scheduler_sim_test.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <set>
#include <thread>

#include "events/fold.h"
#include "events/ids.h"
#include "events/memory_event_log.h"
#include "services/common/snapshot_store.h"
#include "services/dispatcher/dispatcher.h"
#include "services/scheduler/scheduler.h"
#include "tests/support/wait.h"

namespace jobsched {
namespace {

using events::Envelope;
using events::JobState;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kWait = seconds(20);

class SchedulerLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // One partition: the order of every job's events is the order of the log.
    ASSERT_TRUE(log_.CreateTopic(topics_.job_events, 1).ok());
    ASSERT_TRUE(log_.CreateTopic(topics_.run_tasks, 2).ok());
    ASSERT_TRUE(log_.CreateTopic(topics_.executors, 1).ok());
    ASSERT_TRUE(log_.CreateTopic(topics_.scheduler_snapshots, 1).ok());
    ASSERT_TRUE(log_.CreateTopic(topics_.dispatcher_snapshots, 1).ok());
    producer_ = std::move(log_.NewProducer("test")).value();
  }

  void TearDown() override {
    stop_executor_ = true;
    if (executor_.joinable()) executor_.join();
    if (dispatcher_) dispatcher_->Stop();
    if (scheduler_) scheduler_->Stop();
  }

  void StartScheduler(Millis snapshot_interval = Millis(30'000)) {
    scheduler::SchedulerOptions o;
    o.topics = topics_;
    o.state.snapshot_interval = snapshot_interval;
    o.instance_id = "s" + std::to_string(++instances_);
    scheduler_ = std::make_unique<scheduler::Scheduler>(o, log_, clock_);
    ASSERT_TRUE(scheduler_->Start().ok());
  }

  void StartDispatcher() {
    dispatcher::DispatcherOptions o;
    o.topics = topics_;
    dispatcher_ = std::make_unique<dispatcher::Dispatcher>(o, log_, clock_);
    ASSERT_TRUE(dispatcher_->Start().ok());
  }

  // A scripted executor: answers each task with RunStarted and the result
  // `succeed(task)` chooses, one task at a time.
  void StartExecutor(std::function<bool(const v1::RunTask&)> succeed) {
    executor_ = std::thread([this, succeed] {
      events::ConsumerOptions o;
      o.group_id = "fake-executor";
      o.topics = {topics_.run_tasks};
      auto consumer = std::move(log_.NewConsumer(o)).value();
      while (!stop_executor_) {
        for (const auto& r : consumer->Poll(1, milliseconds(20))) {
          v1::RunTask task = events::DecodeRunTask(r.value).value();
          {
            std::lock_guard<std::mutex> lock(mu_);
            task_order_.push_back(task.job_id());
          }
          bool ok = succeed(task);
          std::string cause = task.run_id() + "/" + std::to_string(task.lease_epoch());
          auto started = Make("RunStarted", task.job_id(), cause);
          started.mutable_run_started()->set_run_id(task.run_id());
          started.mutable_run_started()->set_lease_epoch(task.lease_epoch());
          auto result = Make(ok ? "RunSucceeded" : "RunFailed", task.job_id(), cause);
          if (ok) {
            result.mutable_run_succeeded()->set_run_id(task.run_id());
            result.mutable_run_succeeded()->set_lease_epoch(task.lease_epoch());
          } else {
            result.mutable_run_failed()->set_run_id(task.run_id());
            result.mutable_run_failed()->set_lease_epoch(task.lease_epoch());
            result.mutable_run_failed()->set_kind(v1::FAILURE_KIND_ERROR);
            result.mutable_run_failed()->set_error("scripted failure");
          }
          ASSERT_TRUE(Append({started, result}).ok());
          consumer->Commit({{{r.topic, r.partition}, r.offset + 1}});
        }
      }
    });
  }

  void Heartbeat(int slots) {
    v1::ExecutorHeartbeat hb;
    hb.set_executor_id("fake");
    hb.set_slots(slots);
    *hb.mutable_sent_at() = ToProto(clock_.Now());
    ASSERT_TRUE(producer_->Append({{topics_.executors, "fake", events::Encode(hb)}}).ok());
  }

  // A heartbeat of executor `id` in its process life `incarnation`, reading
  // run-tasks partition 1.
  void Beat(const std::string& id, const std::string& incarnation, int slots,
            const std::string& pool = "") {
    v1::ExecutorHeartbeat hb;
    hb.set_executor_id(id);
    hb.set_incarnation(incarnation);
    hb.set_slots(slots);
    hb.set_pool(pool);
    hb.set_task_partition(1);
    *hb.mutable_sent_at() = ToProto(clock_.Now());
    ASSERT_TRUE(producer_->Append({{topics_.executors, id, events::Encode(hb)}}).ok());
  }

  // The tasks sent to run-tasks partition 1, in order.
  std::vector<v1::RunTask> Tasks() {
    std::vector<v1::RunTask> out;
    for (const auto& r : log_.Read({topics_.run_tasks, 1}).value()) {
      out.push_back(events::DecodeRunTask(r.value).value());
    }
    return out;
  }

  // Awaits the job's `n`-th event of `type` (1-based).
  std::optional<Envelope> AwaitEvent(const std::string& job_id, std::string_view type, int n = 1) {
    std::optional<Envelope> found;
    testing::WaitFor(
        [&] {
          int seen = 0;
          for (const auto& e : EventsOf(job_id)) {
            if (events::EventType(e) == type && ++seen == n) {
              found = e;
              return true;
            }
          }
          return false;
        },
        kWait);
    return found;
  }

  Envelope Make(const std::string& type, const std::string& job_id, const std::string& cause) {
    return events::MakeEnvelope(ids::EventId(type, job_id, cause), job_id,
                                {"test", clock_.Now(), "corr", ""});
  }

  Status Append(const std::vector<Envelope>& envs) {
    std::vector<events::Record> records;
    for (const auto& e : envs)
      records.push_back({topics_.job_events, e.job_id(), events::Encode(e)});
    return producer_->Append(std::move(records));
  }

  std::string Submit(int priority = 5, std::optional<TimePoint> run_at = std::nullopt,
                     int max_retries = 0, int64_t fixed_delay_ms = 0) {
    std::string job_id = RandomId();
    Envelope e = Make("JobSubmitted", job_id, "");
    auto* spec = e.mutable_job_submitted()->mutable_spec();
    spec->set_name("job");
    spec->set_type(v1::JOB_TYPE_ECHO);
    spec->set_priority(priority);
    spec->set_max_retries(max_retries);
    if (run_at) *spec->mutable_run_at() = ToProto(*run_at);
    if (fixed_delay_ms > 0) {
      spec->mutable_retry_policy()->set_strategy(v1::RETRY_STRATEGY_FIXED);
      spec->mutable_retry_policy()->set_base_delay_ms(fixed_delay_ms);
    }
    EXPECT_TRUE(Append({e}).ok());
    return job_id;
  }

  std::string SubmitRecurring(const std::string& cron) {
    std::string job_id = RandomId();
    Envelope e = Make("JobSubmitted", job_id, "");
    auto* spec = e.mutable_job_submitted()->mutable_spec();
    spec->set_name("recurring");
    spec->set_type(v1::JOB_TYPE_ECHO);
    spec->mutable_schedule()->set_cron(cron);
    EXPECT_TRUE(Append({e}).ok());
    return job_id;
  }

  // Every event of the job, in log order.
  std::vector<Envelope> EventsOf(const std::string& job_id) {
    std::vector<Envelope> out;
    for (const auto& r : log_.Read({topics_.job_events, 0}).value()) {
      auto e = events::DecodeEnvelope(r.value);
      EXPECT_TRUE(e.ok()) << "offset " << r.offset << ": " << e.status().ToString();
      if (e.ok() && e->job_id() == job_id) out.push_back(e.value());
    }
    return out;
  }

  JobState StateOf(const std::string& job_id) { return events::FoldAll(EventsOf(job_id)); }

  bool AwaitStatus(const std::string& job_id, v1::JobStatus status) {
    return testing::WaitFor([&] { return StateOf(job_id).status() == status; }, kWait);
  }

  int Count(const std::string& job_id, std::string_view type) {
    int n = 0;
    for (const auto& e : EventsOf(job_id)) n += events::EventType(e) == type;
    return n;
  }

  events::MemoryEventLog log_;
  events::Topics topics_;
  ManualClock clock_{FromUnixMillis(1'800'000'000'000)};
  std::unique_ptr<events::Producer> producer_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::unique_ptr<dispatcher::Dispatcher> dispatcher_;
  std::thread executor_;
  std::atomic<bool> stop_executor_{false};
  std::mutex mu_;
  std::vector<std::string> task_order_;
  int instances_ = 0;
};

TEST_F(SchedulerLoopTest, JobRunsToSuccess) {
  StartScheduler();
  StartDispatcher();
  StartExecutor([](const v1::RunTask&) { return true; });
  Heartbeat(4);
  std::string job = Submit();
  ASSERT_TRUE(AwaitStatus(job, v1::JOB_STATUS_SUCCEEDED)) << StateOf(job).DebugString();
  std::vector<std::string> types;
  for (const auto& e : EventsOf(job)) types.emplace_back(events::EventType(e));
  EXPECT_EQ(types, (std::vector<std::string>{"JobSubmitted", "RunDue", "RunDispatched",
                                             "RunStarted", "RunSucceeded", "JobSucceeded"}));
}

TEST_F(SchedulerLoopTest, HigherPriorityRunsFirstWhenCapacityIsShort) {
  StartScheduler();
  StartDispatcher();
  // No executor heartbeat yet: capacity 0, everything waits in the queue.
  std::string low = Submit(1);
  std::string high = Submit(9);
  std::string mid = Submit(5);
  std::string mid2 = Submit(5);
  for (const auto& j : {low, high, mid, mid2}) ASSERT_TRUE(AwaitStatus(j, v1::JOB_STATUS_QUEUED));
  StartExecutor([](const v1::RunTask&) { return true; });
  Heartbeat(1);
  for (const auto& j : {low, high, mid, mid2}) {
    ASSERT_TRUE(AwaitStatus(j, v1::JOB_STATUS_SUCCEEDED));
  }
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_EQ(task_order_, (std::vector<std::string>{high, mid, mid2, low}));
}

TEST_F(SchedulerLoopTest, RestartedSchedulerRebuildsAndDuplicatesNothing) {
  StartScheduler();
  std::string later = Submit(5, clock_.Now() + seconds(30));
  std::string now = Submit();
  ASSERT_TRUE(AwaitStatus(now, v1::JOB_STATUS_QUEUED));
  scheduler_->Stop();
  scheduler_.reset();
  // A new instance replays the partition, then acts on the timer it rebuilt.
  StartScheduler();
  clock_.Advance(seconds(30));
  // Catching up, the new instance decides every job in log order: a second
  // RunDue for `now` would come before (or with) the one for `later`.
  ASSERT_TRUE(AwaitStatus(later, v1::JOB_STATUS_QUEUED));
  EXPECT_EQ(Count(now, "RunDue"), 1) << "the replayed scheduler must not make a run due twice";
  EXPECT_EQ(Count(later, "RunDue"), 1);
}

TEST_F(SchedulerLoopTest, FailedAppendIsRetriedWithTheSameIds) {
  std::string job = Submit();
  log_.FailNextAppends(1, Status::Unavailable("injected"));
  StartScheduler();  // its first decision (RunDue for `job`) meets the failure
  // The retry waits a second of scheduler time; move the clock until it happens.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        clock_.Advance(milliseconds(250));
        return StateOf(job).status() == v1::JOB_STATUS_QUEUED;
      },
      kWait));
  EXPECT_EQ(Count(job, "RunDue"), 1);
  // The injected failure was spent by the scheduler, not left for later.
  EXPECT_TRUE(Append({Make("CancelRequested", job, "probe")}).ok());
}

TEST_F(SchedulerLoopTest, RecoversFromItsSnapshotAfterRetentionDroppedTheSubmission) {
  StartScheduler(/*snapshot_interval=*/Millis(0));  // a snapshot whenever a partition changed
  StartDispatcher();
  StartExecutor([](const v1::RunTask&) { return true; });
  std::string job = SubmitRecurring("* * * * * *");
  auto fires = [&] { return Count(job, "RunDue"); };
  auto succeeded = [&] { return static_cast<int>(StateOf(job).summary().succeeded()); };
  for (int i = 1; i <= 3; ++i) {
    clock_.Advance(seconds(1));
    Heartbeat(4);
    ASSERT_TRUE(testing::WaitFor([&] { return succeeded() == i; }, kWait)) << i;
  }
  // The test reads the log directly, so the third success may be there before
  // the scheduler folded it: stop it only once its latest snapshot covers the
  // whole partition, which retention is about to drop.
  services::SnapshotStore snapshots(log_, *producer_, topics_.scheduler_snapshots, "scheduler",
                                    spdlog::default_logger());
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        int64_t high = log_.GetWatermarks({topics_.job_events, 0}).value().high;
        auto latest = snapshots.ReadLatest(0);
        return latest.ok() && latest->has_value() && (*latest)->next_offset() == high;
      },
      kWait));
  JobState before = StateOf(job);
  scheduler_->Stop();
  scheduler_.reset();
  // Retention drops the whole partition, JobSubmitted included.
  auto wm = log_.GetWatermarks({topics_.job_events, 0}).value();
  ASSERT_TRUE(log_.Truncate({topics_.job_events, 0}, wm.high).ok());
  StartScheduler(Millis(0));
  for (int i = 4; i <= 6; ++i) {
    clock_.Advance(seconds(1));
    Heartbeat(4);
    // The fold of the retained tail starts from nothing; count the new fires.
    ASSERT_TRUE(testing::WaitFor([&] { return fires() == i - 3; }, kWait)) << i;
  }
  std::set<std::string> fire_ids;
  for (const auto& e : EventsOf(job)) {
    if (!e.has_run_due()) continue;
    fire_ids.insert(e.run_due().fire_id());
    EXPECT_EQ(e.run_due().attempt(), 1);
  }
  EXPECT_EQ(fire_ids.size(), 3u);
  // The first fire after recovery follows the cursor the snapshot held.
  Envelope first_after;
  for (const auto& e : EventsOf(job)) {
    if (e.has_run_due()) {
      first_after = e;
      break;
    }
  }
  EXPECT_EQ(first_after.run_due().after_fire_id(), before.cursor().fire_id());
  EXPECT_EQ(FromProto(first_after.run_due().scheduled_for()),
            FromProto(before.cursor().at()) + seconds(1));
}

}  // namespace
}  // namespace jobsched

namespace jobsched {
namespace {

TEST_F(SchedulerLoopTest, ARestartedExecutorsRunIsLostAndDispatchedAgain) {
  StartScheduler();
  StartDispatcher();
  Beat("exec-a", "first-life", 1);
  std::string job = Submit();
  auto first = AwaitEvent(job, "RunDispatched");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->run_dispatched().executor_id(), "exec-a");
  EXPECT_EQ(first->run_dispatched().executor_incarnation(), "first-life");
  const std::string run = first->run_dispatched().run_id();
  ASSERT_TRUE(testing::WaitFor([&] { return !Tasks().empty(); }, kWait));
  EXPECT_EQ(Tasks()[0].executor_incarnation(), "first-life");
  Envelope started = Make("RunStarted", job, run + "/1");
  started.mutable_run_started()->set_run_id(run);
  started.mutable_run_started()->set_lease_epoch(1);
  ASSERT_TRUE(Append({started}).ok());

  Beat("exec-a", "second-life", 1);  // the process restarted: its tasks are gone
  auto lost = AwaitEvent(job, "RunLost");
  ASSERT_TRUE(lost) << StateOf(job).DebugString();
  EXPECT_EQ(lost->run_lost().lease_epoch(), 1);
  EXPECT_NE(lost->run_lost().reason().find("restarted"), std::string::npos);
  auto second = AwaitEvent(job, "RunDispatched", 2);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->run_dispatched().lease_epoch(), 2);
  EXPECT_EQ(second->run_dispatched().executor_incarnation(), "second-life");
  EXPECT_EQ(StateOf(job).runs(0).attempt(), 1) << "a lost lease spends no attempt";
}

TEST_F(SchedulerLoopTest, ASilentExecutorsRunsAreLostAfterTheTimeout) {
  StartScheduler();
  StartDispatcher();
  Beat("exec-a", "life", 2);
  std::string job = Submit();
  ASSERT_TRUE(AwaitEvent(job, "RunDispatched"));
  clock_.Advance(Millis(30'000));  // the boundary itself: dispatcher_test (Placement)
  auto lost = AwaitEvent(job, "RunLost");
  ASSERT_TRUE(lost);
  EXPECT_NE(lost->run_lost().reason().find("missed heartbeats"), std::string::npos);
  // Nothing is live now: the run waits, saying why, until an executor is heard.
  auto waiting = AwaitEvent(job, "RunWaiting");
  ASSERT_TRUE(waiting);
  EXPECT_EQ(waiting->run_waiting().reason(), "no live executor in pool 'default'");
  Beat("exec-b", "life", 2);
  auto again = AwaitEvent(job, "RunDispatched", 2);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->run_dispatched().executor_id(), "exec-b");
}

TEST_F(SchedulerLoopTest, ARunOfAnotherPoolWaitsForAnExecutorOfIt) {
  StartScheduler();
  StartDispatcher();
  Beat("cpu-1", "life", 4);
  std::string job = RandomId();
  Envelope e = Make("JobSubmitted", job, "");
  auto* spec = e.mutable_job_submitted()->mutable_spec();
  spec->set_name("needs a gpu");
  spec->set_type(v1::JOB_TYPE_ECHO);
  spec->set_pool("gpu");
  (*spec->mutable_resources())["gpu_units"] = 1;
  ASSERT_TRUE(Append({e}).ok());
  auto waiting = AwaitEvent(job, "RunWaiting");
  ASSERT_TRUE(waiting);
  EXPECT_EQ(waiting->run_waiting().reason(), "no live executor in pool 'gpu'");
  EXPECT_EQ(StateOf(job).runs(0).wait_reason(), "no live executor in pool 'gpu'");
  EXPECT_EQ(Count(job, "RunDispatched"), 0);
  Beat("gpu-1", "life", 1, "gpu");  // in the pool, but without a GPU
  auto no_gpu = AwaitEvent(job, "RunWaiting", 2);
  ASSERT_TRUE(no_gpu);
  EXPECT_EQ(no_gpu->run_waiting().reason(), "no live executor in pool 'gpu' offers gpu_units >= 1");
  v1::ExecutorHeartbeat hb;
  hb.set_executor_id("gpu-2");
  hb.set_incarnation("life");
  hb.set_slots(1);
  hb.set_pool("gpu");
  (*hb.mutable_resources())["gpu_units"] = 1;
  *hb.mutable_sent_at() = ToProto(clock_.Now());
  ASSERT_TRUE(producer_->Append({{topics_.executors, "gpu-2", events::Encode(hb)}}).ok());
  auto dispatched = AwaitEvent(job, "RunDispatched");
  ASSERT_TRUE(dispatched);
  EXPECT_EQ(dispatched->run_dispatched().executor_id(), "gpu-2");
  EXPECT_EQ(StateOf(job).runs(0).wait_reason(), "");
}

TEST_F(SchedulerLoopTest, CancelingARunningJobTellsItsExecutorToAbort) {
  StartScheduler();
  StartDispatcher();
  Beat("exec-a", "life", 1);
  std::string job = Submit();
  auto dispatched = AwaitEvent(job, "RunDispatched");
  ASSERT_TRUE(dispatched);
  const std::string run = dispatched->run_dispatched().run_id();
  Envelope started = Make("RunStarted", job, run + "/1");
  started.mutable_run_started()->set_run_id(run);
  started.mutable_run_started()->set_lease_epoch(1);
  Envelope cancel = Make("CancelRequested", job, "");
  cancel.mutable_cancel_requested()->set_reason("test");
  ASSERT_TRUE(Append({started, cancel}).ok());
  ASSERT_TRUE(AwaitStatus(job, v1::JOB_STATUS_CANCELED));
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto tasks = Tasks();
        return tasks.size() == 2 && tasks[1].cancel();
      },
      kWait));
  v1::RunTask abort = Tasks()[1];
  EXPECT_EQ(abort.run_id(), run);
  EXPECT_EQ(abort.lease_epoch(), 1);
  EXPECT_EQ(abort.executor_id(), "exec-a");
  EXPECT_EQ(abort.executor_incarnation(), "life");
}

}  // namespace
}  // namespace jobsched
