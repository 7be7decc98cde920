// Unit tests of the Executor on the in-memory event log. Handlers that must
// block are driven by the test (GateHandler); outcomes are awaited with
// WaitFor or condition variables, never fixed sleeps.
#include "services/executor/executor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "events/envelope.h"
#include "events/ids.h"
#include "events/memory_event_log.h"
#include "services/executor/application.h"
#include "tests/support/wait.h"

namespace jobsched::executor {
namespace {

using events::Envelope;
using events::Record;
using jobsched::testing::WaitFor;
using std::chrono::milliseconds;

constexpr milliseconds kWait(20000);
constexpr int kRunTaskPartitions = 4;

// A handler the test drives: each run blocks until the test releases its run
// id (or everything), and the handler counts how many run at once.
class GateHandler final : public Handler {
 public:
  HandlerResult Run(const v1::RunTask& task, const CancelToken& cancel) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++running_;
    max_running_ = std::max(max_running_, running_);
    started_runs_.push_back(task.run_id());
    cv_.notify_all();
    // Short waits only to notice `cancel`, whose own wake-up we cannot join.
    while (!release_all_ && released_.count(task.run_id()) == 0 && !cancel.cancelled()) {
      cv_.wait_for(lock, milliseconds(10));
    }
    --running_;
    if (cancel.cancelled()) {
      return HandlerResult::Failure(v1::FAILURE_KIND_CANCELED, "canceled: " + cancel.reason());
    }
    return HandlerResult::Success("done " + task.run_id());
  }

  void Release(const std::string& run_id) {
    std::lock_guard<std::mutex> lock(mu_);
    released_.insert(run_id);
    cv_.notify_all();
  }
  void ReleaseAll() {
    std::lock_guard<std::mutex> lock(mu_);
    release_all_ = true;
    cv_.notify_all();
  }
  // Waits until `n` runs have started in total.
  bool WaitStarted(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return started_runs_.size() >= n; });
  }
  std::vector<std::string> started_runs() const {
    std::lock_guard<std::mutex> lock(mu_);
    return started_runs_;
  }
  int max_running() const {
    std::lock_guard<std::mutex> lock(mu_);
    return max_running_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0;
  int max_running_ = 0;
  std::vector<std::string> started_runs_;
  std::set<std::string> released_;
  bool release_all_ = false;
};

// Wraps an EventLog to see the offsets the executor's consumer reads.
class SpyLog final : public events::EventLog {
 public:
  explicit SpyLog(events::EventLog& inner) : inner_(inner) {}

  Result<std::unique_ptr<events::Producer>> NewProducer(const std::string& id) override {
    return inner_.NewProducer(id);
  }
  Result<std::unique_ptr<events::Consumer>> NewConsumer(
      const events::ConsumerOptions& options) override {
    auto inner = inner_.NewConsumer(options);
    if (!inner.ok()) return inner.status();
    return std::unique_ptr<events::Consumer>(
        std::make_unique<Consumer>(*this, std::move(inner).value()));
  }
  Result<int> PartitionCount(const std::string& topic) override {
    return inner_.PartitionCount(topic);
  }

  std::vector<int64_t> offsets_read() const {
    std::lock_guard<std::mutex> lock(mu_);
    return offsets_read_;
  }

 private:
  class Consumer final : public events::Consumer {
   public:
    Consumer(SpyLog& spy, std::unique_ptr<events::Consumer> inner)
        : spy_(spy), inner_(std::move(inner)) {}
    std::vector<Record> Poll(size_t max, milliseconds timeout) override {
      std::vector<Record> records = inner_->Poll(max, timeout);
      std::lock_guard<std::mutex> lock(spy_.mu_);
      for (const Record& r : records) spy_.offsets_read_.push_back(r.offset);
      return records;
    }
    Status Commit(const std::map<events::TopicPartition, int64_t>& offsets) override {
      return inner_->Commit(offsets);
    }
    Result<events::Watermarks> QueryWatermarks(const events::TopicPartition& tp,
                                               milliseconds timeout) override {
      return inner_->QueryWatermarks(tp, timeout);
    }
    std::vector<events::TopicPartition> Assignment() override { return inner_->Assignment(); }
    void Close() override { inner_->Close(); }

   private:
    SpyLog& spy_;
    std::unique_ptr<events::Consumer> inner_;
  };

