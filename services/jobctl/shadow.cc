#include "services/jobctl/shadow.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "events/fold.h"
#include "events/ids.h"
#include "events/job_schedule.h"
#include "services/api/job_update.h"
#include "services/scheduler/decide.h"

namespace jobsched::jobctl::shadow {
namespace {

using events::Envelope;
using events::JobState;
using nlohmann::json;

// What the scheduler decides about the job itself (Decision::events and
// ::after). Events it appends about other jobs (DependencyRegistered,
// DependencySatisfied/Failed, a workflow's JobSubmitted) are inputs to them.
bool IsDecision(const Envelope& e) {
  switch (e.event_case()) {
    case Envelope::kRunDue:
    case Envelope::kRetryScheduled:
    case Envelope::kFireSkipped:
    case Envelope::kJobSucceeded:
    case Envelope::kJobDead:
    case Envelope::kRunDead:
    case Envelope::kRunCanceled:
    case Envelope::kJobCompleted:
    case Envelope::kJobCanceled:
    case Envelope::kDependenciesRegistered:
    case Envelope::kDependentsNotified:
    case Envelope::kWorkflowStarted:
    case Envelope::kWorkflowExpanded:
      return true;
    default:
      return false;
  }
}

// The dispatcher's and executors' events about one run: they follow the run,
// not the clock, so they are replayed when the shadow makes that run due.
bool IsRunEvent(const Envelope& e) {
  switch (e.event_case()) {
    case Envelope::kRunDispatched:
    case Envelope::kRunStarted:
    case Envelope::kRunSucceeded:
    case Envelope::kRunFailed:
    case Envelope::kRunLost:
    case Envelope::kRunTimedOut:
    case Envelope::kRunReleased:
    case Envelope::kRunWaiting:
      return true;
    default:
      return false;
  }
}

// What people call a run: its fire and attempt, learnt from RunDue.
struct RunInfo {
  std::string fire_id;
  std::string fire;  // "slot 2026-11-28T10:00:10", "the run", "manual run of <time>"
  int attempt = 0;
};

class RunIndex {
 public:
  void Learn(const Envelope& e) {
    if (!e.has_run_due()) return;
    const v1::RunDue& d = e.run_due();
    RunInfo info{d.fire_id(), FireLabel(d), d.attempt()};
    runs_.emplace(d.run_id(), std::move(info));
  }
  const RunInfo* Find(const std::string& run_id) const {
    auto it = runs_.find(run_id);
    return it == runs_.end() ? nullptr : &it->second;
  }
  std::string Label(const std::string& run_id) const {
    const RunInfo* r = Find(run_id);
    if (r == nullptr) return "run " + run_id.substr(0, 8);
    return r->fire + ", attempt " + std::to_string(r->attempt);
  }

  static std::string SlotLabel(const std::string& nominal, int occurrence) {
    if (nominal.empty()) return "the run";
    return "slot " + nominal + (occurrence > 1 ? " (repeated hour, 2nd)" : "");
  }
  static std::string FireLabel(const v1::RunDue& d) {
    if (d.kind() == v1::FIRE_KIND_MANUAL) {
      return "manual run of " + FormatRfc3339(FromProto(d.scheduled_for()));
    }
    return SlotLabel(d.nominal_time(), d.occurrence());
  }

