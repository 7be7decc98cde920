#include "services/executor/executor.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>

#include "events/ids.h"
#include "services/common/logging.h"
#include "services/common/metrics.h"

namespace jobsched::executor {

using events::Record;
using events::TopicPartition;
using services::Log;
using services::LogJob;
using SteadyClock = std::chrono::steady_clock;
namespace level = spdlog::level;

namespace {

// The cancel reason of runs interrupted because the executor stops.
constexpr char kStopReason[] = "executor stopping";
// Records taken by one Poll.
constexpr size_t kPollBatch = 500;
constexpr std::chrono::milliseconds kWatermarkTimeout(10000);
// Handlers must return about a second after a cancel (handlers.h): cancelled
// runs get at least this long to report, even with a shorter stop grace.
constexpr std::chrono::milliseconds kMinReportGrace(1000);

// Where the group-less consumer starts: its listener's answer, asked in the
// first Poll (on the consumer thread, so set `offset` before that starts).
class StartAt final : public events::RebalanceListener {
 public:
  explicit StartAt(TopicPartition tp) : tp_(std::move(tp)) {}
  std::map<TopicPartition, int64_t> OnAssigned(const std::vector<TopicPartition>&) override {
    return {{tp_, offset}};
  }
  void OnRevoked(const std::vector<TopicPartition>&) override {}

  int64_t offset = events::kOffsetEnd;

 private:
  const TopicPartition tp_;
};

std::string ProducerName(const ExecutorOptions& options) {
  return "executor/" + options.executor_id;
}

std::string HostName() {
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) return "";
  return host;
}

// 32 random hex digits.
std::string NewIncarnation() {
  std::string id = RandomId();
  std::erase(id, '-');
  return id;
}

}  // namespace

int32_t TaskPartition(std::string_view executor_id, int32_t partitions) {
  uint32_t hash = 2166136261u;  // FNV-1a, 32 bit
  for (unsigned char c : executor_id) {
    hash ^= c;
    hash *= 16777619u;
  }
  return static_cast<int32_t>(hash % static_cast<uint32_t>(partitions));
}

Executor::Executor(ExecutorOptions options, events::EventLog& log, const Clock& clock,
                   const HandlerRegistry& handlers)
    : options_(std::move(options)),
      log_(log),
      clock_(clock),
      handlers_(handlers),
      logger_(services::GetLogger("executor")) {
  RegisterMetrics();
}

void Executor::RegisterMetrics() {
  prometheus::Registry* registry = options_.metrics;
  if (registry == nullptr) {
    own_metrics_ = std::make_shared<prometheus::Registry>();
    registry = own_metrics_.get();
  }
  static constexpr std::array<const char*, kOutcomes> kNames = {
      "succeeded", "failed", "http_status", "timed_out", "canceled", "released"};
  auto& runs = prometheus::BuildCounter()
                   .Name("jobsched_runs_total")
                   .Help("Runs this executor ended, by outcome (the result event it appended)")
                   .Register(*registry);
  auto& seconds = prometheus::BuildHistogram()
                      .Name("jobsched_run_duration_seconds")
                      .Help("Handler time of the runs this executor ran, by outcome")
                      .Register(*registry);
  for (int i = 0; i < kOutcomes; ++i) {
    runs_[i] = &runs.Add({{"outcome", kNames[i]}, {"pool", options_.pool}});
    run_seconds_[i] = &seconds.Add({{"outcome", kNames[i]}}, services::DurationBuckets());
  }
  drift_seconds_ = &prometheus::BuildHistogram()
                        .Name("jobsched_schedule_drift_seconds")
                        .Help(
                            "How late a run's handler started after the time the run was "
                            "scheduled for (RunTask.scheduled_for; 0 if early)")
                        .Register(*registry)
                        .Add({}, services::DurationBuckets());
  auto& slots = prometheus::BuildGauge()
                    .Name("jobsched_executor_slots")
                    .Help("This executor's slots (concurrent runs), used and free")
                    .Register(*registry);
  slots_used_ = &slots.Add({{"state", "used"}});
  slots_free_ = &slots.Add({{"state", "free"}});
  slots_free_->Set(options_.slots);
}