  events::EventLog& inner_;
  mutable std::mutex mu_;
  std::vector<int64_t> offsets_read_;  // guarded by mu_
};

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(log_.CreateTopic(topics_.job_events, 3).ok());
    ASSERT_TRUE(log_.CreateTopic(topics_.run_tasks, kRunTaskPartitions).ok());
    ASSERT_TRUE(log_.CreateTopic(topics_.executors, 1).ok());
    auto producer = log_.NewProducer("test");
    ASSERT_TRUE(producer.ok());
    producer_ = std::move(producer).value();
    registry_.Register(v1::JOB_TYPE_ECHO, std::make_shared<EchoHandler>());
    registry_.Register(v1::JOB_TYPE_SLEEP, std::make_shared<SleepHandler>());
    registry_.Register(v1::JOB_TYPE_FAIL, std::make_shared<FailHandler>());
    registry_.Register(v1::JOB_TYPE_HTTP, gate_);  // "HTTP" tasks block on the gate
  }

  void TearDown() override { gate_->ReleaseAll(); }

  ExecutorOptions Options(const std::string& id = "exec-1", int slots = 2) {
    ExecutorOptions o;
    o.executor_id = id;
    o.slots = slots;
    o.heartbeat_interval = std::chrono::hours(1);  // the first, the last and those on changes
    o.heartbeat_min_gap = milliseconds(5);
    o.poll_interval = milliseconds(10);
    o.stop_grace = milliseconds(2000);
    o.started_after = milliseconds(0);  // RunStarted as each handler begins
    o.topics = topics_;
    return o;
  }

  std::unique_ptr<Executor> StartExecutor(ExecutorOptions options,
                                          events::EventLog* log = nullptr) {
    auto ex = std::make_unique<Executor>(std::move(options), log ? *log : log_, clock_, registry_);
    Status st = ex->Start();
    EXPECT_TRUE(st.ok()) << st.ToString();
    return ex;
  }

  static v1::RunTask Task(const std::string& job, const std::string& run,
                          v1::JobType type = v1::JOB_TYPE_ECHO, int64_t epoch = 1) {
    v1::RunTask t;
    t.set_job_id(job);
    t.set_run_id(run);
    t.set_attempt(1);
    t.set_lease_epoch(epoch);
    t.mutable_spec()->set_type(type);
    t.mutable_spec()->set_payload_json("{\"job\":\"" + job + "\"}");
    t.set_dispatch_event_id("dispatch-" + run + "-" + std::to_string(epoch));
    t.set_correlation_id("corr-" + job);
    t.set_dispatcher_id("dispatcher-7");
    return t;
  }

  static v1::RunTask SleepTask(const std::string& job, const std::string& run, int64_t ms) {
    v1::RunTask t = Task(job, run, v1::JOB_TYPE_SLEEP);
    t.mutable_spec()->set_payload_json("{\"ms\":" + std::to_string(ms) + "}");
    return t;
  }

  static v1::RunTask CancelOf(const v1::RunTask& task, const std::string& reason) {
    v1::RunTask c;
    c.set_job_id(task.job_id());
    c.set_run_id(task.run_id());
    c.set_lease_epoch(task.lease_epoch());
    c.set_dispatcher_id(task.dispatcher_id());
    c.set_cancel(true);
    c.set_cancel_reason(reason);
    return c;
  }

  // Appends `t` addressed to `ex` (its id and incarnation) on its partition.
  void Dispatch(const Executor& ex, const std::string& executor_id, v1::RunTask t) {
    t.set_executor_id(executor_id);
    t.set_executor_incarnation(ex.incarnation());
    DispatchRaw(ex.task_partition(), t.run_id(), events::Encode(t));
  }
  void Dispatch(const Executor& ex, const v1::RunTask& t) { Dispatch(ex, "exec-1", t); }

  void DispatchRaw(int32_t partition, const std::string& key, std::string value) {
    Record r;
    r.topic = topics_.run_tasks;
    r.partition = partition;
    r.key = key;
    r.value = std::move(value);
    Status st = producer_->Append({std::move(r)});
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  std::vector<Record> Records(const std::string& topic, int partitions) const {
    std::vector<Record> out;
    for (int p = 0; p < partitions; ++p) {
      auto part = log_.Read({topic, p});
      EXPECT_TRUE(part.ok());
      if (part.ok()) out.insert(out.end(), part.value().begin(), part.value().end());
    }
    return out;
  }

  // Every job event of `job_id`, in log order (one job = one partition).
  std::vector<Envelope> EventsOf(const std::string& job_id) const {
    std::vector<Envelope> out;
    for (const Record& r : Records(topics_.job_events, 3)) {
      auto e = events::DecodeEnvelope(r.value);
      EXPECT_TRUE(e.ok()) << e.status().ToString();
      if (!e.ok() || e->job_id() != job_id) continue;
      EXPECT_EQ(r.key, job_id);
      out.push_back(e.value());
    }
    return out;
  }

  // The last event of `job_id` once it is a result (RunSucceeded, RunFailed
  // or RunReleased); fails the test after kWait.
  Envelope AwaitResult(const std::string& job_id) {
    Envelope last;
    EXPECT_TRUE(WaitFor(
        [&] {
          std::vector<Envelope> ev = EventsOf(job_id);
          if (ev.empty()) return false;
          last = ev.back();
          return last.has_run_succeeded() || last.has_run_failed() || last.has_run_released();
        },
        kWait))
        << "no result for " << job_id;
    return last;
  }

  size_t JobEventCount() const { return Records(topics_.job_events, 3).size(); }

  std::vector<v1::ExecutorHeartbeat> Heartbeats() const {
    std::vector<v1::ExecutorHeartbeat> out;
    for (const Record& r : Records(topics_.executors, 1)) {
      auto hb = events::DecodeHeartbeat(r.value);
      EXPECT_TRUE(hb.ok());
      EXPECT_EQ(r.key, hb->executor_id());
      out.push_back(hb.value());
    }
    return out;
  }

  events::Topics topics_;
  events::MemoryEventLog log_;
  ManualClock clock_{FromUnixMillis(1'800'000'000'000)};
  std::shared_ptr<GateHandler> gate_ = std::make_shared<GateHandler>();
  HandlerRegistry registry_;
  std::unique_ptr<events::Producer> producer_;
};

