#include "services/executor/executor.h"

#include <algorithm>
#include <exception>
#include <set>
#include <string_view>

#include "events/envelope.h"
#include "events/ids.h"
#include "services/common/logging.h"

namespace jobsched::executor {

using events::Record;
using events::TopicPartition;
using services::Log;
using SteadyClock = std::chrono::steady_clock;

// The cancel reason of runs interrupted because the executor stops.
constexpr char kStopReason[] = "executor stopping";
namespace level = spdlog::level;

class Executor::Listener final : public events::RebalanceListener {
 public:
  explicit Listener(Executor& executor) : executor_(executor) {}
  std::map<TopicPartition, int64_t> OnAssigned(const std::vector<TopicPartition>& parts) override {
    return executor_.OnAssigned(parts);
  }
  void OnRevoked(const std::vector<TopicPartition>& parts) override { executor_.OnRevoked(parts); }

 private:
  Executor& executor_;
};

namespace {

std::string ProducerName(const ExecutorOptions& options) {
  return "executor/" + options.executor_id;
}

std::string Cause(const v1::RunTask& task) {
  return task.run_id() + "/" + std::to_string(task.lease_epoch());
}

}  // namespace

Executor::Executor(ExecutorOptions options, events::EventLog& log, const Clock& clock,
                   const HandlerRegistry& handlers)
    : options_(std::move(options)),
      log_(log),
      clock_(clock),
      handlers_(handlers),
      logger_(services::GetLogger("executor")) {}

Executor::~Executor() { Stop(); }

std::string Executor::TaskKey(const v1::RunTask& task) { return Cause(task); }

Status Executor::Start() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (started_) return Status::Invalid("executor already started");
  if (options_.executor_id.empty()) return Status::Invalid("executor_id is empty");
  if (options_.slots < 1) return Status::Invalid("slots must be at least 1");
  if (options_.heartbeat_interval.count() <= 0 || options_.poll_interval.count() <= 0) {
    return Status::Invalid("heartbeat and poll intervals must be positive");
  }
  auto producer = log_.NewProducer(ProducerName(options_));
  if (!producer.ok()) return producer.status();
  producer_ = std::move(producer).value();
  listener_ = std::make_unique<Listener>(*this);
  events::ConsumerOptions co;
  co.group_id = options_.group_id;
  co.topics = {options_.topics.run_tasks};
  co.listener = listener_.get();
  co.client_id = ProducerName(options_);
  auto consumer = log_.NewConsumer(co);
  if (!consumer.ok()) return consumer.status();
  consumer_ = std::move(consumer).value();

  started_ = true;  // from here on Stop joins whatever was started
  for (int i = 0; i < options_.slots; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  consumer_thread_ = std::thread([this] { ConsumerLoop(); });
  heartbeat_thread_ = std::thread([this] { HeartbeatLoop(); });
  Log(*logger_, level::info, "executor started",
      {{"executor_id", options_.executor_id},
       {"slots", std::to_string(options_.slots)},
       {"topic", options_.topics.run_tasks},
       {"group_id", options_.group_id}});
  return Status::Ok();
}

void Executor::Stop() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (!started_ || stopped_) return;
  stopped_ = true;
  size_t abandoned = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    // Tasks not yet started stay unacknowledged and go to another executor.
    for (const Work& w : queue_) active_.erase(w.key);
    abandoned = queue_.size();
    queue_.clear();
  }
  heartbeat_cv_.notify_all();
  progress_cv_.notify_all();
  Log(*logger_, level::info, "executor stopping",
      {{"executor_id", options_.executor_id}, {"abandoned_queued", std::to_string(abandoned)}});
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto idle = [&] { return active_.empty(); };
    if (!progress_cv_.wait_for(lock, options_.stop_grace, idle)) {
      Log(*logger_, level::warn, "grace period over: canceling running handlers",
          {{"executor_id", options_.executor_id}, {"running", std::to_string(active_.size())}});
      for (auto& [key, active] : active_) active.cancel->Cancel(kStopReason);
      if (!progress_cv_.wait_for(lock, options_.stop_grace, idle)) {
        Log(*logger_, level::err,
            "handlers did not report after cancel: giving up their appends (they will run again)",
            {{"executor_id", options_.executor_id}, {"running", std::to_string(active_.size())}});
        give_up_appends_ = true;
      }
    }
    workers_exit_ = true;
  }
  work_cv_.notify_all();
  progress_cv_.notify_all();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    consumer_exit_ = true;
  }
  progress_cv_.notify_all();
  if (consumer_thread_.joinable()) consumer_thread_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    heartbeat_exit_ = true;
  }
  heartbeat_cv_.notify_all();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  SendHeartbeat(/*stopping=*/true, /*running=*/0);
  Log(*logger_, level::info, "executor stopped", {{"executor_id", options_.executor_id}});
}