Executor::Outcome Executor::OutcomeOf(const events::Envelope& done) {
  if (done.has_run_succeeded()) return kSucceeded;
  if (done.has_run_released()) return kReleased;
  switch (done.run_failed().kind()) {
    case v1::FAILURE_KIND_HTTP_STATUS:
      return kHttpStatus;
    case v1::FAILURE_KIND_TIMED_OUT:
      return kTimedOut;
    case v1::FAILURE_KIND_CANCELED:
      return kCanceled;
    default:
      return kFailed;
  }
}

void Executor::CountRun(const events::Envelope& done, int64_t handler_ms) {
  const Outcome outcome = OutcomeOf(done);
  runs_[outcome]->Increment();
  if (handler_ms >= 0) run_seconds_[outcome]->Observe(static_cast<double>(handler_ms) / 1000.0);
}

Executor::~Executor() { Stop(); }

std::string Executor::TaskKey(const v1::RunTask& task) {
  return task.run_id() + "/" + std::to_string(task.lease_epoch());
}

Status Executor::Start() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (started_) return Status::Invalid("executor already started");
  if (options_.executor_id.empty()) return Status::Invalid("executor_id is empty");
  if (options_.slots < 1) return Status::Invalid("slots must be at least 1");
  if (options_.pool.empty()) return Status::Invalid("pool is empty");
  for (const auto& [name, amount] : options_.resources) {
    if (name.empty() || !std::isfinite(amount) || amount < 0) {
      return Status::Invalid("resource \"" + name + "\" needs a name and an amount >= 0");
    }
  }
  if (options_.heartbeat_interval.count() <= 0 || options_.poll_interval.count() <= 0 ||
      options_.default_timeout.count() <= 0) {
    return Status::Invalid("heartbeat and poll intervals and the default timeout must be positive");
  }
  auto partitions = log_.PartitionCount(options_.topics.run_tasks);
  if (!partitions.ok()) return partitions.status();
  if (partitions.value() <= 0) return Status::Invalid("run-tasks has no partitions");
  task_partition_ = TaskPartition(options_.executor_id, partitions.value());
  const TopicPartition tp{options_.topics.run_tasks, task_partition_};

  auto producer = log_.NewProducer(ProducerName(options_));
  if (!producer.ok()) return producer.status();
  producer_ = std::move(producer).value();
  auto listener = std::make_unique<StartAt>(tp);
  events::ConsumerOptions co;
  co.topics = {options_.topics.run_tasks};
  co.partitions = {tp};
  co.listener = listener.get();
  co.client_id = ProducerName(options_);
  co.profile = events::FetchProfile::kLatency;  // a task waits for nothing else
  auto consumer = log_.NewConsumer(co);
  if (!consumer.ok()) return consumer.status();
  // Taken before the first heartbeat: every task addressed to this
  // incarnation lands at or above it.
  auto wm = consumer.value()->QueryWatermarks(tp, kWatermarkTimeout);
  if (!wm.ok()) return wm.status();
  listener->offset = wm->high;
  const int64_t start_offset = wm->high;
  listener_ = std::move(listener);
  consumer_ = std::move(consumer).value();
  incarnation_ = NewIncarnation();
  host_ = HostName();
  started_at_ = clock_.Now();

  started_ = true;  // from here on Stop joins whatever was started
  for (int i = 0; i < options_.slots; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  consumer_thread_ = std::thread([this] { ConsumerLoop(); });
  heartbeat_thread_ = std::thread([this] { HeartbeatLoop(); });
  Log(*logger_, level::info, "executor started",
      {{"executor_id", options_.executor_id},
       {"incarnation", incarnation_},
       {"slots", std::to_string(options_.slots)},
       {"pool", options_.pool},
       {"task_partition", events::ToString(tp)},
       {"start_offset", std::to_string(start_offset)}});
  return Status::Ok();
}

bool Executor::Reachable() const {
  std::unique_lock<std::mutex> lifecycle(lifecycle_mu_, std::try_to_lock);
  if (!lifecycle.owns_lock() || !started_ || stopped_) return false;
  return producer_->Reachable();
}