TEST(TaskPartitionTest, IsFnv1aOfTheIdModuloThePartitionCount) {
  // Pinned: dispatchers read the partition from heartbeats, but a change
  // would move every executor to another partition across an upgrade.
  EXPECT_EQ(TaskPartition("exec-1", 12), 654133142 % 12);
  EXPECT_EQ(TaskPartition("vm-20013", 12), 11);
  EXPECT_EQ(TaskPartition("", 12), 1);  // the FNV offset basis 2166136261 % 12
  EXPECT_EQ(TaskPartition("exec-1", 1), 0);
}

TEST_F(ExecutorTest, RunsATaskAndReportsStartedAndSucceeded) {
  auto ex = StartExecutor(Options());
  EXPECT_EQ(ex->task_partition(), TaskPartition("exec-1", kRunTaskPartitions));
  EXPECT_EQ(ex->incarnation().size(), 32u);
  Dispatch(*ex, Task("job-a", "run-a", v1::JOB_TYPE_ECHO, /*epoch=*/7));
  ASSERT_TRUE(AwaitResult("job-a").has_run_succeeded());

  std::vector<Envelope> ev = EventsOf("job-a");
  ASSERT_EQ(ev.size(), 2u);
  const Envelope& started = ev[0];
  ASSERT_TRUE(started.has_run_started());
  EXPECT_EQ(started.event_id(), ids::EventId("RunStarted", "job-a", "run-a/7"));
  EXPECT_EQ(started.run_started().run_id(), "run-a");
  EXPECT_EQ(started.run_started().executor_id(), "exec-1");
  EXPECT_EQ(started.run_started().lease_epoch(), 7);
  EXPECT_EQ(started.producer(), "executor/exec-1");
  EXPECT_EQ(started.correlation_id(), "corr-job-a");
  EXPECT_EQ(started.causation_id(), "dispatch-run-a-7");
  EXPECT_EQ(FromProto(started.occurred_at()), clock_.Now());

  const Envelope& done = ev[1];
  ASSERT_TRUE(done.has_run_succeeded());
  EXPECT_EQ(done.event_id(), ids::EventId("RunSucceeded", "job-a", "run-a/7"));
  EXPECT_EQ(done.run_succeeded().run_id(), "run-a");
  EXPECT_EQ(done.run_succeeded().executor_id(), "exec-1");
  EXPECT_EQ(done.run_succeeded().lease_epoch(), 7);
  EXPECT_EQ(done.run_succeeded().output(), "{\"job\":\"job-a\"}");
  EXPECT_EQ(done.run_succeeded().http_status(), 0);
  EXPECT_EQ(done.causation_id(), "dispatch-run-a-7");
  EXPECT_EQ(done.correlation_id(), "corr-job-a");
  ex->Stop();
}

TEST_F(ExecutorTest, RunsOnlyTasksAddressedToItsIdAndIncarnation) {
  auto ex = StartExecutor(Options());
  // Another executor sharing the partition, and an earlier life of this one.
  Dispatch(*ex, "exec-2", Task("job-other", "run-other"));
  v1::RunTask stale = Task("job-stale", "run-stale");
  stale.set_executor_id("exec-1");
  stale.set_executor_incarnation("0123456789abcdef0123456789abcdef");
  DispatchRaw(ex->task_partition(), stale.run_id(), events::Encode(stale));
  v1::RunTask stale_cancel = CancelOf(Task("job-mine", "run-mine", v1::JOB_TYPE_HTTP), "no");
  stale_cancel.set_executor_id("exec-1");
  stale_cancel.set_executor_incarnation("0123456789abcdef0123456789abcdef");
  // The partition is read in order: once `job-mine` ran, the others were seen.
  Dispatch(*ex, Task("job-mine", "run-mine", v1::JOB_TYPE_HTTP));
  ASSERT_TRUE(gate_->WaitStarted(1));
  DispatchRaw(ex->task_partition(), "run-mine", events::Encode(stale_cancel));
  Dispatch(*ex, Task("job-last", "run-last"));
  ASSERT_TRUE(AwaitResult("job-last").has_run_succeeded());
  gate_->ReleaseAll();
  ASSERT_TRUE(AwaitResult("job-mine").has_run_succeeded()) << "a foreign cancel must not count";
  EXPECT_TRUE(EventsOf("job-other").empty());
  EXPECT_TRUE(EventsOf("job-stale").empty());
  EXPECT_EQ(gate_->started_runs(), std::vector<std::string>{"run-mine"});
}

