#include "events/memory_event_log.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

namespace jobsched::events {

uint32_t Murmur2(std::string_view data) {
  // Kafka's Utils.murmur2 (Java ints, >>> as unsigned shifts).
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t kM = 0x5bd1e995;
  constexpr int kR = 24;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  const size_t length = data.size();
  uint32_t h = kSeed ^ static_cast<uint32_t>(length);
  size_t i = 0;
  for (; i + 4 <= length; i += 4) {
    uint32_t k = static_cast<uint32_t>(bytes[i]) | static_cast<uint32_t>(bytes[i + 1]) << 8 |
                 static_cast<uint32_t>(bytes[i + 2]) << 16 |
                 static_cast<uint32_t>(bytes[i + 3]) << 24;
    k *= kM;
    k ^= k >> kR;
    k *= kM;
    h *= kM;
    h ^= k;
  }
  switch (length - i) {
    case 3:
      h ^= static_cast<uint32_t>(bytes[i + 2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<uint32_t>(bytes[i + 1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= bytes[i];
      h *= kM;
  }
  h ^= h >> 13;
  h *= kM;
  h ^= h >> 15;
  return h;
}

int32_t PartitionForKey(std::string_view key, int32_t partition_count) {
  return static_cast<int32_t>((Murmur2(key) & 0x7fffffffu) %
                              static_cast<uint32_t>(partition_count));
}

namespace internal {
namespace {

using Clock = std::chrono::steady_clock;

struct PartitionLog {
  int64_t low = 0;             // offset of records.front()
  std::deque<Record> records;  // partition and offset filled in
  int64_t high() const { return low + static_cast<int64_t>(records.size()); }
};

// One consumer. The group protocol, per member:
//   join (generation++) -> revoke the old assignment -> ack the generation ->
//   once every member acked: plan -> take the plan's share -> fetch.
struct MemberState {
  std::string group;  // "" = no group: every partition of `topics` (or `partitions`)
  std::vector<std::string> topics;
  std::vector<TopicPartition> partitions;  // no group: only these, when not empty
  bool in_group = false;          // joined and not evicted/closed
  int64_t acked_generation = -1;  // the generation it has rejoined for
  bool has_assignment = false;    // `assignment` handed out (possibly empty)
  int64_t assigned_generation = -1;
  std::vector<TopicPartition> assignment;
  std::map<TopicPartition, int64_t> positions;  // next offset to return
  size_t next_fetch = 0;                        // round-robin start in `assignment`
};

struct GroupState {
  std::vector<uint64_t> members;  // join order
  int64_t generation = 0;
  bool stable = true;  // the plan for `generation` is computed
  Clock::time_point rebalance_started;
  std::map<uint64_t, std::vector<TopicPartition>> plan;
  std::map<TopicPartition, int64_t> committed;
};

}  // namespace

// All state of one MemoryEventLog, shared with its producers and consumers.
// Every member is guarded by `mu`; methods named *Locked require it held.
class MemoryLogCore {
 public:
  enum class Action { kNone, kRevoke, kAssign };
  struct Step {
    Action action = Action::kNone;
    std::vector<TopicPartition> parts;
  };

  explicit MemoryLogCore(MemoryEventLogOptions options) : options_(options) {}

  std::mutex mu;
  std::condition_variable cv;  // notified on appends and group changes

  // MemoryEventLog::SetReachable; atomic, not guarded by mu.
  std::atomic<bool> reachable{true};

  Result<std::vector<PartitionLog>*> TopicLocked(const std::string& name, bool create) {
    auto it = topics_.find(name);
    if (it != topics_.end()) return &it->second;
    if (!create || options_.auto_create_partitions <= 0) {
      return Status::NotFound("unknown topic '" + name + "'");
    }
    auto& parts = topics_[name];
    parts.resize(static_cast<size_t>(options_.auto_create_partitions));
    return &parts;
  }

  Status CreateTopicLocked(const std::string& name, int partitions) {
    if (name.empty()) return Status::Invalid("empty topic name");
    if (partitions <= 0) return Status::Invalid("topic '" + name + "' needs partitions > 0");
    auto it = topics_.find(name);
    if (it == topics_.end()) {
      topics_[name].resize(static_cast<size_t>(partitions));
      return Status::Ok();
    }
    if (it->second.size() != static_cast<size_t>(partitions)) {
      return Status::Conflict("topic '" + name + "' exists with " +
                              std::to_string(it->second.size()) + " partitions");
    }
    return Status::Ok();
  }

  Result<PartitionLog*> PartitionLocked(const TopicPartition& tp) {
    auto it = topics_.find(tp.topic);
    if (it == topics_.end()) return Status::NotFound("unknown topic '" + tp.topic + "'");
    if (tp.partition < 0 || static_cast<size_t>(tp.partition) >= it->second.size()) {
      return Status::NotFound("unknown partition " + ToString(tp));
    }
    return &it->second[static_cast<size_t>(tp.partition)];
  }

  // Stores `record` (filling partition, offset, timestamp) unless it is
  // invalid or the failure switch is on.
  Status AppendLocked(Record& record) {
    if (record.topic.empty()) return Status::Invalid("record without topic");
    auto topic = TopicLocked(record.topic, /*create=*/true);
    if (!topic.ok()) return topic.status();
    auto& parts = *topic.value();
    const auto count = static_cast<int32_t>(parts.size());
    int32_t partition = record.partition;
    if (partition < -1) return Status::Invalid("bad partition " + std::to_string(partition));
    if (partition >= count) {
      return Status::NotFound("unknown partition " + ToString({record.topic, partition}));
    }
    if (partition == -1) {
      partition = record.key.empty() ? static_cast<int32_t>(round_robin_++ % parts.size())
                                     : PartitionForKey(record.key, count);
    }
    if (fail_remaining_ > 0) {
      --fail_remaining_;
      return fail_status_;
    }
    PartitionLog& log = parts[static_cast<size_t>(partition)];
    record.partition = partition;
    record.offset = log.high();
    if (record.timestamp_ms == 0) {
      record.timestamp_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
    }
    log.records.push_back(record);
    return Status::Ok();
  }

  void FailNextAppendsLocked(int n, Status status) {
    fail_remaining_ = std::max(n, 0);
    fail_status_ = status.ok() ? Status::Internal("injected append failure") : std::move(status);
  }

  uint64_t AddMemberLocked(const ConsumerOptions& options) {
    uint64_t id = next_member_id_++;
    MemberState& m = members_[id];
    m.group = options.group_id;
    m.topics = options.topics;
    m.partitions = options.partitions;
    return id;
  }

  // Moves member `id` one step through the group protocol. Returns the
  // listener call to make (outside the lock), then FinishRevoke/FinishAssign.
  Step AdvanceLocked(uint64_t id, Clock::time_point now) {
    MemberState& m = members_.at(id);
    if (m.group.empty()) {
      if (m.has_assignment) return {};
      std::vector<TopicPartition> parts = m.partitions;
      for (const auto& topic : m.partitions.empty() ? m.topics : std::vector<std::string>{}) {
        const auto count = static_cast<int32_t>(topics_.at(topic).size());
        for (int32_t p = 0; p < count; ++p) parts.push_back({topic, p});
      }
      return Assign(m, -1, std::move(parts));
    }
    GroupState& g = groups_[m.group];
    if (m.has_assignment && (!m.in_group || m.assigned_generation != g.generation)) {
      return {Action::kRevoke, m.assignment};
    }
    if (!m.in_group) {
      g.members.push_back(id);
      m.in_group = true;
      StartRebalanceLocked(g, now);
    }
    m.acked_generation = g.generation;
    if (!g.stable) {
      if (now - g.rebalance_started >= options_.rebalance_timeout) EvictLaggardsLocked(g);
      bool all_acked = std::all_of(g.members.begin(), g.members.end(), [&](uint64_t member) {
        return members_.at(member).acked_generation == g.generation;
      });
      if (all_acked) {
        PlanLocked(g);
        cv.notify_all();
      }
    }
    if (g.stable && !m.has_assignment) return Assign(m, g.generation, g.plan[id]);
    return {};
  }

  void FinishRevokeLocked(uint64_t id) {
    MemberState& m = members_.at(id);
    m.has_assignment = false;
    m.assignment.clear();
    m.positions.clear();
  }

  // Resolves where each assigned partition starts.
  void FinishAssignLocked(uint64_t id, const std::map<TopicPartition, int64_t>& starts) {
    MemberState& m = members_.at(id);
    for (const auto& tp : m.assignment) {
      auto it = starts.find(tp);
      m.positions[tp] =
          ResolveLocked(m.group, tp, it == starts.end() ? kOffsetCommitted : it->second);
    }
  }

  std::vector<Record> FetchLocked(uint64_t id, size_t max_records) {
    MemberState& m = members_.at(id);
    std::vector<Record> out;
    const size_t n = m.assignment.size();
    if (!m.has_assignment || n == 0) return out;
    for (size_t k = 0; k < n && out.size() < max_records; ++k) {
      const TopicPartition& tp = m.assignment[(m.next_fetch + k) % n];
      PartitionLog& log = *PartitionLocked(tp).value();  // topics are never deleted
      int64_t& pos = m.positions[tp];
      if (pos < log.low) pos = log.low;  // truncated below us: auto.offset.reset=earliest
      while (pos < log.high() && out.size() < max_records) {
        out.push_back(log.records[static_cast<size_t>(pos - log.low)]);
        ++pos;
      }
    }
    m.next_fetch = (m.next_fetch + 1) % n;
    return out;
  }

  // When a waiting member should look at its group again even without news.
  Clock::time_point WakeAtLocked(uint64_t id, Clock::time_point deadline) {
    const MemberState& m = members_.at(id);
    if (m.group.empty()) return deadline;
    const GroupState& g = groups_[m.group];
    if (g.stable) return deadline;
    return std::min(deadline, g.rebalance_started + options_.rebalance_timeout);
  }

  Status CommitLocked(uint64_t id, const std::map<TopicPartition, int64_t>& offsets) {
    const MemberState& m = members_.at(id);
    if (!m.in_group) return Status::Conflict("not a member of group '" + m.group + "'");
    if (!m.has_assignment) {
      return Status::Conflict("group '" + m.group + "' is rebalancing");
    }
    for (const auto& [tp, offset] : offsets) {
      auto part = PartitionLocked(tp);
      if (!part.ok()) return part.status();
      if (offset < 0) return Status::Invalid("cannot commit offset " + std::to_string(offset));
    }
    GroupState& g = groups_[m.group];
    for (const auto& [tp, offset] : offsets) g.committed[tp] = offset;
    return Status::Ok();
  }

  std::vector<TopicPartition> AssignmentLocked(uint64_t id) {
    const MemberState& m = members_.at(id);
    return m.has_assignment ? m.assignment : std::vector<TopicPartition>{};
  }

  void RemoveMemberLocked(uint64_t id, Clock::time_point now) {
    MemberState& m = members_.at(id);
    if (!m.group.empty() && m.in_group) {
      GroupState& g = groups_[m.group];
      std::erase(g.members, id);
      StartRebalanceLocked(g, now);
    }
    members_.erase(id);
    cv.notify_all();
  }

  Status TruncateLocked(const TopicPartition& tp, int64_t new_low) {
    auto part = PartitionLocked(tp);
    if (!part.ok()) return part.status();
    PartitionLog& log = *part.value();
    new_low = std::min(new_low, log.high());
    while (log.low < new_low) {
      log.records.pop_front();
      ++log.low;
    }
    cv.notify_all();
    return Status::Ok();
  }

  Status RedeliverFromLocked(const std::string& group, const TopicPartition& tp, int64_t offset) {
    if (group.empty()) return Status::Invalid("empty group id");
    if (offset < 0) return Status::Invalid("offset must be >= 0");
    auto part = PartitionLocked(tp);
    if (!part.ok()) return part.status();
    groups_[group].committed[tp] = offset;
    for (auto& [id, m] : members_) {
      if (m.group != group || !m.has_assignment) continue;
      if (std::find(m.assignment.begin(), m.assignment.end(), tp) == m.assignment.end()) continue;
      m.positions[tp] = ResolveLocked(group, tp, offset);
    }
    cv.notify_all();
    return Status::Ok();
  }

  void ResetCommittedLocked(const std::string& group) {
    auto it = groups_.find(group);
    if (it != groups_.end()) it->second.committed.clear();
  }

  std::optional<int64_t> CommittedLocked(const std::string& group, const TopicPartition& tp) {
    auto g = groups_.find(group);
    if (g == groups_.end()) return std::nullopt;
    auto it = g->second.committed.find(tp);
    if (it == g->second.committed.end()) return std::nullopt;
    return it->second;
  }

 private:
  Step Assign(MemberState& m, int64_t generation, std::vector<TopicPartition> parts) {
    m.has_assignment = true;
    m.assigned_generation = generation;
    m.assignment = std::move(parts);
    m.positions.clear();
    m.next_fetch = 0;
    return {Action::kAssign, m.assignment};
  }

  void StartRebalanceLocked(GroupState& g, Clock::time_point now) {
    ++g.generation;
    g.plan.clear();
    g.stable = g.members.empty();
    g.rebalance_started = now;
    cv.notify_all();
  }

  // Drops members that have not rejoined in time (max.poll.interval.ms); they
  // rejoin as new members when they poll again.
  void EvictLaggardsLocked(GroupState& g) {
    std::erase_if(g.members, [&](uint64_t id) {
      MemberState& m = members_.at(id);
      if (m.acked_generation == g.generation) return false;
      m.in_group = false;
      return true;
    });
  }

  // Range assignment per topic, members in join order.
  void PlanLocked(GroupState& g) {
    g.plan.clear();
    std::set<std::string> topics;
    for (uint64_t id : g.members) {
      g.plan[id];
      const auto& t = members_.at(id).topics;
      topics.insert(t.begin(), t.end());
    }
    for (const auto& topic : topics) {
      std::vector<uint64_t> subscribers;
      for (uint64_t id : g.members) {
        const auto& t = members_.at(id).topics;
        if (std::find(t.begin(), t.end(), topic) != t.end()) subscribers.push_back(id);
      }
      const size_t count = topics_.at(topic).size();
      const size_t per = count / subscribers.size();
      const size_t extra = count % subscribers.size();
      int32_t next = 0;
      for (size_t i = 0; i < subscribers.size(); ++i) {
        const size_t share = per + (i < extra ? 1 : 0);
        for (size_t j = 0; j < share; ++j) g.plan[subscribers[i]].push_back({topic, next++});
      }
    }
    g.stable = true;
  }

  // librdkafka semantics with auto.offset.reset=earliest.
  int64_t ResolveLocked(const std::string& group, const TopicPartition& tp, int64_t start) {
    const PartitionLog& log = *PartitionLocked(tp).value();
    if (start == kOffsetEnd) return log.high();
    if (start == kOffsetCommitted) {
      auto committed = group.empty() ? std::nullopt : CommittedLocked(group, tp);
      start = committed.value_or(kOffsetBeginning);
    }
    if (start < log.low || start > log.high()) return log.low;  // incl. kOffsetBeginning
    return start;
  }

  const MemoryEventLogOptions options_;
  std::map<std::string, std::vector<PartitionLog>> topics_;
  std::map<std::string, GroupState> groups_;
  std::map<uint64_t, MemberState> members_;
  uint64_t next_member_id_ = 1;
  uint64_t round_robin_ = 0;
  int fail_remaining_ = 0;
  Status fail_status_;
};

namespace {

using Action = MemoryLogCore::Action;

// Appends are stored synchronously; AppendAsync callbacks run on this
// producer's callback thread, in call order, each exactly once (the
// destructor runs the ones still queued).
class MemoryProducer : public Producer {
 public:
  explicit MemoryProducer(std::shared_ptr<MemoryLogCore> core)
      : core_(std::move(core)), thread_([this] { RunCallbacks(); }) {}

  ~MemoryProducer() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

  void AppendAsync(Record record, Callback done) override {
    Status status;
    {
      std::lock_guard lock(core_->mu);
      status = core_->AppendLocked(record);
    }
    if (status.ok()) core_->cv.notify_all();
    {
      std::lock_guard lock(mu_);
      pending_.push_back({std::move(done), std::move(status), std::move(record)});
    }
    cv_.notify_one();
  }

  bool Reachable() const override { return core_->reachable.load(); }

  Status Append(std::vector<Record> records) override {
    Status first_error;
    {
      std::lock_guard lock(core_->mu);
      for (Record& record : records) {
        Status status = core_->AppendLocked(record);
        if (!status.ok() && first_error.ok()) first_error = std::move(status);
      }
    }
    core_->cv.notify_all();
    return first_error;
  }

 private:
  struct Pending {
    Callback done;
    Status status;
    Record record;
  };

  void RunCallbacks() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return stop_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stop_ and drained
      Pending next = std::move(pending_.front());
      pending_.pop_front();
      lock.unlock();
      if (next.done) next.done(next.status, next.record);
      lock.lock();
    }
  }

  std::shared_ptr<MemoryLogCore> core_;
  std::mutex mu_;  // guards pending_ and stop_
  std::condition_variable cv_;
  std::deque<Pending> pending_;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

// The RebalanceListener is called without the log's lock held (it may call
// Commit, QueryWatermarks, ...). It must not throw.
class MemoryConsumer : public Consumer {
 public:
  MemoryConsumer(std::shared_ptr<MemoryLogCore> core, uint64_t id, const ConsumerOptions& options)
      : core_(std::move(core)), id_(id), group_(options.group_id), listener_(options.listener) {}

  ~MemoryConsumer() override { Close(); }

  std::vector<Record> Poll(size_t max_records, std::chrono::milliseconds timeout) override {
    if (closed_) return {};
    const auto deadline = Clock::now() + timeout;
    std::unique_lock lock(core_->mu);
    while (true) {
      const auto now = Clock::now();
      MemoryLogCore::Step step = core_->AdvanceLocked(id_, now);
      if (step.action == Action::kRevoke) {
        lock.unlock();
        if (listener_ != nullptr && !step.parts.empty()) listener_->OnRevoked(step.parts);
        lock.lock();
        core_->FinishRevokeLocked(id_);
        continue;
      }
      if (step.action == Action::kAssign) {
        std::map<TopicPartition, int64_t> starts;
        lock.unlock();
        if (listener_ != nullptr && !step.parts.empty()) starts = listener_->OnAssigned(step.parts);
        lock.lock();
        core_->FinishAssignLocked(id_, starts);
        continue;
      }
      std::vector<Record> records = core_->FetchLocked(id_, max_records);
      if (!records.empty() || now >= deadline) return records;
      core_->cv.wait_until(lock, core_->WakeAtLocked(id_, deadline));
    }
  }

  Status Commit(const std::map<TopicPartition, int64_t>& next_offsets) override {
    if (closed_) return Status::Invalid("consumer is closed");
    if (group_.empty()) return Status::Invalid("a consumer without group_id cannot commit");
    if (next_offsets.empty()) return Status::Ok();
    std::lock_guard lock(core_->mu);
    return core_->CommitLocked(id_, next_offsets);
  }

  Result<Watermarks> QueryWatermarks(const TopicPartition& tp,
                                     std::chrono::milliseconds /*timeout*/) override {
    std::lock_guard lock(core_->mu);
    auto part = core_->PartitionLocked(tp);
    if (!part.ok()) return part.status();
    return Watermarks{part.value()->low, part.value()->high()};
  }

  using Consumer::QueryWatermarks;

  std::vector<TopicPartition> Assignment() override {
    if (closed_) return {};
    std::lock_guard lock(core_->mu);
    return core_->AssignmentLocked(id_);
  }

  void Close() override {
    if (closed_) return;
    std::vector<TopicPartition> revoked;
    {
      std::lock_guard lock(core_->mu);
      revoked = core_->AssignmentLocked(id_);
    }
    // Still a member here, so the listener may commit.
    if (listener_ != nullptr && !revoked.empty()) listener_->OnRevoked(revoked);
    closed_ = true;
    std::lock_guard lock(core_->mu);
    core_->RemoveMemberLocked(id_, Clock::now());
  }

 private:
  std::shared_ptr<MemoryLogCore> core_;
  const uint64_t id_;
  const std::string group_;
  RebalanceListener* const listener_;
  bool closed_ = false;
};

}  // namespace
}  // namespace internal

MemoryEventLog::MemoryEventLog(MemoryEventLogOptions options)
    : core_(std::make_shared<internal::MemoryLogCore>(options)) {}

MemoryEventLog::~MemoryEventLog() = default;

Result<std::unique_ptr<Producer>> MemoryEventLog::NewProducer(const std::string& /*client_id*/) {
  return std::unique_ptr<Producer>(std::make_unique<internal::MemoryProducer>(core_));
}

Result<std::unique_ptr<Consumer>> MemoryEventLog::NewConsumer(const ConsumerOptions& options) {
  if (options.topics.empty()) return Status::Invalid("consumer needs at least one topic");
  uint64_t id = 0;
  {
    std::lock_guard lock(core_->mu);
    for (const auto& topic : options.topics) {
      if (topic.empty()) return Status::Invalid("empty topic name");
      auto parts = core_->TopicLocked(topic, /*create=*/true);
      if (!parts.ok()) return parts.status();
    }
    id = core_->AddMemberLocked(options);
  }
  return std::unique_ptr<Consumer>(std::make_unique<internal::MemoryConsumer>(core_, id, options));
}

Result<int> MemoryEventLog::PartitionCount(const std::string& topic) {
  if (topic.empty()) return Status::Invalid("empty topic name");
  std::lock_guard lock(core_->mu);
  auto parts = core_->TopicLocked(topic, /*create=*/true);
  if (!parts.ok()) return parts.status();
  return static_cast<int>(parts.value()->size());
}

Status MemoryEventLog::CreateTopic(const std::string& name, int partitions) {
  std::lock_guard lock(core_->mu);
  return core_->CreateTopicLocked(name, partitions);
}

void MemoryEventLog::FailNextAppends(int n, Status status) {
  std::lock_guard lock(core_->mu);
  core_->FailNextAppendsLocked(n, std::move(status));
}

void MemoryEventLog::SetReachable(bool reachable) { core_->reachable = reachable; }

Status MemoryEventLog::Truncate(const TopicPartition& tp, int64_t new_low) {
  std::lock_guard lock(core_->mu);
  return core_->TruncateLocked(tp, new_low);
}

Status MemoryEventLog::RedeliverFrom(const std::string& group, const TopicPartition& tp,
                                     int64_t offset) {
  std::lock_guard lock(core_->mu);
  return core_->RedeliverFromLocked(group, tp, offset);
}

void MemoryEventLog::ResetCommitted(const std::string& group) {
  std::lock_guard lock(core_->mu);
  core_->ResetCommittedLocked(group);
}

Result<std::vector<Record>> MemoryEventLog::Read(const TopicPartition& tp) const {
  std::lock_guard lock(core_->mu);
  auto part = core_->PartitionLocked(tp);
  if (!part.ok()) return part.status();
  return std::vector<Record>(part.value()->records.begin(), part.value()->records.end());
}

Result<Watermarks> MemoryEventLog::GetWatermarks(const TopicPartition& tp) const {
  std::lock_guard lock(core_->mu);
  auto part = core_->PartitionLocked(tp);
  if (!part.ok()) return part.status();
  return Watermarks{part.value()->low, part.value()->high()};
}

std::optional<int64_t> MemoryEventLog::Committed(const std::string& group,
                                                 const TopicPartition& tp) const {
  std::lock_guard lock(core_->mu);
  return core_->CommittedLocked(group, tp);
}

}  // namespace jobsched::events
