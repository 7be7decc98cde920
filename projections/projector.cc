#include "projections/projector.h"

#include <algorithm>
#include <list>
#include <set>
#include <unordered_map>
#include <utility>

#include <google/protobuf/arena.h>

#include "events/fold.h"
#include "events/ids.h"
#include "projections/describe.h"
#include "projections/jsonb_text.h"

namespace jobsched::projections {
namespace {

using events::Envelope;
using events::JobState;
using events::TopicPartition;
using SteadyClock = std::chrono::steady_clock;
using spdlog::level::level_enum;

std::string PartitionList(const std::vector<int32_t>& ps) {
  std::string out;
  for (int32_t p : ps) {
    if (!out.empty()) out += ',';
    out += std::to_string(p);
  }
  return out;
}

// The run id of an event for job_logs: events::RunIdOf, plus the lease and
// queue events it may not know yet.
std::string_view RunIdOf(const Envelope& e) {
  std::string_view id = events::RunIdOf(e);
  if (!id.empty()) return id;
  switch (e.event_case()) {
    case Envelope::kRunLost: return e.run_lost().run_id();
    case Envelope::kRunTimedOut: return e.run_timed_out().run_id();
    case Envelope::kRunReleased: return e.run_released().run_id();
    case Envelope::kRunWaiting: return e.run_waiting().run_id();
    default: return "";
  }
}

// The event's type name: events::EventType, else the name of the message the
// envelope carries (an event newer than EventType's list).
std::string_view EventTypeOf(const Envelope& e) {
  std::string_view type = events::EventType(e);
  if (!type.empty() || e.event_case() == Envelope::EVENT_NOT_SET) return type;
  const auto* field = Envelope::descriptor()->FindFieldByNumber(e.event_case());
  return field != nullptr && field->message_type() != nullptr
             ? std::string_view(field->message_type()->name())
             : std::string_view();
}

// dead_letters follows the applied JobDead (a whole row, from the job's state
// after it) and JobRequeued (requeued_at) of the batch, in log order.
void FoldDeadLetter(const Envelope& e, const JobState& state,
                    std::map<std::string, DeadLetterRow>& rows) {
  if (e.has_job_dead()) {
    const v1::JobDead& d = e.job_dead();
    DeadLetterRow row;
    row.job_id = e.job_id();
    row.died = true;
    row.name = state.spec().name();
    row.type = JobTypeName(state.spec().type());
    row.pool = state.spec().pool().empty() ? "default" : state.spec().pool();
    row.priority = state.spec().priority();
    row.last_run_id = d.last_run_id();
    row.attempts = d.attempts();
    row.reason = d.reason();
    row.last_error = state.last_error();
    row.dead_at = e.occurred_at();
    row.event_id = e.event_id();
    row.requeues = state.requeues();
    rows[e.job_id()] = std::move(row);
  } else if (e.has_job_requeued()) {
    DeadLetterRow& row = rows[e.job_id()];  // died stays false unless JobDead came first
    row.job_id = e.job_id();
    row.requeued_at = e.occurred_at();
  }
}

// What a workflow run's row needs beyond its state: the trigger of the
// WorkflowSubmitted and the time of the WorkflowExpanded the batch applied.
void FoldWorkflow(const Envelope& e, std::map<std::string, WorkflowRow>& rows) {
  if (e.has_workflow_submitted()) {
    const v1::WorkflowSubmitted& w = e.workflow_submitted();
    WorkflowRow& row = rows[e.job_id()];
    row.submitted = true;
    row.trigger_job_id = w.trigger_job_id();
    row.trigger_run_id = w.trigger_run_id();
    row.nominal_time = w.nominal_time();
  } else if (e.has_workflow_expanded()) {
    rows[e.job_id()].expanded_at = e.occurred_at();
  }
}

// job_dependencies follows the child's parents as the fold holds them: every
// edge when its JobSubmitted applied, one edge per applied
// DependencySatisfied / DependencyFailed (keyed by the child). Later events of
// the batch replace earlier rows of the same edge.
using EdgeKey = std::pair<std::string, std::string>;  // parent, child
void FoldDependencies(const Envelope& e, const JobState& state,
                      std::map<EdgeKey, DependencyRow>& rows) {
  auto put = [&](const v1::ParentStatus& p) {
    DependencyRow row;
    row.parent_id = p.job_id();
    row.child_id = e.job_id();
    row.workflow_id = state.spec().workflow_id();
    row.status = std::string(events::DependencyStatusName(p.status()));
    row.reason = p.reason();
    row.created_at = state.created_at();
    row.updated_at = e.occurred_at();
    rows[{row.parent_id, row.child_id}] = std::move(row);
  };
  std::string_view parent;
  switch (e.event_case()) {
    case Envelope::kJobSubmitted:
      for (const v1::ParentStatus& p : state.parents()) put(p);
      return;
    case Envelope::kDependencySatisfied: parent = e.dependency_satisfied().parent_id(); break;
    case Envelope::kDependencyFailed: parent = e.dependency_failed().parent_id(); break;
    default: return;
  }
  for (const v1::ParentStatus& p : state.parents()) {
    if (p.job_id() == parent) put(p);
  }
}

}  // namespace

// Least-recently-used job states of the assigned partitions, as of the last
// batch handed to the writer. Batches commit in order or the projector drops
// the cache (restart, revoke), so an entry is always the committed state or
// about to be. Poll thread only.
class Projector::StateCache {
 public:
  explicit StateCache(size_t capacity) : capacity_(capacity) {}