TEST_F(ExecutorTest, ReadsItsPartitionFromTheHighWatermarkAtStart) {
  // Nothing below the offset taken at Start can be meant for this
  // incarnation: it is not even read.
  const int32_t partition = TaskPartition("exec-1", kRunTaskPartitions);
  v1::RunTask old = Task("job-old", "run-old");
  old.set_executor_id("exec-1");
  DispatchRaw(partition, "run-old", events::Encode(old));
  DispatchRaw(partition, "run-old", events::Encode(old));
  SpyLog spy(log_);
  auto ex = StartExecutor(Options(), &spy);
  ASSERT_EQ(ex->task_partition(), partition);
  Dispatch(*ex, Task("job-new", "run-new"));
  ASSERT_TRUE(AwaitResult("job-new").has_run_succeeded());
  EXPECT_EQ(spy.offsets_read(), std::vector<int64_t>{2});
  EXPECT_TRUE(EventsOf("job-old").empty());
}

TEST_F(ExecutorTest, FailuresAreReportedAsRunFailed) {
  auto ex = StartExecutor(Options());
  Dispatch(*ex, Task("job-f", "run-f", v1::JOB_TYPE_FAIL));
  v1::RunTask permanent = Task("job-p", "run-p", v1::JOB_TYPE_FAIL);
  permanent.mutable_spec()->set_payload_json("{\"permanent\": true}");
  Dispatch(*ex, permanent);
  Dispatch(*ex, Task("job-u", "run-u", v1::JOB_TYPE_UNSPECIFIED));

  Envelope f = AwaitResult("job-f");
  ASSERT_TRUE(f.has_run_failed());
  EXPECT_EQ(f.event_id(), ids::EventId("RunFailed", "job-f", "run-f/1"));
  EXPECT_EQ(f.run_failed().kind(), v1::FAILURE_KIND_ERROR);
  EXPECT_EQ(f.run_failed().error(), "fail handler: this job always fails");
  EXPECT_EQ(f.run_failed().executor_id(), "exec-1");
  EXPECT_EQ(f.run_failed().lease_epoch(), 1);
  EXPECT_FALSE(f.run_failed().permanent());

  Envelope p = AwaitResult("job-p");
  ASSERT_TRUE(p.has_run_failed());
  EXPECT_TRUE(p.run_failed().permanent());

  Envelope u = AwaitResult("job-u");
  ASSERT_TRUE(u.has_run_failed());
  EXPECT_EQ(u.run_failed().kind(), v1::FAILURE_KIND_ERROR);
  EXPECT_EQ(u.run_failed().error(), "no handler for job type JOB_TYPE_UNSPECIFIED");
}

TEST_F(ExecutorTest, SlotsBoundConcurrency) {
  auto ex = StartExecutor(Options("exec-1", /*slots=*/2));
  constexpr int kTasks = 5;
  for (int i = 0; i < kTasks; ++i) {
    Dispatch(*ex, Task("job-" + std::to_string(i), "run-" + std::to_string(i), v1::JOB_TYPE_HTTP));
  }
  ASSERT_TRUE(gate_->WaitStarted(2));
  // Fetching is not bounded by slots: the rest waits in the local queue.
  ASSERT_TRUE(WaitFor([&] { return ex->held() == kTasks; }, kWait));
  EXPECT_EQ(ex->running(), 2);
  // Free one slot at a time: exactly one more run starts after each release.
  for (int done = 0; done < kTasks; ++done) {
    gate_->Release(gate_->started_runs().at(static_cast<size_t>(done)));
    if (done + 2 < kTasks) {
      ASSERT_TRUE(gate_->WaitStarted(static_cast<size_t>(done + 3)));
    }
    EXPECT_LE(ex->running(), 2);
  }
  for (int i = 0; i < kTasks; ++i) {
    EXPECT_TRUE(AwaitResult("job-" + std::to_string(i)).has_run_succeeded());
  }
  EXPECT_EQ(gate_->started_runs().size(), static_cast<size_t>(kTasks));
  EXPECT_EQ(gate_->max_running(), 2);
}