 private:
  std::unordered_map<std::string, RunInfo> runs_;
};

std::string Rfc(const google::protobuf::Timestamp& ts) { return FormatRfc3339(FromProto(ts)); }

DecisionView Describe(const Envelope& e, TimePoint at, const RunIndex& index) {
  DecisionView v;
  v.type = std::string(events::EventType(e));
  v.at = at;
  v.json = {{"type", v.type}, {"at", FormatRfc3339(at)}};
  switch (e.event_case()) {
    case Envelope::kRunDue: {
      const v1::RunDue& d = e.run_due();
      const std::string fire = RunIndex::FireLabel(d);
      const std::string when = Rfc(d.scheduled_for());
      const bool first_of_slot = d.attempt() == 1 && d.kind() != v1::FIRE_KIND_MANUAL;
      v.subject =
          first_of_slot ? "fire " + fire : "run " + fire + " #" + std::to_string(d.attempt());
      v.detail = when;
      if (first_of_slot && !d.nominal_time().empty()) {
        v.text = "RunDue " + fire;
      } else if (d.kind() == v1::FIRE_KIND_MANUAL || !d.nominal_time().empty()) {
        v.text = "RunDue " + fire + ", attempt " + std::to_string(d.attempt()) + " at " + when;
      } else {
        v.text = "RunDue attempt " + std::to_string(d.attempt()) + " at " + when;
      }
      v.json["fire"] = fire;
      v.json["attempt"] = d.attempt();
      v.json["scheduled_for"] = when;
      break;
    }
    case Envelope::kFireSkipped: {
      const v1::FireSkipped& k = e.fire_skipped();
      const std::string first = RunIndex::SlotLabel(k.nominal_time(), k.occurrence());
      const std::string reason(events::SkipReasonName(k.reason()));
      v.subject = "fire " + first;
      v.detail = reason + "|" + std::to_string(k.count()) + "|" + k.last_nominal_time();
      v.text = k.count() > 1
                   ? "FireSkipped " + std::to_string(k.count()) + " slots " + k.nominal_time() +
                         ".." + k.last_nominal_time() + " (" + reason + ")"
                   : "FireSkipped " + first + " (" + reason + ")";
      v.json["fire"] = first;
      v.json["count"] = k.count();
      v.json["last_fire"] = RunIndex::SlotLabel(k.last_nominal_time(), k.last_occurrence());
      v.json["reason"] = reason;
      break;
    }
    case Envelope::kRetryScheduled: {
      const v1::RetryScheduled& r = e.retry_scheduled();
      v.subject = "verdict " + r.failed_run_id();
      v.detail = std::to_string(r.next_attempt()) + "|" + Rfc(r.retry_at());
      v.text =
          "RetryScheduled attempt " + std::to_string(r.next_attempt()) + " at " + Rfc(r.retry_at());
      v.json["run"] = index.Label(r.failed_run_id());
      v.json["attempt"] = r.next_attempt();
      v.json["retry_at"] = Rfc(r.retry_at());
      break;
    }
    case Envelope::kJobDead: {
      const v1::JobDead& d = e.job_dead();
      v.subject = "verdict " + d.last_run_id();
      v.detail = std::to_string(d.attempts());
      v.text = "JobDead after attempt " + std::to_string(d.attempts());
      v.json["run"] = index.Label(d.last_run_id());
      v.json["attempts"] = d.attempts();
      break;
    }
    case Envelope::kRunDead: {
      const v1::RunDead& d = e.run_dead();
      const RunInfo* run = index.Find(d.run_id());
      v.subject = "verdict " + d.run_id();
      v.detail = std::to_string(d.attempts());
      v.text = "RunDead " + (run != nullptr ? run->fire + " " : std::string()) + "after attempt " +
               std::to_string(d.attempts());
      v.json["run"] = index.Label(d.run_id());
      v.json["attempts"] = d.attempts();
      break;
    }
    case Envelope::kJobSucceeded: {
      const std::string& run = e.job_succeeded().run_id();
      v.subject = "verdict " + run;
      const RunInfo* info = index.Find(run);
      v.text =
          "JobSucceeded" + (info != nullptr ? " on attempt " + std::to_string(info->attempt) : "");
      v.json["run"] = index.Label(run);
      break;
    }
    case Envelope::kRunCanceled: {
      const std::string& run = e.run_canceled().run_id();
      v.subject = "cancel " + run;
      v.text = "RunCanceled " + index.Label(run);
      v.json["run"] = index.Label(run);
      break;
    }
    case Envelope::kJobCompleted:
      v.subject = "end";
      v.detail = e.job_completed().reason();
      v.text = "JobCompleted (" + e.job_completed().reason() + ")";
      v.json["reason"] = e.job_completed().reason();
      break;
    case Envelope::kJobCanceled:
      v.subject = "end";
      v.text = "JobCanceled";
      break;
    default:  // bookkeeping of dependencies and workflows: its kind is its meaning
      v.subject = v.type;
      v.text = v.type;
      break;
  }
  v.json["text"] = v.text;
  return v;
}

// The shadow of one job: its inputs folded with the policy, its decisions
// made by scheduler::Decide on a virtual clock.
class Simulation {
 public:
  struct Decided {
    Envelope event;
    TimePoint at;
    bool unknown_outcome = false;
  };