  // Removes the state of `job_id` from the cache and returns it, if cached.
  std::optional<JobState> Take(const std::string& job_id) {
    auto it = index_.find(job_id);
    if (it == index_.end()) return std::nullopt;
    JobState state = std::move(it->second->state);
    lru_.erase(it->second);
    index_.erase(it);
    return state;
  }

  void Put(const std::string& job_id, int32_t partition, JobState state) {
    if (capacity_ == 0) return;
    if (auto it = index_.find(job_id); it != index_.end()) {
      lru_.erase(it->second);
      index_.erase(it);
    }
    lru_.push_front(Entry{job_id, partition, std::move(state)});
    index_[job_id] = lru_.begin();
    while (lru_.size() > capacity_) {
      index_.erase(lru_.back().job_id);
      lru_.pop_back();
    }
  }

  void DropPartitions(const std::set<int32_t>& partitions) {
    for (auto it = lru_.begin(); it != lru_.end();) {
      if (partitions.count(it->partition) != 0) {
        index_.erase(it->job_id);
        it = lru_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void Clear() {
    lru_.clear();
    index_.clear();
  }
  size_t size() const { return lru_.size(); }

 private:
  struct Entry {
    std::string job_id;
    int32_t partition;
    JobState state;
  };
  const size_t capacity_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

// One polled batch on its way to the store.
struct Projector::Batch {
  struct Item {
    events::Record* record;
    Envelope* event;  // on `arena`
  };
  struct Job {
    JobState state;
    int32_t partition = 0;
    bool changed = false;
    // The state was empty before the batch: the job has no row yet.
    bool is_new = false;
    // Runs the batch created or changed, as they stand after it (a run that
    // ended and left the state included).
    std::map<std::string, v1::RunRecord> runs;
    std::set<std::string> created_runs;  // of `runs`: made due by this batch
  };
  std::chrono::steady_clock::time_point polled_at;
  // The batch's envelopes: allocated and freed at once, which costs a
  // fraction of a heap allocation per field.
  google::protobuf::Arena arena;
  std::vector<events::Record> records;  // owns what items point to
  std::vector<Item> items;
  std::unordered_map<std::string, Job> jobs;
  std::map<int32_t, int64_t> next_offsets;
  std::map<int32_t, int64_t> newest_ms;  // per partition, the newest record's CreateTime
  ProjectionBatch out;
  ProjectorStats counts;  // this batch's contribution to the stats
};

Projector::Projector(events::EventLog& log, ProjectionStore& store, ProjectorOptions options)
    : log_(log),
      store_(store),
      options_(std::move(options)),
      logger_("projector", options_.log_sink),
      cache_(std::make_unique<StateCache>(options_.state_cache_jobs)) {}

Projector::~Projector() {
  Stop();  // the poll thread closes the consumer it ran
}

Status Projector::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) return Status::Conflict("projector already started");
  }
  if (options_.topic.empty()) return Status::Invalid("projector needs a topic");
  auto consumer = NewConsumer();
  if (!consumer.ok()) return consumer.status();
  consumer_ = std::move(consumer).value();
  {
    std::lock_guard<std::mutex> lock(mu_);
    started_ = true;
    stop_ = false;
  }
  writer_thread_ = std::thread(&Projector::WriterLoop, this);
  poll_thread_ = std::thread(&Projector::PollLoop, this);
  logger_.Log(level_enum::info, "projector started",
              {{"topic", options_.topic},
               {"group", options_.group_id},
               {"projection", options_.projection}});
  return Status::Ok();
}

void Projector::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (poll_thread_.joinable()) poll_thread_.join();
  if (writer_thread_.joinable()) {
    writer_thread_.join();
    ProjectorStats s = stats();
    logger_.Log(level_enum::info, "projector stopped",
                {{"events", std::to_string(s.records)}, {"batches", std::to_string(s.batches)}});
  }
}

ProjectorStats Projector::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

bool Projector::stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stop_;
}

