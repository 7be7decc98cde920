#include "services/common/job_state_follower.h"

#include "services/common/logging.h"

namespace jobsched::services {

using events::Envelope;
using events::JobState;
using events::TopicPartition;

JobStateFollower::JobStateFollower(events::EventLog& log, std::string topic, std::string group_id,
                                   std::string client_id, Hooks hooks,
                                   std::shared_ptr<spdlog::logger> logger)
    : log_(log),
      topic_(std::move(topic)),
      group_id_(std::move(group_id)),
      client_id_(std::move(client_id)),
      hooks_(std::move(hooks)),
      logger_(std::move(logger)) {}

JobStateFollower::~JobStateFollower() { Close(); }

Status JobStateFollower::Open() {
  events::ConsumerOptions opts;
  opts.group_id = group_id_;
  opts.topics = {topic_};
  opts.listener = this;
  opts.client_id = client_id_;
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
  for (const auto& tp : parts) {
    partitions_[tp.partition] = Partition{};
    start[tp] = events::kOffsetBeginning;  // the whole partition is the state
  }
  Log(*logger_, spdlog::level::info, "partitions assigned, replaying",
      {{"count", std::to_string(parts.size())}});
  return start;
}

void JobStateFollower::OnRevoked(const std::vector<TopicPartition>& parts) {
  for (const auto& tp : parts) {
    partitions_.erase(tp.partition);
    if (hooks_.on_revoked) hooks_.on_revoked(tp.partition);
  }
  Log(*logger_, spdlog::level::info, "partitions revoked", {{"count", std::to_string(parts.size())}});
}

void JobStateFollower::ResolveTargets() {
  for (auto& [id, p] : partitions_) {
    if (p.target >= 0) continue;
    auto wm = consumer_->QueryWatermarks({topic_, id}, std::chrono::seconds(5));
    if (!wm.ok()) {
      Log(*logger_, spdlog::level::warn, "cannot read watermarks yet; will retry",
          {{"partition", std::to_string(id)}, {"error", wm.status().ToString()}});
      continue;
    }
    p.target = wm->high;
    if (wm->low > 0) {
      // Events before `low` were dropped by retention: jobs submitted before
      // it are unknown to this member until snapshots exist.
      Log(*logger_, spdlog::level::warn, "partition starts after dropped events; older jobs are not recovered",
          {{"partition", std::to_string(id)}, {"low_watermark", std::to_string(wm->low)}});
    }
    MaybeCaughtUp(id, p);
  }
}

void JobStateFollower::MaybeCaughtUp(int32_t id, Partition& p) {
  if (p.caught_up || p.target < 0) return;
  if (p.target == 0 || p.next_offset >= p.target) {
    p.caught_up = true;
    Log(*logger_, spdlog::level::info, "partition caught up",
        {{"partition", std::to_string(id)}, {"jobs", std::to_string(p.jobs.size())}});
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
    p.next_offset = r.offset + 1;
    auto env = events::DecodeEnvelope(r.value);
    if (!env.ok()) {
      Log(*logger_, spdlog::level::err, "skipping undecodable record",
          {{"partition", std::to_string(r.partition)},
           {"offset", std::to_string(r.offset)},
           {"error", env.status().message()}});
      MaybeCaughtUp(r.partition, p);
      continue;
    }
    const Envelope& e = env.value();
    auto [job, inserted] = p.jobs.try_emplace(e.job_id());
    events::FoldResult result = events::Apply(job->second, e);
    if (inserted && job->second.status() == v1::JOB_STATUS_UNSPECIFIED) {
      // An event for a job this partition never saw submitted: keep nothing.
      JobState empty;
      if (hooks_.on_event) hooks_.on_event(r.partition, r.offset, e, empty, result, !p.caught_up);
      p.jobs.erase(job);
    } else {
      if (inserted) p.order.push_back(e.job_id());
      if (hooks_.on_event) hooks_.on_event(r.partition, r.offset, e, job->second, result, !p.caught_up);
    }
    ++folded;
    MaybeCaughtUp(r.partition, p);
  }
  return folded;
}

const JobState* JobStateFollower::Find(int32_t partition, const std::string& job_id) const {
  auto p = partitions_.find(partition);
  if (p == partitions_.end()) return nullptr;
  auto j = p->second.jobs.find(job_id);
  return j == p->second.jobs.end() ? nullptr : &j->second;
}

bool JobStateFollower::CaughtUp(int32_t partition) const {
  auto p = partitions_.find(partition);
  return p != partitions_.end() && p->second.caught_up;
}

void JobStateFollower::ForEachJob(int32_t partition,
                                  const std::function<void(const JobState&)>& fn) const {
  auto p = partitions_.find(partition);
  if (p == partitions_.end()) return;
  for (const auto& id : p->second.order) fn(p->second.jobs.at(id));
}

size_t JobStateFollower::JobCount() const {
  size_t n = 0;
  for (const auto& [id, p] : partitions_) n += p.jobs.size();
  return n;
}

}  // namespace jobsched::services
