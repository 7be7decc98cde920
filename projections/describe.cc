#include "projections/describe.h"

#include <optional>
#include <string_view>

#include "events/job_schedule.h"
#include "events/time.h"

namespace jobsched::projections {
namespace {

using events::Envelope;

constexpr size_t kMaxDetail = 200;

// The first 8 characters of an id: enough to tell runs apart in a job's log.
std::string ShortId(std::string_view id) { return std::string(id.substr(0, 8)); }

std::string Truncate(std::string_view s) {
  if (s.size() <= kMaxDetail) return std::string(s);
  // Back up to a UTF-8 character boundary.
  size_t n = kMaxDetail;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n)) + "…";
}

std::string RunLabel(std::string_view run_id, const events::JobState* state) {
  std::string out = "run " + ShortId(run_id);
  if (state != nullptr) {
    for (const v1::RunRecord& r : state->runs()) {
      if (r.run_id() == run_id) return out + " attempt " + std::to_string(r.attempt());
    }
  }
  return out;
}

std::string Time(const google::protobuf::Timestamp& ts) { return FormatRfc3339(FromProto(ts)); }

EventDescription Info(std::string m) { return {"info", std::move(m)}; }

// Where a child stands after a parent's outcome: "; job BLOCKED (upstream
// failed)", "; 2 of 3 parents satisfied, job WAITING", "; every parent
// satisfied, job PENDING". Empty without the state.
std::string ParentsSummary(const events::JobState* state) {
  if (state == nullptr || state->parents().empty()) return "";
  const std::string status(events::JobStatusName(state->status()));
  if (state->status() == v1::JOB_STATUS_BLOCKED) return "; job BLOCKED (upstream failed)";
  int satisfied = 0;
  for (const v1::ParentStatus& p : state->parents()) {
    if (p.status() == v1::DEPENDENCY_STATUS_SATISFIED) ++satisfied;
  }
  if (satisfied == state->parents_size()) return "; every parent satisfied, job " + status;
  return "; " + std::to_string(satisfied) + " of " + std::to_string(state->parents_size()) +
         " parents satisfied, job " + status;
}