void Projector::CountStoreFailure() {
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.write_failures;
}

bool Projector::Backoff(std::chrono::milliseconds& delay) {
  std::unique_lock<std::mutex> lock(mu_);
  if (cv_.wait_for(lock, delay, [this] { return stop_; })) return false;
  delay = std::min(delay * 2, options_.retry_backoff_max);
  return true;
}

// ---------------------------------------------------------------------------
// Poll thread

Result<std::unique_ptr<events::Consumer>> Projector::NewConsumer() {
  events::ConsumerOptions o;
  o.group_id = options_.group_id;
  o.topics = {options_.topic};
  o.listener = this;
  o.client_id = options_.client_id;
  return log_.NewConsumer(o);
}

void Projector::CloseConsumer() {
  if (consumer_ != nullptr) {
    consumer_->Close();  // revokes through OnRevoked
    consumer_.reset();
  }
  positions_.clear();
  cache_->Clear();
  std::lock_guard<std::mutex> lock(mu_);
  committed_.clear();
  progress_.clear();
}

void Projector::RestartConsumer() {
  restart_consumer_ = false;
  WaitWriterIdle();
  CloseConsumer();
  std::lock_guard<std::mutex> lock(mu_);
  writer_conflict_ = false;
  ++stats_.consumer_restarts;
}

void Projector::PollLoop() {
  last_commit_ = last_progress_ = SteadyClock::now();
  std::chrono::milliseconds consumer_delay = options_.retry_backoff_initial;
  while (!stopping()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (writer_conflict_) restart_consumer_ = true;
    }
    if (restart_consumer_) RestartConsumer();
    if (consumer_ == nullptr) {
      auto consumer = NewConsumer();
      if (!consumer.ok()) {
        logger_.Log(level_enum::err, "cannot create consumer",
                    {{"topic", options_.topic}, {"error", consumer.status().ToString()}});
        Backoff(consumer_delay);
        continue;
      }
      consumer_ = std::move(consumer).value();
      consumer_delay = options_.retry_backoff_initial;
    }
    std::vector<events::Record> records = PollBatch();
    if (restart_consumer_) continue;  // OnAssigned could not position a partition
    if (!records.empty()) ProcessRecords(std::move(records));
    MaybeCommit(false);
    MaybeLogProgress();
    MaybeRefreshWatermarks();
  }
  // Stopping: the writer abandons what it holds; commit what is committed.
  MaybeCommit(true);
  CloseConsumer();
}

std::vector<events::Record> Projector::PollBatch() {
  // Polls of at most this many records fill a batch, so the byte bound is
  // checked often enough.
  constexpr size_t kPollChunk = 1000;
  const size_t max_records = std::max<size_t>(options_.max_batch_records, 1);
  auto poll = [&](std::chrono::milliseconds timeout, size_t have) {
    return consumer_->Poll(std::min(kPollChunk, max_records - have), timeout);
  };
  std::vector<events::Record> records = poll(options_.poll_timeout, 0);
  size_t bytes = 0;
  for (const events::Record& r : records) bytes += r.key.size() + r.value.size();
  while (!records.empty() && records.size() < max_records && bytes < options_.max_batch_bytes &&
         !restart_consumer_) {
    std::vector<events::Record> more = poll(std::chrono::milliseconds(0), records.size());
    if (more.empty()) break;
    for (events::Record& r : more) {
      bytes += r.key.size() + r.value.size();
      records.push_back(std::move(r));
    }
  }
  return records;
}