void Executor::Stop() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (!started_ || stopped_) return;
  stopped_ = true;
  size_t queued = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    phase_ = Phase::kStopping;
    // Never started: handed back at once by the consumer thread.
    for (const auto& [order, key] : queue_) held_.at(key).state = HeldState::kReleasing;
    queued = queue_.size();
    queue_.clear();
    heartbeat_soon_ = true;  // stopping=true
  }
  work_cv_.notify_all();
  heartbeat_cv_.notify_all();
  progress_cv_.notify_all();
  Log(*logger_, level::info, "executor stopping",
      {{"executor_id", options_.executor_id}, {"handing_back_queued", std::to_string(queued)}});
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto idle = [&] { return held_.empty(); };
    if (!progress_cv_.wait_for(lock, options_.stop_grace, idle)) {
      int canceled = 0;
      for (auto& [key, held] : held_) {
        if (held.state != HeldState::kRunning) continue;
        held.cancel->Cancel(kStopReason);
        ++canceled;
      }
      Log(*logger_, level::warn, "grace period over: canceling running handlers to hand them back",
          {{"executor_id", options_.executor_id}, {"running", std::to_string(canceled)}});
      if (!progress_cv_.wait_for(lock, std::max(options_.stop_grace, kMinReportGrace), idle)) {
        Log(*logger_, level::err,
            "runs not reported after cancel: giving up their appends (the dispatcher's lease "
            "timeout recovers them)",
            {{"executor_id", options_.executor_id}, {"held", std::to_string(held_.size())}});
        phase_ = Phase::kGivingUp;
      }
    }
  }
  progress_cv_.notify_all();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    phase_ = Phase::kClosed;
  }
  progress_cv_.notify_all();
  heartbeat_cv_.notify_all();
  if (consumer_thread_.joinable()) consumer_thread_.join();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  v1::ExecutorHeartbeat last;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last = HeartbeatLocked();
  }
  // Whatever could not be reported is not held any more either.
  last.set_running(0);
  last.clear_runs();
  SendHeartbeat(last);
  // Results still in flight call back into this object: the producer goes
  // (flushing them, or failing them after its timeout) while it is alive.
  producer_.reset();
  Log(*logger_, level::info, "executor stopped", {{"executor_id", options_.executor_id}});
}

int Executor::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(std::count_if(held_.begin(), held_.end(), [](const auto& entry) {
    return entry.second.state == HeldState::kRunning;
  }));
}

int Executor::held() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(held_.size());
}

// ---------------------------------------------------------------------------
// Consumer thread.

void Executor::ConsumerLoop() {
  try {
    while (true) {
      ReleasePending();
      ReportFailedAppends();
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (phase_ == Phase::kClosed) break;
      }
      const std::chrono::milliseconds wait = AnnounceLongRuns();
      for (const Record& r : consumer_->Poll(kPollBatch, wait)) Accept(r);
    }
    consumer_->Close();
  } catch (const std::exception& e) {
    Log(*logger_, level::critical, "consumer thread failed", {{"error", e.what()}});
    throw;
  }
}

void Executor::Accept(const Record& record) {
  auto decoded = events::DecodeRunTask(record.value);
  if (!decoded.ok()) {
    // Nothing can run it; skipping is the only way forward. Logged loudly.
    Log(*logger_, level::err, "skipping undecodable run task",
        {{"partition", events::ToString({record.topic, record.partition})},
         {"offset", std::to_string(record.offset)},
         {"error", decoded.status().ToString()}});
    return;
  }
  auto task = std::make_shared<v1::RunTask>(std::move(decoded).value());
  if (task->executor_id() != options_.executor_id || task->executor_incarnation() != incarnation_) {
    // Other executors share the partition, and earlier incarnations of this
    // one were sent tasks too: not ours, and normal.
    LogJob(
        *logger_, level::debug, "ignoring run task addressed elsewhere", services::RefOf(*task),
        {{"to_executor", task->executor_id()}, {"to_incarnation", task->executor_incarnation()}});
    return;
  }
  if (task->cancel()) {
    Cancel(*task);
    return;
  }
  const std::string key = TaskKey(*task);
  if (task->spec().timeout_seconds() <= 0) {
    task->mutable_spec()->set_timeout_seconds(static_cast<int32_t>(
        std::min<int64_t>(options_.default_timeout.count(), std::numeric_limits<int32_t>::max())));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    const char* repeat = held_.count(key) != 0 ? "run task already held here; not running it twice"
                         : recent_.count(key) != 0 ? "run task already finished here; ignoring it"
                                                   : nullptr;
    if (repeat != nullptr) {
      LogJob(*logger_, level::info, repeat, services::RefOf(*task),
             {{"lease_epoch", std::to_string(task->lease_epoch())}});
      return;
    }
    Held held;
    held.cancel = std::make_shared<CancelToken>();
    if (phase_ == Phase::kRunning) {
      // Higher priority first, then arrival order.
      held.queue_key = {-static_cast<int64_t>(task->spec().priority()), arrivals_++};
      queue_.emplace(held.queue_key, key);
    } else {
      held.state = HeldState::kReleasing;  // stopping: handed back below
    }
    held.task = std::move(task);
    held_.emplace(key, std::move(held));
    heartbeat_soon_ = true;
  }
  work_cv_.notify_one();
  heartbeat_cv_.notify_all();
}