EventDescription DescribeApplied(const Envelope& e, const events::JobState* state) {
  switch (e.event_case()) {
    case Envelope::kJobSubmitted: {
      const v1::JobSpec& spec = e.job_submitted().spec();
      std::string m = "job submitted: " + JobTypeName(spec.type());
      if (spec.type() == v1::JOB_TYPE_HTTP) {
        m += " " + (spec.http().method().empty() ? std::string("POST") : spec.http().method()) +
             " " + Truncate(spec.http().url());
      }
      if (!spec.name().empty()) m += " \"" + Truncate(spec.name()) + "\"";
      if (spec.has_schedule()) {
        const v1::ScheduleSpec& sched = spec.schedule();
        m += ", schedule \"" + Truncate(sched.cron()) + "\" in " +
             (sched.timezone().empty() ? std::string("UTC") : sched.timezone());
      } else if (IsSet(spec.run_at())) {
        m += ", run at " + Time(spec.run_at());
      }
      m += ", max_retries " + std::to_string(spec.max_retries());
      return Info(std::move(m));
    }
    case Envelope::kCancelRequested: {
      const std::string& reason = e.cancel_requested().reason();
      return Info(reason.empty() ? "cancel requested" : "cancel requested: " + Truncate(reason));
    }
    case Envelope::kRunDue: {
      const v1::RunDue& d = e.run_due();
      std::string m = "run " + ShortId(d.run_id()) + " attempt " + std::to_string(d.attempt()) +
                      " due";
      if (d.kind() == v1::FIRE_KIND_MANUAL) {
        m += " (manual run)";
      } else if (!d.nominal_time().empty()) {
        m += " (fire " + d.nominal_time() + (d.occurrence() > 1 ? " second occurrence" : "") +
             ", scheduled for " + Time(d.scheduled_for()) + ")";
      } else if (IsSet(d.scheduled_for())) {
        m += " (scheduled for " + Time(d.scheduled_for()) + ")";
      }
      if (d.coalesced() > 1) {
        m += "; " + std::to_string(d.coalesced()) + " nominal times fell on this instant (DST gap)";
      }
      return Info(std::move(m));
    }
    case Envelope::kRunDispatched: {
      const v1::RunDispatched& d = e.run_dispatched();
      std::string m = RunLabel(d.run_id(), state) + " dispatched";
      if (!d.executor_id().empty()) m += " to executor " + Truncate(d.executor_id());
      return Info(m + " (lease epoch " + std::to_string(d.lease_epoch()) + ")");
    }
    case Envelope::kRunStarted: {
      const v1::RunStarted& s = e.run_started();
      std::string m = RunLabel(s.run_id(), state) + " started";
      if (!s.executor_id().empty()) m += " on executor " + Truncate(s.executor_id());
      return Info(std::move(m));
    }
    case Envelope::kRunSucceeded: {
      const v1::RunSucceeded& s = e.run_succeeded();
      std::string m = RunLabel(s.run_id(), state) + " succeeded";
      if (s.http_status() != 0) m += ": HTTP " + std::to_string(s.http_status());
      m += " in " + std::to_string(s.duration_ms()) + " ms";
      return Info(std::move(m));
    }
    case Envelope::kRunFailed: {
      const v1::RunFailed& f = e.run_failed();
      std::string m = RunLabel(f.run_id(), state);
      if (f.kind() == v1::FAILURE_KIND_TIMED_OUT) {
        m += " timed out after " + std::to_string(f.duration_ms()) + " ms";
      } else if (f.kind() == v1::FAILURE_KIND_CANCELED) {
        m += " aborted by its executor: " +
             (f.error().empty() ? std::string("canceled") : Truncate(f.error()));
      } else if (f.kind() == v1::FAILURE_KIND_HTTP_STATUS || f.http_status() != 0) {
        std::string http = "HTTP " + std::to_string(f.http_status());
        m += " failed: " + http;
        if (!f.error().empty() && f.error() != http) m += " (" + Truncate(f.error()) + ")";
      } else {
        m += " failed: " + (f.error().empty() ? std::string("error") : Truncate(f.error()));
      }
      if (f.permanent() && f.kind() != v1::FAILURE_KIND_CANCELED) {
        m += "; permanent: not retried";
      }
      if (f.retry_after_ms() > 0) {
        m += "; the target asks to retry after " + std::to_string(f.retry_after_ms()) + " ms";
      }
      return {"error", std::move(m)};
    }
    case Envelope::kRetryScheduled: {
      const v1::RetryScheduled& r = e.retry_scheduled();
      return Info("retry " + std::to_string(r.next_attempt()) + " scheduled at " +
                  Time(r.retry_at()) + " (in " + std::to_string(r.delay_ms()) + " ms)");
    }
    case Envelope::kJobSucceeded:
      return Info("job succeeded (run " + ShortId(e.job_succeeded().run_id()) + ")");
    case Envelope::kJobDead: {
      const v1::JobDead& d = e.job_dead();
      std::string m = "job dead after " + std::to_string(d.attempts()) + " attempts";
      if (!d.reason().empty()) m += ": " + Truncate(d.reason());
      return {"error", std::move(m)};
    }
    case Envelope::kJobCanceled: {
      const std::string& reason = e.job_canceled().reason();
      return Info(reason.empty() ? "job canceled" : "job canceled: " + Truncate(reason));
    }
    case Envelope::kFireSkipped: {
      const v1::FireSkipped& k = e.fire_skipped();
      std::string m =
          "skipped " + std::to_string(k.count()) + (k.count() == 1 ? " fire" : " fires");
      m += k.count() == 1 ? " at " + k.nominal_time()
                          : " from " + k.nominal_time() + " to " + k.last_nominal_time();
      m += ": " + events::SkipReasonName(k.reason());
      if (!k.detail().empty()) m += " (" + Truncate(k.detail()) + ")";
      return {"warn", std::move(m)};
    }
    case Envelope::kRunDead: {
      const v1::RunDead& d = e.run_dead();
      std::string m = "run " + ShortId(d.run_id()) + " gave up after " +
                      std::to_string(d.attempts()) + " attempts";
      if (!d.reason().empty()) m += ": " + Truncate(d.reason());
      return {"error", std::move(m)};
    }
    case Envelope::kRunCanceled:
      return {"warn", "run " + ShortId(e.run_canceled().run_id()) + " canceled: " +
                          Truncate(e.run_canceled().reason())};
    case Envelope::kJobCompleted:
      return Info("job completed: " + Truncate(e.job_completed().reason()));
    case Envelope::kJobUpdated: {
      std::string fields;
      for (const std::string& f : e.job_updated().changed()) {
        fields += (fields.empty() ? "" : ", ") + f;
      }
      return Info("job updated: " + Truncate(fields) + " (from the next fire)");
    }
    case Envelope::kPauseRequested: {
      const std::string& reason = e.pause_requested().reason();
      return Info(reason.empty() ? "job paused" : "job paused: " + Truncate(reason));
    }
    case Envelope::kResumeRequested:
      return Info("job resumed");
    case Envelope::kRunRequested:
      return Info("run " + ShortId(e.run_requested().run_id()) + " requested now");
    case Envelope::kDeleteRequested:
      return Info("job deleted");
    case Envelope::kRunLost: {
      const v1::RunLost& l = e.run_lost();
      std::string m = RunLabel(l.run_id(), state) + " lost by executor " +
                      Truncate(l.executor_id()) + " (lease epoch " +
                      std::to_string(l.lease_epoch()) + ")";
      if (!l.reason().empty()) m += ": " + Truncate(l.reason());
      const v1::RunRecord* run = state != nullptr ? events::FindRun(*state, l.run_id()) : nullptr;
      if (run != nullptr && run->status() == v1::RUN_STATUS_LOST) {
        return {"error", m + "; at_most_once: it had started, so it ends LOST without a rerun"};
      }
      return {"warn", m + "; due again under a new lease"};
    }
    case Envelope::kRunTimedOut: {
      const v1::RunTimedOut& t = e.run_timed_out();
      return {"error", RunLabel(t.run_id(), state) + " timed out: no result within " +
                           std::to_string(t.timeout_ms()) + " ms of its dispatch to executor " +
                           Truncate(t.executor_id()) + " (lease epoch " +
                           std::to_string(t.lease_epoch()) + ")"};
    }
    case Envelope::kRunReleased: {
      const v1::RunReleased& r = e.run_released();
      std::string m = RunLabel(r.run_id(), state) + " handed back by executor " +
                      Truncate(r.executor_id()) + " (lease epoch " +
                      std::to_string(r.lease_epoch()) + ")";
      if (!r.reason().empty()) m += ": " + Truncate(r.reason());
      const v1::RunRecord* run = state != nullptr ? events::FindRun(*state, r.run_id()) : nullptr;
      if (run != nullptr && run->status() == v1::RUN_STATUS_LOST) {
        return {"error", m + "; at_most_once: it had started, so it ends LOST without a rerun"};
      }
      return {"warn", m + "; due again without spending an attempt"};
    }
    case Envelope::kRunWaiting: {
      const v1::RunWaiting& w = e.run_waiting();
      return {"warn", RunLabel(w.run_id(), state) + " waits for an executor: " +
                          Truncate(w.reason())};
    }
    case Envelope::kJobRequeued: {
      std::string m = "job requeued from the dead letters";
      if (state != nullptr) {
        m += ": " + std::to_string(state->spec().max_retries() + 1) + " more attempts";
        if (state->requeues() > 1) m += " (requeue " + std::to_string(state->requeues()) + ")";
      }
      const std::string& reason = e.job_requeued().reason();
      if (!reason.empty()) m += "; " + Truncate(reason);
      return Info(std::move(m));
    }
    case Envelope::kDependencyRegistered:
      return Info("dependent " + ShortId(e.dependency_registered().child_id()) +
                  " registered: it waits for this job");
    case Envelope::kDependenciesRegistered: {
      const int n = e.dependencies_registered().parent_ids_size();
      return Info("registered with " + std::to_string(n) + (n == 1 ? " parent" : " parents"));
    }
    case Envelope::kDependencySatisfied:
      return Info("parent " + ShortId(e.dependency_satisfied().parent_id()) + " succeeded" +
                  ParentsSummary(state));
    case Envelope::kDependencyFailed: {
      const v1::DependencyFailed& f = e.dependency_failed();
      std::string m = "parent " + ShortId(f.parent_id()) + " failed";
      if (!f.parent_status().empty()) m += " (" + Truncate(f.parent_status()) + ")";
      if (!f.reason().empty()) m += ": " + Truncate(f.reason());
      return {"warn", m + ParentsSummary(state)};
    }
    case Envelope::kDependentsNotified: {
      const v1::DependentsNotified& n = e.dependents_notified();
      const int count = n.job_ids_size();
      return Info(std::to_string(count) + (count == 1 ? " dependent" : " dependents") +
                  " told " + std::string(events::DependencyStatusName(n.status())));
    }
    case Envelope::kWorkflowSubmitted: {
      const v1::WorkflowSubmitted& w = e.workflow_submitted();
      int edges = 0;
      for (const v1::WorkflowJob& j : w.spec().jobs()) edges += j.depends_on_size();
      std::string m = "workflow submitted: \"" + Truncate(w.spec().name()) + "\", " +
                      std::to_string(w.spec().jobs_size()) + " jobs, " + std::to_string(edges) +
                      (edges == 1 ? " edge" : " edges");
      if (!w.trigger_job_id().empty()) {
        m += "; started by job " + ShortId(w.trigger_job_id());
        if (!w.trigger_run_id().empty()) m += " run " + ShortId(w.trigger_run_id());
        if (!w.nominal_time().empty()) m += " (fire " + w.nominal_time() + ")";
      }
      return Info(std::move(m));
    }
    case Envelope::kWorkflowExpanded:
      return Info("workflow expanded into " + std::to_string(e.workflow_expanded().jobs()) +
                  " jobs");
    case Envelope::kWorkflowStarted: {
      const v1::WorkflowStarted& w = e.workflow_started();
      return Info(RunLabel(w.run_id(), state) + " started workflow run " +
                  ShortId(w.workflow_id()));
    }
    case Envelope::EVENT_NOT_SET:
      break;
  }
  return Info("event without payload");
}