std::map<TopicPartition, int64_t> Projector::OnAssigned(const std::vector<TopicPartition>& parts) {
  std::map<TopicPartition, int64_t> out;
  std::vector<int32_t> partitions;
  for (const TopicPartition& tp : parts) {
    if (tp.topic == options_.topic) partitions.push_back(tp.partition);
  }
  if (partitions.empty()) return out;
  std::chrono::milliseconds delay = options_.retry_backoff_initial;
  std::optional<std::map<int32_t, int64_t>> stored;
  while (!stored) {
    auto r = store_.LoadOffsets(options_.projection, options_.topic, partitions);
    if (r.ok()) {
      stored = std::move(r).value();
      break;
    }
    logger_.Log(level_enum::err, "cannot load projection offsets; retrying",
                {{"partitions", PartitionList(partitions)}, {"error", r.status().ToString()}});
    CountStoreFailure();
    if (!Backoff(delay)) {
      // Stopping: consume nothing from these partitions.
      for (int32_t p : partitions) out[{options_.topic, p}] = events::kOffsetEnd;
      restart_consumer_ = true;
      return out;
    }
  }
  std::string described;
  for (int32_t p : partitions) {
    auto it = stored->find(p);
    if (it != stored->end()) {
      positions_[p] = it->second;
      out[{options_.topic, p}] = it->second;
    } else {
      positions_[p] = std::nullopt;
      out[{options_.topic, p}] = events::kOffsetBeginning;
    }
    if (!described.empty()) described += ' ';
    described += std::to_string(p) + "@" +
                 (it != stored->end() ? std::to_string(it->second) : std::string("beginning"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int32_t p : partitions) {
      PartitionProgress& pp = progress_[p];
      pp = PartitionProgress{};
      pp.partition = p;
      pp.projected = positions_[p].value_or(-1);
    }
  }
  last_watermarks_ = {};  // learn the new partitions' watermarks soon
  logger_.Log(level_enum::info, "partitions assigned",
              {{"topic", options_.topic}, {"start", described}});
  return out;
}

void Projector::OnRevoked(const std::vector<TopicPartition>& parts) {
  std::set<int32_t> revoked;
  for (const TopicPartition& tp : parts) {
    if (tp.topic == options_.topic) revoked.insert(tp.partition);
  }
  if (revoked.empty()) return;
  // Let the batch in flight commit first, so whoever takes these partitions
  // over starts from their final offsets. (If we are stopping it is
  // abandoned instead, and the next owner consumes it again.)
  WaitWriterIdle();
  for (int32_t p : revoked) positions_.erase(p);
  cache_->DropPartitions(revoked);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int32_t p : revoked) {
      committed_.erase({options_.topic, p});
      progress_.erase(p);
    }
  }
  logger_.Log(level_enum::info, "partitions revoked",
              {{"topic", options_.topic},
               {"partitions", PartitionList({revoked.begin(), revoked.end()})}});
}

bool Projector::WaitWriterIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return stop_ || (pending_ == nullptr && !writing_); });
  return !stop_;
}

bool Projector::Submit(std::unique_ptr<Batch> batch) {
  std::set<std::string> jobs;
  for (const auto& [id, job] : batch->jobs) jobs.insert(id);
  std::unique_ptr<Batch> finished;
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return stop_ || (pending_ == nullptr && !writing_); });
  finished = std::move(finished_);  // freed below, outside the lock
  if (stop_ || writer_conflict_) return false;
  inflight_jobs_ = std::move(jobs);
  pending_ = std::move(batch);
  lock.unlock();
  cv_.notify_all();
  return true;
}

