#include "services/dispatcher/dispatcher.h"

#include "events/fold.h"
#include "events/ids.h"
#include "services/common/logging.h"

namespace jobsched::dispatcher {

using events::Envelope;
using events::JobState;
using services::Log;

Dispatcher::Dispatcher(DispatcherOptions options, events::EventLog& log, const Clock& clock)
    : PartitionWorker(
          {"dispatcher", options.instance_id, options.group_id, options.topics.job_events}, log),
      options_(std::move(options)),
      clock_(clock),
      capacity_(options_.heartbeat_expiry) {}

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
  return "dispatched=" + std::to_string(dispatched_.load());
}

// Puts the job where its state says: queued when its current run is due,
// counted in flight while its run is dispatched or running.
void Dispatcher::Reevaluate(int32_t partition, const JobState& s) {
  const std::string& job_id = s.job_id();
  const v1::RunRecord* run = events::CurrentRun(s);
  bool terminal = events::IsTerminal(s.status());
  bool due = !terminal && s.status() == v1::JOB_STATUS_QUEUED && run != nullptr &&
             run->status() == v1::RUN_STATUS_DUE && !s.cancel_requested();
  bool running = !terminal && run != nullptr &&
                 (run->status() == v1::RUN_STATUS_DISPATCHED ||
                  run->status() == v1::RUN_STATUS_RUNNING);
  if (due && !pending_.contains(job_id) && follower().CaughtUp(partition)) {
    auto offset = due_offsets_.find(job_id);
    queue_.Upsert({run->priority(), FromProto(run->due_at()),
                   offset == due_offsets_.end() ? 0 : offset->second, run->run_id(), job_id,
                   partition});
  } else {
    queue_.Remove(job_id);
    if (!due) due_offsets_.erase(job_id);
  }
  if (running) {
    running_[job_id] = partition;
  } else {
    running_.erase(job_id);
  }
}

void Dispatcher::OnEvent(int32_t partition, int64_t offset, const Envelope& e, const JobState& s,
                         const events::FoldResult& r, bool) {
  if (r.applied() && e.has_run_due()) due_offsets_[e.job_id()] = offset;
  auto p = pending_.find(e.job_id());
  if (p != pending_.end() && p->second.event_id == e.event_id()) pending_.erase(p);
  if (s.status() == v1::JOB_STATUS_UNSPECIFIED) return;
  Reevaluate(partition, s);
}

void Dispatcher::OnCaughtUp(int32_t partition) {
  TimePoint now = clock_.Now();
  follower().ForEachJob(partition, [&](const JobState& s) {
    Reevaluate(partition, s);
    // Dispatched but not started: the previous owner may have crashed before
    // the task was appended. Send it again; the executor's ids dedupe results.
    const v1::RunRecord* run = events::CurrentRun(s);
    if (!events::IsTerminal(s.status()) && run != nullptr &&
        run->status() == v1::RUN_STATUS_DISPATCHED) {
      unsent_tasks_.push_back(
          {options_.topics.run_tasks, run->run_id(), events::Encode(MakeTask(s, *run, now))});
    }
  });
}

v1::RunTask Dispatcher::MakeTask(const JobState& s, const v1::RunRecord& run, TimePoint now) const {
  v1::RunTask task;
  task.set_job_id(s.job_id());
  task.set_run_id(run.run_id());
  task.set_attempt(run.attempt());
  task.set_lease_epoch(run.lease_epoch());
  *task.mutable_spec() = s.spec();
  *task.mutable_scheduled_for() = run.scheduled_for();
  *task.mutable_dispatched_at() = ToProto(now);
  task.set_dispatch_event_id(
      ids::EventId("RunDispatched", s.job_id(), run.run_id() + "/" + std::to_string(run.lease_epoch())));
  task.set_correlation_id(s.correlation_id());
  return task;
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
  }
}

void Dispatcher::OnRevoked(int32_t partition) {
  queue_.RemovePartition(partition);
  std::erase_if(running_, [&](const auto& kv) { return kv.second == partition; });
  std::erase_if(pending_, [&](const auto& kv) { return kv.second.partition == partition; });
}

