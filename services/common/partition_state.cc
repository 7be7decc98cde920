#include "services/common/partition_state.h"

#include <algorithm>
#include <vector>

namespace jobsched::services {

using events::JobState;

PartitionState::Applied PartitionState::Apply(int64_t offset, const events::Envelope& e,
                                              events::FoldEffects* fx) {
  next_offset_ = offset + 1;
  ++folded_;
  auto [it, inserted] = jobs_.try_emplace(e.job_id());
  if (inserted) it->second.first_offset = offset;
  Applied out;
  out.result = events::Apply(it->second.state, e, fx);
  if (it->second.state.status() == v1::JOB_STATUS_UNSPECIFIED) {
    jobs_.erase(it);  // an event for a job this partition does not know: keep nothing
  } else {
    out.state = &it->second.state;
  }
  return out;
}

const JobState* PartitionState::Find(const std::string& job_id) const {
  auto it = jobs_.find(job_id);
  return it == jobs_.end() ? nullptr : &it->second.state;
}

std::vector<const PartitionState::Entry*> PartitionState::InLogOrder() const {
  std::vector<const Entry*> sorted;
  sorted.reserve(jobs_.size());
  for (const auto& [id, e] : jobs_) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(),
            [](const Entry* a, const Entry* b) { return a->first_offset < b->first_offset; });
  return sorted;
}

void PartitionState::ForEach(const std::function<void(const JobState&)>& fn) const {
  for (const Entry* e : InLogOrder()) fn(e->state);
}

size_t PartitionState::EvictTerminal(TimePoint before) {
  return std::erase_if(jobs_, [&](const auto& kv) {
    const JobState& s = kv.second.state;
    // A job that still owes its dependents a word stays until it told them.
    return events::IsTerminal(s.status()) && FromProto(s.updated_at()) < before &&
           !events::HasUnnotifiedDependents(s);
  });
}

void PartitionState::SaveTo(v1::PartitionSnapshot& snapshot) const {
  std::vector<const Entry*> sorted = InLogOrder();
  snapshot.mutable_jobs()->Reserve(static_cast<int>(sorted.size()));
  for (const Entry* e : sorted) *snapshot.add_jobs() = e->state;
  snapshot.set_next_offset(next_offset_);
}

PartitionState PartitionState::Restore(const v1::PartitionSnapshot& snapshot) {
  PartitionState p;
  const int64_t n = snapshot.jobs_size();
  p.jobs_.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const JobState& s = snapshot.jobs(static_cast<int>(i));
    p.jobs_.emplace(s.job_id(), Entry{s, i - n});  // before any offset of the tail, in order
  }
  p.next_offset_ = snapshot.next_offset();
  return p;
}

}  // namespace jobsched::services