bool Projector::ProcessRecords(std::vector<events::Record> records) {
  auto b = std::make_unique<Batch>();
  b->polled_at = SteadyClock::now();
  b->records = std::move(records);
  b->items.reserve(b->records.size());

  // 1. Keep records of assigned partitions not yet projected; decode them.
  std::map<int32_t, int64_t> cursor;  // next offset expected, per partition
  for (events::Record& rec : b->records) {
    if (rec.topic != options_.topic) continue;
    auto pos = positions_.find(rec.partition);
    if (pos == positions_.end()) continue;  // not (or no longer) ours
    auto cur = cursor.try_emplace(rec.partition, pos->second.value_or(-1)).first;
    if (cur->second >= 0 && rec.offset < cur->second) continue;  // already projected
    if (cur->second >= 0 && rec.offset > cur->second) {
      logger_.Log(level_enum::warn, "offset gap: records expired (retention) or were markers",
                  {{"topic", rec.topic},
                   {"partition", std::to_string(rec.partition)},
                   {"expected", std::to_string(cur->second)},
                   {"offset", std::to_string(rec.offset)}});
    }
    cur->second = rec.offset + 1;
    b->next_offsets[rec.partition] = rec.offset + 1;
    int64_t& newest = b->newest_ms[rec.partition];
    newest = std::max(newest, rec.timestamp_ms);
    ++b->counts.records;

    // events::DecodeEnvelope's checks, on the batch's arena. An event of a
    // newer schema (no event this schema knows) is archived, and rejected by
    // the fold.
    Envelope* event = google::protobuf::Arena::CreateMessage<Envelope>(&b->arena);
    std::string error;
    if (!event->ParseFromArray(rec.value.data(), static_cast<int>(rec.value.size()))) {
      error = "bytes are not a jobsched.v1.Envelope";
    } else if (event->event_id().empty()) {
      error = "envelope has no event_id";
    } else if (event->job_id().empty()) {
      error = "envelope has no job_id";
    } else if (!LooksLikeUuid(event->event_id()) || !LooksLikeUuid(event->job_id())) {
      error = "event_id or job_id is not a UUID";
    }
    if (!error.empty()) {
      ++b->counts.undecodable;
      b->out.undecodable.push_back(
          {rec.topic, rec.partition, rec.offset, rec.key, rec.value, error, rec.timestamp_ms});
      logger_.Log(level_enum::err, "undecodable record archived, not folded",
                  {{"topic", rec.topic},
                   {"partition", std::to_string(rec.partition)},
                   {"offset", std::to_string(rec.offset)},
                   {"key", rec.key},
                   {"error", error}});
      continue;
    }
    b->items.push_back({&rec, event});
  }
  if (b->next_offsets.empty()) return true;  // nothing of ours

  // 2. The states of the batch's jobs: from the cache, else from the store.
  if (!LoadStates(*b)) return false;
  for (auto& [id, job] : b->jobs) job.is_new = job.state.status() == v1::JOB_STATUS_UNSPECIFIED;

  // 3. Fold in log order, describing every event for job_logs.
  b->out.logs.reserve(b->items.size());
  std::map<std::string, DeadLetterRow> dead_letters;  // by job, its final change
  std::map<std::string, WorkflowRow> workflows;       // by workflow id, what events add
  std::map<EdgeKey, DependencyRow> dependencies;      // by edge, its final change
  for (Batch::Item& item : b->items) {
    Envelope& e = *item.event;
    Batch::Job& job = b->jobs[e.job_id()];
    // A RunDue for a run the state does not hold creates it: no row yet.
    bool creates_run = false;
    if (e.has_run_due()) {
      const std::string& id = e.run_due().run_id();
      creates_run = std::none_of(job.state.runs().begin(), job.state.runs().end(),
                                 [&](const v1::RunRecord& run) { return run.run_id() == id; });
    }
    events::FoldEffects effects;
    events::FoldResult r = events::Apply(job.state, e, &effects);
    if (creates_run && r.applied()) job.created_runs.insert(e.run_due().run_id());
    if (effects.run) {
      std::string run_id = effects.run->run_id();
      job.runs[run_id] = std::move(*effects.run);
    }
    if (r.applied()) {
      FoldDeadLetter(e, job.state, dead_letters);
      FoldWorkflow(e, workflows);
      FoldDependencies(e, job.state, dependencies);
    }
    switch (r.outcome) {
      case events::Outcome::kApplied:
        ++b->counts.applied;
        job.changed = true;
        break;
      case events::Outcome::kDuplicate: ++b->counts.duplicates; break;
      case events::Outcome::kRejected: ++b->counts.rejected; break;
    }
    EventDescription d = Describe(e, r, &job.state);
    std::string_view type = EventTypeOf(e);
    if (logger_.ShouldLog(level_enum::debug)) {
      logger_.Log(level_enum::debug, d.message,
                  {{"job_id", e.job_id()},
                   {"run_id", RunIdOf(e)},
                   {"event_id", e.event_id()},
                   {"event_type", type},
                   {"outcome", events::OutcomeName(r.outcome)}});
    }
    JobLogRow row;
    row.fields_json = JsonbText(e);
    row.run_id = std::string(RunIdOf(e));
    // The envelope is not read again: its strings move into the row.
    row.event_id = std::move(*e.mutable_event_id());
    row.job_id = std::move(*e.mutable_job_id());
    row.producer = std::move(*e.mutable_producer());
    row.ts = e.occurred_at();
    row.level = std::move(d.level);
    row.event_type = type.empty() ? "Unknown" : std::string(type);
    row.outcome = std::string(events::OutcomeName(r.outcome));
    row.message = std::move(d.message);
    row.topic = item.record->topic;
    row.partition = item.record->partition;
    row.offset = item.record->offset;
    row.envelope = std::move(item.record->value);
    if (e.has_run_due()) {
      row.scheduled_for = e.run_due().scheduled_for();
    } else if (e.has_fire_skipped()) {
      row.scheduled_for = e.fire_skipped().scheduled_for();
      row.scheduled_until = e.fire_skipped().last_scheduled_for();
    }
    b->out.logs.push_back(std::move(row));
  }

  // 4. Rows of changed jobs and changed runs; offsets to fence and store. The
  //    cache moves on to the batch's states now: the next batch folds on top
  //    of them while this one commits.
  b->out.projection = options_.projection;
  b->out.topic = options_.topic;
  b->out.jobs.reserve(b->jobs.size());
  b->out.new_jobs.reserve(b->jobs.size());
  std::set<std::string> runs_logged;  // non-UUID run ids reported once
  for (auto& [job_id, job] : b->jobs) {
    if (job.changed) {
      for (auto& [run_id, run] : job.runs) {
        if (!LooksLikeUuid(run_id)) {
          if (runs_logged.insert(run.run_id()).second) {
            logger_.Log(level_enum::err, "run id is not a UUID; no job_executions row",
                        {{"job_id", job_id}, {"run_id", run.run_id()}});
          }
          continue;
        }
        const bool created = job.created_runs.count(run_id) != 0;
        b->out.executions.push_back({job_id, std::move(run), created});
      }
      if (job.state.workflow_run()) {
        // A workflow run is not a job: its own table, never `jobs`.
        WorkflowRow row;
        if (auto it = workflows.find(job_id); it != workflows.end()) row = std::move(it->second);
        row.state = job.state;
        b->out.workflows.push_back(std::move(row));
      } else if (events::IsTerminal(job.state.status())) {
        // Ended: few events follow (a late result, a requeue), so the state
        // moves into the row rather than being copied for the cache; one
        // that does come is read from the store.
        b->out.jobs.push_back(std::move(job.state));
        b->out.new_jobs.push_back(job.is_new);
        continue;
      } else {
        b->out.jobs.push_back(job.state);
        b->out.new_jobs.push_back(job.is_new);
      }
    }
    cache_->Put(job_id, job.partition, std::move(job.state));
  }
  for (auto& [job_id, row] : dead_letters) b->out.dead_letters.push_back(std::move(row));
  for (auto& [edge, row] : dependencies) b->out.dependencies.push_back(std::move(row));
  for (const auto& [p, next] : b->next_offsets) {
    b->out.offsets.push_back({p, positions_[p], next});
    positions_[p] = next;
  }

  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.cached_jobs = static_cast<int64_t>(cache_->size());
  }

  // 5. Hand over to the writer (waits while the previous batch commits).
  if (!Submit(std::move(b))) {
    // Stopping, or the previous batch conflicted: the states and positions
    // just advanced are not going to be stored.
    restart_consumer_ = !stopping();
    return false;
  }
  return true;
}

