#include "services/dispatcher/dispatcher.h"

#include <algorithm>

#include "events/fold.h"
#include "events/ids.h"
#include "services/common/logging.h"

namespace jobsched::dispatcher {

using events::Envelope;
using events::JobState;
using services::Log;

Dispatcher::Dispatcher(DispatcherOptions options, events::EventLog& log, const Clock& clock)
    : PartitionWorker(
          {"dispatcher", options.instance_id, options.group_id, options.topics.job_events,
           options.topics.dispatcher_snapshots, options.state},
          log, clock),
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

void Dispatcher::Forget(const std::string& run_id) {
  queue_.Remove(run_id);
  running_.erase(run_id);
  due_offsets_.erase(run_id);
}

// Puts each run of the job where its state says: queued while due,
// counted in flight while dispatched or running; forgets runs that left.
void Dispatcher::Reevaluate(int32_t partition, const std::string& job_id, const JobState* s) {
  JobRuns& known = job_runs_[job_id];
  known.partition = partition;
  std::vector<std::string> now_known;
  const bool live = s != nullptr && !events::IsTerminal(s->status());
  if (live) {
    for (const v1::RunRecord& run : s->runs()) {
      const std::string& run_id = run.run_id();
      bool due = run.status() == v1::RUN_STATUS_DUE && !s->cancel_requested();
      bool running = run.status() == v1::RUN_STATUS_DISPATCHED ||
                     run.status() == v1::RUN_STATUS_RUNNING;
      if (!due && !running) continue;
      now_known.push_back(run_id);
      if (due && !pending_.contains(run_id) && follower().CaughtUp(partition)) {
        auto offset = due_offsets_.find(run_id);
        queue_.Upsert({run.priority(), FromProto(run.due_at()),
                       offset == due_offsets_.end() ? 0 : offset->second.offset, run_id, job_id,
                       partition});
      } else {
        queue_.Remove(run_id);
      }
      if (running) {
        running_[run_id] = partition;
      } else {
        running_.erase(run_id);
      }
    }
  }
  for (const std::string& run_id : known.runs) {
    if (std::find(now_known.begin(), now_known.end(), run_id) == now_known.end()) Forget(run_id);
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
  if (e.has_run_dispatched()) {
    auto p = pending_.find(e.run_dispatched().run_id());
    if (p != pending_.end() && p->second.event_id == e.event_id()) pending_.erase(p);
  }
  Reevaluate(partition, e.job_id(), s);
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
      unsent_tasks_.push_back(
          {options_.topics.run_tasks, run.run_id(), events::Encode(MakeTask(s, run, now))});
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

v1::RunTask Dispatcher::MakeTask(const JobState& s, const v1::RunRecord& run, TimePoint now) const {
  v1::RunTask task;
  task.set_job_id(s.job_id());
  task.set_run_id(run.run_id());
  task.set_attempt(run.attempt());
  task.set_lease_epoch(run.lease_epoch());
  *task.mutable_spec() = s.spec();
  *task.mutable_scheduled_for() = run.scheduled_for();
  *task.mutable_dispatched_at() = ToProto(now);
  task.set_dispatch_event_id(ids::EventId("RunDispatched", s.job_id(),
                                          run.run_id() + "/" + std::to_string(run.lease_epoch())));
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
  std::erase_if(due_offsets_, [&](const auto& kv) { return kv.second.partition == partition; });
  std::erase_if(job_runs_, [&](const auto& kv) { return kv.second.partition == partition; });
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
        {{"job_id", it->second.job_id}, {"run_id", it->first}, {"event_id", it->second.event_id}});
    int32_t partition = it->second.partition;
    std::string job_id = it->second.job_id;
    it = pending_.erase(it);
    Reevaluate(partition, job_id, follower().Find(partition, job_id));
  }
}

void Dispatcher::DispatchReady(TimePoint now) {
  int slots = capacity_.TotalSlots(now);
  std::vector<events::Record> tasks;
  std::vector<events::Record> facts;
  std::vector<std::string> runs;
  while (!queue_.empty() && static_cast<int>(InFlight()) < slots) {
    QueuedRun q = *queue_.Pop();
    const JobState* s = follower().Find(q.partition, q.job_id);
    const v1::RunRecord* run = s ? events::FindRun(*s, q.run_id) : nullptr;
    if (run == nullptr || run->status() != v1::RUN_STATUS_DUE) continue;

    int64_t epoch = run->lease_epoch() + 1;
    std::string cause = run->run_id() + "/" + std::to_string(epoch);
    events::Origin origin{producer_name(), now, s->correlation_id(),
                          events::LastAppliedEventId(*s)};
    Envelope e =
        events::MakeEnvelope(ids::EventId("RunDispatched", q.job_id, cause), q.job_id, origin);
    auto* d = e.mutable_run_dispatched();
    d->set_run_id(run->run_id());
    d->set_lease_epoch(epoch);
    d->set_dispatcher_id(options_.instance_id);

    v1::RunRecord leased = *run;
    leased.set_lease_epoch(epoch);
    Log(logger(), spdlog::level::debug, "dispatching",
        {{"job_id", q.job_id}, {"run_id", run->run_id()}, {"event_id", e.event_id()},
         {"priority", std::to_string(q.priority)}});
    pending_[q.run_id] = Pending{e.event_id(), q.job_id, q.partition, now};
    tasks.push_back(
        {options_.topics.run_tasks, run->run_id(), events::Encode(MakeTask(*s, leased, now))});
    facts.push_back({options_.topics.job_events, q.job_id, events::Encode(e)});
    runs.push_back(q.run_id);
  }
  if (facts.empty()) return;
  // The fact first: an executor must never report on a run the log does not
  // show as dispatched yet (its RunStarted would be rejected).
  if (Status st = producer().Append(std::move(facts)); !st.ok()) {
    Log(logger(), spdlog::level::err, "dispatch append failed; runs stay queued",
        {{"error", st.ToString()}, {"runs", std::to_string(runs.size())}});
    for (const auto& run_id : runs) {
      auto it = pending_.find(run_id);
      if (it == pending_.end()) continue;
      int32_t partition = it->second.partition;
      std::string job_id = it->second.job_id;
      pending_.erase(it);
      Reevaluate(partition, job_id, follower().Find(partition, job_id));
    }
    return;
  }
  unsent_tasks_.insert(unsent_tasks_.end(), std::make_move_iterator(tasks.begin()),
                       std::make_move_iterator(tasks.end()));
  SendTasks();
  dispatched_ += runs.size();
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
