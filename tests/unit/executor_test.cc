// Unit tests of the Executor on the in-memory event log. Handlers that must
// block are driven by the test (GateHandler); outcomes are awaited with
// WaitFor or condition variables, never fixed sleeps.
#include "services/executor/executor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "events/envelope.h"
#include "events/ids.h"
#include "events/memory_event_log.h"
#include "tests/support/wait.h"

namespace jobsched::executor {
namespace {

using events::Envelope;
using events::Record;
using events::TopicPartition;
using jobsched::testing::WaitFor;
using std::chrono::milliseconds;

constexpr milliseconds kWait(20000);
constexpr char kGroup[] = "jobsched-executor";

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
      return HandlerResult::Failure(v1::FAILURE_KIND_ERROR, "canceled: " + cancel.reason());
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

// Wraps an EventLog to observe what the executor's consumer does: commits
// (checked before they reach the log) and rebalance callbacks.
class SpyLog final : public events::EventLog {
 public:
  using CommitHook = std::function<void(const std::map<TopicPartition, int64_t>&)>;

  SpyLog(events::EventLog& inner, CommitHook on_commit)
      : inner_(inner), on_commit_(std::move(on_commit)) {}

  Result<std::unique_ptr<events::Producer>> NewProducer(const std::string& id) override {
    return inner_.NewProducer(id);
  }
  Result<std::unique_ptr<events::Consumer>> NewConsumer(
      const events::ConsumerOptions& options) override {
    listener_ = std::make_unique<Listener>(*this, options.listener);
    events::ConsumerOptions spied = options;
    spied.listener = listener_.get();
    auto inner = inner_.NewConsumer(spied);
    if (!inner.ok()) return inner.status();
    return std::unique_ptr<events::Consumer>(
        std::make_unique<Consumer>(*this, std::move(inner).value()));
  }
  Result<int> PartitionCount(const std::string& topic) override {
    return inner_.PartitionCount(topic);
  }

  int revokes() const { return revokes_; }
  int assigns() const { return assigns_; }

 private:
  class Listener final : public events::RebalanceListener {
   public:
    Listener(SpyLog& spy, events::RebalanceListener* inner) : spy_(spy), inner_(inner) {}
    std::map<TopicPartition, int64_t> OnAssigned(const std::vector<TopicPartition>& p) override {
      ++spy_.assigns_;
      return inner_->OnAssigned(p);
    }
    void OnRevoked(const std::vector<TopicPartition>& p) override {
      ++spy_.revokes_;
      inner_->OnRevoked(p);
    }

   private:
    SpyLog& spy_;
    events::RebalanceListener* inner_;
  };

  class Consumer final : public events::Consumer {
   public:
    Consumer(SpyLog& spy, std::unique_ptr<events::Consumer> inner)
        : spy_(spy), inner_(std::move(inner)) {}
    std::vector<Record> Poll(size_t max, milliseconds timeout) override {
      return inner_->Poll(max, timeout);
    }
    Status Commit(const std::map<TopicPartition, int64_t>& offsets) override {
      if (spy_.on_commit_) spy_.on_commit_(offsets);
      return inner_->Commit(offsets);
    }
    Result<events::Watermarks> QueryWatermarks(const TopicPartition& tp,
                                               milliseconds timeout) override {
      return inner_->QueryWatermarks(tp, timeout);
    }
    std::vector<TopicPartition> Assignment() override { return inner_->Assignment(); }
    void Close() override { inner_->Close(); }

   private:
    SpyLog& spy_;
    std::unique_ptr<events::Consumer> inner_;
  };

  events::EventLog& inner_;
  CommitHook on_commit_;
  std::unique_ptr<Listener> listener_;
  std::atomic<int> revokes_{0};
  std::atomic<int> assigns_{0};
};

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(log_.CreateTopic(topics_.job_events, 3).ok());
    ASSERT_TRUE(log_.CreateTopic(topics_.run_tasks, 1).ok());
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
    o.heartbeat_interval = std::chrono::hours(1);  // only the first and the last
    o.poll_interval = milliseconds(10);
    o.stop_grace = milliseconds(2000);
    o.revoke_grace = milliseconds(10000);
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
    return t;
  }