bool Projector::LoadStates(Batch& b) {
  std::vector<std::string> missing;
  for (const Batch::Item& item : b.items) {
    const std::string& id = item.event->job_id();
    auto [it, inserted] = b.jobs.try_emplace(id);
    if (!inserted) continue;
    it->second.partition = item.record->partition;
    if (auto cached = cache_->Take(id)) {
      it->second.state = std::move(*cached);
    } else {
      missing.push_back(id);
    }
  }
  if (!missing.empty()) {
    // A job of the batch in flight that fell out of the cache must be read
    // after that batch commits, or the read would miss its newest events.
    bool wait = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const std::string& id : missing) wait = wait || inflight_jobs_.count(id) != 0;
    }
    if (wait && !WaitWriterIdle()) return false;
  }
  std::chrono::milliseconds delay = options_.retry_backoff_initial;
  while (!missing.empty()) {
    auto loaded = store_.LoadStates(missing);
    if (loaded.ok()) {
      for (auto& [id, state] : loaded.value()) {
        if (auto it = b.jobs.find(id); it != b.jobs.end()) it->second.state = std::move(state);
      }
      break;
    }
    logger_.Log(level_enum::err, "cannot load job states; retrying",
                {{"jobs", std::to_string(missing.size())}, {"error", loaded.status().ToString()}});
    CountStoreFailure();
    if (!Backoff(delay)) return false;  // stopping; nothing was written
  }
  return true;
}