int Executor::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(active_.size());
}

// ---------------------------------------------------------------------------
// Consumer thread.

void Executor::ConsumerLoop() {
  try {
    const auto slots = static_cast<size_t>(options_.slots);
    auto last_commit = SteadyClock::now();
    while (true) {
      MarkFinished();
      if (SteadyClock::now() - last_commit >= options_.commit_interval) {
        CommitFinished(nullptr);
        last_commit = SteadyClock::now();
      }
      size_t free = 0;
      bool stopping = false;
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (consumer_exit_) break;
        stopping = stopping_;
        free = stopping ? 0 : slots - std::min(slots, active_.size());
        if (free == 0) {
          // Every slot is taken (or we are stopping): fetch nothing, wake up
          // for the next finished task or slot.
          progress_cv_.wait_for(lock, options_.poll_interval, [&] {
            return consumer_exit_ || !finished_offsets_.empty() ||
                   (!stopping_ && active_.size() < slots);
          });
        }
      }
      if (free == 0) {
        // Poll for no records: runs the group protocol (rebalance callbacks,
        // liveness) while all slots are busy with long runs. While stopping
        // the group is left alone until Close.
        if (!stopping) consumer_->Poll(0, std::chrono::milliseconds(0));
        continue;
      }
      std::vector<Record> records = consumer_->Poll(free, options_.poll_interval);
      for (const Record& r : records) Accept(r);
    }
    MarkFinished();
    CommitFinished(nullptr);
    consumer_->Close();  // revokes through OnRevoked, which commits the rest
  } catch (const std::exception& e) {
    Log(*logger_, level::critical, "consumer thread failed", {{"error", e.what()}});
    throw;
  }
}

void Executor::Accept(const Record& record) {
  const TopicPartition tp{record.topic, record.partition};
  PartitionProgress& progress = progress_[tp];
  bool& finished = progress.offsets[record.offset];
  finished = false;
  auto decoded = events::DecodeRunTask(record.value);
  if (!decoded.ok()) {
    // Nothing can run it; skipping is the only way forward. Logged loudly.
    Log(*logger_, level::err, "skipping undecodable run task",
        {{"partition", events::ToString(tp)},
         {"offset", std::to_string(record.offset)},
         {"error", decoded.status().ToString()}});
    finished = true;
    return;
  }
  v1::RunTask task = std::move(decoded).value();
  const std::string key = TaskKey(task);
  const Offset origin{tp, record.offset};
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;  // stays unacknowledged
    if (auto it = active_.find(key); it != active_.end()) {
      // Same run and lease already queued or running here: its result will
      // acknowledge this copy too.
      it->second.offsets.push_back(origin);
      Log(*logger_, level::info, "run task already running here; not running it twice",
          {{"job_id", task.job_id()},
           {"run_id", task.run_id()},
           {"lease_epoch", std::to_string(task.lease_epoch())},
           {"offset", std::to_string(record.offset)}});
      return;
    }
    if (recent_.count(key) != 0) {
      finished = true;
      Log(*logger_, level::info, "run task already finished here; acknowledging it",
          {{"job_id", task.job_id()},
           {"run_id", task.run_id()},
           {"lease_epoch", std::to_string(task.lease_epoch())},
           {"offset", std::to_string(record.offset)}});
      return;
    }
    Active active;
    active.cancel = std::make_shared<CancelToken>();
    active.offsets.push_back(origin);
    queue_.push_back(Work{std::move(task), key, origin, active.cancel});
    active_.emplace(key, std::move(active));
  }
  work_cv_.notify_one();
}