TEST_F(ExecutorTest, LocalQueueRunsHigherPriorityFirstThenInArrivalOrder) {
  auto ex = StartExecutor(Options("exec-1", /*slots=*/1));
  Dispatch(*ex, Task("job-blocker", "blocker", v1::JOB_TYPE_HTTP));
  ASSERT_TRUE(gate_->WaitStarted(1));
  const std::vector<std::pair<std::string, int>> queued = {
      {"p1", 1}, {"p5-first", 5}, {"p0", 0}, {"p9", 9}, {"p5-second", 5}, {"p-neg", -3}};
  for (const auto& [run, priority] : queued) {
    v1::RunTask t = Task("job-" + run, run, v1::JOB_TYPE_HTTP);
    t.mutable_spec()->set_priority(priority);
    Dispatch(*ex, t);
  }
  ASSERT_TRUE(WaitFor([&] { return ex->held() == 7; }, kWait));
  gate_->ReleaseAll();
  ASSERT_TRUE(gate_->WaitStarted(7));
  EXPECT_EQ(gate_->started_runs(), (std::vector<std::string>{"blocker", "p9", "p5-first",
                                                             "p5-second", "p1", "p0", "p-neg"}));
}

TEST_F(ExecutorTest, DuplicatesOfAHeldOrFinishedTaskRunOnce) {
  auto ex = StartExecutor(Options("exec-1", /*slots=*/2));
  const v1::RunTask first = Task("job-d", "run-d", v1::JOB_TYPE_HTTP, /*epoch=*/1);
  Dispatch(*ex, first);
  Dispatch(*ex, first);                                                   // same run and lease
  Dispatch(*ex, Task("job-d", "run-d", v1::JOB_TYPE_HTTP, /*epoch=*/2));  // a new lease runs
  ASSERT_TRUE(gate_->WaitStarted(2));
  gate_->ReleaseAll();
  ASSERT_TRUE(WaitFor([&] { return EventsOf("job-d").size() == 4; }, kWait));
  // A repeat after it finished here is ignored too.
  Dispatch(*ex, first);
  Dispatch(*ex, Task("job-e", "run-e"));
  ASSERT_TRUE(AwaitResult("job-e").has_run_succeeded());
  EXPECT_EQ(gate_->started_runs().size(), 2u);
  std::vector<Envelope> ev = EventsOf("job-d");
  ASSERT_EQ(ev.size(), 4u);
  std::set<std::string> ids;
  for (const Envelope& e : ev) ids.insert(e.event_id());
  EXPECT_EQ(ids.size(), 4u);
}

TEST_F(ExecutorTest, HeartbeatsReportCapacityPoolPartitionAndHeldRuns) {
  ExecutorOptions o = Options("exec-hb", /*slots=*/1);
  o.pool = "gpu";
  o.resources = {{"cpu", 4}, {"gpu_units", 1}};
  auto ex = StartExecutor(o);
  ASSERT_TRUE(WaitFor([&] { return !Heartbeats().empty(); }, kWait));
  v1::ExecutorHeartbeat first = Heartbeats().front();
  EXPECT_EQ(first.executor_id(), "exec-hb");
  EXPECT_EQ(first.slots(), 1);
  EXPECT_EQ(first.running(), 0);
  EXPECT_FALSE(first.stopping());
  EXPECT_EQ(first.pool(), "gpu");
  EXPECT_EQ(first.resources().size(), 2);
  EXPECT_EQ(first.resources().at("cpu"), 4);
  EXPECT_EQ(first.resources().at("gpu_units"), 1);
  EXPECT_EQ(first.incarnation(), ex->incarnation());
  EXPECT_EQ(first.task_partition(), TaskPartition("exec-hb", kRunTaskPartitions));
  EXPECT_FALSE(first.host().empty());
  EXPECT_EQ(FromProto(first.started_at()), clock_.Now());
  EXPECT_EQ(FromProto(first.sent_at()), clock_.Now());
  EXPECT_EQ(first.runs_size(), 0);

  // With the interval at an hour, only accepting and finishing send more.
  v1::RunTask a = Task("job-a", "run-a", v1::JOB_TYPE_HTTP, /*epoch=*/3);
  (*a.mutable_spec()->mutable_resources())["gpu_units"] = 1;
  Dispatch(*ex, "exec-hb", a);
  Dispatch(*ex, "exec-hb", Task("job-b", "run-b", v1::JOB_TYPE_HTTP));
  ASSERT_TRUE(gate_->WaitStarted(1));
  ASSERT_TRUE(WaitFor(
      [&] {
        const v1::ExecutorHeartbeat hb = Heartbeats().back();
        return hb.runs_size() == 2 && hb.running() == 1;
      },
      kWait));
  std::map<std::string, v1::HeldRun> runs;
  const v1::ExecutorHeartbeat busy = Heartbeats().back();
  for (const v1::HeldRun& r : busy.runs()) runs[r.run_id()] = r;
  ASSERT_EQ(runs.count("run-a"), 1u);
  EXPECT_EQ(runs["run-a"].lease_epoch(), 3);
  EXPECT_EQ(runs["run-a"].dispatcher_id(), "dispatcher-7");
  EXPECT_EQ(runs["run-a"].resources().at("gpu_units"), 1);
  EXPECT_TRUE(runs["run-a"].started());  // dispatched first, one slot
  ASSERT_EQ(runs.count("run-b"), 1u);
  EXPECT_FALSE(runs["run-b"].started());
  EXPECT_TRUE(runs["run-b"].resources().empty());

  gate_->ReleaseAll();
  ASSERT_TRUE(WaitFor([&] { return Heartbeats().back().runs_size() == 0; }, kWait));
  ex->Stop();
  v1::ExecutorHeartbeat last = Heartbeats().back();
  EXPECT_TRUE(last.stopping());
  EXPECT_EQ(last.running(), 0);
  EXPECT_EQ(last.runs_size(), 0);
  EXPECT_EQ(last.incarnation(), ex->incarnation());
}