void Projector::MaybeCommit(bool force) {
  if (!options_.commit_to_log || consumer_ == nullptr) return;
  auto now = SteadyClock::now();
  if (!force && now - last_commit_ < options_.commit_interval) return;
  last_commit_ = now;
  std::map<TopicPartition, int64_t> offsets;
  {
    std::lock_guard<std::mutex> lock(mu_);
    offsets.swap(committed_);
  }
  if (offsets.empty()) return;
  Status s = consumer_->Commit(offsets);
  if (!s.ok()) {
    // Informational only: the store's offsets are what the projector resumes from.
    logger_.Log(level_enum::debug, "offset commit to the log failed (informational)",
                {{"error", s.ToString()}});
  }
}

void Projector::MaybeRefreshWatermarks() {
  if (consumer_ == nullptr) return;
  const auto now = SteadyClock::now();
  if (now - last_watermarks_ < std::chrono::seconds(1)) return;
  last_watermarks_ = now;
  std::map<int32_t, events::Watermarks> known;
  for (const auto& [p, position] : positions_) {
    auto w = consumer_->CachedWatermarks({options_.topic, p});
    if (w.ok()) known[p] = *w;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [p, w] : known) {
    auto it = progress_.find(p);
    if (it == progress_.end()) continue;
    it->second.low_watermark = w.low;
    it->second.high_watermark = w.high;
  }
}

std::vector<PartitionProgress> Projector::progress() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PartitionProgress> out;
  out.reserve(progress_.size());
  for (const auto& [p, pp] : progress_) out.push_back(pp);
  return out;
}

void Projector::MaybeLogProgress() {
  if (options_.progress_log_interval.count() <= 0) return;
  auto now = SteadyClock::now();
  auto elapsed = now - last_progress_;
  if (elapsed < options_.progress_log_interval) return;
  ProjectorStats s = stats();
  if (s.records == progress_base_.records) {
    last_progress_ = now;
    return;
  }
  double secs = std::chrono::duration<double>(elapsed).count();
  uint64_t events = s.records - progress_base_.records;
  logger_.Log(level_enum::info, "projection progress",
              {{"events", std::to_string(events)},
               {"events_per_s", std::to_string(static_cast<int64_t>(events / secs))},
               {"batches", std::to_string(s.batches - progress_base_.batches)},
               {"last_batch_ms", std::to_string(s.last_batch_ms)},
               {"last_write_ms", std::to_string(s.last_write_ms)},
               {"rejected", std::to_string(s.rejected - progress_base_.rejected)},
               {"undecodable", std::to_string(s.undecodable - progress_base_.undecodable)},
               {"cached_jobs", std::to_string(s.cached_jobs)}});
  progress_base_ = s;
  last_progress_ = now;
}