  void Dispatch(const v1::RunTask& t) { DispatchBytes(t.run_id(), events::Encode(t)); }

  void DispatchBytes(const std::string& key, std::string value) {
    Record r;
    r.topic = topics_.run_tasks;
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

  std::optional<int64_t> Committed() const {
    return log_.Committed(kGroup, {topics_.run_tasks, 0});
  }

  events::Topics topics_;
  events::MemoryEventLog log_;
  ManualClock clock_{FromUnixMillis(1'800'000'000'000)};
  std::shared_ptr<GateHandler> gate_ = std::make_shared<GateHandler>();
  HandlerRegistry registry_;
  std::unique_ptr<events::Producer> producer_;
};

TEST_F(ExecutorTest, RunsATaskAndReportsStartedAndSucceeded) {
  auto ex = StartExecutor(Options());
  Dispatch(Task("job-a", "run-a", v1::JOB_TYPE_ECHO, /*epoch=*/7));
  ASSERT_TRUE(WaitFor([&] { return Committed() == 1; }, kWait));

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

TEST_F(ExecutorTest, FailuresAreReportedAsRunFailed) {
  auto ex = StartExecutor(Options());
  Dispatch(Task("job-f", "run-f", v1::JOB_TYPE_FAIL));
  Dispatch(Task("job-u", "run-u", v1::JOB_TYPE_UNSPECIFIED));
  ASSERT_TRUE(WaitFor([&] { return Committed() == 2; }, kWait));

  std::vector<Envelope> f = EventsOf("job-f");
  ASSERT_EQ(f.size(), 2u);
  ASSERT_TRUE(f[1].has_run_failed());
  EXPECT_EQ(f[1].event_id(), ids::EventId("RunFailed", "job-f", "run-f/1"));
  EXPECT_EQ(f[1].run_failed().kind(), v1::FAILURE_KIND_ERROR);
  EXPECT_EQ(f[1].run_failed().error(), "fail handler: this job always fails");
  EXPECT_EQ(f[1].run_failed().executor_id(), "exec-1");

  std::vector<Envelope> u = EventsOf("job-u");
  ASSERT_EQ(u.size(), 2u);
  ASSERT_TRUE(u[1].has_run_failed());
  EXPECT_EQ(u[1].run_failed().kind(), v1::FAILURE_KIND_ERROR);
  EXPECT_EQ(u[1].run_failed().error(), "no handler for job type JOB_TYPE_UNSPECIFIED");
}

TEST_F(ExecutorTest, SlotsBoundConcurrency) {
  auto ex = StartExecutor(Options("exec-1", /*slots=*/2));
  constexpr int kTasks = 5;
  for (int i = 0; i < kTasks; ++i) {
    Dispatch(Task("job-" + std::to_string(i), "run-" + std::to_string(i), v1::JOB_TYPE_HTTP));
  }
  ASSERT_TRUE(gate_->WaitStarted(2));
  EXPECT_LE(ex->running(), 2);
  // Free one slot at a time: exactly one more run starts after each release.
  for (int done = 0; done < kTasks; ++done) {
    gate_->Release(gate_->started_runs().at(static_cast<size_t>(done)));
    if (done + 2 < kTasks) {
      ASSERT_TRUE(gate_->WaitStarted(static_cast<size_t>(done + 3)));
    }
    EXPECT_LE(ex->running(), 2);
  }
  ASSERT_TRUE(WaitFor([&] { return Committed() == kTasks; }, kWait));
  EXPECT_EQ(gate_->started_runs().size(), static_cast<size_t>(kTasks));
  EXPECT_EQ(gate_->max_running(), 2);
}

TEST_F(ExecutorTest, CommitsOnlyAfterResultsAreAppended) {
  // At every commit, each task below the committed offset must already have
  // its result on job-events.
  std::mutex mu;
  std::vector<std::string> violations;
  std::vector<int64_t> commits;
  SpyLog spy(log_, [&](const std::map<TopicPartition, int64_t>& offsets) {
    auto tasks = log_.Read({topics_.run_tasks, 0}).value();
    for (const auto& [tp, next] : offsets) {
      for (const Record& r : tasks) {
        if (r.offset >= next) continue;
        auto task = events::DecodeRunTask(r.value).value();
        auto ev = EventsOf(task.job_id());
        bool has_result = std::any_of(ev.begin(), ev.end(), [](const Envelope& e) {
          return e.has_run_succeeded() || e.has_run_failed();
        });
        std::lock_guard<std::mutex> lock(mu);
        if (!has_result) violations.push_back(task.run_id() + " committed without result");
      }
      std::lock_guard<std::mutex> lock(mu);
      commits.push_back(next);
    }
  });
  auto ex = StartExecutor(Options("exec-1", /*slots=*/2), &spy);
  ASSERT_TRUE(WaitFor([&] { return Heartbeats().size() == 1; }, kWait));
  Dispatch(Task("job-a", "run-a", v1::JOB_TYPE_HTTP));  // offset 0
  Dispatch(Task("job-b", "run-b", v1::JOB_TYPE_HTTP));  // offset 1
  ASSERT_TRUE(gate_->WaitStarted(2));
  ASSERT_TRUE(WaitFor([&] { return JobEventCount() == 2; }, kWait));  // both RunStarted

  // B finishes first, and its result needs retries: nothing may be committed
  // while A (offset 0) is unfinished.
  log_.FailNextAppends(3, Status::Unavailable("injected"));
  gate_->Release("run-b");
  ASSERT_TRUE(WaitFor([&] { return EventsOf("job-b").size() == 2; }, kWait));
  EXPECT_EQ(Committed(), std::nullopt);

  gate_->Release("run-a");
  ASSERT_TRUE(WaitFor([&] { return Committed() == 2; }, kWait));
  ex->Stop();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_TRUE(violations.empty()) << violations.front();
  ASSERT_FALSE(commits.empty());
  EXPECT_TRUE(std::is_sorted(commits.begin(), commits.end()));
}

TEST_F(ExecutorTest, RedeliveredTaskAfterACrashYieldsTheSameEventIds) {
  const v1::RunTask task = Task("job-r", "run-r", v1::JOB_TYPE_ECHO, /*epoch=*/2);
  {
    auto ex = StartExecutor(Options());
    Dispatch(task);
    ASSERT_TRUE(WaitFor([&] { return Committed() == 1; }, kWait));
  }
  // As if the process had died before its commit: a new process runs it again.
  log_.ResetCommitted(kGroup);
  auto ex = StartExecutor(Options());
  ASSERT_TRUE(WaitFor([&] { return Committed() == 1; }, kWait));
  std::vector<Envelope> ev = EventsOf("job-r");
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[2].event_id(), ev[0].event_id());
  EXPECT_EQ(ev[3].event_id(), ev[1].event_id());
  EXPECT_EQ(ev[2].event_id(), ids::EventId("RunStarted", "job-r", "run-r/2"));
  EXPECT_EQ(ev[3].event_id(), ids::EventId("RunSucceeded", "job-r", "run-r/2"));
}

TEST_F(ExecutorTest, RedeliveryOfATaskFinishedHereIsAcknowledgedWithoutRerun) {
  std::atomic<int> commits{0};
  SpyLog spy(log_, [&](const std::map<TopicPartition, int64_t>&) { ++commits; });
  auto ex = StartExecutor(Options(), &spy);
  Dispatch(Task("job-r", "run-r"));
  ASSERT_TRUE(WaitFor([&] { return Committed() == 1; }, kWait));
  const int commits_before = commits;
  ASSERT_TRUE(log_.RedeliverFrom(kGroup, {topics_.run_tasks, 0}, 0).ok());
  // The redelivered task is acknowledged again; a re-run would have appended
  // its events before that commit.
  ASSERT_TRUE(WaitFor([&] { return commits > commits_before && Committed() == 1; }, kWait));
  EXPECT_EQ(EventsOf("job-r").size(), 2u);
}

TEST_F(ExecutorTest, DuplicateOfARunningTaskRunsOnce) {
  const v1::RunTask first = Task("job-d", "run-d", v1::JOB_TYPE_HTTP, /*epoch=*/1);
  Dispatch(first);
  Dispatch(first);                                                   // same run and lease
  Dispatch(Task("job-d", "run-d", v1::JOB_TYPE_HTTP, /*epoch=*/2));  // a new lease runs
  auto ex = StartExecutor(Options("exec-1", /*slots=*/2));
  ASSERT_TRUE(gate_->WaitStarted(2));
  gate_->ReleaseAll();
  ASSERT_TRUE(WaitFor([&] { return Committed() == 3; }, kWait));
  EXPECT_EQ(gate_->started_runs().size(), 2u);
  std::vector<Envelope> ev = EventsOf("job-d");
  ASSERT_EQ(ev.size(), 4u);
  std::set<std::string> ids;
  for (const Envelope& e : ev) ids.insert(e.event_id());
  EXPECT_EQ(ids.size(), 4u);
}

TEST_F(ExecutorTest, HeartbeatsCarrySlotsAndRunningAndEndWithStopping) {
  ExecutorOptions o = Options("exec-hb", /*slots=*/3);
  o.heartbeat_interval = milliseconds(20);
  auto ex = StartExecutor(o);
  ASSERT_TRUE(WaitFor([&] { return Heartbeats().size() >= 3; }, kWait));
  v1::ExecutorHeartbeat first = Heartbeats().front();
  EXPECT_EQ(first.executor_id(), "exec-hb");
  EXPECT_EQ(first.slots(), 3);
  EXPECT_EQ(first.running(), 0);
  EXPECT_FALSE(first.stopping());
  EXPECT_EQ(FromProto(first.sent_at()), clock_.Now());

  Dispatch(Task("job-h", "run-h", v1::JOB_TYPE_HTTP));
  ASSERT_TRUE(WaitFor([&] { return Heartbeats().back().running() == 1; }, kWait));
  gate_->ReleaseAll();
  ex->Stop();
  v1::ExecutorHeartbeat last = Heartbeats().back();
  EXPECT_TRUE(last.stopping());
  EXPECT_EQ(last.running(), 0);
  EXPECT_EQ(last.slots(), 3);
}

TEST_F(ExecutorTest, StopCancelsHandlersAfterTheGracePeriod) {
  ExecutorOptions o = Options();
  o.stop_grace = milliseconds(100);
  auto ex = StartExecutor(o);
  v1::RunTask task = Task("job-s", "run-s", v1::JOB_TYPE_SLEEP);
  task.mutable_spec()->set_payload_json("{\"ms\":600000}");
  Dispatch(task);
  ASSERT_TRUE(WaitFor([&] { return EventsOf("job-s").size() == 1; }, kWait));
  ex->Stop();
  // Interrupted by the stop: no result (it would spend a retry), and the task
  // stays unacknowledged so the partition's next owner runs it again.
  std::vector<Envelope> ev = EventsOf("job-s");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(ev[0].has_run_started());
  EXPECT_EQ(Committed(), std::nullopt);
  EXPECT_TRUE(Heartbeats().back().stopping());

  // The next executor gets the task again and starts it under the same ids.
  ExecutorOptions o2 = Options("exec-2");
  o2.stop_grace = milliseconds(100);
  auto next = StartExecutor(o2);
  ASSERT_TRUE(WaitFor([&] { return EventsOf("job-s").size() == 2; }, kWait));
  ev = EventsOf("job-s");
  EXPECT_EQ(ev[1].event_id(), ev[0].event_id()) << "the same RunStarted again";
  next->Stop();
  EXPECT_EQ(EventsOf("job-s").size(), 2u);
  EXPECT_EQ(Committed(), std::nullopt);
}

TEST_F(ExecutorTest, StopLeavesTheTaskUnacknowledgedWhenItsResultCannotBeAppended) {
  ExecutorOptions o = Options();
  o.stop_grace = milliseconds(100);
  auto ex = StartExecutor(o);
  Dispatch(Task("job-x", "run-x", v1::JOB_TYPE_HTTP));
  ASSERT_TRUE(gate_->WaitStarted(1));
  ASSERT_TRUE(WaitFor([&] { return EventsOf("job-x").size() == 1; }, kWait));
  log_.FailNextAppends(1'000'000, Status::Unavailable("broker down"));
  gate_->ReleaseAll();
  ex->Stop();
  log_.FailNextAppends(0, Status::Ok());
  EXPECT_EQ(EventsOf("job-x").size(), 1u);  // RunStarted only
  EXPECT_EQ(Committed(), std::nullopt);     // delivered again to the next executor
}

TEST_F(ExecutorTest, UndecodableTaskIsSkipped) {
  auto ex = StartExecutor(Options());
  DispatchBytes("junk", "not a task");
  Dispatch(Task("job-ok", "run-ok"));
  ASSERT_TRUE(WaitFor([&] { return Committed() == 2; }, kWait));
  EXPECT_EQ(JobEventCount(), 2u);  // only the good task's events
}

TEST_F(ExecutorTest, RevokeWaitsForRunningTasksAndCommitsThem) {
  SpyLog spy(log_, nullptr);
  ExecutorOptions o1 = Options("exec-1", /*slots=*/1);
  auto ex1 = StartExecutor(o1, &spy);
  Dispatch(Task("job-v", "run-v", v1::JOB_TYPE_HTTP));
  ASSERT_TRUE(gate_->WaitStarted(1));

  // A second member joins: exec-1 must revoke while its only slot is busy.
  auto ex2 = StartExecutor(Options("exec-2", /*slots=*/1));
  ASSERT_TRUE(WaitFor([&] { return spy.revokes() >= 1; }, kWait));
  gate_->ReleaseAll();  // finishes inside the revoke's grace period
  ASSERT_TRUE(WaitFor([&] { return Committed() == 1; }, kWait));

  // Whoever owns the partition now continues from there without a re-run.
  Dispatch(Task("job-w", "run-w", v1::JOB_TYPE_ECHO));
  ASSERT_TRUE(WaitFor([&] { return Committed() == 2; }, kWait));
  EXPECT_EQ(gate_->started_runs().size(), 1u);
  EXPECT_EQ(EventsOf("job-v").size(), 2u);
}

TEST_F(ExecutorTest, TaskStillRunningAfterRevokeIsNotRunTwiceWhenItComesBack) {
  SpyLog spy(log_, nullptr);
  ExecutorOptions o1 = Options("exec-1", /*slots=*/2);
  o1.revoke_grace = milliseconds(20);
  auto ex1 = StartExecutor(o1, &spy);
  Dispatch(Task("job-v", "run-v", v1::JOB_TYPE_HTTP));
  ASSERT_TRUE(gate_->WaitStarted(1));

  // The memory log assigns range-style in join order, so run-tasks[0] goes
  // back to exec-1, which receives the unacknowledged task again while it
  // still runs.
  auto ex2 = StartExecutor(Options("exec-2", /*slots=*/2));
  ASSERT_TRUE(WaitFor([&] { return spy.revokes() >= 1 && spy.assigns() >= 2; }, kWait));
  gate_->ReleaseAll();
  ASSERT_TRUE(WaitFor([&] { return Committed() == 1; }, kWait));
  EXPECT_EQ(gate_->started_runs().size(), 1u);
  EXPECT_EQ(EventsOf("job-v").size(), 2u);
}

TEST_F(ExecutorTest, StartRejectsBadOptions) {
  ExecutorOptions o = Options("", 2);
  Executor no_id(o, log_, clock_, registry_);
  EXPECT_EQ(no_id.Start().code(), ErrorCode::kInvalidArgument);
  o = Options("exec-1", 0);
  Executor no_slots(o, log_, clock_, registry_);
  EXPECT_EQ(no_slots.Start().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace jobsched::executor