// A result (or start) whose lease is no longer the run's: the run was
// dispatched again, or its lease was lost or handed back. nullopt for any
// other rejection.
std::optional<EventDescription> DescribeLateResult(const Envelope& e,
                                                   const events::JobState* state) {
  std::string_view run_id;
  int64_t epoch = 0;
  std::string what = "result";
  switch (e.event_case()) {
    case Envelope::kRunStarted:
      run_id = e.run_started().run_id();
      epoch = e.run_started().lease_epoch();
      what = "start";
      break;
    case Envelope::kRunSucceeded:
      run_id = e.run_succeeded().run_id();
      epoch = e.run_succeeded().lease_epoch();
      break;
    case Envelope::kRunFailed:
      run_id = e.run_failed().run_id();
      epoch = e.run_failed().lease_epoch();
      break;
    case Envelope::kRunTimedOut:
      run_id = e.run_timed_out().run_id();
      epoch = e.run_timed_out().lease_epoch();
      what = "timeout";
      break;
    default:
      return std::nullopt;
  }
  const v1::RunRecord* run = state != nullptr ? events::FindRun(*state, run_id) : nullptr;
  if (run == nullptr) return std::nullopt;
  std::string m = "late " + what + " from lease " + std::to_string(epoch) + " ignored: ";
  if (epoch < run->lease_epoch()) {
    m += "the run was re-dispatched under lease " + std::to_string(run->lease_epoch());
  } else if (epoch == run->lease_epoch() && run->status() == v1::RUN_STATUS_LOST) {
    m += "the lease was lost and the at_most_once run ended LOST";
  } else if (epoch == run->lease_epoch() && run->status() == v1::RUN_STATUS_DUE &&
             run->releases() > 0) {
    m += "the lease was lost or handed back; the run waits for a new lease";
  } else {
    return std::nullopt;
  }
  return EventDescription{"warn", m + " (" + RunLabel(run_id, state) + ", " +
                                      std::string(events::EventType(e)) + ")"};
}

}  // namespace

std::string JobTypeName(v1::JobType type) {
  switch (type) {
    case v1::JOB_TYPE_HTTP: return "http";
    case v1::JOB_TYPE_ECHO: return "echo";
    case v1::JOB_TYPE_SLEEP: return "sleep";
    case v1::JOB_TYPE_FAIL: return "fail";
    case v1::JOB_TYPE_WORKFLOW: return "workflow";
    default: return "unspecified";
  }
}

EventDescription Describe(const events::Envelope& event, const events::FoldResult& result,
                          const events::JobState* state_after) {
  switch (result.outcome) {
    case events::Outcome::kRejected:
      if (auto late = DescribeLateResult(event, state_after)) return *std::move(late);
      return {"warn", "rejected: " + Truncate(result.reason)};
    case events::Outcome::kDuplicate:
      return Info("duplicate: " + (result.reason.empty() ? std::string("event already applied")
                                                         : result.reason));
    case events::Outcome::kApplied:
      break;
  }
  return DescribeApplied(event, state_after);
}

}  // namespace jobsched::projections
