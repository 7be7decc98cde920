// The fold of dependencies between jobs and of workflow runs (fold.h).
//
// A child keeps one ParentStatus per parent; its status follows them:
// WAITING while a parent is PENDING, BLOCKED while one has FAILED, and the
// status it would have had without parents (PENDING, or SCHEDULED before
// run_at) once all are SATISFIED. A parent keeps its dependents and what each
// was last told, so it knows whom it still owes a notification.
#include <algorithm>

#include "events/fold_internal.h"

namespace jobsched::events {
namespace internal {
namespace {

bool Waits(v1::JobStatus s) {
  return s == v1::JOB_STATUS_WAITING || s == v1::JOB_STATUS_BLOCKED;
}

// The status the parents allow: BLOCKED, WAITING, or UNSPECIFIED (free to run).
v1::JobStatus ParentsHold(const JobState& s) {
  bool pending = false;
  for (const v1::ParentStatus& p : s.parents()) {
    if (p.status() == v1::DEPENDENCY_STATUS_FAILED) return v1::JOB_STATUS_BLOCKED;
    if (p.status() != v1::DEPENDENCY_STATUS_SATISFIED) pending = true;
  }
  return pending ? v1::JOB_STATUS_WAITING : v1::JOB_STATUS_UNSPECIFIED;
}

// Moves a waiting child to what its parents now allow; `at` is the event's
// time (a released job with run_at still ahead is SCHEDULED).
void Settle(JobState& s, const google::protobuf::Timestamp& at) {
  if (!Waits(s.status())) return;  // ended, or already released
  v1::JobStatus hold = ParentsHold(s);
  if (hold != v1::JOB_STATUS_UNSPECIFIED) {
    s.set_status(hold);
    s.clear_next_fire_at();
    return;
  }
  const auto& run_at = s.spec().run_at();
  bool delayed = IsSet(run_at) && FromProto(run_at) > FromProto(at);
  s.set_status(delayed ? v1::JOB_STATUS_SCHEDULED : v1::JOB_STATUS_PENDING);
  *s.mutable_next_fire_at() = delayed ? run_at : at;
}

v1::ParentStatus* FindParent(JobState& s, const std::string& id) {
  for (auto& p : *s.mutable_parents()) {
    if (p.job_id() == id) return &p;
  }
  return nullptr;
}

FoldResult ApplyParentOutcome(JobState& s, const Envelope& e, const std::string& parent_id,
                              v1::DependencyStatus status, const std::string& reason) {
  if (s.workflow_run()) return Reject("a workflow run has no parents");
  v1::ParentStatus* p = FindParent(s, parent_id);
  if (p == nullptr) return Reject("job " + s.job_id() + " does not depend on " + parent_id);
  if (p->status() == status) {
    return Duplicate("parent " + parent_id + " already " +
                     std::string(DependencyStatusName(status)));
  }
  p->set_status(status);
  p->set_reason(reason);
  Settle(s, e.occurred_at());
  return {};
}

FoldResult ApplyRegistered(JobState& s, const Envelope& e) {
  if (s.workflow_run()) return Reject("a workflow run cannot be a parent");
  const std::string& child = e.dependency_registered().child_id();
  if (child.empty()) return Reject("DependencyRegistered without child_id");
  for (const v1::Dependent& d : s.dependents()) {
    if (d.job_id() == child) return Duplicate("child " + child + " already registered");
  }
  if (s.dependents_size() >= kMaxDependents) {
    return Reject("job " + s.job_id() + " already has " + std::to_string(kMaxDependents) +
                  " dependents");
  }
  s.add_dependents()->set_job_id(child);
  return {};
}

FoldResult ApplyParentsRegistered(JobState& s, const Envelope& e) {
  bool changed = false;
  for (const std::string& id : e.dependencies_registered().parent_ids()) {
    v1::ParentStatus* p = FindParent(s, id);
    if (p == nullptr) return Reject("job " + s.job_id() + " does not depend on " + id);
    if (!p->registered()) changed = true;
    p->set_registered(true);
  }
  if (!changed) return Duplicate("parents already registered");
  return {};
}

FoldResult ApplyNotified(JobState& s, const Envelope& e) {
  const v1::DependentsNotified& n = e.dependents_notified();
  bool changed = false;
  for (const std::string& id : n.job_ids()) {
    auto it = std::find_if(s.mutable_dependents()->begin(), s.mutable_dependents()->end(),
                           [&](const v1::Dependent& d) { return d.job_id() == id; });
    if (it == s.mutable_dependents()->end()) {
      return Reject("job " + s.job_id() + " has no dependent " + id);
    }
    if (it->notified() != n.status()) changed = true;
    it->set_notified(n.status());
  }
  if (!changed) return Duplicate("dependents already notified");
  return {};
}

FoldResult ApplyWorkflowSubmitted(JobState& s, const Envelope& e) {
  if (s.status() != v1::JOB_STATUS_UNSPECIFIED) {
    if (e.event_id() == s.submitted_event_id()) return Duplicate("workflow already submitted");
    return Reject("workflow " + e.job_id() + " already exists");
  }
  const v1::WorkflowSpec& spec = e.workflow_submitted().spec();
  if (spec.jobs().empty()) return Reject("a workflow needs at least one job");
  s.set_job_id(e.job_id());
  s.set_workflow_run(true);
  s.mutable_spec()->set_name(spec.name());
  s.mutable_spec()->set_type(v1::JOB_TYPE_WORKFLOW);
  *s.mutable_spec()->mutable_workflow() = spec;
  *s.mutable_created_at() = e.occurred_at();
  s.set_correlation_id(e.correlation_id());
  s.set_submitted_event_id(e.event_id());
  s.set_status(v1::JOB_STATUS_PENDING);
  return {};
}

FoldResult ApplyWorkflowExpanded(JobState& s, const Envelope& e) {
  if (!s.workflow_run()) return Reject("not a workflow run");
  if (s.status() == v1::JOB_STATUS_COMPLETED) return Duplicate("workflow already expanded");
  s.set_status(v1::JOB_STATUS_COMPLETED);
  s.set_end_reason("expanded into " + std::to_string(e.workflow_expanded().jobs()) + " jobs");
  return {};
}

}  // namespace

void InitDependencies(JobState& s, const Envelope& submitted) {
  const v1::JobSubmitted& j = submitted.job_submitted();
  for (const std::string& id : j.spec().depends_on()) {
    v1::ParentStatus* p = s.add_parents();
    p->set_job_id(id);
    p->set_status(v1::DEPENDENCY_STATUS_PENDING);
    p->set_registered(j.parents_registered());
    for (const v1::ParentStatus& known : j.parents()) {
      if (known.job_id() != id) continue;
      p->set_status(known.status());
      p->set_reason(known.reason());
    }
  }
  for (const std::string& id : j.dependents()) s.add_dependents()->set_job_id(id);
  v1::JobStatus hold = ParentsHold(s);
  if (hold != v1::JOB_STATUS_UNSPECIFIED) {
    s.set_status(hold);
    s.clear_next_fire_at();
  }
}

FoldResult ApplyDependencyEvent(JobState& s, const Envelope& e) {
  switch (e.event_case()) {
    case Envelope::kDependencyRegistered: return ApplyRegistered(s, e);
    case Envelope::kDependenciesRegistered: return ApplyParentsRegistered(s, e);
    case Envelope::kDependencySatisfied:
      return ApplyParentOutcome(s, e, e.dependency_satisfied().parent_id(),
                                v1::DEPENDENCY_STATUS_SATISFIED, "");
    case Envelope::kDependencyFailed: {
      const v1::DependencyFailed& f = e.dependency_failed();
      return ApplyParentOutcome(s, e, f.parent_id(), v1::DEPENDENCY_STATUS_FAILED, f.reason());
    }
    case Envelope::kDependentsNotified: return ApplyNotified(s, e);
    case Envelope::kWorkflowSubmitted: return ApplyWorkflowSubmitted(s, e);
    case Envelope::kWorkflowExpanded: return ApplyWorkflowExpanded(s, e);
    default: return Reject("not a dependency event");
  }
}

}  // namespace internal

v1::DependencyStatus DependentsOutcome(const JobState& s) { return DependentsOutcome(s.status()); }

v1::DependencyStatus DependentsOutcome(v1::JobStatus status) {
  switch (status) {
    case v1::JOB_STATUS_SUCCEEDED: return v1::DEPENDENCY_STATUS_SATISFIED;
    case v1::JOB_STATUS_DEAD:
    case v1::JOB_STATUS_CANCELED:
    case v1::JOB_STATUS_DELETED:
    case v1::JOB_STATUS_COMPLETED:
    case v1::JOB_STATUS_BLOCKED: return v1::DEPENDENCY_STATUS_FAILED;
    default: return v1::DEPENDENCY_STATUS_UNSPECIFIED;
  }
}

bool HasUnnotifiedDependents(const JobState& s) {
  v1::DependencyStatus outcome = DependentsOutcome(s);
  if (outcome == v1::DEPENDENCY_STATUS_UNSPECIFIED) return false;
  return std::any_of(s.dependents().begin(), s.dependents().end(),
                     [&](const v1::Dependent& d) { return d.notified() != outcome; });
}

std::string_view DependencyStatusName(v1::DependencyStatus s) {
  switch (s) {
    case v1::DEPENDENCY_STATUS_PENDING: return "PENDING";
    case v1::DEPENDENCY_STATUS_SATISFIED: return "SATISFIED";
    case v1::DEPENDENCY_STATUS_FAILED: return "FAILED";
    default: return "PENDING";
  }
}

}  // namespace jobsched::events