  Simulation(const std::vector<Envelope>& history, std::vector<std::string> fields,
             v1::JobSpec policy_spec, const Options& options)
      : fields_(std::move(fields)),
        policy_spec_(std::move(policy_spec)),
        read_at_(options.read_at) {
    context_.producer = "scheduler/shadow";
    context_.misfire_grace = options.misfire_grace;
    for (size_t i = 0; i < history.size(); ++i) {
      const Envelope& e = history[i];
      last_recorded_ = std::max(last_recorded_, FromProto(e.occurred_at()));
      if (IsDecision(e)) {
        if (e.has_run_due()) recorded_due_.emplace(e.run_due().run_id(), e.run_due());
      } else if (IsRunEvent(e)) {
        run_events_[std::string(events::RunIdOf(e))].push_back({static_cast<int64_t>(i), &e});
      } else {
        main_.push_back({static_cast<int64_t>(i), &e});
      }
    }
  }

  void Run() {
    if (main_.empty()) return;
    clock_ = FromProto(main_.front().event->occurred_at());
    size_t next = 0;
    // Bounded: a policy that fires every second over a long record still ends.
    for (int64_t step = 0; step < kMaxSteps; ++step) {
      std::optional<std::pair<TimePoint, int64_t>> main_at;
      if (next < main_.size()) {
        main_at = {std::max(clock_, FromProto(main_[next].event->occurred_at())), main_[next].seq};
      }
      std::optional<std::pair<TimePoint, int64_t>> pending_at;
      if (!pending_.empty()) pending_at = pending_.begin()->first;
      const bool take_main = main_at && (!pending_at || *main_at < *pending_at);
      std::optional<TimePoint> input_at =
          take_main ? std::optional(main_at->first)
                    : (pending_at ? std::optional(pending_at->first) : std::nullopt);
      if (input_at && !Within(*input_at)) input_at.reset();
      // An input and a timer at the same instant: the input first, as the
      // scheduler sees a result folded before it decides.
      if (wake_ && (!input_at || *wake_ < *input_at) && MayWake(*wake_)) {
        clock_ = std::max(clock_, *wake_);
        wake_.reset();
        Settle();
        if (stopped_) break;
        continue;
      }
      if (!input_at) break;
      clock_ = std::max(clock_, *input_at);
      if (take_main) {
        Envelope e = Shadowed(*main_[next].event);
        ++next;
        events::Apply(state_, e);
      } else {
        Envelope e = std::move(pending_.begin()->second);
        pending_.erase(pending_.begin());
        events::Apply(state_, e);
      }
      Settle();
      if (stopped_) break;
    }
  }

  const std::vector<Decided>& decided() const { return decided_; }
  int unknown_runs() const { return unknown_runs_; }

 private:
  static constexpr int64_t kMaxSteps = 20'000'000;

  struct Input {
    int64_t seq;  // position in the record
    const Envelope* event;
  };

  // Whether something at `t` may still be replayed: within the record, or
  // past it up to the time the record was read.
  bool Within(TimePoint t) const { return t <= last_recorded_ || !read_at_ || t <= *read_at_; }

  // Past the record's end, only retries of failed runs are followed: a new
  // slot there is one the record could not show either.
  bool MayWake(TimePoint t) const {
    if (t <= last_recorded_) return true;
    if (!Within(t)) return false;
    for (const v1::RunRecord& run : state_.runs()) {
      if (events::IsRunFailed(run.status()) && IsSet(run.retry_at()) &&
          FromProto(run.retry_at()) <= t) {
        return true;
      }
    }
    return false;
  }

  // The input as it would have been under the policy.
  Envelope Shadowed(const Envelope& e) const {
    Envelope out = e;
    v1::JobSpec* spec = nullptr;
    if (out.has_job_submitted()) spec = out.mutable_job_submitted()->mutable_spec();
    if (out.has_job_updated()) spec = out.mutable_job_updated()->mutable_spec();
    if (spec == nullptr) return out;
    for (const std::string& f : fields_) {
      std::string why;  // a schedule field of a job that has none: nothing to lay over
      events::ApplySpecChange(f, policy_spec_, *spec, &why);
    }
    return out;
  }