TEST_F(ExecutorTest, CancelOfAQueuedTaskReportsCanceledWithoutRunningIt) {
  auto ex = StartExecutor(Options("exec-1", /*slots=*/1));
  Dispatch(*ex, Task("job-blocker", "blocker", v1::JOB_TYPE_HTTP));
  ASSERT_TRUE(gate_->WaitStarted(1));
  const v1::RunTask queued = Task("job-q", "run-q", v1::JOB_TYPE_HTTP, /*epoch=*/4);
  Dispatch(*ex, queued);
  ASSERT_TRUE(WaitFor([&] { return ex->held() == 2; }, kWait));
  Dispatch(*ex, CancelOf(queued, "user asked"));

  Envelope result = AwaitResult("job-q");
  ASSERT_TRUE(result.has_run_failed());
  EXPECT_EQ(result.event_id(), ids::EventId("RunFailed", "job-q", "run-q/4"));
  EXPECT_EQ(result.run_failed().kind(), v1::FAILURE_KIND_CANCELED);
  EXPECT_TRUE(result.run_failed().permanent());
  EXPECT_EQ(result.run_failed().error(), "canceled: user asked");
  EXPECT_EQ(result.run_failed().lease_epoch(), 4);
  EXPECT_EQ(EventsOf("job-q").size(), 1u) << "never started";
  EXPECT_TRUE(WaitFor([&] { return ex->held() == 1; }, kWait));  // forgotten after the append

  gate_->ReleaseAll();
  ASSERT_TRUE(AwaitResult("job-blocker").has_run_succeeded());
  EXPECT_EQ(gate_->started_runs(), std::vector<std::string>{"blocker"});
}

// With started_after, a run that ends sooner reports its result alone, and
// the result says when the handler began.
TEST_F(ExecutorTest, AQuickRunReportsItsResultWithoutRunStarted) {
  ExecutorOptions o = Options();
  o.started_after = std::chrono::hours(1);
  auto ex = StartExecutor(o);
  Dispatch(*ex, Task("job-a", "run-a", v1::JOB_TYPE_ECHO, /*epoch=*/3));
  ASSERT_TRUE(AwaitResult("job-a").has_run_succeeded());
  ASSERT_TRUE(WaitFor([&] { return ex->held() == 0; }, kWait));

  std::vector<Envelope> ev = EventsOf("job-a");
  ASSERT_EQ(ev.size(), 1u) << "no RunStarted for a run shorter than started_after";
  ASSERT_TRUE(ev[0].has_run_succeeded());
  EXPECT_EQ(FromProto(ev[0].run_succeeded().started_at()), clock_.Now());
}

// A handler still running after started_after gets its RunStarted then,
// stamped with the time it began, and before its result.
TEST_F(ExecutorTest, ALongRunIsAnnouncedOnceItOutlastsStartedAfter) {
  ExecutorOptions o = Options();
  o.started_after = milliseconds(30);
  auto ex = StartExecutor(o);
  const TimePoint began = clock_.Now();
  Dispatch(*ex, Task("job-x", "run-x", v1::JOB_TYPE_HTTP, /*epoch=*/2));
  ASSERT_TRUE(gate_->WaitStarted(1));
  clock_.Advance(std::chrono::seconds(5));  // the result's time differs from the start's
  ASSERT_TRUE(WaitFor([&] { return EventsOf("job-x").size() == 1; }, kWait))
      << "RunStarted while the handler still runs";
  std::vector<Envelope> ev = EventsOf("job-x");
  ASSERT_TRUE(ev[0].has_run_started());
  EXPECT_EQ(ev[0].event_id(), ids::EventId("RunStarted", "job-x", "run-x/2"));
  EXPECT_EQ(FromProto(ev[0].occurred_at()), began);

  gate_->ReleaseAll();
  ASSERT_TRUE(AwaitResult("job-x").has_run_succeeded());
  ev = EventsOf("job-x");
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(ev[0].has_run_started());
  ASSERT_TRUE(ev[1].has_run_succeeded());
  EXPECT_EQ(FromProto(ev[1].run_succeeded().started_at()), began);
  EXPECT_EQ(FromProto(ev[1].occurred_at()), began + std::chrono::seconds(5));
}