void Executor::MarkFinished() {
  std::vector<Offset> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    finished.swap(finished_offsets_);
  }
  for (const Offset& o : finished) {
    auto p = progress_.find(o.tp);
    if (p == progress_.end()) continue;  // revoked since: the new owner redoes it
    auto it = p->second.offsets.find(o.offset);
    if (it != p->second.offsets.end()) it->second = true;
  }
}

void Executor::CommitFinished(const std::vector<TopicPartition>* only) {
  std::map<TopicPartition, int64_t> commit;
  auto collect = [&](const TopicPartition& tp, PartitionProgress& p) {
    bool advanced = false;
    while (!p.offsets.empty() && p.offsets.begin()->second) {
      p.finished_upto = p.offsets.begin()->first + 1;
      p.offsets.erase(p.offsets.begin());
      advanced = true;
    }
    // Also when not beyond `committed`: records delivered again (the group's
    // offset was moved back) are acknowledged again.
    if (advanced || p.finished_upto > p.committed) commit[tp] = p.finished_upto;
  };
  if (only == nullptr) {
    for (auto& [tp, p] : progress_) collect(tp, p);
  } else {
    for (const TopicPartition& tp : *only) {
      if (auto it = progress_.find(tp); it != progress_.end()) collect(tp, it->second);
    }
  }
  if (commit.empty()) return;
  Status st = consumer_->Commit(commit);
  if (!st.ok()) {
    // `committed` stays behind `finished_upto`, so the next call retries.
    Log(*logger_, level::warn, "offset commit failed; will retry", {{"error", st.ToString()}});
    return;
  }
  for (const auto& [tp, next] : commit) progress_[tp].committed = next;
}

std::map<TopicPartition, int64_t> Executor::OnAssigned(const std::vector<TopicPartition>& parts) {
  std::string names;
  for (const TopicPartition& tp : parts) {
    progress_[tp] = PartitionProgress{};
    names += (names.empty() ? "" : ",") + events::ToString(tp);
  }
  Log(*logger_, level::info, "partitions assigned", {{"partitions", names}});
  return {};  // start each at the group's committed offset
}

void Executor::OnRevoked(const std::vector<TopicPartition>& parts) {
  const std::set<TopicPartition> revoked(parts.begin(), parts.end());
  size_t left_running = 0;
  {
    std::unique_lock<std::mutex> lock(mu_);
    // Not started yet: leave them to the partition's next owner.
    std::erase_if(queue_, [&](const Work& w) {
      if (revoked.count(w.origin.tp) == 0) return false;
      active_.erase(w.key);
      return true;
    });
    auto running_in_revoked = [&] {
      size_t n = 0;
      for (const auto& [key, a] : active_) {
        n += std::any_of(a.offsets.begin(), a.offsets.end(),
                         [&](const Offset& o) { return revoked.count(o.tp) != 0; });
      }
      return n;
    };
    progress_cv_.wait_for(lock, options_.revoke_grace, [&] { return running_in_revoked() == 0; });
    left_running = running_in_revoked();
  }
  MarkFinished();
  CommitFinished(&parts);
  std::string names;
  for (const TopicPartition& tp : parts) {
    progress_.erase(tp);
    names += (names.empty() ? "" : ",") + events::ToString(tp);
  }
  Log(*logger_, left_running == 0 ? level::info : level::warn, "partitions revoked",
      {{"partitions", names}, {"unacknowledged_running", std::to_string(left_running)}});
}

// ---------------------------------------------------------------------------
// Worker threads.

void Executor::WorkerLoop() {
  try {
    while (true) {
      Work work;
      {
        std::unique_lock<std::mutex> lock(mu_);
        work_cv_.wait(lock, [&] { return workers_exit_ || !queue_.empty(); });
        if (queue_.empty()) return;
        work = std::move(queue_.front());
        queue_.pop_front();
      }
      Execute(work);
    }
  } catch (const std::exception& e) {
    Log(*logger_, level::critical, "worker thread failed", {{"error", e.what()}});
    throw;
  }
}