  // Decides until the scheduler has nothing more to append now.
  void Settle() {
    for (int round = 0; round < 1000; ++round) {
      scheduler::Decision d = scheduler::Decide(state_, clock_, context_);
      bool applied = false;
      // Events about other jobs are taken as acknowledged: `after` records it.
      for (auto* list : {&d.events, &d.after}) {
        for (Envelope& e : *list) {
          if (!events::Apply(state_, e).applied()) continue;
          applied = true;
          OnDecided(std::move(e));
        }
      }
      if (!applied) {
        wake_ = d.wake_at;
        return;
      }
    }
    wake_.reset();  // deciding does not settle: stop rather than spin
  }

  void OnDecided(Envelope e) {
    Decided d{e, clock_, false};
    if (e.has_run_due()) {
      const v1::RunDue& due = e.run_due();
      auto events = run_events_.find(due.run_id());
      auto recorded = recorded_due_.find(due.run_id());
      if (recorded == recorded_due_.end()) {
        d.unknown_outcome = true;
        ++unknown_runs_;
        StopFollowing(due.run_id());
        if (clock_ > last_recorded_) stopped_ = true;  // nothing after it can be known
      } else if (events != run_events_.end()) {
        const Millis shift =
            FromProto(due.scheduled_for()) - FromProto(recorded->second.scheduled_for());
        for (const Input& in : events->second) {
          Envelope copy = *in.event;
          TimePoint at = std::max(clock_, FromProto(copy.occurred_at()) + shift);
          *copy.mutable_occurred_at() = ToProto(at);
          pending_.emplace(std::make_pair(at, in.seq), std::move(copy));
        }
        run_events_.erase(events);
      }
    }
    decided_.push_back(std::move(d));
  }

  // A recurring job goes on with its later slots as if the unknown run had
  // left (no outcome is recorded for it); a one-off job keeps it: its story
  // ends there.
  void StopFollowing(const std::string& run_id) {
    if (!events::IsRecurring(state_)) return;
    auto* runs = state_.mutable_runs();
    for (int i = 0; i < runs->size(); ++i) {
      if (runs->Get(i).run_id() == run_id) {
        runs->DeleteSubrange(i, 1);
        return;
      }
    }
  }

  std::vector<std::string> fields_;
  v1::JobSpec policy_spec_;
  scheduler::DecideContext context_;
  std::vector<Input> main_;
  std::unordered_map<std::string, std::vector<Input>> run_events_;
  std::unordered_map<std::string, v1::RunDue> recorded_due_;
  std::map<std::pair<TimePoint, int64_t>, Envelope> pending_;
  std::optional<TimePoint> read_at_;
  TimePoint last_recorded_{};
  bool stopped_ = false;
  TimePoint clock_{};
  std::optional<TimePoint> wake_;
  JobState state_;
  std::vector<Decided> decided_;
  int unknown_runs_ = 0;
};

// Whether the shadow's retry makes an attempt the record never made.
bool RetryUnknown(const Envelope& e, const RunIndex& recorded, const std::string& job_id) {
  if (!e.has_retry_scheduled()) return false;
  const RunInfo* failed = recorded.Find(e.retry_scheduled().failed_run_id());
  if (failed == nullptr) return true;
  return recorded.Find(ids::RunId(job_id, failed->fire_id, e.retry_scheduled().next_attempt())) ==
         nullptr;
}

std::vector<Difference> Compare(const std::vector<DecisionView>& recorded,
                                const std::vector<DecisionView>& shadow,
                                const std::vector<bool>& shadow_unknown) {
  std::map<std::string, std::vector<size_t>> by_subject;  // shadow decisions, in order
  for (size_t i = shadow.size(); i-- > 0;) by_subject[shadow[i].subject].push_back(i);
  std::vector<bool> matched(shadow.size(), false);
  std::vector<Difference> out;
  for (const DecisionView& r : recorded) {
    auto it = by_subject.find(r.subject);
    if (it == by_subject.end() || it->second.empty()) {
      out.push_back({DiffKind::kOnlyRecorded, r.at, r, std::nullopt, false});
      continue;
    }
    const size_t i = it->second.back();
    it->second.pop_back();
    matched[i] = true;
    if (r.type == shadow[i].type && r.detail == shadow[i].detail) continue;
    out.push_back({DiffKind::kChanged, r.at, r, shadow[i], shadow_unknown[i]});
  }
  for (size_t i = 0; i < shadow.size(); ++i) {
    if (matched[i]) continue;
    out.push_back(
        {DiffKind::kOnlyShadow, shadow[i].at, std::nullopt, shadow[i], shadow_unknown[i]});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Difference& a, const Difference& b) { return a.at < b.at; });
  return out;
}

}  // namespace