void Executor::Cancel(const v1::RunTask& message) {
  const std::string key = TaskKey(message);
  const std::string reason =
      message.cancel_reason().empty() ? "job canceled" : message.cancel_reason();
  std::shared_ptr<const v1::RunTask> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = held_.find(key);
    if (it == held_.end() || it->second.state == HeldState::kReleasing ||
        it->second.state == HeldState::kReporting || !it->second.cancel_reason.empty()) {
      LogJob(*logger_, level::debug, "ignoring cancel of a run not held here (or already handled)",
             services::RefOf(message), {{"lease_epoch", std::to_string(message.lease_epoch())}});
      return;
    }
    Held& held = it->second;
    held.cancel_reason = reason;
    if (held.state == HeldState::kRunning) {
      // The worker reports RunFailed CANCELED once the handler returns.
      held.cancel->Cancel(reason);
      LogJob(*logger_, level::info, "canceling running handler", services::RefOf(message),
             {{"reason", reason}});
      return;
    }
    queue_.erase(held.queue_key);
    dropped = held.task;
  }
  // Queued, never started: no RunStarted, just the canceled result.
  events::Envelope failed = RunEvent("RunFailed", *dropped);
  v1::RunFailed* f = failed.mutable_run_failed();
  f->set_run_id(dropped->run_id());
  f->set_executor_id(options_.executor_id);
  f->set_lease_epoch(dropped->lease_epoch());
  f->set_kind(v1::FAILURE_KIND_CANCELED);
  f->set_permanent(true);
  f->set_error("canceled: " + reason);
  if (AppendWithRetry("RunFailed", *dropped, failed)) {
    CountRun(failed, -1);
    LogJob(*logger_, level::info, "queued run canceled", services::RefOf(*dropped),
           {{"reason", reason}});
  }
  Finish(key);
}

void Executor::ReleasePending() {
  while (true) {
    std::string key;
    std::shared_ptr<const v1::RunTask> task;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = std::find_if(held_.begin(), held_.end(), [](const auto& entry) {
        return entry.second.state == HeldState::kReleasing;
      });
      if (it == held_.end()) return;
      key = it->first;
      task = it->second.task;
    }
    events::Envelope released = RunEvent("RunReleased", *task);
    v1::RunReleased* r = released.mutable_run_released();
    r->set_run_id(task->run_id());
    r->set_lease_epoch(task->lease_epoch());
    r->set_executor_id(options_.executor_id);
    r->set_reason(kStopReason);
    if (AppendWithRetry("RunReleased", *task, released)) {
      CountRun(released, -1);
      LogJob(*logger_, level::info, "queued run handed back", services::RefOf(*task));
    }
    Finish(key);
  }
}

// ---------------------------------------------------------------------------
// Worker threads.

void Executor::WorkerLoop() {
  try {
    while (true) {
      std::string key;
      std::shared_ptr<const v1::RunTask> task;
      std::shared_ptr<CancelToken> cancel;
      {
        std::unique_lock<std::mutex> lock(mu_);
        work_cv_.wait(lock, [&] { return phase_ != Phase::kRunning || !queue_.empty(); });
        if (phase_ != Phase::kRunning) return;
        key = queue_.begin()->second;
        queue_.erase(queue_.begin());
        Held& held = held_.at(key);
        held.state = HeldState::kRunning;
        task = held.task;
        cancel = held.cancel;
        heartbeat_soon_ = true;  // HeldRun.started changed
      }
      slots_used_->Increment();
      slots_free_->Decrement();
      heartbeat_cv_.notify_all();
      Execute(key, std::move(task), *cancel);
    }
  } catch (const std::exception& e) {
    Log(*logger_, level::critical, "worker thread failed", {{"error", e.what()}});
    throw;
  }
}

