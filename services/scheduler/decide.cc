#include "services/scheduler/decide.h"

#include <unordered_map>

#include "events/fold.h"
#include "events/ids.h"
#include "events/job_schedule.h"
#include "services/scheduler/backoff.h"

namespace jobsched::scheduler {

using events::Envelope;
using events::JobSlot;
using events::JobState;

namespace {

constexpr int kMaxCatchUpFires = 100;  // misfire_policy fire_all
// Under concurrency_policy forbid, slots that come while a run is in flight
// are recorded as one FireSkipped when the run ends, or after this long.
constexpr Millis kMaxOverlapDeferral{60'000};
constexpr char kOverlapDetail[] = "a run was in flight (concurrency_policy forbid)";

// What becomes of one due slot.
struct SlotAction {
  bool fire = false;
  v1::SkipReason reason = v1::SKIP_REASON_UNSPECIFIED;
  std::string detail;
};

class Decider {
 public:
  Decider(const JobState& s, TimePoint now, const DecideContext& ctx)
      : s_(s), now_(now), ctx_(ctx), in_flight_(s.runs_size()), after_(s.cursor().fire_id()) {}

  Decision Run() {
    if (s_.status() == v1::JOB_STATUS_UNSPECIFIED) return {};
    if (s_.workflow_run()) {
      if (s_.status() == v1::JOB_STATUS_PENDING) Expand();
      return std::move(d_);
    }
    if (events::IsTerminal(s_.status())) {
      Notify();
      return std::move(d_);
    }
    if (s_.cancel_requested()) {
      // Queued or running work is abandoned: a result that arrives later is
      // recorded but changes nothing (the fold rejects it on a CANCELED job).
      Envelope e = NewEvent("JobCanceled", "");
      e.mutable_job_canceled()->set_reason("canceled by request");
      d_.events.push_back(std::move(e));
      ending_ = v1::JOB_STATUS_CANCELED;
      Notify();
      return std::move(d_);
    }
    Register();
    bool ended = DecideRuns();
    if (ended) {
      Notify();  // at once, in the batch that ends the job: one log round trip per hop
      return std::move(d_);
    }
    if (s_.status() == v1::JOB_STATUS_BLOCKED) {
      Notify();  // upstream failed: tell ours
      return std::move(d_);
    }
    StartWorkflows();
    if (events::IsRecurring(s_)) {
      DecideRequested();
      if (s_.status() == v1::JOB_STATUS_ACTIVE) DecideSlots();
      if (s_.status() == v1::JOB_STATUS_PAUSED) DecidePaused();
    } else if (s_.status() == v1::JOB_STATUS_PENDING || s_.status() == v1::JOB_STATUS_SCHEDULED) {
      DecideOnce();
    }
    return std::move(d_);
  }

 private:
  Envelope NewEvent(std::string_view type, std::string_view cause) {
    return NewEventFor(type, s_.job_id(), cause);
  }

  // An event about `job_id` (this job's, or another job's) caused by this state.
  Envelope NewEventFor(std::string_view type, const std::string& job_id, std::string_view cause) {
    events::Origin origin{ctx_.producer, now_, s_.correlation_id(), events::LastAppliedEventId(s_)};
    return events::MakeEnvelope(ids::EventId(type, job_id, cause), job_id, origin);
  }

  // Tells each dependent not yet told the outcome of the job's status once
  // this decision applies. When the state already shows that status, `after`
  // records the telling; when this decision ends the job, the telling is
  // recorded once the end is folded and the job is decided again.
  void Notify() {
    const v1::JobStatus after = ending_ != v1::JOB_STATUS_UNSPECIFIED ? ending_ : s_.status();
    const v1::DependencyStatus outcome = events::DependentsOutcome(after);
    if (outcome == v1::DEPENDENCY_STATUS_UNSPECIFIED) return;
    const bool record = ending_ == v1::JOB_STATUS_UNSPECIFIED;
    const bool ok = outcome == v1::DEPENDENCY_STATUS_SATISFIED;
    const std::string status(events::JobStatusName(after));
    const std::string reason = "parent " + s_.job_id() + " is " + status + FailedBecause();
    // A requeued job that succeeds tells its dependents again: a new cause.
    const std::string cause = s_.job_id() + ":" + status + ":" + std::to_string(s_.requeues());
    v1::DependentsNotified told;
    told.set_status(outcome);
    std::string all;
    for (const v1::Dependent& d : s_.dependents()) {
      if (d.notified() == outcome) continue;
      if (ok) {
        Envelope e = NewEventFor("DependencySatisfied", d.job_id(), cause);
        e.mutable_dependency_satisfied()->set_parent_id(s_.job_id());
        d_.others.push_back(std::move(e));
      } else {
        Envelope e = NewEventFor("DependencyFailed", d.job_id(), cause);
        auto* f = e.mutable_dependency_failed();
        f->set_parent_id(s_.job_id());
        f->set_parent_status(status);
        f->set_reason(reason);
        d_.others.push_back(std::move(e));
      }
      told.add_job_ids(d.job_id());
      all += d.job_id() + ",";
    }
    if (told.job_ids().empty() || !record) return;
    Envelope e = NewEvent("DependentsNotified", cause + ":" + all);
    *e.mutable_dependents_notified() = std::move(told);
    d_.after.push_back(std::move(e));
  }

  // Why this job failed its dependents, in a line that does not nest
  // (a chain of 100 blocked jobs names the first failure, not 100 reasons).
  std::string FailedBecause() const {
    if (s_.status() == v1::JOB_STATUS_BLOCKED) {
      for (const v1::ParentStatus& p : s_.parents()) {
        if (p.status() == v1::DEPENDENCY_STATUS_FAILED) {
          return " (its parent " + p.job_id() + " failed)";
        }
      }
    }
    if (!s_.end_reason().empty() && ending_ == v1::JOB_STATUS_UNSPECIFIED) {
      return ": " + s_.end_reason();
    }
    return "";
  }

  // A child submitted with parents that do not know it (POST /jobs
  // depends_on) registers with each.
  void Register() {
    v1::DependenciesRegistered done;
    std::string all;
    for (const v1::ParentStatus& p : s_.parents()) {
      if (p.registered()) continue;
      Envelope e = NewEventFor("DependencyRegistered", p.job_id(), s_.job_id());
      e.mutable_dependency_registered()->set_child_id(s_.job_id());
      d_.others.push_back(std::move(e));
      done.add_parent_ids(p.job_id());
      all += p.job_id() + ",";
    }
    if (done.parent_ids().empty()) return;
    Envelope e = NewEvent("DependenciesRegistered", all);
    *e.mutable_dependencies_registered() = std::move(done);
    d_.after.push_back(std::move(e));
  }

  // A workflow run becomes its jobs, each in its own stream: parents and
  // dependents named in the JobSubmitted, so no job has to register.
  void Expand() {
    const v1::WorkflowSpec& w = s_.spec().workflow();
    const std::string& wid = s_.job_id();
    std::unordered_map<std::string, std::string> id_of;
    std::unordered_map<std::string, std::vector<std::string>> children;
    for (const v1::WorkflowJob& j : w.jobs()) id_of[j.key()] = ids::WorkflowJobId(wid, j.key());
    for (const v1::WorkflowJob& j : w.jobs()) {
      for (const std::string& parent : j.depends_on()) children[parent].push_back(id_of[j.key()]);
    }
    for (const v1::WorkflowJob& j : w.jobs()) {
      const std::string& id = id_of[j.key()];
      Envelope e = NewEventFor("JobSubmitted", id, "workflow:" + wid);
      v1::JobSubmitted* sub = e.mutable_job_submitted();
      v1::JobSpec* spec = sub->mutable_spec();
      *spec = j.spec();
      spec->clear_depends_on();
      for (const std::string& parent : j.depends_on()) spec->add_depends_on(id_of[parent]);
      spec->set_workflow_id(wid);
      spec->set_workflow_key(j.key());
      for (const std::string& child : children[j.key()]) sub->add_dependents(child);
      sub->set_parents_registered(true);
      d_.others.push_back(std::move(e));
    }
    Envelope e = NewEvent("WorkflowExpanded", "expanded");
    e.mutable_workflow_expanded()->set_jobs(w.jobs_size());
    d_.after.push_back(std::move(e));
  }

  // A JOB_TYPE_WORKFLOW job's due runs are not dispatched: each starts a
  // workflow run, whose id the fire determines.
  void StartWorkflows() {
    if (s_.spec().type() != v1::JOB_TYPE_WORKFLOW) return;
    for (const v1::RunRecord& run : s_.runs()) {
      if (run.status() != v1::RUN_STATUS_DUE) continue;
      const std::string wid = ids::WorkflowRunId(s_.job_id(), run.fire_id());
      Envelope e = NewEventFor("WorkflowSubmitted", wid, "fire");
      v1::WorkflowSubmitted* w = e.mutable_workflow_submitted();
      *w->mutable_spec() = s_.spec().workflow();
      w->set_trigger_job_id(s_.job_id());
      w->set_trigger_run_id(run.run_id());
      w->set_nominal_time(run.nominal_time());
      e.set_correlation_id(wid);
      d_.others.push_back(std::move(e));
      Envelope started = NewEvent("WorkflowStarted", run.run_id());
      started.mutable_workflow_started()->set_run_id(run.run_id());
      started.mutable_workflow_started()->set_workflow_id(wid);
      d_.after.push_back(std::move(started));
    }
  }

  void Wake(TimePoint t) {
    if (!d_.wake_at || t < *d_.wake_at) d_.wake_at = t;
  }

  // Verdicts on the runs in flight. True when the job ends here (one-off).
  bool DecideRuns() {
    const bool one_off = !events::IsRecurring(s_);
    for (const v1::RunRecord& run : s_.runs()) {
      if (run.status() == v1::RUN_STATUS_SUCCEEDED && one_off) {
        if (s_.status() != v1::JOB_STATUS_RUNNING) continue;
        Envelope e = NewEvent("JobSucceeded", run.run_id());
        e.mutable_job_succeeded()->set_run_id(run.run_id());
        d_.events.push_back(std::move(e));
        ending_ = v1::JOB_STATUS_SUCCEEDED;
        return true;
      }
      if (!events::IsRunFailed(run.status())) continue;
      if (IsSet(run.retry_at())) {
        TimePoint retry_at = FromProto(run.retry_at());
        if (now_ < retry_at) {
          Wake(retry_at);
        } else {
          RetryDue(run);
        }
      } else if (events::CanRetry(s_, run)) {
        ScheduleRetry(run);
      } else if (one_off) {
        if (s_.status() != v1::JOB_STATUS_RUNNING) continue;
        Envelope e = NewEvent("JobDead", run.run_id());
        auto* dead = e.mutable_job_dead();
        dead->set_last_run_id(run.run_id());
        dead->set_attempts(run.attempt());
        dead->set_reason(GiveUpReason(run));
        d_.events.push_back(std::move(e));
        ending_ = v1::JOB_STATUS_DEAD;
        return true;
      } else {
        Envelope e = NewEvent("RunDead", run.run_id());
        auto* dead = e.mutable_run_dead();
        dead->set_run_id(run.run_id());
        dead->set_fire_id(run.fire_id());
        dead->set_attempts(run.attempt());
        dead->set_reason(GiveUpReason(run));
        d_.events.push_back(std::move(e));
        --in_flight_;
      }
    }
    return false;
  }

  std::string GiveUpReason(const v1::RunRecord& run) const {
    const int attempts = run.attempt() - s_.attempt_base();
    if (run.status() == v1::RUN_STATUS_LOST) {
      return "lost while running on attempt " + std::to_string(attempts) +
             " (at_most_once: not run again): " + run.error();
    }
    if (run.permanent()) {
      return "permanent failure on attempt " + std::to_string(attempts) +
             ", not retried: " + run.error();
    }
    return "failed " + std::to_string(attempts) + " of " +
           std::to_string(s_.spec().max_retries() + 1) + " attempts; last error: " + run.error();
  }

  void ScheduleRetry(const v1::RunRecord& run) {
    // Attempts count from the last requeue, so a requeued job backs off afresh.
    Millis delay = RetryDelay(s_.spec().retry_policy(), run.attempt() - s_.attempt_base(),
                              run.run_id());
    delay = std::max(delay, Millis(run.retry_after_ms()));  // the target's Retry-After
    // From the run's end, not from `now`: the decision must not depend on when it is made.
    TimePoint retry_at = FromProto(run.finished_at()) + delay;
    Envelope e = NewEvent("RetryScheduled", run.run_id());
    auto* r = e.mutable_retry_scheduled();
    r->set_failed_run_id(run.run_id());
    r->set_next_attempt(run.attempt() + 1);
    *r->mutable_retry_at() = ToProto(retry_at);
    r->set_delay_ms(delay.count());
    d_.events.push_back(std::move(e));
    Wake(retry_at);
  }

  void RetryDue(const v1::RunRecord& run) {
    const int attempt = run.attempt() + 1;
    Due(run.fire_id(), ids::RunId(s_.job_id(), run.fire_id(), attempt), attempt,
        FromProto(run.retry_at()), run.nominal_time(), run.occurrence(), run.kind(), "", 1);
  }

  void Due(const std::string& fire_id, const std::string& run_id, int attempt,
           TimePoint scheduled_for, const std::string& nominal, int occurrence,
           v1::FireKind kind, const std::string& after, int coalesced) {
    Envelope e = NewEvent("RunDue", run_id);
    auto* due = e.mutable_run_due();
    due->set_run_id(run_id);
    due->set_attempt(attempt);
    *due->mutable_scheduled_for() = ToProto(scheduled_for);
    due->set_priority(s_.spec().priority());
    due->set_fire_id(fire_id);
    due->set_nominal_time(nominal);
    due->set_occurrence(occurrence);
    due->set_kind(kind);
    due->set_after_fire_id(after);
    due->set_coalesced(coalesced);
    d_.events.push_back(std::move(e));
  }

  void DecideRequested() {
    for (const v1::RequestedRun& q : s_.requested()) {
      if (in_flight_ >= events::kMaxRunsInFlight) break;  // waits for room
      Due(q.fire_id(), q.run_id(), 1, FromProto(q.requested_at()), "", 1, v1::FIRE_KIND_MANUAL,
          "", 1);
      ++in_flight_;
    }
  }

  void DecideOnce() {
    auto schedule = events::JobSchedule::For(s_);
    if (!schedule.ok()) return;
    auto slot = schedule->Next(s_.cursor(), s_.summary().fires());
    if (!slot) return;
    if (now_ < slot->at) {
      Wake(slot->at);
      return;
    }
    Due(slot->fire_id, ids::RunId(s_.job_id(), slot->fire_id, 1), 1, slot->at, "", 1,
        v1::FIRE_KIND_SCHEDULED, after_, 1);
  }

  void DecidePaused() {
    const auto& sched = s_.spec().schedule();
    if (!IsSet(sched.end_at())) return;
    TimePoint end = FromProto(sched.end_at());
    if (now_ < end) {
      Wake(end);
    } else {
      Complete("end_at " + FormatRfc3339(end) + " passed while the job was paused");
    }
  }

  void Complete(std::string reason) {
    if (in_flight_ > 0 || s_.requested_size() > 0) return;  // completes when they end
    Envelope e = NewEvent("JobCompleted", "");
    e.mutable_job_completed()->set_reason(std::move(reason));
    d_.events.push_back(std::move(e));
  }

  bool Forbids() const {
    auto p = s_.spec().schedule().concurrency_policy();
    return p != v1::CONCURRENCY_POLICY_ALLOW && p != v1::CONCURRENCY_POLICY_REPLACE;
  }

  // Under forbid: until when the job's last run kept later slots from firing
  // (slots before its end are overlaps, not misfires), or nullopt.
  std::optional<TimePoint> OverlapUntil() const {
    if (!Forbids() || s_.summary().recent_size() == 0) return std::nullopt;
    const v1::RunOutcome& last = *s_.summary().recent().rbegin();
    if (!IsSet(last.finished_at())) return std::nullopt;
    return FromProto(last.finished_at());
  }

  // Misfire policy: what becomes of each due slot, before concurrency.
  std::vector<SlotAction> Plan(const std::vector<JobSlot>& due, bool capped) const {
    std::vector<SlotAction> plan(due.size());
    const TimePoint late = now_ - ctx_.misfire_grace;
    const std::optional<TimePoint> overlap_until = OverlapUntil();
    size_t missed = 0;
    while (missed < due.size() && due[missed].at < late) ++missed;
    bool fire_on_time = false;
    for (size_t i = 0; i < due.size(); ++i) {
      if (!due[i].fires()) {
        plan[i] = {false, v1::SKIP_REASON_DST_GAP, "the local time does not exist (DST gap)"};
      } else if (overlap_until && due[i].at < *overlap_until) {  // came while it ran
        plan[i] = {false, v1::SKIP_REASON_OVERLAP, kOverlapDetail};
      } else if (i >= missed) {
        plan[i].fire = true;
        fire_on_time = true;
      } else {
        plan[i] = {false, v1::SKIP_REASON_MISFIRE, ""};
      }
    }
    if (capped || missed == 0) return plan;  // capped: all scanned are missed; decide the rest next
    auto policy = s_.spec().schedule().misfire_policy();
    if (policy == v1::MISFIRE_POLICY_FIRE_ALL) {
      int kept = 0;
      for (size_t i = missed; i-- > 0;) {
        if (plan[i].reason == v1::SKIP_REASON_MISFIRE && kept < kMaxCatchUpFires) {
          plan[i].fire = true;
          ++kept;
        }
      }
    } else if (policy != v1::MISFIRE_POLICY_SKIP && !fire_on_time) {  // fire_once
      for (size_t i = missed; i-- > 0;) {
        if (plan[i].reason == v1::SKIP_REASON_MISFIRE) {
          plan[i].fire = true;
          break;
        }
      }
    }
    for (size_t i = 0; i < missed; ++i) {
      if (!plan[i].fire && plan[i].reason == v1::SKIP_REASON_MISFIRE) {
        plan[i].detail = "missed by more than " + std::to_string(ctx_.misfire_grace.count()) +
                         " ms (the scheduler was down or behind, or the job paused); "
                         "misfire_policy " + events::MisfirePolicyName(policy);
      }
    }
    return plan;
  }

  // Concurrency policy: turns fires into overlap skips (forbid, allow at the
  // bound) or cancels the runs in flight (replace).
  void ApplyConcurrency(std::vector<SlotAction>& plan, std::vector<std::string>* cancel) {
    auto policy = s_.spec().schedule().concurrency_policy();
    if (policy == v1::CONCURRENCY_POLICY_REPLACE) {
      size_t last = plan.size();
      for (size_t i = 0; i < plan.size(); ++i) {
        if (plan[i].fire) last = i;
      }
      if (last == plan.size()) return;
      for (size_t i = 0; i < last; ++i) {
        if (plan[i].fire) plan[i] = {false, v1::SKIP_REASON_OVERLAP, "replaced by a later fire"};
      }
      for (const v1::RunRecord& run : s_.runs()) cancel->push_back(run.run_id());
      in_flight_ = 0;
      return;
    }
    const bool allow = policy == v1::CONCURRENCY_POLICY_ALLOW;
    for (SlotAction& a : plan) {
      if (!a.fire) continue;
      if (allow ? in_flight_ >= events::kMaxRunsInFlight : in_flight_ > 0) {
        a = {false, v1::SKIP_REASON_OVERLAP,
             allow ? std::to_string(in_flight_) + " runs in flight, the most a job may have"
                   : kOverlapDetail};
      } else {
        ++in_flight_;
      }
    }
  }

  void Skip(const std::vector<JobSlot>& due, size_t first, size_t last, const SlotAction& a) {
    const JobSlot& f = due[first];
    const JobSlot& l = due[last];
    Envelope e = NewEvent("FireSkipped", f.fire_id);
    auto* k = e.mutable_fire_skipped();
    k->set_fire_id(f.fire_id);
    k->set_reason(a.reason);
    *k->mutable_scheduled_for() = ToProto(f.at);
    k->set_nominal_time(f.nominal_time);
    k->set_occurrence(f.occurrence);
    k->set_last_fire_id(l.fire_id);
    *k->mutable_last_scheduled_for() = ToProto(l.at);
    k->set_last_nominal_time(l.nominal_time);
    k->set_last_occurrence(l.occurrence);
    k->set_count(static_cast<int64_t>(last - first + 1));
    k->set_after_fire_id(after_);
    k->set_detail(a.detail);
    d_.events.push_back(std::move(e));
    after_ = l.fire_id;
  }

  void DecideSlots() {
    auto schedule = events::JobSchedule::For(s_);
    if (!schedule.ok()) return;  // the fold accepted it, so this cannot happen
    const int64_t fires_before = s_.summary().fires();
    std::vector<JobSlot> due;
    std::optional<JobSlot> future;
    bool capped = false;
    v1::ScheduleCursor cursor = s_.cursor();
    while (true) {
      auto slot = schedule->Next(cursor, fires_before);
      if (!slot) break;
      if (slot->at > now_) {
        future = std::move(slot);
        break;
      }
      cursor = events::JobSchedule::CursorAt(*slot);
      due.push_back(std::move(*slot));
      if (static_cast<int>(due.size()) >= ctx_.max_slots_per_decision) {
        capped = true;
        break;
      }
    }

    // forbid with a run in flight: the due slots cannot fire. Record them
    // when the run ends, as one range (a long run of an every-second job
    // would otherwise append a record a second), or after kMaxOverlapDeferral.
    if (Forbids() && in_flight_ > 0 && !due.empty() && !capped &&
        now_ - due.front().at < kMaxOverlapDeferral) {
      Wake(due.front().at + kMaxOverlapDeferral);
      return;
    }

    std::vector<SlotAction> plan = Plan(due, capped);
    if (Forbids() && in_flight_ > 0) {
      for (SlotAction& a : plan) {
        if (!a.fire && a.reason != v1::SKIP_REASON_MISFIRE) continue;
        a = {false, v1::SKIP_REASON_OVERLAP, kOverlapDetail};
      }
    }
    std::vector<std::string> cancel;
    ApplyConcurrency(plan, &cancel);
    for (const std::string& run_id : cancel) {
      Envelope e = NewEvent("RunCanceled", run_id);
      auto* c = e.mutable_run_canceled();
      c->set_run_id(run_id);
      if (const v1::RunRecord* run = events::FindRun(s_, run_id)) c->set_fire_id(run->fire_id());
      c->set_reason("replaced by a new fire (concurrency_policy replace)");
      d_.events.push_back(std::move(e));
    }

    const int64_t max_runs = s_.spec().schedule().max_runs();
    int64_t fires = fires_before;
    bool ended = false;
    size_t i = 0;
    while (i < due.size()) {
      if (max_runs > 0 && fires >= max_runs) {
        ended = true;  // the remaining slots lie beyond the schedule's end
        break;
      }
      if (plan[i].fire) {
        const JobSlot& slot = due[i];
        Due(slot.fire_id, ids::RunId(s_.job_id(), slot.fire_id, 1), 1, slot.at, slot.nominal_time,
            slot.occurrence, v1::FIRE_KIND_SCHEDULED, after_, slot.coalesced);
        after_ = slot.fire_id;
        ++fires;
        ++i;
        continue;
      }
      size_t j = i;  // consecutive skips for one reason are one event
      while (j + 1 < due.size() && !plan[j + 1].fire && plan[j + 1].reason == plan[i].reason) ++j;
      Skip(due, i, j, plan[i]);
      i = j + 1;
    }

    if (capped) {
      Wake(now_);  // more due slots: decide again once these are seen
      return;
    }
    if (future && !ended && !(max_runs > 0 && fires >= max_runs)) {
      Wake(future->at);
      return;
    }
    if (max_runs > 0 && fires >= max_runs) {
      Complete("max_runs reached: " + std::to_string(fires) + " fires");
    } else if (IsSet(s_.spec().schedule().end_at())) {
      Complete("end_at " + FormatRfc3339(FromProto(s_.spec().schedule().end_at())) + " reached");
    } else {
      Complete("the schedule has no further fires");
    }
  }

  const JobState& s_;
  const TimePoint now_;
  const DecideContext& ctx_;
  Decision d_;
  int in_flight_;       // runs in flight once this decision's events apply
  std::string after_;   // the cursor's fire id once this decision's events apply
  v1::JobStatus ending_ = v1::JOB_STATUS_UNSPECIFIED;  // the status this decision ends the job in
};

}  // namespace

Decision Decide(const JobState& s, TimePoint now, const DecideContext& context) {
  return Decider(s, now, context).Run();
}

Decision Decide(const JobState& s, TimePoint now, const std::string& producer) {
  DecideContext context;
  context.producer = producer;
  return Decider(s, now, context).Run();
}

}  // namespace jobsched::scheduler