TEST_F(ExecutorTest, CancelOfARunningTaskAbortsTheHandler) {
  auto ex = StartExecutor(Options());
  const v1::RunTask task = SleepTask("job-s", "run-s", 600000);
  Dispatch(*ex, task);
  ASSERT_TRUE(WaitFor([&] { return EventsOf("job-s").size() == 1; }, kWait));  // RunStarted
  ASSERT_TRUE(WaitFor([&] { return ex->running() == 1; }, kWait));
  Dispatch(*ex, CancelOf(task, "user asked"));

  // The sleep lasts ten minutes: a result within the wait is the abort's.
  Envelope result = AwaitResult("job-s");
  ASSERT_TRUE(result.has_run_failed());
  EXPECT_EQ(result.event_id(), ids::EventId("RunFailed", "job-s", "run-s/1"));
  EXPECT_EQ(result.run_failed().kind(), v1::FAILURE_KIND_CANCELED);
  EXPECT_TRUE(result.run_failed().permanent());
  EXPECT_EQ(result.run_failed().error(), "canceled: user asked");
  EXPECT_LT(result.run_failed().duration_ms(), 600000);
  EXPECT_TRUE(WaitFor([&] { return ex->held() == 0; }, kWait));
}

TEST_F(ExecutorTest, CancelOfARunNotHeldHereIsIgnored) {
  auto ex = StartExecutor(Options());
  Dispatch(*ex, CancelOf(Task("job-x", "run-x"), "late"));
  const v1::RunTask next = Task("job-n", "run-n", v1::JOB_TYPE_ECHO, /*epoch=*/2);
  Dispatch(*ex, CancelOf(Task("job-n", "run-n", v1::JOB_TYPE_ECHO, /*epoch=*/1), "old lease"));
  Dispatch(*ex, next);
  ASSERT_TRUE(AwaitResult("job-n").has_run_succeeded());
  EXPECT_TRUE(EventsOf("job-x").empty());
  // A cancel after the run finished changes nothing either.
  Dispatch(*ex, CancelOf(next, "too late"));
  Dispatch(*ex, Task("job-z", "run-z"));
  ASSERT_TRUE(AwaitResult("job-z").has_run_succeeded());
  EXPECT_EQ(EventsOf("job-n").size(), 2u);
}

TEST_F(ExecutorTest, DefaultTimeoutAbortsTheHandlerAsTimedOut) {
  ExecutorOptions o = Options();
  o.default_timeout = std::chrono::seconds(1);
  auto ex = StartExecutor(o);
  Dispatch(*ex, SleepTask("job-t", "run-t", 600000));  // timeout_seconds 0: the default
  Envelope result = AwaitResult("job-t");
  ASSERT_TRUE(result.has_run_failed());
  EXPECT_EQ(result.run_failed().kind(), v1::FAILURE_KIND_TIMED_OUT);
  EXPECT_FALSE(result.run_failed().permanent());
  EXPECT_EQ(result.run_failed().error(), "timed out after 1 s");
  EXPECT_GE(result.run_failed().duration_ms(), 900);
}

TEST_F(ExecutorTest, StopLetsRunningHandlersFinishWithinTheGrace) {
  ExecutorOptions o = Options();
  o.stop_grace = milliseconds(10000);
  auto ex = StartExecutor(o);
  Dispatch(*ex, SleepTask("job-g", "run-g", 300));
  ASSERT_TRUE(WaitFor([&] { return ex->running() == 1; }, kWait));
  ex->Stop();
  std::vector<Envelope> ev = EventsOf("job-g");
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(ev[1].has_run_succeeded());
}