// ---------------------------------------------------------------------------
// Writer thread

void Projector::WriterLoop() {
  while (true) {
    std::unique_ptr<Batch> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || pending_ != nullptr; });
      if (stop_) {
        pending_.reset();  // abandoned: consumed again on the next start
        inflight_jobs_.clear();
        break;
      }
      batch = std::move(pending_);
      writing_ = true;
    }
    const auto started = SteadyClock::now();
    WriteOutcome outcome = WriteBatch(*batch);
    const auto done = SteadyClock::now();
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      inflight_jobs_.clear();
      if (outcome == WriteOutcome::kConflict) writer_conflict_ = true;
      if (outcome == WriteOutcome::kCommitted) {
        for (const OffsetUpdate& u : batch->out.offsets) {
          committed_[{options_.topic, u.partition}] = u.next_offset;
          if (auto it = progress_.find(u.partition); it != progress_.end()) {
            it->second.projected = u.next_offset;
          }
        }
        for (const auto& [p, ms] : batch->newest_ms) {
          if (auto it = progress_.find(p); it != progress_.end()) {
            it->second.newest_event_ms = std::max(it->second.newest_event_ms, ms);
          }
        }
        const ProjectorStats& c = batch->counts;
        stats_.records += c.records;
        stats_.applied += c.applied;
        stats_.duplicates += c.duplicates;
        stats_.rejected += c.rejected;
        stats_.undecodable += c.undecodable;
        ++stats_.batches;
        stats_.last_batch_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(done - batch->polled_at).count();
        stats_.last_write_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(done - started).count();
      }
      finished_ = std::move(batch);  // the poll thread frees it
    }
    cv_.notify_all();
  }
  cv_.notify_all();
}

Projector::WriteOutcome Projector::WriteBatch(Batch& b) {
  std::chrono::milliseconds delay = options_.retry_backoff_initial;
  for (int attempt = 1;; ++attempt) {
    Status s = store_.Write(b.out);
    if (s.ok()) {
      if (attempt > 1) {
        logger_.Log(level_enum::info, "projection batch written after retries",
                    {{"attempts", std::to_string(attempt)}});
      }
      return WriteOutcome::kCommitted;
    }
    CountStoreFailure();
    if (s.code() == ErrorCode::kConflict) {
      // Either an earlier attempt committed although we saw an error, or
      // someone else moved the offsets. The stored offsets tell which.
      std::vector<int32_t> partitions;
      for (const auto& [p, next] : b.next_offsets) partitions.push_back(p);
      std::optional<std::map<int32_t, int64_t>> stored;
      while (!stored) {
        auto r = store_.LoadOffsets(options_.projection, options_.topic, partitions);
        if (r.ok()) {
          stored = std::move(r).value();
        } else if (!Backoff(delay)) {
          return WriteOutcome::kStopped;
        }
      }
      bool committed = true;
      for (const auto& [p, next] : b.next_offsets) {
        auto it = stored->find(p);
        committed = committed && it != stored->end() && it->second == next;
      }
      if (committed) {
        logger_.Log(level_enum::info, "projection batch had been committed by an earlier attempt",
                    {{"partitions", PartitionList(partitions)}});
        return WriteOutcome::kCommitted;
      }
      logger_.Log(level_enum::warn,
                  "projection offsets moved under this projector; restarting from stored offsets",
                  {{"partitions", PartitionList(partitions)}, {"error", s.message()}});
      return WriteOutcome::kConflict;
    }
    logger_.Log(attempt == 1 ? level_enum::err : level_enum::warn,
                "cannot write projection batch; retrying",
                {{"attempt", std::to_string(attempt)},
                 {"events", std::to_string(b.out.logs.size())},
                 {"error", s.ToString()}});
    if (!Backoff(delay)) return WriteOutcome::kStopped;  // consumed again on the next start
  }
}

}  // namespace jobsched::projections