void Dispatcher::PollHeartbeats() {
  for (const auto& r : heartbeats_->Poll(1000, Millis(0))) {
    auto hb = events::DecodeHeartbeat(r.value);
    if (!hb.ok()) {
      Log(logger(), spdlog::level::warn, "skipping undecodable heartbeat",
          {{"offset", std::to_string(r.offset)}, {"error", hb.status().message()}});
      continue;
    }
    capacity_.Observe(hb.value());
  }
}

void Dispatcher::ExpirePending(TimePoint now) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now - it->second.since < options_.pending_timeout) {
      ++it;
      continue;
    }
    Log(logger(), spdlog::level::warn, "dispatch not seen back in the log; dispatching again",
        {{"job_id", it->first}, {"event_id", it->second.event_id}});
    int32_t partition = it->second.partition;
    std::string job_id = it->first;
    it = pending_.erase(it);
    if (const JobState* s = follower().Find(partition, job_id)) Reevaluate(partition, *s);
  }
}

void Dispatcher::DispatchReady(TimePoint now) {
  int slots = capacity_.TotalSlots(now);
  std::vector<events::Record> tasks;
  std::vector<events::Record> facts;
  std::vector<std::string> jobs;
  while (!queue_.empty() && static_cast<int>(InFlight()) < slots) {
    QueuedRun q = *queue_.Pop();
    const JobState* s = follower().Find(q.partition, q.job_id);
    const v1::RunRecord* run = s ? events::CurrentRun(*s) : nullptr;
    if (run == nullptr || run->run_id() != q.run_id || run->status() != v1::RUN_STATUS_DUE) continue;

    int64_t epoch = run->lease_epoch() + 1;
    std::string cause = run->run_id() + "/" + std::to_string(epoch);
    events::Origin origin{producer_name(), now, s->correlation_id(),
                          events::LastAppliedEventId(*s)};
    Envelope e = events::MakeEnvelope(ids::EventId("RunDispatched", q.job_id, cause), q.job_id, origin);
    auto* d = e.mutable_run_dispatched();
    d->set_run_id(run->run_id());
    d->set_lease_epoch(epoch);
    d->set_dispatcher_id(options_.instance_id);

    v1::RunRecord leased = *run;
    leased.set_lease_epoch(epoch);
    Log(logger(), spdlog::level::debug, "dispatching",
        {{"job_id", q.job_id}, {"run_id", run->run_id()}, {"event_id", e.event_id()},
         {"priority", std::to_string(q.priority)}});
    pending_[q.job_id] = Pending{e.event_id(), q.partition, now};
    tasks.push_back(
        {options_.topics.run_tasks, run->run_id(), events::Encode(MakeTask(*s, leased, now))});
    facts.push_back({options_.topics.job_events, q.job_id, events::Encode(e)});
    jobs.push_back(q.job_id);
  }
  if (facts.empty()) return;
  // The fact first: an executor must never report on a run the log does not
  // show as dispatched yet (its RunStarted would be rejected).
  if (Status st = producer().Append(std::move(facts)); !st.ok()) {
    Log(logger(), spdlog::level::err, "dispatch append failed; runs stay queued",
        {{"error", st.ToString()}, {"runs", std::to_string(jobs.size())}});
    for (const auto& job_id : jobs) {
      auto it = pending_.find(job_id);
      if (it == pending_.end()) continue;
      int32_t partition = it->second.partition;
      pending_.erase(it);
      if (const JobState* s = follower().Find(partition, job_id)) Reevaluate(partition, *s);
    }
    return;
  }
  unsent_tasks_.insert(unsent_tasks_.end(), std::make_move_iterator(tasks.begin()),
                       std::make_move_iterator(tasks.end()));
  SendTasks();
  dispatched_ += jobs.size();
}

void Dispatcher::Step() {
  follower().PollOnce(queue_.empty() ? options_.max_poll_wait : Millis(5));
  PollHeartbeats();
  TimePoint now = clock_.Now();
  ExpirePending(now);
  SendTasks();  // retries of tasks whose append failed, re-sends after catch-up
  DispatchReady(now);
}

}  // namespace jobsched::dispatcher
