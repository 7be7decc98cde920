#include "services/api/recent_appends.h"

#include <algorithm>
#include <utility>

#include "events/fold.h"

namespace jobsched::api {

RecentAppends::RecentAppends(RecentAppendsOptions options, Now now)
    : options_(options), now_(std::move(now)) {}

void RecentAppends::Record(std::shared_ptr<const events::Envelope> event, int32_t partition,
                           int64_t offset) {
  const auto now = now_();
  const size_t bytes = event->ByteSizeLong();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(event->job_id());
  if (it != jobs_.end() && it->second.job.partition != partition) {
    EraseLocked(it);  // another partition: the topic was recreated; start over
    it = jobs_.end();
  }
  if (it == jobs_.end()) {
    it = jobs_.emplace(event->job_id(), Entry{}).first;
    it->second.job.partition = partition;
    it->second.lru = lru_.insert(lru_.end(), it->first);
  } else {
    lru_.splice(lru_.end(), lru_, it->second.lru);
  }
  Entry& entry = it->second;
  entry.touched = now;
  std::vector<AppendedEvent>& events = entry.job.events;
  auto pos = std::upper_bound(events.begin(), events.end(), offset,
                              [](int64_t o, const AppendedEvent& e) { return o < e.offset; });
  if (pos != events.begin() && std::prev(pos)->offset == offset) return;  // already known
  const bool submission = event->has_job_submitted();
  if (pos == events.begin()) entry.job.has_submission = submission;
  events.insert(pos, AppendedEvent{offset, std::move(event)});
  entry.bytes += bytes;
  bytes_ += bytes;
  while (events.size() > options_.max_events_per_job) {
    const size_t dropped = events.front().event->ByteSizeLong();
    entry.bytes -= dropped;
    bytes_ -= dropped;
    events.erase(events.begin());
    entry.job.has_submission = !events.empty() && events.front().event->has_job_submitted();
  }
  EvictLocked(now);
}

std::optional<RecentJob> RecentAppends::Find(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  EvictLocked(now_());
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return std::nullopt;
  return it->second.job;  // copies pointers to the events, not the events
}

size_t RecentAppends::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.size();
}

void RecentAppends::EraseLocked(std::unordered_map<std::string, Entry>::iterator it) {
  bytes_ -= it->second.bytes;
  lru_.erase(it->second.lru);
  jobs_.erase(it);
}

void RecentAppends::EvictLocked(std::chrono::steady_clock::time_point now) {
  while (!lru_.empty()) {
    auto it = jobs_.find(lru_.front());
    const bool over = jobs_.size() > options_.max_jobs || bytes_ > options_.max_bytes;
    if (!over && now - it->second.touched < options_.ttl) return;
    EraseLocked(it);
  }
}

bool ReflectsAppends(const v1::JobState& projected, int64_t next_offset, const RecentJob& recent) {
  v1::JobState state = projected;
  for (const AppendedEvent& e : recent.events) {
    if (e.offset < next_offset) continue;
    if (events::Apply(state, *e.event).outcome != events::Outcome::kDuplicate) return false;
  }
  return true;
}

std::optional<v1::JobState> UnprojectedState(std::optional<v1::JobState> projected,
                                             int64_t next_offset, const RecentJob& recent) {
  if (!projected && !recent.has_submission) return std::nullopt;
  v1::JobState state = projected ? std::move(*projected) : v1::JobState();
  for (const AppendedEvent& e : recent.events) {
    // Without a row, every remembered event counts: a row-less job has none
    // of them projected (its JobSubmitted comes first).
    if (projected && e.offset < next_offset) continue;
    events::Apply(state, *e.event);  // a rejection changes nothing, as in the projector
  }
  if (state.status() == v1::JOB_STATUS_UNSPECIFIED) return std::nullopt;
  return state;
}

bool InFlightKeys::Begin(const std::string& job_id, std::function<void()> resume) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, first] = waiting_.try_emplace(job_id);
  if (!first) it->second.push_back(std::move(resume));
  return first;
}

void InFlightKeys::Finish(const std::string& job_id) {
  std::vector<std::function<void()>> resumes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = waiting_.find(job_id);
    if (it == waiting_.end()) return;
    resumes = std::move(it->second);
    waiting_.erase(it);
  }
  for (auto& resume : resumes) resume();
}

}  // namespace jobsched::api
