#include "services/api/why.h"

#include <chrono>
#include <optional>

#include "events/fold.h"
#include "events/job_schedule.h"
#include "services/api/schedule_spec.h"

namespace jobsched::api {
namespace {

using events::Envelope;
using nlohmann::json;

TimePoint Second(TimePoint t) { return std::chrono::floor<std::chrono::seconds>(t); }

TimePoint OccurredAt(const Envelope& e) { return FromProto(e.occurred_at()); }

std::string Time(TimePoint t) { return FormatRfc3339(t); }

json TimeOrNull(const std::optional<TimePoint>& t) { return t ? json(Time(*t)) : json(nullptr); }

// A scheduled fire's record: RunDue of attempt 1 that is not a manual run.
bool IsScheduledFire(const Envelope& e) {
  return e.has_run_due() && e.run_due().attempt() == 1 &&
         e.run_due().kind() != v1::FIRE_KIND_MANUAL;
}

// The job as it stood at `at` as far as its schedule goes: the submission
// and the updates applied by then. `in_force` is the id of the last of them.
struct SpecAtT {
  v1::JobState state;
  std::string in_force;
};

SpecAtT SpecAt(const std::vector<Envelope>& lifecycle, TimePoint at) {
  SpecAtT out;
  for (const Envelope& e : lifecycle) {
    bool spec_event = e.has_job_submitted() || e.has_job_updated();
    if (!spec_event || (e.has_job_updated() && OccurredAt(e) > at)) continue;
    if (events::Apply(out.state, e).applied()) out.in_force = e.event_id();
  }
  return out;
}

// The end of the job at or before `at`, if any.
const Envelope* EndedBy(const std::vector<Envelope>& lifecycle, TimePoint at) {
  for (const Envelope& e : lifecycle) {
    bool ends = e.has_job_completed() || e.has_job_canceled() || e.has_job_succeeded() ||
                e.has_job_dead() || e.has_delete_requested();
    if (ends && OccurredAt(e) <= at) return &e;
  }
  return nullptr;
}

// The first end of the job, whenever it came.
const Envelope* FirstEnd(const std::vector<Envelope>& lifecycle) {
  return EndedBy(lifecycle, TimePoint::max());
}

std::string DescribeEnd(const Envelope& e) {
  const std::string when = " at " + Time(OccurredAt(e));
  if (e.has_job_completed()) {
    return "the job completed" + when +
           (e.job_completed().reason().empty() ? "" : " (" + e.job_completed().reason() + ")");
  }
  if (e.has_job_canceled()) return "the job was canceled" + when;
  if (e.has_job_succeeded()) return "the job's run succeeded" + when + "; it does not run again";
  if (e.has_job_dead()) return "the job died" + when + " (retries exhausted)";
  return "the job was deleted" + when;
}

struct Pause {
  const Envelope* paused = nullptr;
  const Envelope* resumed = nullptr;  // nullptr: not resumed
};

// The pause that covers `at`: PauseRequested at or before it, and no
// ResumeRequested between them.
std::optional<Pause> PausedAt(const std::vector<Envelope>& lifecycle, TimePoint at) {
  std::optional<Pause> open;
  for (const Envelope& e : lifecycle) {
    if (e.has_pause_requested()) {
      if (OccurredAt(e) > at) break;
      open = Pause{&e, nullptr};
    } else if (e.has_resume_requested() && open && open->resumed == nullptr) {
      if (OccurredAt(e) <= at) {
        open.reset();
      } else {
        open->resumed = &e;
        break;
      }
    }
  }
  return open;
}

WhyVerdict PausedVerdict(const Pause& p, std::string extra) {
  WhyVerdict v;
  v.verdict = "paused";
  TimePoint paused_at = OccurredAt(*p.paused);
  std::optional<TimePoint> resumed_at;
  if (p.resumed != nullptr) resumed_at = OccurredAt(*p.resumed);
  v.reason = "the job was paused at " + Time(paused_at) +
             (resumed_at ? " and resumed at " + Time(*resumed_at) : " and has not been resumed") +
             extra;
  v.details = {{"paused_at", Time(paused_at)}, {"resumed_at", TimeOrNull(resumed_at)}};
  v.events.push_back(p.paused->event_id());
  if (p.resumed != nullptr) v.events.push_back(p.resumed->event_id());
  return v;
}

// The nearest firing slot of `schedule` strictly before `t` and strictly
// after `lower`. Whether the next fire after x lies before t is monotone in
// x, so: step back in doubling spans to an x where it does, then bisect for
// the last such x; the fire after it is the answer. About 90 NextFire calls
// at most, however sparse or dense the schedule.
std::optional<TimePoint> PreviousFire(const cron::Schedule& schedule, TimePoint t,
                                      TimePoint lower) {
  auto fires_before_t = [&](TimePoint x) {
    std::optional<cron::Slot> slot = schedule.NextFire(x);
    return slot && slot->at < t;
  };
  if (t <= lower) return std::nullopt;
  std::optional<TimePoint> lo;
  Millis span = std::chrono::seconds(1);
  while (!lo) {
    TimePoint from = t - lower > span ? t - span : lower;
    if (fires_before_t(from)) {
      lo = from;
    } else if (from == lower) {
      return std::nullopt;
    }
    span *= 2;
  }
  TimePoint hi = t;  // NextFire(hi) is at or after t
  while (hi - *lo > Millis(1)) {
    TimePoint mid = *lo + (hi - *lo) / 2;
    if (fires_before_t(mid)) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return schedule.NextFire(*lo)->at;
}

WhyVerdict Fired(const Envelope& e) {
  const v1::RunDue& due = e.run_due();
  WhyVerdict v;
  v.verdict = "fired";
  TimePoint at = FromProto(due.scheduled_for());
  v.reason = "the slot at " + Time(at) +
             (due.nominal_time().empty() ? "" : " (local " + due.nominal_time() + ")") +
             " fired: run " + due.run_id() + " was due at " + Time(OccurredAt(e));
  v.run_id = due.run_id();
  v.fire_id = due.fire_id();
  v.details = {
      {"scheduled_for", Time(at)},
      {"nominal_time", due.nominal_time().empty() ? json(nullptr) : json(due.nominal_time())}};
  v.events.push_back(e.event_id());
  return v;
}

WhyVerdict Skipped(const Envelope& e) {
  const v1::FireSkipped& k = e.fire_skipped();
  WhyVerdict v;
  v.verdict = "skipped";
  const std::string reason = SkipReasonName(k.reason());
  TimePoint from = FromProto(k.scheduled_for());
  TimePoint to = FromProto(k.last_scheduled_for());
  v.reason = "the slot was skipped (" + reason + ")" +
             (k.detail().empty() ? "" : ": " + k.detail()) + "; the record covers " +
             std::to_string(k.count()) + (k.count() == 1 ? " slot" : " slots") + " from " +
             Time(from) + " to " + Time(to);
  v.fire_id = k.fire_id();
  v.details = {{"skip_reason", reason},
               {"detail", k.detail().empty() ? json(nullptr) : json(k.detail())},
               {"from", Time(from)},
               {"to", Time(to)},
               {"count", k.count()}};
  v.events.push_back(e.event_id());
  return v;
}

class Explainer {
 public:
  explicit Explainer(const WhyFacts& f) : f_(f), t_(Second(f.at)) {}

  WhyVerdict Run() {
    const Envelope* submitted = nullptr;
    for (const Envelope& e : f_.lifecycle) {
      if (e.has_job_submitted()) {
        submitted = &e;
        break;
      }
    }
    if (submitted == nullptr) {
      return Verdict("unknown", "the job's submission is not in its log (job_logs)", {});
    }
    spec_ = SpecAt(f_.lifecycle, f_.at);
    auto schedule = events::JobSchedule::For(spec_.state);
    if (!schedule.ok()) {
      return Verdict("unknown",
                     "the schedule in force could not be built: " + schedule.status().message(),
                     {spec_.in_force});
    }
    schedule_.emplace(std::move(schedule).value());
    initial_ = FromProto(schedule_->InitialCursor().at());

    if (auto v = FromRecords()) return *v;
    if (auto v = BeforeStart()) return *v;
    if (auto v = AfterEnd()) return *v;
    if (auto pause = PausedAt(f_.lifecycle, f_.at)) return PausedVerdict(*pause, "");
    const std::optional<cron::Slot> slot = SlotAtT();
    if (f_.at > f_.now) return NotYet(slot.has_value());
    if (!slot) return NotASlot();
    return Undecided();
  }

 private:
  WhyVerdict Verdict(std::string verdict, std::string reason, std::vector<std::string> events) {
    WhyVerdict v;
    v.verdict = std::move(verdict);
    v.reason = std::move(reason);
    for (auto& id : events) {
      if (!id.empty()) v.events.push_back(std::move(id));
    }
    return v;
  }

  bool Recurring() const { return schedule_->recurring(); }

  // A fire or a skip recorded at T.
  std::optional<WhyVerdict> FromRecords() {
    const Envelope* skip = nullptr;
    for (const Envelope& e : f_.slots) {
      if (IsScheduledFire(e) && Second(FromProto(e.run_due().scheduled_for())) == t_) {
        return Fired(e);
      }
      if (e.has_fire_skipped()) {
        TimePoint first = Second(FromProto(e.fire_skipped().scheduled_for()));
        TimePoint last = Second(FromProto(e.fire_skipped().last_scheduled_for()));
        bool covers = first == t_ || last == t_ || (first < t_ && t_ < last && SlotAtT());
        if (covers) skip = &e;
      }
    }
    if (skip == nullptr) return std::nullopt;
    if (skip->fire_skipped().reason() == v1::SKIP_REASON_MISFIRE) {
      if (auto pause = PausedAt(f_.lifecycle, f_.at)) {
        WhyVerdict v = PausedVerdict(
            *pause, "; on resume the slot was skipped as a misfire (" +
                        MisfirePolicyName(spec_.state.spec().schedule().misfire_policy()) + ")");
        v.fire_id = skip->fire_skipped().fire_id();
        v.events.push_back(skip->event_id());
        return v;
      }
    }
    return Skipped(*skip);
  }

  std::optional<WhyVerdict> BeforeStart() {
    const TimePoint created = FromProto(spec_.state.created_at());
    if (f_.at < created) {
      WhyVerdict v = Verdict("before_start", "the job was submitted later, at " + Time(created),
                             {spec_.state.submitted_event_id()});
      v.details = {{"start", Time(created)}};
      return v;
    }
    const v1::ScheduleSpec& sched = spec_.state.spec().schedule();
    if (Recurring() && IsSet(sched.start_at()) && f_.at < FromProto(sched.start_at())) {
      TimePoint start = FromProto(sched.start_at());
      WhyVerdict v = Verdict("before_start", "the schedule starts at start_at " + Time(start),
                             {spec_.in_force});
      v.details = {{"start", Time(start)}};
      return v;
    }
    if (Recurring() && t_ <= initial_ && SlotAtT()) {
      WhyVerdict v = Verdict("before_start",
                             "the slot at " + Time(t_) +
                                 " precedes the job's first slot (it fires strictly after " +
                                 Time(initial_) + ")",
                             {spec_.in_force});
      v.details = {{"start", Time(initial_)}};
      return v;
    }
    return std::nullopt;
  }

  std::optional<WhyVerdict> AfterEnd() {
    if (const Envelope* end = EndedBy(f_.lifecycle, f_.at)) {
      WhyVerdict v =
          Verdict("after_end", DescribeEnd(*end) + ", before " + Time(f_.at), {end->event_id()});
      v.details = {{"ended_at", Time(OccurredAt(*end))}};
      return v;
    }
    if (!Recurring()) return std::nullopt;
    const v1::ScheduleSpec& sched = spec_.state.spec().schedule();
    if (IsSet(sched.end_at()) && t_ > FromProto(sched.end_at())) {
      TimePoint end_at = FromProto(sched.end_at());
      WhyVerdict v =
          Verdict("after_end", "the schedule ends at end_at " + Time(end_at), {spec_.in_force});
      v.details = {{"ended_at", Time(end_at)}};
      return v;
    }
    const v1::ScheduleCursor& cursor = f_.current.cursor();
    const TimePoint cursor_at = FromProto(cursor.at());
    const int64_t max_runs = sched.max_runs();
    if (max_runs > 0 && f_.current.summary().fires() >= max_runs && cursor_at < t_) {
      WhyVerdict v = Verdict("after_end",
                             "max_runs " + std::to_string(max_runs) +
                                 " was reached; the last fire was at " + Time(cursor_at),
                             {spec_.in_force});
      v.details = {{"ended_at", Time(cursor_at)}};
      return v;
    }
    return std::nullopt;
  }

  // T's slot (to the second) in the schedule in force, or nullopt.
  std::optional<cron::Slot> SlotAtT() const {
    if (!Recurring()) {
      std::optional<events::JobSlot> once = schedule_->Next(v1::ScheduleCursor(), 0);
      if (!once || Second(once->at) != t_) return std::nullopt;
      cron::Slot slot;
      slot.at = once->at;
      return slot;
    }
    std::optional<cron::Slot> slot = schedule_->cron_schedule()->Next(t_ - Millis(1));
    if (!slot || slot->at != t_) return std::nullopt;
    return slot;
  }

  WhyVerdict NotYet(bool is_slot) {
    std::optional<TimePoint> next;
    if (IsSet(f_.current.next_fire_at())) next = FromProto(f_.current.next_fire_at());
    WhyVerdict v =
        Verdict("not_yet",
                std::string(is_slot ? "T is a fire time of the schedule" : "T is not a fire time") +
                    " and lies in the future (now " + Time(f_.now) + ")" +
                    (next ? "; the next fire is at " + Time(*next) : "; no fire is due"),
                {});
    v.details = {{"next_fire_at", TimeOrNull(next)}, {"is_slot", is_slot}};
    return v;
  }

  WhyVerdict NotASlot() {
    std::optional<TimePoint> before;
    std::optional<TimePoint> after;
    if (!Recurring()) {
      std::optional<events::JobSlot> once = schedule_->Next(v1::ScheduleCursor(), 0);
      WhyVerdict v = Verdict("not_a_slot", "a one-off job has one slot, at " + Time(once->at),
                             {spec_.in_force});
      if (once->at < f_.at) before = once->at;
      if (once->at > f_.at) after = once->at;
      v.details = {{"previous_fire", TimeOrNull(before)}, {"next_fire", TimeOrNull(after)}};
      return v;
    }
    const cron::Schedule& schedule = *schedule_->cron_schedule();
    before = PreviousFire(schedule, t_, initial_);
    if (auto next = schedule.NextFire(t_)) after = next->at;
    const v1::ScheduleSpec& sched = spec_.state.spec().schedule();
    if (after && IsSet(sched.end_at()) && *after > FromProto(sched.end_at())) after.reset();
    WhyVerdict v =
        Verdict("not_a_slot",
                "T is not a fire time of the schedule \"" + sched.cron() + "\" in " +
                    (sched.timezone().empty() ? std::string("UTC") : sched.timezone()) +
                    "; the nearest fires are " + (before ? Time(*before) : std::string("none")) +
                    " before and " + (after ? Time(*after) : std::string("none")) + " after",
                {spec_.in_force});
    v.details = {{"previous_fire", TimeOrNull(before)}, {"next_fire", TimeOrNull(after)}};
    return v;
  }

  // T is a due slot without a record.
  WhyVerdict Undecided() {
    const v1::ScheduleCursor& cursor = f_.current.cursor();
    const TimePoint cursor_at = FromProto(cursor.at());
    const bool passed = !cursor.fire_id().empty() && (!Recurring() || Second(cursor_at) >= t_);
    if (!passed) {
      if (const Envelope* end = FirstEnd(f_.lifecycle)) {
        WhyVerdict v =
            Verdict("after_end",
                    DescribeEnd(*end) + ", before the scheduler reached the slot at " + Time(t_),
                    {end->event_id()});
        v.details = {{"ended_at", Time(OccurredAt(*end))}};
        return v;
      }
      WhyVerdict v = Verdict("pending",
                             "the slot at " + Time(t_) +
                                 " is due but the scheduler has not decided it yet (its cursor "
                                 "is at " +
                                 Time(cursor_at) + ")",
                             {});
      v.details = {{"cursor_at", Time(cursor_at)}};
      return v;
    }
    return Verdict("unknown",
                   "the slot at " + Time(t_) +
                       " is a fire time the scheduler has passed, but no fire or skip for it is "
                       "in the job's log; the schedule may have changed after it was decided",
                   {spec_.in_force});
  }

  const WhyFacts& f_;
  const TimePoint t_;  // T to the second
  SpecAtT spec_;
  std::optional<events::JobSchedule> schedule_;
  TimePoint initial_;  // slots lie strictly after this instant
};

}  // namespace

WhyVerdict ExplainWhy(const WhyFacts& facts) { return Explainer(facts).Run(); }

json RenderWhy(TimePoint at, const WhyVerdict& verdict) {
  json out = {
      {"at", FormatRfc3339(Second(at))}, {"verdict", verdict.verdict}, {"reason", verdict.reason}};
  if (!verdict.run_id.empty()) out["run_id"] = verdict.run_id;
  if (!verdict.fire_id.empty()) out["fire_id"] = verdict.fire_id;
  for (const auto& [key, value] : verdict.details.items()) out[key] = value;
  out["events"] = verdict.events;
  return out;
}

}  // namespace jobsched::api
