// A job's schedule as the fold and the scheduler see it: the slots after the
// job's cursor, each with its deterministic fire id. A recurring job's slots
// come from its cron schedule (schedule.h) within start_at, end_at and
// max_runs; a one-off job has exactly one slot, at run_at (or submission).
//
// Pure; thread-safe (a small per-thread cache keeps parsed cron schedules).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "events/schedule.h"
#include "events/status.h"
#include "events/time.h"
#include "jobsched/v1/state.pb.h"

namespace jobsched::events {

// One slot of a job's schedule.
struct JobSlot {
  cron::Slot::Kind kind = cron::Slot::Kind::kFire;
  TimePoint at;
  std::string nominal_time;  // "2026-03-08T02:30:00"; "" for a one-off job's slot
  int occurrence = 1;
  int coalesced = 1;
  std::string fire_id;
  bool fires() const { return kind == cron::Slot::Kind::kFire; }
};

class JobSchedule {
 public:
  // The schedule of job `job_id` with `spec`, submitted at `submitted_at`.
  // Fails with kInvalidArgument ("cron: minute: 61 is out of range 0-59",
  // "timezone: unknown time zone ...") for a bad schedule.
  static Result<JobSchedule> For(std::string job_id, const v1::JobSpec& spec,
                                 TimePoint submitted_at);
  static Result<JobSchedule> For(const v1::JobState& state) {
    return For(state.job_id(), state.spec(), FromProto(state.created_at()));
  }

  // The cursor before the first slot. A recurring job fires from start_at
  // (inclusive) when that lies after the submission, else strictly after the
  // submission; a one-off job's only slot is at run_at (or the submission).
  v1::ScheduleCursor InitialCursor() const;

  // The slot after `cursor`, or nullopt when the schedule is exhausted: past
  // end_at, `fires_made` reached max_runs, or a one-off job's slot used.
  std::optional<JobSlot> Next(const v1::ScheduleCursor& cursor, int64_t fires_made) const;
  // The first slot after `cursor` that fires (skips passed over), same bounds.
  std::optional<JobSlot> NextFire(const v1::ScheduleCursor& cursor, int64_t fires_made) const;

  bool recurring() const { return cron_.has_value(); }
  // The cron schedule of a recurring job; nullptr for a one-off job.
  const cron::Schedule* cron_schedule() const { return cron_ ? &*cron_ : nullptr; }

  // The cursor standing on `slot`.
  static v1::ScheduleCursor CursorAt(const JobSlot& slot);

 private:
  JobSchedule() = default;
  std::string job_id_;
  std::optional<cron::Schedule> cron_;
  TimePoint once_at_;                 // one-off: the slot
  std::optional<TimePoint> start_at_;  // recurring: bounds
  std::optional<TimePoint> end_at_;
  int64_t max_runs_ = 0;
  TimePoint submitted_at_;
};

// Orders slot positions: by instant, then nominal time ("" first).
int CompareSlotPosition(TimePoint a_at, std::string_view a_nominal, TimePoint b_at,
                        std::string_view b_nominal);

// The schedule engine's spec for a job's ScheduleSpec (an empty timezone is UTC).
cron::ScheduleSpec ToCronSpec(const v1::ScheduleSpec& spec);

// Names of the ScheduleSpec enums as the API takes them and logs show them.
// Zero enum values are the defaults and render as such: "auto", "auto",
// "forbid", "fire_once".
std::string DstGapName(v1::DstGapPolicy policy);                  // auto | shift | skip
std::string DstOverlapName(v1::DstOverlapPolicy policy);          // auto | first | both
std::string ConcurrencyPolicyName(v1::ConcurrencyPolicy policy);  // allow | forbid | replace
std::string MisfirePolicyName(v1::MisfirePolicy policy);          // fire_once | skip | fire_all
// "overlap", "misfire", "dst_gap"; "unspecified" for SKIP_REASON_UNSPECIFIED.
std::string SkipReasonName(v1::SkipReason reason);

// Inverses of the names above; nullopt for any other text. The defaults
// parse to explicit values (forbid -> FORBID, fire_once -> FIRE_ONCE), auto
// to the zero value (auto is a policy of its own, resolved by the engine).
std::optional<v1::DstGapPolicy> ParseDstGap(std::string_view name);
std::optional<v1::DstOverlapPolicy> ParseDstOverlap(std::string_view name);
std::optional<v1::ConcurrencyPolicy> ParseConcurrencyPolicy(std::string_view name);
std::optional<v1::MisfirePolicy> ParseMisfirePolicy(std::string_view name);

}  // namespace jobsched::events