void Executor::AppendStarted(const v1::RunTask& task, const events::Envelope& started) {
  // Not awaited: the handler starts at once instead of after an ack round
  // trip. The result is appended after it under the same key, so the
  // idempotent producer keeps their order; should this append fail, the fold
  // accepts the result of a dispatched run without it.
  Record started_record;
  started_record.topic = options_.topics.job_events;
  started_record.key = task.job_id();
  started_record.value = events::Encode(started);
  producer_->AppendAsync(
      std::move(started_record),
      [logger = logger_, job_id = task.job_id(), run_id = task.run_id(),
       started_id = started.event_id(),
       correlation_id = task.correlation_id()](const Status& st, const Record&) {
        if (st.ok()) return;
        LogJob(*logger, level::warn, "RunStarted not appended; the run's result will stand alone",
               {job_id, run_id, started_id, correlation_id}, {{"error", st.ToString()}});
      });
}

std::chrono::milliseconds Executor::AnnounceLongRuns() {
  std::chrono::milliseconds wait = options_.poll_interval;
  const auto now = SteadyClock::now();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, held] : held_) {
    if (held.unannounced == nullptr || held.state != HeldState::kRunning) continue;
    if (held.announce_at > now) {
      wait = std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(held.announce_at - now));
      continue;
    }
    // Under mu_: the worker takes it to set kReporting before it appends the
    // result, so this RunStarted is enqueued first (same key, same order).
    AppendStarted(*held.task, *held.unannounced);
    held.unannounced.reset();
  }
  return wait;
}

void Executor::Execute(const std::string& key, std::shared_ptr<const v1::RunTask> task_ptr,
                       const CancelToken& cancel) {
  const v1::RunTask& task = *task_ptr;
  events::Envelope started = RunEvent("RunStarted", task);
  v1::RunStarted* rs = started.mutable_run_started();
  rs->set_run_id(task.run_id());
  rs->set_executor_id(options_.executor_id);
  rs->set_lease_epoch(task.lease_epoch());
  if (task.spec().execution_type() == v1::EXECUTION_TYPE_AT_MOST_ONCE) {
    // Awaited: should this process die once the handler began, the run must
    // be RUNNING in the log, so that its lost lease ends it LOST instead of
    // running it again.
    if (!AppendWithRetry("RunStarted", task, started)) {
      slots_used_->Decrement();
      slots_free_->Increment();
      Finish(key);  // not started; the dispatcher's lease timeout takes it back
      return;
    }
  } else if (options_.started_after.count() <= 0) {
    AppendStarted(task, started);
  } else {
    // Announced by the consumer thread should the handler still run then.
    std::lock_guard<std::mutex> lock(mu_);
    Held& held = held_.at(key);
    held.unannounced = std::make_shared<const events::Envelope>(started);
    held.announce_at = SteadyClock::now() + options_.started_after;
  }
  LogJob(*logger_, level::debug, "run started", services::RefOf(started),
         {{"attempt", std::to_string(task.attempt())},
          {"lease_epoch", std::to_string(task.lease_epoch())},
          {"type", v1::JobType_Name(task.spec().type())}});

  if (task.has_scheduled_for()) {
    const double late =
        std::chrono::duration<double>(clock_.Now() - FromProto(task.scheduled_for())).count();
    drift_seconds_->Observe(std::max(late, 0.0));
  }
  const auto t0 = SteadyClock::now();
  HandlerResult result;
  Handler* handler = handlers_.Find(task.spec().type());
  if (handler == nullptr) {
    result = HandlerResult::Failure(
        v1::FAILURE_KIND_ERROR, "no handler for job type " + v1::JobType_Name(task.spec().type()));
  } else {
    try {
      result = handler->Run(task, cancel);
    } catch (const std::exception& e) {
      // A handler bug must not take the executor down; the run fails with it.
      LogJob(*logger_, level::err, "handler threw", services::RefOf(task), {{"error", e.what()}});
      result =
          HandlerResult::Failure(v1::FAILURE_KIND_ERROR, std::string("handler threw: ") + e.what());
    }
  }
  if (result.duration_ms <= 0) {
    result.duration_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - t0).count();
  }
  std::string cancel_reason;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Held& held = held_.at(key);
    cancel_reason = held.cancel_reason;
    held.state = HeldState::kReporting;  // its slot is free: the worker takes the next task
    held.unannounced.reset();            // ended before its RunStarted was due: none
  }
  slots_used_->Decrement();
  slots_free_->Increment();

  const char* what = nullptr;
  events::Envelope done;
  if (result.ok) {
    what = "RunSucceeded";
    done = RunEvent(what, task);
    v1::RunSucceeded* s = done.mutable_run_succeeded();
    s->set_run_id(task.run_id());
    s->set_executor_id(options_.executor_id);
    s->set_lease_epoch(task.lease_epoch());
    s->set_http_status(result.http_status);
    s->set_output(BoundedOutput(result.output));
    s->set_duration_ms(result.duration_ms);
    *s->mutable_started_at() = started.occurred_at();
  } else if (cancel_reason.empty() && cancel.cancelled()) {
    // Interrupted by this executor's own stop, not by anything about the job:
    // hand it back, so a deploy does not spend the user's attempts.
    what = "RunReleased";
    done = RunEvent(what, task);
    v1::RunReleased* r = done.mutable_run_released();
    r->set_run_id(task.run_id());
    r->set_lease_epoch(task.lease_epoch());
    r->set_executor_id(options_.executor_id);
    r->set_reason(kStopReason);
  } else {
    what = "RunFailed";
    done = RunEvent(what, task);
    v1::RunFailed* f = done.mutable_run_failed();
    f->set_run_id(task.run_id());
    f->set_executor_id(options_.executor_id);
    f->set_lease_epoch(task.lease_epoch());
    f->set_http_status(result.http_status);
    f->set_output(BoundedOutput(result.output));
    f->set_duration_ms(result.duration_ms);
    *f->mutable_started_at() = started.occurred_at();
    if (!cancel_reason.empty()) {
      // Whatever the handler made of it, the job's cancel ended the run.
      f->set_kind(v1::FAILURE_KIND_CANCELED);
      f->set_permanent(true);
      f->set_error("canceled: " + cancel_reason);
    } else {
      f->set_kind(result.kind == v1::FAILURE_KIND_UNSPECIFIED ? v1::FAILURE_KIND_ERROR
                                                              : result.kind);
      f->set_permanent(result.permanent);
      f->set_retry_after_ms(std::max<int64_t>(result.retry_after_ms, 0));
      f->set_error(BoundedOutput(result.error));
    }
  }
  CountRun(done, result.duration_ms);
  Report(key, std::move(task_ptr), std::move(done));
}