const char* DiffKindName(DiffKind kind) {
  switch (kind) {
    case DiffKind::kOnlyRecorded:
      return "only_recorded";
    case DiffKind::kOnlyShadow:
      return "only_shadow";
    case DiffKind::kChanged:
      return "changed";
  }
  return "changed";
}

JobComparison ShadowJob(const std::vector<Envelope>& history, const Policy& policy,
                        const Options& options) {
  JobComparison out;
  if (history.empty()) {
    out.skipped = "no events of this job in the record";
    return out;
  }
  out.job_id = history.front().job_id();

  // The record as the scheduler lived it: decisions the fold applied (a redo
  // after a crash is a duplicate, not a second decision).
  JobState recorded_state;
  RunIndex index;
  const Envelope* submitted = nullptr;
  std::vector<const Envelope*> recorded;
  for (const Envelope& e : history) {
    const bool applied = events::Apply(recorded_state, e).applied();
    if (!applied) continue;
    if (e.has_job_submitted() && submitted == nullptr) submitted = &e;
    if (IsDecision(e)) recorded.push_back(&e);
    index.Learn(e);
  }
  out.name = recorded_state.spec().name();
  if (recorded_state.workflow_run()) {
    out.skipped = "a workflow run, not a job";
    return out;
  }
  if (submitted == nullptr) {
    out.skipped = "its JobSubmitted is not in the record (expired from the log?)";
    return out;
  }

  // The policy as a PATCH of this job's submitted spec; schedule fields do
  // not apply to a one-off job.
  const v1::JobSpec& spec = submitted->job_submitted().spec();
  json patch = policy.patch;
  if (!spec.has_schedule()) {
    for (auto it = patch.begin(); it != patch.end();) {
      it = events::IsScheduleField(it.key()) ? patch.erase(it) : std::next(it);
    }
    if (patch.empty()) {
      out.skipped = "one-off job; the policy changes only the schedule";
      return out;
    }
  }
  auto update = api::ParseJobUpdate(patch, spec, FromProto(submitted->occurred_at()));
  if (auto* error = std::get_if<api::FieldError>(&update)) {
    out.skipped = "the policy does not apply to it: " + error->field + ": " + error->message;
    return out;
  }
  const api::JobUpdate& change = std::get<api::JobUpdate>(update);

  Simulation sim(history, change.changed, change.spec, options);
  sim.Run();

  RunIndex shadow_index = index;
  for (const auto& d : sim.decided()) shadow_index.Learn(d.event);
  std::vector<DecisionView> recorded_views;
  for (const Envelope* e : recorded) {
    recorded_views.push_back(Describe(*e, FromProto(e->occurred_at()), index));
  }
  std::vector<DecisionView> shadow_views;
  std::vector<bool> unknown;
  for (const auto& d : sim.decided()) {
    shadow_views.push_back(Describe(d.event, d.at, shadow_index));
    unknown.push_back(d.unknown_outcome || RetryUnknown(d.event, index, out.job_id));
  }
  out.recorded_decisions = static_cast<int>(recorded_views.size());
  out.shadow_decisions = static_cast<int>(shadow_views.size());
  out.unknown_runs = sim.unknown_runs();
  out.differences = Compare(recorded_views, shadow_views, unknown);
  return out;
}

std::vector<JobComparison> ShadowAll(const std::vector<RecordedEvent>& events, const Policy& policy,
                                     const Options& options) {
  std::vector<std::string> order;
  std::unordered_map<std::string, std::vector<Envelope>> by_job;
  for (const RecordedEvent& r : events) {
    auto [it, fresh] = by_job.try_emplace(r.envelope.job_id());
    if (fresh) order.push_back(r.envelope.job_id());
    it->second.push_back(r.envelope);
  }
  if (!policy.jobs.empty()) order = policy.jobs;
  std::vector<JobComparison> out;
  for (const std::string& id : order) {
    auto it = by_job.find(id);
    JobComparison c = it == by_job.end() ? ShadowJob({}, policy, options)
                                         : ShadowJob(it->second, policy, options);
    c.job_id = id;
    out.push_back(std::move(c));
  }
  return out;
}