TEST_F(ExecutorTest, StopHandsBackRunningAndQueuedTasksWithRunReleased) {
  ExecutorOptions o = Options("exec-1", /*slots=*/1);
  o.stop_grace = milliseconds(100);
  auto ex = StartExecutor(o);
  Dispatch(*ex, SleepTask("job-s", "run-s", 600000));
  ASSERT_TRUE(WaitFor([&] { return ex->running() == 1; }, kWait));
  Dispatch(*ex, Task("job-q", "run-q", v1::JOB_TYPE_ECHO, /*epoch=*/5));
  ASSERT_TRUE(WaitFor([&] { return ex->held() == 2; }, kWait));
  ex->Stop();

  // The sleep was cancelled after the grace: handed back, no RunFailed (that
  // would spend an attempt).
  std::vector<Envelope> s = EventsOf("job-s");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_TRUE(s[0].has_run_started());
  ASSERT_TRUE(s[1].has_run_released());
  EXPECT_EQ(s[1].event_id(), ids::EventId("RunReleased", "job-s", "run-s/1"));
  EXPECT_EQ(s[1].run_released().run_id(), "run-s");
  EXPECT_EQ(s[1].run_released().lease_epoch(), 1);
  EXPECT_EQ(s[1].run_released().executor_id(), "exec-1");
  EXPECT_EQ(s[1].run_released().reason(), "executor stopping");
  EXPECT_EQ(s[1].causation_id(), "dispatch-run-s-1");

  // The queued one never started: handed back only.
  std::vector<Envelope> q = EventsOf("job-q");
  ASSERT_EQ(q.size(), 1u);
  ASSERT_TRUE(q[0].has_run_released());
  EXPECT_EQ(q[0].event_id(), ids::EventId("RunReleased", "job-q", "run-q/5"));

  std::vector<v1::ExecutorHeartbeat> hbs = Heartbeats();
  ASSERT_GE(hbs.size(), 2u);
  EXPECT_TRUE(std::any_of(hbs.begin(), hbs.end(), [](const v1::ExecutorHeartbeat& hb) {
    return hb.stopping() && hb.runs_size() > 0;  // told at once, while still holding runs
  }));
  const v1::ExecutorHeartbeat& last = hbs.back();
  EXPECT_TRUE(last.stopping());
  EXPECT_EQ(last.running(), 0);
  EXPECT_EQ(last.runs_size(), 0);
}

TEST_F(ExecutorTest, StopGivesUpAppendsThatKeepFailing) {
  ExecutorOptions o = Options();
  o.stop_grace = milliseconds(100);
  auto ex = StartExecutor(o);
  Dispatch(*ex, Task("job-x", "run-x", v1::JOB_TYPE_HTTP));
  ASSERT_TRUE(gate_->WaitStarted(1));
  ASSERT_TRUE(WaitFor([&] { return EventsOf("job-x").size() == 1; }, kWait));
  log_.FailNextAppends(1'000'000, Status::Unavailable("broker down"));
  gate_->ReleaseAll();
  ex->Stop();  // returns although nothing can be appended
  log_.FailNextAppends(0, Status::Ok());
  EXPECT_EQ(EventsOf("job-x").size(), 1u);  // RunStarted only
}

TEST_F(ExecutorTest, UndecodableTaskIsSkipped) {
  auto ex = StartExecutor(Options());
  DispatchRaw(ex->task_partition(), "junk", "not a task");
  Dispatch(*ex, Task("job-ok", "run-ok"));
  ASSERT_TRUE(AwaitResult("job-ok").has_run_succeeded());
  EXPECT_EQ(JobEventCount(), 2u);  // only the good task's events
}

TEST_F(ExecutorTest, StartRejectsBadOptions) {
  ExecutorOptions o = Options("", 2);
  Executor no_id(o, log_, clock_, registry_);
  EXPECT_EQ(no_id.Start().code(), ErrorCode::kInvalidArgument);
  o = Options("exec-1", 0);
  Executor no_slots(o, log_, clock_, registry_);
  EXPECT_EQ(no_slots.Start().code(), ErrorCode::kInvalidArgument);
  o = Options();
  o.resources = {{"cpu", -1}};
  Executor negative(o, log_, clock_, registry_);
  EXPECT_EQ(negative.Start().code(), ErrorCode::kInvalidArgument);
  o = Options();
  o.pool = "";
  Executor no_pool(o, log_, clock_, registry_);
  EXPECT_EQ(no_pool.Start().code(), ErrorCode::kInvalidArgument);
}

TEST(ParseResourcesTest, ParsesNamedAmounts) {
  auto r = ParseResources("cpu=4,memory_mb=8192, gpu_units = 1,disk.gb=0.5");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value(), (std::map<std::string, double>{
                           {"cpu", 4}, {"memory_mb", 8192}, {"gpu_units", 1}, {"disk.gb", 0.5}}));
  auto none = ParseResources("");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none.value().empty());
}

TEST(ParseResourcesTest, RejectsMalformedLists) {
  for (const char* bad : {"cpu", "cpu=", "=4", "cpu=four", "cpu=-1", "cpu=4,", "cpu=4,cpu=2",
                          "cpu=4;gpu=1", "c pu=1", "cpu=inf", "cpu=nan", "cpu=4x"}) {
    auto r = ParseResources(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace jobsched::executor