void Executor::Execute(const Work& work) {
  const v1::RunTask& task = work.task;
  const CancelToken& cancel = *work.cancel;
  auto job_event = [&](const events::Envelope& envelope) {
    Record r;
    r.topic = options_.topics.job_events;
    r.key = task.job_id();
    r.value = events::Encode(envelope);
    return r;
  };
  events::Origin origin{ProducerName(options_), clock_.Now(), task.correlation_id(),
                        task.dispatch_event_id()};

  const std::string started_id = ids::EventId("RunStarted", task.job_id(), Cause(task));
  events::Envelope started = events::MakeEnvelope(started_id, task.job_id(), origin);
  v1::RunStarted* rs = started.mutable_run_started();
  rs->set_run_id(task.run_id());
  rs->set_executor_id(options_.executor_id);
  rs->set_lease_epoch(task.lease_epoch());
  // Not awaited: the handler starts at once instead of after an ack round
  // trip. The result is appended after it under the same key, so the
  // idempotent producer keeps their order; should this append fail, the fold
  // accepts the result of a dispatched run without it.
  producer_->AppendAsync(
      job_event(started), [logger = logger_, job_id = task.job_id(), run_id = task.run_id(),
                           started_id](const Status& st, const Record&) {
        if (st.ok()) return;
        Log(*logger, level::warn, "RunStarted not appended; the run's result will stand alone",
            {{"job_id", job_id}, {"run_id", run_id}, {"event_id", started_id},
             {"error", st.ToString()}});
      });
  Log(*logger_, level::debug, "run started",
      {{"job_id", task.job_id()},
       {"run_id", task.run_id()},
       {"event_id", started_id},
       {"attempt", std::to_string(task.attempt())},
       {"lease_epoch", std::to_string(task.lease_epoch())},
       {"type", v1::JobType_Name(task.spec().type())}});

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
      Log(*logger_, level::err, "handler threw",
          {{"job_id", task.job_id()}, {"run_id", task.run_id()}, {"error", e.what()}});
      result =
          HandlerResult::Failure(v1::FAILURE_KIND_ERROR, std::string("handler threw: ") + e.what());
    }
  }
  if (!result.ok && cancel.cancelled() && cancel.reason() == kStopReason) {
    // Interrupted by this executor's own stop, not by anything about the job:
    // report nothing and leave the task unacknowledged, so the partition's
    // next owner runs it again under the same ids. A deploy must not spend
    // the user's retries.
    Log(*logger_, level::warn, "run interrupted by the executor's stop; it will run again",
        {{"job_id", task.job_id()}, {"run_id", task.run_id()}});
    Finish(work.key, /*appended=*/false);
    return;
  }
  if (result.duration_ms <= 0) {
    result.duration_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - t0).count();
  }
  // Enforce the output contract for any handler (Protobuf needs UTF-8).
  result.output = BoundedOutput(result.output);
  result.error = BoundedOutput(result.error);

  origin.occurred_at = clock_.Now();
  std::string event_id;
  events::Envelope done;
  if (result.ok) {
    event_id = ids::EventId("RunSucceeded", task.job_id(), Cause(task));
    done = events::MakeEnvelope(event_id, task.job_id(), origin);
    v1::RunSucceeded* s = done.mutable_run_succeeded();
    s->set_run_id(task.run_id());
    s->set_executor_id(options_.executor_id);
    s->set_lease_epoch(task.lease_epoch());
    s->set_http_status(result.http_status);
    s->set_output(result.output);
    s->set_duration_ms(result.duration_ms);
  } else {
    event_id = ids::EventId("RunFailed", task.job_id(), Cause(task));
    done = events::MakeEnvelope(event_id, task.job_id(), origin);
    v1::RunFailed* f = done.mutable_run_failed();
    f->set_run_id(task.run_id());
    f->set_executor_id(options_.executor_id);
    f->set_lease_epoch(task.lease_epoch());
    f->set_kind(result.kind == v1::FAILURE_KIND_UNSPECIFIED ? v1::FAILURE_KIND_ERROR : result.kind);
    f->set_http_status(result.http_status);
    f->set_error(result.error);
    f->set_output(result.output);
    f->set_duration_ms(result.duration_ms);
  }
  const char* what = result.ok ? "RunSucceeded" : "RunFailed";
  const bool appended = AppendWithRetry(what, task, event_id, job_event(done));
  if (appended) {
    Log(*logger_, result.ok ? level::info : level::warn, result.ok ? "run succeeded" : "run failed",
        {{"job_id", task.job_id()},
         {"run_id", task.run_id()},
         {"event_id", event_id},
         {"http_status", result.http_status != 0 ? std::to_string(result.http_status) : ""},
         {"kind", result.ok ? "" : v1::FailureKind_Name(done.run_failed().kind())},
         {"error", result.error},
         {"duration_ms", std::to_string(result.duration_ms)}});
  }
  Finish(work.key, appended);
}