Summary Summarize(const std::vector<JobComparison>& jobs) {
  Summary s;
  for (const JobComparison& j : jobs) {
    if (!j.skipped.empty()) {
      ++s.jobs_skipped;
      continue;
    }
    ++s.jobs_compared;
    if (!j.differences.empty()) ++s.jobs_differing;
    s.unknown_runs += j.unknown_runs;
    for (const Difference& d : j.differences) {
      switch (d.kind) {
        case DiffKind::kOnlyRecorded:
          ++s.only_recorded;
          break;
        case DiffKind::kOnlyShadow:
          ++s.only_shadow;
          break;
        case DiffKind::kChanged:
          ++s.changed;
          break;
      }
    }
  }
  return s;
}

namespace {

std::string Plural(int n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string JobTitle(const JobComparison& j) {
  return "job " + j.job_id + (j.name.empty() ? "" : " (" + j.name + ")");
}

constexpr size_t kRecordedColumn = 40;

}  // namespace

std::string FormatText(const std::vector<JobComparison>& jobs, bool list_same) {
  std::ostringstream out;
  for (const JobComparison& j : jobs) {
    if (!j.skipped.empty()) {
      if (list_same) out << JobTitle(j) << ": skipped: " << j.skipped << "\n";
      continue;
    }
    if (j.differences.empty() && !list_same) continue;
    out << JobTitle(j) << ": "
        << Plural(j.recorded_decisions, "recorded decision", "recorded decisions") << ", "
        << j.shadow_decisions << " shadow; "
        << (j.differences.empty() ? "no difference" : "differs at:") << "\n";
    for (const Difference& d : j.differences) {
      std::string recorded = "recorded " + (d.recorded ? d.recorded->text : "—");
      const size_t width = recorded.size() - (d.recorded ? 0 : 2);  // "—" is 3 bytes, 1 column
      if (width < kRecordedColumn) recorded.append(kRecordedColumn - width, ' ');
      out << "  " << FormatRfc3339(d.at) << "  " << recorded << "  shadow "
          << (d.shadow ? d.shadow->text : "—");
      if (d.unknown_outcome) out << " (outcome unknown: not in the record)";
      out << "\n";
    }
  }
  const Summary s = Summarize(jobs);
  out << "shadow: " << Plural(s.jobs_compared, "job", "jobs") << " compared, " << s.jobs_differing
      << (s.jobs_differing == 1 ? " differs" : " differ");
  if (s.jobs_skipped > 0) out << " (" << s.jobs_skipped << " skipped)";
  out << "; decisions only recorded " << s.only_recorded << ", only shadow " << s.only_shadow
      << ", changed " << s.changed;
  if (s.unknown_runs > 0) {
    out << "; " << Plural(s.unknown_runs, "shadow run", "shadow runs")
        << " with an outcome not in the record";
  }
  out << "\n";
  return out.str();
}

std::string FormatJsonLines(const std::vector<JobComparison>& jobs) {
  std::ostringstream out;
  for (const JobComparison& j : jobs) {
    for (const Difference& d : j.differences) {
      json line = {{"job_id", j.job_id},
                   {"name", j.name},
                   {"at", FormatRfc3339(d.at)},
                   {"kind", DiffKindName(d.kind)},
                   {"recorded", d.recorded ? d.recorded->json : json(nullptr)},
                   {"shadow", d.shadow ? d.shadow->json : json(nullptr)},
                   {"unknown_outcome", d.unknown_outcome}};
      out << line.dump() << "\n";
    }
  }
  const Summary s = Summarize(jobs);
  json skipped = json::array();
  for (const JobComparison& j : jobs) {
    if (!j.skipped.empty()) skipped.push_back({{"job_id", j.job_id}, {"reason", j.skipped}});
  }
  json summary = {{"jobs_compared", s.jobs_compared}, {"jobs_differing", s.jobs_differing},
                  {"jobs_skipped", s.jobs_skipped},   {"only_recorded", s.only_recorded},
                  {"only_shadow", s.only_shadow},     {"changed", s.changed},
                  {"unknown_runs", s.unknown_runs},   {"skipped", skipped}};
  out << json{{"summary", summary}}.dump() << "\n";
  return out.str();
}

}  // namespace jobsched::jobctl::shadow
