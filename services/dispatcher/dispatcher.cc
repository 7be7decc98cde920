#include "services/dispatcher/dispatcher.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "events/fold.h"
#include "events/ids.h"
#include "services/common/logging.h"
#include "services/common/metrics.h"

namespace jobsched::dispatcher {

using events::Envelope;
using events::JobState;
using services::Log;
using services::LogJob;

namespace {

// Queued runs examined per turn when the head does not fit (backfill).
constexpr size_t kMaxScan = 10'000;

std::string LeaseKey(const std::string& run_id, int64_t epoch) {
  return run_id + "/" + std::to_string(epoch);
}

// Events after which a run in flight must be aborted on its executor.
bool Cancels(const Envelope& e) {
  return e.has_job_canceled() || e.has_delete_requested() || e.has_run_canceled();
}

Need NeedOf(const v1::JobSpec& spec) { return Need{spec.pool(), ToResources(spec.resources())}; }

// Priorities are 0..10 (the API's range): one band per value, anything
// outside clamped to the nearest end, so the label has at most 11 values.
int PriorityBand(int priority) { return std::clamp(priority, 0, 10); }

}  // namespace

Dispatcher::Dispatcher(DispatcherOptions options, events::EventLog& log, const Clock& clock)
    : PartitionWorker(
          {"dispatcher", options.instance_id, options.group_id, options.topics.job_events,
           options.topics.dispatcher_snapshots, options.state},
          log, clock),
      options_(std::move(options)),
      clock_(clock),
      placement_(options_.instance_id, options_.executor_timeout, clock.Now(), options_.prefetch) {
  RegisterMetrics();
}

void Dispatcher::RegisterMetrics() {
  if (options_.metrics == nullptr) {
    own_metrics_ = std::make_shared<prometheus::Registry>();
    options_.metrics = own_metrics_.get();
  }
  prometheus::Registry& r = *options_.metrics;
  auto& appended = prometheus::BuildCounter()
                       .Name("jobsched_dispatcher_events_appended_total")
                       .Help(
                           "Facts the dispatcher appended to job-events, by event type "
                           "(counted once acknowledged)")
                       .Register(r);
  appended_.dispatched = &appended.Add({{"type", "RunDispatched"}});
  appended_.waiting = &appended.Add({{"type", "RunWaiting"}});
  appended_.lost = &appended.Add({{"type", "RunLost"}});
  appended_.timed_out = &appended.Add({{"type", "RunTimedOut"}});
  tasks_sent_ = &prometheus::BuildCounter()
                     .Name("jobsched_dispatcher_tasks_sent_total")
                     .Help("RunTasks (and cancels) appended to run-tasks")
                     .Register(r)
                     .Add({});
  append_seconds_ = &prometheus::BuildHistogram()
                         .Name("jobsched_dispatcher_append_duration_seconds")
                         .Help("Time to append one batch of facts until acknowledged")
                         .Register(r)
                         .Add({}, services::DurationBuckets());
  queue_depth_family_ = &prometheus::BuildGauge()
                             .Name("jobsched_dispatch_queue_depth")
                             .Help(
                                 "Due runs queued in this dispatcher, by pool and priority "
                                 "(0..10)")
                             .Register(r);
  auto& executors = prometheus::BuildGauge()
                        .Name("jobsched_dispatch_executors")
                        .Help("Executors this dispatcher hears from and may place runs on")
                        .Register(r);
  live_executors_ = &executors.Add({{"state", "live"}});
  free_credits_ = &prometheus::BuildGauge()
                       .Name("jobsched_dispatch_free_credits")
                       .Help(
                           "Runs the live executors could take now as this dispatcher sees "
                           "them: free slots times the prefetch, summed")
                       .Register(r)
                       .Add({});
  leases_gauge_ = &prometheus::BuildGauge()
                       .Name("jobsched_dispatch_leases")
                       .Help("Runs this dispatcher has leased to executors and not seen end")
                       .Register(r)
                       .Add({});
}

void Dispatcher::UpdateGauges(TimePoint now) {
  if (now < next_gauges_) return;
  next_gauges_ = now + options_.metrics_interval;
  std::map<std::pair<std::string, int>, int64_t> depth;
  for (const QueuedRun& q : queue_) {
    ++depth[{q.pool.empty() ? "default" : q.pool, PriorityBand(q.priority)}];
  }
  for (auto& [key, gauge] : queue_depth_) {
    auto it = depth.find(key);
    gauge->Set(it == depth.end() ? 0.0 : static_cast<double>(it->second));
  }
  for (const auto& [key, n] : depth) {
    if (queue_depth_.contains(key)) continue;
    prometheus::Gauge& g =
        queue_depth_family_->Add({{"pool", key.first}, {"priority", std::to_string(key.second)}});
    g.Set(static_cast<double>(n));
    queue_depth_.emplace(key, &g);
  }
  live_executors_->Set(placement_.LiveExecutors(now));
  free_credits_->Set(placement_.FreeSlots(now));
  leases_gauge_->Set(static_cast<double>(placement_.leases().size()));
}

Status Dispatcher::OnStart() {
  events::ConsumerOptions hb;
  hb.topics = {options_.topics.executors};  // no group: every partition, from the beginning
  hb.client_id = producer_name() + "/heartbeats";
  auto consumer = event_log().NewConsumer(hb);
  if (!consumer.ok()) return consumer.status();
  heartbeats_ = std::move(consumer).value();
  return Status::Ok();
}

void Dispatcher::OnStop() {
  if (heartbeats_) heartbeats_->Close();
}

std::string Dispatcher::Summary() const {
  TimePoint now = clock_.Now();
  return "dispatched=" + std::to_string(dispatched_.load()) +
         " queued=" + std::to_string(queue_.size()) +
         " leases=" + std::to_string(placement_.leases().size()) +
         " live_executors=" + std::to_string(placement_.LiveExecutors(now)) +
         " free_slots=" + std::to_string(placement_.FreeSlots(now));
}

void Dispatcher::Forget(const std::string& run_id) {
  queue_.Remove(run_id);
  placement_.Release(run_id);
  due_offsets_.erase(run_id);
}

// Puts each run of the job where its state says: queued while due, leased
// while dispatched or running; forgets runs that left (telling the executor
// to abort those that left because of a cancellation).
void Dispatcher::Reevaluate(int32_t partition, const std::string& job_id, const JobState* s,
                            const Envelope* cause) {
  JobRuns& known = job_runs_[job_id];
  known.partition = partition;
  std::vector<std::string> now_known;
  // A workflow trigger's runs start workflows in the scheduler; nothing to execute.
  const bool live = s != nullptr && !events::IsTerminal(s->status()) &&
                    s->spec().type() != v1::JOB_TYPE_WORKFLOW;
  const bool caught_up = follower().CaughtUp(partition);
  if (live) {
    for (const v1::RunRecord& run : s->runs()) {
      const std::string& run_id = run.run_id();
      const bool due = run.status() == v1::RUN_STATUS_DUE && !s->cancel_requested();
      const bool leased = run.status() == v1::RUN_STATUS_DISPATCHED ||
                          run.status() == v1::RUN_STATUS_RUNNING;
      if (!due && !leased) {
        Forget(run_id);
        continue;
      }
      now_known.push_back(run_id);
      const Lease* lease = placement_.FindLease(run_id);
      if (leased) {
        queue_.Remove(run_id);
        if (lease == nullptr || lease->epoch != run.lease_epoch() || !lease->confirmed) {
          placement_.Hold(Lease{run_id, job_id, partition, run.lease_epoch(), run.executor_id(),
                                run.executor_incarnation(), ToResources(s->spec().resources()),
                                FromProto(run.dispatched_at()), true});
        }
        continue;
      }
      // Due. A lease decided for the next epoch and not yet seen back keeps
      // it out of the queue; any other lease ended (lost, released).
      if (lease != nullptr && !lease->confirmed && lease->epoch == run.lease_epoch() + 1) continue;
      placement_.Release(run_id);
      if (!caught_up) continue;
      auto offset = due_offsets_.find(run_id);
      TimePoint due_at = FromProto(run.due_at());
      queue_.Upsert({run.priority(), due_at, due_at - run.priority() * options_.priority_aging,
                     offset == due_offsets_.end() ? 0 : offset->second.offset, run_id, job_id,
                     partition, s->spec().pool()});
    }
  }
  for (const std::string& run_id : known.runs) {
    if (std::find(now_known.begin(), now_known.end(), run_id) != now_known.end()) continue;
    if (const Lease* lease = placement_.FindLease(run_id);
        lease != nullptr && cause != nullptr && caught_up && Cancels(*cause)) {
      SendCancel(*lease, std::string(events::EventType(*cause)));
    }
    Forget(run_id);
  }
  if (now_known.empty()) {
    job_runs_.erase(job_id);
  } else {
    known.runs = std::move(now_known);
  }
}

void Dispatcher::OnEvent(int32_t partition, int64_t offset, const Envelope& e, const JobState* s,
                         const events::FoldResult& r, bool) {
  if (r.applied() && e.has_run_due()) due_offsets_[e.run_due().run_id()] = {offset, partition};
  if (r.applied()) {
    if (e.has_run_lost()) {
      declared_.erase(LeaseKey(e.run_lost().run_id(), e.run_lost().lease_epoch()));
    }
    if (e.has_run_timed_out()) {
      declared_.erase(LeaseKey(e.run_timed_out().run_id(), e.run_timed_out().lease_epoch()));
    }
  }
  if (e.has_run_waiting()) declared_.erase(e.event_id());
  Reevaluate(partition, e.job_id(), s, &e);
}

void Dispatcher::OnCaughtUp(int32_t partition) {
  TimePoint now = clock_.Now();
  follower().ForEachJob(partition, [&](const JobState& s) {
    Reevaluate(partition, s.job_id(), &s);
    if (events::IsTerminal(s.status())) return;
    // Dispatched but not started: the previous owner may have crashed before
    // the task was appended. Send it again; the executor's ids dedupe results.
    for (const v1::RunRecord& run : s.runs()) {
      if (run.status() != v1::RUN_STATUS_DISPATCHED) continue;
      std::optional<Target> target = placement_.Find(run.executor_id());
      if (!target || target->incarnation != run.executor_incarnation()) continue;  // lost
      unsent_tasks_.push_back(TaskRecord(MakeTask(s, run, *target, now), target->task_partition));
    }
  });
}

std::string Dispatcher::SnapshotExtra(int32_t partition) {
  v1::DispatcherSnapshotExtra extra;
  for (const auto& [run_id, due] : due_offsets_) {
    if (due.partition == partition) (*extra.mutable_due_offsets())[run_id] = due.offset;
  }
  return events::EncodeDeterministic(extra);
}

void Dispatcher::OnRestored(int32_t partition, const std::string& bytes) {
  v1::DispatcherSnapshotExtra extra;
  if (!extra.ParseFromString(bytes)) {
    Log(logger(), spdlog::level::warn, "snapshot's dispatcher part is unreadable; FIFO order of "
        "runs already due falls back to their due time",
        {{"partition", std::to_string(partition)}});
    return;
  }
  for (const auto& [run_id, offset] : extra.due_offsets())
    due_offsets_[run_id] = {offset, partition};
}

Envelope Dispatcher::NewFact(const JobState& s, std::string_view type, const std::string& cause,
                             TimePoint now) const {
  events::Origin origin{producer_name(), now, s.correlation_id(), events::LastAppliedEventId(s)};
  return events::MakeEnvelope(ids::EventId(type, s.job_id(), cause), s.job_id(), origin);
}

v1::RunTask Dispatcher::MakeTask(const JobState& s, const v1::RunRecord& run,
                                 const Target& target, TimePoint now) const {
  v1::RunTask task;
  task.set_job_id(s.job_id());
  task.set_run_id(run.run_id());
  task.set_attempt(run.attempt());
  task.set_lease_epoch(run.lease_epoch());
  *task.mutable_spec() = s.spec();
  *task.mutable_scheduled_for() = run.scheduled_for();
  *task.mutable_dispatched_at() = ToProto(now);
  task.set_dispatch_event_id(
      ids::EventId("RunDispatched", s.job_id(), LeaseKey(run.run_id(), run.lease_epoch())));
  task.set_correlation_id(s.correlation_id());
  task.set_executor_id(target.executor_id);
  task.set_executor_incarnation(target.incarnation);
  task.set_dispatcher_id(options_.instance_id);
  return task;
}

events::Record Dispatcher::TaskRecord(const v1::RunTask& task, int32_t partition) const {
  events::Record r{options_.topics.run_tasks, task.run_id(), events::Encode(task)};
  r.partition = partition;
  return r;
}

void Dispatcher::SendCancel(const Lease& lease, const std::string& reason) {
  std::optional<Target> target = placement_.Find(lease.executor_id);
  if (!target || target->incarnation != lease.incarnation) return;  // its holder is gone
  v1::RunTask cancel;
  cancel.set_job_id(lease.job_id);
  cancel.set_run_id(lease.run_id);
  cancel.set_lease_epoch(lease.epoch);
  cancel.set_executor_id(target->executor_id);
  cancel.set_executor_incarnation(target->incarnation);
  cancel.set_dispatcher_id(options_.instance_id);
  cancel.set_cancel(true);
  cancel.set_cancel_reason(reason);
  const events::JobState* s = follower().Find(lease.partition, lease.job_id);
  LogJob(logger(), spdlog::level::info, "asking the executor to abort a run",
         {lease.job_id, lease.run_id, "", s != nullptr ? s->correlation_id() : ""},
         {{"executor_id", lease.executor_id}, {"reason", reason}});
  unsent_tasks_.push_back(TaskRecord(cancel, target->task_partition));
}

void Dispatcher::SendTasks() {
  if (unsent_tasks_.empty()) return;
  std::vector<events::Record> tasks;
  tasks.swap(unsent_tasks_);
  size_t n = tasks.size();
  if (Status st = producer().Append(tasks); !st.ok()) {
    Log(logger(), spdlog::level::err, "appending run tasks failed; will retry",
        {{"error", st.ToString()}, {"tasks", std::to_string(n)}});
    unsent_tasks_ = std::move(tasks);
    return;
  }
  tasks_sent_->Increment(static_cast<double>(n));
}

bool Dispatcher::AppendFacts(std::vector<events::Record> facts, const char* what) {
  if (facts.empty()) return true;
  size_t n = facts.size();
  const auto start = std::chrono::steady_clock::now();
  Status st = producer().Append(std::move(facts));
  append_seconds_->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (!st.ok()) {
    Log(logger(), spdlog::level::err, std::string("appending ") + what + " failed; will retry",
        {{"error", st.ToString()}, {"events", std::to_string(n)}});
    return false;
  }
  return true;
}

void Dispatcher::OnRevoked(int32_t partition) {
  queue_.RemovePartition(partition);
  std::vector<std::string> released;
  for (const auto& [run_id, lease] : placement_.leases()) {
    if (lease.partition == partition) released.push_back(run_id);
  }
  for (const auto& run_id : released) placement_.Release(run_id);
  std::erase_if(due_offsets_, [&](const auto& kv) { return kv.second.partition == partition; });
  std::erase_if(job_runs_, [&](const auto& kv) { return kv.second.partition == partition; });
}

void Dispatcher::PollHeartbeats(TimePoint now) {
  for (const auto& r : heartbeats_->Poll(1000, Millis(0))) {
    auto hb = events::DecodeHeartbeat(r.value);
    if (!hb.ok()) {
      Log(logger(), spdlog::level::warn, "skipping undecodable heartbeat",
          {{"offset", std::to_string(r.offset)}, {"error", hb.status().message()}});
      continue;
    }
    placement_.Observe(hb.value(), now);
  }
}

void Dispatcher::ExpirePending(TimePoint now) {
  std::vector<Lease> expired;
  for (const auto& [run_id, lease] : placement_.leases()) {
    if (!lease.confirmed && now - lease.dispatched_at >= options_.pending_timeout) {
      expired.push_back(lease);
    }
  }
  for (const Lease& lease : expired) {
    const events::JobState* s = follower().Find(lease.partition, lease.job_id);
    LogJob(logger(), spdlog::level::warn, "dispatch not seen back in the log; dispatching again",
           {lease.job_id, lease.run_id, "", s != nullptr ? s->correlation_id() : ""},
           {{"lease_epoch", std::to_string(lease.epoch)}});
    placement_.Release(lease.run_id);
    Reevaluate(lease.partition, lease.job_id, s);
  }
  std::erase_if(declared_,
                [&](const auto& kv) { return now - kv.second >= options_.pending_timeout; });
}

// Leases whose holder is gone (RunLost) or whose result is overdue
// (RunTimedOut). Each is declared once; the fold decides what it means.
void Dispatcher::EndLostLeases(TimePoint now) {
  std::vector<events::Record> facts;
  std::vector<std::string> keys;
  int lost_count = 0;
  int timed_out_count = 0;
  auto declare = [&](const Lease& lease, Envelope e) {
    ++(e.has_run_lost() ? lost_count : timed_out_count);
    LogJob(logger(), spdlog::level::warn, "lease ended", services::RefOf(e),
           {{"event", events::EventType(e)}, {"executor_id", lease.executor_id}});
    keys.push_back(LeaseKey(lease.run_id, lease.epoch));
    facts.push_back({options_.topics.job_events, lease.job_id, events::Encode(e)});
  };
  for (const auto& [lease, why] : placement_.LostLeases(now)) {
    if (declared_.contains(LeaseKey(lease.run_id, lease.epoch))) continue;
    const JobState* s = follower().Find(lease.partition, lease.job_id);
    if (s == nullptr || !follower().CaughtUp(lease.partition)) continue;
    Envelope e = NewFact(*s, "RunLost", LeaseKey(lease.run_id, lease.epoch), now);
    v1::RunLost* lost = e.mutable_run_lost();
    lost->set_run_id(lease.run_id);
    lost->set_lease_epoch(lease.epoch);
    lost->set_executor_id(lease.executor_id);
    lost->set_reason(why);
    declare(lease, std::move(e));
  }
  for (const auto& [run_id, lease] : placement_.leases()) {
    if (!lease.confirmed || declared_.contains(LeaseKey(run_id, lease.epoch))) continue;
    const JobState* s = follower().Find(lease.partition, lease.job_id);
    if (s == nullptr || !follower().CaughtUp(lease.partition)) continue;
    Millis timeout = s->spec().timeout_seconds() > 0
                         ? Millis(int64_t{s->spec().timeout_seconds()} * 1000)
                         : options_.default_run_timeout;
    if (now - lease.dispatched_at < timeout + options_.run_timeout_grace) continue;
    Envelope e = NewFact(*s, "RunTimedOut", LeaseKey(run_id, lease.epoch), now);
    v1::RunTimedOut* t = e.mutable_run_timed_out();
    t->set_run_id(run_id);
    t->set_lease_epoch(lease.epoch);
    t->set_executor_id(lease.executor_id);
    t->set_timeout_ms(timeout.count());
    declare(lease, std::move(e));
  }
  if (!AppendFacts(std::move(facts), "lease ends")) return;
  for (auto& key : keys) declared_[std::move(key)] = now;
  appended_.lost->Increment(lost_count);
  appended_.timed_out->Increment(timed_out_count);
}

void Dispatcher::DispatchReady(TimePoint now) {
  if (queue_.empty()) return;
  // With no free slot anywhere, the queue is only looked through for runs
  // that fit no live executor at all (RunWaiting), once a second.
  const bool room = placement_.AnyRoom(now);
  if (!room) {
    if (now < next_reason_scan_) return;
    next_reason_scan_ = now + Millis(1000);
  }
  std::vector<events::Record> facts;
  std::vector<std::pair<v1::RunTask, int32_t>> tasks;
  std::vector<std::string> placed;  // run ids
  std::vector<std::string> stale;   // queue entries no longer due
  std::vector<std::string> waiting_ids;
  // Needs already known not to fit this turn ("" = busy for now, else why).
  std::map<std::string, std::string> no_room;
  size_t scanned = 0;
  for (const QueuedRun& q : queue_) {
    if (++scanned > kMaxScan || (room && !placement_.AnyRoom(now))) break;
    const JobState* s = follower().Find(q.partition, q.job_id);
    const v1::RunRecord* run = s ? events::FindRun(*s, q.run_id) : nullptr;
    if (run == nullptr || run->status() != v1::RUN_STATUS_DUE) {
      stale.push_back(q.run_id);
      continue;
    }
    Need need = NeedOf(s->spec());
    std::string need_key = need.pool;
    for (const auto& [name, amount] : need.resources) {
      need_key += "|" + name + "=" + std::to_string(amount);
    }
    std::string unplaceable;
    std::optional<Target> target;
    if (auto known = no_room.find(need_key); known != no_room.end()) {
      unplaceable = known->second;
    } else {
      target = placement_.Choose(need, now, &unplaceable);
      if (!target) no_room[need_key] = unplaceable;
    }
    if (!target) {
      std::string cause = LeaseKey(q.run_id, run->lease_epoch()) + "/" + unplaceable;
      if (unplaceable.empty() || run->wait_reason() == unplaceable) continue;
      Envelope e = NewFact(*s, "RunWaiting", cause, now);
      if (declared_.contains(e.event_id())) continue;
      e.mutable_run_waiting()->set_run_id(q.run_id);
      e.mutable_run_waiting()->set_reason(unplaceable);
      LogJob(logger(), spdlog::level::info, "run fits no live executor; it stays queued",
             services::RefOf(e), {{"reason", unplaceable}});
      waiting_ids.push_back(e.event_id());
      facts.push_back({options_.topics.job_events, q.job_id, events::Encode(e)});
      continue;
    }
    const int64_t epoch = run->lease_epoch() + 1;
    Envelope e = NewFact(*s, "RunDispatched", LeaseKey(run->run_id(), epoch), now);
    auto* d = e.mutable_run_dispatched();
    d->set_run_id(run->run_id());
    d->set_lease_epoch(epoch);
    d->set_dispatcher_id(options_.instance_id);
    d->set_executor_id(target->executor_id);
    d->set_executor_incarnation(target->incarnation);
    LogJob(logger(), spdlog::level::debug, "dispatching", services::RefOf(e),
           {{"executor_id", target->executor_id}, {"priority", std::to_string(q.priority)}});
    placement_.Hold(Lease{run->run_id(), q.job_id, q.partition, epoch, target->executor_id,
                          target->incarnation, need.resources, now, false});
    // Other needs of this pool may have lost their room.
    std::erase_if(no_room, [&](const auto& kv) {
      return kv.first.compare(0, need.pool.size() + 1, need.pool + "|") == 0 ||
             kv.first == need.pool;
    });
    v1::RunRecord leased = *run;
    leased.set_lease_epoch(epoch);
    tasks.emplace_back(MakeTask(*s, leased, *target, now), target->task_partition);
    facts.push_back({options_.topics.job_events, q.job_id, events::Encode(e)});
    placed.push_back(q.run_id);
  }
  for (const auto& run_id : stale) queue_.Remove(run_id);
  for (const auto& run_id : placed) queue_.Remove(run_id);
  if (facts.empty()) return;
  // The facts first: an executor must never report on a run the log does not
  // show as dispatched yet (its RunStarted would be rejected).
  if (!AppendFacts(std::move(facts), "dispatches")) {
    for (const auto& run_id : placed) {
      const Lease* lease = placement_.FindLease(run_id);
      if (lease == nullptr) continue;
      int32_t partition = lease->partition;
      std::string job_id = lease->job_id;
      placement_.Release(run_id);
      Reevaluate(partition, job_id, follower().Find(partition, job_id));
    }
    return;
  }
  appended_.dispatched->Increment(static_cast<double>(placed.size()));
  appended_.waiting->Increment(static_cast<double>(waiting_ids.size()));
  for (auto& id : waiting_ids) declared_[std::move(id)] = now;
  for (auto& [task, partition] : tasks) unsent_tasks_.push_back(TaskRecord(task, partition));
  SendTasks();
  dispatched_ += placed.size();
}

void Dispatcher::Step() {
  follower().PollOnce(queue_.empty() ? options_.max_poll_wait : Millis(5));
  TimePoint now = clock_.Now();
  PollHeartbeats(now);
  ExpirePending(now);
  EndLostLeases(now);
  SendTasks();  // retries of tasks whose append failed, re-sends after catch-up, cancels
  DispatchReady(now);
  UpdateGauges(now);
}

Result<std::unique_ptr<services::Service>> MakeDispatcher(services::ServiceContext& context) {
  auto state = services::StateSettings::FromEnv();
  if (!state.ok()) return state.status();
  DispatcherOptions options;
  auto millis = [](const char* name, Millis def, int64_t min) -> Result<Millis> {
    auto v = services::EnvInt(name, def.count(), min, 86'400'000);
    if (!v.ok()) return v.status();
    return Millis(*v);
  };
  auto executor_timeout = millis("JOBSCHED_EXECUTOR_TIMEOUT_MS", options.executor_timeout, 100);
  if (!executor_timeout.ok()) return executor_timeout.status();
  auto aging = millis("JOBSCHED_PRIORITY_AGING_MS", options.priority_aging, 1);
  if (!aging.ok()) return aging.status();
  auto grace = millis("JOBSCHED_RUN_TIMEOUT_GRACE_MS", options.run_timeout_grace, 0);
  if (!grace.ok()) return grace.status();
  auto default_timeout =
      services::EnvInt("JOBSCHED_EXECUTOR_DEFAULT_TIMEOUT_S", 3600, 1, 31'536'000);
  if (!default_timeout.ok()) return default_timeout.status();
  auto prefetch = services::EnvInt("JOBSCHED_DISPATCH_PREFETCH", options.prefetch, 1, 1000);
  if (!prefetch.ok()) return prefetch.status();
  options.instance_id = context.config.instance_id;
  options.topics = context.config.topics();
  options.state = *state;
  options.executor_timeout = *executor_timeout;
  options.priority_aging = *aging;
  options.run_timeout_grace = *grace;
  options.default_run_timeout = Millis(*default_timeout * 1000);
  options.prefetch = static_cast<int>(*prefetch);
  options.metrics = &context.metrics;
  return std::unique_ptr<services::Service>(
      std::make_unique<Dispatcher>(options, context.log, context.clock));
}

}  // namespace jobsched::dispatcher