void Executor::Report(const std::string& key, std::shared_ptr<const v1::RunTask> task,
                      events::Envelope done) {
  Record record;
  record.topic = options_.topics.job_events;
  record.key = task->job_id();
  record.value = events::Encode(done);
  producer_->AppendAsync(
      std::move(record), [this, key, task = std::move(task), done = std::move(done)](
                             const Status& st, const Record&) mutable {
        if (st.ok()) {
          LogReported(*task, done);
          Finish(key);
          return;
        }
        LogJob(*logger_, level::warn, "append failed; retrying", services::RefOf(done),
               {{"event", events::EventType(done)}, {"error", st.ToString()}});
        std::lock_guard<std::mutex> lock(mu_);
        unreported_.push_back({key, std::move(task), std::move(done)});
      });
}

void Executor::ReportFailedAppends() {
  std::vector<Unreported> failed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    failed.swap(unreported_);
  }
  for (Unreported& u : failed) {
    if (AppendWithRetry(events::EventType(u.done).data(), *u.task, u.done)) {
      LogReported(*u.task, u.done);
    }
    Finish(u.key);
  }
}

void Executor::LogReported(const v1::RunTask& task, const events::Envelope& done) const {
  const bool failed = done.has_run_failed();
  const int32_t http_status = failed                     ? done.run_failed().http_status()
                              : done.has_run_succeeded() ? done.run_succeeded().http_status()
                                                         : 0;
  const int64_t duration_ms = failed                     ? done.run_failed().duration_ms()
                              : done.has_run_succeeded() ? done.run_succeeded().duration_ms()
                                                         : 0;
  // A success is in the log and job_logs already; a line per success would
  // cost more than the run at thousands of runs a second.
  LogJob(*logger_,
         failed                     ? level::warn
         : done.has_run_succeeded() ? level::debug
                                    : level::info,
         done.has_run_succeeded()  ? "run succeeded"
         : done.has_run_released() ? "run handed back"
                                   : "run failed",
         services::RefOf(done),
         {{"http_status", http_status != 0 ? std::to_string(http_status) : ""},
          {"kind", failed ? v1::FailureKind_Name(done.run_failed().kind()) : ""},
          {"permanent", failed && done.run_failed().permanent() ? "true" : ""},
          {"error", failed ? done.run_failed().error() : ""},
          {"duration_ms", std::to_string(duration_ms)}});
}

