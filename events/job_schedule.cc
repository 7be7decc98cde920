#include "events/job_schedule.h"

#include <unordered_map>

#include "events/ids.h"

namespace jobsched::events {
namespace {

// Parsing a cron expression and locating its zone cost microseconds; the fold
// needs the schedule at every fire of the same few jobs, so keep the recent ones.
Result<cron::Schedule> CachedSchedule(const v1::ScheduleSpec& spec, TimePoint anchor) {
  constexpr size_t kMaxCached = 512;
  thread_local std::unordered_map<std::string, cron::Schedule> cache;
  std::string key = spec.cron();
  key += '\n';
  key += spec.timezone();
  key += '\n';
  key += std::to_string(spec.dst_gap()) + "/" + std::to_string(spec.dst_overlap());
  // Only intervals depend on their anchor: cron schedules are shared by every
  // job with the same expression, zone and policies.
  if (spec.cron().rfind("@every", 0) == 0) key += "/" + std::to_string(ToUnixMillis(anchor));
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  auto made = cron::Schedule::Make(ToCronSpec(spec), anchor);
  if (auto* error = std::get_if<cron::ScheduleError>(&made)) {
    return Status::Invalid(error->field + ": " + error->message);
  }
  if (cache.size() >= kMaxCached) cache.clear();
  return cache.emplace(std::move(key), std::get<cron::Schedule>(std::move(made))).first->second;
}

}  // namespace

Result<JobSchedule> JobSchedule::For(std::string job_id, const v1::JobSpec& spec,
                                     TimePoint submitted_at) {
  JobSchedule js;
  js.job_id_ = std::move(job_id);
  js.submitted_at_ = submitted_at;
  if (!spec.has_schedule()) {
    bool delayed = IsSet(spec.run_at()) && FromProto(spec.run_at()) > submitted_at;
    js.once_at_ = delayed ? FromProto(spec.run_at()) : submitted_at;
    return js;
  }
  const v1::ScheduleSpec& sched = spec.schedule();
  if (IsSet(sched.start_at())) js.start_at_ = FromProto(sched.start_at());
  if (IsSet(sched.end_at())) js.end_at_ = FromProto(sched.end_at());
  js.max_runs_ = sched.max_runs();
  auto made = CachedSchedule(sched, js.start_at_.value_or(submitted_at));
  if (!made.ok()) return made.status();
  js.cron_ = std::move(made).value();
  return js;
}

v1::ScheduleCursor JobSchedule::InitialCursor() const {
  v1::ScheduleCursor c;
  TimePoint at = submitted_at_;
  if (start_at_ && *start_at_ > submitted_at_) at = *start_at_ - Millis(1);
  *c.mutable_at() = ToProto(at);
  return c;
}

std::optional<JobSlot> JobSchedule::Next(const v1::ScheduleCursor& cursor,
                                         int64_t fires_made) const {
  if (!cron_) {
    if (!cursor.fire_id().empty()) return std::nullopt;  // the one slot is used
    JobSlot slot;
    slot.at = once_at_;
    slot.fire_id = ids::OnceFireId(job_id_);
    return slot;
  }
  if (max_runs_ > 0 && fires_made >= max_runs_) return std::nullopt;
  TimePoint after = FromProto(cursor.at());
  std::optional<cron::Slot> next;
  if (cursor.nominal_time().empty()) {
    next = cron_->Next(after);
  } else {
    auto nominal = cron::Schedule::ParseNominal(cursor.nominal_time());
    if (!nominal) return std::nullopt;  // not a cursor this code wrote
    next = cron_->Next(after, *nominal);
  }
  if (!next || (end_at_ && next->at > *end_at_)) return std::nullopt;
  JobSlot slot;
  slot.kind = next->kind;
  slot.at = next->at;
  slot.nominal_time = cron::Schedule::FormatNominal(next->nominal);
  slot.occurrence = next->occurrence;
  slot.coalesced = next->coalesced;
  slot.fire_id = ids::FireId(job_id_, slot.nominal_time, slot.occurrence);
  return slot;
}

std::optional<JobSlot> JobSchedule::NextFire(const v1::ScheduleCursor& cursor,
                                             int64_t fires_made) const {
  // Skips are DST-gap slots under the skip policy: at most one gap's worth
  // (an every-second expression skips 3,600 slots in a one-hour gap, 86,400
  // in Apia's skipped day) at ~0.1 us a slot.
  v1::ScheduleCursor c = cursor;
  for (int i = 0; i < 100'000; ++i) {
    auto slot = Next(c, fires_made);
    if (!slot || slot->fires()) return slot;
    c = CursorAt(*slot);
  }
  return std::nullopt;
}

v1::ScheduleCursor JobSchedule::CursorAt(const JobSlot& slot) {
  v1::ScheduleCursor c;
  *c.mutable_at() = ToProto(slot.at);
  c.set_nominal_time(slot.nominal_time);
  c.set_occurrence(slot.occurrence);
  c.set_fire_id(slot.fire_id);
  return c;
}

cron::ScheduleSpec ToCronSpec(const v1::ScheduleSpec& spec) {
  cron::ScheduleSpec out;
  out.cron = spec.cron();
  out.timezone = spec.timezone().empty() ? "UTC" : spec.timezone();
  switch (spec.dst_gap()) {
    case v1::DST_GAP_POLICY_SHIFT:
      out.dst_gap = cron::DstGap::kShift;
      break;
    case v1::DST_GAP_POLICY_SKIP:
      out.dst_gap = cron::DstGap::kSkip;
      break;
    default:
      out.dst_gap = cron::DstGap::kAuto;
      break;
  }
  switch (spec.dst_overlap()) {
    case v1::DST_OVERLAP_POLICY_FIRST:
      out.dst_overlap = cron::DstOverlap::kFirst;
      break;
    case v1::DST_OVERLAP_POLICY_BOTH:
      out.dst_overlap = cron::DstOverlap::kBoth;
      break;
    default:
      out.dst_overlap = cron::DstOverlap::kAuto;
      break;
  }
  return out;
}

std::string DstGapName(v1::DstGapPolicy policy) {
  switch (policy) {
    case v1::DST_GAP_POLICY_SHIFT:
      return "shift";
    case v1::DST_GAP_POLICY_SKIP:
      return "skip";
    default:
      return "auto";
  }
}

std::string DstOverlapName(v1::DstOverlapPolicy policy) {
  switch (policy) {
    case v1::DST_OVERLAP_POLICY_FIRST:
      return "first";
    case v1::DST_OVERLAP_POLICY_BOTH:
      return "both";
    default:
      return "auto";
  }
}

std::string ConcurrencyPolicyName(v1::ConcurrencyPolicy policy) {
  switch (policy) {
    case v1::CONCURRENCY_POLICY_ALLOW:
      return "allow";
    case v1::CONCURRENCY_POLICY_REPLACE:
      return "replace";
    default:
      return "forbid";
  }
}

std::string MisfirePolicyName(v1::MisfirePolicy policy) {
  switch (policy) {
    case v1::MISFIRE_POLICY_SKIP:
      return "skip";
    case v1::MISFIRE_POLICY_FIRE_ALL:
      return "fire_all";
    default:
      return "fire_once";
  }
}

std::string SkipReasonName(v1::SkipReason reason) {
  switch (reason) {
    case v1::SKIP_REASON_OVERLAP:
      return "overlap";
    case v1::SKIP_REASON_MISFIRE:
      return "misfire";
    case v1::SKIP_REASON_DST_GAP:
      return "dst_gap";
    default:
      return "unspecified";
  }
}

std::optional<v1::DstGapPolicy> ParseDstGap(std::string_view name) {
  if (name == "auto") return v1::DST_GAP_POLICY_UNSPECIFIED;
  if (name == "shift") return v1::DST_GAP_POLICY_SHIFT;
  if (name == "skip") return v1::DST_GAP_POLICY_SKIP;
  return std::nullopt;
}

std::optional<v1::DstOverlapPolicy> ParseDstOverlap(std::string_view name) {
  if (name == "auto") return v1::DST_OVERLAP_POLICY_UNSPECIFIED;
  if (name == "first") return v1::DST_OVERLAP_POLICY_FIRST;
  if (name == "both") return v1::DST_OVERLAP_POLICY_BOTH;
  return std::nullopt;
}

std::optional<v1::ConcurrencyPolicy> ParseConcurrencyPolicy(std::string_view name) {
  if (name == "allow") return v1::CONCURRENCY_POLICY_ALLOW;
  if (name == "forbid") return v1::CONCURRENCY_POLICY_FORBID;
  if (name == "replace") return v1::CONCURRENCY_POLICY_REPLACE;
  return std::nullopt;
}

std::optional<v1::MisfirePolicy> ParseMisfirePolicy(std::string_view name) {
  if (name == "fire_once") return v1::MISFIRE_POLICY_FIRE_ONCE;
  if (name == "skip") return v1::MISFIRE_POLICY_SKIP;
  if (name == "fire_all") return v1::MISFIRE_POLICY_FIRE_ALL;
  return std::nullopt;
}

int CompareSlotPosition(TimePoint a_at, std::string_view a_nominal, TimePoint b_at,
                        std::string_view b_nominal) {
  if (a_at != b_at) return a_at < b_at ? -1 : 1;
  int c = a_nominal.compare(b_nominal);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

}  // namespace jobsched::events