bool Executor::AppendWithRetry(const std::string& what, const v1::RunTask& task,
                               const std::string& event_id, Record record) {
  std::chrono::milliseconds backoff(100);
  while (true) {
    Status st = producer_->Append({record});
    if (st.ok()) return true;
    Log(*logger_, level::warn, "append failed; retrying",
        {{"job_id", task.job_id()},
         {"run_id", task.run_id()},
         {"event_id", event_id},
         {"event", what},
         {"error", st.ToString()}});
    std::unique_lock<std::mutex> lock(mu_);
    if (progress_cv_.wait_for(lock, backoff, [&] { return give_up_appends_; })) {
      Log(*logger_, level::err, "giving up append at stop; the task stays unacknowledged",
          {{"job_id", task.job_id()},
           {"run_id", task.run_id()},
           {"event_id", event_id},
           {"event", what}});
      return false;
    }
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(5));
  }
}

void Executor::Finish(const std::string& key, bool appended) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = active_.find(key);
    if (it != active_.end()) {
      if (appended) {
        finished_offsets_.insert(finished_offsets_.end(), it->second.offsets.begin(),
                                 it->second.offsets.end());
      }
      active_.erase(it);
    }
    if (appended && recent_.insert(key).second) {
      recent_order_.push_back(key);
      if (recent_order_.size() > kRecentlyFinished) {
        recent_.erase(recent_order_.front());
        recent_order_.pop_front();
      }
    }
  }
  progress_cv_.notify_all();
}

// ---------------------------------------------------------------------------
// Heartbeats.

void Executor::HeartbeatLoop() {
  try {
    std::unique_lock<std::mutex> lock(mu_);
    while (!heartbeat_exit_) {
      const bool stopping = stopping_;
      const int running = static_cast<int>(active_.size());
      lock.unlock();
      SendHeartbeat(stopping, running);
      lock.lock();
      heartbeat_cv_.wait_for(lock, options_.heartbeat_interval,
                             [&] { return heartbeat_exit_ || stopping_ != stopping; });
    }
  } catch (const std::exception& e) {
    Log(*logger_, level::critical, "heartbeat thread failed", {{"error", e.what()}});
    throw;
  }
}

void Executor::SendHeartbeat(bool stopping, int running) {
  v1::ExecutorHeartbeat hb;
  hb.set_executor_id(options_.executor_id);
  hb.set_slots(options_.slots);
  hb.set_running(running);
  *hb.mutable_sent_at() = ToProto(clock_.Now());
  hb.set_stopping(stopping);
  Record r;
  r.topic = options_.topics.executors;
  r.key = options_.executor_id;
  r.value = events::Encode(hb);
  Status st = producer_->Append({std::move(r)});
  if (!st.ok()) {
    Log(*logger_, level::warn, "heartbeat append failed",
        {{"executor_id", options_.executor_id}, {"error", st.ToString()}});
  }
}

}  // namespace jobsched::executor