// ---------------------------------------------------------------------------
// Any thread.

events::Envelope Executor::RunEvent(const char* type, const v1::RunTask& task) const {
  const events::Origin origin{ProducerName(options_), clock_.Now(), task.correlation_id(),
                              task.dispatch_event_id()};
  return events::MakeEnvelope(ids::EventId(type, task.job_id(), TaskKey(task)), task.job_id(),
                              origin);
}

bool Executor::AppendWithRetry(const char* what, const v1::RunTask& task,
                               const events::Envelope& envelope) {
  Record record;
  record.topic = options_.topics.job_events;
  record.key = task.job_id();
  record.value = events::Encode(envelope);
  std::chrono::milliseconds backoff(100);
  while (true) {
    Status st = producer_->Append({record});
    if (st.ok()) return true;
    LogJob(*logger_, level::warn, "append failed; retrying", services::RefOf(envelope),
           {{"event", what}, {"error", st.ToString()}});
    std::unique_lock<std::mutex> lock(mu_);
    if (progress_cv_.wait_for(lock, backoff, [&] { return phase_ >= Phase::kGivingUp; })) {
      LogJob(*logger_, level::err, "giving up append at stop", services::RefOf(envelope),
             {{"event", what}});
      return false;
    }
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(5));
  }
}

void Executor::Finish(const std::string& key) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    held_.erase(key);
    if (recent_.insert(key).second) {
      recent_order_.push_back(key);
      if (recent_order_.size() > kRecentlyFinished) {
        recent_.erase(recent_order_.front());
        recent_order_.pop_front();
      }
    }
    heartbeat_soon_ = true;
  }
  progress_cv_.notify_all();
  heartbeat_cv_.notify_all();
}

// ---------------------------------------------------------------------------
// Heartbeats.

void Executor::HeartbeatLoop() {
  try {
    std::unique_lock<std::mutex> lock(mu_);
    auto last = SteadyClock::now() - options_.heartbeat_interval;  // the first one at once
    while (phase_ != Phase::kClosed) {
      const auto now = SteadyClock::now();
      const auto next =
          last + (heartbeat_soon_ ? options_.heartbeat_min_gap : options_.heartbeat_interval);
      if (now < next) {
        heartbeat_cv_.wait_until(lock, next);
        continue;
      }
      heartbeat_soon_ = false;
      const v1::ExecutorHeartbeat heartbeat = HeartbeatLocked();
      last = now;
      lock.unlock();
      SendHeartbeat(heartbeat);
      lock.lock();
    }
  } catch (const std::exception& e) {
    Log(*logger_, level::critical, "heartbeat thread failed", {{"error", e.what()}});
    throw;
  }
}

v1::ExecutorHeartbeat Executor::HeartbeatLocked() const {
  v1::ExecutorHeartbeat hb;
  hb.set_executor_id(options_.executor_id);
  hb.set_slots(options_.slots);
  *hb.mutable_sent_at() = ToProto(clock_.Now());
  hb.set_stopping(phase_ != Phase::kRunning);
  hb.set_host(host_);
  hb.set_pool(options_.pool);
  hb.mutable_resources()->insert(options_.resources.begin(), options_.resources.end());
  hb.set_incarnation(incarnation_);
  hb.set_task_partition(task_partition_);
  *hb.mutable_started_at() = ToProto(started_at_);
  int running = 0;
  for (const auto& [key, held] : held_) {
    v1::HeldRun* run = hb.add_runs();
    run->set_run_id(held.task->run_id());
    run->set_lease_epoch(held.task->lease_epoch());
    run->set_dispatcher_id(held.task->dispatcher_id());
    *run->mutable_resources() = held.task->spec().resources();
    run->set_started(held.state == HeldState::kRunning || held.state == HeldState::kReporting);
    running += held.state == HeldState::kRunning ? 1 : 0;
  }
  hb.set_running(running);
  return hb;
}

void Executor::SendHeartbeat(const v1::ExecutorHeartbeat& heartbeat) {
  Record r;
  r.topic = options_.topics.executors;
  r.key = options_.executor_id;
  r.value = events::Encode(heartbeat);
  Status st = producer_->Append({std::move(r)});
  if (!st.ok()) {
    Log(*logger_, level::warn, "heartbeat append failed",
        {{"executor_id", options_.executor_id}, {"error", st.ToString()}});
  }
}

}  // namespace jobsched::executor
