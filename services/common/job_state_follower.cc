#include "services/common/job_state_follower.h"

#include <algorithm>

#include "services/common/logging.h"

namespace jobsched::services {

using events::Envelope;
using events::JobState;
using events::TopicPartition;

JobStateFollower::JobStateFollower(events::EventLog& log, events::Producer& producer,
                                   FollowerOptions options, Hooks hooks,
                                   std::shared_ptr<spdlog::logger> logger)
    : log_(log),
      options_(std::move(options)),
      hooks_(std::move(hooks)),
      logger_(std::move(logger)) {
  if (options_.state.snapshots && !options_.snapshot_topic.empty()) {
    snapshots_ = std::make_unique<SnapshotStore>(log_, producer, options_.snapshot_topic,
                                                 options_.owner, logger_);
  }
}

JobStateFollower::~JobStateFollower() { Close(); }

Status JobStateFollower::Open() {
  events::ConsumerOptions opts;
  opts.group_id = options_.group_id;
  opts.topics = {options_.topic};
  opts.listener = this;
  opts.client_id = options_.client_id;
  opts.profile = events::FetchProfile::kLatency;  // its owners decide on what it reads
  auto c = log_.NewConsumer(opts);
  if (!c.ok()) return c.status();
  consumer_ = std::move(c).value();
  return Status::Ok();
}

void JobStateFollower::Close() {
  if (consumer_) {
    consumer_->Close();
    consumer_.reset();
  }
}

std::map<TopicPartition, int64_t> JobStateFollower::OnAssigned(
    const std::vector<TopicPartition>& parts) {
  std::map<TopicPartition, int64_t> start;
  std::vector<int32_t> ids;
  for (const auto& tp : parts) {
    partitions_[tp.partition] = Partition{};
    start[tp] = events::kOffsetBeginning;
    ids.push_back(tp.partition);
  }
  if (hooks_.on_assigned) hooks_.on_assigned(ids);
  if (snapshots_ && !ids.empty()) {
    auto snapshots = snapshots_->ReadLatest(ids);
    if (!snapshots.ok()) {
      Log(*logger_, spdlog::level::err, "cannot read the partitions' snapshots; replaying the log",
          {{"partitions", std::to_string(ids.size())}, {"error", snapshots.status().ToString()}});
    } else {
      for (const auto& [id, s] : *snapshots) {
        Partition& p = partitions_[id];
        p.state = PartitionState::Restore(s);
        p.restored = true;
        if (hooks_.on_restored) hooks_.on_restored(id, s.extra());
        start[{options_.topic, id}] = s.next_offset();
        Log(*logger_, spdlog::level::info, "partition restored from snapshot",
            {{"partition", std::to_string(id)},
             {"next_offset", std::to_string(s.next_offset())},
             {"jobs", std::to_string(s.jobs_size())},
             {"writer", s.writer()}});
      }
    }
  }
  Log(*logger_, spdlog::level::info, "partitions assigned, catching up",
      {{"count", std::to_string(parts.size())}});
  return start;
}

void JobStateFollower::OnRevoked(const std::vector<TopicPartition>& parts) {
  for (const auto& tp : parts) {
    partitions_.erase(tp.partition);
    if (hooks_.on_revoked) hooks_.on_revoked(tp.partition);
  }
  Log(*logger_, spdlog::level::info, "partitions revoked",
      {{"count", std::to_string(parts.size())}});
}

void JobStateFollower::ResolveTargets() {
  std::vector<TopicPartition> unknown;
  for (const auto& [id, p] : partitions_) {
    if (p.target < 0) unknown.push_back({options_.topic, id});
  }
  if (unknown.empty()) return;
  auto wms = consumer_->QueryWatermarks(unknown, std::chrono::seconds(5));
  if (!wms.ok()) {
    Log(*logger_, spdlog::level::warn, "cannot read watermarks yet; will retry",
        {{"partitions", std::to_string(unknown.size())}, {"error", wms.status().ToString()}});
    return;
  }
  for (const auto& [tp, wm] : *wms) {
    Partition& p = partitions_.at(tp.partition);
    p.target = wm.high;
    int64_t from = p.state.next_offset();
    if (wm.low > from) {
      // Retention dropped events this member never folded: jobs they
      // concerned are unknown (no snapshot) or stale (an old snapshot).
      Log(*logger_, spdlog::level::err,
          p.restored
              ? "events after the snapshot were dropped by retention; jobs they changed are stale"
              : "partition starts after dropped events and has no snapshot; older jobs are lost",
          {{"partition", std::to_string(tp.partition)},
           {"from_offset", std::to_string(from)},
           {"low_watermark", std::to_string(wm.low)}});
    }
    MaybeCaughtUp(tp.partition, p);
  }
}

void JobStateFollower::MaybeCaughtUp(int32_t id, Partition& p) {
  if (p.caught_up || p.target < 0) return;
  if (p.state.next_offset() >= p.target) {
    p.caught_up = true;
    Log(*logger_, spdlog::level::info, "partition caught up",
        {{"partition", std::to_string(id)},
         {"jobs", std::to_string(p.state.size())},
         {"folded", std::to_string(p.state.folded())}});
    if (hooks_.on_caught_up) hooks_.on_caught_up(id);
  }
}

size_t JobStateFollower::PollOnce(std::chrono::milliseconds timeout) {
  auto records = consumer_->Poll(1000, timeout);
  ResolveTargets();
  size_t folded = 0;
  for (const auto& r : records) {
    auto it = partitions_.find(r.partition);
    if (it == partitions_.end()) continue;  // revoked in this very poll
    Partition& p = it->second;
    if (r.offset < p.state.next_offset()) continue;  // already in the snapshot
    p.bytes_since_snapshot += r.value.size();
    auto env = events::DecodeEnvelope(r.value);
    if (!env.ok()) {
      Log(*logger_, spdlog::level::err, "skipping undecodable record",
          {{"partition", std::to_string(r.partition)},
           {"offset", std::to_string(r.offset)},
           {"error", env.status().message()}});
      p.state.Skip(r.offset);
      MaybeCaughtUp(r.partition, p);
      continue;
    }
    const Envelope& e = env.value();
    PartitionState::Applied applied = p.state.Apply(r.offset, e);
    if (hooks_.on_event) {
      hooks_.on_event(r.partition, r.offset, e, applied.state, applied.result, !p.caught_up);
    }
    ++folded;
    MaybeCaughtUp(r.partition, p);
  }
  return folded;
}

void JobStateFollower::WriteSnapshot(int32_t id, Partition& p, TimePoint now) {
  v1::PartitionSnapshot s;
  s.set_owner(options_.owner);
  s.set_topic(options_.topic);
  s.set_partition(id);
  *s.mutable_taken_at() = ToProto(now);
  s.set_writer(options_.client_id);
  p.state.SaveTo(s);
  if (hooks_.snapshot_extra) s.set_extra(hooks_.snapshot_extra(id));
  auto written = snapshots_->Write(s);
  if (!written.ok()) {
    Log(*logger_, spdlog::level::warn, "snapshot not written; will retry",
        {{"partition", std::to_string(id)}, {"error", written.status().ToString()}});
    return;
  }
  p.snapshot_folded = p.state.folded();
  p.bytes_since_snapshot = 0;
  p.snapshot_bytes = static_cast<uint64_t>(*written);
  p.snapshot_at = now;
  ++snapshots_written_;
  Log(*logger_, spdlog::level::debug, "snapshot written",
      {{"partition", std::to_string(id)},
       {"next_offset", std::to_string(s.next_offset())},
       {"jobs", std::to_string(s.jobs_size())},
       {"bytes", std::to_string(*written)}});
}

void JobStateFollower::Maintain(TimePoint now, bool force) {
  if (force || now - last_eviction_ >= std::chrono::seconds(1)) {
    last_eviction_ = now;
    for (auto& [id, p] : partitions_) p.state.EvictTerminal(now - options_.state.terminal_linger);
  }
  if (!snapshots_) return;
  for (auto& [id, p] : partitions_) {
    if (!p.caught_up) continue;
    if (p.snapshot_at == TimePoint{}) p.snapshot_at = now;  // the interval starts at catch-up
    uint64_t since = p.state.folded() - p.snapshot_folded;
    if (since == 0) continue;
    // Not before as many bytes of log as the last snapshot took: a snapshot
    // costs the size of the state, so this keeps its cost per folded byte
    // constant however many jobs the partition holds (at thousands of jobs a
    // second, 1 MiB of log arrives faster than a large state can be written).
    // Yet never more than 4x snapshot_every_bytes apart, which retention
    // must not outrun (StateSettings).
    const uint64_t base = options_.state.snapshot_every_bytes;
    const uint64_t every = std::clamp(p.snapshot_bytes, base, 4 * base);
    if (force || p.bytes_since_snapshot >= every ||
        now - p.snapshot_at >= options_.state.snapshot_interval) {
      WriteSnapshot(id, p, now);
    }
  }
}

const JobState* JobStateFollower::Find(int32_t partition, const std::string& job_id) const {
  auto p = partitions_.find(partition);
  return p == partitions_.end() ? nullptr : p->second.state.Find(job_id);
}

bool JobStateFollower::CaughtUp(int32_t partition) const {
  auto p = partitions_.find(partition);
  return p != partitions_.end() && p->second.caught_up;
}

void JobStateFollower::ForEachJob(int32_t partition,
                                  const std::function<void(const JobState&)>& fn) const {
  auto p = partitions_.find(partition);
  if (p == partitions_.end()) return;
  p->second.state.ForEach(fn);
}

size_t JobStateFollower::JobCount() const {
  size_t n = 0;
  for (const auto& [id, p] : partitions_) n += p.state.size();
  return n;
}

}  // namespace jobsched::services
